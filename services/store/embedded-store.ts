// The embedded adapter of the TelemetryStore port: DuckDB in one file under VC_DATA_DIR, no server to run.
// One row per (vin, ts) with a typed column per catalog signal; writes go through the Appender into a staging
// table and land with one INSERT OR REPLACE per batch, so redelivered samples overwrite themselves. The same
// transaction merges the batch into latest_signals (one row per vehicle), so latest() is a key lookup, not a scan.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  DuckDBDataChunk,
  DuckDBInstance,
  INTEGER,
  listValue,
  VARCHAR,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { SIGNAL_CATALOG, SIGNALS, type SignalSpec, type SignalValue } from '../contract/signals.ts';
import type { RejectReason, TelemetrySample } from '../contract/telemetry.ts';
import { COCKPIT_DDL, EmbeddedCockpitTables, OLD_COCKPIT_TABLES } from './embedded-cockpit.ts';
import type { CockpitTables, WriteObserver } from './cockpit-tables.ts';
import * as tenants from './embedded-tenants.ts';
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
  TenantRecord,
  TenantTokenRecord,
  VehicleRecord,
} from './telemetry-store.ts';


export interface EmbeddedStoreOptions {
  /** Directory holding `telemetry.duckdb`; created if missing. */
  dir: string;
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

/** Per vehicle, the latest value and its ts of every signal, kept up to date by each write batch. */
const tsColumn = (path: string): string => quoteIdent(`${path}#ts`);
const LATEST_DDL = `CREATE TABLE IF NOT EXISTS latest_signals (
  vin VARCHAR PRIMARY KEY,
  last_ts BIGINT NOT NULL,
  ${SIGNAL_CATALOG.map((s) => `${quoteIdent(s.path)} ${SQL_TYPES[s.type]}, ${tsColumn(s.path)} BIGINT`).join(',\n  ')}
)`;
const LATEST_COLUMNS = ['vin', 'last_ts', ...SIGNAL_CATALOG.flatMap((s) => [quoteIdent(s.path), tsColumn(s.path)])].join(', ');

/** Per vehicle of `source`: greatest ts, and per signal the value of the greatest ts carrying it. */
const latestOf = (source: string): string =>
  `SELECT vin, max(ts) AS last_ts, ${SIGNAL_CATALOG.map((s) => {
    const c = quoteIdent(s.path);
    return `arg_max(${c}, ts) FILTER (WHERE ${c} IS NOT NULL) AS ${c}, max(ts) FILTER (WHERE ${c} IS NOT NULL) AS ${tsColumn(s.path)}`;
  }).join(', ')} FROM ${source} GROUP BY vin`;

// A batch's values win per signal when at least as new as the kept ones (>=, so a rewrite of a ts overwrites);
// like InfluxDB's field merge, a rewrite never removes a signal from the latest state.
const MERGE_LATEST = `INSERT OR REPLACE INTO latest_signals (${LATEST_COLUMNS})
SELECT b.vin,
  CASE WHEN l.vin IS NULL OR b.last_ts > l.last_ts THEN b.last_ts ELSE l.last_ts END,
  ${SIGNAL_CATALOG.map((s) => {
    const c = quoteIdent(s.path);
    const t = tsColumn(s.path);
    const batchWins = `b.${t} IS NOT NULL AND (l.${t} IS NULL OR b.${t} >= l.${t})`;
    return `CASE WHEN ${batchWins} THEN b.${c} ELSE l.${c} END, CASE WHEN ${batchWins} THEN b.${t} ELSE l.${t} END`;
  }).join(',\n  ')}
FROM (${latestOf('telemetry_staging')}) b LEFT JOIN latest_signals l ON l.vin = b.vin`;

// Registrations in bulk are appended here first (a temp table: per connection, never in the file).
const VEHICLES_STAGING_DDL = `CREATE TEMP TABLE IF NOT EXISTS vehicles_staging (
  vin VARCHAR, brand VARCHAR, model VARCHAR, year INTEGER, powertrain VARCHAR, credential_hash VARCHAR, created_at BIGINT
)`;

const VEHICLES_DDL = `CREATE TABLE IF NOT EXISTS vehicles (
  vin VARCHAR PRIMARY KEY,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  year INTEGER,
  powertrain VARCHAR,
  credential_hash VARCHAR NOT NULL,
  created_at BIGINT NOT NULL
)`;

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

/** DuckDB attaches a file once per process safely; a second instance on the same file would corrupt it. */
const openFiles = new Set<string>();

/** Runs tasks one at a time, in call order; a failed task does not stop the ones after it. */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  drain(): Promise<unknown> {
    return this.tail;
  }
}

/** Run `work` in one transaction on `db`: all of it is committed, or none. */
async function transaction(db: DuckDBConnection, work: () => Promise<void>): Promise<void> {
  await db.run('BEGIN TRANSACTION');
  try {
    await work();
    await db.run('COMMIT');
  } catch (err) {
    // Also after a failed COMMIT, so the connection never stays inside a broken transaction.
    await db.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

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
    if (openFiles.has(file)) throw new Error(`embedded store ${file} is already open in this process`);
    openFiles.add(file);
    try {
      const instance = await DuckDBInstance.create(file);
      try {
        const writer = await instance.connect();
        const reader = await instance.connect();
        const store = new EmbeddedStore(instance, writer, reader, file, options.logger);
        options.logger?.info({ file }, 'embedded store opened');
        return store;
      } catch (err) {
        instance.closeSync();
        throw err;
      }
    } catch (err) {
      openFiles.delete(file);
      throw err;
    }
  }

  init(): Promise<void> {
    this.initialized ??= this.write((db) =>
      transaction(db, async () => {
        await db.run(TELEMETRY_DDL);
        const hadLatest = (await this.columnsOf(db, 'latest_signals')).size > 0;
        await db.run(LATEST_DDL);
        for (const table of ['telemetry', 'latest_signals'] as const) await this.addMissingSignalColumns(db, table);
        // A file from before latest_signals existed: derive it once from the samples (in the same transaction,
        // so a crash cannot leave the table created but never filled).
        if (!hadLatest) await db.run(`INSERT OR REPLACE INTO latest_signals (${LATEST_COLUMNS}) ${latestOf('telemetry')}`);
        await db.run(STAGING_DDL);
        await db.run(VEHICLES_DDL);
        await db.run(VEHICLES_STAGING_DDL);
        for (const ddl of DEAD_LETTERS_DDL) await db.run(ddl);
        for (const ddl of COCKPIT_DDL) await db.run(ddl);
        // Tables of the cockpit engine before this one hold derived data nothing reads any more.
        for (const table of OLD_COCKPIT_TABLES) {
          if ((await this.columnsOf(db, table)).size === 0) continue;
          await db.run(`DROP TABLE ${table}`);
          this.logger?.info({ table }, 'embedded store: dropped a table of the former cockpit engine');
        }
        for (const ddl of tenants.TENANT_DDL) await db.run(ddl);
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
  private async addMissingSignalColumns(db: DuckDBConnection, table: 'telemetry' | 'latest_signals'): Promise<void> {
    const present = await this.columnsOf(db, table);
    for (const spec of SIGNAL_CATALOG) {
      if (!present.has(spec.path)) {
        await db.run(`ALTER TABLE ${table} ADD COLUMN ${quoteIdent(spec.path)} ${SQL_TYPES[spec.type]}`);
        this.logger?.info({ table, signal: spec.path }, 'embedded store: added a column for a new catalog signal');
      }
      if (table === 'latest_signals' && !present.has(`${spec.path}#ts`)) {
        await db.run(`ALTER TABLE latest_signals ADD COLUMN ${tsColumn(spec.path)} BIGINT`);
      }
    }
  }

  async writeSamples(samples: readonly StoredSample[]): Promise<void> {
    if (samples.length === 0) return this.write(async () => undefined);
    // INSERT OR REPLACE refuses a key twice in one statement: keep the last copy of each (vin, ts).
    const unique = new Map<string, StoredSample>();
    for (const sample of samples) unique.set(`${sample.vin}\u0000${sample.ts}`, sample);
    const rows = [...unique.values()];
    await this.write(async (db) => {
      await db.run('DELETE FROM telemetry_staging');
      try {
        await this.stage(db, rows);
        await transaction(db, async () => {
          await db.run(`INSERT OR REPLACE INTO telemetry (${ALL_COLUMNS}) SELECT ${ALL_COLUMNS} FROM telemetry_staging`);
          await db.run(MERGE_LATEST);
        });
        this.writeObserver?.('telemetry', rows.length, rows.reduce((n, r) => n + storedBytes(r), 0));
      } finally {
        // Best effort: the next write clears the staging table before using it anyway.
        await db.run('DELETE FROM telemetry_staging').catch(() => undefined);
      }
    });
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
    const aggregates = specs
      .map((s) => {
        const c = quoteIdent(s.path);
        return `count(${c}), avg(${c}), min(${c}), max(${c})`;
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
        const at = 2 + i * 4;
        if (toNumber(row[at]) === 0) return;
        signals[spec.path] = { avg: toNumber(row[at + 1]), min: toNumber(row[at + 2]), max: toNumber(row[at + 3]) };
      });
      return { t: query.from + toNumber(row[0]) * query.intervalMs, samples: toNumber(row[1]), signals };
    });
  }

  async latest(vin: string): Promise<LatestSignals | undefined> {
    const [row] = await this.read(`SELECT ${LATEST_COLUMNS} FROM latest_signals WHERE vin = $vin`, { vin });
    if (!row) return undefined;
    const signals: LatestSignals['signals'] = {};
    SIGNAL_CATALOG.forEach((spec, i) => {
      const ts = row[3 + i * 2];
      if (ts === null || ts === undefined) return;
      signals[spec.path] = { value: row[2 + i * 2] as SignalValue, ts: toNumber(ts) };
    });
    return { lastTs: toNumber(row[1]), signals };
  }

  async insertVehicle(vehicle: VehicleRecord): Promise<boolean> {
    return (await this.insertVehicles([vehicle])).has(vehicle.vin);
  }

  async insertVehicles(vehicles: readonly VehicleRecord[]): Promise<Set<string>> {
    const inserted = new Set<string>();
    // a VIN twice in one statement is an error, not a conflict: the first copy is the one offered
    const byVin = new Map<string, VehicleRecord>();
    for (const v of vehicles) if (!byVin.has(v.vin)) byVin.set(v.vin, v);
    const unique = [...byVin.values()];
    if (unique.length === 0) return inserted;
    await this.write(async (db) => {
      // appended, then inserted in one transaction: a commit costs milliseconds here, a row microseconds
      await db.run('DELETE FROM vehicles_staging');
      const appender = await db.createAppender('vehicles_staging');
      try {
        for (let start = 0; start < unique.length; start += CHUNK_ROWS) {
          const slice = unique.slice(start, start + CHUNK_ROWS);
          const chunk = DuckDBDataChunk.create(VEHICLE_TYPES, slice.length);
          chunk.setColumns([
            slice.map((v) => v.vin),
            slice.map((v) => v.brand),
            slice.map((v) => v.model),
            slice.map((v) => v.year ?? null),
            slice.map((v) => v.powertrain ?? null),
            slice.map((v) => v.credentialHash),
            slice.map((v) => BigInt(v.createdAt)),
          ]);
          appender.appendDataChunk(chunk);
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      await transaction(db, async () => {
        const result = await db.runAndReadAll(`INSERT INTO vehicles (${VEHICLE_COLUMNS}) SELECT ${VEHICLE_COLUMNS} FROM vehicles_staging ON CONFLICT DO NOTHING RETURNING vin`);
        for (const [vin] of result.getRowsJS()) inserted.add(String(vin));
      });
      await db.run('DELETE FROM vehicles_staging');
    });
    return inserted;
  }

  async getVehicle(vin: string): Promise<VehicleRecord | undefined> {
    const [row] = await this.read(`SELECT ${VEHICLE_COLUMNS} FROM vehicles WHERE vin = $vin`, { vin });
    return row ? toVehicle(row) : undefined;
  }

  async listVehicles(): Promise<VehicleRecord[]> {
    const rows = await this.read(`SELECT ${VEHICLE_COLUMNS} FROM vehicles ORDER BY vin`);
    return rows.map(toVehicle);
  }

  insertTenant(tenant: TenantRecord): Promise<void> {
    return this.write((db) => tenants.insertTenant(db, tenant));
  }

  getTenant(id: string): Promise<TenantRecord | undefined> {
    return tenants.getTenant((sql, params) => this.read(sql, params), id);
  }

  listTenants(): Promise<TenantRecord[]> {
    return tenants.listTenants((sql, params) => this.read(sql, params));
  }

  deleteTenant(id: string, at: number): Promise<boolean> {
    return this.write((db) => tenants.deleteTenant(db, id, at));
  }

  insertTenantToken(token: TenantTokenRecord): Promise<void> {
    return this.write((db) => tenants.insertTenantToken(db, token));
  }

  getTenantToken(id: string): Promise<TenantTokenRecord | undefined> {
    return tenants.getTenantToken((sql, params) => this.read(sql, params), id);
  }

  listTenantTokens(tenantId: string): Promise<TenantTokenRecord[]> {
    return tenants.listTenantTokens((sql, params) => this.read(sql, params), tenantId);
  }

  revokeTenantToken(id: string, at: number): Promise<boolean> {
    return this.write((db) => tenants.revokeTenantToken(db, id, at));
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
      openFiles.delete(this.file);
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

const VEHICLE_COLUMNS = 'vin, brand, model, year, powertrain, credential_hash, created_at';
const VEHICLE_TYPES: readonly DuckDBType[] = [VARCHAR, VARCHAR, VARCHAR, INTEGER, VARCHAR, VARCHAR, BIGINT];

/** A sample's size as stored, for the write metrics: 8 bytes a number or flag, strings by their length. */
function storedBytes(sample: StoredSample): number {
  let bytes = 16 + sample.vin.length + sample.brand.length + sample.model.length;
  for (const path in sample.signals) {
    const value = sample.signals[path];
    bytes += typeof value === 'string' ? value.length : 8;
  }
  return bytes;
}

function toVehicle(row: unknown[]): VehicleRecord {
  const vehicle: VehicleRecord = {
    vin: String(row[0]),
    brand: String(row[1]),
    model: String(row[2]),
    credentialHash: String(row[5]),
    createdAt: toNumber(row[6]),
  };
  if (row[3] !== null) vehicle.year = toNumber(row[3]);
  if (row[4] !== null) vehicle.powertrain = row[4] as VehicleRecord['powertrain'];
  return vehicle;
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
