// The footprint benchmark's smoke run (npm run bench:footprint with tiny shapes): fresh servers, every vehicle on its
// own connection with its own login, the service's CPU and RSS measured after a warm-up and when idle, written as
// JSON and markdown, with issue 15's bounds beside the shapes it names.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { cpuPercentOf, DEFAULT_SHAPES, footprintMarkdown, limitFor, main, parseShape, runFootprint, type FootprintMode } from '../../bench/footprint.ts';
import { influxdOrSkip } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY } from '../../tooling/mosquitto.ts';
import { missingServer, tempDir } from '../../tooling/system.ts';

t.test('shapes are VEHICLESxHZ, driven by the load tester unless :fleet says the fleet simulator', async (t) => {
  t.same(parseShape('5000x0.1'), { vehicles: 5000, hz: 0.1, driver: 'loadtest' });
  t.same(parseShape(' 50 x 1 :fleet'), { vehicles: 50, hz: 1, driver: 'fleet' });
  t.throws(() => parseShape('5000'), /VEHICLESxHZ/);
  t.throws(() => parseShape('0x1'), /VEHICLESxHZ/);
  t.same(DEFAULT_SHAPES.map((s) => `${s.vehicles}x${s.hz}:${s.driver}`), ['50x1:fleet', '5000x0.1:loadtest'], 'what issue 15 measures');
  t.equal(limitFor('embedded', { vehicles: 50, hz: 1, driver: 'fleet' }), 10);
  t.equal(limitFor('influx', { vehicles: 50, hz: 1, driver: 'fleet' }), null);
  t.equal(limitFor('influx', { vehicles: 5000, hz: 0.1, driver: 'loadtest' }), 15);
  t.equal(limitFor('embedded', { vehicles: 20, hz: 2, driver: 'loadtest' }), null);
  t.equal(cpuPercentOf(1.5, 10_000), 15, '1.5 CPU seconds in 10 s: 15% of a core');
  t.equal(cpuPercentOf(0.123, 60_000), 0.2);
  t.equal(cpuPercentOf(2, 1_000), 200, 'two cores busy');
});

t.test('the footprint CLI explains itself and refuses bad options', async (t) => {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  t.equal(await main(['--help'], io), 0);
  t.match(stdout, /--shapes/);
  t.equal(await main(['--modes', 'cloud'], io), 2);
  t.match(stderr, /embedded or influx/);
  t.equal(await main(['--shapes', 'many'], io), 2);
  t.equal(await main(['--duration', 'soon'], io), 2);
});

const influxd = influxdOrSkip();
const mosquittoMissing = missingServer('mosquitto', MOSQUITTO_BINARY);
const modes: FootprintMode[] = 'skip' in influxd || mosquittoMissing ? ['embedded'] : ['embedded', 'influx'];

t.test(`the service's CPU and RSS at a slow pace, ${modes.join(' and ')}, with the load tester and the fleet simulator`, async (t) => {
  const out = await tempDir('bench-footprint');
  t.teardown(out.remove);
  const shapes = [parseShape('20x2'), parseShape('5x1:fleet')];
  const result = await runFootprint({ modes, shapes, durationMs: 2_000, warmupMs: 1_000, idleMs: 1_000, seed: Date.now() % 100_000, outDir: out.path }, () => undefined, 'smoke');
  t.equal(result.runs.length, modes.length * 2);
  for (const run of result.runs) {
    const name = `${run.mode}, ${run.vehicles} x ${run.hz} Hz (${run.driver})`;
    t.equal(run.error, undefined, `${name} ran`);
    t.ok(run.service.cpuPercent !== null && run.service.cpuPercent >= 0, `${name}: service CPU measured`);
    t.ok(run.service.rssPeakBytes !== null && run.service.rssPeakBytes > 10e6, `${name}: service RSS measured`);
    t.ok(run.service.idleCpuPercent !== null, `${name}: idle CPU measured`);
    t.equal(run.influxd !== null, run.mode === 'influx', 'influxd measured in the InfluxDB mode only');
    if (run.driver === 'loadtest') t.equal(run.zeroLoss, true, `${name}: every acknowledged sample stored exactly once`);
    else t.match(run.notes[0], /fleet simulator: \d+ samples acknowledged, 0 errors/);
  }
  const md = await readFile(join(out.path, 'footprint-latest.md'), 'utf8');
  t.match(md, /\| embedded \(Aedes \+ DuckDB\) \| 20 vehicles x 2 Hz \(40\/s\), load tester \|/);
  t.match(md, /5 vehicles x 1 Hz \(5\/s\), fleet simulator/);
  t.equal(footprintMarkdown(result), md);
});
