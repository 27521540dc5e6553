// Automaker tenants and their API tokens as a repository, in the metadata database (PostgreSQL or an embedded
// DuckDB file), never in the telemetry store. Every change is one transaction; deleting and revoking mark a
// record (keeping the first time), never remove it. Conformance suite: tests/store/tenants-suite.ts.

/** An automaker tenant: its API tokens see only vehicles of these brands. */
export interface TenantRecord {
  id: string;
  name: string;
  brands: string[];
  /** ms since the epoch */
  createdAt: number;
  /** set once the admin deleted the tenant: its tokens are refused from then on */
  deletedAt?: number;
}

/** A tenant API token. Only its sha256 is stored; the token itself is shown once. */
export interface TenantTokenRecord {
  id: string;
  tenantId: string;
  /** sha256 (hex) of the whole token */
  tokenHash: string;
  createdAt: number;
  revokedAt?: number;
}

export interface TenantRepository {
  /**
   * Create a tenant, with its first token when given, in one transaction. Resolves false (and writes nothing) when
   * a live tenant already has this name, also when another process creates that name at the same instant.
   */
  create(tenant: TenantRecord, firstToken?: TenantTokenRecord): Promise<boolean>;
  get(id: string): Promise<TenantRecord | undefined>;
  /** Every tenant, deleted ones included, by createdAt then id. */
  list(): Promise<TenantRecord[]>;
  /** Mark the tenant deleted and revoke its tokens, in one transaction. False when no tenant has this id. */
  delete(id: string, at: number): Promise<boolean>;
  /** Add a token to a live tenant; false (nothing written) when the tenant is unknown or deleted. */
  insertToken(token: TenantTokenRecord): Promise<boolean>;
  getToken(id: string): Promise<TenantTokenRecord | undefined>;
  /** The tokens of one tenant, revoked ones included, by createdAt then id. */
  listTokens(tenantId: string): Promise<TenantTokenRecord[]>;
  /** False when no token has this id. */
  revokeToken(id: string, at: number): Promise<boolean>;
}
