// Starts a throwaway PostgreSQL (Debian's `postgresql`) on a free loopback port with its cluster in a temp dir,
// for tests of the metadata database and benchmarks. PostgreSQL refuses to run as root: as root, initdb and postgres run as the
// `postgres` user (spawned with its uid, so the PID we stop is the server's own), in a temp dir owned by it.
// Password authentication (scram) is on, so URLs carry a password as a deployment's do.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findBinary, freePort, missingServer, tempDir, waitFor } from './system.ts';

const run = promisify(execFile);
const STOP_GRACE_MS = 5_000;

/** The bin dir of the newest installed PostgreSQL (Debian: /usr/lib/postgresql/<major>/bin), or one on PATH. */
function postgresBinDir(): string | undefined {
  let majors: string[] = [];
  try {
    majors = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  } catch {
    // not Debian's layout
  }
  for (const major of majors) {
    const dir = `/usr/lib/postgresql/${major}/bin`;
    if (findBinary([join(dir, 'postgres')]) && findBinary([join(dir, 'initdb')])) return dir;
  }
  const onPath = findBinary(['postgres']);
  return onPath && findBinary(['initdb']) ? onPath.slice(0, onPath.lastIndexOf('/')) : undefined;
}

export const POSTGRES_BIN_DIR = postgresBinDir();

/** The bin dir to use, or the one-line reason the suite is skipped (throws in CI when PostgreSQL is missing). */
export function postgresOrSkip(): { binDir: string; skip?: undefined } | { binDir?: undefined; skip: string } {
  const why = missingServer('postgresql', POSTGRES_BIN_DIR);
  return POSTGRES_BIN_DIR === undefined ? { skip: why ?? 'postgresql not installed' } : { binDir: POSTGRES_BIN_DIR };
}

export interface Postgres {
  /** the superuser's URL to the `postgres` database, password included */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Create an empty database; resolves its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Run one statement as the superuser on a database URL (to look inside, as psql would). */
  query(url: string, sql: string, params?: unknown[]): Promise<unknown[][]>;
  /** SIGINT (fast shutdown), SIGKILL after 5 s, then remove the cluster. Safe to call twice. */
  stop(): Promise<void>;
}

/** As root: the postgres user's ids, since the server refuses to run as root. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

let databases = 0;

export async function startPostgres(binDir = POSTGRES_BIN_DIR): Promise<Postgres> {
  if (!binDir) throw new Error('postgres not found (apt-get install postgresql)');
  const user = serverUser();
  const dir = await tempDir('postgres');
  const cluster = join(dir.path, 'cluster');
  const password = randomBytes(12).toString('hex');
  const passwordFile = join(dir.path, 'password');
  await mkdir(cluster, { mode: 0o700 });
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user) for (const path of [dir.path, cluster, passwordFile]) await chown(path, user.uid, user.gid);
  const asServer = { cwd: dir.path, ...(user ?? {}) };
  try {
    await run(join(binDir, 'initdb'), ['-D', cluster, '-U', 'postgres', `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale', '--no-sync'], asServer);
  } catch (err) {
    await dir.remove();
    throw new Error(`initdb failed: ${String(err)}`);
  }

  const port = await freePort();
  const logPath = join(dir.path, 'postgres.log');
  const log = openSync(logPath, 'a');
  // durability settings off: a test cluster is thrown away, and fsync would only slow the suites
  const server: ChildProcess = spawn(
    join(binDir, 'postgres'),
    ['-D', cluster, '-p', String(port), '-k', dir.path, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    { ...asServer, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    server.once('exit', () => ((exited = true), resolve()));
    server.once('error', () => ((exited = true), resolve()));
  });
  // A test file that exits without stop() must leave neither a server nor its data behind.
  const killOnExit = () => {
    try {
      if (!exited && server.pid !== undefined) process.kill(server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir.path, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        server.kill('SIGINT');
        const timer = setTimeout(() => server.kill('SIGKILL'), STOP_GRACE_MS);
        await exit;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      await dir.remove();
    })();
    return stopping;
  };

  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const query = async (target: string, sql: string, params: unknown[] = []): Promise<unknown[][]> => {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      return (await client.query<unknown[]>({ text: sql, values: params, rowMode: 'array' })).rows;
    } finally {
      await client.end();
    }
  };
  try {
    await waitFor(`postgres on 127.0.0.1:${port}`, async () => {
      if (exited) throw new Error(`postgres exited at start:\n${tail(logPath)}`);
      await query(url, 'SELECT 1');
      return true;
    }, 30_000, 100);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    port,
    pid: server.pid ?? -1,
    query,
    async createDatabase(name = `vc_test_${++databases}`) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`test bug: ${name} is not a plain database name`);
      await query(url, `CREATE DATABASE ${name}`);
      return `postgres://postgres:${password}@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no postgres log)';
  }
}
