// The telemetry store: the time-series resources of one backend opened together, since they share its database and
// its retention. Each resource is its own repository with its own conformance suite: telemetry (telemetry.ts,
// tests/store/telemetry-suite.ts), dead letters (dead-letters.ts, dead-letters-suite.ts) and the cockpit tables
// (cockpit-tables.ts, cockpit-suite.ts). Two backends implement them: `influx` (influx/, InfluxDB's v1 HTTP
// surface) and `embedded` (duckdb/, a DuckDB file in VC_DATA_DIR). Vehicles, tenants and tokens are not here: they
// live in the metadata database (metadata.ts), so a retention policy never touches them.
import type { TelemetrySample } from '../contract/telemetry.ts';
import type { CockpitTables, WriteObserver } from './cockpit-tables.ts';
import type { DeadLetter, DeadLetterQuery, DeadLetterRepository } from './dead-letters.ts';
import type { BucketQuery, LatestSignals, SampleBucket, SampleQuery, SampleRef, SampleRefQuery, StoredSample, TelemetryRepository } from './telemetry.ts';

export type { DeadLetter, DeadLetterQuery, DeadLetterRepository } from './dead-letters.ts';
export type { BucketQuery, LatestSignals, SampleBucket, SampleQuery, SampleRef, SampleRefQuery, SignalAggregate, StoredSample, TelemetryRepository } from './telemetry.ts';
export type { CockpitAggregates, CockpitScope, CockpitSums, CockpitVehicleTotals, CockpitWindow, RollupKey, RollupRow } from './cockpit-tables.ts';

/** The structured logger adapters write to (pino fits). */
export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * The store refused the data itself (e.g. an InfluxDB field type conflict, HTTP 400): retrying the same
 * write cannot succeed. The writer then isolates the refused samples into dead letters instead of retrying.
 */
export class StoreRejectedError extends Error {
  override readonly name = 'StoreRejectedError';
}

/**
 * The store refused the service's credentials (missing or wrong), or its user lacks a privilege the service needs.
 * Waiting does not fix it: at start the service stops with this message instead of retrying (services/service.ts).
 */
export class StoreAccessError extends Error {
  override readonly name = 'StoreAccessError';
}

/**
 * The store did not answer: it is down, unreachable, timed out, or answered with a 5xx. A read the API was asked for
 * answers 503 STORE_UNAVAILABLE (services/api/errors.ts): trying again later may work.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** One backend's telemetry and dead letters (their methods, as the service calls them), cockpit tables and lifecycle. */
export interface TelemetryStore extends TelemetryRepository, DeadLetterRepository {
  /** Human name for logs and /readyz: `influx` or `embedded`. */
  readonly kind: 'influx' | 'embedded';
  /** Create the database, tables or measurements if missing. Idempotent. */
  init(): Promise<void>;
  /** The cockpit tables (cockpit-tables.ts), kept by the cockpit engine. */
  readonly cockpit: CockpitTables;
  /** Told the rows and bytes of every write, per table (vc_store_rows_written_total / vc_store_bytes_written_total). */
  writeObserver?: WriteObserver;
  /** What the store holds in this process's memory, in bytes by kind (vc_store_memory_bytes); a store with no memory of its own here has none. */
  memory?(): Promise<Record<string, number>>;
  /** Throws when the store cannot be written now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The repositories of a backend, each serving its own resource. */
export interface StoreParts {
  telemetry: TelemetryRepository;
  deadLetters: DeadLetterRepository;
  cockpit: CockpitTables;
  /** where the backend's writes report to (its client, or its file) */
  observed: { observe?: WriteObserver };
}

/** A TelemetryStore over a backend's repositories: each call goes to the repository of its resource. */
export abstract class ComposedStore implements TelemetryStore {
  abstract readonly kind: TelemetryStore['kind'];
  readonly cockpit: CockpitTables;

  constructor(private readonly parts: StoreParts) {
    this.cockpit = parts.cockpit;
  }

  abstract init(): Promise<void>;
  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;

  get writeObserver(): WriteObserver | undefined {
    return this.parts.observed.observe;
  }

  set writeObserver(observer: WriteObserver | undefined) {
    this.parts.observed.observe = observer;
  }

  writeSamples(samples: readonly StoredSample[]): Promise<void> {
    return this.parts.telemetry.writeSamples(samples);
  }

  querySamples(query: SampleQuery): Promise<TelemetrySample[]> {
    return this.parts.telemetry.querySamples(query);
  }

  sampleRefs(query: SampleRefQuery): Promise<SampleRef[]> {
    return this.parts.telemetry.sampleRefs(query);
  }

  queryBuckets(query: BucketQuery): Promise<SampleBucket[]> {
    return this.parts.telemetry.queryBuckets(query);
  }

  latest(vin: string): Promise<LatestSignals | undefined> {
    return this.parts.telemetry.latest(vin);
  }

  writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    return this.parts.deadLetters.writeDeadLetters(letters);
  }

  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.parts.deadLetters.listDeadLetters(query);
  }
}
