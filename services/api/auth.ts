// Bearer-token authentication. Issue-3 scope: the admin token (VC_ADMIN_TOKEN, or generated into the data dir).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { Unauthorized } from './errors.ts';

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

export function requireAdmin(isAdmin: (token: string) => boolean) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    if (!token || !isAdmin(token)) throw new Unauthorized();
  };
}
