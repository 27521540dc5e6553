// The API's bulk paths, for fleets and load tests: registering up to 1,000 vehicles in one request, and listing
// which samples every vehicle stored in a window (what a load test checks by seq) without a request per vehicle.
import t from 'tap';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin, type Registration } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';

const service = await startLocalService();
t.teardown(service.cleanup);
const api = apiClient(service.apiUrl, service.adminToken.token);
const [vinA, vinB, vinC] = [testVin(1, 'BLK'), testVin(2, 'BLK'), testVin(3, 'BLK')] as [string, string, string];
await registerVehicles(api, [vinA, vinB, vinC]);
const now = Date.now();

async function samplesOf(vin: string, from: number, to: number): Promise<{ samples: unknown[] }> {
  const r = await api.get<{ samples: unknown[] }>(`/api/v1/vehicles/${vin}/telemetry?from=${from}&to=${to}`);
  t.equal(r.status, 200);
  return r.body;
}

t.test('a fleet registers in one request: new vehicles get working credentials, taken VINs are listed, not touched', async (t) => {
  const fleet = Array.from({ length: 1000 }, (_, i) => ({ vin: testVin(1000 + i, 'BLF'), brand: 'Voltra', model: i % 2 ? 'E-City' : 'E-Cross' }));
  const r = await api.post<{ registered: Registration[]; existing: string[] }>('/api/v1/vehicles/batch', { vehicles: [...fleet.slice(1), { vin: vinA, brand: 'Other', model: 'X' }] });
  t.equal(r.status, 200);
  t.equal(r.body.registered.length, 999);
  t.strictSame(r.body.existing, [vinA]);
  t.match((await api.get(`/api/v1/vehicles/${vinA}`)).body, { brand: 'Voltra', model: 'E-Cross' }, 'the holder of a taken VIN keeps it');
  const last = r.body.registered.find((reg) => reg.vin === fleet[999]!.vin)!;
  t.match(last, { brand: 'Voltra', model: 'E-City', mqtt: { username: fleet[999]!.vin, topic: telemetryTopic(fleet[999]!.vin) } });
  const client = await connectMqtt(service.mqttUrl, { clientId: last.vin, username: last.mqtt.username, password: last.mqtt.password });
  await publishQos1(client, telemetryTopic(last.vin), JSON.stringify({ vin: last.vin, ts: now - 1_000, seq: 0, signals: { 'Vehicle.Speed': 3 } }));
  await client.endAsync();
  t.ok(await service.writer.drained());
  t.equal((await samplesOf(last.vin, now - 2_000, now)).samples.length, 1, 'a bulk-registered vehicle logs in and publishes with its own password');
  const again = await api.post<{ registered: Registration[]; existing: string[] }>('/api/v1/vehicles/batch', { vehicles: fleet.slice(0, 2) });
  t.strictSame([again.body.registered.map((reg) => reg.vin), again.body.existing], [[fleet[0]!.vin], [fleet[1]!.vin]]);
  const tooMany = await api.post('/api/v1/vehicles/batch', { vehicles: [...fleet, fleet[0]] });
  t.match(tooMany, { status: 400, body: { code: 'VALIDATION_FAILED' } }, 'at most 1,000 a request');
  const twice = await api.post('/api/v1/vehicles/batch', { vehicles: [fleet[5], fleet[5]] });
  t.match(twice, { status: 400, body: { code: 'VALIDATION_FAILED', message: /at most once/ } });
  t.match(await api.post('/api/v1/vehicles/batch', { vehicles: [] }), { status: 400 });
});

t.test('the samples every vehicle stored in a window are listed by (vin, ts, seq), narrowed when truncated', async (t) => {
  const admin = await connectMqtt(service.mqttUrl, { clientId: 'admin-refs', username: 'admin', password: service.adminToken.token });
  t.teardown(() => admin.endAsync());
  const at = now - 5 * 60_000;
  for (const [i, vin] of [vinB, vinC].entries()) {
    const samples = [0, 1, 2].map((seq) => ({ ts: at + seq * 10 + i, seq, signals: { 'Vehicle.Speed': seq } }));
    await publishQos1(admin, telemetryTopic(vin), JSON.stringify({ vin, samples }));
  }
  t.ok(await service.writer.drained());
  const r = await api.get<{ samples: Array<{ vin: string; ts: number; seq: number }>; truncated: boolean }>(`/api/v1/telemetry?from=${at}&to=${at + 30}`);
  t.equal(r.status, 200);
  t.strictSame(r.body, {
    from: at,
    to: at + 30,
    samples: [0, 1, 2].flatMap((seq) => [{ vin: vinB, ts: at + seq * 10, seq }, { vin: vinC, ts: at + seq * 10 + 1, seq }]),
    truncated: false,
  });
  const cut = await api.get<{ samples: unknown[]; truncated: boolean }>(`/api/v1/telemetry?from=${at}&to=${at + 30}&limit=4`);
  t.equal(cut.body.samples.length, 4);
  t.equal(cut.body.truncated, true, 'more than limit: the earliest, and a flag to ask for narrower windows');
  t.match(await api.get(`/api/v1/telemetry?from=${at}&to=${at}`), { status: 400, body: { code: 'INVALID_RANGE' } });
  t.match(await api.get(`/api/v1/telemetry?from=${at}`), { status: 400, body: { code: 'VALIDATION_FAILED' } });
});

