// Telemetry in the embedded DuckDB file (store.ts): one row per (vin, ts) with a typed column per catalog signal;
// writes go through the Appender into a staging table and land with one INSERT per batch (INSERT OR REPLACE when it
// rewrites a sample), so redelivered samples overwrite themselves. The same transaction merges the batch into latest_values (a row per vehicle and signal), so latest() is a key lookup.
// DuckDB's cost per statement grows with the columns it touches (measured here: an upsert of 25 rows into a
// 62-column table took 9 ms of CPU, into a narrow one about 1), so the per-batch merge is narrow and computed in JS.
import { BIGINT, BOOLEAN, DOUBLE, DuckDBDataChunk, listValue, VARCHAR, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { circularMean, SIGNAL_CATALOG, SIGNALS, type SignalSpec, type SignalValue } from '../../contract/signals.ts';
import type { TelemetrySample } from '../../contract/telemetry.ts';
import type { StoreLogger } from '../telemetry-store.ts';
import { NUMERIC_SIGNALS, queryWindow, requestedSignals, rowLimit, storableValue, warnSkipped, type BucketQuery, type LatestSignals, type SampleBucket, type SampleQuery, type SampleRef, type SampleRefQuery, type SignalAggregate, type StoredSample, type TelemetryRepository } from '../telemetry.ts';
import { appendRows, columnsOf, freshTempTable, identifier, toNumber, transaction, type DuckDbFile } from './connection.ts';

/** The most rows a DuckDB data chunk holds (its vector size). */
const CHUNK_ROWS = 2048;

const SQL_TYPES: Record<SignalSpec['type'], string> = { number: 'DOUBLE', boolean: 'BOOLEAN', string: 'VARCHAR' };
const CHUNK_TYPES: Record<SignalSpec['type'], DuckDBType> = { number: DOUBLE, boolean: BOOLEAN, string: VARCHAR };


const FIXED_COLUMNS = ['vin', 'ts', 'seq', 'brand', 'model'] as const;
const FIXED_TYPES: readonly DuckDBType[] = [VARCHAR, BIGINT, BIGINT, VARCHAR, VARCHAR];
const SIGNAL_COLUMNS = SIGNAL_CATALOG.map((s) => identifier(s.path));
const ALL_COLUMNS = [...FIXED_COLUMNS, ...SIGNAL_COLUMNS].join(', ');

/** A signal's column as DDL declares it: its quoted path and SQL type. */
const signalColumn = (spec: SignalSpec): string => `${identifier(spec.path)} ${SQL_TYPES[spec.type]}`;
const signalColumnsDdl = SIGNAL_CATALOG.map(signalColumn).join(',\n  ');

const TELEMETRY_DDL = `CREATE TABLE IF NOT EXISTS telemetry (
  vin VARCHAR NOT NULL,
  ts BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  ${signalColumnsDdl},
  PRIMARY KEY (vin, ts)
)`;

/** Per vehicle and signal, the latest value and its ts, kept up to date by each write batch. */
const LATEST_DDL = `CREATE TABLE IF NOT EXISTS latest_values (
  vin VARCHAR NOT NULL,
  signal VARCHAR NOT NULL,
  ts BIGINT NOT NULL,
  num DOUBLE, flag BOOLEAN, text VARCHAR,
  PRIMARY KEY (vin, signal)
)`;
const LATEST_STAGING_COLUMNS = 'AS SELECT * FROM latest_values LIMIT 0';
const VALUE_COLUMN: Record<SignalSpec['type'], 'num' | 'flag' | 'text'> = { number: 'num', boolean: 'flag', string: 'text' };

// A batch's value wins per signal when at least as new as the kept one (>=, so a rewrite of a ts overwrites);
// like InfluxDB's field merge, a rewrite never removes a signal from the latest state.
const MERGE_LATEST = `INSERT INTO latest_values SELECT * FROM latest_staging
ON CONFLICT (vin, signal) DO UPDATE SET ts = excluded.ts, num = excluded.num, flag = excluded.flag, text = excluded.text
WHERE excluded.ts >= latest_values.ts`;

/** latest_values derived from the samples (a file from before the table existed). */
const LATEST_FROM_TELEMETRY = SIGNAL_CATALOG.map((spec) => {
  const c = identifier(spec.path);
  return `SELECT vin, '${spec.path.replaceAll("'", "''")}', max(ts), ${['num', 'flag', 'text'].map((col) => (col === VALUE_COLUMN[spec.type] ? `arg_max(${c}, ts)` : 'NULL')).join(', ')} FROM telemetry WHERE ${c} IS NOT NULL GROUP BY vin`;
}).join('\nUNION ALL ');

/** Maps per vehicle, the vehicle's looked up once per run of its samples (a batch's samples come vehicle by vehicle). */
function perVehicle<K, V>(): { of(vin: string): Map<K, V>; all: Map<string, Map<K, V>> } {
  const all = new Map<string, Map<K, V>>();
  let last: string | undefined;
  let current = new Map<K, V>();
  return {
    all,
    of(vin) {
      if (vin !== last) {
        last = vin;
        const known = all.get(vin);
        if (known) current = known;
        else all.set(vin, (current = new Map()));
      }
      return current;
    },
  };
}

/** The last copy of each (vin, ts) of a batch (INSERT OR REPLACE refuses a key twice in one statement). */
function lastCopies(samples: readonly StoredSample[]): StoredSample[] {
  const byVin = perVehicle<number, StoredSample>();
  for (const sample of samples) byVin.of(sample.vin).set(sample.ts, sample);
  const rows: StoredSample[] = [];
  for (const ofOne of byVin.all.values()) for (const sample of ofOne.values()) rows.push(sample);
  return rows;
}

interface NewestValue {
  vin: string;
  path: string;
  ts: number;
  value: SignalValue;
}

/**
 * Per vehicle and signal, the batch's value with the greatest ts (the later one on a tie); how many values were not
 * storable; the signals carried. No key string is built per value (that was 7.8% of the embedded service's main thread while
 * a day of history landed: 36 against 2.3 ms for a batch of 15,000 history samples, measured apart).
 */
function newestValues(rows: readonly StoredSample[]): { newest: NewestValue[]; skipped: number; present: Set<string> } {
  const byVin = perVehicle<string, NewestValue>();
  const present = new Set<string>();
  let skipped = 0;
  for (const sample of rows) {
    const ofVin = byVin.of(sample.vin);
    for (const path in sample.signals) {
      const value = sample.signals[path]!;
      if (!storableValue(SIGNALS.get(path), value)) {
        skipped++;
        continue;
      }
      const have = ofVin.get(path);
      if (!have) {
        ofVin.set(path, { vin: sample.vin, path, ts: sample.ts, value });
        present.add(path);
      } else if (sample.ts >= have.ts) {
        have.ts = sample.ts;
        have.value = value;
      }
    }
  }
  const newest: NewestValue[] = [];
  for (const ofOne of byVin.all.values()) for (const value of ofOne.values()) newest.push(value);
  return { newest, skipped, present };
}

export class DuckDbTelemetry implements TelemetryRepository {
  constructor(
    private readonly file: DuckDbFile,
    private readonly logger?: StoreLogger,
  ) {}

  /** The tables, in the store's init transaction: created if missing, and brought up from an older file. */
  async createTables(db: DuckDBConnection): Promise<void> {
    await db.run(TELEMETRY_DDL);
    const hadLatest = (await columnsOf(db, 'latest_values')).size > 0;
    await db.run(LATEST_DDL);
    await this.addMissingSignalColumns(db);
    // A file from before latest_values existed: derive it once from the samples (in the same transaction,
    // so a crash cannot leave the table created but never filled); the wide table it replaces goes.
    if (!hadLatest) await db.run(`INSERT OR REPLACE INTO latest_values ${LATEST_FROM_TELEMETRY}`);
    if ((await columnsOf(db, 'latest_signals')).size > 0) await db.run('DROP TABLE latest_signals');
  }

  /** A catalog that gained signals since the file was created gets their columns (existing rows hold NULL). */
  private async addMissingSignalColumns(db: DuckDBConnection): Promise<void> {
    const present = await columnsOf(db, 'telemetry');
    for (const spec of SIGNAL_CATALOG) {
      if (present.has(spec.path)) continue;
      await db.run(`ALTER TABLE telemetry ADD COLUMN ${signalColumn(spec)}`);
      this.logger?.info({ table: 'telemetry', signal: spec.path }, 'embedded store: added a column for a new catalog signal');
    }
  }

  async writeSamples(samples: readonly StoredSample[]): Promise<void> {
    if (samples.length === 0) return this.file.write(async () => undefined);
    const rows = lastCopies(samples);
    const { newest, skipped, present } = newestValues(rows);
    warnSkipped(this.logger, skipped);
    // the staging table holds the signals the batch carries: a column of nulls cost the Appender a BigInt operation per
    // row (a history batch carries 6 of the catalog's 19 signals)
    const carried = SIGNAL_CATALOG.filter((spec) => present.has(spec.path));
    await this.file.write(async (db) => {
      // the staging tables are new for each batch: what a failed write left there is of no interest
      await this.stage(db, rows, carried);
      await freshTempTable(db, 'latest_staging', LATEST_STAGING_COLUMNS);
      await appendRows(db, 'latest_staging', newest, (appender, { vin, path, ts, value }) => {
        appender.appendVarchar(vin);
        appender.appendVarchar(path);
        appender.appendBigInt(BigInt(ts));
        if (typeof value === 'number') appender.appendDouble(value);
        else appender.appendNull();
        if (typeof value === 'boolean') appender.appendBoolean(value);
        else appender.appendNull();
        if (typeof value === 'string') appender.appendVarchar(value);
        else appender.appendNull();
      });
      // Most batches hold only new (vin, ts): a plain INSERT costs DuckDB a third of INSERT OR REPLACE (measured
      // 4 vs 12 ms of CPU for 25 rows); the columns it leaves out are NULL. A batch that rewrites a sample fails it
      // and is staged again with every column, replacing whole rows.
      try {
        const columns = [...FIXED_COLUMNS, ...carried.map((spec) => identifier(spec.path))].join(', ');
        await transaction(db, async () => {
          await db.run(`INSERT INTO telemetry (${columns}) SELECT ${columns} FROM telemetry_staging`);
          await db.run(MERGE_LATEST);
        });
      } catch (err) {
        if (!/constraint|duplicate key/i.test(err instanceof Error ? err.message : String(err))) throw err;
        await this.stage(db, rows, SIGNAL_CATALOG);
        await transaction(db, async () => {
          await db.run(`INSERT OR REPLACE INTO telemetry (${ALL_COLUMNS}) SELECT ${ALL_COLUMNS} FROM telemetry_staging`);
          await db.run(MERGE_LATEST);
        });
      }
      this.file.observe?.('telemetry', rows.length, rows.reduce((n, r) => n + storedBytes(r), 0));
    });
  }

  /**
   * Load rows into a new staging table of these signals' columns, chunk by chunk, yielding between chunks so the event
   * loop keeps turning. Temp tables live per connection and never reach the database file: only the writer connection
   * uses them, each created anew for its batch (freshTempTable says why).
   */
  private async stage(db: DuckDBConnection, rows: readonly StoredSample[], specs: readonly SignalSpec[]): Promise<void> {
    await freshTempTable(db, 'telemetry_staging', `(vin VARCHAR, ts BIGINT, seq BIGINT, brand VARCHAR, model VARCHAR${specs.map((spec) => `, ${signalColumn(spec)}`).join('')})`);
    const types = [...FIXED_TYPES, ...specs.map((s) => CHUNK_TYPES[s.type])];
    const appender = await db.createAppender('telemetry_staging');
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
        for (const spec of specs) {
          columns.push(
            slice.map((s) => {
              const value = s.signals[spec.path];
              // counted by newestValues
              return storableValue(spec, value) ? value : null;
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
  }

  async querySamples(query: SampleQuery): Promise<TelemetrySample[]> {
    const specs = requestedSignals(query.signals, SIGNAL_CATALOG);
    const { from, to } = queryWindow(query);
    const limit = rowLimit(query.limit);
    if (specs.length === 0) return [];
    const columns = specs.map((s) => identifier(s.path));
    // Only samples carrying at least one requested signal, as a field query on InfluxDB answers.
    const carriesOne = query.signals?.length ? `AND (${columns.map((c) => `${c} IS NOT NULL`).join(' OR ')})` : '';
    const rows = await this.file.read(
      `SELECT ts, seq, ${columns.join(', ')} FROM telemetry
       WHERE vin = $vin AND ts >= $from AND ts < $to ${carriesOne}
       ORDER BY ts LIMIT $limit`,
      { vin: query.vin, from: BigInt(from), to: BigInt(to), limit: BigInt(limit) },
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
    const params: Record<string, DuckDBValue> = { from: BigInt(query.from), to: BigInt(query.to), limit: BigInt(rowLimit(query.limit)) };
    if (query.brands) params.brands = listValue([...query.brands]);
    const rows = await this.file.read(
      `SELECT vin, ts, seq FROM telemetry WHERE ts >= $from AND ts < $to ${query.brands ? 'AND list_contains($brands, brand)' : ''}
       ORDER BY ts, vin LIMIT $limit`,
      params,
    );
    return rows.map((row) => ({ vin: String(row[0]), ts: toNumber(row[1]), seq: toNumber(row[2]) }));
  }

  async queryBuckets(query: BucketQuery): Promise<SampleBucket[]> {
    const { from, to } = queryWindow(query);
    const specs = requestedSignals(query.signals, NUMERIC_SIGNALS);
    // per signal: count, mean (for an angle: the sums of sines and cosines, see circularMean), min, max
    const aggregates = specs
      .map((s) => {
        const c = identifier(s.path);
        const mean = s.circular ? `sum(sin(radians(${c}))), sum(cos(radians(${c})))` : `avg(${c}), NULL`;
        return `count(${c}), ${mean}, min(${c}), max(${c})`;
      })
      .join(', ');
    const rows = await this.file.read(
      `SELECT (ts - $from) // $interval AS k, count(*)${aggregates ? `, ${aggregates}` : ''} FROM telemetry
       WHERE vin = $vin AND ts >= $from AND ts < $to
       GROUP BY k ORDER BY k`,
      { vin: query.vin, from: BigInt(from), to: BigInt(to), interval: BigInt(query.intervalMs) },
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
    const rows = await this.file.read('SELECT signal, ts, num, flag, text FROM latest_values WHERE vin = $vin', { vin });
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
