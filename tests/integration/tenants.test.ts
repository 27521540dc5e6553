// Automaker tenants: the admin creates them scoped to brands; a tenant token sees and writes only its brands, and
// another brand's vehicle, telemetry, registration, cockpit or live stream is a 404 exactly like one that does not
// exist. Tokens are shown once, stored as hashes, and revocable.
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import t from 'tap';
import { TenantDirectory } from '../../services/tenants/tenants.ts';
import { apiClient, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { waitFor } from '../../tooling/system.ts';

const service = await startLocalService();
t.teardown(service.cleanup);
const admin = apiClient(service.apiUrl, service.adminToken.token);

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}
interface CreatedTenant {
  id: string;
  name: string;
  brands: string[];
  createdAt: number;
  tokenId: string;
  token: string;
}
interface TenantView {
  id: string;
  name: string;
  brands: string[];
  tokens: Array<{ tokenId: string; createdAt: number; revokedAt: number | null }>;
}

/** One HTTP call; `token` undefined sends no Authorization header. */
async function call<T = unknown>(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${service.apiUrl}${path}`, {
    method,
    headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

async function createTenant(name: string, brands: string[]): Promise<CreatedTenant> {
  const r = await call<CreatedTenant>('POST', '/api/v1/tenants', service.adminToken.token, { name, brands });
  if (r.status !== 201) throw new Error(`creating tenant ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const [a1, a2, b1] = [testVin(1, 'TNA'), testVin(2, 'TNA'), testVin(3, 'TNB')];
const nobody = testVin(99, 'TNX');
await registerVehicles(admin, [a1, a2], 'Aurora', 'A1');
await registerVehicles(admin, [b1], 'Borealis', 'B1');
const now = Date.now();
const sample = (vin: string, seq: number, speed = 42) => ({ vin, ts: now - 60_000 + seq, seq, signals: { 'Vehicle.Speed': speed } });
for (const vin of [a1, b1]) {
  const r = await admin.post('/api/v1/telemetry', sample(vin, 1));
  if (r.status !== 200) throw new Error(`seeding ${vin}: ${r.status}`);
}
// 200 means durable in the spool; the store writer makes it queryable a moment later (it lingers to fill a batch)
for (const vin of [a1, b1]) {
  await waitFor(`${vin}'s seed sample in the store`, async () => {
    const r = await admin.get<{ samples: unknown[] }>(`/api/v1/vehicles/${vin}/telemetry?from=${now - 120_000}&to=${now}`);
    return r.body.samples.length > 0 ? true : undefined;
  });
}
const aurora = await createTenant('Aurora Motors', ['Aurora']);
const borealis = await createTenant('Borealis Cars', ['Borealis']);
const asAurora = apiClient(service.apiUrl, aurora.token);

/** A 404 answer with the VIN taken out, to compare "another brand's" with "does not exist". */
const withoutVin = (body: ErrorBody, vin: string) => ({ ...body, message: body.message.replace(vin, '<vin>') });

t.test('the admin creates a tenant scoped to brands; its token is shown once and stored only as a hash', async (t) => {
  t.match(aurora, { id: /^tn_[0-9a-f]{16}$/, name: 'Aurora Motors', brands: ['Aurora'], tokenId: /^[0-9a-f]{16}$/, token: /^vct_[0-9a-f]{16}_[\w-]{43}$/ });
  const list = await call<{ items: TenantView[] }>('GET', '/api/v1/tenants', service.adminToken.token);
  t.equal(list.status, 200);
  t.match(list.body.items.find((x) => x.id === aurora.id), { name: 'Aurora Motors', brands: ['Aurora'], tokens: [{ tokenId: aurora.tokenId, revokedAt: null }] });
  t.notOk(JSON.stringify(list.body).includes(aurora.token), 'the list never shows a token');
  const stored = await service.metadata.tenants.getToken(aurora.tokenId);
  t.equal(stored?.tokenHash, createHash('sha256').update(aurora.token).digest('hex'), 'the database holds the sha256 of the token');
  t.notOk(JSON.stringify(stored).includes(aurora.token), 'and never the token');
  const one = await call<TenantView>('GET', `/api/v1/tenants/${aurora.id}`, service.adminToken.token);
  t.match(one.body, { id: aurora.id, name: 'Aurora Motors' });
  t.match((await call('GET', '/api/v1/tenants/tn_0000000000000000', service.adminToken.token)).body, { statusCode: 404, code: 'TENANT_NOT_FOUND' });
  t.match((await call('POST', '/api/v1/tenants', service.adminToken.token, { name: 'Aurora Motors', brands: ['Other'] })).body, { statusCode: 409, code: 'TENANT_EXISTS' });
  t.match((await call('POST', '/api/v1/tenants', service.adminToken.token, { name: 'No brands', brands: [] })).body, { statusCode: 400, code: 'VALIDATION_FAILED' });
});

t.test('a tenant token may not administer tenants; no token is 401', async (t) => {
  t.match((await call('GET', '/api/v1/tenants', aurora.token)).body, { statusCode: 403, code: 'FORBIDDEN' });
  t.match((await call('POST', '/api/v1/tenants', aurora.token, { name: 'Sneaky', brands: ['Borealis'] })).body, { statusCode: 403, code: 'FORBIDDEN' });
  t.match((await call('POST', `/api/v1/tenants/${borealis.id}/tokens`, aurora.token)).body, { statusCode: 403, code: 'FORBIDDEN' });
  t.match((await call('GET', '/api/v1/vehicles', undefined)).body, { statusCode: 401, code: 'UNAUTHORIZED' });
  t.match((await call('GET', '/api/v1/vehicles', `vct_${'0'.repeat(16)}_${'A'.repeat(43)}`)).body, { statusCode: 401, code: 'UNAUTHORIZED' }, 'a well-formed but unknown token');
});

t.test('a tenant lists only the vehicles of its brands', async (t) => {
  const list = await asAurora.get<{ items: Array<{ vin: string; brand: string }> }>('/api/v1/vehicles');
  t.equal(list.status, 200);
  t.ok(list.body.items.length >= 2);
  t.ok(list.body.items.every((v) => v.brand === 'Aurora'), 'only Aurora vehicles');
  t.notOk(list.body.items.some((v) => v.vin === b1));
  const filtered = await asAurora.get<{ items: unknown[]; nextCursor: string | null }>('/api/v1/vehicles?brand=Borealis');
  t.same(filtered.body, { items: [], nextCursor: null }, 'filtering by another brand finds nothing');
  const page = await asAurora.get<{ items: Array<{ vin: string }>; nextCursor: string | null }>('/api/v1/vehicles?limit=1');
  t.same(page.body.items.map((v) => v.vin), [a1]);
  const next = await asAurora.get<{ items: Array<{ vin: string }> }>(`/api/v1/vehicles?limit=10&cursor=${page.body.nextCursor}`);
  t.notOk(next.body.items.some((v) => v.vin === b1), 'pagination never reaches another brand');
});

t.test("another brand's twin and telemetry are 404, exactly like a VIN that does not exist", async (t) => {
  for (const path of ['', '/telemetry', '/telemetry?interval=10s', `/telemetry?from=${now - 120_000}&to=${now}&signals=Vehicle.Speed`]) {
    const theirs = await asAurora.get<ErrorBody>(`/api/v1/vehicles/${b1}${path}`);
    const missing = await asAurora.get<ErrorBody>(`/api/v1/vehicles/${nobody}${path}`);
    t.equal(theirs.status, 404, `GET /vehicles/{B}${path}`);
    t.same(withoutVin(theirs.body, b1), withoutVin(missing.body, nobody), `same answer as a VIN that does not exist (${path || 'twin'})`);
    t.equal(theirs.body.code, 'VEHICLE_NOT_FOUND');
  }
  const own = await asAurora.get<{ brand: string }>(`/api/v1/vehicles/${a1}`);
  t.equal(own.status, 200);
  const ownTelemetry = await asAurora.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${a1}/telemetry?from=${now - 120_000}&to=${now}`);
  t.same(ownTelemetry.body.samples.map((s) => s.seq), [1]);
});

t.test('a tenant registers vehicles of its own brands only', async (t) => {
  const own = await asAurora.post<{ vin: string; brand: string; mqtt: { username: string; password: string } }>('/api/v1/vehicles', { vin: testVin(10, 'TNA'), brand: 'Aurora', model: 'A2' });
  t.equal(own.status, 201);
  t.match(own.body, { brand: 'Aurora', mqtt: { username: testVin(10, 'TNA') } });
  const other = await asAurora.post<ErrorBody>('/api/v1/vehicles', { vin: testVin(11, 'TNA'), brand: 'Borealis', model: 'B9' });
  const unknown = await asAurora.post<ErrorBody>('/api/v1/vehicles', { vin: testVin(12, 'TNA'), brand: 'Nonesuch', model: 'N1' });
  t.match(other.body, { statusCode: 404, code: 'BRAND_NOT_FOUND', message: 'no brand Borealis' }, 'another brand: 404 BRAND_NOT_FOUND');
  t.match(unknown.body, { statusCode: 404, code: 'BRAND_NOT_FOUND', message: 'no brand Nonesuch' }, 'the same as a brand that does not exist');
  t.equal((await admin.get(`/api/v1/vehicles/${testVin(11, 'TNA')}`)).status, 404, 'nothing was registered');
  const taken = await asAurora.post<ErrorBody>('/api/v1/vehicles', { vin: b1, brand: 'Aurora', model: 'A1' });
  t.match(taken.body, { statusCode: 409, code: 'VEHICLE_EXISTS' }, 'a VIN is a global key: taken is 409 whoever holds it (documented)');
  t.match((await admin.get<{ brand: string }>(`/api/v1/vehicles/${b1}`)).body, { brand: 'Borealis' }, 'and the holder keeps it');
});

t.test('a tenant registers a fleet of its own brands only, and lists only its brands\' stored samples', async (t) => {
  const fleet = [testVin(20, 'TNA'), testVin(21, 'TNA')].map((vin) => ({ vin, brand: 'Aurora', model: 'A3' }));
  const mixed = await asAurora.post<ErrorBody>('/api/v1/vehicles/batch', { vehicles: [...fleet, { vin: testVin(22, 'TNA'), brand: 'Borealis', model: 'B9' }] });
  t.match(mixed.body, { statusCode: 404, code: 'BRAND_NOT_FOUND', message: 'no brand Borealis' });
  t.equal((await admin.get(`/api/v1/vehicles/${fleet[0]!.vin}`)).status, 404, 'one vehicle of another brand: nothing registered');
  const own = await asAurora.post<{ registered: Array<{ vin: string }>; existing: string[] }>('/api/v1/vehicles/batch', { vehicles: fleet });
  t.equal(own.status, 200);
  t.strictSame(own.body.registered.map((r) => r.vin), fleet.map((v) => v.vin));
  const window = `from=${now - 120_000}&to=${now}`;
  const seen = await asAurora.get<{ samples: Array<{ vin: string }> }>(`/api/v1/telemetry?${window}`);
  t.strictSame(seen.body.samples.map((s) => s.vin), [a1], "Aurora's sample, not Borealis'");
  const all = await admin.get<{ samples: Array<{ vin: string }> }>(`/api/v1/telemetry?${window}`);
  t.strictSame(all.body.samples.map((s) => s.vin).sort(), [a1, b1].sort(), 'the admin sees every brand');
});

t.test("a tenant posts telemetry for its vehicles only; another brand's VIN is 404 like an unregistered one, nothing is stored", async (t) => {
  const own = await asAurora.post<{ accepted: number }>('/api/v1/telemetry', sample(a2, 7));
  t.equal(own.status, 200);
  t.equal(own.body.accepted, 1);
  const theirs = await asAurora.post<ErrorBody>('/api/v1/telemetry', sample(b1, 77, 250));
  const unregistered = await asAurora.post<ErrorBody>('/api/v1/telemetry', sample(nobody, 77));
  t.equal(theirs.status, 404);
  t.same(withoutVin(theirs.body, b1), withoutVin(unregistered.body, nobody), 'indistinguishable from an unregistered VIN');
  t.equal(theirs.body.code, 'VEHICLE_NOT_FOUND');
  const batch = await asAurora.post<ErrorBody>('/api/v1/telemetry', { vin: b1, samples: [{ ts: now - 1000, seq: 78, signals: { 'Vehicle.Speed': 1 } }] });
  t.equal(batch.status, 404, 'a batch too');
  t.ok(await service.writer.drained());
  const stored = await admin.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${b1}/telemetry?from=${now - 120_000}&to=${now}`);
  t.same(stored.body.samples.map((s) => s.seq), [1], 'nothing stored under the other brand\'s VIN');
  const letters = await admin.get<{ items: Array<{ reason: string; vin?: string; topic: string }> }>(`/api/v1/dead-letters?reason=unauthorized_publisher&vin=${b1}`);
  t.equal(letters.body.items.length, 2, 'the attempts are unauthorized_publisher dead letters, for the admin to see');
  t.match(letters.body.items[0], { topic: 'http', vin: b1 });
});

t.test('dead letters: the admin sees all, a tenant only those of one of its vehicles', async (t) => {
  await asAurora.post('/api/v1/telemetry', { vin: a1, ts: now, seq: 9, signals: { 'Vehicle.Warp': 9 } });
  t.ok(await service.writer.drained());
  t.match((await asAurora.get('/api/v1/dead-letters')).body, { statusCode: 403, code: 'FORBIDDEN' }, 'the fleet-wide list is admin-only');
  const theirs = await asAurora.get<ErrorBody>(`/api/v1/dead-letters?vin=${b1}`);
  const missing = await asAurora.get<ErrorBody>(`/api/v1/dead-letters?vin=${nobody}`);
  t.equal(theirs.status, 404);
  t.same(withoutVin(theirs.body, b1), withoutVin(missing.body, nobody));
  const own = await asAurora.get<{ items: Array<{ vin?: string; reason: string }> }>(`/api/v1/dead-letters?vin=${a1}`);
  t.equal(own.status, 200);
  t.ok(own.body.items.length >= 1);
  t.ok(own.body.items.every((l) => l.vin === a1));
  const all = await admin.get<{ items: Array<{ vin?: string }> }>('/api/v1/dead-letters?limit=100');
  t.ok(all.body.items.some((l) => l.vin === b1) && all.body.items.some((l) => l.vin === a1), 'the admin sees every brand\'s');
});

t.test("another brand's cockpit, models and live stream are 404; brand lists and the fleet cockpit leave it out", async (t) => {
  const brands = await asAurora.get<{ brands: Array<{ brand: string }> }>('/api/v1/brands');
  t.same(brands.body.brands.map((b) => b.brand), ['Aurora']);
  for (const path of ['/api/v1/brands/Borealis/cockpit', '/api/v1/brands/Borealis/models', '/api/v1/brands/Borealis/models/B1/cockpit']) {
    const theirs = await asAurora.get<ErrorBody>(path);
    const missing = await asAurora.get<ErrorBody>(path.replace('Borealis', 'Nonesuch'));
    t.equal(theirs.status, 404, path);
    t.same({ ...theirs.body, message: theirs.body.message.replace('Borealis', '<b>') }, { ...missing.body, message: missing.body.message.replace('Nonesuch', '<b>') }, `${path}: same as a brand that does not exist`);
  }
  const fleet = await asAurora.get<{ kpis: { vehicles: number } }>('/api/v1/fleet/cockpit');
  const auroraVehicles = (await asAurora.get<{ items: unknown[] }>('/api/v1/vehicles?limit=1000')).body.items.length;
  t.equal(fleet.body.kpis.vehicles, auroraVehicles, 'the fleet cockpit counts only the tenant\'s vehicles');
  t.match((await asAurora.get('/api/v1/live?brand=Borealis')).body, { statusCode: 404, code: 'BRAND_NOT_FOUND' });
  t.match((await asAurora.get(`/api/v1/live?vin=${b1}`)).body, { statusCode: 404, code: 'VEHICLE_NOT_FOUND' });

  // an unfiltered live stream carries only the tenant's vehicles
  const events: string[] = [];
  const stream = await new Promise<() => void>((resolve, reject) => {
    const req = httpRequest(`${service.apiUrl}/api/v1/live`, { headers: { authorization: `Bearer ${aurora.token}` } }, (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        for (const match of chunk.matchAll(/^data: (.*)$/gm)) events.push((JSON.parse(match[1]!) as { vin: string }).vin);
      });
      resolve(() => req.destroy());
    });
    req.on('error', reject);
    req.end();
  });
  t.teardown(stream);
  await admin.post('/api/v1/telemetry', sample(b1, 20));
  await admin.post('/api/v1/telemetry', sample(a1, 20));
  await waitFor('the Aurora live event', async () => (events.includes(a1) ? true : undefined));
  t.same(events, [a1], 'the Borealis update never reaches an Aurora stream');
});

t.test('the admin token sees every brand', async (t) => {
  t.equal((await admin.get(`/api/v1/vehicles/${b1}`)).status, 200);
  t.equal((await admin.get(`/api/v1/vehicles/${a1}/telemetry`)).status, 200);
  const list = await admin.get<{ items: Array<{ brand: string }> }>('/api/v1/vehicles?limit=1000');
  t.same([...new Set(list.body.items.map((v) => v.brand))].sort(), ['Aurora', 'Borealis']);
  const brands = await admin.get<{ brands: Array<{ brand: string }> }>('/api/v1/brands');
  t.same(brands.body.brands.map((b) => b.brand), ['Aurora', 'Borealis']);
});

t.test("a revoked token is 401 at once; the tenant's other tokens keep working", async (t) => {
  const second = await call<{ tokenId: string; token: string; createdAt: number }>('POST', `/api/v1/tenants/${borealis.id}/tokens`, service.adminToken.token);
  t.equal(second.status, 201);
  t.match(second.body, { tokenId: /^[0-9a-f]{16}$/, token: /^vct_/ });
  t.equal((await call('GET', `/api/v1/vehicles/${b1}`, borealis.token)).status, 200);
  t.equal((await call('GET', `/api/v1/vehicles/${b1}`, second.body.token)).status, 200);

  const revoked = await call('DELETE', `/api/v1/tenants/${borealis.id}/tokens/${borealis.tokenId}`, service.adminToken.token);
  t.equal(revoked.status, 204);
  t.match((await call('GET', `/api/v1/vehicles/${b1}`, borealis.token)).body, { statusCode: 401, code: 'UNAUTHORIZED' }, 'refused at once');
  t.equal((await call('GET', `/api/v1/vehicles/${b1}`, second.body.token)).status, 200, 'the other token still works');
  t.equal((await call('DELETE', `/api/v1/tenants/${borealis.id}/tokens/${borealis.tokenId}`, service.adminToken.token)).status, 204, 'revoking twice is no error');
  t.match((await call('DELETE', `/api/v1/tenants/${borealis.id}/tokens/ffffffffffffffff`, service.adminToken.token)).body, { statusCode: 404, code: 'TOKEN_NOT_FOUND' });
  t.match((await call('DELETE', `/api/v1/tenants/${aurora.id}/tokens/${second.body.tokenId}`, service.adminToken.token)).body, { statusCode: 404, code: 'TOKEN_NOT_FOUND' }, 'a token is revoked through its own tenant only');
  const view = await call<TenantView>('GET', `/api/v1/tenants/${borealis.id}`, service.adminToken.token);
  t.match(view.body.tokens, [{ tokenId: borealis.tokenId, revokedAt: Number }, { tokenId: second.body.tokenId, revokedAt: null }]);
});

t.test('deleting a tenant refuses every one of its tokens', async (t) => {
  const doomed = await createTenant('Doomed Motors', ['Aurora']);
  const extra = await call<{ token: string }>('POST', `/api/v1/tenants/${doomed.id}/tokens`, service.adminToken.token);
  t.equal((await call('GET', '/api/v1/vehicles', doomed.token)).status, 200);
  t.equal((await call('DELETE', `/api/v1/tenants/${doomed.id}`, service.adminToken.token)).status, 204);
  t.equal((await call('GET', '/api/v1/vehicles', doomed.token)).status, 401);
  t.equal((await call('GET', '/api/v1/vehicles', extra.body.token)).status, 401);
  t.match((await call('GET', `/api/v1/tenants/${doomed.id}`, service.adminToken.token)).body, { code: 'TENANT_NOT_FOUND' });
  t.match((await call('DELETE', `/api/v1/tenants/${doomed.id}`, service.adminToken.token)).body, { code: 'TENANT_NOT_FOUND' });
  t.match((await call('POST', `/api/v1/tenants/${doomed.id}/tokens`, service.adminToken.token)).body, { code: 'TENANT_NOT_FOUND' });
  const names = (await call<{ items: TenantView[] }>('GET', '/api/v1/tenants', service.adminToken.token)).body.items.map((x) => x.name);
  t.notOk(names.includes('Doomed Motors'), 'no longer listed');
  t.equal((await createTenant('Doomed Motors', ['Aurora'])).name, 'Doomed Motors', 'its name is free again');
});

t.test('another process over the same store sees new tokens at once and refuses a revoked one within the cache TTL', async (t) => {
  let clock = Date.now();
  const other = new TenantDirectory({ tenants: service.metadata.tenants, cacheTtlMs: 5_000, now: () => clock });
  const issued = await call<{ tokenId: string; token: string }>('POST', `/api/v1/tenants/${aurora.id}/tokens`, service.adminToken.token);
  t.match(await other.resolve(issued.body.token), { kind: 'tenant', tenantId: aurora.id }, 'a token issued elsewhere works at once');
  await call('DELETE', `/api/v1/tenants/${aurora.id}/tokens/${issued.body.tokenId}`, service.adminToken.token);
  t.equal((await call('GET', '/api/v1/vehicles', issued.body.token)).status, 401, 'refused at once by the process that revoked it');
  t.ok(await other.resolve(issued.body.token), 'the other process may still accept it from its cache (documented window)');
  clock += 5_001;
  t.equal(await other.resolve(issued.body.token), undefined, 'and refuses it once its cache entry is older than the TTL');
  const forged = `${aurora.token.slice(0, -1)}${aurora.token.endsWith('A') ? 'B' : 'A'}`;
  t.ok(await other.resolve(aurora.token));
  t.equal(await other.resolve(forged), undefined, 'a live token changed in its last character is refused');
});
