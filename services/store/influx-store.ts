// The InfluxDB adapter of the TelemetryStore port. It speaks only InfluxDB's v1 HTTP surface (line protocol on
// POST /write, InfluxQL on POST /query), which InfluxDB 1.x serves natively and 2.x/3.x as compatibility APIs.
// Lines are built with @influxdata/influxdb-client's escaping (telemetry lines from precomputed catalog keys, the
// rest with its Point) and sent through the client's transport so that every request is awaited: WriteApi's
// buffering acknowledges before the server does and drops lines when full.
import http from 'node:http';
import https from 'node:https';
import { InfluxDB, Point, escape, type Transport } from '@influxdata/influxdb-client';
import { circularMean, SIGNAL_CATALOG, SIGNALS, type SignalSpec, type SignalValue } from '../contract/signals.ts';
import { StoreRejectedError } from './telemetry-store.ts';
import type { RejectReason, TelemetrySample } from '../contract/telemetry.ts';
import { InfluxCockpitTables, inPolicy, type InfluxAccess } from './influx-cockpit.ts';
import { ensureRetention, policyWishes, RAW_POLICY, ROLLUPS_POLICY, type RetentionSettings } from './influx-retention.ts';
import type { CockpitTables, WriteObserver } from './cockpit-tables.ts';
import type {
  BucketQuery,
  DeadLetter,
  DeadLetterQuery,
  LatestSignals,
  SampleBucket,
  SampleQuery,
  SampleRef,
  SampleRefQuery,
  SignalAggregate,
  StoreLogger,
  StoredSample,
  TelemetryStore,
} from './telemetry-store.ts';


export interface InfluxStoreOptions {
  /** base URL, e.g. http://127.0.0.1:8086 */
  url: string;
  database: string;
  /** sent as `Authorization: Token <token>` (InfluxDB 1.8+, 2.x and 3.x v1 compatibility) */
  token?: string;
  /** InfluxDB 1.x user, sent with `password` as HTTP basic auth; ignored when a token is given */
  username?: string;
  password?: string;
  logger?: StoreLogger;
  /** socket timeout of one request */
  timeoutMs?: number;
  /** retention policies (influx-retention.ts): raw telemetry and dead letters in `vc_raw`, cockpit tables in `vc_rollups` */
  retention?: RetentionSettings;
}

export const TELEMETRY_MEASUREMENT = 'telemetry';
export const DEAD_LETTERS_MEASUREMENT = 'dead_letters';

/** Lines per /write request: large enough to amortise the round-trip, far below influxd's 25 MB body limit. */
const WRITE_CHUNK_LINES = 5000;
/** Bodies above this are gzipped, which influxd accepts on /write (not for a server on this machine, see gzipThreshold). */
const GZIP_THRESHOLD_BYTES = 64 * 1024;
const NANOS_PER_MS = 1_000_000;

const NUMERIC_SIGNALS = SIGNAL_CATALOG.filter((s) => s.type === 'number').map((s) => s.path);
const ALL_SIGNALS = SIGNAL_CATALOG.map((s) => s.path);

type Row = readonly unknown[];
interface Series {
  name?: string;
  columns: string[];
  values?: Row[];
  partial?: boolean;
}
interface StatementResult {
  statement_id?: number;
  series?: Series[];
  error?: string;
  /** set when influxd cut the answer at its max-row-limit */
  partial?: boolean;
}

export class InfluxStore implements TelemetryStore {
  readonly kind = 'influx' as const;
  private readonly database: string;
  private readonly transport: Transport;
  private readonly agent: http.Agent;
  private readonly logger: StoreLogger | undefined;
  private readonly gzipThreshold: number;
  private readonly retention: RetentionSettings;
  /** where raw telemetry and dead letters go: `vc_raw`, or the database's default policy when no raw retention is set */
  private readonly rawPolicy: string | undefined;
  /** `telemetry,brand=…,model=…,vin=…` per vehicle, escaped once */
  private readonly linePrefixes = new Map<string, { brand: string; model: string; prefix: string }>();
  private closed = false;
  readonly cockpit: CockpitTables;
  writeObserver?: WriteObserver;
  /**
   * Dead letters are written in ns precision at receivedAt + this counter's nanoseconds, so that two letters of
   * one reason in the same ms do not overwrite each other; it starts at random so that processes rarely collide.
   */
  private deadLetterCounter = Math.floor(Math.random() * NANOS_PER_MS);

  constructor(options: InfluxStoreOptions) {
    this.database = options.database;
    this.logger = options.logger;
    this.retention = options.retention ?? {};
    // a bad setting fails here, not at init or at the first write
    policyWishes(this.retention);
    this.rawPolicy = this.retention.raw === undefined ? undefined : RAW_POLICY;
    this.cockpit = new InfluxCockpitTables(this.access(), ROLLUPS_POLICY, this.rawPolicy);
    const parsed = new URL(options.url);
    const secure = parsed.protocol === 'https:';
    // compressing for a server on this machine spends CPU twice to save no network
    this.gzipThreshold = isLoopback(parsed.hostname) ? Number.POSITIVE_INFINITY : GZIP_THRESHOLD_BYTES;
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    const headers: Record<string, string> = {};
    if (!options.token && options.username) {
      const credentials = `${options.username}:${options.password ?? ''}`;
      headers.Authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    this.transport = new InfluxDB({
      url: options.url,
      token: options.token,
      timeout: options.timeoutMs ?? 30_000,
      headers,
      transportOptions: { agent: this.agent },
    }).transport;
  }

  async init(): Promise<void> {
    await this.query([`CREATE DATABASE ${identifier(this.database)}`]);
    await ensureRetention({ query: (statements) => this.query(statements), identifier }, this.database, this.retention, this.logger);
    this.logger?.info({ database: this.database }, 'influx database ready');
  }

  async writeSamples(samples: readonly StoredSample[]): Promise<void> {
    const lines: string[] = [];
    const skipped = { values: 0 };
    for (const sample of samples) lines.push(telemetryLine(this.linePrefix(sample), sample, skipped));
    // Validation upstream makes this a bug, not bad data: log it, but never let one value wedge the writer's retries.
    if (skipped.values > 0) this.logger?.warn({ values: skipped.values }, 'signal values outside the catalog or of the wrong type were not stored');
    await this.write(lines, 'ms', 'telemetry', this.rawPolicy);
  }

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    const lines = letters.map((letter) => {
      const point = new Point(DEAD_LETTERS_MEASUREMENT)
        .tag('reason', tagValue(letter.reason))
        .stringField('detail', letter.detail)
        .stringField('topic', letter.topic)
        .stringField('raw', letter.raw)
        .timestamp(this.uniqueNanos(letter.receivedAt));
      if (letter.vin !== undefined) point.stringField('vin', letter.vin);
      return lineOf(point);
    });
    await this.write(lines, 'ns', 'dead_letters', this.rawPolicy);
  }

  async querySamples(query: SampleQuery): Promise<TelemetrySample[]> {
    const paths = signalPaths(query.signals, ALL_SIGNALS, 'querySamples');
    const { from, to } = timeRange(query.from, query.to);
    const limit = rowLimit(query.limit);
    if (limit === 0 || from >= to) return [];
    // Asked for some signals, only samples carrying one of them; `f = f` is InfluxQL's "field present" for any type.
    const carriesOne = query.signals?.length ? ` AND (${paths.map((p) => `${identifier(p)} = ${identifier(p)}`).join(' OR ')})` : '';
    const [result] = await this.query([
      `SELECT ${['seq', ...paths].map(identifier).join(', ')} FROM ${this.raw(TELEMETRY_MEASUREMENT)}` +
        ` WHERE ${vinIs(query.vin)} AND time >= ${from}ms AND time < ${to}ms${carriesOne} ORDER BY time ASC LIMIT ${limit}`,
    ]);
    return rowsOf(result).map((row) => {
      const signals: Record<string, SignalValue> = {};
      paths.forEach((path, i) => {
        const value = signalValue(path, row[i + 2]);
        if (value !== undefined) signals[path] = value;
      });
      return { ts: Number(row[0]), seq: Number(row[1]), signals };
    });
  }

  async sampleRefs(query: SampleRefQuery): Promise<SampleRef[]> {
    const { from, to } = timeRange(query.from, query.to);
    const limit = rowLimit(query.limit);
    if (limit === 0 || from >= to || query.brands?.length === 0) return [];
    const brands = query.brands ? ` AND (${query.brands.map((b) => `"brand" = ${literal(tagValue(b))}`).join(' OR ')})` : '';
    const [result] = await this.query([
      `SELECT "seq", "vin" FROM ${identifier(TELEMETRY_MEASUREMENT)} WHERE time >= ${from}ms AND time < ${to}ms${brands} ORDER BY time ASC LIMIT ${limit}`,
    ]);
    const refs = rowsOf(result).map((row) => ({ vin: String(row[2]), ts: Number(row[0]), seq: Number(row[1]) }));
    // influxd merges series by time only: samples of one ms come in no fixed order
    return refs.sort((a, b) => a.ts - b.ts || (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : 0));
  }

  async queryBuckets(query: BucketQuery): Promise<SampleBucket[]> {
    const paths = signalPaths(query.signals, NUMERIC_SIGNALS, 'queryBuckets');
    const { from, to } = timeRange(query.from, query.to);
    const interval = checkedInteger('intervalMs', query.intervalMs);
    if (interval <= 0) throw new RangeError(`intervalMs must be positive, got ${interval}`);
    if (from >= to) return [];
    // InfluxQL aligns buckets to the epoch plus an offset taken modulo the interval: this makes `from` a bucket start.
    const offset = ((from % interval) + interval) % interval;
    const window = `${vinIs(query.vin)} AND time >= ${from}ms AND time < ${to}ms`;
    const groupBy = ` GROUP BY time(${interval}ms, ${offset}ms) fill(none)`;
    const aggregates = paths.flatMap((path, i) => [
      `mean(${identifier(path)}) AS "avg_${i}"`,
      `min(${identifier(path)}) AS "min_${i}"`,
      `max(${identifier(path)}) AS "max_${i}"`,
    ]);
    // An angle's mean is circular (see circularMean), from sums of sines and cosines. InfluxQL has no aggregate of a
    // transformation, so they are summed over a subquery of the raw points.
    const angles = paths.filter((path) => SIGNALS.get(path)?.circular);
    const radians = (path: string) => `${identifier(path)} * ${Math.PI / 180}`;
    const angleSums =
      `SELECT ${angles.flatMap((_, i) => [`sum("sin_${i}")`, `sum("cos_${i}")`]).join(', ')}` +
      ` FROM (SELECT ${angles.flatMap((path, i) => [`sin(${radians(path)}) AS "sin_${i}"`, `cos(${radians(path)}) AS "cos_${i}"`]).join(', ')}` +
      ` FROM ${this.raw(TELEMETRY_MEASUREMENT)} WHERE ${window}) WHERE time >= ${from}ms AND time < ${to}ms${groupBy}`;
    const [result, angleResult] = await this.query([
      `SELECT ${['count("seq") AS "samples"', ...aggregates].join(', ')} FROM ${this.raw(TELEMETRY_MEASUREMENT)} WHERE ${window}${groupBy}`,
      ...(angles.length > 0 ? [angleSums] : []),
    ]);
    const sums = new Map(rowsOf(angleResult).map((row) => [Number(row[0]), row]));
    const buckets: SampleBucket[] = [];
    for (const row of rowsOf(result)) {
      const samples = Number(row[1] ?? 0);
      if (samples === 0) continue;
      const signals: Record<string, SignalAggregate> = {};
      paths.forEach((path, i) => {
        const [mean, min, max] = [row[2 + 3 * i], row[3 + 3 * i], row[4 + 3 * i]];
        if (typeof mean !== 'number' || typeof min !== 'number' || typeof max !== 'number') return;
        const angle = angles.indexOf(path);
        const sum = sums.get(Number(row[0]));
        const avg = angle < 0 ? mean : circularMean(SIGNALS.get(path)!, Number(sum?.[1 + 2 * angle]), Number(sum?.[2 + 2 * angle]));
        signals[path] = { avg, min, max };
      });
      buckets.push({ t: Number(row[0]), samples, signals });
    }
    return buckets;
  }

  async latest(vin: string): Promise<LatestSignals | undefined> {
    // One statement per field: last() of several fields in one statement would not report each one's time.
    const from = `FROM ${this.raw(TELEMETRY_MEASUREMENT)} WHERE ${vinIs(vin)}`;
    const [seqResult, ...signalResults] = await this.query([
      `SELECT last("seq") ${from}`,
      ...ALL_SIGNALS.map((path) => `SELECT last(${identifier(path)}) ${from}`),
    ]);
    const lastRow = rowsOf(seqResult)[0];
    if (lastRow === undefined) return undefined;
    const signals: LatestSignals['signals'] = {};
    ALL_SIGNALS.forEach((path, i) => {
      const row = rowsOf(signalResults[i])[0];
      const value = row === undefined ? undefined : signalValue(path, row[1]);
      if (row !== undefined && value !== undefined) signals[path] = { value, ts: Number(row[0]) };
    });
    return { lastTs: Number(lastRow[0]), signals };
  }

  private access(): InfluxAccess {
    return {
      query: (statements) => this.query(statements),
      writeLines: (lines, table, retentionPolicy) => this.write(lines, 'ms', table ?? 'other', retentionPolicy),
      literal,
      identifier,
      tagValue,
    };
  }

  async listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]> {
    const limit = rowLimit(query.limit);
    if (limit === 0) return [];
    const conditions: string[] = [];
    if (query.reason !== undefined) conditions.push(`"reason" = ${literal(tagValue(query.reason))}`);
    if (query.vin !== undefined) conditions.push(`"vin" = ${literal(query.vin)}`);
    const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
    const [result] = await this.query([
      `SELECT "reason", "detail", "topic", "vin", "raw" FROM ${this.raw(DEAD_LETTERS_MEASUREMENT)}${where}` +
        ` ORDER BY time DESC LIMIT ${limit}`,
    ]);
    return rowsOf(result).map((row) => {
      const letter: DeadLetter = {
        receivedAt: Number(row[0]),
        reason: String(row[1]) as RejectReason,
        detail: String(row[2] ?? ''),
        topic: String(row[3] ?? ''),
        raw: String(row[5] ?? ''),
      };
      if (typeof row[4] === 'string') letter.vin = row[4];
      return letter;
    });
  }

  async ping(): Promise<void> {
    await this.request('/ping', '', 'GET', undefined, 'ping');
    // The database must exist too: /ping alone answers even when writes would fail with "database not found".
    await this.query([`SHOW RETENTION POLICIES ON ${identifier(this.database)}`]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.agent.destroy();
  }

  /** A raw measurement as InfluxQL names it, in the raw policy. */
  private raw(measurement: string): string {
    return inPolicy({ identifier }, this.rawPolicy, measurement);
  }

  private linePrefix(sample: StoredSample): string {
    const known = this.linePrefixes.get(sample.vin);
    if (known && known.brand === sample.brand && known.model === sample.model) return known.prefix;
    const prefix = telemetryLinePrefix(sample);
    this.linePrefixes.set(sample.vin, { brand: sample.brand, model: sample.model, prefix });
    return prefix;
  }

  private uniqueNanos(receivedAt: number): string {
    this.deadLetterCounter = (this.deadLetterCounter + 1) % NANOS_PER_MS;
    return (BigInt(Math.floor(receivedAt)) * BigInt(NANOS_PER_MS) + BigInt(this.deadLetterCounter)).toString();
  }

  /** Sends lines in chunks (to a retention policy, else the default one) and resolves only when influxd answered 2xx to every chunk. */
  private async write(lines: readonly string[], precision: 'ms' | 'ns', table: string, retentionPolicy?: string): Promise<void> {
    const params = new URLSearchParams({ db: this.database, precision, ...(retentionPolicy === undefined ? {} : { rp: retentionPolicy }) }).toString();
    for (let start = 0; start < lines.length; start += WRITE_CHUNK_LINES) {
      const chunk = lines.slice(start, start + WRITE_CHUNK_LINES);
      const body = chunk.join('\n');
      await this.request(`/write?${params}`, body, 'POST', 'text/plain; charset=utf-8', 'write');
      this.writeObserver?.(table, chunk.length, Buffer.byteLength(body));
    }
  }

  /** Runs InfluxQL statements in one request; throws on the first statement that failed. */
  private async query(statements: readonly string[]): Promise<StatementResult[]> {
    const params = new URLSearchParams({ db: this.database, epoch: 'ms' }).toString();
    const body = new URLSearchParams({ q: statements.join(';\n') }).toString();
    const answer = (await this.request(`/query?${params}`, body, 'POST', 'application/x-www-form-urlencoded', 'query')) as
      | { results?: StatementResult[]; error?: string }
      | undefined;
    if (answer?.error) throw new Error(`influx query failed: ${answer.error}`);
    const results = answer?.results ?? [];
    for (const result of results) {
      if (result.error) {
        const statement = statements[result.statement_id ?? 0] ?? '';
        throw new Error(`influx query failed: ${result.error} (in: ${statement.slice(0, 200)})`);
      }
      if (result.partial || result.series?.some((series) => series.partial)) {
        const statement = statements[result.statement_id ?? 0] ?? '';
        this.logger?.warn({ statement: statement.slice(0, 200) }, 'influx cut a query answer short (raise [http] max-row-limit)');
      }
    }
    return results;
  }

  private async request(path: string, body: string, method: string, contentType: string | undefined, what: string): Promise<unknown> {
    if (this.closed) throw new Error('influx store is closed');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (contentType !== undefined) headers['content-type'] = contentType;
    try {
      return await this.transport.request(path, body, { method, headers, gzipThreshold: this.gzipThreshold });
    } catch (err) {
      const message = `influx ${what} failed: ${err instanceof Error ? err.message : String(err)}`;
      // 400 (bad line, field type conflict: influxd wrote the other points) and 413 will fail again as they are.
      const status = (err as { statusCode?: unknown }).statusCode;
      if (what === 'write' && (status === 400 || status === 413)) throw new StoreRejectedError(message, { cause: err });
      throw new Error(message, { cause: err });
    }
  }
}

const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * The tag value InfluxDB 1.x stores for `value`; filter tags through it too. Line protocol has no newline, CR or tab
 * in a tag (Point writes them as `\n`, `\r`, `\t`, which 1.x keeps as two characters), and cannot end a tag with a
 * backslash (it would escape the separator after it): trailing ones become U+FF3C FULLWIDTH REVERSE SOLIDUS.
 */
export function tagValue(value: string): string {
  return value
    .replace(/[\n\r\t]/g, (c) => CONTROL_ESCAPES[c] ?? c)
    .replace(/\\+$/, (run) => '\uff3c'.repeat(run.length));
}

/** An InfluxQL quoted identifier. */
export function identifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** An InfluxQL string literal: the scanner knows the escapes \\ \' \" \n and rejects a raw newline. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function vinIs(vin: string): string {
  return `"vin" = ${literal(tagValue(vin))}`;
}

function lineOf(point: Point): string {
  const line = point.toLineProtocol();
  // Every point carries at least one field (seq, detail or brand), so Point always renders a line.
  if (line === undefined) throw new Error('influx store bug: a point without fields');
  return line;
}

/** `,<escaped VSS path>=` and the catalog type of every signal: the field keys of a telemetry line. */
const FIELD_KEYS: ReadonlyMap<string, { key: string; type: SignalSpec['type'] }> = new Map(
  SIGNAL_CATALOG.map((spec) => [spec.path, { key: `,${escape.tag(spec.path)}=`, type: spec.type }]),
);

/** Measurement and tags of a vehicle's telemetry lines (tags in key order, as Point writes them). */
export function telemetryLinePrefix(vehicle: { vin: string; brand: string; model: string }): string {
  const tag = (value: string): string => escape.tag(tagValue(value));
  return `${escape.measurement(TELEMETRY_MEASUREMENT)},brand=${tag(vehicle.brand)},model=${tag(vehicle.model)},vin=${tag(vehicle.vin)}`;
}

/**
 * One telemetry line, as Point would write it: `seq` an integer, each signal a field of its catalog type (a number
 * always a float, even whole or the integer ADAS level, so a field's type never conflicts), time in ms. A value that
 * does not fit its catalog type is left out and counted in `skipped.values`.
 */
export function telemetryLine(prefix: string, sample: TelemetrySample, skipped: { values: number }): string {
  let line = `${prefix} seq=${sample.seq}i`;
  const signals = sample.signals;
  for (const path in signals) {
    const field = FIELD_KEYS.get(path);
    const value = signals[path];
    if (field?.type === 'number' && typeof value === 'number' && Number.isFinite(value)) line += field.key + String(value);
    else if (field?.type === 'boolean' && typeof value === 'boolean') line += field.key + (value ? 'T' : 'F');
    else if (field?.type === 'string' && typeof value === 'string') line += field.key + escape.quoted(value);
    else skipped.values++;
  }
  return `${line} ${Math.trunc(sample.ts)}`;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Signals to read, in catalog order: all of `allowed` when none are named, else the named ones, which must all be
 * in `allowed` (the catalog, or its numeric part) since they become InfluxQL identifiers.
 */
function signalPaths(requested: readonly string[] | undefined, allowed: readonly string[], method: string): string[] {
  if (!requested?.length) return [...allowed];
  const unknown = requested.filter((path) => !allowed.includes(path));
  if (unknown.length > 0) {
    const kind = allowed === NUMERIC_SIGNALS ? 'numeric catalog signals' : 'catalog signals';
    throw new Error(`${method}: not ${kind}: ${unknown.map((p) => p.slice(0, 128)).join(', ')}`);
  }
  return allowed.filter((path) => requested.includes(path));
}

function signalValue(path: string, raw: unknown): SignalValue | undefined {
  if (raw === null || raw === undefined) return undefined;
  const spec: SignalSpec | undefined = SIGNALS.get(path);
  switch (spec?.type) {
    case 'number':
      return spec.integer ? Math.round(Number(raw)) : Number(raw);
    case 'boolean':
      return raw === true || raw === 'true';
    default:
      return String(raw);
  }
}

function rowsOf(result: StatementResult | undefined): Row[] {
  return (result?.series ?? []).flatMap((series) => series.values ?? []);
}

function checkedInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer, got ${value}`);
  return value;
}

/** A LIMIT, whole and not negative; callers skip the query on 0, which InfluxQL would read as "no limit". */
function rowLimit(limit: number): number {
  if (!Number.isFinite(limit)) throw new RangeError(`limit must be a number, got ${limit}`);
  return Math.max(0, Math.floor(limit));
}

function timeRange(from: number, to: number): { from: number; to: number } {
  return { from: checkedInteger('from', from), to: checkedInteger('to', to) };
}
