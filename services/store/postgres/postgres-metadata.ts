// The metadata database on PostgreSQL (VC_DATABASE_URL), shared by every process of a deployment: the VIN's
// primary key and the tenant name's partial unique index decide races between processes, and migrations take an
// advisory lock so that processes starting together migrate once.
import pg from 'pg';
import { redact } from '../../observability/redact.ts';
import type { SqlDatabase, SqlRow, SqlSession, SqlValue } from '../sql/client.ts';

/** Any fixed number: the advisory lock all vehicle-cloud processes take to migrate one database. */
const MIGRATION_LOCK = 0x7663_6d69_6772;
const POOL_SIZE = 5;

export interface PostgresMetadataOptions {
  url: string;
  /** where the pool reports a broken idle connection (the next query reconnects) */
  onError?: (err: Error) => void;
  connectTimeoutMs?: number;
}

const session = (client: pg.Pool | pg.PoolClient): SqlSession => ({
  async query(sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
    const result = await client.query<unknown[]>({ text: sql, values: [...params], rowMode: 'array' });
    return result.rows;
  },
});

class PostgresMetadata implements SqlDatabase {
  readonly kind = 'postgres' as const;
  readonly location: string;
  private readonly direct: SqlSession;
  private closing: Promise<void> | undefined;

  constructor(private readonly pool: pg.Pool, url: string) {
    this.location = redact(url);
    this.direct = session(pool);
  }

  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]> {
    return this.direct.query(sql, params);
  }

  async transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(session(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
        // a connection that cannot roll back is not given back to the pool
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async lockForMigrations(tx: SqlSession): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }
}

export function openPostgresMetadata(options: PostgresMetadataOptions): SqlDatabase {
  const pool = new pg.Pool({ connectionString: options.url, max: POOL_SIZE, connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000 });
  // without a listener, an idle connection the server drops would crash the process
  pool.on('error', (err) => options.onError?.(err));
  return new PostgresMetadata(pool, options.url);
}
