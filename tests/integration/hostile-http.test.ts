// Hostile input the HTTP surface met when tried as an attacker would: JSON nested thousands of levels deep, requests
// Node's HTTP parser refuses before Fastify sees them, a `__proto__` signal, names carrying wildcards and quotes. Each
// gets its documented answer in the `{statusCode, code, message}` shape, the service keeps serving, and nothing
// accepted before is lost.
import { connect } from 'node:net';
import t from 'tap';
import mqtt from 'mqtt';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { waitFor } from '../../tooling/system.ts';

const service = await startLocalService();
t.teardown(service.cleanup);
const api = apiClient(service.apiUrl, service.adminToken.token);
const vin = testVin(1, 'HST');
const [registration] = [...(await registerVehicles(api, [vin])).values()];
const port = Number(new URL(service.apiUrl).port);
const errorShape = (body: unknown): string[] => Object.keys(body as object).sort();

/** Send raw bytes on a fresh connection; resolves with everything the server answered before closing. */
function raw(request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.setTimeout(5_000, () => socket.destroy());
  });
}
const bodyOf = (answer: string): unknown => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

t.test('JSON nested far deeper than any message answers 400 on every route that takes a body', async (t) => {
  // the deepest under the 256 KiB body limit (over it, 413 PAYLOAD_TOO_LARGE comes first)
  for (const depth of [40, 5_000, 40_000]) {
    const arrays = '['.repeat(depth) + ']'.repeat(depth);
    const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    for (const [path, body] of [['/api/v1/telemetry', arrays], ['/api/v1/telemetry', objects], ['/api/v1/vehicles', arrays], ['/api/v1/tenants', arrays]] as const) {
      const r = await fetch(`${service.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${service.adminToken.token}`, 'content-type': 'application/json' }, body });
      const answer = (await r.json()) as { code: string };
      t.equal(r.status, 400, `${path}, ${depth} levels: 400`);
      t.strictSame(errorShape(answer), ['code', 'message', 'statusCode'], `${path}, ${depth} levels: the error shape`);
      t.equal(answer.code, 'INVALID_JSON', `${path}, ${depth} levels: INVALID_JSON, on every route (docs/api.md)`);
    }
  }
  const deep = await fetch(`${service.apiUrl}/api/v1/telemetry`, { method: 'POST', headers: { authorization: `Bearer ${service.adminToken.token}`, 'content-type': 'application/json' }, body: '['.repeat(50) + ']'.repeat(50) });
  t.match(await deep.json(), { code: 'INVALID_JSON', message: /deeper than 32 levels/ }, 'the answer says why');
});

t.test("errors of Node's HTTP parser answer in the same shape", async (t) => {
  const nul = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n');
  t.match(nul, /^HTTP\/1\.1 400 /, 'a NUL in a header: 400');
  t.strictSame(bodyOf(nul), { statusCode: 400, code: 'BAD_REQUEST', message: 'malformed HTTP request' });
  const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(big, /^HTTP\/1\.1 431 /, 'headers over the limit: 431');
  t.match(bodyOf(big), { statusCode: 431, code: 'HEADERS_TOO_LARGE' });
  const longQuery = await raw(`GET /api/v1/live?vin=${'A'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${service.adminToken.token}\r\n\r\n`);
  t.match(longQuery, /^HTTP\/1\.1 431 /, 'an over-long query string on the live stream: an answer, not a closed connection');
  t.match(bodyOf(longQuery), { code: 'HEADERS_TOO_LARGE' });
  const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
  t.match(bodyOf(garbage), { statusCode: 400, code: 'BAD_REQUEST' });
  t.equal((await fetch(`${service.apiUrl}/healthz`)).status, 200, 'and the service keeps serving');
});

t.test('a __proto__ signal is an unknown signal, over HTTP and over MQTT, like any other', async (t) => {
  const ts = Date.now();
  const post = await api.post<{ accepted: number; rejected: number; rejections: Array<{ reason: string }> }>('/api/v1/telemetry', JSON.parse(`{"vin":"${vin}","samples":[{"ts":${ts},"seq":1,"signals":{"Vehicle.Speed":10,"__proto__":{"x":1}}},{"ts":${ts + 1},"seq":2,"signals":{"Vehicle.Speed":11}}]}`));
  t.equal(post.status, 200);
  t.equal(post.body.accepted, 1, 'the clean sample is kept');
  t.match(post.body.rejections, [{ reason: 'unknown_signal' }], 'the one with __proto__ is rejected for it');
  const client: mqtt.MqttClient = await connectMqtt(service.mqttUrl, { clientId: vin, username: vin, password: registration!.mqtt.password });
  t.teardown(() => client.endAsync());
  await publishQos1(client, telemetryTopic(vin), `{"vin":"${vin}","ts":${ts + 2},"seq":3,"signals":{"Vehicle.Speed":12,"__proto__":{"x":1}}}`);
  const letters = await waitFor('the dead letter', async () => {
    const r = await api.get<{ items: Array<{ reason: string; detail: string }> }>(`/api/v1/dead-letters?vin=${vin}&reason=unknown_signal`);
    return r.body.items.length >= 2 ? r.body.items : undefined;
  });
  t.ok(letters.every((l) => /__proto__/.test(l.detail)), 'both letters name it');
  t.ok(await service.writer.drained());
  const stored = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${ts - 1}&to=${ts + 10}`);
  t.strictSame(stored.body.samples.map((s) => s.seq), [2], 'only the clean sample is stored');
});

t.test('brand, model and tenant names follow one rule: no wildcards, quotes, backslashes or query syntax', async (t) => {
  for (const bad of ['Vol*', '100%', 'Say "hi"', 'back\\slash', 'a=b', '^Aurora$', '[A-Z]', ' ', '-leading']) {
    const r = await api.post<{ code: string }>('/api/v1/vehicles', { vin: testVin(2, 'HSN'), brand: bad, model: 'X1' });
    t.equal(r.status, 400, `brand ${JSON.stringify(bad)}: 400`);
    t.equal(r.body.code, 'VALIDATION_FAILED');
    const m = await api.post<{ code: string }>('/api/v1/vehicles', { vin: testVin(2, 'HSN'), brand: 'Voltra', model: bad });
    t.equal(m.status, 400, `model ${JSON.stringify(bad)}: 400`);
    const tenant = await api.post<{ code: string }>('/api/v1/tenants', { name: bad, brands: ['Voltra'] });
    t.equal(tenant.status, 400, `tenant ${JSON.stringify(bad)}: 400`);
  }
  for (const [i, good] of ['Mercedes-Benz', 'Lynk & Co', 'Citroën', 'Škoda', 'ID.4', 'e-tron GT', "Nord.Star (EU)", 'Model 3/Y', '理想'].entries()) {
    const r = await api.post('/api/v1/vehicles', { vin: testVin(10 + i, 'HSG'), brand: good, model: good });
    t.equal(r.status, 201, `${good}: registered`);
  }
});

t.test('a payload that is not valid UTF-8 is malformed JSON over HTTP and MQTT, never stored with U+FFFD in its place', async (t) => {
  const ts = Date.now();
  const bytes = Buffer.concat([Buffer.from(`{"vin":"${vin}","ts":${ts},"seq":41,"signals":{"Vehicle.OBD.DTCList":"P0`), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
  const r = await fetch(`${service.apiUrl}/api/v1/telemetry`, { method: 'POST', headers: { authorization: `Bearer ${service.adminToken.token}`, 'content-type': 'application/json' }, body: bytes });
  t.equal(r.status, 400);
  t.match(await r.json(), { statusCode: 400, code: 'INVALID_JSON', message: /UTF-8/ });
  const client: mqtt.MqttClient = await connectMqtt(service.mqttUrl, { clientId: vin, username: vin, password: registration!.mqtt.password });
  t.teardown(() => client.endAsync());
  await publishQos1(client, telemetryTopic(vin), bytes);
  const letters = await waitFor('the dead letter', async () => {
    const l = await api.get<{ items: Array<{ detail: string }> }>(`/api/v1/dead-letters?vin=${vin}&reason=malformed_json`);
    return l.body.items.length >= 1 ? l.body.items : undefined;
  });
  t.match(letters[0]!.detail, /UTF-8/);
  t.ok(await service.writer.drained());
  const stored = await api.get<{ samples: unknown[] }>(`/api/v1/vehicles/${vin}/telemetry?from=${ts}&to=${ts + 1}`);
  t.strictSame(stored.body.samples, [], 'nothing stored');
});

t.test('from and to take ISO 8601 or ms only: text V8 would read as a date (a number in it) is 400', async (t) => {
  for (const value of ["' OR '1'='1", 'x 1', 'Jan 1', '1 UNION SELECT 2', '2026-13']) {
    const r = await api.get<{ code: string; message: string }>(`/api/v1/vehicles/${vin}/telemetry?from=${encodeURIComponent(value)}`);
    t.equal(r.status, 400, `from=${value}`);
    t.match(r.body, { code: 'VALIDATION_FAILED', message: /ISO 8601/ });
    t.equal((await api.get(`/api/v1/fleet/cockpit?to=${encodeURIComponent(value)}`)).status, 400, `cockpit to=${value}`);
  }
  for (const value of ['2026-12-01', '2026-12-01T10:00', '2026-12-01T10:00:00Z', '2026-12-01T10:00:00.123+01:00', String(Date.now() - 1_000)]) {
    t.equal((await api.get(`/api/v1/vehicles/${vin}/telemetry?from=${encodeURIComponent(value)}`)).status, 200, `from=${value}`);
  }
});

t.test('a cockpit over decades (from=0) answers with the window of the data, as a narrow one does', async (t) => {
  const now = Date.now();
  const wide = await api.get<{ kpis: { samples: number }; from: number }>('/api/v1/fleet/cockpit?from=0');
  t.equal(wide.status, 200);
  t.equal(wide.body.from, 0);
  const narrow = await api.get<{ kpis: { samples: number } }>(`/api/v1/fleet/cockpit?from=${now - 86_400_000}`);
  t.equal(wide.body.kpis.samples, narrow.body.kpis.samples, 'every sample of this suite is of the last day');
  t.equal((await api.get(`/api/v1/brands/Voltra/cockpit?from=0&to=${now}`)).status, 200);
});

t.test('a vehicle-list cursor the list did not give is 400 INVALID_RANGE, not a page from wherever it decodes to', async (t) => {
  for (const cursor of ["' OR '1'='1", 'AAAA', Buffer.from('not a vin').toString('base64url')]) {
    const r = await api.get<{ code: string }>(`/api/v1/vehicles?cursor=${encodeURIComponent(cursor)}`);
    t.equal(r.status, 400, cursor);
    t.equal(r.body.code, 'INVALID_RANGE');
  }
  const first = await api.get<{ nextCursor: string | null }>('/api/v1/vehicles?limit=1');
  t.ok(first.body.nextCursor, 'a cursor the list gave');
  t.equal((await api.get(`/api/v1/vehicles?limit=1&cursor=${first.body.nextCursor}`)).status, 200, 'pages on');
});

t.test('a body that is not application/json is 415 on every route that takes one', async (t) => {
  for (const path of ['/api/v1/telemetry', '/api/v1/vehicles', '/api/v1/tenants']) {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const r = await fetch(`${service.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${service.adminToken.token}`, 'content-type': type }, body: '{"vin":"x"}' });
      t.equal(r.status, 415, `${path}, ${type}`);
      t.match(await r.json(), { statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
  }
});

t.test('a static path climbing out of its root is an unknown route, in the documented shape', async (t) => {
  for (const path of ['/docs/static/../../../../etc/passwd', '/docs/static/..%2f..%2f..%2fpackage.json', '/assets/..%2f..%2fpackage.json']) {
    const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    t.match(answer, /^HTTP\/1\.1 404 /, path);
    t.strictSame(bodyOf(answer), { statusCode: 404, code: 'ROUTE_NOT_FOUND', message: (bodyOf(answer) as { message: string }).message });
    t.notMatch(answer, /root:x:0:0|"name": "vehicle-cloud"/, 'no file content');
  }
});
