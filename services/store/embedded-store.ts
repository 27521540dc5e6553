// The embedded adapter of the TelemetryStore port: DuckDB in one file under VC_DATA_DIR, no server to run.
// One row per (vin, ts) with a typed column per catalog signal; writes go through the Appender into a staging
// table and land with one INSERT OR REPLACE per batch, so redelivered samples overwrite themselves. The same
// transaction merges the batch into latest_values (a row per vehicle and signal), so latest() is a key lookup.
// DuckDB's cost per statement grows with the columns it touches (measured here: an upsert of 25 rows into a
// 62-column table took 9 ms of CPU, into a narrow one about 1), so the per-batch merge is narrow and computed in JS.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBDataChunk,
  DuckDBInstance,
  listValue,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { circularMean, SIGNAL_CATALOG, SIGNALS, type SignalSpec, type SignalValue } from '../contract/signals.ts';
import type { RejectReason, TelemetrySample } from '../contract/telemetry.ts';
import { COCKPIT_DDL, EmbeddedCockpitTables, OLD_COCKPIT_TABLES } from './embedded-cockpit.ts';
import type { CockpitTables, WriteObserver } from './cockpit-tables.ts';
import { openFileOnce, releaseFile, SerialQueue, transaction } from './duckdb/connection.ts';
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


export interface EmbeddedStoreOptions {
  /** Directory holding `telemetry.duckdb`; created if missing. */
  dir: string;
  /**
   * Threads DuckDB runs queries on (VC_EMBEDDED_THREADS), default 1: measured on 2 cores, a service storing 50
   * samples a second spent 7.2 % of a core in DuckDB with 1 thread and 10.9 % with 2; large scans are slower with 1.
   */
  threads?: number;
  logger?: StoreLogger;
}

export const DATABASE_FILE = 'telemetry.duckdb';

/** The most rows a DuckDB data chunk holds (its vector size). */
const CHUNK_ROWS = 2048;

const SQL_TYPES: Record<SignalSpec['type'], string> = { number: 'DOUBLE', boolean: 'BOOLEAN', string: 'VARCHAR' };
const CHUNK_TYPES: Record<SignalSpec['type'], DuckDBType> = { number: DOUBLE, boolean: BOOLEAN, string: VARCHAR };

/** Identifiers come only from the catalog and fixed names, never from a request; quoting handles the dots. */
const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

const FIXED_COLUMNS = ['vin', 'ts', 'seq', 'brand', 'model'] as const;
const FIXED_TYPES: readonly DuckDBType[] = [VARCHAR, BIGINT, BIGINT, VARCHAR, VARCHAR];
const SIGNAL_COLUMNS = SIGNAL_CATALOG.map((s) => quoteIdent(s.path));
const ALL_COLUMNS = [...FIXED_COLUMNS, ...SIGNAL_COLUMNS].join(', ');
const NUMERIC_SIGNALS = SIGNAL_CATALOG.filter((s) => s.type === 'number');

const signalColumnsDdl = SIGNAL_CATALOG.map((s) => `${quoteIdent(s.path)} ${SQL_TYPES[s.type]}`).join(',\n  ');

const TELEMETRY_DDL = `CREATE TABLE IF NOT EXISTS telemetry (
  vin VARCHAR NOT NULL,
  ts BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  ${signalColumnsDdl},
  PRIMARY KEY (vin, ts)
)`;

// A temp table lives per connection and never reaches the database file: only the writer connection uses it.
const STAGING_DDL = `CREATE TEMP TABLE IF NOT EXISTS telemetry_staging (
  vin VARCHAR, ts BIGINT, seq BIGINT, brand VARCHAR, model VARCHAR,
  ${signalColumnsDdl}
)`;

/** Per vehicle and signal, the latest value and its ts, kept up to date by each write batch. */
const LATEST_DDL = `CREATE TABLE IF NOT EXISTS latest_values (
  vin VARCHAR NOT NULL,
  signal VARCHAR NOT NULL,
  ts BIGINT NOT NULL,
  num DOUBLE, flag BOOLEAN, text VARCHAR,
  PRIMARY KEY (vin, signal)
)`;
const LATEST_STAGING_DDL = 'CREATE TEMP TABLE IF NOT EXISTS latest_staging AS SELECT * FROM latest_values LIMIT 0';
const VALUE_COLUMN: Record<SignalSpec['type'], 'num' | 'flag' | 'text'> = { number: 'num', boolean: 'flag', string: 'text' };

// A batch's value wins per signal when at least as new as the kept one (>=, so a rewrite of a ts overwrites);
// like InfluxDB's field merge, a rewrite never removes a signal from the latest state.
const MERGE_LATEST = `INSERT INTO latest_values SELECT * FROM latest_staging
ON CONFLICT (vin, signal) DO UPDATE SET ts = excluded.ts, num = excluded.num, flag = excluded.flag, text = excluded.text
WHERE excluded.ts >= latest_values.ts`;

/** latest_values derived from the samples (a file from before the table existed). */
const LATEST_FROM_TELEMETRY = SIGNAL_CATALOG.map((spec) => {
  const c = quoteIdent(spec.path);
  return `SELECT vin, '${spec.path.replaceAll("'", "''")}', max(ts), ${['num', 'flag', 'text'].map((col) => (col === VALUE_COLUMN[spec.type] ? `arg_max(${c}, ts)` : 'NULL')).join(', ')} FROM telemetry WHERE ${c} IS NOT NULL GROUP BY vin`;
}).join('\nUNION ALL ');

const DEAD_LETTERS_DDL = [
  'CREATE SEQUENCE IF NOT EXISTS dead_letter_id',
  `CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGINT PRIMARY KEY DEFAULT nextval('dead_letter_id'),
    received_at BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    vin VARCHAR,
    raw VARCHAR NOT NULL
  )`,
];

const toNumber = (value: unknown): number => (typeof value === 'bigint' ? Number(value) : (value as number));

export class EmbeddedStore implements TelemetryStore {
  readonly kind = 'embedded' as const;
  private closed = false;
  private initialized: Promise<void> | undefined;
  // Writes share one connection and one staging table, so they are serialized; reads use their own
  // connection and see committed data only, so a long write never blocks a query.
  private readonly writes = new SerialQueue();
  private readonly reads = new SerialQueue();
  readonly cockpit: CockpitTables;
  writeObserver?: WriteObserver;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection,
    private readonly file: string,
    private readonly logger: StoreLogger | undefined,
  ) {
    this.cockpit = new EmbeddedCockpitTables({
      write: (task) => this.write(task),
      read: (sql, params) => this.read(sql, params),
      observe: (table, rows, bytes) => this.writeObserver?.(table, rows, bytes),
    });
  }

  static async open(options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    await mkdir(options.dir, { recursive: true });
    const file = resolve(join(options.dir, DATABASE_FILE));
    // DuckDB's threads: its per-statement overhead grows with them, and the service has other work for a core
    const config = { threads: String(options.threads ?? 1) };
    return openFileOnce(
      file,
      'embedded store',
      async (instance) => {
        const writer = await instance.connect();
        const reader = await instance.connect();
        const store = new EmbeddedStore(instance, writer, reader, file, options.logger);
        options.logger?.info({ file }, 'embedded store opened');
        return store;
      },
      config,
    );
  }

  init(): Promise<void> {
    this.initialized ??= this.write((db) =>
      transaction(db, async () => {
        await db.run(TELEMETRY_DDL);
        const hadLatest = (await this.columnsOf(db, 'latest_values')).size > 0;
        await db.run(LATEST_DDL);
        await this.addMissingSignalColumns(db);
        // A file from before latest_values existed: derive it once from the samples (in the same transaction,
        // so a crash cannot leave the table created but never filled); the wide table it replaces goes.
        if (!hadLatest) await db.run(`INSERT OR REPLACE INTO latest_values ${LATEST_FROM_TELEMETRY}`);
        if ((await this.columnsOf(db, 'latest_signals')).size > 0) await db.run('DROP TABLE latest_signals');
        await db.run(STAGING_DDL);
        await db.run(LATEST_STAGING_DDL);
        for (const ddl of DEAD_LETTERS_DDL) await db.run(ddl);
        for (const ddl of COCKPIT_DDL) await db.run(ddl);
        // Tables of the cockpit engine before this one hold derived data nothing reads any more.
        for (const table of OLD_COCKPIT_TABLES) {
          if ((await this.columnsOf(db, table)).size === 0) continue;
          await db.run(`DROP TABLE ${table}`);
          this.logger?.info({ table }, 'embedded store: dropped a table of the former cockpit engine');
        }
      }),
    );
    // A failed init may be retried (e.g. the disk was full): forget it.
    this.initialized.catch(() => {
      this.initialized = undefined;
    });
    return this.initialized;
  }

  private async columnsOf(db: DuckDBConnection, table: string): Promise<Set<string>> {
    const reader = await db.runAndReadAll(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = $table",
      { table },
    );
    return new Set(reader.getRowsJS().map((row) => String(row[0])));
  }

  /** A catalog that gained signals since the file was created gets their columns (existing rows hold NULL). */
  private async addMissingSignalColumns(db: DuckDBConnection): Promise<void> {
    const present = await this.columnsOf(db, 'telemetry');
    for (const spec of SIGNAL_CATALOG) {
      if (present.has(spec.path)) continue;
      await db.run(`ALTER TABLE telemetry ADD COLUMN ${quoteIdent(spec.path)} ${SQL_TYPES[spec.type]}`);
      this.logger?.info({ table: 'telemetry', signal: spec.path }, 'embedded store: added a column for a new catalog signal');
    }
  }

  async writeSamples(samples: readonly StoredSample[]): Promise<void> {
    if (samples.length === 0) return this.write(async () => undefined);
    // INSERT OR REPLACE refuses a key twice in one statement: keep the last copy of each (vin, ts).
    const unique = new Map<string, StoredSample>();
    for (const sample of samples) unique.set(`${sample.vin}\u0000${sample.ts}`, sample);
    const rows = [...unique.values()];
    await this.write(async (db) => {
      // the staging tables are emptied before use: what a failed write left there is of no interest
      await db.run('DELETE FROM telemetry_staging');
      await this.stage(db, rows);
      await this.stageLatest(db, rows);
      // Most batches hold only new (vin, ts): a plain INSERT costs DuckDB a third of INSERT OR REPLACE (measured
      // 4 vs 12 ms of CPU for 25 rows). A batch that rewrites a sample fails it and is written again, replacing.
      try {
        await transaction(db, async () => {
          await db.run(`INSERT INTO telemetry (${ALL_COLUMNS}) SELECT ${ALL_COLUMNS} FROM telemetry_staging`);
          await db.run(MERGE_LATEST);
        });
      } catch (err) {
        if (!/constraint|duplicate key/i.test(err instanceof Error ? err.message : String(err))) throw err;
        await transaction(db, async () => {
          await db.run(`INSERT OR REPLACE INTO telemetry (${ALL_COLUMNS}) SELECT ${ALL_COLUMNS} FROM telemetry_staging`);
          await db.run(MERGE_LATEST);
        });
      }
      this.writeObserver?.('telemetry', rows.length, rows.reduce((n, r) => n + storedBytes(r), 0));
    });
  }

  /** Per vehicle and signal, the batch's sample with the greatest ts, into latest_staging. */
  private async stageLatest(db: DuckDBConnection, rows: readonly StoredSample[]): Promise<void> {
    const newest = new Map<string, { vin: string; path: string; ts: number; value: SignalValue }>();
    for (const sample of rows) {
      for (const path in sample.signals) {
        const spec = SIGNALS.get(path);
        const value = sample.signals[path];
        if (spec === undefined || value === undefined || typeof value !== spec.type) continue;
        const key = `${sample.vin}\u0000${path}`;
        const have = newest.get(key);
        if (!have || sample.ts >= have.ts) newest.set(key, { vin: sample.vin, path, ts: sample.ts, value });
      }
    }
    await db.run('DELETE FROM latest_staging');
    const appender = await db.createAppender('latest_staging');
    try {
      for (const { vin, path, ts, value } of newest.values()) {
        appender.appendVarchar(vin);
        appender.appendVarchar(path);
        appender.appendBigInt(BigInt(ts));
        if (typeof value === 'number') appender.appendDouble(value);
        else appender.appendNull();
        if (typeof value === 'boolean') appender.appendBoolean(value);
        else appender.appendNull();
        if (typeof value === 'string') appender.appendVarchar(value);
        else appender.appendNull();
        appender.endRow();
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  /** Load rows into the staging table chunk by chunk, yielding between chunks so the event loop keeps turning. */
  private async stage(db: DuckDBConnection, rows: readonly StoredSample[]): Promise<void> {
    const types = [...FIXED_TYPES, ...SIGNAL_CATALOG.map((s) => CHUNK_TYPES[s.type])];
    const appender = await db.createAppender('telemetry_staging');
    let mistyped = 0;
    try {
      for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        const slice = rows.slice(start, start + CHUNK_ROWS);
        const columns: DuckDBValue[][] = [
          slice.map((s) => s.vin),
          slice.map((s) => BigInt(s.ts)),
          slice.map((s) => BigInt(s.seq)),
          slice.map((s) => s.brand),
          slice.map((s) => s.model),
        ];
        for (const spec of SIGNAL_CATALOG) {
          columns.push(
            slice.map((s) => {
              const value = s.signals[spec.path];
              if (value === undefined) return null;
              // The validator guarantees the type; a mismatch here would poison every retry of the batch.
              if (typeof value !== spec.type) {
                mistyped++;
                return null;
              }
              return value;
            }),
          );
        }
        const chunk = DuckDBDataChunk.create(types, slice.length);
        chunk.setColumns(columns);
        appender.appendDataChunk(chunk);
        if (start + CHUNK_ROWS < rows.length) await new Promise<void>((r) => setImmediate(r));
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    if (mistyped > 0) this.logger?.warn({ values: mistyped }, 'embedded store: values of the wrong type stored as null');
  }

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return this.write(async () => undefined);
    await this.write(async (db) => {
      const insert = await db.prepare(
        'INSERT INTO dead_letters (received_at, reason, detail, topic, vin, raw) VALUES ($1, $2, $3, $4, $5, $6)',
      );
      try {
        await transaction(db, async () => {
          // One statement per letter, in array order, so the id sequence keeps their order for same-ms ties.
          for (const letter of letters) {
            insert.bind([BigInt(letter.receivedAt), letter.reason, letter.detail, letter.topic, letter.vin ?? null, letter.raw]);
            await insert.run();
          }
        });
        this.writeObserver?.('dead_letters', letters.length, letters.reduce((n, l) => n + 16 + l.reason.length + l.detail.length + l.topic.length + l.raw.length + (l.vin?.length ?? 0), 0));
      } finally {
        insert.destroySync();
      }
    });
  }

  async querySamples(query: SampleQuery): Promise<TelemetrySample[]> {
    const specs = selectSignals(query.signals, SIGNAL_CATALOG);
    if (specs.length === 0) return [];
    const columns = specs.map((s) => quoteIdent(s.path));
    // Only samples carrying at least one requested signal, as a field query on InfluxDB answers.
    const carriesOne = query.signals?.length ? `AND (${columns.map((c) => `${c} IS NOT NULL`).join(' OR ')})` : '';
    const rows = await this.read(
      `SELECT ts, seq, ${columns.join(', ')} FROM telemetry
       WHERE vin = $vin AND ts >= $from AND ts < $to ${carriesOne}
       ORDER BY ts LIMIT $limit`,
      { vin: query.vin, from: BigInt(query.from), to: BigInt(query.to), limit: BigInt(Math.max(0, Math.floor(query.limit))) },
    );
    return rows.map((row) => {
      const signals: Record<string, SignalValue> = {};
      specs.forEach((spec, i) => {
        const value = row[i + 2];
        if (value !== null && value !== undefined) signals[spec.path] = value as SignalValue;
      });
      return { ts: toNumber(row[0]), seq: toNumber(row[1]), signals };
    });
  }

  async sampleRefs(query: SampleRefQuery): Promise<SampleRef[]> {
    if (query.brands?.length === 0) return [];
    const params: Record<string, DuckDBValue> = { from: BigInt(query.from), to: BigInt(query.to), limit: BigInt(Math.max(0, Math.floor(query.limit))) };
    if (query.brands) params.brands = listValue([...query.brands]);
    const rows = await this.read(
      `SELECT vin, ts, seq FROM telemetry WHERE ts >= $from AND ts < $to ${query.brands ? 'AND list_contains($brands, brand)' : ''}
       ORDER BY ts, vin LIMIT $limit`,
      params,
    );
    return rows.map((row) => ({ vin: String(row[0]), ts: toNumber(row[1]), seq: toNumber(row[2]) }));
  }

  async queryBuckets(query: BucketQuery): Promise<SampleBucket[]> {
    if (!Number.isInteger(query.intervalMs) || query.intervalMs <= 0) {
      throw new RangeError(`intervalMs must be a positive integer, got ${query.intervalMs}`);
    }
    const specs = selectSignals(query.signals, NUMERIC_SIGNALS);
    // per signal: count, mean (for an angle: the sums of sines and cosines, see circularMean), min, max
    const aggregates = specs
      .map((s) => {
        const c = quoteIdent(s.path);
        const mean = s.circular ? `sum(sin(radians(${c}))), sum(cos(radians(${c})))` : `avg(${c}), NULL`;
        return `count(${c}), ${mean}, min(${c}), max(${c})`;
      })
      .join(', ');
    const rows = await this.read(
      `SELECT (ts - $from) // $interval AS k, count(*)${aggregates ? `, ${aggregates}` : ''} FROM telemetry
       WHERE vin = $vin AND ts >= $from AND ts < $to
       GROUP BY k ORDER BY k`,
      { vin: query.vin, from: BigInt(query.from), to: BigInt(query.to), interval: BigInt(query.intervalMs) },
    );
    return rows.map((row) => {
      const signals: Record<string, SignalAggregate> = {};
      specs.forEach((spec, i) => {
        const at = 2 + i * 5;
        if (toNumber(row[at]) === 0) return;
        const avg = spec.circular ? circularMean(spec, toNumber(row[at + 1]), toNumber(row[at + 2])) : toNumber(row[at + 1]);
        signals[spec.path] = { avg, min: toNumber(row[at + 3]), max: toNumber(row[at + 4]) };
      });
      return { t: query.from + toNumber(row[0]) * query.intervalMs, samples: toNumber(row[1]), signals };
    });
  }

  async latest(vin: string): Promise<LatestSignals | undefined> {
    const rows = await this.read('SELECT signal, ts, num, flag, text FROM latest_values WHERE vin = $vin', { vin });
    if (rows.length === 0) return undefined;
    const signals: LatestSignals['signals'] = {};
    let lastTs = Number.NEGATIVE_INFINITY;
    for (const [signal, ts, num, flag, text] of rows) {
      const spec = SIGNALS.get(String(signal));
      if (spec === undefined) continue;
      const value = { number: num, boolean: flag, string: text }[spec.type];
      if (value === null || value === undefined) continue;
      signals[spec.path] = { value: value as SignalValue, ts: toNumber(ts) };
      lastTs = Math.max(lastTs, toNumber(ts));
    }
    return Number.isFinite(lastTs) ? { lastTs, signals } : undefined;
  }

  async listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]> {
    const where: string[] = [];
    const params: Record<string, DuckDBValue> = { limit: BigInt(Math.max(0, Math.floor(query.limit))) };
    if (query.reason !== undefined) {
      where.push('reason = $reason');
      params.reason = query.reason;
    }
    if (query.vin !== undefined) {
      where.push('vin = $vin');
      params.vin = query.vin;
    }
    const rows = await this.read(
      `SELECT received_at, reason, detail, topic, vin, raw FROM dead_letters
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY received_at DESC, id DESC LIMIT $limit`,
      params,
    );
    return rows.map((row) => {
      const letter: DeadLetter = {
        receivedAt: toNumber(row[0]),
        reason: row[1] as RejectReason,
        detail: String(row[2]),
        topic: String(row[3]),
        raw: String(row[5]),
      };
      if (row[4] !== null) letter.vin = String(row[4]);
      return letter;
    });
  }

  async ping(): Promise<void> {
    await this.write(async (db) => {
      await db.run('SELECT 1');
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let queued work finish (its callers are awaiting it), then release the file for the next open.
    await Promise.all([this.writes.drain(), this.reads.drain()]);
    try {
      this.reader.closeSync();
      this.writer.closeSync();
      this.instance.closeSync();
    } finally {
      releaseFile(this.file);
    }
    this.logger?.info({ file: this.file }, 'embedded store closed');
  }

  private write<T>(task: (db: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('embedded store is closed'));
    return this.writes.run(() => task(this.writer));
  }

  private read(sql: string, params?: Record<string, DuckDBValue>): Promise<unknown[][]> {
    if (this.closed) return Promise.reject(new Error('embedded store is closed'));
    return this.reads.run(async () => {
      const reader = await this.reader.runAndReadAll(sql, params);
      return reader.getRowsJS() as unknown[][];
    });
  }
}

/** A sample's size as stored, for the write metrics: 8 bytes a number or flag, strings by their length. */
function storedBytes(sample: StoredSample): number {
  let bytes = 16 + sample.vin.length + sample.brand.length + sample.model.length;
  for (const path in sample.signals) {
    const value = sample.signals[path];
    bytes += typeof value === 'string' ? value.length : 8;
  }
  return bytes;
}

/**
 * The catalog signals a query asks for, in catalog order: all of `pool` when none are named (or the list is
 * empty); names outside the pool (unknown, or not numeric for buckets) select nothing.
 */
function selectSignals(requested: readonly string[] | undefined, pool: readonly SignalSpec[]): SignalSpec[] {
  if (!requested?.length) return [...pool];
  const wanted = new Set(requested.filter((path) => SIGNALS.has(path)));
  return pool.filter((s) => wanted.has(s.path));
}
