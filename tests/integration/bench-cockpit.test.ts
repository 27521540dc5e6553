// The cockpit benchmark's smoke run (npm run bench:cockpit with a tiny fleet): the history goes through the real
// ingest path as contract-sized store-and-forward batches, the cockpit ends up counting every sample on both stores,
// the questions are timed cold and repeated, and the results land as JSON and markdown.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { cockpitBenchOptions, cockpitMarkdown, historyRanges, main, runCockpitBench, vinOf, type CockpitBenchResult, type StoreKind } from '../../bench/cockpit-query.ts';
import { historyCount, historySamples } from '../../bench/history.ts';
import { MAX_BATCH_SAMPLES, MAX_PAYLOAD_BYTES, validateTelemetry } from '../../services/contract/telemetry.ts';
import { batchMessages } from '../../simulators/fleet/uplink.ts';
import { influxdOrSkip } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY } from '../../tooling/mosquitto.ts';
import { missingServer, tempDir } from '../../tooling/system.ts';

const MINUTE = 60_000;

t.test('a vehicle\'s history: recent samples dense, older ones sparse, seqs running through, valid, in contract-sized batches', async (t) => {
  const end = Math.floor(Date.now() / MINUTE) * MINUTE;
  const ranges = historyRanges({ hours: 24, everyS: 30, weekDays: 7, weekEveryS: 300 }, end);
  t.same(ranges.map((r) => [end - r.from, end - r.to, r.everyMs]), [
    [7 * 24 * 3_600_000 - 3_600_000, 24 * 3_600_000, 300_000],
    [24 * 3_600_000, 0, 30_000],
  ], 'a week, the first hour left out so that nothing is older than the contract allows when it arrives');
  const samples = historySamples(7, ranges);
  t.equal(samples.length, historyCount(7, ranges));
  t.equal(samples.length, 2880 + (6 * 24 - 1) * 12);
  t.ok(samples.every((s, i) => s.seq === i && (i === 0 || s.ts > samples[i - 1]!.ts)), 'seq and ts increase together');
  t.ok(samples.every((s) => s.ts >= ranges[0]!.from && s.ts < end));
  const vin = vinOf(7);
  const messages = batchMessages(vin, samples);
  t.ok(messages.every((m) => m.samples <= MAX_BATCH_SAMPLES && Buffer.byteLength(m.payload) <= MAX_PAYLOAD_BYTES));
  t.equal(messages.reduce((n, m) => n + m.samples, 0), samples.length);
  const checked = validateTelemetry(JSON.parse(messages[0]!.payload), vin, Date.now());
  t.ok(checked.ok && checked.rejected.length === 0, 'the batches pass the contract validator');
  t.same(historyRanges({ hours: 2, everyS: 60, weekDays: 0, weekEveryS: 300 }, end), [{ from: end - 7_200_000, to: end, everyMs: 60_000 }], 'no older days');
});

t.test('the cockpit bench CLI explains itself and refuses bad options', async (t) => {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  t.equal(await main(['--help'], io), 0);
  t.match(stdout, /--history/);
  t.equal(await main(['--stores', 'postgres'], io), 2);
  t.match(stderr, /embedded or influx/);
  t.equal(await main(['--week-days', '1', '--hours', '30'], io), 2);
  t.equal(await main(['--vehicles', 'lots'], io), 2);
  t.equal(await main(['--window-step', '90s'], io), 2);
  t.match(stderr, /whole minutes/);
  t.equal(cockpitBenchOptions().windowStepMs, 300_000, 'windows end on 5 minutes, as the web cockpit\'s');
  t.equal(cockpitBenchOptions({ history: true }).vehicles, 1_000, '--history: a day for 1,000 vehicles');
  t.equal(cockpitBenchOptions({ history: true }).iterations, 0);
});

const influxd = influxdOrSkip();
const mosquittoMissing = missingServer('mosquitto', MOSQUITTO_BINARY);
const stores: StoreKind[] = 'skip' in influxd || mosquittoMissing ? ['embedded'] : ['embedded', 'influx'];

t.test(`a tiny fleet's history is counted by the cockpit on ${stores.join(' and ')}, then its questions are timed`, async (t) => {
  const out = await tempDir('bench-cockpit');
  t.teardown(out.remove);
  const log: string[] = [];
  const options = cockpitBenchOptions({ stores, vehicles: 30, hours: 2, everyS: 60, weekDays: 1, weekEveryS: 1_800, iterations: 3, catchUpTimeoutMs: 120_000, outDir: out.path });
  const result: CockpitBenchResult = await runCockpitBench(options, (line) => log.push(line), 'smoke');
  t.same(result.stores.map((s) => s.store), stores);
  for (const s of result.stores) {
    t.equal(s.error, undefined, `${s.store} ran`);
    const expected = Array.from({ length: 30 }, (_, i) => historyCount(i, historyRanges(options, s.load.windows.to))).reduce((a, b) => a + b, 0);
    t.equal(s.load.samples, expected, `${s.store}: every sample sent`);
    t.equal(s.catchUp.counted, expected, `${s.store}: the fleet cockpit counts every sample, once`);
    t.ok(s.catchUp.countedAfterMs !== null && s.catchUp.storedAfterMs !== null, `${s.store}: catch-up timed`);
    // a day of history lands in periods long due: sealed after it is counted, before the questions
    t.ok(typeof s.catchUp.sealedAfterMs === 'number' && s.catchUp.sealedAfterMs >= s.catchUp.countedAfterMs!, `${s.store}: every period due sealed (${s.catchUp.sealedAfterMs} ms, counted at ${s.catchUp.countedAfterMs} ms)`);
    t.same(s.catchUp.notes, []);
    t.equal(s.catchUp.askFailures, undefined, `${s.store}: no fleet question failed while it caught up`);
    t.ok(s.catchUp.askMs?.p95 !== null && s.catchUp.askMs?.p95 !== undefined && s.catchUp.askMaxMs! >= s.catchUp.askMs.p95, `${s.store}: the fleet question timed while it caught up`);
    t.equal(s.queries.length, 6, 'brand, model and fleet over 2 h and over a day');
    t.ok(s.queries.every((q) => q.coldMs > 0 && q.api.p95 !== null && q.rollup.p95 !== null && q.raw.p50 !== null), `${s.store}: cold and repeated questions timed`);
  }
  const md = await readFile(join(out.path, 'cockpit-query-latest.md'), 'utf8');
  t.match(md, /## Catching up/);
  t.match(md, /\| embedded \| 30 \|/);
  t.match(md, /the fleet question meanwhile p50 \/ p95 \/ max/);
  t.match(md, /fleet cockpit 1 d \/ 1 h/);
  t.match(log.join('\n'), /after the last PUBACK/);
  const history = cockpitMarkdown({ ...result, options: { ...result.options, history: true } });
  t.match(history, /\(within 60 s\)|\(NOT within 60 s\)/, 'the --history verdict against issue 15\'s bound');
});
