// `npm run bench:footprint`: what the service costs at a fleet's real, slow pace, in each deployment. For each mode
// (embedded; Mosquitto + InfluxDB) and each shape (default: 50 vehicles at 1 Hz, what `npm run demo` runs, and 5,000
// vehicles at 0.1 Hz), fresh servers, every vehicle on its own MQTT connection with its own login, a warm-up, then a
// fixed measured time: the service's CPU (% of one core) and RSS, influxd's and Mosquitto's CPU, then the CPU of the
// service left idle for a while. Every acknowledged sample is checked by seq as in any load test.
// Writes bench/results/footprint-<time>.json, footprint-latest.json and footprint-latest.md.
import { join, resolve } from 'node:path';
import {
  loadTestOptions,
  megabytes,
  processesUsage,
  runLoadTest,
  storeWritesBetween,
  writeVolume,
  type LoadTestReport,
  type StoreWrites,
} from '../simulators/loadtest/index.ts';
import { runFleet } from '../simulators/fleet/index.ts';
import { parseDuration, unitFlag } from '../simulators/units.ts';
import { markdownTable } from '../tooling/table.ts';
import { BENCH_ADMIN_TOKEN, influxdOrSkip, MOSQUITTO_BINARY, ROOT } from './infra.ts';
import { fileStamp, machineInfo, programOptions, runAsProgram, writeResults, type MachineInfo, type ProgramIo } from './program.ts';
import { writesCell } from './results-table.ts';
import { openVehicleCloudEmbedded, openVehicleCloudInflux, type SystemUnderTest } from './systems.ts';

/** Latency probes of the load-tester shapes: few, so that the service's CPU is the vehicles' (see driveWithLoadTester). */
const PROBES_PER_SECOND = 0.5;
const PROBE_POLL_MS = 100;

export const USAGE = `Usage: npm run bench:footprint -- [options]

The service's CPU and memory at a fleet's real pace: fresh servers per run, each vehicle on its own MQTT
connection with its own login, a warm-up, then a measured time, then the service left idle. Needs Debian's
mosquitto and influxdb for the influx mode. About 6 minutes with the defaults.

Options:
  --modes LIST       embedded, influx (default both)
  --shapes LIST      VEHICLESxHZ[:fleet] (default 50x1:fleet,5000x0.1: what npm run demo runs, with the
                     fleet simulator; and the load tester's 5,000 cars at one sample every 10 s)
  --duration D       measured time per run (default 60s)
  --warmup D         publishing before the measurement starts (default 15s)
  --idle D           the service measured with no traffic after the run (default 10s; 0 for none)
  --out DIR          where results go (default bench/results)
  --json             print the result JSON instead of the table
  -h, --help         this help`;

export type FootprintMode = 'embedded' | 'influx';

export interface FootprintShape {
  vehicles: number;
  /** samples per second per vehicle */
  hz: number;
  /**
   * Who drives it: the load tester (light samples, every one checked by seq), or the fleet simulator (what
   * `npm run demo` runs: every catalog signal, store-and-forward batches after dead zones; nothing checked).
   */
  driver: 'loadtest' | 'fleet';
}

export interface FootprintOptions {
  modes: FootprintMode[];
  shapes: FootprintShape[];
  durationMs: number;
  warmupMs: number;
  idleMs: number;
  seed: number;
  outDir: string;
}

export interface FootprintRun {
  mode: FootprintMode;
  vehicles: number;
  hz: number;
  driver: FootprintShape['driver'];
  /** samples/s offered in all */
  rate: number;
  /** % of one core over the measured time, and peak RSS */
  service: { cpuPercent: number | null; rssPeakBytes: number | null; idleCpuPercent: number | null };
  influxd: { cpuPercent: number | null; rssBytes: number | null } | null;
  mosquitto: { cpuPercent: number | null } | null;
  /** the load tester's publishers (or this process, running the fleet simulator), over the whole publishing time */
  publishersCpuPercent: number | null;
  /** what issue 15 asks of this shape and mode (% of a core), when it asks anything */
  limitPercent: number | null;
  zeroLoss: boolean | null;
  keptUp: boolean;
  p99LatencyMs: number | null;
  storeWrites: StoreWrites | null;
  notes: string[];
  error?: string;
}

export interface FootprintResult {
  tool: 'vehicle-cloud footprint';
  startedAt: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  options: Omit<FootprintOptions, 'outDir'>;
  runs: FootprintRun[];
}

export const DEFAULT_SHAPES: FootprintShape[] = [
  { vehicles: 50, hz: 1, driver: 'fleet' },
  { vehicles: 5_000, hz: 0.1, driver: 'loadtest' },
];

/** Issue 15's bounds: the demo's 50 cars at 1 Hz under 10% of a core embedded; 5,000 at 0.1 Hz under 15% either way. */
export function limitFor(mode: FootprintMode, shape: FootprintShape): number | null {
  if (shape.vehicles === 50 && shape.hz === 1) return mode === 'embedded' ? 10 : null;
  if (shape.vehicles === 5_000 && shape.hz === 0.1) return 15;
  return null;
}

/** `5000x0.1` -> 5,000 vehicles at 0.1 Hz driven by the load tester; `50x1:fleet` -> 50 at 1 Hz, the fleet simulator. */
export function parseShape(text: string): FootprintShape {
  const m = /^\s*(\d+)\s*x\s*(\d+(?:\.\d+)?)\s*(?::\s*(loadtest|fleet))?\s*$/i.exec(text);
  const vehicles = Number(m?.[1]);
  const hz = Number(m?.[2]);
  if (!m || vehicles < 1 || vehicles > 20_000 || !(hz > 0) || hz > 100) {
    throw new Error(`a shape is VEHICLESxHZ[:fleet] with 1-20000 vehicles and 0-100 Hz, e.g. 5000x0.1 or 50x1:fleet; got ${JSON.stringify(text)}`);
  }
  return { vehicles, hz, driver: m[3]?.toLowerCase() === 'fleet' ? 'fleet' : 'loadtest' };
}

/** CPU seconds used over `ms` of wall time, as % of one core with one decimal. */
export function cpuPercentOf(cpuSeconds: number, ms: number): number {
  const percent = (100 * cpuSeconds) / (Math.max(1, ms) / 1000);
  return Math.round(percent * 10) / 10;
}

async function cpuSecondsOf(pid: number | undefined): Promise<number | undefined> {
  return pid === undefined ? undefined : (await processesUsage([pid]))?.cpuSeconds;
}

/** The CPU seconds of the service, influxd and Mosquitto, and when they were read. */
async function snapshot(sut: SystemUnderTest): Promise<{ at: number; cpu: Record<'service' | 'influxd' | 'mosquitto', number | undefined> }> {
  const [service, influxd, mosquitto] = await Promise.all([processesUsage(sut.pids).then((u) => u?.cpuSeconds), cpuSecondsOf(sut.infra.influxd), cpuSecondsOf(sut.infra.mosquitto)]);
  return { at: performance.now(), cpu: { service, influxd, mosquitto } };
}

interface Measured {
  from: Snapshot | undefined;
  to: Snapshot | undefined;
  rssPeakBytes: number | null;
  outcome: Pick<FootprintRun, 'publishersCpuPercent' | 'zeroLoss' | 'keptUp' | 'p99LatencyMs' | 'storeWrites' | 'notes'>;
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** The load tester's vehicles, each logged in on its own connection; every acknowledged sample checked by seq. */
async function driveWithLoadTester(sut: SystemUnderTest, shape: FootprintShape, rate: number, options: FootprintOptions, log: (line: string) => void): Promise<Measured> {
  let from: Promise<Snapshot> | undefined;
  let to: Promise<Snapshot> | undefined;
  let rssPeak = 0;
  let lastLog = 0;
  const report: LoadTestReport = await runLoadTest(
    loadTestOptions({
      api: sut.api,
      broker: sut.broker,
      token: BENCH_ADMIN_TOKEN,
      vehicles: shape.vehicles,
      connections: shape.vehicles,
      publishers: 1,
      mqttAuth: 'vehicle',
      schedule: { kind: 'fixed', rate },
      durationMs: options.warmupMs + options.durationMs,
      seed: options.seed,
      // The latency probes' polls are API reads the service answers inside the measured time: a probe every 2 s
      // polled every 100 ms (a few reads a second at the embedded store's half-second batches) keeps what is measured
      // mostly the vehicles' cost; the load tester's defaults (5 probes a second polled every 25 ms) are some 40
      // reads a second at a p99 of 500-1,000 ms.
      probesPerSecond: Math.min(PROBES_PER_SECOND, rate),
      probePollMs: PROBE_POLL_MS,
      keepUpMs: 5_000,
    }),
    {
      target: sut.target,
      onProgress: (p) => {
        if (p.phase === 'publishing' && p.elapsedS * 1000 >= options.warmupMs) {
          from ??= snapshot(sut);
          if (p.serviceRssBytes !== null) rssPeak = Math.max(rssPeak, p.serviceRssBytes);
        }
        if (Date.now() - lastLog > 15_000 && (p.phase === 'publishing' || p.phase === 'registering')) {
          lastLog = Date.now();
          log(`    ${p.phase} ${p.phase === 'registering' ? `${p.registeredVehicles ?? 0}/${p.vehicles}` : `${Math.round(p.elapsedS)} s, service ${p.serviceCpuPercent ?? '-'}%`}`);
        }
      },
      onPhase: (phase) => {
        if (phase === 'draining') to = snapshot(sut);
      },
    },
  );
  return {
    from: await from,
    to: await to,
    rssPeakBytes: rssPeak || report.service.rssPeakBytes,
    outcome: {
      publishersCpuPercent: report.publishers.cpuPercent,
      zeroLoss: report.verdict.zeroLoss,
      keptUp: report.verdict.keptUp,
      p99LatencyMs: report.latency.p99Ms,
      storeWrites: report.storeWrites,
      notes: [...report.verdict.notes, ...(report.verification?.examples.slice(0, 3) ?? [])],
    },
  };
}

/** The fleet simulator, as `npm run demo` runs it (in this process: it is light at these rates). */
async function driveWithFleet(sut: SystemUnderTest, shape: FootprintShape, options: FootprintOptions, log: (line: string) => void): Promise<Measured> {
  let publishingSince: number | undefined;
  let from: Promise<Snapshot> | undefined;
  let to: Promise<Snapshot> | undefined;
  let rssPeak = 0;
  let lastLog = 0;
  const before = await sut.target.sample();
  const summary = await runFleet(
    { api: sut.api, broker: sut.broker, token: BENCH_ADMIN_TOKEN, vehicles: shape.vehicles, rate: shape.hz, durationS: (options.warmupMs + options.durationMs) / 1000, seed: options.seed },
    {
      onProgress: (p) => {
        if (p.phase === 'publishing') publishingSince ??= Date.now();
        const publishedMs = publishingSince === undefined ? 0 : Date.now() - publishingSince;
        if (publishedMs >= options.warmupMs) from ??= snapshot(sut);
        if (publishedMs >= options.warmupMs + options.durationMs) to ??= snapshot(sut);
        if (from && !to) void processesUsage(sut.pids).then((u) => (rssPeak = Math.max(rssPeak, u?.rssBytes ?? 0)));
        if (Date.now() - lastLog > 15_000) {
          lastLog = Date.now();
          log(`    ${p.phase} ${Math.round(publishedMs / 1000)} s, ${p.samplesAcked} samples acknowledged`);
        }
      },
    },
  );
  to ??= snapshot(sut);
  const after = await sut.target.sample();
  return {
    from: await from,
    to: await to,
    rssPeakBytes: rssPeak || null,
    outcome: {
      publishersCpuPercent: summary.cpuPercent,
      zeroLoss: null,
      keptUp: summary.errors === 0 && summary.unacked === 0,
      p99LatencyMs: null,
      storeWrites: storeWritesBetween(before.writes, after.writes) ?? null,
      notes: [`fleet simulator: ${summary.samplesAcked} samples acknowledged, ${summary.errors} errors, ${summary.unacked} unacknowledged at the end`],
    },
  };
}

async function runOne(mode: FootprintMode, shape: FootprintShape, options: FootprintOptions, influxdBinary: string | undefined, log: (line: string) => void): Promise<FootprintRun> {
  const rate = Math.round(shape.vehicles * shape.hz * 1000) / 1000;
  const open = mode === 'embedded' ? openVehicleCloudEmbedded : openVehicleCloudInflux;
  const sut = await open({ influxdBinary, vehicles: shape.vehicles, seed: options.seed, register: false });
  try {
    const measured = shape.driver === 'fleet' ? await driveWithFleet(sut, shape, options, log) : await driveWithLoadTester(sut, shape, rate, options, log);
    const { from, to } = measured;
    const cpu = (name: 'service' | 'influxd' | 'mosquitto'): number | null => {
      const a = from?.cpu[name];
      const b = to?.cpu[name];
      return a === undefined || b === undefined || !from || !to ? null : cpuPercentOf(b - a, to.at - from.at);
    };
    const influxdUsage = sut.infra.influxd === undefined ? undefined : await processesUsage([sut.infra.influxd]);
    let idleCpuPercent: number | null = null;
    if (options.idleMs > 0) {
      const idleFrom = await snapshot(sut);
      await new Promise((r) => setTimeout(r, options.idleMs));
      const idleTo = await snapshot(sut);
      const a = idleFrom.cpu.service;
      const b = idleTo.cpu.service;
      idleCpuPercent = a === undefined || b === undefined ? null : cpuPercentOf(b - a, idleTo.at - idleFrom.at);
    }
    return {
      mode,
      vehicles: shape.vehicles,
      hz: shape.hz,
      driver: shape.driver,
      rate,
      service: { cpuPercent: cpu('service'), rssPeakBytes: measured.rssPeakBytes, idleCpuPercent },
      influxd: mode === 'influx' ? { cpuPercent: cpu('influxd'), rssBytes: influxdUsage?.rssBytes ?? null } : null,
      mosquitto: mode === 'influx' ? { cpuPercent: cpu('mosquitto') } : null,
      limitPercent: limitFor(mode, shape),
      ...measured.outcome,
    };
  } finally {
    await sut.close();
  }
}

export async function runFootprint(options: FootprintOptions, log: (line: string) => void, command = 'npm run bench:footprint'): Promise<FootprintResult> {
  const started = new Date();
  const influxd = influxdOrSkip();
  const runs: FootprintRun[] = [];
  for (const mode of options.modes) {
    if (mode === 'influx' && (!influxd.binary || !MOSQUITTO_BINARY)) throw new Error(influxd.skip ?? 'mosquitto not installed (apt-get install mosquitto)');
    for (const shape of options.shapes) {
      log(`${mode}: ${shape.vehicles.toLocaleString('en-US')} vehicles at ${shape.hz} Hz, each on its own connection`);
      try {
        const run = await runOne(mode, shape, options, influxd.binary, log);
        runs.push(run);
        log(`  => service ${run.service.cpuPercent ?? '-'}% of a core, ${megabytes(run.service.rssPeakBytes)}; idle ${run.service.idleCpuPercent ?? '-'}%${run.influxd ? `; influxd ${run.influxd.cpuPercent ?? '-'}%` : ''}`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`  failed: ${message}`);
        runs.push({ mode, vehicles: shape.vehicles, hz: shape.hz, driver: shape.driver, rate: shape.vehicles * shape.hz, service: { cpuPercent: null, rssPeakBytes: null, idleCpuPercent: null }, influxd: null, mosquitto: null, publishersCpuPercent: null, limitPercent: limitFor(mode, shape), zeroLoss: null, keptUp: false, p99LatencyMs: null, storeWrites: null, notes: [], error: message });
      }
    }
  }
  const result: FootprintResult = {
    tool: 'vehicle-cloud footprint',
    startedAt: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    command,
    machine: machineInfo(),
    options: { modes: options.modes, shapes: options.shapes, durationMs: options.durationMs, warmupMs: options.warmupMs, idleMs: options.idleMs, seed: options.seed },
    runs,
  };
  await writeResults(options.outDir, { timestamped: `footprint-${fileStamp(result.startedAt)}`, latest: 'footprint-latest' }, result, footprintMarkdown(result));
  return result;
}

const pct = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : `${n}%`);

export function footprintRows(result: FootprintResult): string[][] {
  const header = ['mode', 'shape', 'service CPU (% of a core)', 'issue 15 bound', 'service RSS (peak)', 'service idle CPU after', 'influxd CPU / RSS', 'Mosquitto CPU', 'publishers CPU', 'zero loss, kept up', 'p99 publish→queryable', 'cockpit ÷ telemetry writes'];
  const rows = result.runs.map((r) => [
    r.mode === 'embedded' ? 'embedded (Aedes + DuckDB)' : 'Mosquitto + InfluxDB',
    `${r.vehicles.toLocaleString('en-US')} vehicles x ${r.hz} Hz (${r.rate.toLocaleString('en-US')}/s), ${r.driver === 'fleet' ? 'fleet simulator' : 'load tester'}`,
    r.error ? `failed: ${r.error.split('\n')[0]}` : pct(r.service.cpuPercent),
    r.limitPercent === null ? '-' : `< ${r.limitPercent}%${r.service.cpuPercent === null ? '' : r.service.cpuPercent < r.limitPercent ? ' (met)' : ' (NOT met)'}`,
    megabytes(r.service.rssPeakBytes),
    pct(r.service.idleCpuPercent),
    r.influxd ? `${pct(r.influxd.cpuPercent)} / ${megabytes(r.influxd.rssBytes)}` : '-',
    r.mosquitto ? pct(r.mosquitto.cpuPercent) : '-',
    pct(r.publishersCpuPercent),
    `${r.zeroLoss === null ? 'not verified' : r.zeroLoss ? 'zero loss' : 'LOSS'}, ${r.keptUp ? 'kept up' : 'did NOT keep up'}`,
    r.p99LatencyMs === null ? '-' : `${Math.round(r.p99LatencyMs)} ms`,
    writesCell(writeVolume(r.storeWrites ?? undefined)),
  ]);
  return [header, ...rows];
}

export function footprintMarkdown(result: FootprintResult): string {
  const o = result.options;
  return [
    '# vehicle-cloud footprint at a fleet\'s pace',
    '',
    `Measured ${result.startedAt} on ${result.machine.cpus} x ${result.machine.cpuModel}, Node ${result.machine.node}, load average at start ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}.`,
    `Command: \`${result.command}\` (${Math.round(result.durationS)} s). Fresh servers per run; every vehicle on its own MQTT connection with its own login, QoS 1, one sample per message; ${o.warmupMs / 1000} s of warm-up, then ${o.durationMs / 1000} s measured; then ${o.idleMs / 1000} s with no traffic.`,
    '',
    ...markdownTable(footprintRows(result)),
    '',
    `CPU is % of one core over the measured time, from /proc (the service process with all its threads; influxd and Mosquitto apart), including the latency probes' reads (one probe every ${1 / PROBES_PER_SECOND} s, polled every ${PROBE_POLL_MS} ms). On a shared machine other users slow everything: read it with the load average above.`,
    '',
  ].join('\n');
}

export async function main(argv: string[], io: ProgramIo): Promise<number> {
  const parsed = programOptions(argv, io, USAGE, { modes: { type: 'string' }, shapes: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, idle: { type: 'string' } }, (values): FootprintOptions => {
    const modes = (values.modes ?? 'embedded,influx').split(',').map((m) => m.trim());
    for (const m of modes) if (m !== 'embedded' && m !== 'influx') throw new Error(`--modes: embedded or influx, got ${JSON.stringify(m)}`);
    const options = {
      modes: modes as FootprintMode[],
      shapes: values.shapes ? values.shapes.split(',').map(parseShape) : DEFAULT_SHAPES,
      durationMs: unitFlag('duration', values.duration ?? '60s', parseDuration),
      warmupMs: unitFlag('warmup', values.warmup ?? '15s', parseDuration),
      idleMs: unitFlag('idle', values.idle ?? '10s', parseDuration),
      seed: Date.now() % 1_000_000,
      outDir: values.out ? resolve(values.out) : join(ROOT, 'bench', 'results'),
    };
    if (options.durationMs < 1_000) throw new Error('--duration must be at least 1s');
    return options;
  });
  if (typeof parsed === 'number') return parsed;
  const { options, json } = parsed;
  const command = `npm run bench:footprint${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  let result: FootprintResult;
  try {
    result = await runFootprint(options, (line) => io.stderr.write(`${line}\n`), command);
  } catch (err) {
    io.stderr.write(`footprint failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `\n${footprintMarkdown(result)}written: ${join(options.outDir, 'footprint-latest.md')}\n`);
  return result.runs.some((r) => r.error) ? 1 : 0;
}

runAsProgram(import.meta.url, main);
