// The InfluxDB backend against the shared telemetry, dead-letter and cockpit suites, on a throwaway influxd; each
// fixture is its own database.
// InfluxDB-only behaviour (escaping, field types, auth, outages) is in influx-extra.test.ts.
import t from 'tap';
import { InfluxStore } from '../../services/store/influx/store.ts';
import type { RetentionSettings } from '../../services/store/influx/retention.ts';
import type { StoreLogger } from '../../services/store/telemetry-store.ts';
import { influxdOrSkip, startInfluxd, type Influxd } from '../../tooling/influxd.ts';
import { cockpitModel } from './cockpit-model.ts';
import { cockpitSuite } from './cockpit-suite.ts';
import { deadLettersSuite } from './dead-letters-suite.ts';
import type { MakeStore, StoreFixture } from './store-fixture.ts';
import { telemetrySuite } from './telemetry-suite.ts';

const found = influxdOrSkip();

function influxFixture(server: Influxd, database: string, retention?: RetentionSettings, logger?: StoreLogger): StoreFixture {
  const opened: InfluxStore[] = [new InfluxStore({ url: server.url, database, retention, logger })];
  return {
    store: opened[0]!,
    reopen: async () => {
      const store = new InfluxStore({ url: server.url, database, retention, logger });
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of opened) await store.close();
      const res = await fetch(`${server.url}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }),
      });
      if (!res.ok) throw new Error(`DROP DATABASE ${database}: HTTP ${res.status}`);
    },
  };
}

/** Fixtures on one influxd, each its own database. */
function databases(server: Influxd, prefix: string, retention?: RetentionSettings): MakeStore {
  let made = 0;
  return async (options) => influxFixture(server, `${prefix}_${++made}`, retention, options?.logger);
}

await t.test('the telemetry and dead-letter suites on InfluxDB', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  await t.test('telemetry', (t) => telemetrySuite(t, databases(server, 'vc_suite')));
  await t.test('dead letters', (t) => deadLettersSuite(t, databases(server, 'vc_letters')));
});

await t.test('the telemetry and dead-letter suites on InfluxDB, raw points in their own retention policy (vc_raw)', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  await t.test('telemetry', (t) => telemetrySuite(t, databases(server, 'vc_suite_rp', { raw: '30d' })));
  await t.test('dead letters', (t) => deadLettersSuite(t, databases(server, 'vc_letters_rp', { raw: '30d' })));
});

// The raw telemetry in vc_raw, the cockpit tables in vc_rollups; the default policy is covered by the integration tests.
await t.test('the cockpit engine on InfluxDB, held to the raw samples', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  await cockpitSuite(t, databases(server, 'vc_cockpit', { raw: '30d' }));
});

// The model of tests/unit/cockpit-model.test.ts on InfluxDB: a point written again at the same series and time merges
// into the old one there (parts, samples sent again), where DuckDB replaces a row, and a part lies at its segment's
// start plus its number.
await t.test('the cockpit engine on InfluxDB against its model: random batches, rounds, restarts and interleavings', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  const make = databases(server, 'vc_model', { raw: '30d' });
  await cockpitModel(t, () => make(), { seed: Number(process.env.VC_COCKPIT_MODEL_SEED ?? 20_260_611), numRuns: Number(process.env.VC_COCKPIT_MODEL_INFLUX_RUNS ?? 60) });
});
