// The API routes the web cockpit reads: who a token is, vehicle status with filters and counts, positions once and
// as a coalesced stream, faults per model, ingestion health, the streamed CSV export and its one-time links. Same
// auth, tenant scoping (another brand: 404) and error shape as the rest of the API.
import t from 'tap';
import { parse } from 'csv-parse/sync';
import { apiClient, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { openEventStream } from '../helpers/sse.ts';
import { waitFor } from '../../tooling/system.ts';
import { POSITION_FRAME_MS } from '../../services/api/routes/fleet-status.ts';
import { csvField } from '../../services/api/routes/telemetry-export.ts';

const service = await startLocalService();
t.teardown(service.cleanup);
const admin = service.adminToken.token;
const api = apiClient(service.apiUrl, admin);
const [a1, a2, a3, b1] = [testVin(1, 'WEB'), testVin(2, 'WEB'), testVin(3, 'WEB'), testVin(4, 'WEB')];
await registerVehicles(api, [a1, a2], 'Aurora', 'A1');
await registerVehicles(api, [a3], 'Aurora', 'A2');
await registerVehicles(api, [b1], 'Borealis', 'B1');
const tenant = (await api.post<{ token: string }>('/api/v1/tenants', { name: 'Aurora Motors', brands: ['Aurora'] })).body.token;

const t0 = Date.now() - 120_000;
let seq = 0;
const send = async (vin: string, ts: number, signals: Record<string, number | boolean | string>) => {
  const r = await api.post<{ accepted: number }>('/api/v1/telemetry', { vin, ts, seq: seq++, signals });
  if (r.status !== 200 || r.body.accepted !== 1) throw new Error(`ingest failed: ${r.status} ${JSON.stringify(r.body)}`);
};
const at = (lat: number, lon: number) => ({ 'Vehicle.CurrentLocation.Latitude': lat, 'Vehicle.CurrentLocation.Longitude': lon });
await send(a1, t0, { ...at(48.1, 11.5), 'Vehicle.Speed': 50, 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 80 });
await send(a2, t0, { ...at(48.2, 11.6), 'Vehicle.Speed': 0, 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': true, 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 40 });
await send(a3, t0, { ...at(48.3, 11.7), 'Vehicle.Speed': 10, 'Vehicle.OBD.Status.MILStatus': true, 'Vehicle.OBD.DTCList': 'P0420,P0301' });
await send(b1, t0, { ...at(59.9, 10.7), 'Vehicle.Speed': 30 });

t.test('/api/v1/me tells the admin from a tenant and its brands', async (t) => {
  t.same((await api.get('/api/v1/me')).body, { kind: 'admin', name: null, brands: null });
  t.same((await api.get('/api/v1/me', tenant)).body, { kind: 'tenant', name: 'Aurora Motors', brands: ['Aurora'] });
  t.match((await api.get('/api/v1/me', 'nope')).body, { statusCode: 401, code: 'UNAUTHORIZED' });
});

t.test('vehicle status: counts per filter, search, sort, pages, and a tenant sees only its brands', async (t) => {
  type List = { counts: Record<string, number>; total: number; items: Array<{ vin: string; state: string; fault: boolean; charging: boolean; dtc: string; speed: number | null; lat: number | null }> };
  const all = (await api.get<List>('/api/v1/fleet/vehicles')).body;
  t.same(all.counts, { all: 4, online: 4, offline: 0, charging: 1, fault: 1 });
  t.same(all.items.map((v) => [v.vin, v.state]), [
    [a1, 'driving'],
    [a2, 'charging'],
    [a3, 'fault'],
    [b1, 'driving'],
  ]);
  t.match(all.items[2], { fault: true, dtc: 'P0420,P0301', speed: 10, lat: 48.3 });
  t.same((await api.get<List>('/api/v1/fleet/vehicles?status=fault')).body.items.map((v) => v.vin), [a3]);
  t.same((await api.get<List>('/api/v1/fleet/vehicles?status=charging')).body.items.map((v) => v.vin), [a2]);
  t.equal((await api.get<List>('/api/v1/fleet/vehicles?status=offline')).body.total, 0);
  const bySpeed = (await api.get<List>('/api/v1/fleet/vehicles?sort=speed&order=desc&limit=2&offset=1')).body;
  t.same([bySpeed.total, bySpeed.items.map((v) => v.vin)], [4, [b1, a3]], 'sorted by speed, second page of two');
  const search = (await api.get<List>(`/api/v1/fleet/vehicles?q=${b1.slice(-5).toLowerCase()}`)).body;
  t.same([search.counts.all, search.items.map((v) => v.vin)], [1, [b1]], 'a VIN fragment in any case');
  const mine = (await api.get<List>('/api/v1/fleet/vehicles', tenant)).body;
  t.same(mine.items.map((v) => v.vin), [a1, a2, a3]);
  t.equal((await api.get<List>(`/api/v1/fleet/vehicles?q=${b1}`, tenant)).body.total, 0);
  t.match((await api.get('/api/v1/fleet/vehicles?brand=Borealis', tenant)).body, { statusCode: 404, code: 'BRAND_NOT_FOUND' });
  t.match((await api.get('/api/v1/fleet/vehicles?brand=Aurora&model=B1')).body, { statusCode: 404, code: 'MODEL_NOT_FOUND' });
  t.match((await api.get('/api/v1/fleet/vehicles?status=parked')).body, { statusCode: 400, code: 'VALIDATION_FAILED' });
});

t.test('positions: every vehicle in scope at its last position, with its map state', async (t) => {
  type Positions = { positions: Array<{ vin: string; lat: number; lon: number; state: string }>; unplaced: number };
  const all = (await api.get<Positions>('/api/v1/positions')).body;
  t.same(all.positions.map((p) => [p.vin, p.lat, p.lon, p.state]), [
    [a1, 48.1, 11.5, 'driving'],
    [a2, 48.2, 11.6, 'charging'],
    [a3, 48.3, 11.7, 'fault'],
    [b1, 59.9, 10.7, 'driving'],
  ]);
  t.equal(all.unplaced, 0);
  t.same((await api.get<Positions>('/api/v1/positions?brand=Aurora&model=A2')).body.positions.map((p) => p.vin), [a3]);
  t.same((await api.get<Positions>('/api/v1/positions', tenant)).body.positions.map((p) => p.vin), [a1, a2, a3]);
  t.match((await api.get('/api/v1/positions?brand=Borealis', tenant)).body, { statusCode: 404, code: 'BRAND_NOT_FOUND' });
  t.match((await api.get('/api/v1/positions', '')).body, { statusCode: 401, code: 'UNAUTHORIZED' });
});

interface Frame {
  at: number;
  changes: Array<[string, number, number, string, number | null]>;
}

const openPositions = (query: string, token: string) => openEventStream<Frame>(`${service.apiUrl}/api/v1/positions/live${query}`, token);

t.test('the position stream coalesces: a vehicle reporting many times in a frame appears once, with its latest position', async (t) => {
  const stream = await openPositions('', tenant);
  t.teardown(stream.close);
  t.match(stream.response.headers['content-type'], /text\/event-stream/);
  // wait for a frame boundary, so that the burst below lands in as few frames as possible
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 1; i <= 10; i++) await send(a1, t0 + i * 1000, { ...at(48.1 + i / 1000, 11.5), 'Vehicle.Speed': 50 + i });
  await send(b1, t0 + 5000, at(60, 11));
  const frames = await waitFor('a frame with the last position', async () => (stream.events.some((e) => e.data.changes.some((c) => c[0] === a1 && c[1] === 48.11)) ? stream.events.map((e) => e.data) : undefined), 5_000);
  const mentions = frames.flatMap((f) => f.changes.filter((c) => c[0] === a1));
  t.ok(mentions.length <= 2, `ten samples, ${mentions.length} mention(s) across ${frames.length} frame(s)`);
  t.same(mentions.at(-1), [a1, 48.11, 11.5, 'driving', 60]);
  t.notOk(frames.some((f) => f.changes.some((c) => c[0] === b1)), 'another brand\'s vehicle never reaches a tenant');
  t.ok(frames.every((f, i) => i === 0 || f.at - frames[i - 1]!.at >= POSITION_FRAME_MS - 50), 'frames at most once per frame interval');
});

t.test('the position stream of a scope that does not exist or is not the tenant\'s is a 404', async (t) => {
  t.match((await api.get('/api/v1/positions/live?brand=Borealis', tenant)).body, { statusCode: 404, code: 'BRAND_NOT_FOUND' });
  t.match((await api.get('/api/v1/positions/live', '')).body, { statusCode: 401 });
});

t.test('faults: vehicles with a fault now, and per model now and in the range (as the model cockpit counts them)', async (t) => {
  type Faults = { now: Array<{ vin: string; dtc: string }>; models: Array<{ brand: string; model: string; vehicles: number; faultsNow: number; faultsInRange: number }> };
  const from = t0 - 60_000;
  const to = Date.now() + 60_000;
  const faults = await waitFor('the fault to be stored', async () => {
    const body = (await api.get<Faults>(`/api/v1/faults?from=${from}&to=${to}`)).body;
    return body.models.some((m) => m.faultsInRange > 0) ? body : undefined;
  });
  t.same(faults.now.map((v) => [v.vin, v.dtc]), [[a3, 'P0420,P0301']]);
  t.same(faults.models, [
    { brand: 'Aurora', model: 'A1', vehicles: 2, faultsNow: 0, faultsInRange: 0 },
    { brand: 'Aurora', model: 'A2', vehicles: 1, faultsNow: 1, faultsInRange: 1 },
    { brand: 'Borealis', model: 'B1', vehicles: 1, faultsNow: 0, faultsInRange: 0 },
  ]);
  const cockpit = (await api.get<{ kpis: { faults: number } }>(`/api/v1/brands/Aurora/models/A2/cockpit?from=${from}&to=${to}`)).body;
  t.equal(cockpit.kpis.faults, 1, 'the same count as the model cockpit');
  t.same((await api.get<Faults>('/api/v1/faults', tenant)).body.models.map((m) => m.brand), ['Aurora', 'Aurora']);
});

t.test('ingestion health is for the admin: rates, rejects by reason, spool and store lag', async (t) => {
  await api.post('/api/v1/telemetry', { vin: a1, ts: Date.now(), seq: 1, signals: { 'Vehicle.Nope': 1 } });
  const health = (await api.get<{ messagesPerSecond: number; rejects: Array<{ reason: string; total: number }>; spoolPendingBytes: number; storeLagSeconds: number; history: unknown[] }>('/api/v1/ingest/health')).body;
  t.ok(health.messagesPerSecond >= 0);
  t.match(health.rejects, [{ reason: 'unknown_signal', total: 1 }]);
  t.type(health.spoolPendingBytes, 'number');
  t.type(health.storeLagSeconds, 'number');
  t.ok(Array.isArray(health.history));
  t.match((await api.get('/api/v1/ingest/health', tenant)).body, { statusCode: 403, code: 'FORBIDDEN' });
});

t.test('CSV export: streamed raw samples that a CSV parser reads back as the API\'s samples', async (t) => {
  const from = t0 - 1;
  const to = t0 + 60_000;
  await waitFor('samples stored', async () => ((await api.get<{ samples: unknown[] }>(`/api/v1/vehicles/${a1}/telemetry?from=${from}&to=${to}`)).body.samples.length === 11 ? true : undefined));
  const response = await fetch(`${service.apiUrl}/api/v1/vehicles/${a1}/telemetry.csv?from=${from}&to=${to}&signals=Vehicle.Speed,Vehicle.CurrentLocation.Latitude`, { headers: { authorization: `Bearer ${admin}` } });
  t.equal(response.status, 200);
  t.match(response.headers.get('content-type'), /^text\/csv/);
  t.match(response.headers.get('content-disposition'), new RegExp(`attachment; filename="${a1}-`));
  const rows = parse(await response.text(), { columns: true }) as Array<Record<string, string>>;
  const samples = (await api.get<{ samples: Array<{ ts: number; seq: number; signals: Record<string, number> }> }>(`/api/v1/vehicles/${a1}/telemetry?from=${from}&to=${to}`)).body.samples;
  t.same(
    rows.map((r) => [Number(r.ts), Number(r.seq), Number(r['Vehicle.Speed']), Number(r['Vehicle.CurrentLocation.Latitude']), r.time]),
    samples.map((s) => [s.ts, s.seq, s.signals['Vehicle.Speed'], s.signals['Vehicle.CurrentLocation.Latitude'], new Date(s.ts).toISOString()]),
  );
  const faulty = await fetch(`${service.apiUrl}/api/v1/vehicles/${a3}/telemetry.csv?from=${from}&to=${to}`, { headers: { authorization: `Bearer ${admin}` } });
  const [row] = parse(await faulty.text(), { columns: true }) as Array<Record<string, string>>;
  t.equal(row!['Vehicle.OBD.DTCList'], 'P0420,P0301', 'a value with a comma survives quoting');
  t.equal(row!['Vehicle.Exterior.AirTemperature'], '', 'a signal the sample lacks is an empty field');
  t.match((await api.get(`/api/v1/vehicles/${b1}/telemetry.csv`, tenant)).body, { statusCode: 404, code: 'VEHICLE_NOT_FOUND' });
  t.match((await api.get(`/api/v1/vehicles/${a1}/telemetry.csv?from=${to}&to=${from}`)).body, { statusCode: 400, code: 'INVALID_RANGE' });
});

t.test('CSV fields are quoted as RFC 4180 asks', async (t) => {
  t.same([csvField(undefined), csvField(1.5), csvField(true), csvField('a,b'), csvField('say "hi"'), csvField('two\nlines')], ['', '1.5', 'true', '"a,b"', '"say ""hi"""', '"two\nlines"']);
});

t.test('a one-time export link downloads once, without a token, and only what its creator could see', async (t) => {
  const created = await api.post<{ url: string; expiresAt: number }>(`/api/v1/vehicles/${a1}/telemetry/exports?from=${t0 - 1}&to=${t0 + 60_000}`, undefined, tenant);
  t.equal(created.status, 201);
  t.match(created.body.url, /^\/api\/v1\/exports\/[A-Za-z0-9_-]{32}$/);
  t.ok(created.body.expiresAt > Date.now());
  const first = await fetch(`${service.apiUrl}${created.body.url}`);
  t.equal(first.status, 200);
  t.equal((parse(await first.text(), { columns: true }) as unknown[]).length, 11);
  const again = await fetch(`${service.apiUrl}${created.body.url}`);
  t.match(await again.json(), { statusCode: 404, code: 'EXPORT_NOT_FOUND' });
  t.match((await api.post(`/api/v1/vehicles/${b1}/telemetry/exports`, undefined, tenant)).body, { statusCode: 404, code: 'VEHICLE_NOT_FOUND' });
  t.match((await api.get('/api/v1/exports/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).body, { statusCode: 404, code: 'EXPORT_NOT_FOUND' });
});

t.test('GET / serves the cockpit with a policy that allows only this service, and its assets gzipped', async (t) => {
  const page = await fetch(`${service.apiUrl}/`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  const csp = page.headers.get('content-security-policy') ?? '';
  t.match(csp, /default-src 'self'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/, 'nothing but the service itself');
  t.equal(page.headers.get('referrer-policy'), 'no-referrer');
  const html = await page.text();
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  t.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), 'a script and a stylesheet');
  t.notMatch(html, /https?:\/\//, 'no address of another host');
  for (const path of assets) {
    const asset = await fetch(`${service.apiUrl}${path}`, { headers: { 'accept-encoding': 'gzip' } });
    t.equal(asset.status, 200, path);
    t.match(asset.headers.get('cache-control'), /immutable/);
    const etag = asset.headers.get('etag')!;
    t.equal((await fetch(`${service.apiUrl}${path}`, { headers: { 'if-none-match': etag } })).status, 304);
  }
  t.match(await (await fetch(`${service.apiUrl}/assets/nope.js`)).json(), { statusCode: 404, code: 'ROUTE_NOT_FOUND' });
});

t.test('the new routes are in the OpenAPI document', async (t) => {
  const doc = (await api.get<{ paths: Record<string, unknown> }>('/docs/json')).body;
  for (const path of ['/api/v1/me', '/api/v1/positions', '/api/v1/positions/live', '/api/v1/fleet/vehicles', '/api/v1/faults', '/api/v1/ingest/health', '/api/v1/vehicles/{vin}/telemetry.csv', '/api/v1/vehicles/{vin}/telemetry/exports', '/api/v1/exports/{ticket}']) {
    t.ok(doc.paths[path], path);
  }
  t.notOk(doc.paths['/'], 'the page itself is not an API route');
});
