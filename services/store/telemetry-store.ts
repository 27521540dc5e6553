// The TelemetryStore port: what the service needs from a time-series store. Two adapters implement it,
// `influx` (InfluxDB over its v1 HTTP surface) and `embedded` (DuckDB in VC_DATA_DIR), and one shared
// suite (tests/store/store-suite.ts) holds both to the same behaviour. Vehicles, tenants and tokens are not here:
// they live in the metadata database (vehicles.ts, tenants.ts), so a retention policy never touches them.
import type { RejectReason, TelemetrySample } from '../contract/telemetry.ts';
import type { SignalValue } from '../contract/signals.ts';
import type { CockpitTables, WriteObserver } from './cockpit-tables.ts';

/** The structured logger adapters write to (pino fits). */
export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A sample as stored: the contract sample plus the registry facts needed to query by brand and model. */
export interface StoredSample extends TelemetrySample {
  vin: string;
  brand: string;
  model: string;
}

/** A rejected message or sample, kept with its reason for operators. */
export interface DeadLetter {
  /** arrival time, ms since the epoch */
  receivedAt: number;
  reason: RejectReason;
  detail: string;
  /** where it came from: an MQTT topic, or `http` */
  topic: string;
  vin?: string;
  /** capped copy of the payload (or of the rejected sample) */
  raw: string;
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

/** A (vehicle, minute). */
export interface RollupKey {
  vin: string;
  /** minute start, ms */
  bucket: number;
}

/**
 * The cockpit ingredients of one vehicle in one minute: what a recount from the raw samples gives, and what the
 * cockpit engine counts in memory for the same samples (services/cockpit).
 */
export interface RollupRow extends RollupKey {
  brand: string;
  model: string;
  samples: number;
  speedSum: number;
  speedCount: number;
  socSum: number;
  socCount: number;
  /** smallest and greatest odometer; absent when no sample of the bucket carries it */
  odoMin?: number;
  odoMax?: number;
  /** samples charging */
  charging: number;
  /** samples carrying the ADAS level, and those at SAE level 2 or more */
  adasCount: number;
  adas2: number;
  /** samples reporting a fault (MIL on or a DTC) */
  faults: number;
}

/** Which vehicles a cockpit question is about: all (optionally limited to some brands), a brand, or a model. */
export interface CockpitScope {
  /** tenant scope: only these brands (undefined = every brand) */
  brands?: readonly string[];
  brand?: string;
  model?: string;
}

export interface CockpitWindow extends CockpitScope {
  /** inclusive, ms */
  from: number;
  /** exclusive, ms */
  to: number;
  /** series bucket width (ms); series buckets start at from + k * intervalMs */
  intervalMs: number;
}

/** Mergeable sums of one series bucket (or of a whole window). */
export interface CockpitSums {
  samples: number;
  speedSum: number;
  speedCount: number;
  socSum: number;
  socCount: number;
  adasCount: number;
  /** samples with Vehicle.ADAS.ActiveAutonomyLevel >= 2 */
  adas2Count: number;
}

/** Per-vehicle facts over the whole window (what cannot be summed across vehicles). */
export interface CockpitVehicleTotals {
  /** vehicles with at least one sample in the window */
  activeVehicles: number;
  /** sum over vehicles of (greatest - smallest odometer) in the window */
  distanceKm: number;
  /** vehicles with at least one sample charging */
  chargingVehicles: number;
  /** vehicles with at least one sample reporting a fault (MIL on or a DTC) */
  faultVehicles: number;
}

export interface CockpitAggregates {
  series: Array<CockpitSums & { t: number }>;
  totals: CockpitSums & CockpitVehicleTotals;
}

export interface DeadLetterQuery {
  reason?: RejectReason;
  vin?: string;
  /** newest first, at most this many */
  limit: number;
}

/**
 * The store refused the data itself (e.g. an InfluxDB field type conflict, HTTP 400): retrying the same
 * write cannot succeed. The writer then isolates the refused samples into dead letters instead of retrying.
 */
export class StoreRejectedError extends Error {
  override readonly name = 'StoreRejectedError';
}

export interface TelemetryStore {
  /** Human name for logs and /readyz: `influx` or `embedded`. */
  readonly kind: 'influx' | 'embedded';
  /** Create the database, tables or measurements if missing. Idempotent. */
  init(): Promise<void>;
  /**
   * Store samples. Resolves only once the store has durably accepted all of them (rejects otherwise, and the
   * caller retries the same batch; with StoreRejectedError when a retry cannot help). Idempotent on (vin, ts):
   * writing a sample again overwrites it.
   */
  writeSamples(samples: readonly StoredSample[]): Promise<void>;
  writeDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  /** Samples of one vehicle in [from, to), ts ascending, each (vin, ts) once. */
  querySamples(query: SampleQuery): Promise<TelemetrySample[]>;
  /** (vin, ts, seq) of the samples of every vehicle in [from, to), ts ascending. */
  sampleRefs(query: SampleRefQuery): Promise<SampleRef[]>;
  /** Per-bucket count and avg/min/max of numeric signals of one vehicle in [from, to). */
  queryBuckets(query: BucketQuery): Promise<SampleBucket[]>;
  /** Latest value and time of every signal of one vehicle, or undefined if it has no samples. */
  latest(vin: string): Promise<LatestSignals | undefined>;

  /** The cockpit tables (services/store/cockpit-tables.ts), kept by the cockpit engine. */
  readonly cockpit: CockpitTables;
  /** Told the rows and bytes of every write, per table (vc_store_rows_written_total / vc_store_bytes_written_total). */
  writeObserver?: WriteObserver;

  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]>;
  /** Throws when the store cannot be written now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
