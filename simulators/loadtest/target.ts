// The system a load test drives, seen from outside: how to register vehicles, how much it has accepted and
// stored, whether one sample is queryable yet, and what it stored per vehicle. `serviceTarget` is a running
// vehicle-cloud over its HTTP API; the benchmark plugs in other systems (a bare subscriber, a naive bridge).
import pLimit from 'p-limit';
import { createApiClient } from '../../services/api/client/client.ts';
import { redactUrl } from '../../services/observability/redact.ts';
import { metricTotals, parsePrometheusSamples, processesUsage, type PrometheusSample } from './observe.ts';
import { storeWritesOf, type StoreWrites } from './store-writes.ts';

export interface TargetSample {
  /** samples the system accepted (acknowledged) so far, when it counts them */
  accepted?: number;
  /** samples stored (queryable) so far */
  stored: number;
  /** unstored backlog in bytes, when the system has one it can report */
  backlogBytes?: number;
  cpuSeconds?: number;
  rssBytes?: number;
  /** rows and bytes written per store table, when the system reports them */
  writes?: StoreWrites;
}

export interface TargetDescription {
  broker: 'embedded' | 'external' | 'unknown';
  store?: string;
}

export interface LoadVehicle {
  vin: string;
  brand: string;
  model: string;
}

export interface LoadTarget {
  readonly label: string;
  describe(): Promise<TargetDescription>;
  /**
   * Make the vehicles known; with `needPasswords`, answer each one's MQTT password (new registrations only).
   * `onProgress` gets the number of vehicles done so far.
   */
  prepare(vehicles: readonly LoadVehicle[], needPasswords: boolean, onProgress?: (done: number) => void): Promise<Map<string, string>>;

  sample(): Promise<TargetSample>;
  /** Called once publishing ended, before waiting for the backlog (a system that buffers can flush here). */
  settle?(): Promise<void>;
  /** Is the sample (vin, ts) queryable? */
  queryable(vin: string, ts: number): Promise<boolean>;
  /**
   * Hand every sample stored with ts in [from, to) to `record` (in any order, repeats included; samples of vehicles
   * other than `vins` may come too). `onProgress` gets the number of samples read so far.
   */
  readBack(vins: readonly string[], from: number, to: number, record: (vin: string, seq: number) => void, onProgress?: (samples: number) => void): Promise<void>;
}

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

export interface ServiceTargetOptions {
  api: string;
  token: string;
  /** /metrics endpoints to sum (several ingest workers); default the API's own */
  metricsUrls?: readonly string[];
  metricsToken?: string;
  /** read CPU and RSS of these PIDs from /proc instead of process_* in /metrics */
  servicePids?: readonly number[];
  /** concurrent API requests while registering and reading back */
  concurrency?: number;
  requestTimeoutMs?: number;
}

/**
 * Vehicles per registration request (the API takes up to 1,000). Every request must be answered within fetch's
 * 300 s wait for response headers: on a service administering Mosquitto's accounts (VC_MQTT_DYNSEC), Mosquitto 2.0
 * took about 0.2 s an account once it held 6,000 (storm of 10,000 vehicles, 2026-12-05), so two requests of 1,000
 * in flight were cut off by fetch near 9,000 accounts. Two of 250, whose broker messages the service sends one after
 * the other, wait about 100 s there (500 accounts at 0.2 s; an estimate, not a measurement).
 */
const REGISTRATION_BATCH = 250;
const REGISTRATION_TIMEOUT_MS = 15 * 60_000;
/** Samples asked for per read-back request; a window holding more is read again in halves. */
const READ_BACK_PAGE = 50_000;
/** Read-back windows start this wide: about READ_BACK_PAGE / 2 samples at 25k samples/s. */
const READ_BACK_SLICE_MS = 1_000;

const STORED = 'vc_store_samples_written_total';
/** A /metrics answer without the store writer's counters is read again this many times before failing. */
const INCOMPLETE_METRICS_RETRIES = 5;

/**
 * A vehicle-cloud's /metrics as samples. Its store writer runs in another thread whose counters are left out of an
 * answer when the thread is too busy to report in time; such an answer would read as counters reset to zero, so it
 * is asked again.
 */
export async function readServiceMetrics(url: string, options: { token?: string; timeoutMs?: number } = {}): Promise<PrometheusSample[]> {
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(url, { headers: options.token ? { authorization: `Bearer ${options.token}` } : {}, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
    } catch (err) {
      throw new TargetError(`GET ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!response.ok) throw new TargetError(`GET ${redactUrl(url)}: HTTP ${response.status}${response.status === 401 ? ' (set VC_METRICS_TOKEN)' : ''}`);
    const samples = parsePrometheusSamples(await response.text());
    if (samples.some((s) => s.name === STORED)) return samples;
    if (attempt >= INCOMPLETE_METRICS_RETRIES) throw new TargetError(`GET ${redactUrl(url)}: no ${STORED} in ${attempt + 1} answers (the store writer did not report)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function serviceTarget(options: ServiceTargetOptions): LoadTarget {
  const api = options.api.replace(/\/$/, '');
  const metricsUrls = options.metricsUrls?.length ? options.metricsUrls : [`${api}/metrics`];
  const concurrency = options.concurrency ?? 16;
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const client = createApiClient({ baseUrl: api, token: options.token, timeoutMs });
  // A registration batch waits for the broker accounts too when the service administers Mosquitto (VC_MQTT_DYNSEC),
  // and Mosquitto's cost per account grows with the accounts (docs/security.md#mosquitto): 1,000 of them can take
  // minutes on a broker that already has thousands.
  const registrar = createApiClient({ baseUrl: api, token: options.token, timeoutMs: Math.max(timeoutMs, REGISTRATION_TIMEOUT_MS) });

  /** Run one API call; a network failure or timeout becomes a TargetError naming the operation. */
  const call = async <T>(what: string, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (err) {
      // fetch says only "fetch failed"; what failed (a timeout, a refused or reset connection) is its cause
      const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
      throw new TargetError(`${what} at ${redactUrl(api)}: ${err instanceof Error ? err.message : String(err)}${cause}`);
    }
  };

  const failure = (what: string, r: { response: Response; error?: unknown }): TargetError => {
    const error = r.error as { code?: unknown } | undefined;
    const code = typeof error?.code === 'string' ? error.code : '';
    const status = r.response.status;
    const hint = status === 401 ? ' (is the admin token right? --token, VC_ADMIN_TOKEN or VC_DATA_DIR/admin-token)' : '';
    return new TargetError(`${what}: HTTP ${status}${code ? ` ${code}` : ''}${hint}`);
  };

  const telemetry = (vin: string, query: { from: number; to: number; limit: number; cursor?: string }) =>
    call(`GET /api/v1/vehicles/${vin}/telemetry`, () =>
      client.GET('/api/v1/vehicles/{vin}/telemetry', {
        params: { path: { vin }, query: { ...query, from: String(query.from), to: String(query.to), signals: 'Vehicle.Speed' } },
      }),
    );

  return {
    label: redactUrl(api),

    async describe() {
      const r = await call('GET /readyz', () => client.GET('/readyz'));
      const checks = (r.data ?? r.error)?.checks;
      const broker = checks?.broker?.detail === 'embedded' ? 'embedded' : checks?.broker ? 'external' : 'unknown';
      return { broker, store: checks?.store?.detail };
    },

    async prepare(vehicles, needPasswords, onProgress) {
      const passwords = new Map<string, string>();
      const taken: string[] = [];
      const batches: LoadVehicle[][] = [];
      for (let i = 0; i < vehicles.length; i += REGISTRATION_BATCH) batches.push(vehicles.slice(i, i + REGISTRATION_BATCH));
      let done = 0;
      // a database commits one batch at a time: two in flight keep it busy while an answer travels
      await pLimit(2).map(batches, async (batch) => {
        const body = { vehicles: batch.map((v) => ({ vin: v.vin, brand: v.brand, model: v.model, powertrain: 'bev' as const })) };
        const r = await call('POST /api/v1/vehicles/batch', () => registrar.POST('/api/v1/vehicles/batch', { body }));
        if (!r.data) throw failure(`registering ${batch.length} vehicles`, r);
        for (const registration of r.data.registered) passwords.set(registration.vin, registration.mqtt.password);
        taken.push(...r.data.existing);
        onProgress?.((done += batch.length));
      });
      if (needPasswords && taken.length > 0) {
        throw new TargetError(`${taken.length} of the run's VINs are already registered, so their MQTT passwords are unknown: use another --seed with --mqtt-auth vehicle`);
      }
      return passwords;
    },

    async sample() {
      const all = (await Promise.all(metricsUrls.map((url) => readServiceMetrics(url, { token: options.metricsToken, timeoutMs })))).flat();
      const totals = metricTotals(all);
      const usage = options.servicePids?.length ? await processesUsage(options.servicePids) : undefined;
      return {
        accepted: totals.get('vc_ingest_samples_accepted_total') ?? 0,
        stored: totals.get(STORED) ?? 0,
        backlogBytes: totals.get('vc_spool_pending_bytes'),
        cpuSeconds: usage?.cpuSeconds ?? totals.get('process_cpu_seconds_total'),
        rssBytes: usage?.rssBytes ?? totals.get('process_resident_memory_bytes'),
        writes: storeWritesOf(all),
      };
    },

    async queryable(vin, ts) {
      const r = await telemetry(vin, { from: ts, to: ts + 1, limit: 1 });
      if (!r.data) throw failure(`probing ${vin}`, r);
      return (r.data.samples?.length ?? 0) > 0;
    },

    async readBack(_vins, from, to, record, onProgress) {
      let read = 0;
      const readWindow = async (a: number, b: number): Promise<void> => {
        const r = await call('GET /api/v1/telemetry', () => client.GET('/api/v1/telemetry', { params: { query: { from: String(a), to: String(b), limit: READ_BACK_PAGE } } }));
        if (!r.data) throw failure(`reading back [${a}, ${b})`, r);
        if (r.data.truncated) {
          if (b - a <= 1) throw new TargetError(`more than ${READ_BACK_PAGE} samples stored in the one ms ${a}: cannot read them back`);
          const middle = a + Math.floor((b - a) / 2);
          await readWindow(a, middle);
          await readWindow(middle, b);
          return;
        }
        for (const s of r.data.samples) record(s.vin, s.seq);
        onProgress?.((read += r.data.samples.length));
      };
      const windows: Array<[number, number]> = [];
      for (let a = from; a < to; a += READ_BACK_SLICE_MS) windows.push([a, Math.min(to, a + READ_BACK_SLICE_MS)]);
      await pLimit(Math.max(1, Math.min(concurrency, 4))).map(windows, ([a, b]) => readWindow(a, b));
    },
  };
}
