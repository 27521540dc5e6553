// Where the command-line tools (fleet simulator, load tester) find the service's admin token: --token, else
// VC_ADMIN_TOKEN, else the file the service generates into its data dir on first start.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ADMIN_TOKEN_FILE } from '../services/api/auth.ts';

export { ADMIN_TOKEN_FILE };

/** The service's admin-token file as seen from `cwd`: in VC_DATA_DIR, ./data when unset (as the service reads it). */
export function adminTokenPath(env: NodeJS.ProcessEnv, cwd: string): string {
  return resolve(cwd, env.VC_DATA_DIR ?? './data', ADMIN_TOKEN_FILE);
}

/** The admin token: the flag's, else VC_ADMIN_TOKEN, else the data dir's file; undefined when none is set. */
export function findAdminToken(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (flag) return flag;
  if (env.VC_ADMIN_TOKEN) return env.VC_ADMIN_TOKEN;
  const path = adminTokenPath(env, cwd);
  if (!existsSync(path)) return undefined;
  return readFileSync(path, 'utf8').trim() || undefined;
}
