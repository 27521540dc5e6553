// Plumbing for whatever starts real servers (tests, benchmarks): free loopback ports, temp dirs, binaries, polling,
// and the CI rule that a missing server binary fails the run in CI but only skips (with a one-line reason) elsewhere.
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accessSync, constants } from 'node:fs';

/** The repository's root directory. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The loader flags of this process (tsx, or the tests' loader under tap), so that a TypeScript child runs alike. */
export const TS_EXEC_ARGV: string[] = process.execArgv.length > 0 ? process.execArgv : ['--import', 'tsx'];

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `vc-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** First executable found among `candidates` (absolute paths or names looked up on PATH). */
export function findBinary(candidates: readonly string[]): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin']);
  for (const candidate of candidates) {
    const paths = candidate.includes('/') ? [candidate] : dirs.map((d) => join(d, candidate));
    for (const path of paths) {
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * Why a suite needing `binary` cannot run, or undefined when it can. In CI a missing binary throws: no suite
 * may skip there.
 */
export function missingServer(name: string, binary: string | undefined): string | undefined {
  if (binary) return undefined;
  const why = `${name} not installed (apt-get install ${name})`;
  if (IN_CI) throw new Error(`${why}: required in CI`);
  return why;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** Send `signal` (SIGTERM by default), SIGKILL after `graceMs` (at once when 0); resolves when the process is gone. */
export async function terminate(proc: ChildProcess | undefined, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(graceMs > 0 ? signal : 'SIGKILL');
  const timer = graceMs > 0 ? setTimeout(() => proc.kill('SIGKILL'), graceMs) : undefined;
  await gone;
  clearTimeout(timer);
}
