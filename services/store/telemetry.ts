// Telemetry as a repository: samples of a vehicle written, read back, bucketed and the latest value of each signal.
// Both telemetry backends (influx/telemetry.ts, duckdb/telemetry.ts) implement it and one conformance suite
// (tests/store/telemetry-suite.ts) holds them to the same behaviour; the rules both must apply the same way are
// here, so that neither decides them alone.
import { SIGNAL_CATALOG, SIGNALS, type SignalSpec, type SignalValue } from '../contract/signals.ts';
import type { TelemetrySample } from '../contract/telemetry.ts';

/** A sample as stored: the contract sample plus the registry facts needed to query by brand and model. */
export interface StoredSample extends TelemetrySample {
  vin: string;
  brand: string;
  model: string;
}

export interface SampleQuery {
  vin: string;
  /** inclusive, ms */
  from: number;
  /** exclusive, ms */
  to: number;
  /** signal paths to return; all catalog signals when absent */
  signals?: readonly string[];
  /** at most this many samples, in ts order */
  limit: number;
}

/** What identifies one stored sample: enough to check a load test's samples by seq, across vehicles. */
export interface SampleRef {
  vin: string;
  ts: number;
  seq: number;
}

export interface SampleRefQuery {
  /** inclusive, ms */
  from: number;
  /** exclusive, ms */
  to: number;
  /** only vehicles of these brands (a tenant's); every brand when absent */
  brands?: readonly string[];
  /** at most this many, earliest ts first (which of several samples of one ms are cut is not specified) */
  limit: number;
}

export interface BucketQuery {
  vin: string;
  from: number;
  to: number;
  /** bucket width in ms; buckets start at `from + k * intervalMs` */
  intervalMs: number;
  /** numeric signal paths to aggregate; all numeric catalog signals when absent */
  signals?: readonly string[];
}

export interface SignalAggregate {
  avg: number;
  min: number;
  max: number;
}

/** One time bucket: `t` is its start; only signals with values in the bucket appear. Empty buckets are omitted. */
export interface SampleBucket {
  t: number;
  samples: number;
  signals: Record<string, SignalAggregate>;
}

export interface LatestSignals {
  /** greatest sample ts stored for the vehicle */
  lastTs: number;
  /** per signal: the value of the sample with the greatest ts carrying it */
  signals: Record<string, { value: SignalValue; ts: number }>;
}

export interface TelemetryRepository {
  /**
   * Store samples. Resolves only once the store has durably accepted all of them (rejects otherwise, and the
   * caller retries the same batch; with StoreRejectedError when a retry cannot help). Idempotent on (vin, ts):
   * writing a sample again overwrites it. A value outside the catalog or not of its signal's type is skipped and
   * logged (see storableValue), never refusing the batch.
   */
  writeSamples(samples: readonly StoredSample[]): Promise<void>;
  /** Samples of one vehicle in [from, to), ts ascending, each (vin, ts) once. */
  querySamples(query: SampleQuery): Promise<TelemetrySample[]>;
  /** (vin, ts, seq) of the samples of every vehicle in [from, to), ts ascending. */
  sampleRefs(query: SampleRefQuery): Promise<SampleRef[]>;
  /** Per-bucket count and avg/min/max of numeric signals of one vehicle in [from, to). */
  queryBuckets(query: BucketQuery): Promise<SampleBucket[]>;
  /** Latest value and time of every signal of one vehicle, or undefined if it has no samples. */
  latest(vin: string): Promise<LatestSignals | undefined>;
}

export const NUMERIC_SIGNALS: readonly SignalSpec[] = SIGNAL_CATALOG.filter((s) => s.type === 'number');

/**
 * Whether a value is stored: a catalog signal's value of its type, a number finite. The contract validator lets
 * nothing else through, so anything else is a bug upstream: the backends skip it and count it (`skipped`) rather
 * than refuse the batch, since a refused batch would be retried forever.
 */
export function storableValue(spec: SignalSpec | undefined, value: unknown): value is SignalValue {
  switch (spec?.type) {
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string';
    default:
      return false;
  }
}

/** What both backends log when values were skipped: once per batch, with their number. */
export function warnSkipped(logger: { warn(obj: object, msg?: string): void } | undefined, values: number): void {
  if (values > 0) logger?.warn({ values }, 'signal values outside the catalog or of the wrong type were not stored');
}

/**
 * The signals a query asks for, in catalog order: all of `pool` when none are named (or the list is empty), else the
 * named ones in the pool. Names outside it (unknown, or not numeric for buckets) select nothing: the API validates
 * names first, and no name from a request reaches a query unless it is a catalog path.
 */
export function requestedSignals(requested: readonly string[] | undefined, pool: readonly SignalSpec[]): SignalSpec[] {
  if (!requested?.length) return [...pool];
  const wanted = new Set(requested.filter((path) => SIGNALS.has(path)));
  return pool.filter((s) => wanted.has(s.path));
}

/** The time window of a query, checked: whole ms (they become query text or BIGINTs), a RangeError otherwise. */
export function queryWindow(query: { from: number; to: number; intervalMs?: number }): { from: number; to: number } {
  for (const name of ['from', 'to', 'intervalMs'] as const) {
    const value = query[name];
    if (value !== undefined && !Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer, got ${value}`);
  }
  if (query.intervalMs !== undefined && query.intervalMs <= 0) throw new RangeError(`intervalMs must be positive, got ${query.intervalMs}`);
  return { from: query.from, to: query.to };
}

/** A row limit, whole and not negative. */
export function rowLimit(limit: number): number {
  if (!Number.isFinite(limit)) throw new RangeError(`limit must be a number, got ${limit}`);
  return Math.max(0, Math.floor(limit));
}
