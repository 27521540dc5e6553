// Cockpit KPIs and series, checked against values computed here, independently, from the samples this test
// sent (late, batched and duplicated ones included), on both stores; and with two ingest workers writing to one
// InfluxDB through a shared Mosquitto subscription.
import t from 'tap';
import type { MqttClient } from 'mqtt';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY, startMosquitto } from '../../tooling/mosquitto.ts';
import { postgresOrSkip, startPostgres } from '../../tooling/postgres.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin, type Api } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { spawnService } from '../../tooling/service.ts';
import { freePort, missingServer, tempDir, waitFor } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

const MINUTE = 60_000;
type Signals = Record<string, number | boolean | string>;
interface Sent {
  vin: string;
  brand: string;
  model: string;
  ts: number;
  seq: number;
  signals: Signals;
}

const FLEET = [
  { brand: 'Aurora', model: 'A1', count: 3 },
  { brand: 'Aurora', model: 'A2', count: 2 },
  { brand: 'Borealis', model: 'B1', count: 2 },
];

function plan(prefix: string): Array<{ vin: string; brand: string; model: string }> {
  const out: Array<{ vin: string; brand: string; model: string }> = [];
  let n = 0;
  for (const f of FLEET) for (let i = 0; i < f.count; i++) out.push({ vin: testVin(n++, prefix), brand: f.brand, model: f.model });
  return out;
}

/** 40 samples per vehicle, one every 45 s, with every KPI ingredient varying. */
function samplesOf(v: { vin: string; brand: string; model: string }, index: number, base: number): Sent[] {
  return Array.from({ length: 40 }, (_, i) => {
    const signals: Signals = {
      'Vehicle.Speed': (index * 7 + i * 13) % 120,
      'Vehicle.TraveledDistance': 1000 * (index + 1) + i * 0.4,
      'Vehicle.ADAS.ActiveAutonomyLevel': (index + i) % 4,
    };
    if (i % 3 !== 0) signals['Vehicle.Powertrain.TractionBattery.StateOfCharge.Current'] = 90 - i - index;
    if (index % 3 === 0) signals['Vehicle.Powertrain.TractionBattery.Charging.IsCharging'] = i >= 30;
    if (index === 1 && i === 7) signals['Vehicle.OBD.DTCList'] = 'P0420';
    if (index === 4) signals['Vehicle.OBD.Status.MILStatus'] = i === 20;
    return { ...v, ts: base + i * 45_000 + index * 11, seq: i, signals };
  });
}

/** The cockpit, computed from the samples themselves. */
function expected(samples: readonly Sent[], from: number, to: number, intervalMs: number, filter: (s: Sent) => boolean) {
  const unique = new Map<string, Sent>();
  for (const s of samples) unique.set(`${s.vin}/${s.ts}`, s);
  const inWindow = [...unique.values()].filter((s) => s.ts >= from && s.ts < to && filter(s));
  const num = (s: Sent, k: string): number | undefined => (typeof s.signals[k] === 'number' ? (s.signals[k] as number) : undefined);
  const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const share = (list: Sent[]): number | null => {
    const levels = list.map((s) => num(s, 'Vehicle.ADAS.ActiveAutonomyLevel')).filter((x): x is number => x !== undefined);
    return levels.length ? levels.filter((l) => l >= 2).length / levels.length : null;
  };
  const byVin = new Map<string, Sent[]>();
  for (const s of inWindow) byVin.set(s.vin, [...(byVin.get(s.vin) ?? []), s]);
  let distanceKm = 0;
  for (const list of byVin.values()) {
    const odo = list.map((s) => num(s, 'Vehicle.TraveledDistance')).filter((x): x is number => x !== undefined);
    if (odo.length) distanceKm += Math.max(...odo) - Math.min(...odo);
  }
  const buckets = new Map<number, Sent[]>();
  for (const s of inWindow) {
    const tb = from + Math.floor((s.ts - from) / intervalMs) * intervalMs;
    buckets.set(tb, [...(buckets.get(tb) ?? []), s]);
  }
  return {
    kpis: {
      activeVehicles: byVin.size,
      samples: inWindow.length,
      avgSpeed: mean(inWindow.map((s) => num(s, 'Vehicle.Speed')).filter((x): x is number => x !== undefined)),
      distanceKm,
      avgSoc: mean(inWindow.map((s) => num(s, 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current')).filter((x): x is number => x !== undefined)),
      charging: [...byVin.values()].filter((l) => l.some((s) => s.signals['Vehicle.Powertrain.TractionBattery.Charging.IsCharging'] === true)).length,
      adasShare: share(inWindow),
      faults: [...byVin.values()].filter((l) => l.some((s) => s.signals['Vehicle.OBD.Status.MILStatus'] === true || (typeof s.signals['Vehicle.OBD.DTCList'] === 'string' && s.signals['Vehicle.OBD.DTCList'] !== ''))).length,
    },
    series: [...buckets]
      .sort(([a], [b]) => a - b)
      .map(([tb, list]) => ({
        t: tb,
        samples: list.length,
        avgSpeed: mean(list.map((s) => num(s, 'Vehicle.Speed')).filter((x): x is number => x !== undefined)),
        avgSoc: mean(list.map((s) => num(s, 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current')).filter((x): x is number => x !== undefined)),
        adasShare: share(list),
      })),
  };
}

interface CockpitBody {
  scope: { level: string; brand?: string; model?: string };
  source: string;
  kpis: Record<string, number | null>;
  series: Array<Record<string, number | null>>;
}

/** Equal up to floating-point summation order. */
function close(t: TapTest, actual: unknown, wanted: unknown, what: string): void {
  const norm = (x: unknown): unknown =>
    typeof x === 'number' ? Math.round(x * 1e9) / 1e9 : Array.isArray(x) ? x.map(norm) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)])) : x;
  t.same(norm(actual), norm(wanted), what);
}

async function checkCockpits(t: TapTest, api: Api, sent: readonly Sent[], from: number, to: number, registered: Record<string, number>): Promise<void> {
  const cases: Array<{ path: string; filter: (s: Sent) => boolean; vehicles: number }> = [
    { path: '/api/v1/fleet/cockpit', filter: () => true, vehicles: registered.fleet! },
    { path: '/api/v1/brands/Aurora/cockpit', filter: (s) => s.brand === 'Aurora', vehicles: registered.Aurora! },
    { path: '/api/v1/brands/Aurora/models/A2/cockpit', filter: (s) => s.brand === 'Aurora' && s.model === 'A2', vehicles: registered.A2! },
    { path: '/api/v1/brands/Borealis/cockpit', filter: (s) => s.brand === 'Borealis', vehicles: registered.Borealis! },
  ];
  for (const c of cases) {
    for (const [label, f, interval] of [
      ['whole minutes (rollups)', from, 5 * MINUTE],
      ['an odd window (raw samples)', from + 17_123, 7 * MINUTE + 500],
    ] as const) {
      const r = await api.get<CockpitBody>(`${c.path}?from=${f}&to=${to}&interval=${interval}ms`);
      t.equal(r.status, 200, `${c.path} ${label}`);
      const want = expected(sent, f, to, interval, c.filter);
      t.equal(r.body.source, label.includes('rollups') ? 'rollup' : 'raw');
      close(t, r.body.kpis, { vehicles: c.vehicles, ...want.kpis }, `${c.path}: KPIs over ${label}`);
      close(t, r.body.series, want.series, `${c.path}: series over ${label}`);
    }
  }
}

async function singleProcess(t: TapTest, store: 'embedded' | 'influx'): Promise<void> {
  let influxUrl: string | undefined;
  if (store === 'influx') {
    const influx = await startInfluxd();
    t.teardown(influx.stop);
    influxUrl = influx.url;
  }
  const service = await startLocalService(influxUrl ? { influxUrl, influxDb: 'vc_cockpit' } : {});
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, service.adminToken.token);
  const vehicles = plan(store === 'influx' ? 'CKF' : 'CKE');
  for (const f of FLEET) await registerVehicles(api, vehicles.filter((v) => v.brand === f.brand && v.model === f.model).map((v) => v.vin), f.brand, f.model);
  const listed = await api.get<{ items: Array<{ vin: string }> }>('/api/v1/vehicles?limit=100');
  t.equal(listed.body.items.length, vehicles.length);
  const admin = await connectMqtt(service.mqttUrl, { clientId: `ck-${store}`, username: 'admin', password: service.adminToken.token });
  t.teardown(() => admin.endAsync());

  const base = Math.floor(Date.now() / MINUTE) * MINUTE - 40 * MINUTE;
  const sent: Sent[] = [];
  await Promise.all(
    vehicles.map(async (v, index) => {
      const samples = samplesOf(v, index, base);
      const wire = (s: Sent) => ({ ts: s.ts, seq: s.seq, signals: s.signals });
      const topic = telemetryTopic(v.vin);
      // first half as singles in reverse, the rest as two batches (the later one first), then redeliveries
      for (const s of samples.slice(0, 20).reverse()) await publishQos1(admin, topic, JSON.stringify({ vin: v.vin, ...wire(s) }));
      await publishQos1(admin, topic, JSON.stringify({ vin: v.vin, samples: samples.slice(30).map(wire) }));
      await publishQos1(admin, topic, JSON.stringify({ vin: v.vin, samples: samples.slice(20, 30).map(wire) }));
      await publishQos1(admin, topic, JSON.stringify({ vin: v.vin, samples: samples.slice(5, 15).map(wire) }));
      sent.push(...samples);
    }),
  );
  t.ok(await service.writer.drained(), 'stored and rolled up');
  const from = base;
  const to = base + 40 * MINUTE;
  const registered = { fleet: 7, Aurora: 5, A2: 2, Borealis: 2 };
  await checkCockpits(t, api, sent, from, to, registered);

  // a late sample into an already rolled-up minute, and a redelivery of it: counted once
  const late = { ...vehicles[0]!, ts: base + 3 * MINUTE + 5, seq: 99, signals: { 'Vehicle.Speed': 111, 'Vehicle.TraveledDistance': 1000.05 } as Signals };
  for (let i = 0; i < 2; i++) await publishQos1(admin, telemetryTopic(late.vin), JSON.stringify({ vin: late.vin, ts: late.ts, seq: late.seq, signals: late.signals }));
  t.ok(await service.writer.drained());
  sent.push(late);
  await checkCockpits(t, api, sent, from, to, registered);

  const brands = await api.get<{ brands: unknown[] }>('/api/v1/brands');
  t.same(brands.body, { brands: [{ brand: 'Aurora', models: 2, vehicles: 5, online: 5 }, { brand: 'Borealis', models: 1, vehicles: 2, online: 2 }] });
  const models = await api.get('/api/v1/brands/Aurora/models');
  t.same(models.body, { models: [{ model: 'A1', vehicles: 3, online: 3 }, { model: 'A2', vehicles: 2, online: 2 }] });
  t.match((await api.get('/api/v1/brands/Nope/cockpit')).body, { statusCode: 404, code: 'BRAND_NOT_FOUND' });
  t.match((await api.get('/api/v1/brands/Aurora/models/Nope/cockpit')).body, { statusCode: 404, code: 'MODEL_NOT_FOUND' });
  t.match((await api.get('/api/v1/fleet/cockpit?from=2026-01-02&to=2026-01-01')).body, { statusCode: 400, code: 'INVALID_RANGE' });
  const defaults = await api.get<CockpitBody & { from: number; to: number; interval: number }>('/api/v1/fleet/cockpit');
  t.equal(defaults.body.to - defaults.body.from, 24 * 3_600_000, 'default window: the last 24 h');
  t.equal(defaults.body.source, 'rollup', 'default window is on whole minutes');
}

t.test('embedded store: cockpit KPIs are exact, late and duplicated samples counted once', (t) => singleProcess(t, 'embedded'));

const influxd = influxdOrSkip();
const mosquittoMissing = missingServer('mosquitto', MOSQUITTO_BINARY);
t.test('InfluxDB store: cockpit KPIs are exact, late and duplicated samples counted once', { skip: 'skip' in influxd ? influxd.skip : undefined }, (t) => singleProcess(t, 'influx'));

const postgres = postgresOrSkip();
t.test('two ingest workers on one InfluxDB: their rollups merge into exact cockpits', { skip: 'skip' in influxd ? influxd.skip : (mosquittoMissing ?? postgres.skip) }, async (t) => {
  const influx = await startInfluxd();
  t.teardown(influx.stop);
  const broker = await startMosquitto();
  t.teardown(broker.stop);
  // the workers share one registry: a share group needs VC_DATABASE_URL
  const registry = await startPostgres(postgres.binDir);
  t.teardown(registry.stop);
  const databaseUrl = await registry.createDatabase();
  const token = 'cockpit-two-workers-admin-token';
  const workers = [];
  for (const name of ['w1', 'w2']) {
    const data = await tempDir(`ck-${name}`);
    t.teardown(data.remove);
    const port = await freePort();
    const worker = await spawnService({
      VC_HTTP_PORT: String(port),
      VC_DATA_DIR: data.path,
      VC_ADMIN_TOKEN: token,
      VC_MQTT_URL: broker.url,
      VC_MQTT_SHARE_GROUP: 'vehicle-cloud',
      VC_MQTT_CLIENT_ID: `vc-ck-${name}`,
      VC_INFLUX_URL: influx.url,
      VC_INFLUX_DB: 'vc_two',
      VC_DATABASE_URL: databaseUrl,
    });
    t.teardown(() => worker.stop());
    workers.push({ worker, api: apiClient(`http://127.0.0.1:${port}`, token) });
  }
  const [w1, w2] = workers as [(typeof workers)[0], (typeof workers)[0]];
  const vehicles = plan('CK2');
  for (const f of FLEET) await registerVehicles(w1.api, vehicles.filter((v) => v.brand === f.brand && v.model === f.model).map((v) => v.vin), f.brand, f.model);
  const publisher: MqttClient = await connectMqtt(broker.url, { clientId: 'ck2-pub' });
  t.teardown(() => publisher.endAsync());
  const base = Math.floor(Date.now() / MINUTE) * MINUTE - 40 * MINUTE;
  const sent: Sent[] = [];
  for (const [index, v] of vehicles.entries()) {
    const samples = samplesOf(v, index, base);
    sent.push(...samples);
    // every sample twice, one message each: the two workers get both copies in turn
    for (const s of [...samples, ...samples.slice(0, 10)]) await publishQos1(publisher, telemetryTopic(v.vin), JSON.stringify({ vin: v.vin, ts: s.ts, seq: s.seq, signals: s.signals }));
  }
  const from = base;
  const to = base + 40 * MINUTE;
  const metric = async (api: Api, name: string): Promise<number> => {
    const text = (await api.get<string>('/metrics', '')).body;
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(String(text));
    return match ? Number(match[1]) : Number.NaN;
  };
  await waitFor(
    'both workers to store and roll up everything',
    async () => {
      const accepted = (await metric(w1.api, 'vc_ingest_samples_accepted_total')) + (await metric(w2.api, 'vc_ingest_samples_accepted_total'));
      const pending = (await metric(w1.api, 'vc_spool_pending_bytes')) + (await metric(w2.api, 'vc_spool_pending_bytes'));
      const keys = (await metric(w1.api, 'vc_rollup_pending_keys')) + (await metric(w2.api, 'vc_rollup_pending_keys'));
      return accepted === vehicles.length * 50 && pending === 0 && keys === 0 ? true : undefined;
    },
    60_000,
    250,
  );
  t.ok((await metric(w1.api, 'vc_ingest_samples_accepted_total')) > 0 && (await metric(w2.api, 'vc_ingest_samples_accepted_total')) > 0, 'both workers ingested');
  // the settle pass of each worker (2 s) makes a recompute that raced the other worker's write harmless
  await new Promise((r) => setTimeout(r, 3_000));
  await waitFor('settled', async () => ((await metric(w1.api, 'vc_rollup_pending_keys')) + (await metric(w2.api, 'vc_rollup_pending_keys')) === 0 ? true : undefined));
  for (const w of [w1, w2]) await checkCockpits(t, w.api, sent, from, to, { fleet: 7, Aurora: 5, A2: 2, Borealis: 2 });
});
