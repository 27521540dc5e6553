// The rollup maintainer's incremental strategy (the store's only writer) against a real embedded store: it writes
// rows from memory instead of recomputing, recomputes only keys the store knew before it (a restart, a key that
// left memory), and what it stores is what a recompute from the raw samples stores.
import t from 'tap';
import { createLogger } from '../../services/observability/logger.ts';
import { ServiceMetrics } from '../../services/observability/metrics.ts';
import { RollupMaintainer } from '../../services/rollup/maintainer.ts';
import { bucketOf } from '../../services/rollup/book.ts';
import { EmbeddedStore } from '../../services/store/embedded-store.ts';
import { ROLLUP_BUCKET_MS, type RollupKey, type RollupRow, type StoredSample, type TelemetryStore } from '../../services/store/telemetry-store.ts';
import { tempDir, type TapTest } from '../helpers/system.ts';

const logger = createLogger('silent');
const MINUTE = ROLLUP_BUCKET_MS;

/** The real store, counting the calls the test is about (every call still goes to DuckDB). */
function counting(store: TelemetryStore): TelemetryStore & { recomputed: RollupKey[]; rowsWritten: number } {
  const counted = Object.create(store) as TelemetryStore & { recomputed: RollupKey[]; rowsWritten: number };
  counted.recomputed = [];
  counted.rowsWritten = 0;
  counted.recomputeRollups = (keys) => {
    counted.recomputed.push(...keys);
    return store.recomputeRollups(keys);
  };
  counted.writeRollups = (rows) => {
    counted.rowsWritten += rows.length;
    return store.writeRollups(rows);
  };
  return counted;
}

async function openStore(t: TapTest): Promise<EmbeddedStore> {
  const dir = await tempDir('rollups');
  const store = await EmbeddedStore.open({ dir: dir.path, logger });
  await store.init();
  t.teardown(async () => {
    await store.close();
    await dir.remove();
  });
  return store;
}

const sample = (vin: string, ts: number, seq: number, speed: number): StoredSample => ({
  vin,
  brand: 'Voltra',
  model: 'E-Cross',
  ts,
  seq,
  signals: { 'Vehicle.Speed': speed, 'Vehicle.TraveledDistance': 100 + seq },
});

/** What the writer does with one batch: prepare, store, track; resolves once the batch's rollups are stored. */
async function writeBatch(store: TelemetryStore, rollups: RollupMaintainer, batch: StoredSample[]): Promise<void> {
  await rollups.prepare(batch);
  await store.writeSamples(batch);
  const stored = rollups.track(batch);
  await rollups.flush();
  await stored;
}

async function rowsOf(store: TelemetryStore, keys: RollupKey[]): Promise<RollupRow[]> {
  return (await store.readRollups(keys)).sort((a, b) => a.vin.localeCompare(b.vin) || a.bucket - b.bucket);
}

const VIN_A = 'LNBSCB3F5JW100001';
const VIN_B = 'LNBSCB3F5JW100002';

t.test('the only writer stores rows from memory and never asks the store to recompute them', async (t) => {
  const store = counting(await openStore(t));
  const rollups = new RollupMaintainer({ store, logger, metrics: new ServiceMetrics(), strategy: 'incremental' });
  // recent minutes: older ones would leave memory (retainMs) at the end of every round
  const start = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
  for (let round = 0; round < 5; round++) {
    const batch = [VIN_A, VIN_B].flatMap((vin) => Array.from({ length: 10 }, (_, i) => sample(vin, start + round * 20_000 + i * 1_000, round * 10 + i, i * 3)));
    await writeBatch(store, rollups, batch);
  }
  t.strictSame(store.recomputed, [], 'no recompute');
  t.ok(store.rowsWritten > 0);
  const keys = [VIN_A, VIN_B].flatMap((vin) => [0, 1].map((m) => ({ vin, bucket: start + m * MINUTE })));
  const fromMemory = await rowsOf(store, keys);
  await store.recomputeRollups(keys);
  t.strictSame(await rowsOf(store, keys), fromMemory, 'the same rows as a recompute');
  t.equal(fromMemory.reduce((n, r) => n + r.samples, 0), 100);
  await rollups.stop();
});

t.test('after a restart, keys the store already held are recomputed, and come out exact', async (t) => {
  const real = await openStore(t);
  // recent minutes: older ones would leave memory (retainMs) at the end of every round
  const start = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
  const before = new RollupMaintainer({ store: real, logger, metrics: new ServiceMetrics(), strategy: 'incremental' });
  await writeBatch(real, before, Array.from({ length: 20 }, (_, i) => sample(VIN_A, start + i * 1_000, i, 50)));
  await before.stop();

  // a new process: it never saw those 20 samples, and gets the rest of the minute plus a replay of 5 of them
  const store = counting(real);
  const after = new RollupMaintainer({ store, logger, metrics: new ServiceMetrics(), strategy: 'incremental' });
  const replayed = Array.from({ length: 5 }, (_, i) => sample(VIN_A, start + (15 + i) * 1_000, 15 + i, 50));
  const more = Array.from({ length: 20 }, (_, i) => sample(VIN_A, start + (20 + i) * 1_000, 20 + i, 70));
  const fresh = Array.from({ length: 10 }, (_, i) => sample(VIN_A, start + MINUTE + i * 1_000, 40 + i, 10));
  await writeBatch(store, after, [...replayed, ...more, ...fresh]);
  const known = { vin: VIN_A, bucket: start };
  const untouched = { vin: VIN_A, bucket: start + MINUTE };
  t.strictSame(store.recomputed, [known], 'only the key the store knew is recomputed');
  const [row] = await rowsOf(store, [known]);
  t.equal(row?.samples, 40, 'each sample once, replays included');
  t.equal(row?.speedSum, 20 * 50 + 20 * 70);
  const [other] = await rowsOf(store, [untouched]);
  t.equal(other?.samples, 10, 'a key new to the store is kept in memory');
  t.equal(after.memoryKeys, 1);
  await after.stop();
});

t.test('keys leave memory once their minute is old; a late sample for one is recomputed, not counted from zero', async (t) => {
  const store = counting(await openStore(t));
  let now = Date.now();
  const rollups = new RollupMaintainer({ store, logger, metrics: new ServiceMetrics(), strategy: 'incremental', retainMs: 2 * MINUTE, now: () => now });
  const minute = bucketOf(now) - MINUTE;
  await writeBatch(store, rollups, Array.from({ length: 6 }, (_, i) => sample(VIN_B, minute + i * 5_000, i, 30)));
  t.equal(rollups.memoryKeys, 1);
  now += 4 * MINUTE;
  await rollups.flush();
  t.equal(rollups.memoryKeys, 0, 'evicted after retainMs');
  await writeBatch(store, rollups, [sample(VIN_B, minute + 40_000, 6, 90)]);
  t.strictSame(store.recomputed, [{ vin: VIN_B, bucket: minute }], 'the late sample\'s key is recomputed from the store');
  const [row] = await rowsOf(store, [{ vin: VIN_B, bucket: minute }]);
  t.equal(row?.samples, 7);
  t.equal(row?.speedSum, 6 * 30 + 90);
  await rollups.stop();
});

t.test('with several writers (recompute strategy) every key is recomputed, and once more after settleMs', async (t) => {
  const store = counting(await openStore(t));
  let now = Date.now();
  const rollups = new RollupMaintainer({ store, logger, metrics: new ServiceMetrics(), strategy: 'recompute', settleMs: 2_000, now: () => now });
  const minute = bucketOf(now - 3 * MINUTE);
  await writeBatch(store, rollups, [sample(VIN_A, minute + 1_000, 0, 10), sample(VIN_B, minute + 2_000, 0, 20)]);
  t.equal(store.rowsWritten, 0, 'no rows from memory');
  t.equal(store.recomputed.length, 2);
  now += 2_500;
  await rollups.flush();
  t.equal(store.recomputed.length, 4, 'settled: recomputed again');
  await rollups.stop();
});
