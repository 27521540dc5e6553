// Versioned schema migrations: each has a version, applied once, in order, recorded in `schema_migrations`, all in
// the caller's transaction, so that a failed migration leaves the schema as it was and a second run does nothing.
import type { SqlSession } from './client.ts';

export interface Migration {
  /** 1, 2, 3...: never renumbered, never edited once released; a change is a new migration */
  version: number;
  name: string;
  statements: readonly string[];
}

const MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

/** Apply the migrations not yet recorded, lowest version first; resolves the versions it applied. */
export async function migrate(tx: SqlSession, migrations: readonly Migration[], now = Date.now()): Promise<number[]> {
  await tx.query(MIGRATIONS_DDL);
  const applied = new Set((await tx.query('SELECT version FROM schema_migrations')).map((row) => Number(row[0])));
  const pending = migrations.filter((m) => !applied.has(m.version)).sort((a, b) => a.version - b.version);
  for (const migration of pending) {
    for (const statement of migration.statements) await tx.query(statement);
    await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, now]);
  }
  return pending.map((m) => m.version);
}
