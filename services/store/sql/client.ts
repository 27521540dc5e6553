// The bottom of the metadata backends: a SQL session that speaks `$1` placeholders and answers rows as arrays.
// PostgreSQL (postgres/) and DuckDB (duckdb/) each implement it over their own driver; the repositories above it
// (vehicles.ts, tenants.ts in this folder) only map records to rows, so both backends run the same statements.

export type SqlValue = string | number | null;
export type SqlRow = readonly unknown[];

export interface SqlSession {
  /** Run one statement; rows as arrays, columns in the statement's order (RETURNING rows for writes). */
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
}

export interface SqlClient extends SqlSession {
  /** Run `work` in one transaction: all of it is committed, or none (it is rolled back when `work` throws). */
  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T>;
}

/** A database a backend opened: the client, plus what the service needs around it. */
export interface SqlDatabase extends SqlClient {
  readonly kind: 'postgres' | 'duckdb';
  /** where it is, for logs: a file, or the URL with its password redacted */
  readonly location: string;
  /** Inside a transaction: wait until no other process migrates this database (PostgreSQL: an advisory lock). */
  lockForMigrations(tx: SqlSession): Promise<void>;
  /** Throws when the database cannot be reached now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** BIGINT arrives as a bigint (DuckDB) or a decimal string (pg); our values are ms and counts, safe as numbers. */
export const toNumber = (value: unknown): number => Number(value);
