// TenantRepository over a SQL client (PostgreSQL or DuckDB). A tenant and its first token are written in one
// transaction; a tenant's deletion revokes its tokens in the same transaction; marks keep their first time
// (coalesce). Statements are shared by both backends, so what one answers the other answers. (INSERT ... SELECT
// needs the BIGINT casts: PostgreSQL would otherwise read those parameters as text.)
import { toNumber, type SqlClient, type SqlRow, type SqlSession } from './client.ts';
import type { TenantRecord, TenantRepository, TenantTokenRecord } from '../tenants.ts';

const TENANT_COLUMNS = 'id, name, brands, created_at, deleted_at';
const TOKEN_COLUMNS = 'id, tenant_id, token_hash, created_at, revoked_at';

function toTenant(row: SqlRow): TenantRecord {
  const tenant: TenantRecord = { id: String(row[0]), name: String(row[1]), brands: JSON.parse(String(row[2])) as string[], createdAt: toNumber(row[3]) };
  if (row[4] !== null) tenant.deletedAt = toNumber(row[4]);
  return tenant;
}

function toToken(row: SqlRow): TenantTokenRecord {
  const token: TenantTokenRecord = { id: String(row[0]), tenantId: String(row[1]), tokenHash: String(row[2]), createdAt: toNumber(row[3]) };
  if (row[4] !== null) token.revokedAt = toNumber(row[4]);
  return token;
}

/** Insert a token only while its tenant is live; resolves whether it was written. */
async function insertToken(db: SqlSession, token: TenantTokenRecord): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO tenant_tokens (${TOKEN_COLUMNS})
     SELECT $1, $2, $3, $4::BIGINT, $5::BIGINT WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2 AND deleted_at IS NULL)
     RETURNING id`,
    [token.id, token.tenantId, token.tokenHash, token.createdAt, token.revokedAt ?? null],
  );
  return rows.length === 1;
}

export class SqlTenantRepository implements TenantRepository {
  constructor(private readonly db: SqlClient) {}

  create(tenant: TenantRecord, firstToken?: TenantTokenRecord): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // NOT EXISTS decides within one process; PostgreSQL's partial unique index (and ON CONFLICT) across processes
      const rows = await tx.query(
        `INSERT INTO tenants (${TENANT_COLUMNS})
         SELECT $1, $2, $3, $4::BIGINT, $5::BIGINT WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE name = $2 AND deleted_at IS NULL)
         ON CONFLICT DO NOTHING RETURNING id`,
        [tenant.id, tenant.name, JSON.stringify(tenant.brands), tenant.createdAt, tenant.deletedAt ?? null],
      );
      if (rows.length === 0) return false;
      if (firstToken && !(await insertToken(tx, firstToken))) throw new Error(`tenant ${tenant.id}: its first token names another tenant`);
      return true;
    });
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    const [row] = await this.db.query(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1`, [id]);
    return row ? toTenant(row) : undefined;
  }

  async list(): Promise<TenantRecord[]> {
    return (await this.db.query(`SELECT ${TENANT_COLUMNS} FROM tenants ORDER BY created_at, id COLLATE "C"`)).map(toTenant);
  }

  delete(id: string, at: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query('UPDATE tenants SET deleted_at = coalesce(deleted_at, $2) WHERE id = $1 RETURNING id', [id, at]);
      if (rows.length === 0) return false;
      await tx.query('UPDATE tenant_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE tenant_id = $1', [id, at]);
      return true;
    });
  }

  insertToken(token: TenantTokenRecord): Promise<boolean> {
    return insertToken(this.db, token);
  }

  async getToken(id: string): Promise<TenantTokenRecord | undefined> {
    const [row] = await this.db.query(`SELECT ${TOKEN_COLUMNS} FROM tenant_tokens WHERE id = $1`, [id]);
    return row ? toToken(row) : undefined;
  }

  async listTokens(tenantId: string): Promise<TenantTokenRecord[]> {
    return (await this.db.query(`SELECT ${TOKEN_COLUMNS} FROM tenant_tokens WHERE tenant_id = $1 ORDER BY created_at, id COLLATE "C"`, [tenantId])).map(toToken);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return (await this.db.query('UPDATE tenant_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING id', [id, at])).length === 1;
  }
}
