// Retention as a real deployment sets it, through the service: telemetry 1-3 hours old and recent telemetry are
// ingested with a raw retention of a day (shard groups of an hour), cockpit answers are taken, then the service is
// restarted with a raw retention of 1 hour (InfluxDB's shortest) and influxd's retention check (every second here)
// drops the raw shard groups of the history. Afterwards the registry and a tenant work as before (they are in the
// metadata database), the cockpit answers whole-minute windows over the dropped hours exactly as before from the
// rollups (vc_rollups), and what needs raw points answers for what is left: per-vehicle telemetry of those hours is
// gone, an odd (raw) window counts only the samples still held, and a late sample older than the raw retention is a
// store_rejected dead letter that changes no cockpit.
import t from 'tap';
import { influxQuery } from '../../tooling/influxql.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { apiClient, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { tempDir, waitFor } from '../../tooling/system.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DB = 'vc_retention';
const found = influxdOrSkip();

interface Cockpit {
  source: string;
  kpis: Record<string, number | null>;
  series: Array<Record<string, number | null>>;
}

t.test('a short raw retention drops raw points only: registry, tenants and rollup answers survive the retention check', { skip: found.skip ?? false }, async (t) => {
  const influx = await startInfluxd({ binary: found.binary, retentionCheckInterval: '1s' });
  t.teardown(influx.stop);
  const data = await tempDir('retention');
  t.teardown(data.remove);
  const settings = { influxUrl: influx.url, influxDb: DB, dataDir: data.path, adminToken: 'retention-test-admin-token' };
  const shards = async (): Promise<Array<{ policy: string; start: number; end: number }>> =>
    (await influxQuery(influx.url, undefined, 'SHOW SHARDS'))
      .filter((row) => row[1] === DB)
      .map((row) => ({ policy: String(row[2]), start: Date.parse(String(row[4])), end: Date.parse(String(row[5])) }));
  const rawPoints = async (from: number, to: number): Promise<number> =>
    Number((await influxQuery(influx.url, DB, `SELECT count("seq") FROM "vc_raw"."telemetry" WHERE time >= ${from}ms AND time < ${to}ms`))[0]?.[1] ?? 0);

  let service = await startLocalService({ ...settings, influxRetentionRaw: '1d' });
  const admin = apiClient(service.apiUrl, settings.adminToken);
  const [a1, a2, b1, quiet] = [testVin(1, 'RTA'), testVin(2, 'RTA'), testVin(3, 'RTB'), testVin(4, 'RTA')];
  await registerVehicles(admin, [a1, a2, quiet], 'Aurora', 'A1');
  await registerVehicles(admin, [b1], 'Borealis', 'B1');
  const tenant = await admin.post<{ token: string }>('/api/v1/tenants', { name: 'Aurora Motors', brands: ['Aurora'] });
  t.equal(tenant.status, 201);
  const asTenant = apiClient(service.apiUrl, tenant.body.token);

  // history: the two whole hours that end an hour before the current one (1 to 3 hours old), a sample every 2 minutes;
  // recent: the 10 minutes before the current minute, a sample a minute
  const now = Date.now();
  const hourNow = Math.floor(now / HOUR) * HOUR;
  const history = { from: hourNow - 3 * HOUR, to: hourNow - HOUR };
  const minuteNow = Math.floor(now / MINUTE) * MINUTE;
  const recent = { from: minuteNow - 10 * MINUTE, to: minuteNow };
  const sent: Array<{ vin: string; ts: number }> = [];
  const send = async (vin: string, index: number, from: number, to: number, every: number): Promise<void> => {
    const samples = [];
    for (let ts = from + index * 1000, seq = 0; ts < to; ts += every, seq++) {
      samples.push({ ts, seq: Math.floor(ts / 1000), signals: { 'Vehicle.Speed': (seq * 7 + index * 11) % 130, 'Vehicle.TraveledDistance': 5000 + index * 100 + seq * 0.8, 'Vehicle.ADAS.ActiveAutonomyLevel': (seq + index) % 4 } });
      sent.push({ vin, ts });
    }
    const r = await admin.post<{ accepted: number }>('/api/v1/telemetry', { vin, samples });
    t.equal(r.body.accepted, samples.length, `${vin}: ${samples.length} samples accepted`);
  };
  for (const [index, vin] of [a1, a2, b1, quiet].entries()) await send(vin, index, history.from, history.to, 2 * MINUTE);
  for (const [index, vin] of [a1, a2, b1].entries()) await send(vin, index, recent.from, recent.to, MINUTE);
  t.ok(await service.writer.drained(), 'stored and rolled up');

  const questions = [
    { label: 'fleet, the dropped hours', path: `/api/v1/fleet/cockpit?from=${history.from}&to=${history.to}&interval=10m` },
    { label: 'fleet, dropped hours and recent data', path: `/api/v1/fleet/cockpit?from=${history.from}&to=${recent.to}&interval=30m` },
    { label: 'brand, the dropped hours', path: `/api/v1/brands/Borealis/cockpit?from=${history.from}&to=${history.to}&interval=1h` },
    { label: 'model, the dropped hours', path: `/api/v1/brands/Aurora/models/A1/cockpit?from=${history.from}&to=${history.to}&interval=20m` },
  ];
  const before = new Map<string, Cockpit>();
  for (const q of questions) {
    const r = await admin.get<Cockpit>(q.path);
    t.equal(r.body.source, 'rollup', `${q.label}: answered from the rollups`);
    before.set(q.label, r.body);
  }
  const tenantPath = `/api/v1/brands/Aurora/cockpit?from=${history.from}&to=${history.to}&interval=30m`;
  const tenantBefore = (await asTenant.get<Cockpit>(tenantPath)).body;
  const historySamples = sent.filter((s) => s.ts >= history.from && s.ts < history.to).length;
  t.equal(before.get('fleet, the dropped hours')?.kpis.samples, historySamples, 'the rollups hold every history sample');
  t.equal(before.get('fleet, dropped hours and recent data')?.kpis.samples, sent.length);
  t.equal(tenantBefore.kpis.samples, 3 * 60, 'the tenant sees its brand: three vehicles, 60 samples each');
  t.equal((await admin.get<{ samples: unknown[] }>(`/api/v1/vehicles/${quiet}/telemetry?from=${history.from}&to=${history.to}&limit=1000`)).body.samples.length, 60, 'raw telemetry of the history, before');
  t.equal(await rawPoints(history.from, history.to), historySamples, 'the raw points of the history, before');
  await service.cleanup();

  const before_ = await shards();
  const expired = (s: { policy: string; end: number }): boolean => s.policy === 'vc_raw' && s.end <= history.to;
  t.equal(before_.filter(expired).length, 2, 'two raw shard groups of an hour hold the history');
  t.ok(before_.some((s) => s.policy === 'vc_raw' && s.end > history.to), 'and at least one the recent data');
  const rollupShards = before_.filter((s) => s.policy === 'vc_rollups');
  t.ok(rollupShards.length >= 1, 'the rollups have shard groups of their own');
  t.comment(`shards before: ${before_.map((s) => `${s.policy} ${new Date(s.start).toISOString()}..${new Date(s.end).toISOString()}`).join(', ')}`);

  service = await startLocalService({ ...settings, influxRetentionRaw: '1h' });
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, settings.adminToken);
  const tenantApi = apiClient(service.apiUrl, tenant.body.token);
  t.same((await influxQuery(influx.url, undefined, `SHOW RETENTION POLICIES ON "${DB}"`)).find((row) => row[0] === 'vc_raw'), ['vc_raw', '1h0m0s', '1h0m0s', 1, true], 'restarted with 1h: vc_raw altered');
  await waitFor('the retention check to drop the raw shard groups of the history', async () => ((await shards()).some(expired) ? undefined : true), 60_000, 500);
  const after = await shards();
  t.comment(`shards after: ${after.map((s) => `${s.policy} ${new Date(s.start).toISOString()}..${new Date(s.end).toISOString()}`).join(', ')}`);
  t.equal(after.filter(expired).length, 0, 'the raw shard groups of the history are dropped');
  t.ok(after.some((s) => s.policy === 'vc_raw' && s.end > history.to), 'the raw shard group of the recent data is kept');
  t.same(after.filter((s) => s.policy === 'vc_rollups'), rollupShards, 'the rollups keep every shard group');
  t.equal(await rawPoints(history.from, history.to), 0, 'no raw point of the history is left');
  t.equal(await rawPoints(recent.from, recent.to), 30, 'the recent raw points are');

  t.test('the registry and the tenant are untouched', async (t) => {
    const vehicle = await api.get<{ vin: string; brand: string; model: string; lastSeen: number | null; signals: Record<string, unknown> }>(`/api/v1/vehicles/${quiet}`);
    t.match(vehicle, { status: 200, body: { vin: quiet, brand: 'Aurora', model: 'A1' } }, 'a vehicle whose every raw point is gone is still registered');
    t.same(vehicle.body.signals, {}, 'its twin has no signal left: the latest values came from its raw points');
    t.equal((await api.get<{ items: unknown[] }>('/api/v1/vehicles?limit=100')).body.items.length, 4, 'every vehicle is listed');
    const brands = (await tenantApi.get<{ brands: Array<{ brand: string; models: number; vehicles: number }> }>('/api/v1/brands')).body.brands;
    t.same(brands.map(({ brand, models, vehicles }) => ({ brand, models, vehicles })), [{ brand: 'Aurora', models: 1, vehicles: 3 }], 'the tenant token works and sees its brand only');
    t.match(await tenantApi.get('/api/v1/brands/Borealis/cockpit'), { status: 404 }, 'and still not another brand');
    const live = await api.post<{ accepted: number }>('/api/v1/telemetry', { vin: b1, ts: Date.now(), seq: 9_999_999_999, signals: { 'Vehicle.Speed': 50 } });
    t.equal(live.body.accepted, 1, 'a registered VIN still ingests');
    t.ok(await service.writer.drained());
    t.equal((await api.get<{ signals: Record<string, { value: unknown }> }>(`/api/v1/vehicles/${b1}`)).body.signals['Vehicle.Speed']?.value, 50);
  });

  t.test('whole-minute cockpit windows over the dropped hours answer exactly as before, from the rollups', async (t) => {
    for (const q of questions) t.same((await api.get<Cockpit>(q.path)).body, before.get(q.label), q.label);
    t.same((await tenantApi.get<Cockpit>(tenantPath)).body, tenantBefore, 'the tenant\'s cockpit too');
  });

  t.test('what needs raw points answers for what is left', async (t) => {
    const raw = await api.get<{ samples: unknown[] }>(`/api/v1/vehicles/${quiet}/telemetry?from=${history.from}&to=${history.to}&limit=1000`);
    t.same([raw.status, raw.body.samples], [200, []], 'per-vehicle telemetry of the dropped hours is gone');
    const odd = await api.get<Cockpit>(`/api/v1/fleet/cockpit?from=${history.from + 17_123}&to=${history.to}&interval=10m`);
    t.same([odd.body.source, odd.body.kpis.samples], ['raw', 0], 'an odd window over the dropped hours counts no sample');
    const across = await api.get<Cockpit>(`/api/v1/fleet/cockpit?from=${history.from + 17_123}&to=${recent.to}&interval=30m`);
    t.same([across.body.source, across.body.kpis.samples], ['raw', 30], 'one reaching into the kept hour counts the samples still held');
  });

  t.test('a late sample older than the raw retention is a store_rejected dead letter and changes no cockpit', async (t) => {
    const late = await api.post<{ accepted: number }>('/api/v1/telemetry', { vin: a1, ts: history.from + 90 * MINUTE + 30_000, seq: 1, signals: { 'Vehicle.Speed': 99 } });
    t.equal(late.body.accepted, 1, 'within the 7 days the contract accepts');
    t.ok(await service.writer.drained());
    const letters = await api.get<{ items: Array<{ vin: string; detail: string }> }>('/api/v1/dead-letters?reason=store_rejected');
    t.match(letters.body.items, [{ vin: a1, detail: /points beyond retention policy/ }], 'InfluxDB refused it: kept as a dead letter with the reason');
    for (const q of questions.slice(0, 1)) t.same((await api.get<Cockpit>(q.path)).body, before.get(q.label), 'the cockpit did not count it');
  });
});
