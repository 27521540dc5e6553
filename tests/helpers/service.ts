// Start a vehicle-cloud service for a test, in-process or as a child process, and talk to its API.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { configFrom, type ServiceConfig } from '../../services/config.ts';
import { createLogger } from '../../services/observability/logger.ts';
import { startService, type RunningService } from '../../services/service.ts';
import { freePort, tempDir, waitFor } from '../../tooling/system.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function startTestService(overrides: Partial<ServiceConfig> = {}): Promise<RunningService & { cleanup: () => Promise<void> }> {
  const data = overrides.dataDir ? undefined : await tempDir('service');
  const config = configFrom({
    host: '127.0.0.1',
    httpPort: 0,
    mqttPort: 0,
    adminToken: `test-admin-${randomBytes(8).toString('hex')}`,
    logLevel: 'warn',
    dataDir: data?.path,
    ...overrides,
  });
  const service = await startService(config, { logger: createLogger(process.env.VC_TEST_LOG ?? 'silent') });
  return {
    ...service,
    cleanup: async () => {
      await service.stop();
      await data?.remove();
    },
  };
}

export interface Api {
  get<T = unknown>(path: string, token?: string): Promise<{ status: number; body: T }>;
  post<T = unknown>(path: string, body: unknown, token?: string): Promise<{ status: number; body: T }>;
}

export function apiClient(baseUrl: string, adminToken: string): Api {
  const call = async <T>(method: string, path: string, body: unknown, token: string | undefined): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (metrics)
    }
    return { status: response.status, body: parsed as T };
  };
  return {
    get: (path, token) => call('GET', path, undefined, token),
    post: (path, body, token) => call('POST', path, body, token),
  };
}

export interface Registration {
  vin: string;
  brand: string;
  model: string;
  mqtt: { username: string; password: string; topic: string; url: string };
}

/** Deterministic valid VINs (ISO 3779 characters) for tests. */
export function testVin(n: number, prefix = 'TST'): string {
  const alphabet = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
  let s = '';
  let x = n;
  for (let i = 0; i < 8; i++) {
    s = alphabet[x % alphabet.length] + s;
    x = Math.floor(x / alphabet.length);
  }
  return `${prefix}${'0'.repeat(9 - prefix.length)}${s}`;
}

export async function registerVehicles(api: Api, vins: readonly string[], brand = 'Voltra', model = 'E-Cross'): Promise<Map<string, Registration>> {
  const out = new Map<string, Registration>();
  for (let i = 0; i < vins.length; i += 20) {
    const chunk = vins.slice(i, i + 20);
    const results = await Promise.all(chunk.map((vin) => api.post<Registration>('/api/v1/vehicles', { vin, brand, model, year: 2025, powertrain: 'bev' })));
    for (const r of results) {
      if (r.status !== 201) throw new Error(`registration failed: ${r.status} ${JSON.stringify(r.body)}`);
      out.set(r.body.vin, r.body);
    }
  }
  return out;
}

export async function connectMqtt(url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed')));
  });
  return client;
}

export function publishQos1(client: MqttClient, topic: string, payload: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

/** Start the service as a separate process (for kill -9 tests); resolves once /healthz answers. */
export async function spawnService(env: Record<string, string>): Promise<{ child: ChildProcess; stop: (signal?: NodeJS.Signals) => Promise<void>; output: () => string }> {
  let output = '';
  // the tests' own loader (not tsx) so that the child's coverage maps to real lines too
  const child = spawn(process.execPath, ['--enable-source-maps', '--import', './tests/loader/register.mjs', 'services/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, VC_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${env.VC_HOST ?? '127.0.0.1'}:${env.VC_HTTP_PORT}`;
  await waitFor(
    'service /healthz',
    async () => {
      if (child.exitCode !== null) throw new Error(`service exited: ${output.slice(-2000)}`);
      const r = await fetch(`${url}/healthz`);
      return r.ok ? true : undefined;
    },
    60_000,
    100,
  );
  return {
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export { freePort };
