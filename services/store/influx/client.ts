// The bottom of the InfluxDB backend: every request the adapters make (telemetry.ts, dead-letters.ts,
// cockpit-tables.ts, retention.ts) goes through this client. It speaks only InfluxDB's v1 HTTP surface (line
// protocol on POST /write, InfluxQL on POST /query), which InfluxDB 1.x serves natively and 2.x/3.x as
// compatibility APIs, through @influxdata/influxdb-client's transport so that every request is awaited: WriteApi's
// buffering acknowledges before the server does and drops lines when full.
import http from 'node:http';
import https from 'node:https';
import { InfluxDB, type Transport } from '@influxdata/influxdb-client';
import type { WriteObserver } from '../cockpit-tables.ts';
import { StoreAccessError, StoreRejectedError, StoreUnavailableError, type StoreLogger } from '../telemetry-store.ts';
import { identifier } from './lines.ts';

/** The client's settings (VC_INFLUX_* in services/config.ts). */
export interface InfluxClientOptions {
  /** base URL, e.g. http://127.0.0.1:8086 */
  url: string;
  database: string;
  /** sent as `Authorization: Token <token>` (InfluxDB 1.8+, 2.x and 3.x v1 compatibility) */
  token?: string;
  /** InfluxDB 1.x user, sent with `password` as HTTP basic auth; ignored when a token is given */
  username?: string;
  password?: string;
  logger?: StoreLogger;
  /** socket timeout of one request (VC_INFLUX_TIMEOUT_MS) */
  timeoutMs?: number;
  /** lines per /write request (VC_INFLUX_WRITE_CHUNK_LINES) */
  writeChunkLines?: number;
  /** /write bodies above this many bytes are gzipped (VC_INFLUX_GZIP_BYTES; Infinity: never); default: see gzipThreshold */
  gzipBytes?: number;
}

/** Lines per /write request: large enough to amortise the round-trip, far below influxd's 25 MB body limit. */
export const DEFAULT_WRITE_CHUNK_LINES = 5000;
/** Bodies above this are gzipped, which influxd accepts on /write (by default not for a server on this machine). */
export const DEFAULT_GZIP_BYTES = 64 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Statements per request of queryInRequests: bounded so one large read does not build a huge query. */
const STATEMENTS_PER_REQUEST = 40;
/** influxd's chunk size: a non-chunked answer flags every series longer than this partial */
const INFLUX_CHUNK_ROWS = 10_000;

export type Row = readonly unknown[];
export interface Series {
  name?: string;
  tags?: Record<string, string>;
  columns?: string[];
  values?: Row[];
  /**
   * set by influxd 1.2+ on any series of more than 10,000 rows in a non-chunked answer, although every row is there
   * (influxdata/influxdb#8014), and on the series an answer was cut in at the server's `[http] max-row-limit`; checked
   * on 1.6.7, whose default limit is 0 (none)
   */
  partial?: boolean;
}
export interface StatementResult {
  statement_id?: number;
  series?: Series[];
  error?: string;
  /** set when influxd cut the answer at its max-row-limit */
  partial?: boolean;
}

/** Every row of every series of a statement's result. */
export function rowsOf(result: StatementResult | undefined): Row[] {
  return (result?.series ?? []).flatMap((series) => series.values ?? []);
}

/** Where a write goes and what it is about (for the write metrics). */
export interface WriteTarget {
  precision: 'ms' | 'ns';
  /** the table the rows count for in vc_store_rows_written_total */
  table: string;
  /** a retention policy; undefined: the database's default one */
  retentionPolicy?: string;
  /**
   * chunks sent at once (default 1: one after the other). Telemetry lines do not depend on each other's order, and
   * influxd takes two concurrent writes on two cores: a day of history for 1,000 vehicles (2.88 M lines in 5,000-line
   * chunks) was stored in 17.0 s two at a time against 26.5 s one by one, for the same CPU (29.6 / 29.4 s of influxd).
   */
  concurrency?: number;
}

/** How long a connection to influxd stays open unused. */
const IDLE_CONNECTION_MS = 30_000;

export class InfluxClient {
  readonly database: string;
  /** told the rows and bytes of every write chunk (the store's writeObserver) */
  observe?: WriteObserver;
  private readonly transport: Transport;
  private readonly agent: http.Agent;
  private readonly logger: StoreLogger | undefined;
  private readonly gzipThreshold: number;
  private readonly writeChunkLines: number;
  /** how the client authenticates, for the message of a refusal; undefined: it does not */
  private readonly credentials: string | undefined;
  private closed = false;

  constructor(options: InfluxClientOptions) {
    this.database = options.database;
    this.logger = options.logger;
    this.writeChunkLines = options.writeChunkLines ?? DEFAULT_WRITE_CHUNK_LINES;
    if (!Number.isSafeInteger(this.writeChunkLines) || this.writeChunkLines < 1) throw new RangeError(`writeChunkLines must be a positive integer, got ${this.writeChunkLines}`);
    const parsed = new URL(options.url);
    this.gzipThreshold = gzipThreshold(parsed.hostname, options.gzipBytes);
    // Connections are kept for the next request, and closed once idle for IDLE_CONNECTION_MS: influxd never closes an
    // idle one, so a burst of concurrent queries would otherwise hold its sockets for good (the soak saw 6 fds more
    // than idle after the load). The agent's timeout closes free sockets only; a slow request keeps its own.
    const agentOptions = { keepAlive: true, timeout: IDLE_CONNECTION_MS };
    this.agent = parsed.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    const headers: Record<string, string> = {};
    this.credentials = options.token ? 'the token' : options.username ? `user "${options.username}"` : undefined;
    if (!options.token && options.username) {
      const credentials = `${options.username}:${options.password ?? ''}`;
      headers.Authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    this.transport = new InfluxDB({
      url: options.url,
      token: options.token,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      headers,
      transportOptions: { agent: this.agent },
    }).transport;
  }

  /** Sends lines in chunks and resolves only when influxd answered 2xx to every chunk. */
  async write(lines: readonly string[], target: WriteTarget): Promise<void> {
    const { precision, table, retentionPolicy } = target;
    const params = new URLSearchParams({ db: this.database, precision, ...(retentionPolicy === undefined ? {} : { rp: retentionPolicy }) }).toString();
    let next = 0;
    const send = async (): Promise<void> => {
      while (next < lines.length) {
        const chunk = lines.slice(next, (next += this.writeChunkLines));
        const body = chunk.join('\n');
        await this.request(`/write?${params}`, body, 'POST', 'text/plain; charset=utf-8', 'write');
        this.observe?.(table, chunk.length, Buffer.byteLength(body));
      }
    };
    const senders = Math.max(1, Math.min(target.concurrency ?? 1, Math.ceil(lines.length / this.writeChunkLines)));
    // every sender ends (a failed chunk stops the others after their current one) before the first failure is thrown
    const results = await Promise.allSettled(Array.from({ length: senders }, () => send().catch((err: unknown) => {
      next = lines.length;
      throw err;
    })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Runs InfluxQL statements in one request; throws on the first statement that failed. */
  async query(statements: readonly string[]): Promise<StatementResult[]> {
    const params = new URLSearchParams({ db: this.database, epoch: 'ms' }).toString();
    const body = new URLSearchParams({ q: statements.join(';\n') }).toString();
    const answer = (await this.request(`/query?${params}`, body, 'POST', 'application/x-www-form-urlencoded', 'query')) as
      | { results?: StatementResult[]; error?: string }
      | undefined;
    if (answer?.error) throw new Error(`influx query failed: ${answer.error}`);
    const results = answer?.results ?? [];
    for (const result of results) {
      const statement = (): string => (statements[result.statement_id ?? 0] ?? '').slice(0, 200);
      if (result.error) throw new Error(`influx query failed: ${result.error} (in: ${statement()})`);
      // an answer cut at the server's [http] max-row-limit would be taken for the whole: a rollup derived from it, a
      // recount, a raw cockpit would be wrong without a word. A partial series of fewer than 10,000 rows can only be
      // that (a limit of 10,000 or more cannot be told from influxd's flag on long series: docs/operations.md)
      if (result.partial || (result.series?.some((series) => series.partial) && rowsOf(result).length < INFLUX_CHUNK_ROWS)) {
        throw new Error(`influx cut a query answer at its [http] max-row-limit; set it to 0 (in: ${statement()})`);
      }
    }
    return results;
  }

  /**
   * Runs many statements, `perRequest` to a request (whole groups when the caller reads them in groups), in `lanes`
   * concurrent requests; the results in statement order.
   */
  async queryInRequests(statements: readonly string[], options: { perRequest?: number; lanes?: number } = {}): Promise<StatementResult[]> {
    const perRequest = options.perRequest ?? STATEMENTS_PER_REQUEST;
    const requests: number[] = [];
    for (let i = 0; i < statements.length; i += perRequest) requests.push(i);
    const results: StatementResult[][] = [];
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < requests.length) {
        const k = next++;
        results[k] = await this.query(statements.slice(requests[k]!, requests[k]! + perRequest));
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.lanes ?? 1, requests.length) }, lane));
    return results.flat();
  }

  /** Throws unless the server answers and the database exists (a /ping alone answers when writes would fail). */
  async ping(): Promise<void> {
    await this.request('/ping', '', 'GET', undefined, 'ping');
    await this.query([`SHOW RETENTION POLICIES ON ${identifier(this.database)}`]);
  }

  /** The database names the client's user may see. */
  async databases(): Promise<string[]> {
    const [result] = await this.query(['SHOW DATABASES']);
    return rowsOf(result).map((row) => String(row[0]));
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  private async request(path: string, body: string, method: string, contentType: string | undefined, what: string): Promise<unknown> {
    if (this.closed) throw new Error('influx store is closed');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (contentType !== undefined) headers['content-type'] = contentType;
    try {
      // influxd takes a gzipped /write body, but not a gzipped /query form (it answers: missing required parameter "q")
      return await sendOnce(this.transport, path, body, method, headers, what === 'write' ? this.gzipThreshold : undefined);
    } catch (err) {
      const message = `influx ${what} failed: ${(err instanceof Error ? err.message : String(err)).trim()}`;
      // 400 (bad line, field type conflict: influxd wrote the other points) and 413 will fail again as they are.
      const status = (err as { statusCode?: unknown }).statusCode;
      if (what === 'write' && (status === 400 || status === 413)) throw new StoreRejectedError(message, { cause: err });
      if (status === 401 && this.credentials === undefined) {
        throw new StoreAccessError(`InfluxDB asks for credentials and none are set (${message}): set VC_INFLUX_USERNAME and VC_INFLUX_PASSWORD (or VC_INFLUX_TOKEN)`, { cause: err });
      }
      if (status === 401) throw new StoreAccessError(`InfluxDB refused ${this.credentials} (${message}): check its password or token`, { cause: err });
      if (status === 403) throw new StoreAccessError(`InfluxDB denied ${this.credentials ?? 'a request without credentials'} a privilege (${message})`, { cause: err });
      // no answer (refused, reset, timed out) or a server error: it may answer later
      if (typeof status !== 'number' || status >= 500) throw new StoreUnavailableError(message, { cause: err });
      throw new Error(message, { cause: err });
    }
  }
}

/**
 * One request through the transport, its answer parsed as JSON (none for 204 or an empty body). The transport's own
 * request() appends every chunk of the answer to a new copy of all the chunks before it, which is quadratic in the
 * answer's size: while a day of history was stored and the fleet cockpit (its facts answers) was asked every 2 s, it
 * took 59% of the service's main thread. Here the chunks are kept and joined once.
 */
function sendOnce(transport: Transport, path: string, body: string, method: string, headers: Record<string, string>, gzip: number | undefined): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let status = 0;
    transport.send(path, body, { method, headers, gzipThreshold: gzip }, {
      responseStarted: (_headers, statusCode) => {
        status = statusCode ?? 0;
      },
      next: (chunk) => {
        chunks.push(chunk);
      },
      error: reject,
      complete: () => {
        if (status === 204) return resolve(undefined);
        try {
          const answer = Buffer.concat(chunks);
          resolve(answer.length > 0 ? JSON.parse(answer.toString('utf8')) : undefined);
        } catch (err) {
          reject(err);
        }
      },
    });
  });
}

/** The gzip threshold for a server: as set, else 64 KiB, but never for a server on this machine (CPU twice to save no network). */
export function gzipThreshold(hostname: string, gzipBytes: number | undefined): number {
  if (gzipBytes !== undefined) return gzipBytes;
  return isLoopback(hostname) ? Number.POSITIVE_INFINITY : DEFAULT_GZIP_BYTES;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
