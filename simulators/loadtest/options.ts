// Load-test options: defaults, hard caps, validation, the offered-rate schedule (fixed or a stepped ramp), the
// loopback-only rule and the run's VINs. Nothing here does I/O.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { MAX_BATCH_SAMPLES, VIN_PATTERN } from '../../services/contract/telemetry.ts';
import { redactUrl } from '../../services/observability/redact.ts';
import { parseDuration as parseSharedDuration, parseRate as parseSharedRate, UnitError } from '../units.ts';

export type Qos = 0 | 1;
/** How publisher connections log in: the admin token (embedded broker), per-vehicle credentials, or anonymous. */
export type MqttAuth = 'auto' | 'admin' | 'vehicle' | 'none';

export type RateSchedule =
  | { kind: 'fixed'; rate: number }
  /** `from` to `to` samples/s in equal steps of `stepMs`, spread over the whole duration */
  | { kind: 'ramp'; from: number; to: number; stepMs: number };

/** Hard caps: a load test is bounded in size and time whatever the flags say. */
export const LIMITS = {
  vehicles: 100_000,
  // one per vehicle with --mqtt-auth vehicle: the reconnect storm runs 10,000 (bench/chaos/storm.ts)
  connections: 10_000,
  publishers: 8,
  /** samples per second offered */
  rate: 500_000,
  durationMs: 3_600_000,
  /** samples in one run */
  samples: 50_000_000,
  drainTimeoutMs: 600_000,
  /** ts must stay unique and near now: one vehicle sends at most this many samples per second */
  perVehicleRate: 1_000,
  inflight: 10_000,
  probesPerSecond: 100,
} as const;

export interface LoadTestOptions {
  /** vehicle-cloud API base URL (registration, read-back, /metrics) */
  api: string;
  /** MQTT broker URL the publishers connect to */
  broker: string;
  /** admin token; never printed */
  token: string;
  vehicles: number;
  /** MQTT connections the vehicles are multiplexed over (with mqttAuth 'vehicle': one per vehicle) */
  connections: number;
  /** publisher processes the connections are spread over (a 2-core machine needs 1-2) */
  publishers: number;
  schedule: RateSchedule;
  durationMs: number;
  qos: Qos;
  seed: number;
  /** samples per MQTT message (1: single-sample messages; more: store-and-forward batches) */
  batch: number;
  /** unacknowledged messages per connection; a full window makes the publisher fall behind the offered rate */
  inflight: number;
  mqttAuth: MqttAuth;
  brand: string;
  model: string;
  /** publish-to-queryable probes started per second (0: no latency measurement) */
  probesPerSecond: number;
  probePollMs: number;
  probeTimeoutMs: number;
  /** longest wait, after publishing, for the service to store everything acknowledged */
  drainTimeoutMs: number;
  /** "kept up": the backlog drained within this long after publishing stopped */
  keepUpMs: number;
  /** read every vehicle's samples back and compare with the acknowledged seqs */
  verify: boolean;
  /** Prometheus endpoints summed for accepted/stored/backlog/CPU/RSS (several ingest workers); default: api/metrics */
  metricsUrls: string[];
  /** service PIDs whose CPU and RSS are read from /proc instead of /metrics */
  servicePids: number[];
  /** register the vehicles (off when a caller already did) */
  register: boolean;
}

export const DEFAULTS = {
  vehicles: 100,
  connections: 10,
  rate: 1_000,
  durationS: 30,
  qos: 1 as Qos,
  seed: 1,
  batch: 1,
  inflight: 100,
  mqttAuth: 'auto' as MqttAuth,
  brand: 'Loadtest',
  model: 'Probe',
  probesPerSecond: 5,
  probePollMs: 25,
  probeTimeoutMs: 30_000,
  drainTimeoutS: 60,
} as const;

/** Options with defaults filled in; `api`, `broker` and `token` are required. */
export function loadTestOptions(input: Partial<LoadTestOptions> & Pick<LoadTestOptions, 'api' | 'broker' | 'token'>): LoadTestOptions {
  const vehicles = input.vehicles ?? DEFAULTS.vehicles;
  const connections = input.connections ?? Math.min(DEFAULTS.connections, vehicles);
  const durationMs = input.durationMs ?? DEFAULTS.durationS * 1000;
  return {
    api: input.api,
    broker: input.broker,
    token: input.token,
    vehicles,
    connections,
    publishers: input.publishers ?? defaultPublishers(input.schedule ?? { kind: 'fixed', rate: DEFAULTS.rate }, connections),
    schedule: { kind: 'fixed', rate: DEFAULTS.rate },
    durationMs,
    qos: DEFAULTS.qos,
    seed: DEFAULTS.seed,
    batch: DEFAULTS.batch,
    inflight: DEFAULTS.inflight,
    mqttAuth: DEFAULTS.mqttAuth,
    brand: DEFAULTS.brand,
    model: DEFAULTS.model,
    probesPerSecond: DEFAULTS.probesPerSecond,
    probePollMs: DEFAULTS.probePollMs,
    probeTimeoutMs: DEFAULTS.probeTimeoutMs,
    drainTimeoutMs: DEFAULTS.drainTimeoutS * 1000,
    keepUpMs: Math.max(3_000, Math.round(durationMs / 4)),
    verify: true,
    metricsUrls: [],
    servicePids: [],
    register: true,
    ...stripUndefined(input),
  } as LoadTestOptions;
}

/** One publisher process drives roughly 30k msgs/s on this class of machine; more only when the rate needs it. */
function defaultPublishers(schedule: RateSchedule, connections: number): number {
  return Math.max(1, Math.min(connections, peakRate(schedule) > 20_000 ? 2 : 1));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class LoadTestOptionsError extends Error {
  override readonly name = 'LoadTestOptionsError';
}

/** Every problem with the options, one line each (empty when they are fine). */
export function optionProblems(o: LoadTestOptions): string[] {
  const problems: string[] = [];
  const intIn = (name: string, value: number, min: number, max: number): void => {
    if (!Number.isInteger(value) || value < min || value > max) problems.push(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  };
  intIn('vehicles', o.vehicles, 1, LIMITS.vehicles);
  intIn('connections', o.connections, 1, LIMITS.connections);
  intIn('publishers', o.publishers, 1, LIMITS.publishers);
  intIn('duration (ms)', o.durationMs, 100, LIMITS.durationMs);
  intIn('batch', o.batch, 1, MAX_BATCH_SAMPLES);
  intIn('inflight', o.inflight, 1, LIMITS.inflight);
  intIn('drain timeout (ms)', o.drainTimeoutMs, 0, LIMITS.drainTimeoutMs);
  if (!Number.isInteger(o.seed) || o.seed < 0) problems.push(`seed must be a non-negative integer, got ${o.seed}`);
  if (o.qos !== 0 && o.qos !== 1) problems.push(`qos must be 0 or 1, got ${String(o.qos)}`);
  if (!Number.isFinite(o.probesPerSecond) || o.probesPerSecond < 0 || o.probesPerSecond > LIMITS.probesPerSecond) {
    problems.push(`probes per second must be in [0, ${LIMITS.probesPerSecond}], got ${o.probesPerSecond}`);
  }
  if (o.connections > o.vehicles) problems.push(`connections (${o.connections}) cannot exceed vehicles (${o.vehicles})`);
  if (o.publishers > o.connections) problems.push(`publishers (${o.publishers}) cannot exceed connections (${o.connections})`);
  if (o.mqttAuth === 'vehicle' && o.connections !== o.vehicles) problems.push(`--mqtt-auth vehicle needs one connection per vehicle (--connections ${o.vehicles})`);
  const rates = o.schedule.kind === 'fixed' ? [o.schedule.rate] : [o.schedule.from, o.schedule.to];
  for (const rate of rates) {
    if (!Number.isFinite(rate) || rate <= 0 || rate > LIMITS.rate) problems.push(`rate must be in (0, ${LIMITS.rate}] samples/s, got ${rate}`);
  }
  if (o.schedule.kind === 'ramp' && (!Number.isInteger(o.schedule.stepMs) || o.schedule.stepMs < 100 || o.schedule.stepMs > o.durationMs)) {
    problems.push(`ramp step must be between 100 ms and the duration, got ${o.schedule.stepMs} ms`);
  }
  const peak = peakRate(o.schedule);
  if (peak / o.vehicles > LIMITS.perVehicleRate) {
    problems.push(`${peak} samples/s over ${o.vehicles} vehicles is over ${LIMITS.perVehicleRate} samples/s per vehicle (ts would collide): use at least ${Math.ceil(peak / LIMITS.perVehicleRate)} vehicles`);
  }
  const total = samplesDue(o.schedule, o.durationMs, o.durationMs);
  if (total > LIMITS.samples) problems.push(`the run would offer ${Math.round(total)} samples, over the cap of ${LIMITS.samples}`);
  for (const [name, url] of [['api', o.api], ['broker', o.broker], ...o.metricsUrls.map((u) => ['metrics', u] as const)] as const) {
    const host = hostOf(url);
    if (host === undefined) problems.push(`${name} URL is not a URL: ${redactUrl(url)}`);
    else if (!isLoopbackHost(host)) problems.push(`${name} URL ${redactUrl(url)} is not on this machine: the load tester drives loopback services only`);
  }
  return problems;
}

export function assertValidOptions(o: LoadTestOptions): void {
  const problems = optionProblems(o);
  if (problems.length > 0) throw new LoadTestOptionsError(problems.join('\n'));
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

/** localhost, 127.0.0.0/8 or ::1 (names are not resolved: a name that is not `localhost` is refused). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

export function peakRate(schedule: RateSchedule): number {
  return schedule.kind === 'fixed' ? schedule.rate : Math.max(schedule.from, schedule.to);
}

/** Offered rate (samples/s) at `tMs` into the run. */
export function rateAt(schedule: RateSchedule, tMs: number, durationMs: number): number {
  if (schedule.kind === 'fixed') return schedule.rate;
  const steps = Math.max(1, Math.ceil(durationMs / schedule.stepMs));
  const step = Math.min(steps - 1, Math.max(0, Math.floor(tMs / schedule.stepMs)));
  return steps === 1 ? schedule.from : schedule.from + ((schedule.to - schedule.from) * step) / (steps - 1);
}

/** Samples offered from the start up to `tMs` (the integral of the schedule), capped at the duration. */
export function samplesDue(schedule: RateSchedule, tMs: number, durationMs: number): number {
  const t = Math.min(Math.max(0, tMs), durationMs);
  if (schedule.kind === 'fixed') return (schedule.rate * t) / 1000;
  let total = 0;
  for (let start = 0; start < t; start += schedule.stepMs) {
    total += (rateAt(schedule, start, durationMs) * (Math.min(t, start + schedule.stepMs) - start)) / 1000;
  }
  return total;
}

/** Read with the CLIs' shared units (../units.ts), refused as a LoadTestOptionsError. */
function shared<T>(parse: (text: string) => T, text: string): T {
  try {
    return parse(text);
  } catch (err) {
    throw err instanceof UnitError ? new LoadTestOptionsError(err.message) : err;
  }
}

/** `5000`, `5k`, `1.5k` -> samples per second in total, whole (the schedule offers whole samples per second). */
export const parseRate = (text: string): number => Math.round(shared(parseSharedRate, text));

/** `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds -> ms. */
export const parseDuration = (text: string): number => shared(parseSharedDuration, text);

/** `--ramp FROM:TO:STEP`, e.g. `1000:20000:5s`: equal steps of STEP from FROM to TO samples/s over the duration. */
export function parseRamp(text: string): RateSchedule {
  const parts = text.split(':');
  if (parts.length !== 3) throw new LoadTestOptionsError(`--ramp wants FROM:TO:STEP, e.g. 1000:20000:5s; got ${JSON.stringify(text)}`);
  return { kind: 'ramp', from: parseRate(parts[0]!), to: parseRate(parts[1]!), stepMs: parseDuration(parts[2]!) };
}

export function describeSchedule(schedule: RateSchedule): string {
  return schedule.kind === 'fixed' ? `${schedule.rate}/s` : `ramp ${schedule.from}->${schedule.to}/s every ${schedule.stepMs / 1000}s`;
}

const VIN_ALPHABET = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';

function base33(n: number, width: number): string {
  let s = '';
  let x = n;
  for (let i = 0; i < width; i++) {
    s = VIN_ALPHABET[x % VIN_ALPHABET.length] + s;
    x = Math.floor(x / VIN_ALPHABET.length);
  }
  return s;
}

/**
 * The run's VINs: `LT` + 5 characters from the seed + the vehicle index. A function of the seed, so a repeated
 * run reuses its vehicles instead of growing the registry; read-back covers only this run's time range.
 */
export function loadTestVins(seed: number, count: number): string[] {
  const digest = createHash('sha256').update(`vehicle-cloud-loadtest:${seed}`).digest();
  const tag = base33(digest.readUInt32BE(0) % VIN_ALPHABET.length ** 5, 5);
  const vins = Array.from({ length: count }, (_, i) => `LT${tag}${base33(i, 10)}`);
  for (const vin of vins) if (!VIN_PATTERN.test(vin)) throw new Error(`generated VIN ${vin} is not ISO 3779`);
  return vins;
}
