// The benchmark's smoke run (npm run bench -- --quick): every system of the comparison starts on its own servers,
// takes one short verified step at QoS 1 with zero loss by seq, and the results land as JSON and markdown.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { benchOptions, main, runBench, type BenchResult } from '../../bench/run.ts';
import { consoleTable, markdown } from '../../bench/results-table.ts';
import { ceilingRun, headToHead, limitOf, quickCheck, searchMaxRate, type SearchConfig, type StepRecord, type StepRunner } from '../../bench/search.ts';
import { SYSTEM_TITLES, type SystemKey, type SystemUnderTest } from '../../bench/systems.ts';
import { influxdOrSkip } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY } from '../../tooling/mosquitto.ts';
import { missingServer, tempDir } from '../../tooling/system.ts';

// Nine systems' servers started and driven in turn: about 2 minutes on a quiet 2-core machine, over the suite's 300 s
// per file at a load average of 15-20 (what it checks does not depend on time)
t.setTimeout(900_000);

/** A model of a system that stores up to `capacity` samples/s with zero loss and falls behind above it. */
function modelOf(capacity: number): { runner: StepRunner; rates: number[] } {
  const rates: number[] = [];
  const runner: StepRunner = async (_sut, rate, kind, _config, durationMs = 10_000) => {
    rates.push(rate);
    const ok = rate <= capacity;
    const seconds = durationMs / 1000;
    const acked = Math.round(Math.min(rate, 70_000) * seconds);
    return {
      kind,
      rate,
      ok,
      zeroLoss: true,
      keptUp: ok,
      published: acked,
      acked,
      lost: 0,
      duplicates: 0,
      behind: 0,
      // what is acknowledged beyond the capacity waits in the backlog
      drainMs: ok ? 200 : Math.round(((acked - capacity * seconds) / capacity) * 1000),
      ackedRate: Math.min(rate, 70_000),
      acceptedRate: Math.min(rate, 70_000),
      storedRate: Math.min(rate, capacity, 70_000),
      latencyP50Ms: 40,
      latencyP99Ms: 90,
      latencyProbes: kind === 'latency' ? 100 : 0,
      systemCpuPercent: Math.min(100, (100 * rate) / capacity),
      systemRssBytes: 100e6,
      publishersCpuPercent: 30,
      mosquittoCpuPercent: 20,
      influxdCpuPercent: null,
      machineCpuPercent: ok ? 150 : 195,
      notes: [],
    };
  };
  return { runner, rates };
}

const SEARCH: SearchConfig = { vehicles: 10, connections: 2, publishers: 1, seed: 1, stepMs: 10_000, probesPerSecond: 10, saturationRate: 150_000, maxSteps: 6, precision: 0.1, log: () => undefined };
const NO_SYSTEM = {} as SystemUnderTest;

t.test('the rate search brackets the limit and narrows it to the wanted precision', async (t) => {
  const model = modelOf(23_000);
  const result = await searchMaxRate(NO_SYSTEM, SEARCH, model.runner);
  t.ok(result.maxZeroLossRate <= 23_000 && result.maxZeroLossRate >= 23_000 / 1.1, `found ${result.maxZeroLossRate}/s for a 23000/s system`);
  t.equal(result.firstFailure!.ok, false);
  t.ok(result.firstFailure!.rate <= result.maxZeroLossRate * 1.1, 'the lowest failure is within 10% above');
  t.equal(result.latency?.kind, 'latency');
  t.equal(result.latency?.rate, Math.round(result.maxZeroLossRate / 200) * 100, 'latency at half the max rate');
  t.same(model.rates.slice(0, 2), [2_000, 150_000], 'a warm-up, then a saturation step');
  t.ok(model.rates.length <= 2 + SEARCH.maxSteps + 1, 'bounded number of steps');
  t.match(limitOf(result.firstFailure, 2), /machine CPU 195% of 200%; system 100%/);
  t.equal(limitOf(undefined, 2), 'not reached');

  const slow = await searchMaxRate(NO_SYSTEM, { ...SEARCH, maxSteps: 3 }, modelOf(100).runner);
  t.equal(slow.maxZeroLossRate, 0, 'a system that never passes has no zero-loss rate');
  t.equal(slow.latency, undefined);
});

t.test('a ceiling is what got through a saturation step; quick mode is one step', async (t) => {
  const ceiling = await ceilingRun(NO_SYSTEM, SEARCH, modelOf(80_000).runner);
  t.equal(ceiling.maxZeroLossRate, 70_000, 'what the saturated system stored per second');
  t.equal(ceiling.latency?.rate, 35_000);
  const quick = await quickCheck(NO_SYSTEM, 500, SEARCH, modelOf(400).runner);
  t.equal(quick.maxZeroLossRate, 0);
  t.equal(quick.firstFailure?.rate, 500);
  const step: StepRecord | undefined = (await quickCheck(NO_SYSTEM, 300, SEARCH, modelOf(400).runner)).atMax;
  t.equal(step?.rate, 300);
});

t.test('head to head: one rate offered to each system in turn, on fresh servers, the order alternating', async (t) => {
  const strong = modelOf(20_000);
  const weak = modelOf(15_000);
  const suts = { strong: { name: 'strong' }, weak: { name: 'weak' } } as unknown as Record<string, SystemUnderTest>;
  const events: string[] = [];
  const open = (key: string) => async () => {
    events.push(`open ${key}`);
    return { ...suts[key]!, close: async () => void events.push(`close ${key}`) } as SystemUnderTest;
  };
  const runner: StepRunner = async (sut, rate, kind, config, durationMs) => {
    events.push(`${kind} ${(sut as unknown as { name: string }).name}`);
    return ((sut as unknown as { name: string }).name === 'strong' ? strong : weak).runner(sut, rate, kind, config, durationMs);
  };
  const duel = await headToHead(
    [
      { key: 'strong', open: open('strong') },
      { key: 'weak', open: open('weak') },
    ],
    18_000,
    3,
    SEARCH,
    runner,
  );
  t.strictSame(duel.passed, { strong: 3, weak: 0 }, 'each round asks both the same question');
  t.equal(duel.steps.length, 6);
  t.ok(duel.steps.every((s) => s.step.kind === 'confirm' && s.step.rate === 18_000));
  t.strictSame(
    duel.steps.map((s) => s.system),
    ['strong', 'weak', 'weak', 'strong', 'strong', 'weak'],
    'the order alternates, so drift of the machine does not favour one',
  );
  t.strictSame(events.slice(0, 4), ['open strong', 'warm-up strong', 'confirm strong', 'close strong'], 'fresh servers and a warm-up before every step');
  t.equal(events.filter((e) => e.startsWith('open')).length, events.filter((e) => e.startsWith('close')).length, 'every system opened is closed');
});

const influxd = influxdOrSkip();
const mosquittoMissing = missingServer('mosquitto', MOSQUITTO_BINARY);
if ('skip' in influxd || mosquittoMissing) {
  t.test('the quick benchmark run', { skip: 'skip' in influxd ? influxd.skip : mosquittoMissing }, () => undefined);
} else {
  await run().catch((err: unknown) => t.fail(`bench smoke failed: ${String(err)}`));
}

async function run(): Promise<void> {
  const out = await tempDir('bench-smoke');
  t.teardown(out.remove);

  t.test('a quick run measures every system at two fleet shapes with zero loss and writes its results', async (t) => {
    const log: string[] = [];
    const result: BenchResult = await runBench(benchOptions({ quick: true, outDir: out.path, shapes: [60, 600], stepS: 1, quickRate: 600 }), (line) => log.push(line), 'smoke');
    const keys: SystemKey[] = ['broker', 'storage', 'naive', 'vc-influx', 'vc-embedded', 'vc-shared'];
    t.same(result.shapes.map((shape) => shape.vehicles), [60, 600]);
    t.same(result.shapes[0]!.systems.map((s) => s.key), keys, 'side by side, in order, the ceilings and two workers at the first shape');
    t.same(result.shapes[1]!.systems.map((s) => s.key), ['naive', 'vc-influx', 'vc-embedded'], 'the naive bridge and vehicle-cloud at every shape');
    for (const shape of result.shapes) {
      for (const s of shape.systems) {
        const name = `${s.key} at ${shape.vehicles} vehicles`;
        t.equal(s.vehicles, shape.vehicles);
        t.equal(s.error, undefined, `${name} ran`);
        // zero loss is the contract; keeping up within the drain bound depends on what else CI runs meanwhile
        t.ok(s.steps.every((step) => step.zeroLoss === true), `${name}: every acknowledged sample stored exactly once`);
        t.ok(s.steps.every((step) => step.published > 0 && step.acked === step.published), `${name}: samples flowed, every one acknowledged`);
        t.ok(s.p99LatencyMs !== null, `${name}: latency measured`);
        t.ok(s.cpuPercent !== null && s.rssBytes !== null, `${name}: CPU and RSS measured`);
      }
      t.ok(shape.ratios.vcInfluxOverNaive !== null);
      t.equal(shape.headToHead, null, 'a quick run has no head-to-head check');
    }
    t.match(log.join('\n'), /\(f\) 2 vehicle-cloud workers/);
    t.match(log.join('\n'), /600 vehicles over 8 connections/);

    const files = await readdir(out.path);
    t.ok(files.includes(result.file), 'a timestamped JSON');
    t.ok(files.includes('quick-latest.json') && files.includes('quick-latest.md'), 'quick results never replace latest.*');
    t.notOk(files.includes('latest.md'));
    const md = await readFile(join(out.path, 'quick-latest.md'), 'utf8');
    for (const title of Object.values(SYSTEM_TITLES)) t.ok(md.includes(title.replace(/\|/g, '\\|')), `table row: ${title}`);
    t.match(md, /## 60 vehicles/);
    t.match(md, /## 600 vehicles/);
    t.match(md, /\| 600 \| [\d,]+\/s \| [\d,]+\/s \|/, 'a summary row per shape');
    t.match(md, /vehicle-cloud \(InfluxDB\) \/ naive bridge/);
    t.same((JSON.parse(await readFile(join(out.path, 'quick-latest.json'), 'utf8')) as BenchResult).shapes.length, 2);
    const shape = result.shapes[1]!;
    const naive = shape.systems.find((s) => s.key === 'naive')!.steps[0]!;
    const withDuel = {
      ...result,
      shapes: [
        {
          ...shape,
          headToHead: {
            rate: 16_200,
            rounds: 2,
            steps: [
              { system: 'vc-influx', step: { ...naive, kind: 'confirm' as const } },
              { system: 'naive', step: { ...naive, kind: 'confirm' as const, ok: false, notes: ['backlog drained in 3.1 s'] } },
            ],
            passed: { 'vc-influx': 2, naive: 1 },
          },
        },
      ],
    };
    t.match(markdown(withDuel), /At 600 vehicles, the naive bridge's max zero-loss rate \(16,200\/s\), offered in turn on fresh servers: vehicle-cloud \(InfluxDB\) passed \*\*2 of 2\*\*, the naive bridge 1 of 2 \(naive: backlog drained in 3.1 s\)/);
    t.match(consoleTable(withDuel), /vehicle-cloud \(InfluxDB\) passed 2 of 2/);
    t.match(consoleTable(withDuel), /2 \/ 1 of 2/, 'the summary row counts the rounds');
  });

  t.test('the bench CLI explains itself and refuses unknown systems', async (t) => {
    let stdout = '';
    let stderr = '';
    const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
    t.equal(await main(['--help'], io), 0);
    t.match(stdout, /--quick/);
    t.equal(await main(['--only', 'z'], io), 2);
    t.match(stderr, /unknown system "z"/);
    t.equal(await main(['--step', '0'], io), 2);
    t.equal(await main(['--bogus'], io), 2);
    t.equal(await main(['--confirm', '11'], io), 2, '--confirm is bounded');
    t.equal(await main(['--shapes', '1000,many'], io), 2);
    t.match(stderr, /--shapes wants a whole number/);
    t.equal(await main(['--shapes', '1000', '--vehicles', '10'], io), 2);
    t.match(stderr, /exclude each other/);
    const { spawnSync } = await import('node:child_process');
    const program = spawnSync(process.execPath, [...process.execArgv, 'bench/run.ts', '--help'], { encoding: 'utf8' });
    t.equal(program.status, 0, 'npm run bench -- --help');
    t.match(program.stdout, /^Usage: npm run bench/);
  });

  t.test('the CLI runs a chosen system and prints the table', async (t) => {
    let stdout = '';
    const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true } };
    t.equal(await main(['--quick', '--only', 'e', '--vehicles', '20', '--step', '1', '--out', out.path], io), 0);
    t.match(stdout, /^\n20 vehicles\n/);
    t.match(stdout, /\(e\) vehicle-cloud, embedded/);
    t.match(stdout, /per shape/);
    t.match(stdout, /written: /);
  });
}
