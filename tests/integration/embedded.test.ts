// The telemetry slice in the default deployment: embedded Aedes broker + embedded store, real MQTT clients.
import t from 'tap';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin, type Registration } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { waitFor } from '../../tooling/system.ts';

const service = await startLocalService();
t.teardown(service.cleanup);
const api = apiClient(service.apiUrl, service.adminToken.token);
const vins = [testVin(1, 'EMB'), testVin(2, 'EMB'), testVin(3, 'EMB')];
const registrations = await registerVehicles(api, vins);
const [vinA, vinB, vinC] = vins as [string, string, string];
const regA = registrations.get(vinA)!;
const now = Date.now();

interface Sample {
  ts: number;
  seq: number;
  signals: Record<string, number | boolean | string>;
}
interface TelemetryAnswer {
  vin: string;
  from: number;
  to: number;
  samples: Sample[];
  nextCursor: string | null;
}

async function vehicleClient(reg: Registration, clientId = reg.vin) {
  return connectMqtt(service.mqttUrl, { clientId, username: reg.mqtt.username, password: reg.mqtt.password });
}

async function samplesOf(vin: string, from: number, to: number, extra = ''): Promise<TelemetryAnswer> {
  const r = await api.get<TelemetryAnswer>(`/api/v1/vehicles/${vin}/telemetry?from=${from}&to=${to}&limit=10000${extra}`);
  t.equal(r.status, 200);
  return r.body;
}

t.test('registration answers 201 with MQTT credentials, then 409 for the same VIN', async (t) => {
  t.match(regA, { vin: vinA, brand: 'Voltra', model: 'E-Cross', mqtt: { username: vinA, topic: telemetryTopic(vinA) } });
  t.equal(regA.mqtt.url, service.mqttUrl, 'and the broker to publish to: the embedded one');
  t.type(regA.mqtt.password, 'string');
  const again = await api.post('/api/v1/vehicles', { vin: vinA, brand: 'Other', model: 'X' });
  t.equal(again.status, 409);
  t.match(again.body, { statusCode: 409, code: 'VEHICLE_EXISTS' });
  const bad = await api.post('/api/v1/vehicles', { vin: 'IOQ', brand: 'B', model: 'M' });
  t.equal(bad.status, 400);
  t.match(bad.body, { statusCode: 400, code: 'VALIDATION_FAILED', message: /vin/ });
  const anonymous = await api.post('/api/v1/vehicles', { vin: testVin(99, 'EMB'), brand: 'B', model: 'M' }, 'wrong-token');
  t.equal(anonymous.status, 401);
  t.match(anonymous.body, { code: 'UNAUTHORIZED' });
});

t.test('singles, batches, out-of-order and duplicated samples are stored once, in ts order', async (t) => {
  const client = await vehicleClient(regA);
  t.teardown(() => client.endAsync());
  const base = now - 60_000;
  const sample = (seq: number): Sample => ({ ts: base + seq * 1000, seq, signals: { 'Vehicle.Speed': seq * 2, 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 80 - seq / 10 } });
  const topic = telemetryTopic(vinA);
  // seq 0-9 as singles in reverse order, 10-29 as one batch, 5-14 again (duplicates, half single, half batch)
  for (let seq = 9; seq >= 0; seq--) await publishQos1(client, topic, JSON.stringify({ vin: vinA, ...sample(seq) }));
  await publishQos1(client, topic, JSON.stringify({ vin: vinA, samples: Array.from({ length: 20 }, (_, i) => sample(10 + i)) }));
  for (let seq = 5; seq < 10; seq++) await publishQos1(client, topic, JSON.stringify({ vin: vinA, ...sample(seq) }));
  await publishQos1(client, topic, JSON.stringify({ vin: vinA, samples: Array.from({ length: 5 }, (_, i) => sample(10 + i)) }));
  t.ok(await service.writer.drained(), 'the writer confirmed everything acked');

  const answer = await samplesOf(vinA, base, base + 30_000);
  t.same(answer.samples.map((s) => s.seq), Array.from({ length: 30 }, (_, i) => i), 'each sample once, in ts order');
  t.same(answer.samples[3], sample(3));
  const exclusive = await samplesOf(vinA, base + 10_000, base + 20_000);
  t.same(exclusive.samples.map((s) => s.seq), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'from inclusive, to exclusive');

  const paged = await api.get<TelemetryAnswer>(`/api/v1/vehicles/${vinA}/telemetry?from=${base}&to=${base + 30_000}&limit=12`);
  t.equal(paged.body.samples.length, 12);
  t.type(paged.body.nextCursor, 'string');
  const page2 = await api.get<TelemetryAnswer>(`/api/v1/vehicles/${vinA}/telemetry?from=${base}&to=${base + 30_000}&limit=12&cursor=${paged.body.nextCursor}`);
  t.equal(page2.body.samples[0]?.seq, 12, 'the cursor continues where the page ended');

  const iso = await samplesOf(vinA, base, base + 5000, '&signals=Vehicle.Speed');
  t.same(iso.samples[1], { ts: base + 1000, seq: 1, signals: { 'Vehicle.Speed': 2 } }, 'signals filter');

  const buckets = await api.get<{ buckets: Array<Record<string, unknown>> }>(
    `/api/v1/vehicles/${vinA}/telemetry?from=${new Date(base).toISOString()}&to=${base + 30_000}&interval=10s`,
  );
  t.equal(buckets.status, 200);
  t.same(
    buckets.body.buckets.map((b) => [b.t, b.samples, b['Vehicle.Speed']]),
    [0, 1, 2].map((k) => [base + k * 10_000, 10, { avg: (k * 20 + 9) , min: k * 20, max: k * 20 + 18 }]),
    'buckets aligned to from, with exact avg/min/max',
  );
});

t.test('the digital twin holds the newest value of every signal, not the last to arrive', async (t) => {
  const client = await vehicleClient(registrations.get(vinB)!);
  t.teardown(() => client.endAsync());
  const topic = telemetryTopic(vinB);
  await publishQos1(client, topic, JSON.stringify({ vin: vinB, ts: now - 1000, seq: 2, signals: { 'Vehicle.Speed': 50, 'Vehicle.OBD.DTCList': 'P0420' } }));
  await publishQos1(client, topic, JSON.stringify({ vin: vinB, ts: now - 5000, seq: 1, signals: { 'Vehicle.Speed': 10, 'Vehicle.Cabin.HVAC.AmbientAirTemperature': 21.5 } }));
  const twin = await api.get<{ online: boolean; lastSeen: number; signals: Record<string, { value: unknown; ts: number }> }>(`/api/v1/vehicles/${vinB}`);
  t.equal(twin.status, 200);
  t.match(twin.body, { vin: vinB, brand: 'Voltra', model: 'E-Cross', online: true });
  t.same(twin.body.signals, {
    'Vehicle.Cabin.HVAC.AmbientAirTemperature': { value: 21.5, ts: now - 5000 },
    'Vehicle.OBD.DTCList': { value: 'P0420', ts: now - 1000 },
    'Vehicle.Speed': { value: 50, ts: now - 1000 },
  });
  const missing = await api.get(`/api/v1/vehicles/${testVin(77, 'EMB')}`);
  t.equal(missing.status, 404);
  t.match(missing.body, { code: 'VEHICLE_NOT_FOUND' });
});

t.test('bad messages become dead letters with reasons; the valid samples around them are stored', async (t) => {
  const client = await vehicleClient(registrations.get(vinC)!);
  t.teardown(() => client.endAsync());
  const topic = telemetryTopic(vinC);
  const ok = (seq: number) => JSON.stringify({ vin: vinC, ts: now - 30_000 + seq, seq, signals: { 'Vehicle.Speed': 30 } });
  await publishQos1(client, topic, ok(0));
  await publishQos1(client, topic, '{"vin": "broken');
  await publishQos1(client, topic, ok(1));
  await publishQos1(client, topic, JSON.stringify({ vin: vinA, ts: now, seq: 9, signals: { 'Vehicle.Speed': 1 } }));
  await publishQos1(client, topic, JSON.stringify({ vin: vinC, ts: now, seq: 9, signals: { 'Vehicle.Warp': 9 } }));
  await publishQos1(client, topic, `{"vin":"${vinC}","ts":${now},"seq":10,"signals":{"Vehicle.Speed":NaN}}`);
  await publishQos1(client, topic, Buffer.alloc(1024 * 1024, 0x61));
  await publishQos1(client, topic, JSON.stringify({ vin: vinC, ts: now - 365 * 86_400_000, seq: 11, signals: { 'Vehicle.Speed': 1 } }));
  await publishQos1(client, topic, ok(2));
  t.ok(await service.writer.drained());
  const stored = await samplesOf(vinC, now - 60_000, now + 60_000);
  t.same(stored.samples.map((s) => s.seq), [0, 1, 2], 'only the valid samples are stored');
  const letters = await api.get<{ items: Array<{ reason: string; topic: string; raw: string; vin?: string }> }>(`/api/v1/dead-letters?limit=50`);
  const reasons = letters.body.items.filter((l) => l.topic === topic).map((l) => l.reason).sort();
  t.same(reasons, ['malformed_json', 'non_finite_value', 'payload_too_large', 'ts_out_of_range', 'unknown_signal', 'vin_mismatch']);
  const big = letters.body.items.find((l) => l.reason === 'payload_too_large');
  t.ok(big && big.raw.length < 5000, 'the raw payload kept with a dead letter is capped');
  const metrics = await api.get<string>('/metrics');
  t.match(metrics.body, /vc_ingest_rejects_total\{reason="malformed_json"\} 1/);
  t.match(metrics.body, /nodejs_eventloop_lag_seconds/);
  t.match(metrics.body, /process_open_fds /, "the process's open descriptors are reported");
  t.match(metrics.body, /vc_store_memory_bytes\{tag="BASE_TABLE"\} [1-9]/, "what the embedded store's DuckDB holds in memory is reported");
  t.notMatch(metrics.body, /nodejs_active_handles/, "Node's handle lists are not walked at every scrape");
});

t.test("a dead letter keeps the topic's VIN when the payload cannot be read, and says an out-of-range value and its range", async (t) => {
  const client = await vehicleClient(registrations.get(vinC)!);
  t.teardown(() => client.endAsync());
  await publishQos1(client, telemetryTopic(vinC), '{"vin": "not json');
  await publishQos1(client, telemetryTopic(vinC), JSON.stringify({ vin: vinC, ts: now, seq: 12, signals: { 'Vehicle.Speed': 620 } }));
  t.ok(await service.writer.drained());
  const malformed = await api.get<{ items: Array<{ vin?: string; topic: string }> }>(`/api/v1/dead-letters?reason=malformed_json&vin=${vinC}`);
  t.ok(malformed.body.items.length >= 1, 'a malformed_json letter can be found by its VIN');
  t.ok(malformed.body.items.every((l) => l.vin === vinC && l.topic === telemetryTopic(vinC)));
  const range = await api.get<{ items: Array<{ detail: string }> }>(`/api/v1/dead-letters?reason=out_of_range_value&vin=${vinC}`);
  t.equal(range.body.items[0]?.detail, 'sample 0: Vehicle.Speed: 620 is outside the range [-250, 500] km/h');
});

t.test('a dead-letter filter with a reason that does not exist is refused, not answered empty', async (t) => {
  const r = await api.get<{ statusCode: number; code: string; message: string }>('/api/v1/dead-letters?reason=malformed');
  t.equal(r.status, 400);
  t.match(r.body, { statusCode: 400, code: 'VALIDATION_FAILED', message: /^querystring\.reason: / });
});

t.test('the embedded broker speaks MQTT 3.1.1 (and 3.1): an MQTT 5 client is refused with "unacceptable protocol version"', async (t) => {
  const login = { username: 'admin', password: service.adminToken.token };
  await t.rejects(connectMqtt(service.mqttUrl, { ...login, clientId: 'mqtt5-probe', protocolVersion: 5 }), { code: 1, message: /Unacceptable protocol version/ });
  for (const protocolVersion of [4, 3] as const) {
    const client = await connectMqtt(service.mqttUrl, { ...login, clientId: `mqtt${protocolVersion}-probe`, protocolVersion });
    await client.endAsync();
  }
});

t.test('telemetry of an unregistered VIN is a dead letter, never stored', async (t) => {
  const admin = await connectMqtt(service.mqttUrl, { clientId: 'admin-test', username: 'admin', password: service.adminToken.token });
  t.teardown(() => admin.endAsync());
  const stranger = testVin(500, 'EMB');
  await publishQos1(admin, telemetryTopic(stranger), JSON.stringify({ vin: stranger, ts: now, seq: 0, signals: { 'Vehicle.Speed': 1 } }));
  t.ok(await service.writer.drained());
  const letters = await api.get<{ items: Array<{ reason: string; vin?: string }> }>(`/api/v1/dead-letters?reason=unregistered_vehicle`);
  t.ok(letters.body.items.some((l) => l.vin === stranger));
  const r = await api.get(`/api/v1/vehicles/${stranger}/telemetry`);
  t.equal(r.status, 404);
});

t.test('a vehicle cannot publish under another VIN, nor log in with a wrong password or another VIN as client id', async (t) => {
  const client = await vehicleClient(regA);
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish(telemetryTopic(vinB), JSON.stringify({ vin: vinB, ts: now, seq: 99, signals: { 'Vehicle.Speed': 200 } }), { qos: 1 });
  await closed;
  client.end(true);
  await t.rejects(connectMqtt(service.mqttUrl, { clientId: vinA, username: vinA, password: 'wrong' }));
  await t.rejects(connectMqtt(service.mqttUrl, { clientId: vinB, username: vinA, password: regA.mqtt.password }), 'client id equal to another VIN');
  t.ok(await service.writer.drained());
  const b = await samplesOf(vinB, now - 60_000, now + 60_000);
  t.notOk(b.samples.some((s) => s.seq === 99), 'nothing stored under the other VIN');
  const letters = await api.get<{ items: Array<{ reason: string }> }>(`/api/v1/dead-letters?reason=unauthorized_publisher`);
  t.equal(letters.body.items.length, 1);
});

t.test('HTTP ingest takes the same contract and reports per-sample results', async (t) => {
  const body = { vin: vinC, samples: [{ ts: now - 100, seq: 50, signals: { 'Vehicle.Speed': 12 } }, { ts: now - 50, seq: 51, signals: { 'Vehicle.Nope': 1 } }] };
  const r = await api.post<{ accepted: number; rejected: number; rejections: Array<{ reason: string; index: number }> }>('/api/v1/telemetry', body);
  t.equal(r.status, 200);
  t.match(r.body, { vin: vinC, accepted: 1, rejected: 1, rejections: [{ index: 1, reason: 'unknown_signal' }] });
  const none = await api.post('/api/v1/telemetry', { vin: vinC, ts: now, seq: 52, signals: { 'Vehicle.Nope': 1 } });
  t.equal(none.status, 422);
  t.match(none.body, { statusCode: 422, code: 'UNKNOWN_SIGNAL' });
  const malformed = await api.post('/api/v1/telemetry', '{"vin":');
  t.equal(malformed.status, 400);
  t.match(malformed.body, { statusCode: 400, code: 'INVALID_JSON' });
  const huge = await api.post('/api/v1/telemetry', JSON.stringify({ vin: vinC, pad: 'x'.repeat(300 * 1024) }));
  t.equal(huge.status, 413);
  t.match(huge.body, { statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
});

t.test('over HTTP as over MQTT, a NaN or Infinity rejects only the sample that carries it', async (t) => {
  const body = `{"vin":"${vinC}","samples":[{"ts":${now - 40},"seq":60,"signals":{"Vehicle.Speed":NaN}},{"ts":${now - 30},"seq":61,"signals":{"Vehicle.Speed":33}},{"ts":${now - 20},"seq":62,"signals":{"Vehicle.Speed":-Infinity}}]}`;
  const r = await api.post<{ accepted: number; rejections: Array<{ index: number; reason: string }> }>('/api/v1/telemetry', body);
  t.equal(r.status, 200);
  t.match(r.body, { vin: vinC, accepted: 1, rejected: 2, rejections: [{ index: 0, reason: 'non_finite_value' }, { index: 2, reason: 'non_finite_value' }] });
  const only = await api.post('/api/v1/telemetry', `{"vin":"${vinC}","ts":${now - 10},"seq":63,"signals":{"Vehicle.Speed":Infinity}}`);
  t.equal(only.status, 422);
  t.match(only.body, { statusCode: 422, code: 'NON_FINITE_VALUE' });
});

t.test('a bucketed telemetry query without from starts on a multiple of its interval', async (t) => {
  type Answer = { from: number; to: number; buckets?: Array<{ t: number }> };
  const bucketed = await api.get<Answer>(`/api/v1/vehicles/${vinC}/telemetry?interval=10m`);
  t.equal(bucketed.status, 200);
  t.equal(bucketed.body.from % 600_000, 0, 'from is on a 10-minute boundary');
  t.ok(bucketed.body.to - bucketed.body.from >= 3_600_000 && bucketed.body.to - bucketed.body.from < 4_200_000, 'and the window covers the last hour');
  t.ok(bucketed.body.buckets?.length, 'the vehicle has buckets');
  t.ok(bucketed.body.buckets?.every((b) => b.t % 600_000 === 0), 'every bucket starts on a round time');
  const raw = await api.get<Answer>(`/api/v1/vehicles/${vinC}/telemetry`);
  t.equal(raw.body.to - raw.body.from, 3_600_000, 'raw samples: the last hour exactly');
});

t.test('operations endpoints and error shapes', async (t) => {
  const health = await api.get('/healthz', '');
  t.equal(health.status, 200);
  const ready = await api.get<{ ready: boolean }>('/readyz', '');
  t.same(ready.body.ready, true);
  const unknown = await api.get('/api/v1/nowhere');
  t.same(unknown.body, { statusCode: 404, code: 'ROUTE_NOT_FOUND', message: 'no route GET /api/v1/nowhere' });
  const docs = await api.get<{ openapi: string; paths: Record<string, unknown> }>('/docs/json', '');
  t.equal(docs.status, 200);
  t.ok(docs.body.paths['/api/v1/vehicles/{vin}/telemetry']);
  const list = await api.get<{ items: Array<{ vin: string }>; nextCursor: string | null }>('/api/v1/vehicles?limit=2');
  t.equal(list.body.items.length, 2);
  t.type(list.body.nextCursor, 'string');
  const rest = await api.get<{ items: Array<{ vin: string }>; nextCursor: string | null }>(`/api/v1/vehicles?limit=2&cursor=${list.body.nextCursor}`);
  t.same(rest.body.items.map((v) => v.vin), [vinC]);
  t.equal(rest.body.nextCursor, null);
  const badRange = await api.get(`/api/v1/vehicles/${vinA}/telemetry?from=2026-01-02&to=2026-01-01`);
  t.match(badRange.body, { statusCode: 400, code: 'INVALID_RANGE' });
  const badSignal = await api.get(`/api/v1/vehicles/${vinA}/telemetry?signals=Vehicle.Nope`);
  t.match(badSignal.body, { statusCode: 400, code: 'VALIDATION_FAILED' });
});

await waitFor('the test vehicles to be online', async () => ((await api.get<{ items: unknown[] }>('/api/v1/vehicles?online=true')).body.items.length > 0 ? true : undefined));
