// Starts a throwaway InfluxDB 1.x (Debian's `influxd`) on free loopback ports with its data in a temp dir,
// for tests and benchmarks that need the real v1 HTTP surface.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findBinary, freePort, missingServer, tempDir, waitFor } from './system.ts';

export interface Influxd {
  /** base URL of the HTTP API, e.g. http://127.0.0.1:41234 */
  url: string;
  readonly pid: number;
  /** SIGTERM, SIGKILL after 5 s, then remove the data dir. Safe to call twice. */
  stop(): Promise<void>;
  /** Stop the server (SIGTERM, or SIGKILL as a crash) but keep its data: the store is down until up(). */
  down(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same port with the same data. */
  up(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;

/** The influxd binary to use, or the one-line reason the suite is skipped (throws in CI when missing). */
export function influxdOrSkip(): { binary: string; skip?: undefined } | { binary?: undefined; skip: string } {
  const binary = findBinary(['/usr/bin/influxd', 'influxd']);
  const why = missingServer('influxdb', binary);
  return binary === undefined ? { skip: why ?? 'influxdb not installed' } : { binary };
}

export interface InfluxdOptions {
  /** the influxd to run; found on the usual paths when omitted */
  binary?: string;
  /** HTTP auth on: the first request must create an admin user (`CREATE USER .. WITH ALL PRIVILEGES`) */
  auth?: boolean;
  /** how often influxd drops shard groups past their retention (`[retention] check-interval`, e.g. `1s`); default 30m */
  retentionCheckInterval?: string;
  /** `[http] max-row-limit`: rows of a non-chunked answer at most (0, influxd's default: no limit) */
  maxRowLimit?: number;
}

/**
 * Starts influxd; a string argument is the binary (the form earlier callers use). A port taken before influxd binds it
 * (tests and benchmarks run alongside) means another try on other ports.
 */
export async function startInfluxd(binaryOrOptions?: string | InfluxdOptions): Promise<Influxd> {
  const options = typeof binaryOrOptions === 'string' ? { binary: binaryOrOptions } : (binaryOrOptions ?? {});
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startOnce(options: InfluxdOptions): Promise<Influxd> {
  const binary = options.binary ?? findBinary(['/usr/bin/influxd', 'influxd']);
  if (!binary) throw new Error('influxd not found (apt-get install influxdb)');
  const dir = await tempDir('influxd');
  const httpPort = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === httpPort) rpcPort = await freePort();
  for (const sub of ['meta', 'data', 'wal']) await mkdir(join(dir.path, sub));
  const configPath = join(dir.path, 'influxd.conf');
  await writeFile(configPath, influxdConfig(dir.path, httpPort, rpcPort, options.auth ?? false, options.retentionCheckInterval ?? '30m', options.maxRowLimit ?? 0));

  const logPath = join(dir.path, 'influxd.log');
  const url = `http://127.0.0.1:${httpPort}`;
  let server = launch(binary, configPath, logPath);
  if (server.pid === undefined) {
    await server.exited;
    await dir.remove();
    throw new Error(`could not spawn ${binary}`);
  }
  // A test file that exits without stop() must leave neither a server nor its data behind.
  const killOnExit = () => {
    try {
      if (!server.hasExited() && server.pid !== undefined) process.kill(server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir.path, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    if (server.hasExited()) return;
    server.child.kill(signal);
    const timer = setTimeout(() => {
      if (!server.hasExited()) server.child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await server.exited;
    clearTimeout(timer);
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await halt('SIGTERM');
      process.removeListener('exit', killOnExit);
      await dir.remove();
    })();
    return stopping;
  };

  const ready = async (): Promise<void> => {
    let state: 'up' | 'exited';
    try {
      state = await waitFor(`influxd /ping on ${url}`, async () => {
        if (server.hasExited()) return 'exited' as const;
        const res = await fetch(`${url}/ping`);
        return res.status === 204 ? ('up' as const) : undefined;
      }, 30_000, 100);
    } catch (err) {
      const message = `${String(err)}\n${tail(logPath)}`;
      await stop();
      throw new Error(message);
    }
    if (state === 'exited') {
      const message = `influxd exited at start:\n${tail(logPath)}`;
      await stop();
      throw new Error(message);
    }
  };
  await ready();

  const influxd: Influxd = {
    url,
    get pid() {
      return server.pid ?? -1;
    },
    stop,
    async down(signal: NodeJS.Signals = 'SIGTERM') {
      await halt(signal);
    },
    async up() {
      if (!server.hasExited()) return;
      server = launch(binary, configPath, logPath);
      await ready();
    },
  };
  return influxd;
}

interface LaunchedInfluxd {
  child: ChildProcess;
  pid: number | undefined;
  exited: Promise<void>;
  hasExited(): boolean;
}

function launch(binary: string, configPath: string, logPath: string): LaunchedInfluxd {
  const log = openSync(logPath, 'a');
  const child = spawn(binary, ['run', '-config', configPath], { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    const done = () => {
      exited = true;
      resolve();
    };
    child.once('exit', done);
    child.once('error', done);
  });
  return { child, pid: child.pid, exited: exitedPromise, hasExited: () => exited };
}

function influxdConfig(dir: string, httpPort: number, rpcPort: number, auth: boolean, retentionCheckInterval: string, maxRowLimit: number): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[retention]
  enabled = true
  check-interval = "${retentionCheckInterval}"

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = ${auth}
  max-row-limit = ${maxRowLimit}
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false
`;
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no influxd log)';
  }
}
