// The bottom of the DuckDB backends (the telemetry store's file and the metadata file): one open per process,
// statements one at a time per connection (a connection runs one transaction at a time), a transaction committed
// whole or rolled back, and rows as plain arrays.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import type { WriteObserver } from '../cockpit-tables.ts';

/** Runs tasks one at a time, in call order; a failed task does not stop the ones after it. */
export class SerialQueue {
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
export async function transaction<T>(db: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  await db.run('BEGIN TRANSACTION');
  try {
    const result = await work();
    await db.run('COMMIT');
    return result;
  } catch (err) {
    // Also after a failed COMMIT, so the connection never stays inside a broken transaction.
    await db.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A quoted SQL identifier (names come from the catalog and fixed names, never from a request; quoting handles the dots). */
export const identifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** A number from a DuckDB value: BIGINT arrives as a bigint; NULL is 0. */
export const toNumber = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));

/** Run a statement and read every row, as arrays in column order. */
export async function rowsOf(db: DuckDBConnection, sql: string, params?: Record<string, DuckDBValue> | DuckDBValue[]): Promise<unknown[][]> {
  return (await db.runAndReadAll(sql, params)).getRowsJS() as unknown[][];
}

/** Load rows into a table through DuckDB's appender (one call instead of a statement per row); `append` adds one row's values. */
export async function appendRows<T>(db: DuckDBConnection, table: string, rows: Iterable<T>, append: (appender: DuckDBAppender, row: T) => void): Promise<void> {
  const appender = await db.createAppender(table);
  try {
    for (const row of rows) {
      append(appender, row);
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/**
 * Empty a temp (staging) table by creating it anew. DuckDB never gives back the memory of rows deleted from a temp
 * table (DELETE and TRUNCATE alike: measured, 6.5 MiB more every 500 batches of 250 small rows, and a batch of packed
 * facts is far larger), so a staging table emptied that way grows with everything that ever passed through it.
 * `definition` is what follows the name in CREATE TABLE: `(vin VARCHAR, ...)` or `AS SELECT * FROM t LIMIT 0`.
 */
export async function freshTempTable(db: DuckDBConnection, name: string, definition: string): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP TABLE ${name} ${definition}`);
}

/** Drop a temp table once its rows are of no more use (the next freshTempTable creates it again). */
export async function dropTempTable(db: DuckDBConnection, name: string): Promise<void> {
  await db.run(`DROP TABLE IF EXISTS temp.${name}`);
}

/** The columns of a table of the main schema (none when it does not exist). */
export async function columnsOf(db: DuckDBConnection, table: string): Promise<Set<string>> {
  const rows = await rowsOf(db, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = $table", { table });
  return new Set(rows.map((row) => String(row[0])));
}

/** DuckDB attaches a file once per process safely; a second instance on the same file would not see the first's writes. */
const openFiles = new Set<string>();

export interface DuckDbFileOptions {
  /** the folder (created if missing) and the file's name in it */
  dir: string;
  name: string;
  /** what it is, for errors: `embedded store`, `metadata database` */
  what: string;
  /** DuckDB settings, e.g. `{ threads: '1' }` */
  config?: Record<string, string>;
  /** a second connection for reads, so that a long write never blocks a query (reads then see committed data only) */
  readConnection?: boolean;
}

/**
 * One DuckDB file of this process: writes serialized on one connection (whose temp tables are theirs), reads on
 * their own connection when asked for, and a close that lets queued work finish and frees the file for a next open.
 */
export class DuckDbFile {
  /** told the rows and bytes of every write, per table (the store's writeObserver) */
  observe?: WriteObserver;
  private closed = false;
  private readonly writes = new SerialQueue();
  private readonly reads = new SerialQueue();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection | undefined,
    readonly location: string,
    private readonly what: string,
  ) {}

  /** Open a file this process has not opened yet; on failure nothing stays open. */
  static async open(options: DuckDbFileOptions): Promise<DuckDbFile> {
    await mkdir(options.dir, { recursive: true });
    const file = resolve(join(options.dir, options.name));
    if (openFiles.has(file)) throw new Error(`${options.what} ${file} is already open in this process`);
    openFiles.add(file);
    try {
      const instance = await DuckDBInstance.create(file, options.config);
      try {
        const writer = await instance.connect();
        const reader = options.readConnection ? await instance.connect() : undefined;
        return new DuckDbFile(instance, writer, reader, file, options.what);
      } catch (err) {
        instance.closeSync();
        throw err;
      }
    } catch (err) {
      openFiles.delete(file);
      throw err;
    }
  }

  /** Run `task` on the write connection, after every write queued before it. */
  write<T>(task: (db: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`${this.what} is closed`));
    return this.writes.run(() => task(this.writer));
  }

  /** Run a query on the read connection (or, without one, in turn with the writes). */
  read(sql: string, params?: Record<string, DuckDBValue>): Promise<unknown[][]> {
    if (this.closed) return Promise.reject(new Error(`${this.what} is closed`));
    const reader = this.reader;
    if (reader === undefined) return this.writes.run(() => rowsOf(this.writer, sql, params));
    return this.reads.run(() => rowsOf(reader, sql, params));
  }

  /**
   * A query's answer as columns (one array per column; a statement's answer of many rows converts about three times
   * faster so than row by row: 21,600 rows of seven columns, 30 against 95 ms, measured apart).
   */
  readColumns(sql: string, params?: Record<string, DuckDBValue>): Promise<unknown[][]> {
    if (this.closed) return Promise.reject(new Error(`${this.what} is closed`));
    const reader = this.reader;
    const run = async (db: DuckDBConnection): Promise<unknown[][]> => (await db.runAndReadAll(sql, params)).getColumnsJS() as unknown[][];
    if (reader === undefined) return this.writes.run(() => run(this.writer));
    return this.reads.run(() => run(reader));
  }

  /** What DuckDB holds in memory for this file, in bytes by its tag (BASE_TABLE, ART_INDEX, IN_MEMORY_TABLE, ...; only those above 0). */
  async memory(): Promise<Record<string, number>> {
    const rows = await this.read('SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0');
    return Object.fromEntries(rows.map((row) => [String(row[0]), toNumber(row[1])]));
  }

  /** Idempotent (false when it was closed already): queued work finishes first (its callers are awaiting it). */
  async close(): Promise<boolean> {
    if (this.closed) return false;
    this.closed = true;
    await Promise.all([this.writes.drain(), this.reads.drain()]);
    try {
      this.reader?.closeSync();
      this.writer.closeSync();
      this.instance.closeSync();
    } finally {
      openFiles.delete(this.location);
    }
    return true;
  }
}
