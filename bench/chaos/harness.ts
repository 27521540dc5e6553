// What every chaos scenario is made of (bench/chaos/faults.ts, the storm and soak runners, tests): a deployment of
// real processes (the service, and Mosquitto + InfluxDB, optionally behind proxies), a fleet of QoS 1 publishers at
// a steady rate (per-vehicle seq, every PUBACK recorded), the verifier (acked vs stored per (vin, seq), through
// GET /api/v1/telemetry), the cockpit check (the model cockpit's numbers equal a recount from the raw samples read
// back through the API), the service's peak RSS by PID (/proc), and the recovery time after a fault.
import { readFileSync } from 'node:fs';
import type { CockpitKpis, CockpitPoint } from '../../services/cockpit/answer.ts';
import mqtt, { type MqttClient } from 'mqtt';
import { startInfluxd, type Influxd } from '../../tooling/influxd.ts';
import { startMosquitto, type MosquittoBroker } from '../../tooling/mosquitto.ts';
import { apiCall, spawnService, type ServiceProcess } from '../../tooling/service.ts';
import { freePort, tempDir, waitFor } from '../../tooling/system.ts';
import { startProxy, type ChaosProxy } from './proxy.ts';

export type DeploymentKind = 'embedded' | 'mosquitto+influx';

export const BRAND = 'Chaos';
export const MODEL = 'Probe';
export const ADMIN_TOKEN = 'chaos-admin-token-0123456789abcdef';
/** How long a graceful stop may take before the harness kills the service */
const GRACEFUL_STOP_WAIT_MS = 120_000;

const SIGNAL = {
  speed: 'Vehicle.Speed',
  odometer: 'Vehicle.TraveledDistance',
  soc: 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current',
  charging: 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging',
  adas: 'Vehicle.ADAS.ActiveAutonomyLevel',
  mil: 'Vehicle.OBD.Status.MILStatus',
} as const;

// ---------------------------------------------------------------------------------------------------------------
// HTTP

export interface ChaosApi {
  readonly url: string;
  get<T = unknown>(path: string, timeoutMs?: number): Promise<{ status: number; body: T }>;
  post<T = unknown>(path: string, body: unknown, timeoutMs?: number): Promise<{ status: number; body: T }>;
}

/** A client of the service's API with the admin token; every call has a timeout (a stalled store must not hang us). */
export function chaosApi(url: string, token = ADMIN_TOKEN): ChaosApi {
  return {
    url,
    get: (path, timeoutMs = 10_000) => apiCall(url, 'GET', path, { token, timeoutMs }),
    post: (path, body, timeoutMs = 10_000) => apiCall(url, 'POST', path, { body, token, timeoutMs }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Deployment

export interface DeploymentOptions {
  /** VC_SPOOL_MAX_BYTES: a small one makes push-back come soon */
  spoolMaxBytes?: number;
  /** put a proxy between the service and Mosquitto (mosquitto+influx only) */
  brokerProxy?: boolean;
  /** put a proxy between the service and InfluxDB (mosquitto+influx only) */
  storeProxy?: boolean;
  /** called with the data dir before the service first starts (e.g. to mount a small filesystem at its spool) */
  prepareDataDir?: (dir: string) => Promise<(() => Promise<void>) | void>;
  /** more VC_* variables */
  env?: Record<string, string>;
}

export interface Deployment {
  readonly kind: DeploymentKind;
  readonly env: Record<string, string>;
  readonly dataDir: string;
  /** the service now running (another one after a restart) */
  readonly service: ServiceProcess;
  readonly api: ChaosApi;
  /** where vehicles connect */
  readonly vehicleBrokerUrl: string;
  readonly influx?: Influxd;
  readonly mosquitto?: MosquittoBroker;
  readonly brokerProxy?: ChaosProxy;
  readonly storeProxy?: ChaosProxy;
  /** stop the service with `signal`; how long it took and how it ended */
  stopService(signal: NodeJS.Signals): Promise<{ exitMs: number; code: number | null; signal: NodeJS.Signals | null; output: string }>;
  /** start the service again on the same data dir and ports (resolves once it serves /healthz) */
  startService(): Promise<void>;
  /** /readyz answers 200 */
  ready(): Promise<boolean>;
  /** the service's metrics, parsed: `name{labels}` -> value */
  metrics(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/**
 * Start a deployment: `embedded` (the service with its embedded broker and store) or `mosquitto+influx` (Mosquitto with
 * persistence on and max_queued_messages set, as tooling/mosquitto.ts configures it, and InfluxDB). Settings shorten
 * the cockpit's flush times so a check does not wait 15 s, and lift the rate limit for the verifier's reads.
 */
export async function startDeployment(kind: DeploymentKind, options: DeploymentOptions = {}): Promise<Deployment> {
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const data = await tempDir('chaos');
    cleanups.push(data.remove);
    const undo = await options.prepareDataDir?.(data.path);
    if (undo) cleanups.push(undo);
    const env: Record<string, string> = {
      VC_HOST: '127.0.0.1',
      VC_HTTP_PORT: String(await freePort()),
      VC_DATA_DIR: data.path,
      VC_ADMIN_TOKEN: ADMIN_TOKEN,
      VC_LOG_LEVEL: 'info',
      VC_RATE_LIMIT: '0',
      VC_RATE_LIMIT_INGEST: '0',
      VC_ROLLUP_FLUSH_MS: '200',
      VC_ROLLUP_FACTS_FLUSH_MS: '1000',
      ...(options.spoolMaxBytes ? { VC_SPOOL_MAX_BYTES: String(options.spoolMaxBytes) } : {}),
    };
    let influx: Influxd | undefined;
    let mosquitto: MosquittoBroker | undefined;
    let brokerProxy: ChaosProxy | undefined;
    let storeProxy: ChaosProxy | undefined;
    let vehicleBrokerUrl: string;
    if (kind === 'embedded') {
      env.VC_MQTT_PORT = String(await freePort());
      vehicleBrokerUrl = `mqtt://127.0.0.1:${env.VC_MQTT_PORT}`;
    } else {
      influx = await startInfluxd();
      cleanups.push(influx.stop);
      mosquitto = await startMosquitto();
      cleanups.push(mosquitto.stop);
      vehicleBrokerUrl = mosquitto.url;
      env.VC_MQTT_URL = mosquitto.url;
      env.VC_INFLUX_URL = influx.url;
      env.VC_INFLUX_DB = 'vc_chaos';
      if (options.brokerProxy) {
        const proxy = await startProxy({ host: '127.0.0.1', port: mosquitto.port });
        brokerProxy = proxy;
        cleanups.push(() => proxy.close());
        env.VC_MQTT_URL = `mqtt://${proxy.address}`;
      }
      if (options.storeProxy) {
        const proxy = await startProxy({ host: '127.0.0.1', port: Number(new URL(influx.url).port) });
        storeProxy = proxy;
        cleanups.push(() => proxy.close());
        env.VC_INFLUX_URL = `http://${proxy.address}`;
      }
    }
    Object.assign(env, options.env ?? {});
    let service = await spawnService(env, { readyPath: '/readyz' });
    cleanups.push(() => service.stop('SIGKILL'));
    const api = chaosApi(service.apiUrl);
    return {
      kind,
      env,
      dataDir: data.path,
      get service() {
        return service;
      },
      api,
      vehicleBrokerUrl,
      influx,
      mosquitto,
      brokerProxy,
      storeProxy,
      async stopService(signal) {
        const started = Date.now();
        if (signal !== 'SIGKILL') {
          // a graceful stop gets as long as a loaded machine needs (spawnService's own grace is 20 s), SIGKILL after
          const exited = new Promise<void>((resolve) => (service.child.exitCode !== null || service.child.signalCode !== null ? resolve() : service.child.once('exit', () => resolve())));
          service.child.kill(signal);
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, GRACEFUL_STOP_WAIT_MS)))]);
          clearTimeout(timer);
        }
        const exitMs = Date.now() - started;
        await service.stop('SIGKILL');
        return { exitMs: signal === 'SIGKILL' ? Date.now() - started : exitMs, code: service.child.exitCode, signal: service.child.signalCode, output: service.output() };
      },
      async startService() {
        service = await spawnService(env);
      },
      async ready() {
        try {
          return (await api.get('/readyz', 5_000)).status === 200;
        } catch {
          return false;
        }
      },
      async metrics() {
        const r = await api.get<string>('/metrics', 5_000);
        return parseMetrics(typeof r.body === 'string' ? r.body : '');
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Prometheus text as `name{labels}` -> value (comments skipped). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Fleet

export interface FleetOptions {
  vehicles: number;
  /** samples a second per vehicle (steady: due samples wait in the vehicle while it cannot publish) */
  ratePerVehicle: number;
  /** QoS 1 messages a vehicle keeps unacknowledged at most */
  inFlight?: number;
  /** the vehicles' clocks minus the cloud's, per vehicle index (ms): ts of the samples */
  clockSkewMs?: (index: number) => number;
  /**
   * Store-and-forward vehicles (per index: undefined = live): each message is a batch of `size` samples whose ts is
   * `lateMs` in the past.
   */
  batch?: (index: number) => { size: number; lateMs: number } | undefined;
  /** VINs start with this (3 characters of ISO 3779) */
  prefix?: string;
}

export interface Vehicle {
  vin: string;
  index: number;
  client: MqttClient;
  /** seq of every sample whose PUBACK came */
  acked: Set<number>;
  /** the next seq to publish */
  next: number;
  /** PUBACKs awaited */
  open: number;
  /** ts of seq 0; seq n has ts t0 + n * period */
  t0: number;
  period: number;
  batch: { size: number; lateMs: number } | undefined;
}

export interface Fleet {
  readonly vehicles: readonly Vehicle[];
  /** acked samples so far */
  acked(): number;
  /** samples published (acked or not) */
  published(): number;
  /** resolves once every vehicle has at least `n` more acked samples than when called (or throws after `timeoutMs`) */
  ackedMore(n: number, timeoutMs: number): Promise<void>;
  /** stop publishing, wait (up to `settleMs`) for PUBACKs of what is in flight, then disconnect */
  stop(settleMs?: number): Promise<void>;
  /** the smallest and largest ts a sample may have had so far */
  tsRange(): { from: number; to: number };
}

/** Deterministic VINs of 17 ISO 3779 characters. */
export function chaosVin(prefix: string, n: number): string {
  const alphabet = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
  let s = '';
  for (let i = 0, x = n; i < 10; i++, x = Math.floor(x / alphabet.length)) s = alphabet[x % alphabet.length] + s;
  return `${prefix.slice(0, 3).padEnd(3, 'X')}CHAS${s}`;
}

/** The signals of one sample: integers only, so sums are exact whatever order they are added in. */
export function sampleSignals(index: number, seq: number): Record<string, number | boolean> {
  return {
    [SIGNAL.speed]: (seq * 7 + index) % 180,
    [SIGNAL.odometer]: 1_000 * (index + 1) + seq,
    [SIGNAL.soc]: 20 + ((seq + index) % 80),
    [SIGNAL.charging]: (seq + index) % 50 < 5,
    [SIGNAL.adas]: (seq + index) % 6,
    [SIGNAL.mil]: (seq + 3 * index) % 211 === 0,
  };
}

/** Register the fleet (brand Chaos, model Probe) and connect its vehicles; publishing starts at once. */
export async function startFleet(deployment: Deployment, options: FleetOptions): Promise<Fleet> {
  const prefix = options.prefix ?? 'CHX';
  const vins = Array.from({ length: options.vehicles }, (_, i) => chaosVin(prefix, i));
  const passwords = new Map<string, string>();
  for (let i = 0; i < vins.length; i += 500) {
    const r = await deployment.api.post<{ registered: Array<{ vin: string; mqtt: { password: string } }> }>('/api/v1/vehicles/batch', {
      vehicles: vins.slice(i, i + 500).map((vin) => ({ vin, brand: BRAND, model: MODEL, year: 2026, powertrain: 'bev' })),
    });
    if (r.status !== 200) throw new Error(`registration failed: ${r.status} ${JSON.stringify(r.body)}`);
    for (const v of r.body.registered) passwords.set(v.vin, v.mqtt.password);
  }
  const period = 1_000 / options.ratePerVehicle;
  const inFlight = options.inFlight ?? 20;
  const started = Date.now();
  const vehicles: Vehicle[] = await Promise.all(
    vins.map(async (vin, index) => {
      const client = mqtt.connect(deployment.vehicleBrokerUrl, {
        protocolVersion: 4,
        clientId: vin,
        // embedded broker: per-vehicle credentials; Mosquitto here runs without accounts (the secure one is tested apart)
        ...(deployment.kind === 'embedded' ? { username: vin, password: passwords.get(vin) } : {}),
        reconnectPeriod: 250,
        connectTimeout: 5_000,
      });
      // refused or cut while the broker or the service restarts: MQTT.js reconnects by itself
      client.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${vin} could not connect to ${deployment.vehicleBrokerUrl}`)), 30_000);
        client.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      const batch = options.batch?.(index);
      const t0 = started + (options.clockSkewMs?.(index) ?? 0) - (batch?.lateMs ?? 0);
      return { vin, index, client, acked: new Set<number>(), next: 0, open: 0, t0, period, batch };
    }),
  );

  let running = true;
  const publishDue = (v: Vehicle): void => {
    const due = Math.floor((Date.now() - started) / v.period);
    const size = v.batch?.size ?? 1;
    while (running && v.open < inFlight && v.next + size <= due + 1) {
      const first = v.next;
      v.next += size;
      v.open += 1;
      const samples = Array.from({ length: size }, (_, k) => ({ ts: Math.round(v.t0 + (first + k) * v.period), seq: first + k, signals: sampleSignals(v.index, first + k) }));
      const payload = v.batch ? { vin: v.vin, samples } : { vin: v.vin, ...samples[0] };
      v.client.publish(`vehicles/${v.vin}/telemetry`, JSON.stringify(payload), { qos: 1 }, (err) => {
        v.open -= 1;
        if (!err) for (let s = first; s < first + size; s++) v.acked.add(s);
      });
    }
  };
  const ticker = setInterval(() => vehicles.forEach(publishDue), Math.max(10, Math.min(100, period)));

  const acked = (): number => vehicles.reduce((n, v) => n + v.acked.size, 0);
  return {
    vehicles,
    acked,
    published: () => vehicles.reduce((n, v) => n + v.next, 0),
    async ackedMore(n, timeoutMs) {
      const from = vehicles.map((v) => v.acked.size);
      await waitFor(`every vehicle to get ${n} more PUBACKs`, async () => (vehicles.every((v, i) => v.acked.size >= from[i]! + n) ? true : undefined), timeoutMs, 100);
    },
    async stop(settleMs = 30_000) {
      running = false;
      clearInterval(ticker);
      await waitFor('PUBACKs of the messages in flight', async () => (vehicles.every((v) => v.open === 0) ? true : undefined), settleMs, 100).catch(() => undefined);
      await Promise.all(vehicles.map((v) => v.client.endAsync(true)));
    },
    tsRange() {
      const from = Math.min(...vehicles.map((v) => v.t0));
      const to = Math.max(...vehicles.map((v) => v.t0 + v.next * v.period)) + 1;
      return { from: Math.floor(from), to: Math.ceil(to) };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Verifier: acked vs stored, per (vin, seq)

export interface Verdict {
  acked: number;
  /** acked samples found in the store */
  stored: number;
  lost: number;
  duplicated: number;
  /** a few lost (vin, seq), for the notes */
  lostExamples: string[];
}

/** Every (vin, seq) stored in [from, to), through GET /api/v1/telemetry (windows halved while an answer is truncated). */
export async function storedRefs(api: ChaosApi, from: number, to: number): Promise<Array<{ vin: string; seq: number }>> {
  const r = await api.get<{ samples: Array<{ vin: string; seq: number }>; truncated: boolean }>(`/api/v1/telemetry?from=${from}&to=${to}&limit=100000`, 30_000);
  if (r.status !== 200) throw new Error(`GET /api/v1/telemetry: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  if (!r.body.truncated) return r.body.samples;
  const mid = Math.floor((from + to) / 2);
  return [...(await storedRefs(api, from, mid)), ...(await storedRefs(api, mid, to))];
}

/** Compare what the fleet was acked with what is stored; `upTo` (per vehicle) limits the acked samples looked at. */
export async function verify(api: ChaosApi, fleet: Fleet, ackedOf: (v: Vehicle) => Iterable<number> = (v) => v.acked): Promise<Verdict> {
  const { from, to } = fleet.tsRange();
  const refs = await storedRefs(api, from, to);
  const byVin = new Map<string, Map<number, number>>();
  for (const r of refs) {
    let seqs = byVin.get(r.vin);
    if (!seqs) byVin.set(r.vin, (seqs = new Map()));
    seqs.set(r.seq, (seqs.get(r.seq) ?? 0) + 1);
  }
  const verdict: Verdict = { acked: 0, stored: 0, lost: 0, duplicated: 0, lostExamples: [] };
  for (const v of fleet.vehicles) {
    const seqs = byVin.get(v.vin) ?? new Map<number, number>();
    for (const count of seqs.values()) if (count > 1) verdict.duplicated += 1;
    for (const seq of ackedOf(v)) {
      verdict.acked += 1;
      if (seqs.has(seq)) verdict.stored += 1;
      else {
        verdict.lost += 1;
        if (verdict.lostExamples.length < 5) verdict.lostExamples.push(`${v.vin}#${seq}`);
      }
    }
  }
  return verdict;
}

// ---------------------------------------------------------------------------------------------------------------
// Cockpit check: the model cockpit over the run's window against a recount from the raw samples

interface RawSample {
  ts: number;
  seq: number;
  signals: Record<string, number | boolean | string>;
}

/** The cockpit's KPIs but `vehicles` (registered ones: not something the samples can recount). */
type Kpis = Omit<CockpitKpis, 'vehicles'>;
type Bucket = CockpitPoint;

async function rawSamples(api: ChaosApi, vin: string, from: number, to: number): Promise<RawSample[]> {
  const out: RawSample[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: { samples: RawSample[]; nextCursor: string | null } } = await api.get(
      `/api/v1/vehicles/${vin}/telemetry?from=${from}&to=${to}&limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      30_000,
    );
    if (r.status !== 200) throw new Error(`raw samples of ${vin}: ${r.status}`);
    out.push(...r.body.samples);
    cursor = r.body.nextCursor;
  } while (cursor);
  return out;
}

const mean = (sum: number, n: number): number | null => (n === 0 ? null : sum / n);

/** The cockpit numbers counted from raw samples, as docs/api.md defines them. */
export function recount(samplesByVin: ReadonlyMap<string, readonly RawSample[]>, from: number, interval: number): { kpis: Kpis; series: Bucket[] } {
  const acc = () => ({ samples: 0, speed: 0, speedN: 0, soc: 0, socN: 0, adas2: 0, adasN: 0 });
  const total = acc();
  const buckets = new Map<number, ReturnType<typeof acc>>();
  let active = 0;
  let distance = 0;
  let charging = 0;
  let faults = 0;
  const add = (a: ReturnType<typeof acc>, s: RawSample): void => {
    a.samples += 1;
    const speed = s.signals[SIGNAL.speed];
    const soc = s.signals[SIGNAL.soc];
    const adas = s.signals[SIGNAL.adas];
    if (typeof speed === 'number') (a.speed += speed), (a.speedN += 1);
    if (typeof soc === 'number') (a.soc += soc), (a.socN += 1);
    if (typeof adas === 'number') (a.adasN += 1), (a.adas2 += adas >= 2 ? 1 : 0);
  };
  for (const samples of samplesByVin.values()) {
    if (samples.length === 0) continue;
    active += 1;
    let odoMin = Infinity;
    let odoMax = -Infinity;
    let charged = false;
    let fault = false;
    for (const s of samples) {
      add(total, s);
      const t = from + Math.floor((s.ts - from) / interval) * interval;
      let b = buckets.get(t);
      if (!b) buckets.set(t, (b = acc()));
      add(b, s);
      const odo = s.signals[SIGNAL.odometer];
      if (typeof odo === 'number') (odoMin = Math.min(odoMin, odo)), (odoMax = Math.max(odoMax, odo));
      if (s.signals[SIGNAL.charging] === true) charged = true;
      if (s.signals[SIGNAL.mil] === true) fault = true;
    }
    if (odoMax >= odoMin) distance += odoMax - odoMin;
    if (charged) charging += 1;
    if (fault) faults += 1;
  }
  const kpis: Kpis = {
    activeVehicles: active,
    samples: total.samples,
    avgSpeed: mean(total.speed, total.speedN),
    distanceKm: distance,
    avgSoc: mean(total.soc, total.socN),
    charging,
    adasShare: mean(total.adas2, total.adasN),
    faults,
  };
  const series = [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([t, b]) => ({ t, samples: b.samples, avgSpeed: mean(b.speed, b.speedN), avgSoc: mean(b.soc, b.socN), adasShare: mean(b.adas2, b.adasN) }));
  return { kpis, series };
}

/** Where the cockpit and the recount differ ([] when they are equal), number for number. */
export function cockpitDiffs(cockpit: { kpis: Record<string, unknown>; series: Array<Record<string, unknown>> }, expected: { kpis: Kpis; series: Bucket[] }): string[] {
  const diffs: string[] = [];
  const same = (a: unknown, b: unknown): boolean => a === b || (typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));
  for (const [key, want] of Object.entries(expected.kpis)) {
    if (!same(cockpit.kpis[key], want)) diffs.push(`kpis.${key}: cockpit ${String(cockpit.kpis[key])}, recount ${String(want)}`);
  }
  const got = new Map(cockpit.series.filter((b) => (b.samples as number) > 0).map((b) => [b.t as number, b]));
  for (const want of expected.series) {
    const have = got.get(want.t);
    got.delete(want.t);
    for (const key of ['samples', 'avgSpeed', 'avgSoc', 'adasShare'] as const) {
      if (!same(have?.[key] ?? (key === 'samples' ? 0 : null), want[key])) diffs.push(`series[t=${want.t}].${key}: cockpit ${String(have?.[key])}, recount ${String(want[key])}`);
    }
  }
  for (const t of got.keys()) diffs.push(`series[t=${t}]: in the cockpit only`);
  return diffs;
}

/**
 * The model cockpit (whole minutes, 1-minute buckets: answered from the cockpit tables) over the fleet's window,
 * against a recount from the raw samples read back through the API. Retried until equal or `timeoutMs` is over (the
 * cockpit lags the store by its flush times); the diffs of the last try when never equal.
 */
export async function checkCockpit(api: ChaosApi, fleet: Fleet, timeoutMs: number): Promise<{ exact: boolean; diffs: string[] }> {
  const range = fleet.tsRange();
  const from = Math.floor(range.from / 60_000) * 60_000;
  const to = Math.ceil(range.to / 60_000) * 60_000;
  let diffs: string[] = ['not compared'];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const raw = new Map<string, RawSample[]>();
      for (const v of fleet.vehicles) raw.set(v.vin, await rawSamples(api, v.vin, from, to));
      const r = await api.get<{ source: string; kpis: Record<string, unknown>; series: Array<Record<string, unknown>> }>(
        `/api/v1/brands/${BRAND}/models/${MODEL}/cockpit?from=${from}&to=${to}&interval=1m`,
        30_000,
      );
      if (r.status !== 200) throw new Error(`cockpit: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      diffs = cockpitDiffs(r.body, recount(raw, from, 60_000));
      if (r.body.source !== 'rollup') diffs.push(`answered from ${r.body.source}, not the cockpit tables`);
      if (diffs.length === 0) return { exact: true, diffs };
    } catch (err) {
      diffs = [String(err)];
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return { exact: false, diffs: diffs.slice(0, 5) };
}

// ---------------------------------------------------------------------------------------------------------------
// Memory and recovery

/** VmRSS of a process in MiB (/proc), or undefined when it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The peak RSS of whatever process `pid()` names now (it changes across restarts), sampled every `everyMs`. */
export function watchRss(pid: () => number, everyMs = 200): { peak(): number | null; stop(): void } {
  let peak: number | null = null;
  const sample = (): void => {
    const rss = rssMiB(pid());
    if (rss !== undefined && (peak === null || rss > peak)) peak = rss;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    peak: () => peak,
    stop: () => clearInterval(timer),
  };
}

/**
 * Recovery after a fault ended at `endedAt`: the time until the service answers /readyz 200, the fleet is acked again,
 * and every sample acked before the fault's end is stored. null when not within `timeoutMs`.
 */
export async function recovery(deployment: Deployment, fleet: Fleet, endedAt: number, timeoutMs: number): Promise<number | null> {
  const ackedAtEnd = new Map(fleet.vehicles.map((v) => [v.vin, new Set(v.acked)]));
  const ackedCount = fleet.acked();
  try {
    await waitFor(
      'recovery',
      async () => {
        if (fleet.acked() <= ackedCount) return undefined;
        if (!(await deployment.ready())) return undefined;
        const verdict = await verify(deployment.api, fleet, (v) => ackedAtEnd.get(v.vin)!);
        return verdict.lost === 0 ? true : undefined;
      },
      timeoutMs,
      250,
    );
    return Date.now() - endedAt;
  } catch {
    return null;
  }
}
