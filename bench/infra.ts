// The servers a benchmark run starts for itself: Mosquitto and influxd through the test harness (loopback, free
// ports, temp dirs, max_queued_messages 0), and vehicle-cloud as a child process exactly as `npm start` runs it.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { TS_EXEC_ARGV } from './rpc.ts';
import { freePort, tempDir, waitFor } from '../tooling/system.ts';

import { startInfluxd, type Influxd } from '../tooling/influxd.ts';

export { influxdOrSkip, type Influxd } from '../tooling/influxd.ts';
export { startMosquitto, MOSQUITTO_BINARY, type MosquittoBroker } from '../tooling/mosquitto.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BENCH_ADMIN_TOKEN = 'bench-admin-token-not-secret-0123456789';

export interface VehicleCloudProcess {
  apiUrl: string;
  /** the embedded broker, or the external one it subscribes to */
  mqttUrl: string;
  pid: number;
  /** the last lines it logged (warnings and errors: it runs with VC_LOG_LEVEL=warn), to explain a failure */
  logTail(): string;
  /** SIGTERM (the service drains and stops), SIGKILL after 20 s; removes its data dir */
  stop(): Promise<void>;
}

/** Start `services/server.ts` with `env` on free loopback ports; resolves once /readyz says ready. */
export async function spawnVehicleCloud(env: Record<string, string>): Promise<VehicleCloudProcess> {
  // a free port can be taken before the service binds it (tests run alongside): try other ports
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(env);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String(err))) throw err;
    }
  }
}

async function spawnOnce(env: Record<string, string>): Promise<VehicleCloudProcess> {
  const data = await tempDir('bench-service');
  const httpPort = await freePort();
  const mqttPort = env.VC_MQTT_URL ? 0 : await freePort();
  const child = spawn(process.execPath, [...TS_EXEC_ARGV, 'services/server.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      VC_HOST: '127.0.0.1',
      VC_HTTP_PORT: String(httpPort),
      VC_MQTT_PORT: String(mqttPort),
      VC_DATA_DIR: data.path,
      VC_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      VC_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // pino logs to stdout, a crash to stderr: both feed the tail
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => (output = (output + chunk).slice(-8_000)));
  }
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const apiUrl = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);
    await data.remove();
  };
  try {
    await waitFor(
      'vehicle-cloud /readyz',
      async () => {
        if (child.exitCode !== null) throw new Error(`vehicle-cloud exited: ${output.trim().split('\n').slice(-5).join(' | ')}`);
        const r = await fetch(`${apiUrl}/readyz`);
        return r.ok ? true : undefined;
      },
      90_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { apiUrl, mqttUrl: env.VC_MQTT_URL ?? `mqtt://127.0.0.1:${mqttPort}`, pid: child.pid ?? -1, logTail: () => output.trim().split('\n').slice(-5).join(' | '), stop };
}

/** Whole-machine CPU counters (all cores), to tell our processes' load from everyone else's. */
export async function machineCpu(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** influxd on a fresh free port; a port taken before influxd binds it (tests run alongside) means another try. */
export async function startFreshInfluxd(binary: string | undefined): Promise<Influxd> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startInfluxd(binary ? { binary } : {});
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}
