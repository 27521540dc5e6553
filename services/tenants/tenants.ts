// Automaker tenants and their API tokens: created by the admin, scoped to brands, revocable. Tokens are random
// 32-byte secrets shown once and stored as sha256 hashes (a fast hash is enough for a high-entropy secret).
// A token names its record (`vct_<id>_<secret>`), so resolving it is one keyed lookup plus a constant-time hash
// comparison. Resolved tokens are cached for `cacheTtlMs`: a revocation through this process takes effect at
// once, one made through another process over the same database (PostgreSQL) within that TTL.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TenantRecord, TenantRepository, TenantTokenRecord } from '../store/tenants.ts';

/** How long a process trusts what it read about a token; also the bound on cross-process revocation delay. */
export const TOKEN_CACHE_TTL_MS = 5_000;

const TOKEN_PATTERN = /^vct_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** Cached lookups of unknown token ids are dropped past this many, so a flood of made-up tokens stays bounded. */
const MAX_CACHED_TOKENS = 100_000;

export interface TenantPrincipal {
  kind: 'tenant';
  tenantId: string;
  name: string;
  brands: ReadonlySet<string>;
}

export interface TenantView {
  id: string;
  name: string;
  brands: string[];
  createdAt: number;
  tokens: Array<{ tokenId: string; createdAt: number; revokedAt: number | null }>;
}

export interface IssuedToken {
  tokenId: string;
  /** the secret; shown to the caller once, never stored */
  token: string;
  createdAt: number;
}

interface CachedToken {
  record: TenantTokenRecord | undefined;
  tenant: TenantRecord | undefined;
  until: number;
}

export interface TenantDirectoryOptions {
  tenants: TenantRepository;
  cacheTtlMs?: number;
  now?: () => number;
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export class TenantDirectory {
  private readonly tenants: TenantRepository;
  private readonly cacheTtlMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, CachedToken>();
  private readonly loading = new Map<string, Promise<CachedToken>>();
  /** Revoked or deleted through this process: refused at once, whatever a concurrent database read still said. */
  private readonly revokedHere = new Set<string>();
  private readonly deletedHere = new Set<string>();

  constructor(options: TenantDirectoryOptions) {
    this.tenants = options.tenants;
    this.cacheTtlMs = options.cacheTtlMs ?? TOKEN_CACHE_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /** Create a tenant and its first token. Undefined when a live tenant already has this name. */
  async create(input: { name: string; brands: readonly string[] }): Promise<{ tenant: TenantRecord; issued: IssuedToken } | undefined> {
    const tenant: TenantRecord = { id: `tn_${randomBytes(8).toString('hex')}`, name: input.name, brands: [...new Set(input.brands)], createdAt: this.now() };
    const { record, issued } = this.newToken(tenant);
    // the database refuses a second live tenant of one name, also one created by another process at the same instant
    if (!(await this.tenants.create(tenant, record))) return undefined;
    this.remember(record, tenant);
    return { tenant, issued };
  }

  /** Every live tenant with its tokens (ids and times, never hashes). */
  async list(): Promise<TenantView[]> {
    const tenants = (await this.tenants.list()).filter((t) => t.deletedAt === undefined);
    return Promise.all(tenants.map((t) => this.view(t)));
  }

  async get(tenantId: string): Promise<TenantView | undefined> {
    const tenant = await this.liveTenant(tenantId);
    return tenant ? this.view(tenant) : undefined;
  }

  /** Issue one more token for a live tenant; undefined when there is none with this id. */
  async issueToken(tenantId: string): Promise<IssuedToken | undefined> {
    const tenant = await this.liveTenant(tenantId);
    if (!tenant) return undefined;
    const { record, issued } = this.newToken(tenant);
    // false: the tenant was deleted since (through another process)
    if (!(await this.tenants.insertToken(record))) return undefined;
    this.remember(record, tenant);
    return issued;
  }

  /** Revoke a token of a tenant; false when the tenant has no such token. Revoking twice is no error. */
  async revokeToken(tenantId: string, tokenId: string): Promise<boolean> {
    const record = await this.tenants.getToken(tokenId);
    if (!record || record.tenantId !== tenantId) return false;
    const at = this.now();
    await this.tenants.revokeToken(tokenId, at);
    this.revokedHere.add(tokenId);
    return true;
  }

  /** Delete a tenant: every one of its tokens is refused from now on. False when there is no live tenant with this id. */
  async delete(tenantId: string): Promise<boolean> {
    const tenant = await this.liveTenant(tenantId);
    if (!tenant) return false;
    const at = this.now();
    await this.tenants.delete(tenantId, at);
    this.deletedHere.add(tenantId);
    return true;
  }

  /** The tenant a token belongs to, or undefined when it is unknown, revoked, or its tenant deleted. */
  async resolve(token: string): Promise<TenantPrincipal | undefined> {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return undefined;
    const tokenId = match[1]!;
    const cached = this.cache.get(tokenId);
    const entry = cached && cached.until > this.now() ? cached : await this.load(tokenId);
    return this.principalOf(entry, token);
  }

  /** What this process last knew about a token, even past the TTL, without asking the database: for rate-limit keys only. */
  peek(token: string): TenantPrincipal | undefined {
    const match = TOKEN_PATTERN.exec(token);
    const cached = match ? this.cache.get(match[1]!) : undefined;
    return cached ? this.principalOf(cached, token) : undefined;
  }

  private load(tokenId: string): Promise<CachedToken> {
    let pending = this.loading.get(tokenId);
    if (!pending) {
      pending = (async () => {
        const record = await this.tenants.getToken(tokenId);
        const tenant = record ? await this.tenants.get(record.tenantId) : undefined;
        const entry: CachedToken = { record, tenant, until: this.now() + this.cacheTtlMs };
        if (this.cache.size >= MAX_CACHED_TOKENS) this.cache.clear();
        this.cache.set(tokenId, entry);
        return entry;
      })().finally(() => this.loading.delete(tokenId));
      this.loading.set(tokenId, pending);
    }
    return pending;
  }

  private principalOf(entry: CachedToken, token: string): TenantPrincipal | undefined {
    const { record, tenant } = entry;
    if (!record || record.revokedAt !== undefined || this.revokedHere.has(record.id)) return undefined;
    if (!tenant || tenant.deletedAt !== undefined || this.deletedHere.has(tenant.id)) return undefined;
    const actual = Buffer.from(hashToken(token), 'hex');
    const expected = Buffer.from(record.tokenHash, 'hex');
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return undefined;
    return { kind: 'tenant', tenantId: tenant.id, name: tenant.name, brands: new Set(tenant.brands) };
  }

  /** A new token of a tenant: the record to store, and the secret to show once. */
  private newToken(tenant: TenantRecord): { record: TenantTokenRecord; issued: IssuedToken } {
    const tokenId = randomBytes(8).toString('hex');
    const token = `vct_${tokenId}_${randomBytes(32).toString('base64url')}`;
    const record: TenantTokenRecord = { id: tokenId, tenantId: tenant.id, tokenHash: hashToken(token), createdAt: this.now() };
    return { record, issued: { tokenId, token, createdAt: record.createdAt } };
  }

  private remember(record: TenantTokenRecord, tenant: TenantRecord): void {
    this.cache.set(record.id, { record, tenant, until: this.now() + this.cacheTtlMs });
  }

  private async liveTenant(tenantId: string): Promise<TenantRecord | undefined> {
    const tenant = await this.tenants.get(tenantId);
    return tenant && tenant.deletedAt === undefined ? tenant : undefined;
  }

  private async view(tenant: TenantRecord): Promise<TenantView> {
    const tokens = await this.tenants.listTokens(tenant.id);
    return {
      id: tenant.id,
      name: tenant.name,
      brands: tenant.brands,
      createdAt: tenant.createdAt,
      tokens: tokens.map((t) => ({ tokenId: t.id, createdAt: t.createdAt, revokedAt: t.revokedAt ?? null })),
    };
  }
}

