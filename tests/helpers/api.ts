// How the suites talk to a running service (started by tooling/service.ts): an untyped HTTP client that answers every
// status (tests look at 4xx too), test VINs, registration, and MQTT publishing at QoS 1.
import mqtt, { type MqttClient } from 'mqtt';
import { apiCall } from '../../tooling/service.ts';

export interface Api {
  get<T = unknown>(path: string, token?: string): Promise<{ status: number; body: T }>;
  post<T = unknown>(path: string, body: unknown, token?: string): Promise<{ status: number; body: T }>;
}

export function apiClient(baseUrl: string, adminToken: string): Api {
  return {
    get: (path, token) => apiCall(baseUrl, 'GET', path, { token: token ?? adminToken }),
    post: (path, body, token) => apiCall(baseUrl, 'POST', path, { body, token: token ?? adminToken }),
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
