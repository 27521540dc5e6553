// Authentication: who is calling (a Principal) and which brands it may see. The admin token (VC_ADMIN_TOKEN, or
// generated into the data dir) sees everything; a tenant token sees its brands; on HTTP ingest a vehicle may also
// log in with its MQTT credentials (HTTP Basic) and post only its own telemetry.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { VIN_PATTERN } from '../contract/telemetry.ts';
import { secretMatches, type VehicleRegistry } from '../registry/registry.ts';
import type { TenantDirectory, TenantPrincipal } from '../tenants/tenants.ts';
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

/**
 * What a start prints about the admin token (on the terminal, never in a log line): the token itself only the once
 * it is generated, afterwards where it is kept.
 */
export function adminTokenNotice(admin: AdminToken): string {
  if (admin.source === 'generated') return `${admin.token}   (generated now and kept in ${admin.path}; printed only this once)`;
  return admin.source === 'file' ? `kept in ${admin.path}` : 'from VC_ADMIN_TOKEN';
}

/** How a shell command refers to the admin token without spelling it out. */
export function adminTokenShellRef(admin: AdminToken): string {
  return admin.source === 'env' ? '$VC_ADMIN_TOKEN' : `$(cat '${admin.path}')`;
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
export type Principal = { kind: 'admin' } | TenantPrincipal;

/** Who may post telemetry over HTTP: an API principal, or one vehicle with its MQTT credentials. */
export type IngestCaller = Principal | { kind: 'vehicle'; vin: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /** set on HTTP ingest only */
    ingestCaller: IngestCaller;
  }
}

const ADMIN: Principal = { kind: 'admin' };

/** The admin token first (constant time), then tenant tokens. */
export function principalResolver(isAdmin: (token: string) => boolean, tenants: Pick<TenantDirectory, 'resolve'>): PrincipalResolver {
  return (token) => (isAdmin(token) ? ADMIN : tenants.resolve(token));
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

/** `Authorization: Basic base64(username:password)`, or undefined. */
export function basicCredentials(request: FastifyRequest): { username: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** onRequest hook of HTTP ingest: a vehicle's MQTT credentials (Basic) or a bearer token; 401 otherwise. */
export function requireIngestCaller(resolve: PrincipalResolver, registry: Pick<VehicleRegistry, 'get'>) {
  const authenticate = requirePrincipal(resolve);
  return async (request: FastifyRequest): Promise<void> => {
    const basic = basicCredentials(request);
    if (!basic) {
      await authenticate(request);
      request.ingestCaller = request.principal;
      return;
    }
    // not a VIN: no store lookup (keeps garbage logins off the store)
    const vehicle = VIN_PATTERN.test(basic.username) ? await registry.get(basic.username) : undefined;
    if (!vehicle || !secretMatches(basic.password, vehicle.credentialHash)) throw new Unauthorized();
    request.ingestCaller = { kind: 'vehicle', vin: vehicle.vin };
  };
}

export interface CallerKeyOptions {
  isAdminToken: (token: string) => boolean;
  tenants: Pick<TenantDirectory, 'peek'>;
  registry: Pick<VehicleRegistry, 'peek'>;
}

/**
 * A stable, non-secret key for a credential this process already knows, without asking the store (rate
 * limiting runs before authentication): a hash prefix of a bearer token, or a vehicle's VIN. Undefined for
 * anything else, which is then limited by client address, so made-up tokens cannot each get their own budget.
 */
export function knownCallerKey(request: FastifyRequest, options: CallerKeyOptions): string | undefined {
  const token = bearerToken(request);
  if (token !== undefined) {
    return options.isAdminToken(token) || options.tenants.peek(token) ? `token:${digest(token).toString('hex').slice(0, 32)}` : undefined;
  }
  const basic = basicCredentials(request);
  const vehicle = basic && VIN_PATTERN.test(basic.username) ? options.registry.peek(basic.username) : undefined;
  return vehicle && secretMatches(basic!.password, vehicle.credentialHash) ? `vehicle:${vehicle.vin}` : undefined;
}

/** onRequest hook for admin-only routes. */
export function requireAdmin(resolve: PrincipalResolver) {
  const authenticate = requirePrincipal(resolve);
  return async (request: FastifyRequest): Promise<void> => {
    await authenticate(request);
    if (request.principal.kind !== 'admin') throw new Forbidden();
  };
}
