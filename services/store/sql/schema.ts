// The metadata schema, one list of migrations for both backends. Where DuckDB lacks a feature (foreign keys that
// allow updating the referenced row, partial unique indexes), the repositories keep the rule in their statements
// and PostgreSQL, which several processes share, also enforces it by constraint.
import type { Migration } from './migrate.ts';

export type Dialect = 'postgres' | 'duckdb';

export function metadataMigrations(dialect: Dialect): Migration[] {
  const postgres = dialect === 'postgres';
  return [
    {
      version: 1,
      name: 'vehicles, tenants and tenant tokens',
      statements: [
        `CREATE TABLE vehicles (
          vin TEXT PRIMARY KEY,
          brand TEXT NOT NULL,
          model TEXT NOT NULL,
          year INTEGER,
          powertrain TEXT,
          credential_hash TEXT NOT NULL,
          created_at BIGINT NOT NULL
        )`,
        `CREATE TABLE tenants (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          brands TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          deleted_at BIGINT
        )`,
        `CREATE TABLE tenant_tokens (
          id TEXT PRIMARY KEY,
          tenant_id TEXT NOT NULL${postgres ? ' REFERENCES tenants (id)' : ''},
          token_hash TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          revoked_at BIGINT
        )`,
        'CREATE INDEX tenant_tokens_by_tenant ON tenant_tokens (tenant_id)',
        // one live tenant per name, also when two processes create it at once
        ...(postgres ? ['CREATE UNIQUE INDEX tenants_live_name ON tenants (name) WHERE deleted_at IS NULL'] : []),
      ],
    },
  ];
}
