// The system a load test drives, seen from outside: how to register vehicles, how much it has accepted and
// stored, whether one sample is queryable yet, and what it stored per vehicle. `serviceTarget` is a running
// vehicle-cloud over its HTTP API; the benchmark plugs in other systems (a bare subscriber, a naive bridge).
import { createApiClient } from '../../services/api/client/client.ts';
import { parsePrometheus, processesUsage } from './observe.ts';
import { redactUrl } from './options.ts';

export interface TargetSample {
  /** samples the system accepted (acknowledged) so far, when it counts them */
  accepted?: number;
  /** samples stored (queryable) so far */
  stored: number;
  /** unstored backlog in bytes, when the system has one it can report */
  backlogBytes?: number;
  cpuSeconds?: number;
  rssBytes?: number;
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
  /** Make the vehicles known; with `needPasswords`, answer each one's MQTT password (new registrations only). */
  prepare(vehicles: readonly LoadVehicle[], needPasswords: boolean): Promise<Map<string, string>>;
  sample(): Promise<TargetSample>;
  /** Called once publishing ended, before waiting for the backlog (a system that buffers can flush here). */
  settle?(): Promise<void>;
  /** Is the sample (vin, ts) queryable? */
  queryable(vin: string, ts: number): Promise<boolean>;
  /** Seqs stored per vehicle with ts in [from, to), in any order, repeats included. */
  readBack(vins: readonly string[], from: number, to: number, onProgress?: (done: number) => void): Promise<Map<string, number[]>>;
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

/** Page size of the read-back (the API's maximum). */
const READ_BACK_PAGE = 10_000;

/** Run `work` over `items` with at most `limit` at a time. */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  });
  await Promise.all(lanes);
}

export function serviceTarget(options: ServiceTargetOptions): LoadTarget {
  const api = options.api.replace(/\/$/, '');
  const metricsUrls = options.metricsUrls?.length ? options.metricsUrls : [`${api}/metrics`];
  const concurrency = options.concurrency ?? 16;
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const client = createApiClient({ baseUrl: api, token: options.token, timeoutMs });

  /** Run one API call; a network failure or timeout becomes a TargetError naming the operation. */
  const call = async <T>(what: string, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (err) {
      throw new TargetError(`${what} at ${redactUrl(api)}: ${err instanceof Error ? err.message : String(err)}`);
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

    async prepare(vehicles, needPasswords) {
      const passwords = new Map<string, string>();
      const taken: string[] = [];
      await forEachLimited(vehicles, concurrency, async (v) => {
        const r = await call('POST /api/v1/vehicles', () => client.POST('/api/v1/vehicles', { body: { vin: v.vin, brand: v.brand, model: v.model, powertrain: 'bev' } }));
        if (r.data) passwords.set(v.vin, r.data.mqtt.password);
        else if (r.response.status === 409) taken.push(v.vin);
        else throw failure(`registering ${v.vin}`, r);
      });
      if (needPasswords && taken.length > 0) {
        throw new TargetError(`${taken.length} of the run's VINs are already registered, so their MQTT passwords are unknown: use another --seed with --mqtt-auth vehicle`);
      }
      return passwords;
    },

    async sample() {
      const totals = new Map<string, number>();
      await Promise.all(
        metricsUrls.map(async (url) => {
          let response: Response;
          try {
            response = await fetch(url, { headers: options.metricsToken ? { authorization: `Bearer ${options.metricsToken}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
          } catch (err) {
            throw new TargetError(`GET ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`);
          }
          if (!response.ok) throw new TargetError(`GET ${redactUrl(url)}: HTTP ${response.status}${response.status === 401 ? ' (set VC_METRICS_TOKEN)' : ''}`);
          for (const [name, value] of parsePrometheus(await response.text())) totals.set(name, (totals.get(name) ?? 0) + value);
        }),
      );
      const usage = options.servicePids?.length ? await processesUsage(options.servicePids) : undefined;
      return {
        accepted: totals.get('vc_ingest_samples_accepted_total') ?? 0,
        stored: totals.get('vc_store_samples_written_total') ?? 0,
        backlogBytes: totals.get('vc_spool_pending_bytes'),
        cpuSeconds: usage?.cpuSeconds ?? totals.get('process_cpu_seconds_total'),
        rssBytes: usage?.rssBytes ?? totals.get('process_resident_memory_bytes'),
      };
    },

    async queryable(vin, ts) {
      const r = await telemetry(vin, { from: ts, to: ts + 1, limit: 1 });
      if (!r.data) throw failure(`probing ${vin}`, r);
      return (r.data.samples?.length ?? 0) > 0;
    },

    async readBack(vins, from, to, onProgress) {
      const out = new Map<string, number[]>();
      let done = 0;
      await forEachLimited(vins, Math.min(concurrency, 8), async (vin) => {
        const seqs: number[] = [];
        let cursor: string | null = null;
        do {
          const r = await telemetry(vin, { from, to, limit: READ_BACK_PAGE, ...(cursor ? { cursor } : {}) });
          if (!r.data) throw failure(`reading back ${vin}`, r);
          for (const s of r.data.samples ?? []) seqs.push(s.seq);
          cursor = r.data.nextCursor;
        } while (cursor);
        out.set(vin, seqs);
        onProgress?.(++done);
      });
      return out;
    },
  };
}
