// GET /api/v1/live: twin updates as server-sent events, filtered, and a client that stops reading is dropped
// without slowing ingestion.
import t from 'tap';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { openEventStream, type EventStream } from '../helpers/sse.ts';
import { waitFor } from '../../tooling/system.ts';

const service = await startLocalService();
t.teardown(service.cleanup);
const api = apiClient(service.apiUrl, service.adminToken.token);
const [a1, a2, b1] = [testVin(1, 'LVE'), testVin(2, 'LVE'), testVin(3, 'LVE')];
await registerVehicles(api, [a1, a2], 'Aurora', 'A1');
await registerVehicles(api, [b1], 'Borealis', 'B1');
const admin = await connectMqtt(service.mqttUrl, { clientId: 'live-admin', username: 'admin', password: service.adminToken.token });
t.teardown(() => admin.endAsync());
const publish = (vin: string, seq: number, speed: number) =>
  publishQos1(admin, telemetryTopic(vin), JSON.stringify({ vin, ts: Date.now() - 1000 + seq, seq, signals: { 'Vehicle.Speed': speed } }));

type LiveStream = EventStream<{ vin: string; brand: string; signals: Record<string, { value: unknown }> }>;

const openLive = (query: string, token = service.adminToken.token, read = true): Promise<LiveStream> => openEventStream(`${service.apiUrl}/api/v1/live${query}`, token, read);

t.test('a live stream filtered by brand gets that brand\'s twin updates only', async (t) => {
  const aurora = await openLive('?brand=Aurora');
  const one = await openLive(`?vin=${b1}`);
  t.teardown(() => {
    aurora.close();
    one.close();
  });
  t.equal(aurora.response.statusCode, 200);
  t.match(aurora.response.headers['content-type'], /text\/event-stream/);
  await publish(a1, 1, 10);
  await publish(b1, 1, 20);
  await publish(a2, 1, 30);
  await waitFor('events', async () => (aurora.events.length >= 2 && one.events.length >= 1 ? true : undefined));
  t.same(aurora.events.map((e) => [e.event, e.data.vin, e.data.brand, e.data.signals['Vehicle.Speed']?.value]), [
    ['twin', a1, 'Aurora', 10],
    ['twin', a2, 'Aurora', 30],
  ]);
  t.same(one.events.map((e) => e.data.vin), [b1]);
});

t.test('unknown filters and missing tokens are refused with stable codes', async (t) => {
  t.match((await api.get('/api/v1/live?brand=Nope')).body, { statusCode: 404, code: 'BRAND_NOT_FOUND' });
  t.match((await api.get(`/api/v1/live?vin=${testVin(9, 'LVE')}`)).body, { statusCode: 404, code: 'VEHICLE_NOT_FOUND' });
  t.match((await api.get('/api/v1/live', 'nope')).body, { statusCode: 401, code: 'UNAUTHORIZED' });
});

t.test('a client that stops reading is dropped; reading clients and ingestion go on', async (t) => {
  const slow = await openLive('', service.adminToken.token, false);
  t.teardown(() => slow.close());
  const fast = await openLive('');
  t.teardown(() => fast.close());
  const client = await connectMqtt(service.mqttUrl, { clientId: 'live-flood', username: 'admin', password: service.adminToken.token });
  t.teardown(() => client.endAsync());
  // updates big enough that the paused socket's buffers fill quickly
  const signals = { 'Vehicle.Speed': 1, 'Vehicle.OBD.DTCList': 'P0420,'.repeat(40).slice(0, 250) };
  let seq = 100;
  await waitFor(
    'the slow client to be dropped',
    async () => {
      // one twin event per message: 300 messages of ~0.5 KiB events per round
      await Promise.all(
        Array.from({ length: 300 }, () => {
          const n = seq++;
          return publishQos1(client, telemetryTopic(a1), JSON.stringify({ vin: a1, ts: Date.now() - 600_000 + n, seq: n, signals }));
        }),
      );
      const metrics = (await api.get<string>('/metrics', '')).body;
      return /vc_live_clients_dropped_total 1\b/.test(String(metrics)) ? true : undefined;
    },
    30_000,
    0,
  );
  t.pass('dropped');
  const before = fast.events.length;
  await publish(a2, 999, 42);
  await waitFor('the reading client to still get events', async () => (fast.events.length > before ? true : undefined));
  t.ok(fast.events.some((e) => e.data.vin === a2 && e.data.signals['Vehicle.Speed']?.value === 42), 'a reading client is unaffected');
});
