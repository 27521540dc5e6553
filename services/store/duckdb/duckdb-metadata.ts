// The metadata database embedded: one DuckDB file (VC_DATA_DIR/store/metadata.duckdb), apart from the embedded
// telemetry store's file, used when VC_DATABASE_URL is unset. DuckDB lets one process open a file, so this backend
// serves one process: several processes need PostgreSQL (VC_DATABASE_URL).
import type { DuckDBConnection } from '@duckdb/node-api';
import type { SqlDatabase, SqlRow, SqlSession, SqlValue } from '../sql/client.ts';
import { DuckDbFile, rowsOf, transaction } from './connection.ts';

export const METADATA_FILE = 'metadata.duckdb';

const session = (db: DuckDBConnection): SqlSession => ({
  query: (sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> => rowsOf(db, sql, [...params]),
});

class DuckDbMetadata implements SqlDatabase {
  readonly kind = 'duckdb' as const;

  constructor(private readonly file: DuckDbFile) {}

  get location(): string {
    return this.file.location;
  }

  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]> {
    return this.file.write((db) => session(db).query(sql, params));
  }

  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T> {
    return this.file.write((db) => transaction(db, () => work(session(db))));
  }

  // One process per file, and its statements run one at a time: nothing else can migrate it meanwhile.
  async lockForMigrations(): Promise<void> {}

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/** Open (creating if missing) the metadata file in `dir`. */
export async function openDuckDbMetadata(dir: string): Promise<SqlDatabase> {
  return new DuckDbMetadata(await DuckDbFile.open({ dir, name: METADATA_FILE, what: 'metadata database' }));
}
