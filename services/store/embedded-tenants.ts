// Tenants and tenant API tokens in the embedded (DuckDB) store: two small tables, one row per tenant and per
// token. Deleting a tenant or revoking a token sets a time on the row, so the history stays inspectable.
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { TenantRecord, TenantTokenRecord } from './telemetry-store.ts';

export const TENANT_DDL = [
  `CREATE TABLE IF NOT EXISTS tenants (
  id VARCHAR PRIMARY KEY,
  name VARCHAR NOT NULL,
  brands VARCHAR NOT NULL,
  created_at BIGINT NOT NULL,
  deleted_at BIGINT
)`,
  `CREATE TABLE IF NOT EXISTS tenant_tokens (
  id VARCHAR PRIMARY KEY,
  tenant_id VARCHAR NOT NULL,
  token_hash VARCHAR NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
)`,
];

export type ReadRows = (sql: string, params?: Record<string, DuckDBValue>) => Promise<unknown[][]>;

const TENANT_COLUMNS = 'id, name, brands, created_at, deleted_at';
const TOKEN_COLUMNS = 'id, tenant_id, token_hash, created_at, revoked_at';

const toNumber = (value: unknown): number => (typeof value === 'bigint' ? Number(value) : (value as number));

function toTenant(row: unknown[]): TenantRecord {
  const tenant: TenantRecord = { id: String(row[0]), name: String(row[1]), brands: JSON.parse(String(row[2])) as string[], createdAt: toNumber(row[3]) };
  if (row[4] !== null && row[4] !== undefined) tenant.deletedAt = toNumber(row[4]);
  return tenant;
}

function toToken(row: unknown[]): TenantTokenRecord {
  const token: TenantTokenRecord = { id: String(row[0]), tenantId: String(row[1]), tokenHash: String(row[2]), createdAt: toNumber(row[3]) };
  if (row[4] !== null && row[4] !== undefined) token.revokedAt = toNumber(row[4]);
  return token;
}

export async function insertTenant(db: DuckDBConnection, tenant: TenantRecord): Promise<void> {
  await db.run(`INSERT INTO tenants (${TENANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`, [
    tenant.id,
    tenant.name,
    JSON.stringify(tenant.brands),
    BigInt(tenant.createdAt),
    tenant.deletedAt === undefined ? null : BigInt(tenant.deletedAt),
  ]);
}

export async function getTenant(read: ReadRows, id: string): Promise<TenantRecord | undefined> {
  const [row] = await read(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $id`, { id });
  return row ? toTenant(row) : undefined;
}

export async function listTenants(read: ReadRows): Promise<TenantRecord[]> {
  return (await read(`SELECT ${TENANT_COLUMNS} FROM tenants ORDER BY created_at, id`)).map(toTenant);
}

export async function deleteTenant(db: DuckDBConnection, id: string, at: number): Promise<boolean> {
  // coalesce: deleting twice keeps the first time
  const result = await db.run('UPDATE tenants SET deleted_at = coalesce(deleted_at, $at) WHERE id = $id', { id, at: BigInt(at) });
  return result.rowsChanged === 1;
}

export async function insertTenantToken(db: DuckDBConnection, token: TenantTokenRecord): Promise<void> {
  await db.run(`INSERT INTO tenant_tokens (${TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`, [
    token.id,
    token.tenantId,
    token.tokenHash,
    BigInt(token.createdAt),
    token.revokedAt === undefined ? null : BigInt(token.revokedAt),
  ]);
}

export async function getTenantToken(read: ReadRows, id: string): Promise<TenantTokenRecord | undefined> {
  const [row] = await read(`SELECT ${TOKEN_COLUMNS} FROM tenant_tokens WHERE id = $id`, { id });
  return row ? toToken(row) : undefined;
}

export async function listTenantTokens(read: ReadRows, tenantId: string): Promise<TenantTokenRecord[]> {
  return (await read(`SELECT ${TOKEN_COLUMNS} FROM tenant_tokens WHERE tenant_id = $tenantId ORDER BY created_at, id`, { tenantId })).map(toToken);
}

export async function revokeTenantToken(db: DuckDBConnection, id: string, at: number): Promise<boolean> {
  const result = await db.run('UPDATE tenant_tokens SET revoked_at = coalesce(revoked_at, $at) WHERE id = $id', { id, at: BigInt(at) });
  return result.rowsChanged === 1;
}
