// Bearer-token authentication: who is calling (a Principal) and which brands it may see. The admin token
// (VC_ADMIN_TOKEN, or generated into the data dir) sees everything.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { Forbidden, Unauthorized } from './errors.ts';

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface AdminToken {
  token: string;
  /** where it came from: the environment, the data dir, or generated now */
  source: 'env' | 'file' | 'generated';
  path?: string;
}

/** VC_ADMIN_TOKEN when set; otherwise the token kept (0600) in the data dir, generated on first start. */
export function resolveAdminToken(configured: string | undefined, dataDir: string): AdminToken {
  if (configured) return { token: configured, source: 'env' };
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(path)) {
    const token = readFileSync(path, 'utf8').trim();
    if (token.length >= 16) return { token, source: 'file', path };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = `vca_${randomBytes(24).toString('base64url')}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, source: 'generated', path };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time comparison against the admin token. */
export function tokenMatcher(expected: string): (candidate: string) => boolean {
  const want = digest(expected);
  return (candidate) => timingSafeEqual(digest(candidate), want);
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Who is calling. A tenant (automaker) sees only its brands; anything else is a 404, never a 403. */
export type Principal = { kind: 'admin' } | { kind: 'tenant'; tenantId: string; name: string; brands: ReadonlySet<string> };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export function canSeeBrand(principal: Principal, brand: string): boolean {
  return principal.kind === 'admin' || principal.brands.has(brand);
}

/** Turns a bearer token into a Principal; undefined when the token is unknown or revoked. */
export type PrincipalResolver = (token: string) => Principal | undefined | Promise<Principal | undefined>;

/** onRequest hook: authenticate the caller and set `request.principal`, or answer 401. */
export function requirePrincipal(resolve: PrincipalResolver) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    const principal = token ? await resolve(token) : undefined;
    if (!principal) throw new Unauthorized();
    request.principal = principal;
  };
}

/** onRequest hook for admin-only routes. */
export function requireAdmin(resolve: PrincipalResolver) {
  const authenticate = requirePrincipal(resolve);
  return async (request: FastifyRequest): Promise<void> => {
    await authenticate(request);
    if (request.principal.kind !== 'admin') throw new Forbidden();
  };
}
