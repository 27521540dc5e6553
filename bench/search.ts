// The rate search: the highest offered rate at which a system stores every acknowledged sample exactly once and
// keeps up (the publishers sent what was offered, the backlog drained within the bound). One step is one load
// test at a fixed rate, verified per vehicle by seq. A saturation step gives the first guess; then the rate grows
// or shrinks until it brackets the limit, and the bracket is halved down to the wanted precision.
import { loadTestOptions, processesUsage, runLoadTest, type LoadTestReport, type StoreWrites } from '../simulators/loadtest/index.ts';
import { BENCH_ADMIN_TOKEN, machineCpu } from './infra.ts';
import type { SystemUnderTest } from './systems.ts';

export type StepKind = 'warm-up' | 'saturation' | 'search' | 'latency' | 'quick' | 'confirm';

export interface StepRecord {
  kind: StepKind;
  /** offered samples/s */
  rate: number;
  ok: boolean;
  zeroLoss: boolean | null;
  keptUp: boolean;
  published: number;
  acked: number;
  lost: number | null;
  duplicates: number | null;
  behind: number;
  drainMs: number | null;
  ackedRate: number;
  acceptedRate: number | null;
  storedRate: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  latencyProbes: number;
  /** % of one core while publishing */
  systemCpuPercent: number | null;
  systemRssBytes: number | null;
  publishersCpuPercent: number | null;
  mosquittoCpuPercent: number | null;
  influxdCpuPercent: number | null;
  /** every process on the machine (other users included), % of one core; 100 x cores is the most */
  machineCpuPercent: number | null;
  /** rows and bytes the system wrote per store table during the step, drain included (null: not reported) */
  storeWrites?: StoreWrites | null;
  notes: string[];
}

export interface StepConfig {
  vehicles: number;
  connections: number;
  publishers: number;
  seed: number;
  stepMs: number;
  probesPerSecond: number;
  log: (line: string) => void;
}

export interface SearchConfig extends StepConfig {
  /** offered rate of the saturation step, far above anything the machine can take */
  saturationRate: number;
  /** search steps after the saturation step */
  maxSteps: number;
  /** stop once the bracket's high end is within this fraction of its low end */
  precision: number;
  /**
   * The latency step's rate when the system sustains it (the same reference rate for every system of a shape: half
   * the naive bridge's max zero-loss rate); otherwise, and by default, half the system's own max.
   */
  latencyRate?: number;
}

export interface SearchResult {
  maxZeroLossRate: number;
  /** the step at the max rate (CPU, RSS), and the latency step at half of it */
  atMax: StepRecord | undefined;
  latency: StepRecord | undefined;
  /** the lowest failing step: what stopped the search there */
  firstFailure: StepRecord | undefined;
  steps: StepRecord[];
}

const CORES_NOTE_THRESHOLD = 0.9;

async function usageOf(pids: Partial<Record<string, number>>): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  await Promise.all(Object.entries(pids).map(async ([name, pid]) => (out[name] = pid === undefined ? undefined : (await processesUsage([pid]))?.cpuSeconds)));
  return out;
}

const round = (x: number, to: number): number => Math.max(to, Math.round(x / to) * to);

/** One load test against `sut` at `rate`, with the infrastructure's CPU measured over the publishing window. */
export async function runStep(sut: SystemUnderTest, rate: number, kind: StepKind, config: StepConfig, durationMs = config.stepMs): Promise<StepRecord> {
  const options = loadTestOptions({
    api: sut.api,
    broker: sut.broker,
    token: BENCH_ADMIN_TOKEN,
    vehicles: config.vehicles,
    connections: config.connections,
    publishers: config.publishers,
    schedule: { kind: 'fixed', rate },
    durationMs,
    qos: 1,
    seed: config.seed,
    mqttAuth: sut.mqttAuth,
    probesPerSecond: kind === 'latency' || kind === 'quick' ? config.probesPerSecond : 0,
    probePollMs: 20,
    probeTimeoutMs: 20_000,
    keepUpMs: Math.max(2_000, Math.round(durationMs * 0.1)),
    drainTimeoutMs: 90_000,
    verify: kind !== 'warm-up',
    register: false,
  });
  let publishingStart: Promise<[Record<string, number | undefined>, Awaited<ReturnType<typeof machineCpu>>, number]> | undefined;
  let publishingEnd: Promise<[Record<string, number | undefined>, Awaited<ReturnType<typeof machineCpu>>, number]> | undefined;
  const snapshot = () => Promise.all([usageOf(sut.infra), machineCpu(), Promise.resolve(performance.now())]);
  const report: LoadTestReport = await runLoadTest(options, {
    target: sut.target,
    onPhase: (phase) => {
      if (phase === 'publishing') publishingStart = snapshot();
      if (phase === 'draining') publishingEnd = snapshot();
    },
  });
  const [start, end] = await Promise.all([publishingStart, publishingEnd]);
  const percentOf = (name: string): number | null => {
    const a = start?.[0][name];
    const b = end?.[0][name];
    if (a === undefined || b === undefined || !start || !end) return null;
    return Math.round((100 * (b - a)) / ((end[2] - start[2]) / 1000));
  };
  const machine = start?.[1] && end?.[1] ? Math.round((100 * (end[1].busy - start[1].busy) * (await cores())) / Math.max(1, end[1].total - start[1].total)) : null;
  const v = report.verification;
  const record: StepRecord = {
    kind,
    rate,
    ok: report.verdict.ok,
    zeroLoss: report.verdict.zeroLoss,
    keptUp: report.verdict.keptUp,
    published: report.totals.published,
    acked: report.totals.acked,
    lost: v?.lost ?? null,
    duplicates: v ? v.duplicates + v.unexpected : null,
    behind: report.totals.behind,
    drainMs: report.drain.ms,
    ackedRate: report.rates.acked,
    acceptedRate: report.rates.accepted,
    storedRate: report.rates.stored,
    latencyP50Ms: report.latency.p50Ms,
    latencyP99Ms: report.latency.p99Ms,
    latencyProbes: report.latency.found,
    systemCpuPercent: report.service.cpuPercent,
    systemRssBytes: report.service.rssPeakBytes,
    publishersCpuPercent: report.publishers.cpuPercent,
    mosquittoCpuPercent: percentOf('mosquitto'),
    influxdCpuPercent: percentOf('influxd'),
    machineCpuPercent: machine,
    storeWrites: report.storeWrites,
    notes: [...report.verdict.notes, ...(v?.examples.slice(0, 3) ?? [])],
  };
  config.log(`    ${kind.padEnd(10)} ${String(rate).padStart(7)}/s  ${record.ok ? 'ok  ' : 'FAIL'}  stored ${record.storedRate}/s  acked ${record.ackedRate}/s  ${v ? `lost ${v.lost} dup ${v.duplicates}` : 'unverified'}  drain ${record.drainMs ?? '-'} ms  behind ${record.behind}  cpu sys ${record.systemCpuPercent ?? '-'}% pub ${record.publishersCpuPercent ?? '-'}% mosq ${record.mosquittoCpuPercent ?? '-'}% influxd ${record.influxdCpuPercent ?? '-'}% machine ${record.machineCpuPercent ?? '-'}%${record.latencyP99Ms !== null ? `  p99 ${record.latencyP99Ms} ms` : ''}`);
  return record;
}

let coreCount: number | undefined;
async function cores(): Promise<number> {
  coreCount ??= (await import('node:os')).availableParallelism();
  return coreCount;
}

/** Runs one step; `runStep` in a benchmark, a model of a system in the search's own tests. */
export type StepRunner = (sut: SystemUnderTest, rate: number, kind: StepKind, config: StepConfig, durationMs?: number) => Promise<StepRecord>;

export async function searchMaxRate(sut: SystemUnderTest, config: SearchConfig, step: StepRunner = runStep): Promise<SearchResult> {
  const steps: StepRecord[] = [];
  steps.push(await step(sut, Math.min(2_000, config.saturationRate), 'warm-up', config, 2_000));
  const saturation = await step(sut, config.saturationRate, 'saturation', config, Math.max(2_000, Math.round(config.stepMs / 2)));
  steps.push(saturation);
  let lo: StepRecord | undefined;
  let hi: StepRecord | undefined;
  // what it stored end to end while pushed as hard as the publishers could (an under-estimate: they took CPU too)
  let rate = round(Math.max(500, sustainedRate(saturation, Math.max(2_000, Math.round(config.stepMs / 2)))), 100);
  for (let i = 0; i < config.maxSteps; i++) {
    const result = await step(sut, rate, 'search', config);
    steps.push(result);
    if (result.ok && (!lo || rate > lo.rate)) lo = result;
    if (!result.ok && (!hi || rate < hi.rate)) hi = result;
    if (lo && hi && hi.rate <= lo.rate * (1 + config.precision)) break;
    const next = !lo ? rate * 0.7 : !hi ? rate * 1.3 : (lo.rate + hi.rate) / 2;
    rate = round(next, 100);
    if ((lo && rate <= lo.rate) || (hi && rate >= hi.rate) || rate < 200) break;
  }
  const maxZeroLossRate = lo?.rate ?? 0;
  let latency: StepRecord | undefined;
  if (maxZeroLossRate > 0) {
    const reference = config.latencyRate !== undefined && config.latencyRate <= maxZeroLossRate ? config.latencyRate : maxZeroLossRate / 2;
    latency = await step(sut, round(reference, 100), 'latency', config);
    steps.push(latency);
  }
  return { maxZeroLossRate, atMax: lo, latency, firstFailure: hi, steps };
}

/** Acknowledged samples over publishing plus draining time: what the system stored per second end to end. */
function sustainedRate(step: StepRecord, durationMs: number): number {
  if (step.drainMs === null) return Math.min(step.storedRate, step.ackedRate);
  return Math.min(step.ackedRate, step.acked / ((durationMs + step.drainMs) / 1000));
}

/** Quick mode: one verified step at a modest rate, which is also the latency step. */
export async function quickCheck(sut: SystemUnderTest, rate: number, config: StepConfig, step: StepRunner = runStep): Promise<SearchResult> {
  const result = await step(sut, rate, 'quick', config);
  return { maxZeroLossRate: result.ok ? rate : 0, atMax: result.ok ? result : undefined, latency: result, firstFailure: result.ok ? undefined : result, steps: [result] };
}

/** For a ceiling (nothing to search): saturate, verify, and take what got through; then half of it for latency. */
export async function ceilingRun(sut: SystemUnderTest, config: SearchConfig, step: StepRunner = runStep): Promise<SearchResult> {
  const steps: StepRecord[] = [];
  steps.push(await step(sut, Math.min(2_000, config.saturationRate), 'warm-up', config, 2_000));
  const saturation = await step(sut, config.saturationRate, 'saturation', config);
  steps.push(saturation);
  const through = saturation.zeroLoss ? round(saturation.storedRate, 100) : 0;
  let latency: StepRecord | undefined;
  if (through > 0) {
    latency = await step(sut, round(through / 2, 100), 'latency', config);
    steps.push(latency);
  }
  return { maxZeroLossRate: through, atMax: saturation, latency, firstFailure: undefined, steps };
}

export interface HeadToHead {
  /** the rate offered to every system in turn */
  rate: number;
  rounds: number;
  /** the confirm steps in the order they ran */
  steps: Array<{ system: string; step: StepRecord }>;
  /** confirm steps passed, per system */
  passed: Record<string, number>;
}

/**
 * The same rate offered to several systems in turn, `rounds` times, each on fresh servers after a warm-up, the
 * order reversed every round: two maxima searched minutes apart differ by the machine's drift as much as by the
 * systems, and this asks the question directly (does B sustain A's max zero-loss rate?) under the same conditions.
 */
export async function headToHead(
  systems: ReadonlyArray<{ key: string; open: () => Promise<SystemUnderTest> }>,
  rate: number,
  rounds: number,
  config: StepConfig,
  step: StepRunner = runStep,
): Promise<HeadToHead> {
  const result: HeadToHead = { rate, rounds, steps: [], passed: Object.fromEntries(systems.map((s) => [s.key, 0])) };
  for (let round = 0; round < rounds; round++) {
    for (const system of round % 2 === 0 ? systems : [...systems].reverse()) {
      const sut = await system.open();
      try {
        await step(sut, Math.min(2_000, rate), 'warm-up', config, 2_000);
        const record = await step(sut, rate, 'confirm', config);
        result.steps.push({ system: system.key, step: record });
        if (record.ok) result.passed[system.key] = (result.passed[system.key] ?? 0) + 1;
      } finally {
        await sut.close();
      }
    }
  }
  return result;
}

/** The highest offered rate stored without loss whatever the drain time (the publishers kept the rate). */
export function lossFreeStep(steps: readonly StepRecord[]): StepRecord | undefined {
  return steps
    .filter((s) => (s.kind === 'search' || s.kind === 'latency' || s.kind === 'quick') && s.zeroLoss === true && s.behind <= 0.02 * s.published)
    .sort((a, b) => b.rate - a.rate)[0];
}

/** What was busiest at a failing (or saturated) step, from the numbers measured there. */
export function limitOf(step: StepRecord | undefined, machineCores: number): string {
  if (!step) return 'not reached';
  const parts: string[] = [];
  if (step.machineCpuPercent !== null && step.machineCpuPercent >= 100 * machineCores * CORES_NOTE_THRESHOLD) parts.push(`machine CPU ${step.machineCpuPercent}% of ${100 * machineCores}%`);
  const busiest = [
    ['system', step.systemCpuPercent],
    ['publishers', step.publishersCpuPercent],
    ['mosquitto', step.mosquittoCpuPercent],
    ['influxd', step.influxdCpuPercent],
  ].filter((e): e is [string, number] => typeof e[1] === 'number').sort((a, b) => b[1] - a[1]);
  parts.push(busiest.map(([name, cpu]) => `${name} ${Math.round(cpu)}%`).join(', '));
  if (step.lost) parts.push(`${step.lost} lost`);
  else if (step.behind > 0.02 * step.published && step.drainMs !== null) parts.push('acks held back (publishers behind)');
  else if (step.drainMs === null) parts.push('backlog did not drain');
  else if (!step.keptUp) parts.push(`backlog drained in ${(step.drainMs / 1000).toFixed(1)} s (over the bound)`);
  return parts.filter(Boolean).join('; ');
}
