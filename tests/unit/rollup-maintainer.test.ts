// The cockpit engine's writer side on a real embedded store, watching what it asks of the store: the store's only
// writer writes live minutes from memory (never reading back), writes a minute's per-vehicle facts at most every
// factsFlushMs, adds late data as new parts instead of recounting, and several writers recount what they touched.
// Exactness against the raw samples is held by tests/store/cockpit-suite.ts; this is about cost.
import t from 'tap';
import { createLogger } from '../../services/observability/logger.ts';
import { ServiceMetrics } from '../../services/observability/metrics.ts';
import { CockpitMaintainer, type RollupStrategy } from '../../services/cockpit/maintainer.ts';
import { CockpitReader } from '../../services/cockpit/reader.ts';
import { EmbeddedStore } from '../../services/store/duckdb/store.ts';
import { MINUTE_MS, type CockpitTables } from '../../services/store/cockpit-tables.ts';
import type { StoredSample, TelemetryStore } from '../../services/store/telemetry-store.ts';
import { tempDir } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

const logger = createLogger('silent');

interface Calls {
  recounts: number;
  keyChecks: number;
  seriesRows: number;
  factsRows: number;
  factsBytes: number;
  /** per-vehicle entries in the facts written */
  factsEntries: number;
}

/** The store's real cockpit tables, counting the calls the test is about (every call still goes to DuckDB). */
function counting(tables: CockpitTables): { tables: CockpitTables; calls: Calls } {
  const calls: Calls = { recounts: 0, keyChecks: 0, seriesRows: 0, factsRows: 0, factsBytes: 0, factsEntries: 0 };
  const counted: CockpitTables = Object.create(tables) as CockpitTables;
  counted.rowsFromRaw = (ranges) => {
    calls.recounts += 1;
    return tables.rowsFromRaw(ranges);
  };
  counted.keysWithSamples = (keys) => {
    if (keys.length > 0) calls.keyChecks += 1;
    return tables.keysWithSamples(keys);
  };
  counted.write = (batch) => {
    calls.seriesRows += batch.series?.length ?? 0;
    calls.factsRows += batch.facts?.length ?? 0;
    calls.factsBytes += (batch.facts ?? []).reduce((n, f) => n + f.packed.length, 0);
    calls.factsEntries += (batch.facts ?? []).reduce((n, f) => n + (f.packed === '' ? 0 : f.packed.split(';').length), 0);
    return tables.write(batch);
  };
  return { tables: counted, calls };
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

function setup(store: TelemetryStore, strategy: RollupStrategy, clock: { now: number }, extra: Partial<ConstructorParameters<typeof CockpitMaintainer>[0]> = {}) {
  const { tables, calls } = counting(store.cockpit);
  const rollups = new CockpitMaintainer({ tables, logger, metrics: new ServiceMetrics({ processMetrics: false }), strategy, now: () => clock.now, settleMs: strategy === 'recompute' ? 2_000 : undefined, ...extra });
  return { rollups, calls };
}

const sample = (vin: string, ts: number, seq: number, model = 'E-Cross'): StoredSample => ({
  vin,
  brand: 'Voltra',
  model,
  ts,
  seq,
  signals: { 'Vehicle.Speed': 40 + (seq % 7), 'Vehicle.TraveledDistance': 100 + seq },
});

/** What the writer does with one batch; then rounds until the batch's rollups are written (late data waits to be quiet). */
async function writeBatch(store: TelemetryStore, rollups: CockpitMaintainer, batch: StoredSample[], clock?: { now: number }): Promise<void> {
  await rollups.prepare(batch);
  await store.writeSamples(batch);
  let written = false;
  const stored = rollups.track(batch).then(() => (written = true));
  await rollups.flush();
  for (let i = 0; i < 10 && !written; i++) {
    if (clock) clock.now += 1_000;
    await rollups.flush();
  }
  await stored;
}

/** Every value a gauge is set to, in order (a scrape during a round would see each). */
function valuesSet(gauge: ServiceMetrics['rollupMemoryKeys']): number[] {
  const values: number[] = [];
  const original = gauge.set.bind(gauge);
  gauge.set = ((value: number) => (values.push(value), original(value))) as typeof gauge.set;
  return values;
}

const vins = Array.from({ length: 200 }, (_, i) => `LNBSCB3F5JW${String(100_000 + i)}`);

t.test('the only writer writes live minutes from memory: no read-back, facts per model at most every factsFlushMs', async (t) => {
  const store = await openStore(t);
  const clock = { now: Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS + 1_000 };
  const { rollups, calls } = setup(store, 'incremental', clock, { factsFlushMs: 15_000 });
  // 200 vehicles, one sample each a second for 30 s, all of one model: a round a second
  for (let s = 0; s < 30; s++) {
    clock.now += 1_000;
    await writeBatch(store, rollups, vins.map((vin, i) => sample(vin, clock.now - 500 + i, s)));
  }
  t.equal(calls.recounts, 0, 'nothing recounted from the raw samples');
  t.equal(calls.keyChecks, 0, 'no vehicle-minute looked up: the store held nothing of these minutes');
  t.ok(calls.seriesRows >= 30 && calls.seriesRows <= 32, `a series row per round and model (${calls.seriesRows}), not per vehicle`);
  t.ok(calls.factsRows >= 2 && calls.factsRows <= 4, `the open minute's facts written ${calls.factsRows} times in 30 s (every 15 s), not every round`);
  const reader = new CockpitReader(store.cockpit);
  const window = { from: clock.now - 2 * MINUTE_MS - (clock.now % MINUTE_MS), to: clock.now - (clock.now % MINUTE_MS) + MINUTE_MS, intervalMs: MINUTE_MS };
  t.equal((await reader.aggregates(window, 'rollup')).totals.samples, 6_000, 'the series is current after every round');
  await rollups.flush(true);
  const answer = await reader.aggregates(window, 'rollup');
  t.equal(answer.totals.activeVehicles, 200, 'all facts written once asked to');
  t.strictSame(answer.totals, (await store.cockpit.fromRaw(window)).totals, 'and exact');
  await rollups.stop();
});

t.test("slow vehicles (fewer samples a minute than it has vehicles, nearly): the open minute's facts wait for its end", async (t) => {
  const store = await openStore(t);
  const clock = { now: Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS + 1_000 };
  const { rollups, calls } = setup(store, 'incremental', clock, { factsFlushMs: 15_000 });
  // 200 vehicles at 0.1 Hz for 50 s of one minute: 20 samples a second, a round a second (factsFlushMs alone would
  // write the facts at 1, 16, 31 and 46 s)
  for (let s = 0; s < 50; s++) {
    clock.now += 1_000;
    await writeBatch(store, rollups, vins.filter((_, i) => i % 10 === s % 10).map((vin) => sample(vin, clock.now - 500, s)));
    if (s === 38) t.equal(calls.factsRows, 0, 'no facts written in the first 39 s of the minute: 780 samples, 200 vehicles');
  }
  t.equal(calls.factsRows, 1, 'written once in the open minute: when its vehicles had sent 4 samples each since (none)');
  t.ok(calls.seriesRows >= 45, `while its series are written every round (${calls.seriesRows})`);
  clock.now += 10_000;
  await rollups.flush();
  t.equal(calls.factsRows, 2, 'and once more when the minute is over');
  // samples of the minute still on their way after its end: the facts are written again once they stop, not each round
  const end = Math.floor(clock.now / MINUTE_MS) * MINUTE_MS;
  clock.now = end + 1_000;
  await rollups.flush();
  const closed = calls.factsRows;
  for (let s = 0; s < 3; s++) {
    clock.now += 1_000;
    await writeBatch(store, rollups, vins.slice(20 * s, 20 * s + 20).map((vin) => sample(vin, end - 2_000 + s, 100 + s)));
  }
  t.equal(calls.factsRows, closed, 'stragglers arriving every second: no rewrite yet');
  clock.now += 2_000;
  await rollups.flush();
  t.equal(calls.factsRows, closed + 1, 'rewritten once they stopped for 2 s');
  const minute = Math.floor(clock.now / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
  const window = { from: minute, to: minute + MINUTE_MS, intervalMs: MINUTE_MS };
  const answer = await new CockpitReader(store.cockpit).aggregates(window, 'rollup');
  t.equal(answer.totals.activeVehicles, 200);
  t.strictSame(answer.totals, (await store.cockpit.fromRaw(window)).totals, 'and exact');
  await rollups.stop();
});

t.test("a vehicle whose clock is ahead: its minute's facts wait at most 4 facts periods, not until the minute comes", async (t) => {
  const store = await openStore(t);
  const clock = { now: Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS + 1_000 };
  const { rollups, calls } = setup(store, 'incremental', clock, { factsFlushMs: 1_000 });
  const ahead = clock.now + 4 * MINUTE_MS;
  await writeBatch(store, rollups, vins.slice(0, 50).map((vin, i) => sample(vin, ahead + i, 1)));
  t.equal(calls.factsRows, 0, 'one sample per vehicle: not written at once');
  for (let s = 0; s < 5; s++) {
    clock.now += 1_000;
    await rollups.flush();
  }
  t.equal(calls.factsRows, 1, 'written 4 s (4 periods) later, minutes before the minute comes');
  const minute = Math.floor(ahead / MINUTE_MS) * MINUTE_MS;
  const window = { from: minute, to: minute + MINUTE_MS, intervalMs: MINUTE_MS };
  t.strictSame((await new CockpitReader(store.cockpit).aggregates(window, 'rollup')).totals, (await store.cockpit.fromRaw(window)).totals, 'and exact');
  await rollups.stop();
});

t.test('facts that did not change are not written again', async (t) => {
  const store = await openStore(t);
  const clock = { now: Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS + 1_000 };
  const { rollups, calls } = setup(store, 'incremental', clock, { factsFlushMs: 1_000 });
  const parked = (vin: string, ts: number, seq: number): StoredSample => ({ ...sample(vin, ts, seq), signals: { 'Vehicle.Speed': 0, 'Vehicle.TraveledDistance': 100 } });
  clock.now += 1_000;
  await writeBatch(store, rollups, vins.slice(0, 10).map((vin, i) => parked(vin, clock.now + i, 0)));
  await rollups.flush(true);
  const written = calls.factsRows;
  t.equal(written, 1, 'the facts written once');
  for (let s = 1; s < 5; s++) {
    clock.now += 2_000;
    await writeBatch(store, rollups, vins.slice(0, 10).map((vin, i) => parked(vin, clock.now + i, s)));
  }
  t.equal(calls.factsRows, written, 'parked vehicles: the same facts, nothing rewritten');
  t.ok(calls.seriesRows >= 5, 'while the series sums still change');
  await rollups.stop();
});

t.test('late data for minutes that left memory is an added part: known from what this process counted, never recounted', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  const { rollups, calls } = setup(store, 'incremental', clock, { lateIdleMs: 0 });
  const hourAgo = Math.floor(clock.now / MINUTE_MS) * MINUTE_MS - 60 * MINUTE_MS;
  await writeBatch(store, rollups, vins.slice(0, 50).map((vin, i) => sample(vin, hourAgo + i * 100, 1)), clock);
  // a later batch of the same minute from other vehicles (a store-and-forward upload)
  await writeBatch(store, rollups, vins.slice(50, 60).map((vin, i) => sample(vin, hourAgo + 20_000 + i, 1)), clock);
  t.equal(calls.keyChecks, 0, 'no vehicle-minute looked up: the store held nothing when this process started, and it counted all it holds since');
  t.equal(calls.recounts, 0, 'nothing recounted');
  const parts = await store.cockpit.readFacts([{ tier: 'minute', lo: hourAgo, hi: hourAgo + 1 }], {});
  t.strictSame(parts.map((p) => p.part).sort(), [0, 1], 'the later vehicles are a part of their own');
  const reader = new CockpitReader(store.cockpit);
  const window = { from: hourAgo, to: hourAgo + MINUTE_MS, intervalMs: MINUTE_MS };
  t.strictSame((await reader.aggregates(window, 'rollup')).totals, (await store.cockpit.fromRaw(window)).totals, 'exact');
  // a redelivery of a sample counted in another part: that minute of the model is recounted whole, once
  await writeBatch(store, rollups, [sample(vins[0]!, hourAgo, 1)], clock);
  t.equal(calls.recounts, 1, 'one recount');
  const answer = await reader.aggregates(window, 'rollup');
  t.equal(answer.totals.samples, 60, 'the redelivery counted once');
  t.strictSame(answer.totals, (await store.cockpit.fromRaw(window)).totals, 'exact');
  await rollups.stop();
});

t.test('after a restart, late data for minutes before the horizon is checked against the store; after it, known without asking', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  const hourAgo = Math.floor(clock.now / MINUTE_MS) * MINUTE_MS - 60 * MINUTE_MS;
  const before = setup(store, 'incremental', clock, { lateIdleMs: 0 });
  await writeBatch(store, before.rollups, vins.slice(0, 50).map((vin, i) => sample(vin, hourAgo + i * 100, 1)), clock);
  await before.rollups.flush(true);
  await before.rollups.stop();
  // the next process: the store holds a minute it did not count
  const { rollups, calls } = setup(store, 'incremental', clock, { lateIdleMs: 0 });
  // its first round recovers the minutes before the horizon (recounted from the raw samples)
  await rollups.flush();
  const recovered = calls.recounts;
  await writeBatch(store, rollups, vins.slice(50, 60).map((vin, i) => sample(vin, hourAgo + 20_000 + i, 1)), clock);
  t.ok(calls.keyChecks > 0, 'a minute before the horizon: its vehicle-minutes were checked against the store');
  t.equal(calls.recounts, recovered, 'other vehicles: an added part, nothing recounted');
  await writeBatch(store, rollups, [sample(vins[0]!, hourAgo + 30_000, 2)], clock);
  t.equal(calls.recounts, recovered + 1, 'a vehicle the store held samples of in that minute: the minute of its model recounted');
  // a minute after the horizon, late by half an hour: counted, left memory, then more of it
  const halfHourAgo = hourAgo + 30 * MINUTE_MS;
  const checks = calls.keyChecks;
  await writeBatch(store, rollups, vins.slice(0, 20).map((vin, i) => sample(vin, halfHourAgo + i * 100, 1)), clock);
  clock.now += 20_000;
  await rollups.flush();
  await writeBatch(store, rollups, vins.slice(10, 30).map((vin, i) => sample(vin, halfHourAgo + 30_000 + i, 2)), clock);
  t.equal(calls.keyChecks, checks, 'after the horizon: nothing asked of the store');
  t.equal(calls.recounts, recovered + 2, 'vehicles it had counted there and that left memory: that minute recounted');
  const reader = new CockpitReader(store.cockpit);
  for (const from of [hourAgo, halfHourAgo]) {
    const window = { from, to: from + MINUTE_MS, intervalMs: MINUTE_MS };
    t.strictSame((await reader.aggregates(window, 'rollup')).totals, (await store.cockpit.fromRaw(window)).totals, `exact at ${from === hourAgo ? 'the minute before the horizon' : 'the minute after it'}`);
  }
  t.equal((await reader.aggregates({ from: halfHourAgo, to: halfHourAgo + MINUTE_MS, intervalMs: MINUTE_MS }, 'rollup')).totals.activeVehicles, 30);
  await rollups.stop();
});

t.test('history uploaded by many vehicles one after another: each (brand, model, minute) written once it is quiet, not once per upload', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  const { rollups, calls } = setup(store, 'incremental', clock, { lateIdleMs: 10_000 });
  const from = Math.floor(clock.now / MINUTE_MS) * MINUTE_MS - 5 * 60 * MINUTE_MS;
  // 40 vehicles each upload the same 30 minutes (two samples a minute), 0.2 s apart, with a round after each upload
  const uploads = vins.slice(0, 40).map((vin, v) => Array.from({ length: 60 }, (_, i) => sample(vin, from + i * 30_000 + v, i)));
  const done: Array<Promise<void>> = [];
  for (const batch of uploads) {
    await rollups.prepare(batch);
    await store.writeSamples(batch);
    done.push(rollups.track(batch));
    clock.now += 200;
    await rollups.flush();
  }
  t.equal(calls.factsRows, 0, 'nothing written while the uploads go on');
  clock.now += 2_000;
  await rollups.flush();
  await Promise.all(done);
  t.equal(calls.seriesRows, 30, 'then a series row per minute');
  t.equal(calls.factsRows, 30, 'and a facts row per minute');
  const reader = new CockpitReader(store.cockpit);
  const window = { from, to: from + 30 * MINUTE_MS, intervalMs: 10 * MINUTE_MS };
  const answer = await reader.aggregates(window, 'rollup');
  t.equal(answer.totals.samples, 2_400);
  t.strictSame(answer.totals, (await store.cockpit.fromRaw(window)).totals, 'exact');
  await rollups.stop();
});

t.test('an upload that keeps touching the same minutes for longer than the facts period: each vehicle\'s facts written once, its vehicles shed after each write', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  const metrics = new ServiceMetrics({ processMetrics: false });
  const { rollups, calls } = setup(store, 'incremental', clock, { lateIdleMs: 10_000, metrics });
  const from = Math.floor(clock.now / (10 * MINUTE_MS)) * 10 * MINUTE_MS - 180 * MINUTE_MS;
  // 80 vehicles each upload the same 30 minutes, 0.5 s apart: 40 s of uploads, every minute touched all along
  const upload = (vin: string, v: number): StoredSample[] => Array.from({ length: 60 }, (_, i) => sample(vin, from + i * 30_000 + v, i));
  const done: Array<Promise<void>> = [];
  let most = 0;
  for (const [v, vin] of vins.slice(0, 80).entries()) {
    const batch = upload(vin, v);
    await rollups.prepare(batch);
    await store.writeSamples(batch);
    done.push(rollups.track(batch));
    clock.now += 500;
    await rollups.flush();
    most = Math.max(most, rollups.memoryKeys);
  }
  clock.now += 2_000;
  await rollups.flush();
  await Promise.all(done);
  // minute facts only: nothing is sealed yet
  t.equal(calls.factsEntries, 2_400, 'each of the 2,400 vehicle-minutes\' facts written once');
  t.ok(calls.factsRows > 30, `in several parts per minute (${calls.factsRows} facts rows for 30 minutes)`);
  t.ok(most < 2_400 / 2, `memory held at most ${most} vehicle-minutes of 2,400`);
  t.equal(calls.recounts, 0, 'nothing recounted');
  // a vehicle already shed sends one more sample of a minute it sent before: that group is recounted, exactly
  await writeBatch(store, rollups, [sample(vins[0]!, from + 45_000, 1_000)], clock);
  t.equal(calls.recounts, 1, 'one recount');
  const reader = new CockpitReader(store.cockpit);
  const window = { from, to: from + 30 * MINUTE_MS, intervalMs: 5 * MINUTE_MS };
  const answer = await reader.aggregates(window, 'rollup');
  t.equal(answer.totals.samples, 4_801, 'every sample once');
  t.equal(answer.totals.activeVehicles, 80);
  t.strictSame(answer, await store.cockpit.fromRaw(window), 'exact');
  for (let i = 0; i < 5; i++) {
    clock.now += 60_000;
    await rollups.flush();
  }
  const sealedWindow = { from: from - 10 * MINUTE_MS, to: from + 40 * MINUTE_MS, intervalMs: 10 * MINUTE_MS };
  t.strictSame(await reader.aggregates(sealedWindow, 'rollup'), await store.cockpit.fromRaw(sealedWindow), 'exact once sealed');
  await rollups.stop();
});

t.test('a history upload larger than VC_ROLLUP_MEMORY_KEYS: memory stays within it, the answers stay exact', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  const metrics = new ServiceMetrics({ processMetrics: false });
  const held = valuesSet(metrics.rollupMemoryKeys);
  // written groups stay 10 s after their last sample; the budget is what makes them go sooner
  const { rollups, calls } = setup(store, 'incremental', clock, { lateIdleMs: 10_000, memoryKeys: 300, metrics });
  const from = Math.floor(clock.now / (10 * MINUTE_MS)) * 10 * MINUTE_MS - 180 * MINUTE_MS;
  // 60 vehicles (two models) each upload the same 60 minutes, two samples a minute, a round after each upload: 3,600
  // vehicle-minutes, every minute touched again by the next upload before it is idle
  const upload = (vin: string, v: number): StoredSample[] => Array.from({ length: 120 }, (_, i) => sample(vin, from + i * 30_000 + v, i, v % 2 === 0 ? 'E-Cross' : 'E-City'));
  const done: Array<Promise<void>> = [];
  for (const [v, vin] of vins.slice(0, 60).entries()) {
    const batch = upload(vin, v);
    await rollups.prepare(batch);
    await store.writeSamples(batch);
    done.push(rollups.track(batch));
    clock.now += 500;
    await rollups.flush();
  }
  for (let i = 0; i < 5; i++) {
    clock.now += 2_000;
    await rollups.flush();
  }
  await Promise.all(done);
  const most = Math.max(...held);
  // what one round admits comes on top of the budget before the round ends: one upload, 60 vehicle-minutes
  t.ok(most <= 300 + 60 + 120, `held at most ${most} vehicle-minutes and facts (budget 300)`);
  t.equal(calls.recounts, 0, 'nothing recounted: later vehicles of a minute that left memory are parts of their own');
  // a redelivered upload of a vehicle whose minutes left memory: those minutes are recounted, counted once
  const again = upload(vins[0]!, 0);
  await writeBatch(store, rollups, again, clock);
  // sealed: from the store, the periods whose facts memory dropped
  for (let i = 0; i < 5; i++) {
    clock.now += 60_000;
    await rollups.flush();
  }
  const reader = new CockpitReader(store.cockpit);
  for (const intervalMs of [MINUTE_MS, 10 * MINUTE_MS, 60 * MINUTE_MS]) {
    const window = { from, to: from + 60 * MINUTE_MS, intervalMs };
    const answer = await reader.aggregates(window, 'rollup');
    t.equal(answer.totals.samples, 7_200, 'every sample once');
    t.equal(answer.totals.activeVehicles, 60);
    t.strictSame(answer, await store.cockpit.fromRaw(window), `exact, series and totals, by ${intervalMs / MINUTE_MS} min`);
  }
  for (const model of ['E-Cross', 'E-City']) {
    const window = { from: from + 7 * MINUTE_MS, to: from + 47 * MINUTE_MS, intervalMs: 5 * MINUTE_MS, brand: 'Voltra', model };
    t.strictSame(await reader.aggregates(window, 'rollup'), await store.cockpit.fromRaw(window), `exact for ${model} over a window across periods`);
  }
  await rollups.stop();
});

t.test('vc_rollup_seal_backlog: the periods a history upload made due, counted down as they are sealed', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  const metrics = new ServiceMetrics({ processMetrics: false });
  const set = valuesSet(metrics.rollupSealBacklog);
  const { rollups } = setup(store, 'incremental', clock, { lateIdleMs: 0, metrics });
  // 30 minutes of two hours ago, on 10-minute boundaries: three 10 minutes and one or two hours, long due
  const from = Math.floor(clock.now / (10 * MINUTE_MS)) * 10 * MINUTE_MS - 120 * MINUTE_MS;
  await writeBatch(store, rollups, vins.slice(0, 20).flatMap((vin, v) => Array.from({ length: 30 }, (_, i) => sample(vin, from + i * MINUTE_MS + v, i))), clock);
  for (let i = 0; i < 3; i++) {
    clock.now += 60_000;
    await rollups.flush();
  }
  const most = Math.max(...set);
  t.ok(most >= 4, `the periods due were counted (${most}: ${set.join(' ')})`);
  const countdown = set.slice(set.indexOf(most));
  t.ok(countdown.every((v, i) => i === 0 || v <= countdown[i - 1]! || countdown[i - 1] === 0), `then counted down as they were sealed (${countdown.join(' ')})`);
  t.equal(set.at(-1), 0, 'and none left');
  const marks = await store.cockpit.readSeals(from, from + 30 * MINUTE_MS);
  t.ok(marks.filter((m) => m.tier === '10min' && m.start >= from && m.start < from + 30 * MINUTE_MS).length === 3, 'the three 10 minutes are sealed');
  const window = { from, to: from + 30 * MINUTE_MS, intervalMs: 10 * MINUTE_MS };
  t.strictSame((await new CockpitReader(store.cockpit).aggregates(window, 'rollup')).totals, (await store.cockpit.fromRaw(window)).totals, 'exact');
  await rollups.stop();
});

t.test('several writers (recompute): every changed (brand, model, minute) is recounted, and once more after settleMs', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  const { rollups, calls } = setup(store, 'recompute', clock);
  const minute = Math.floor(clock.now / MINUTE_MS) * MINUTE_MS - 10 * MINUTE_MS;
  await writeBatch(store, rollups, [...vins.slice(0, 20).map((vin, i) => sample(vin, minute + i, 1)), ...vins.slice(20, 30).map((vin, i) => sample(vin, minute + i, 1, 'E-City'))]);
  t.equal(calls.recounts, 1, 'one recount for the changed groups of the round');
  t.equal(calls.seriesRows, 2, 'a series row per (brand, model, minute)');
  const before = calls.recounts;
  await rollups.flush();
  t.equal(calls.recounts, before, 'nothing changed: nothing recounted');
  clock.now += 2_000;
  await rollups.flush();
  t.equal(calls.recounts, before + 1, 'the settle pass recounts them once more');
  clock.now += 2_000;
  await rollups.flush();
  t.equal(calls.recounts, before + 1, 'and only once');
  await rollups.stop();
});

t.test('rounds never overlap, however many callers ask for one at once', async (t) => {
  const store = await openStore(t);
  const clock = { now: Date.now() };
  let active = 0;
  let most = 0;
  let during: (() => Promise<void>) | undefined;
  const tables: CockpitTables = Object.create(store.cockpit) as CockpitTables;
  tables.write = async (batch) => {
    active += 1;
    most = Math.max(most, active);
    try {
      // a batch stored and tracked while the first round writes: every round after it has something to write
      const run = during;
      during = undefined;
      await run?.();
      return await store.cockpit.write(batch);
    } finally {
      active -= 1;
    }
  };
  const rollups = new CockpitMaintainer({ tables, logger, metrics: new ServiceMetrics({ processMetrics: false }), strategy: 'incremental', now: () => clock.now });
  const minute = Math.floor(clock.now / MINUTE_MS) * MINUTE_MS;
  const first = vins.slice(0, 5).map((vin, i) => sample(vin, minute + i, 1));
  await rollups.prepare(first);
  await store.writeSamples(first);
  const tracked = [rollups.track(first)];
  during = async () => {
    const next = vins.slice(5, 10).map((vin, i) => sample(vin, minute + 100 + i, 1, 'E-City'));
    await rollups.prepare(next);
    await store.writeSamples(next);
    tracked.push(rollups.track(next));
  };
  // the timer's round, a flush asked by the writer and one asked at shutdown, all at once
  await Promise.all([rollups.flush(), rollups.flush(), rollups.flush(true), rollups.flush()]);
  await rollups.flush(true);
  await Promise.all(tracked);
  t.equal(most, 1, 'one round at a time');
  const window = { from: minute, to: minute + MINUTE_MS, intervalMs: MINUTE_MS };
  t.strictSame((await new CockpitReader(store.cockpit).aggregates(window, 'rollup')).totals, (await store.cockpit.fromRaw(window)).totals, 'exact');
  await rollups.stop();
});
