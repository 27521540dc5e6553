// Two service instances over one PostgreSQL (the metadata database) and one InfluxDB, as two API processes of a
// deployment: the database decides registration races, each sees the other's vehicles and tenants within the
// documented bounds, and nothing of the registry or of credentials reaches the telemetry database.
import t from 'tap';
import { NEGATIVE_TTL_MS } from '../../services/registry/registry.ts';
import { REGISTRY_REFRESH_MS } from '../../services/service.ts';
import { TOKEN_CACHE_TTL_MS } from '../../services/tenants/tenants.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { influxQuery } from '../../tooling/influxql.ts';
import { postgresOrSkip, startPostgres } from '../../tooling/postgres.ts';
import { apiClient, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { waitFor } from '../../tooling/system.ts';

const postgres = postgresOrSkip();
const influxd = influxdOrSkip();
if (postgres.binDir === undefined || influxd.binary === undefined) {
  t.plan(0, postgres.skip ?? influxd.skip);
} else {
  await run(postgres.binDir, influxd.binary);
}

interface Created {
  vin?: string;
  brand?: string;
  code?: string;
  id?: string;
  tokenId?: string;
  token?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(binDir: string, influxBinary: string): Promise<void> {
  const server = await startPostgres(binDir);
  t.teardown(server.stop);
  const influx = await startInfluxd(influxBinary);
  t.teardown(influx.stop);
  const databaseUrl = await server.createDatabase();
  const adminToken = 'registry-postgres-admin-token-0123';
  const shared = { databaseUrl, influxUrl: influx.url, influxDb: 'vc_registry', adminToken };
  // one after the other: both create the InfluxDB database at start
  const a = await startLocalService(shared);
  t.teardown(a.cleanup);
  const b = await startLocalService(shared);
  t.teardown(b.cleanup);
  const [apiA, apiB] = [apiClient(a.apiUrl, adminToken), apiClient(b.apiUrl, adminToken)];

  t.test('two registrations of one VIN at the same instant through two services: exactly one 201 and one 409', async (t) => {
    for (let i = 0; i < 10; i++) {
      const vin = testVin(i, 'RAC');
      const [ra, rb] = await Promise.all([
        apiA.post<Created>('/api/v1/vehicles', { vin, brand: 'Aurora', model: 'A1' }),
        apiB.post<Created>('/api/v1/vehicles', { vin, brand: 'Borealis', model: 'B1' }),
      ]);
      t.strictSame([ra.status, rb.status].sort(), [201, 409], `${vin}: one winner`);
      const loser = ra.status === 409 ? ra : rb;
      t.equal(loser.body.code, 'VEHICLE_EXISTS');
      const winner = ra.status === 201 ? ra : rb;
      for (const api of [apiA, apiB]) t.equal((await api.get<Created>(`/api/v1/vehicles/${vin}`)).body.brand, winner.body.brand, "both services answer the winner's vehicle");
    }
  });

  t.test('a vehicle registered through one service is known to the other at once, after a miss within the negative TTL', async (t) => {
    const vin = testVin(100, 'RGX');
    t.equal((await apiA.post('/api/v1/vehicles', { vin, brand: 'Aurora', model: 'A1' })).status, 201);
    t.equal((await apiB.get(`/api/v1/vehicles/${vin}`)).status, 200, 'a lookup of the VIN asks the database');
    const sample = { vin, ts: Date.now() - 1_000, seq: 1, signals: { 'Vehicle.Speed': 50 } };
    t.match((await apiB.post('/api/v1/telemetry', sample)).body, { accepted: 1 }, 'and its telemetry is accepted there');

    const late = testVin(101, 'RGX');
    t.equal((await apiB.get(`/api/v1/vehicles/${late}`)).status, 404, 'B looks the VIN up before it exists (and remembers the miss)');
    t.equal((await apiA.post('/api/v1/vehicles', { vin: late, brand: 'Aurora', model: 'A1' })).status, 201);
    await sleep(NEGATIVE_TTL_MS);
    t.equal((await apiB.get(`/api/v1/vehicles/${late}`)).status, 200, `known to B once the miss is ${NEGATIVE_TTL_MS} ms old`);
  });

  t.test(`the other service lists a new vehicle within REGISTRY_REFRESH_MS (${REGISTRY_REFRESH_MS} ms)`, async (t) => {
    const vin = testVin(200, 'RGL');
    t.equal((await apiA.post('/api/v1/vehicles', { vin, brand: 'Listed', model: 'L1' })).status, 201);
    const listed = async () => (await apiB.get<{ items: Array<{ vin: string }> }>('/api/v1/vehicles?brand=Listed')).body.items.some((v) => v.vin === vin);
    // one refresh period plus a second for the timer and the query
    t.ok(await waitFor('B lists the vehicle', async () => ((await listed()) ? true : undefined), REGISTRY_REFRESH_MS + 1_000, 200));
  });

  t.test('tenants: a name is taken once across services; a token works at once elsewhere and a revocation reaches it within the cache TTL', async (t) => {
    const [ta, tb] = await Promise.all([
      apiA.post<Created>('/api/v1/tenants', { name: 'Aurora Motors', brands: ['Aurora'] }),
      apiB.post<Created>('/api/v1/tenants', { name: 'Aurora Motors', brands: ['Aurora'] }),
    ]);
    t.strictSame([ta.status, tb.status].sort(), [201, 409], 'one tenant of that name');
    const tenant = (ta.status === 201 ? ta : tb).body;
    const asTenant = apiClient(b.apiUrl, tenant.token!);
    t.equal((await asTenant.get('/api/v1/vehicles')).status, 200, 'a token created through A works at B at once');
    const revoked = await fetch(`${a.apiUrl}/api/v1/tenants/${tenant.id}/tokens/${tenant.tokenId}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    t.equal(revoked.status, 204);
    t.equal((await apiClient(a.apiUrl, tenant.token!).get('/api/v1/vehicles')).status, 401, 'refused at once by the service that revoked it');
    await sleep(TOKEN_CACHE_TTL_MS);
    t.equal((await asTenant.get('/api/v1/vehicles')).status, 401, `refused by the other service once its cache entry is ${TOKEN_CACHE_TTL_MS} ms old`);
  });

  t.test('nothing of the registry, tenants or tokens is in InfluxDB; all of it is in PostgreSQL', async (t) => {
    const measurements = (await influxQuery(influx.url, 'vc_registry', 'SHOW MEASUREMENTS')).flat();
    t.ok(measurements.includes('telemetry'), 'the telemetry database is in use');
    for (const name of ['vehicles', 'tenants', 'tenant_tokens']) t.notOk(measurements.includes(name), `no ${name} measurement`);
    const [row] = await server.query(databaseUrl, "SELECT count(*) FROM vehicles WHERE vin LIKE 'RAC%'");
    t.equal(Number(row?.[0]), 10, 'the raced VINs, once each');
  });

  // last: it stops the database for good
  t.test('while PostgreSQL is down: /readyz says so, known vehicles keep working, a registration is a 500 that leaks nothing', async (t) => {
    const known = testVin(0, 'RAC');
    await server.stop();
    const ready = await apiA.get<{ ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> }>('/readyz', '');
    t.equal(ready.status, 503);
    t.equal(ready.body.checks.metadata?.ok, false, 'the metadata check fails');
    t.equal(ready.body.checks.store?.ok, true, 'the telemetry store is fine');
    t.equal((await apiA.get(`/api/v1/vehicles/${known}`)).status, 200, 'a vehicle this process knows is still served');
    const refused = await apiA.post<{ statusCode: number; code: string; message: string }>('/api/v1/vehicles', { vin: testVin(300, 'RGD'), brand: 'Aurora', model: 'A1' });
    t.strictSame(refused.body, { statusCode: 500, code: 'INTERNAL_ERROR', message: 'internal server error' });
  });
}
