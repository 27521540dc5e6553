// vehicle-cloud as a child process, exactly as `npm start` runs it, for tests (kill -9, restarts, several workers) and
// benchmarks (its CPU and memory its own); spawnFreshService picks its ports and data dir. Loads nothing of the
// service into this process (local-service.ts does, to run it here).
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, ROOT, tempDir, terminate, TS_EXEC_ARGV, waitFor } from './system.ts';

/**
 * One call to a running service's API that answers every status (callers look at 4xx too): the body parsed as JSON
 * when it is JSON, else its text (/metrics). A string body is sent as it is, anything else as JSON.
 */
export async function apiCall<T>(baseUrl: string, method: string, path: string, options: { body?: unknown; token: string; timeoutMs?: number }): Promise<{ status: number; body: T }> {
  const { body, token, timeoutMs } = options;
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (/metrics)
  }
  return { status: response.status, body: parsed as T };
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** http://VC_HOST:VC_HTTP_PORT */
  readonly apiUrl: string;
  /** what it printed (pino logs on stdout, a crash on stderr), up to its last MiB */
  output(): string;
  /** its last five lines on one line, to explain a failure */
  logTail(): string;
  /** `signal` (SIGTERM: the service drains and stops), SIGKILL after 20 s; resolves when it is gone */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  /** what must answer 200 before the start resolves: /healthz (it serves, the default) or /readyz (its store and broker are up) */
  readyPath?: '/healthz' | '/readyz';
}

const STOP_GRACE_MS = 20_000;
const START_TIMEOUT_MS = 90_000;
const OUTPUT_CHARS = 1 << 20;

/** `services/server.ts` as a child process with `env` over this process's (VC_LOG_LEVEL=warn unless given). */
export async function spawnService(env: Record<string, string>, options: SpawnOptions = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...TS_EXEC_ARGV, 'services/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, VC_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => (output = (output + chunk).slice(-OUTPUT_CHARS)));
  }
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  // a run that exits without stop() must not leave the service behind
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const logTail = (): string => output.trim().split('\n').slice(-5).join(' | ');
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    await terminate(child, STOP_GRACE_MS, signal);
    // 'close' comes after 'exit', once the output is read to its end
    await closed;
    process.removeListener('exit', killOnExit);
  };
  const apiUrl = `http://${env.VC_HOST ?? '127.0.0.1'}:${env.VC_HTTP_PORT}`;
  const readyPath = options.readyPath ?? '/healthz';
  try {
    await waitFor(
      `vehicle-cloud ${readyPath}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`vehicle-cloud exited: ${output.slice(-2000)}`);
        const r = await fetch(`${apiUrl}${readyPath}`);
        return r.ok ? true : undefined;
      },
      START_TIMEOUT_MS,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, pid: child.pid ?? -1, apiUrl, output: () => output, logTail, stop };
}

/**
 * spawnService on free loopback ports with a temp data dir (removed at stop), resolved once /readyz says ready. A port
 * taken before the service binds it (tests run alongside) means another try with other ports.
 */
export async function spawnFreshService(env: Record<string, string>): Promise<ServiceProcess & { mqttUrl: string }> {
  for (let attempt = 1; ; attempt++) {
    const data = await tempDir('service');
    const httpPort = await freePort();
    const mqttPort = env.VC_MQTT_URL ? 0 : await freePort();
    try {
      const service = await spawnService({ VC_HOST: '127.0.0.1', VC_HTTP_PORT: String(httpPort), VC_MQTT_PORT: String(mqttPort), VC_DATA_DIR: data.path, ...env }, { readyPath: '/readyz' });
      return {
        ...service,
        mqttUrl: env.VC_MQTT_URL ?? `mqtt://127.0.0.1:${mqttPort}`,
        stop: async (signal) => {
          await service.stop(signal);
          await data.remove();
        },
      };
    } catch (err) {
      await data.remove();
      if (attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String(err))) throw err;
    }
  }
}
