// Operations: rate limits per token (API and HTTP ingest counted apart, probes never limited) and request logs
// that never contain a token or a password, whatever the caller sends.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import t from 'tap';
import { configFrom } from '../../services/config.ts';
import { createLogger } from '../../services/observability/logger.ts';
import { startService } from '../../services/service.ts';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin, type Registration } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { freePort, tempDir } from '../../tooling/system.ts';

async function get(url: string, authorization?: string): Promise<Response> {
  return fetch(url, { headers: authorization ? { authorization } : {} });
}

const bearer = (token: string) => `Bearer ${token}`;
const basic = (reg: Registration, password = reg.mqtt.password) => `Basic ${Buffer.from(`${reg.mqtt.username}:${password}`).toString('base64')}`;
const reading = (vin: string, seq: number) => JSON.stringify({ vin, ts: Date.now() - 1000 + seq, seq, signals: { 'Vehicle.Speed': 30 } });

t.test('rate limits per token', async (t) => {
  const service = await startLocalService({ rateLimit: 20, rateLimitIngest: 3 });
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, service.adminToken.token);
  const vin = testVin(1, 'RTL');
  const reg = (await registerVehicles(api, [vin], 'Aurora', 'A1')).get(vin)!;
  const tenant = async (name: string) =>
    (await api.post<{ token: string }>('/api/v1/tenants', { name, brands: ['Aurora'] })).body.token;
  const [first, second, third] = [await tenant('Rate One'), await tenant('Rate Two'), await tenant('Rate Three')];
  const ingest = (authorization: string, seq: number) =>
    fetch(`${service.apiUrl}/api/v1/telemetry`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: reading(vin, seq) });

  await t.test('a token gets VC_RATE_LIMIT API requests a minute, then 429 RATE_LIMITED with Retry-After', async (t) => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await get(`${service.apiUrl}/api/v1/vehicles`, bearer(first))).status);
    t.same(new Set(statuses), new Set([200]));
    const limited = await get(`${service.apiUrl}/api/v1/vehicles/${vin}`, bearer(first));
    t.equal(limited.status, 429);
    t.match(await limited.json(), { statusCode: 429, code: 'RATE_LIMITED', message: /^rate limit exceeded; retry in \d+ (second|minute)/ });
    t.ok(Number(limited.headers.get('retry-after')) > 0, 'Retry-After says when');
  });

  await t.test('every token has its own budget; the admin token is not limited', async (t) => {
    t.equal((await get(`${service.apiUrl}/api/v1/vehicles`, bearer(second))).status, 200);
    for (let i = 0; i < 25; i++) t.equal((await get(`${service.apiUrl}/api/v1/vehicles`, bearer(service.adminToken.token))).status, 200);
  });

  await t.test('HTTP ingest is counted apart from the API, per credential', async (t) => {
    const tenantIngest: number[] = [];
    for (let seq = 0; seq < 4; seq++) tenantIngest.push((await ingest(bearer(third), seq)).status);
    t.same(tenantIngest, [200, 200, 200, 429], 'VC_RATE_LIMIT_INGEST posts a minute');
    t.equal((await get(`${service.apiUrl}/api/v1/vehicles`, bearer(third))).status, 200, 'the same token still has its API budget');
    const vehicleIngest: number[] = [];
    for (let seq = 10; seq < 14; seq++) vehicleIngest.push((await ingest(basic(reg), seq)).status);
    t.same(vehicleIngest, [200, 200, 200, 429], 'a vehicle posting with its MQTT credentials has a budget of its own');
  });

  await t.test('unknown credentials share the budget of their client address', async (t) => {
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await get(`${service.apiUrl}/api/v1/vehicles`, bearer(`vct_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`))).status);
    t.same(statuses.slice(0, 20), Array(20).fill(401), 'made-up tokens are refused');
    t.equal(statuses[20], 429, 'and, together, limited like one caller');
    t.equal((await get(`${service.apiUrl}/api/v1/nowhere`)).status, 429, 'unknown routes count too');
  });

  await t.test('probes, metrics and the OpenAPI document are never limited', async (t) => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/docs/json']) {
      const statuses = new Set<number>();
      for (let i = 0; i < 25; i++) statuses.add((await get(`${service.apiUrl}${path}`)).status);
      t.same(statuses, new Set([200]), path);
    }
  });
});

t.test('request logs never contain tokens or passwords', async (t) => {
  let logged = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString('utf8');
      done();
    },
  });
  const data = await tempDir('logging');
  const adminToken = `test-admin-${randomBytes(12).toString('hex')}`;
  const service = await startService(configFrom({ host: '127.0.0.1', httpPort: 0, mqttPort: 0, dataDir: data.path, adminToken }), { logger: createLogger('trace', 'vehicle-cloud', sink) });
  t.teardown(async () => {
    await service.stop();
    await data.remove();
  });
  const api = apiClient(service.apiUrl, adminToken);
  const vin = testVin(1, 'LGS');
  const reg = (await registerVehicles(api, [vin], 'Aurora', 'A1')).get(vin)!;
  const created = await api.post<{ token: string; id: string }>('/api/v1/tenants', { name: 'Logged Motors', brands: ['Aurora'] });
  const tenantToken = created.body.token;
  const extra = await api.post<{ token: string }>(`/api/v1/tenants/${created.body.id}/tokens`, undefined);
  const wrongToken = `vct_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const wrongPassword = randomBytes(18).toString('base64url');

  t.equal((await get(`${service.apiUrl}/api/v1/vehicles/${vin}`, bearer(adminToken))).status, 200);
  t.equal((await get(`${service.apiUrl}/api/v1/vehicles?brand=Aurora`, bearer(tenantToken))).status, 200);
  t.equal((await get(`${service.apiUrl}/api/v1/vehicles`, bearer(extra.body.token))).status, 200);
  t.equal((await get(`${service.apiUrl}/api/v1/vehicles`, bearer(wrongToken))).status, 401);
  t.equal((await get(`${service.apiUrl}/api/v1/vehicles`, basic(reg))).status, 401, 'vehicle credentials outside ingest');
  const post = (authorization: string, body: string) => fetch(`${service.apiUrl}/api/v1/telemetry`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body });
  t.equal((await post(basic(reg), reading(vin, 1))).status, 200);
  t.equal((await post(basic(reg, wrongPassword), reading(vin, 2))).status, 401);
  t.equal((await post(basic(reg), '{"vin": broken')).status, 400, 'a failing request is logged too');
  t.equal((await get(`${service.apiUrl}/api/v1/nowhere`, bearer(tenantToken))).status, 404);
  const vehicle = await connectMqtt(service.mqttUrl, { clientId: vin, username: vin, password: reg.mqtt.password });
  await publishQos1(vehicle, telemetryTopic(vin), reading(vin, 3));
  await vehicle.endAsync();
  await t.rejects(connectMqtt(service.mqttUrl, { clientId: vin, username: vin, password: wrongPassword }));
  await t.rejects(connectMqtt(service.mqttUrl, { clientId: 'admin-probe', username: 'admin', password: wrongToken }));

  t.match(logged, /"msg":"incoming request"/, 'requests were logged at all (the check below is not vacuous)');
  t.match(logged, /mqtt_auth_refused/, 'and refused MQTT logins');
  const secrets = {
    'admin token': adminToken,
    'tenant token': tenantToken,
    'second tenant token': extra.body.token,
    'made-up token': wrongToken,
    'vehicle password': reg.mqtt.password,
    'wrong password': wrongPassword,
    'Basic credentials': basic(reg).slice('Basic '.length),
  };
  for (const [what, secret] of Object.entries(secrets)) t.notOk(logged.includes(secret), `no ${what} in the log`);
});

t.test("a registration answer names the broker vehicles connect to, never with the service's own broker login", async (t) => {
  const port = await freePort();
  const external = await startLocalService({ mqttUrl: `mqtt://ingest:broker-secret@127.0.0.1:${port}` });
  t.teardown(external.cleanup);
  const answer = (await registerVehicles(apiClient(external.apiUrl, external.adminToken.token), [testVin(1, 'PUB')])).get(testVin(1, 'PUB'))!;
  t.equal(answer.mqtt.url, `mqtt://127.0.0.1:${port}`, 'VC_MQTT_URL without its credentials');
  const published = await startLocalService({ mqttPublicUrl: 'mqtts://vehicles.example.com:8883' });
  t.teardown(published.cleanup);
  const other = (await registerVehicles(apiClient(published.apiUrl, published.adminToken.token), [testVin(2, 'PUB')])).get(testVin(2, 'PUB'))!;
  t.equal(other.mqtt.url, 'mqtts://vehicles.example.com:8883', 'VC_MQTT_PUBLIC_URL when it is set');
});
