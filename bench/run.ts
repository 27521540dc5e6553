// `npm run bench -- [--quick] [--shapes 1000,10000,100000] [--only a,b,...]`: in one run on this machine, start
// Mosquitto and influxd and measure side by side, at each fleet shape (the same total rate spread over 1,000, 10,000
// and 100,000 vehicles), a naive MQTT -> InfluxDB bridge, vehicle-cloud with InfluxDB and embedded (and, once, the
// broker ceiling, the storage ceiling and two $share workers): the highest zero-loss QoS 1 rate of each (verified
// per vehicle by seq), p99 publish-to-queryable latency at half the naive bridge's max rate, CPU, RSS, and what the
// cockpit tables wrote beside the telemetry. Writes bench/results/<timestamp>.json, latest.json and latest.md.
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { addStoreWrites, LIMITS, loadTestVins, type StoreWrites } from '../simulators/loadtest/index.ts';
import { ROOT, influxdOrSkip, MOSQUITTO_BINARY } from './infra.ts';
import { fileStamp, machineInfo, programOptions, runAsProgram, wholeNumber, wholeSeconds, writeResults, type MachineInfo, type ProgramIo } from './program.ts';
import { consoleTable, markdown } from './results-table.ts';
import { ceilingRun, headToHead, limitOf, lossFreeStep, quickCheck, searchMaxRate, type HeadToHead, type SearchConfig, type SearchResult, type StepRecord } from './search.ts';
import { storageCeiling } from './storage-ceiling.ts';
import { OPENERS, SYSTEM_TITLES, type SystemKey } from './systems.ts';

export const USAGE = `Usage: npm run bench -- [options]

Starts its own Mosquitto and influxd (Debian: apt-get install mosquitto influxdb) and measures, in one run, at
each fleet shape: (c) naive bridge, (d) vehicle-cloud + InfluxDB, (e) vehicle-cloud embedded; at the first shape
also (a) broker ceiling, (b) storage ceiling and (f) two vehicle-cloud workers on a $share subscription. About
35-45 minutes for the three default shapes (12-15 for one); --quick takes a minute or two.

Options:
  --quick            smoke run: one short verified step per system at a modest rate (no search)
  --shapes LIST      fleet shapes, vehicles sharing the same total rate (default 1000,10000,100000;
                     quick: 100,1000)
  --vehicles N       one shape of N vehicles (the same as --shapes N)
  --only LIST        systems to run, e.g. --only a,c,d (letters or keys: broker, storage, naive,
                     vc-influx, vc-embedded, vc-shared)
  --step D           duration of a search step: 10s, 1m, or seconds (default 10s; quick: 2s)
  --connections N    publisher MQTT connections the vehicles are multiplexed over (default 8)
  --publishers N     publisher processes (default 2)
  --max-steps N      search steps per system after the saturation step (default 5)
  --confirm N        rounds of the head-to-head check at each shape: the naive bridge's max zero-loss rate
                     offered to it and to vehicle-cloud (InfluxDB) in turn, on fresh servers (default 3; 0: none)
  --out DIR          where results go (default bench/results)
  --json             print the result JSON instead of the table
  -h, --help         this help`;

export interface BenchOptions {
  quick: boolean;
  only: SystemKey[];
  stepS: number;
  /** fleet shapes: vehicles sharing the total rate, one full comparison each */
  shapes: number[];
  connections: number;
  publishers: number;
  maxSteps: number;
  /** head-to-head rounds after the searches (naive bridge vs vehicle-cloud with InfluxDB at the bridge's max rate) */
  confirmRounds: number;
  outDir: string;
  seed: number;
  /** offered rate of each system's single step in quick mode */
  quickRate: number;
}

export interface SystemResult {
  key: SystemKey;
  title: string;
  /** the fleet shape: vehicles the rate was spread over */
  vehicles: number;
  quick: boolean;
  maxZeroLossRate: number;
  /** the highest rate stored without loss when the drain bound is ignored, and its drain time */
  lossFreeRate: number | null;
  lossFreeDrainMs: number | null;
  p99LatencyMs: number | null;
  latencyRate: number | null;
  cpuPercent: number | null;
  rssBytes: number | null;
  publishersCpuPercent: number | null;
  mosquittoCpuPercent: number | null;
  influxdCpuPercent: number | null;
  machineCpuPercent: number | null;
  limitedBy: string;
  /** rows and bytes written per store table over all the steps (null: the system does not report them) */
  storeWrites: StoreWrites | null;
  steps: StepRecord[];
  error?: string;
}

export interface ShapeRatios {
  vcInfluxOverNaive: number | null;
  embeddedOverInflux: number | null;
  sharedOverSingle: number | null;
}

/** One fleet shape: every system measured with the total rate spread over `vehicles` vehicles. */
export interface ShapeResult {
  vehicles: number;
  systems: SystemResult[];
  /** the naive bridge's max zero-loss rate offered to it and to vehicle-cloud (InfluxDB) in turn; null when not run */
  headToHead: HeadToHead | null;
  ratios: ShapeRatios;
}

export interface BenchResult {
  tool: 'vehicle-cloud bench';
  startedAt: string;
  durationS: number;
  command: string;
  file: string;
  quick: boolean;
  machine: MachineInfo;
  options: Omit<BenchOptions, 'outDir' | 'only'> & { only: SystemKey[] };
  shapes: ShapeResult[];
  /** vehicle-cloud (InfluxDB) at the first shape over min(broker ceiling, storage ceiling) */
  vcInfluxOverCeiling: number | null;
}

const ORDER: SystemKey[] = ['broker', 'storage', 'naive', 'vc-influx', 'vc-embedded', 'vc-shared'];
/** Measured at every shape; the others (ceilings, two workers) once, at the first. */
const EVERY_SHAPE: readonly SystemKey[] = ['naive', 'vc-influx', 'vc-embedded'];
export const DEFAULT_SHAPES = [1_000, 10_000, 100_000];
const LETTERS: Record<string, SystemKey> = { a: 'broker', b: 'storage', c: 'naive', d: 'vc-influx', e: 'vc-embedded', f: 'vc-shared' };
/** A whole run stops here whatever happens (three shapes take 35-45 minutes). */
const HARD_LIMIT_MS = 75 * 60_000;
const SATURATION_RATE = 150_000;

export function benchOptions(input: Partial<BenchOptions> = {}): BenchOptions {
  const quick = input.quick ?? false;
  return {
    quick,
    only: ORDER,
    stepS: quick ? 2 : 10,
    shapes: quick ? [100, 1_000] : DEFAULT_SHAPES,
    connections: 8,
    publishers: 2,
    maxSteps: 5,
    confirmRounds: 3,
    outDir: join(ROOT, 'bench', 'results'),
    seed: 7,
    quickRate: 1_000,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  };
}

function systemResult(key: SystemKey, vehicles: number, quick: boolean, search: SearchResult, cores: number): SystemResult {
  const at = search.atMax;
  // a ceiling is measured saturated: its publishers are behind by design, and nothing is searched
  const ceiling = key === 'broker';
  const lossFree = ceiling ? undefined : lossFreeStep(search.steps);
  // no step passed: show what the system used where it still lost nothing
  const measured = at ?? lossFree;
  return {
    key,
    title: SYSTEM_TITLES[key],
    vehicles,
    quick,
    maxZeroLossRate: search.maxZeroLossRate,
    lossFreeRate: lossFree?.rate ?? null,
    lossFreeDrainMs: lossFree?.drainMs ?? null,
    p99LatencyMs: search.latency?.latencyP99Ms ?? null,
    latencyRate: search.latency?.rate ?? null,
    cpuPercent: measured?.systemCpuPercent ?? null,
    rssBytes: measured?.systemRssBytes ?? null,
    publishersCpuPercent: measured?.publishersCpuPercent ?? null,
    mosquittoCpuPercent: measured?.mosquittoCpuPercent ?? null,
    influxdCpuPercent: measured?.influxdCpuPercent ?? null,
    machineCpuPercent: measured?.machineCpuPercent ?? null,
    limitedBy: quick ? 'quick run: not searched' : ceiling ? limitOf(at && { ...at, behind: 0, keptUp: true }, cores) : limitOf(search.firstFailure, cores),
    storeWrites: addStoreWrites(search.steps.map((step) => step.storeWrites)) ?? null,
    steps: search.steps,
  };
}

function failedResult(key: SystemKey, vehicles: number, quick: boolean, err: unknown): SystemResult {
  const message = err instanceof Error ? err.message : String(err);
  return {
    key,
    title: SYSTEM_TITLES[key],
    vehicles,
    quick,
    maxZeroLossRate: 0,
    lossFreeRate: null,
    lossFreeDrainMs: null,
    p99LatencyMs: null,
    latencyRate: null,
    cpuPercent: null,
    rssBytes: null,
    publishersCpuPercent: null,
    mosquittoCpuPercent: null,
    influxdCpuPercent: null,
    machineCpuPercent: null,
    limitedBy: `run failed: ${message.split('\n')[0]}`,
    storeWrites: null,
    steps: [],
    error: message,
  };
}

async function runStorage(options: BenchOptions, vehicles: number, influxdBinary: string | undefined, log: (line: string) => void): Promise<SystemResult> {
  const vins = loadTestVins(options.seed, vehicles);
  const ceiling = await storageCeiling({ influxdBinary, vins, seed: options.seed, durationMs: options.stepS * 1000 });
  const s = ceiling.saturated;
  const h = ceiling.halfRate;
  log(`    saturation  ${s.rate}/s  ${s.zeroLoss ? 'ok' : `LOST ${s.lost}`}  errors ${s.errors}  influxd ${s.influxdCpuPercent}%  writer ${s.writerCpuPercent}%`);
  log(`    half rate   ${h.rate}/s  ${h.zeroLoss ? 'ok' : `LOST ${h.lost}`}  p99 write ${h.p99Ms?.toFixed(1)} ms`);
  const step = (kind: StepRecord['kind'], run: typeof s): StepRecord => ({
    kind,
    rate: run.rate,
    ok: run.zeroLoss && run.errors === 0,
    zeroLoss: run.zeroLoss,
    keptUp: true,
    published: run.points,
    acked: run.points,
    lost: run.lost,
    duplicates: 0,
    behind: 0,
    drainMs: 0,
    ackedRate: run.rate,
    acceptedRate: run.rate,
    storedRate: run.rate,
    latencyP50Ms: null,
    latencyP99Ms: run.p99Ms === null ? null : Math.round(run.p99Ms),
    latencyProbes: 0,
    systemCpuPercent: run.influxdCpuPercent,
    systemRssBytes: run.influxdRssBytes,
    publishersCpuPercent: run.writerCpuPercent,
    mosquittoCpuPercent: null,
    influxdCpuPercent: run.influxdCpuPercent,
    machineCpuPercent: null,
    notes: run.errors > 0 ? [`${run.errors} failed write requests`] : [],
  });
  const saturated = step('saturation', s);
  const half = step('latency', h);
  return {
    key: 'storage',
    title: SYSTEM_TITLES.storage,
    vehicles,
    quick: options.quick,
    maxZeroLossRate: saturated.ok ? Math.round(s.rate / 100) * 100 : 0,
    lossFreeRate: null,
    lossFreeDrainMs: null,
    p99LatencyMs: half.latencyP99Ms,
    latencyRate: Math.round(h.rate),
    cpuPercent: s.influxdCpuPercent,
    rssBytes: s.influxdRssBytes,
    publishersCpuPercent: s.writerCpuPercent,
    mosquittoCpuPercent: null,
    influxdCpuPercent: s.influxdCpuPercent,
    machineCpuPercent: null,
    limitedBy: options.quick ? 'quick run: not searched' : `influxd ${s.influxdCpuPercent}%, line writer ${s.writerCpuPercent}% (4 requests of 5000 lines in flight)`,
    storeWrites: null,
    steps: [saturated, half],
  };
}

const ratio = (a: number | undefined, b: number | undefined): number | null => (a && b ? Math.round((a / b) * 100) / 100 : null);

export async function runBench(options: BenchOptions, log: (line: string) => void, command = 'npm run bench'): Promise<BenchResult> {
  const influxd = influxdOrSkip();
  if (!influxd.binary) throw new Error(influxd.skip);
  if (!MOSQUITTO_BINARY) throw new Error('mosquitto not installed (apt-get install mosquitto)');
  const started = new Date();
  const cores = availableParallelism();
  const shapes: ShapeResult[] = [];
  for (const [index, vehicles] of options.shapes.entries()) {
    const keys = ORDER.filter((k) => options.only.includes(k) && (index === 0 || EVERY_SHAPE.includes(k)));
    if (keys.length === 0) continue;
    log(`${vehicles.toLocaleString('en-US')} vehicles over ${options.connections} connections`);
    shapes.push(await runShape(options, vehicles, keys, influxd.binary, cores, log));
  }
  const first = shapes[0];
  const rate = (key: SystemKey): number | undefined => first?.systems.find((s) => s.key === key)?.maxZeroLossRate;
  const ceilings = [rate('broker'), rate('storage')].filter((r): r is number => r !== undefined && r > 0);
  const file = `${fileStamp(started.toISOString())}${options.quick ? '-quick' : ''}.json`;
  const result: BenchResult = {
    tool: 'vehicle-cloud bench',
    startedAt: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    command,
    file,
    quick: options.quick,
    machine: machineInfo(),
    options: { quick: options.quick, only: options.only, stepS: options.stepS, shapes: options.shapes, connections: options.connections, publishers: options.publishers, maxSteps: options.maxSteps, confirmRounds: options.confirmRounds, seed: options.seed, quickRate: options.quickRate },
    shapes,
    vcInfluxOverCeiling: ratio(rate('vc-influx'), ceilings.length === 2 ? Math.min(...ceilings) : undefined),
  };
  // a quick smoke run must not replace the numbers the README links to
  await writeResults(options.outDir, { timestamped: file.replace(/\.json$/, ''), latest: options.quick ? 'quick-latest' : 'latest' }, result, markdown(result));
  return result;
}

/** Every system of `keys` at one fleet shape, then the head-to-head check at the naive bridge's max rate. */
async function runShape(options: BenchOptions, vehicles: number, keys: readonly SystemKey[], influxdBinary: string, cores: number, log: (line: string) => void): Promise<ShapeResult> {
  const config: SearchConfig = {
    vehicles,
    connections: Math.min(options.connections, vehicles),
    publishers: Math.min(options.publishers, options.connections, vehicles),
    seed: options.seed,
    stepMs: options.stepS * 1000,
    probesPerSecond: 10,
    saturationRate: SATURATION_RATE,
    maxSteps: options.maxSteps,
    precision: 0.1,
    log,
  };
  const open = (key: Exclude<SystemKey, 'storage'>) => () => OPENERS[key]({ influxdBinary, vehicles, seed: options.seed });
  const systems: SystemResult[] = [];
  const rate = (key: SystemKey): number | undefined => systems.find((s) => s.key === key)?.maxZeroLossRate;
  for (const key of keys) {
    log(`  ${SYSTEM_TITLES[key]}`);
    const t0 = Date.now();
    try {
      if (key === 'storage') {
        systems.push(await runStorage(options, vehicles, influxdBinary, log));
      } else {
        const sut = await open(key)();
        try {
          // every system's latency at the same load: half the naive bridge's max rate at this shape
          const naive = key === 'naive' || key === 'broker' ? undefined : rate('naive');
          const shaped = { ...config, latencyRate: naive ? naive / 2 : undefined };
          const search = options.quick ? await quickCheck(sut, options.quickRate, shaped) : key === 'broker' ? await ceilingRun(sut, shaped) : await searchMaxRate(sut, shaped);
          systems.push(systemResult(key, vehicles, options.quick, search, cores));
        } finally {
          await sut.close();
        }
      }
    } catch (err) {
      log(`      failed: ${err instanceof Error ? err.message : String(err)}`);
      systems.push(failedResult(key, vehicles, options.quick, err));
    }
    const last = systems.at(-1)!;
    log(`    => ${last.maxZeroLossRate}/s max zero-loss, p99 ${last.p99LatencyMs ?? '-'} ms at ${last.latencyRate ?? '-'}/s (${Math.round((Date.now() - t0) / 1000)} s)`);
  }
  let duel: HeadToHead | null = null;
  const naiveRate = rate('naive');
  if (!options.quick && options.confirmRounds > 0 && naiveRate && rate('vc-influx') !== undefined) {
    log(`  head to head at the naive bridge's max zero-loss rate, ${naiveRate}/s: ${options.confirmRounds} rounds, fresh servers each`);
    try {
      duel = await headToHead(
        (['vc-influx', 'naive'] as const).map((key) => ({ key, open: open(key) })),
        naiveRate,
        options.confirmRounds,
        config,
      );
      log(`    => vehicle-cloud (InfluxDB) passed ${duel.passed['vc-influx']} of ${duel.rounds}, the naive bridge ${duel.passed.naive} of ${duel.rounds}`);
    } catch (err) {
      log(`      head to head failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return {
    vehicles,
    systems,
    headToHead: duel,
    ratios: {
      vcInfluxOverNaive: ratio(rate('vc-influx'), rate('naive')),
      embeddedOverInflux: ratio(rate('vc-embedded'), rate('vc-influx')),
      sharedOverSingle: ratio(rate('vc-shared'), rate('vc-influx')),
    },
  };
}

export async function main(argv: string[], io: ProgramIo): Promise<number> {
  const flags = {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    step: { type: 'string' },
    shapes: { type: 'string' },
    vehicles: { type: 'string' },
    connections: { type: 'string' },
    publishers: { type: 'string' },
    'max-steps': { type: 'string' },
    confirm: { type: 'string' },
  } as const;
  const parsed = programOptions(argv, io, USAGE, flags, (values) => {
    const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
      const key = LETTERS[s] ?? (ORDER.includes(s as SystemKey) ? (s as SystemKey) : undefined);
      if (!key) throw new Error(`--only: unknown system ${JSON.stringify(s)} (a-f or ${ORDER.join(', ')})`);
      return key;
    });
    if (values.shapes !== undefined && values.vehicles !== undefined) throw new Error('--shapes and --vehicles exclude each other');
    const shapes = values.vehicles !== undefined ? [values.vehicles] : values.shapes?.split(',').map((s) => s.trim());
    return benchOptions({
      quick: values.quick,
      only,
      stepS: wholeSeconds('step', values.step, 1, 120),
      shapes: shapes?.map((v) => wholeNumber('shapes', v, 10, LIMITS.vehicles)!),
      connections: wholeNumber('connections', values.connections, 1, 1_000),
      publishers: wholeNumber('publishers', values.publishers, 1, 8),
      maxSteps: wholeNumber('max-steps', values['max-steps'], 1, 12),
      confirmRounds: wholeNumber('confirm', values.confirm, 0, 10),
      outDir: values.out ? resolve(values.out) : undefined,
    });
  });
  if (typeof parsed === 'number') return parsed;
  const { options, json } = parsed;
  const hardStop = setTimeout(() => {
    io.stderr.write(`bench: still running after ${HARD_LIMIT_MS / 60_000} minutes; giving up\n`);
    process.exit(1);
  }, HARD_LIMIT_MS);
  hardStop.unref();
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  let result: BenchResult;
  try {
    result = await runBench(options, (line) => io.stderr.write(`${line}\n`), command);
  } catch (err) {
    io.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    clearTimeout(hardStop);
  }
  io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `\n${consoleTable(result)}\nwritten: ${join(options.outDir, result.file)}, ${options.quick ? 'quick-' : ''}latest.json, ${options.quick ? 'quick-' : ''}latest.md\n`);
  return result.shapes.some((shape) => shape.systems.some((s) => s.error)) ? 1 : 0;
}

runAsProgram(import.meta.url, main);
