// The metadata database embedded: one DuckDB file (VC_DATA_DIR/store/metadata.duckdb), apart from the embedded
// telemetry store's file, used when VC_DATABASE_URL is unset. DuckDB lets one process open a file, so this backend
// serves one process: several processes need PostgreSQL (VC_DATABASE_URL).
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { SqlDatabase, SqlRow, SqlSession, SqlValue } from '../sql/client.ts';
import { openFileOnce, releaseFile, SerialQueue, transaction } from './connection.ts';

export const METADATA_FILE = 'metadata.duckdb';

const session = (db: DuckDBConnection): SqlSession => ({
  async query(sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
    const reader = await db.runAndReadAll(sql, [...params]);
    return reader.getRowsJS() as SqlRow[];
  },
});

class DuckDbMetadata implements SqlDatabase {
  readonly kind = 'duckdb' as const;
  private readonly queue = new SerialQueue();
  private readonly direct: SqlSession;
  private closed = false;

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    readonly location: string,
  ) {
    this.direct = session(connection);
  }

  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]> {
    return this.serial(() => this.direct.query(sql, params));
  }

  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T> {
    return this.serial(() => transaction(this.connection, () => work(this.direct)));
  }

  // One process per file, and its statements run one at a time: nothing else can migrate it meanwhile.
  async lockForMigrations(): Promise<void> {}

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.drain();
    try {
      this.connection.closeSync();
      this.instance.closeSync();
    } finally {
      releaseFile(this.location);
    }
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('metadata database is closed'));
    return this.queue.run(task);
  }
}

/** Open (creating if missing) the metadata file in `dir`. */
export async function openDuckDbMetadata(dir: string): Promise<SqlDatabase> {
  await mkdir(dir, { recursive: true });
  const file = resolve(join(dir, METADATA_FILE));
  return openFileOnce(file, 'metadata database', async (instance) => new DuckDbMetadata(instance, await instance.connect(), file));
}
