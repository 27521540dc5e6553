// The cockpit engine against the raw samples on a real embedded store, under random sequences of batches (live,
// late, sent again), rounds, clock steps, restarts and crashes, with the store writer and the rounds interleaved
// (tests/store/cockpit-model.ts). Seeded: VC_COCKPIT_MODEL_SEED and VC_COCKPIT_MODEL_RUNS replay or widen it.
import t from 'tap';
import { EmbeddedStore } from '../../services/store/duckdb/store.ts';
import { tempDir } from '../../tooling/system.ts';
import { cockpitModel } from '../store/cockpit-model.ts';

// 60 seeded runs take about 2 minutes on a quiet 2-core machine and 5 beside other suites at a load average of 20:
// more than the suite's 300 s per file (what it checks does not depend on time)
t.setTimeout(900_000);

t.test('the cockpit engine agrees with the raw samples after any sequence of batches, rounds, restarts and interleavings', async (t) => {
  await cockpitModel(
    t,
    async () => {
      const dir = await tempDir('cockpit-model');
      const store = await EmbeddedStore.open({ dir: dir.path });
      return {
        store,
        cleanup: async () => {
          await store.close();
          await dir.remove();
        },
      };
    },
    { seed: Number(process.env.VC_COCKPIT_MODEL_SEED ?? 20_260_611), numRuns: Number(process.env.VC_COCKPIT_MODEL_RUNS ?? 60) },
  );
});
