// The behaviour every TenantRepository backend must have (DuckDB file, PostgreSQL), written against the interface
// only: tests/store/metadata-duckdb.test.ts and metadata-postgres.test.ts run it.
import type { TenantRecord, TenantTokenRecord } from '../../services/store/tenants.ts';
import { freshFixture, type MakeFixture, type TapTest } from './metadata-fixture.ts';

const tenant = (id: string, name: string, createdAt: number, brands = ['Voltra']): TenantRecord => ({ id, name, brands, createdAt });
const token = (id: string, tenantId: string, createdAt: number): TenantTokenRecord => ({ id, tenantId, tokenHash: `${id}`.padEnd(64, 'f'), createdAt });

export async function tenantsSuite(t: TapTest, make: MakeFixture): Promise<void> {
  const open = async (tt: TapTest) => (await (await freshFixture(tt, make)).open()).tenants;

  await t.test('tenants round-trip, are listed by creation, and a deletion keeps its first time', async (t) => {
    const tenants = await open(t);
    const now = Date.now();
    const voltra: TenantRecord = { id: 'tn_1a2b3c4d5e6f7081', name: 'Voltra Motors', brands: ['Voltra', 'Voltra Sport'], createdAt: now - 2_000 };
    // hostile text in every stored string: quotes, backslashes, a trailing backslash, non-ASCII
    const borealis: TenantRecord = { id: 'tn_90a1b2c3d4e5f607', name: 'Borealis "Cars" \\ Ltd\\', brands: ["Bor'ealis\\", 'Ü'], createdAt: now - 1_000 };
    t.equal(await tenants.create(borealis), true);
    t.equal(await tenants.create(voltra), true);
    t.strictSame(await tenants.get(voltra.id), voltra);
    t.strictSame(await tenants.get(borealis.id), borealis);
    t.strictSame(await tenants.list(), [voltra, borealis], 'oldest first');
    t.equal(await tenants.get("tn_x' OR '1'='1"), undefined, 'an unknown (or hostile) id');

    t.equal(await tenants.delete(voltra.id, now), true);
    t.equal(await tenants.delete(voltra.id, now + 5_000), true, 'deleting again is no error');
    t.strictSame(await tenants.get(voltra.id), { ...voltra, deletedAt: now }, 'the first deletion time is kept');
    t.equal(await tenants.delete('tn_0000000000000000', now), false, 'an unknown tenant');
    t.strictSame(await tenants.list(), [{ ...voltra, deletedAt: now }, borealis], 'a deleted tenant is still listed, marked');
  });

  await t.test('tenant tokens are found by id, listed per tenant, and a revocation keeps its first time', async (t) => {
    const tenants = await open(t);
    const now = Date.now();
    await tenants.create(tenant('tn_a', 'A', now - 9_000));
    await tenants.create(tenant('tn_b', 'B', now - 9_000));
    const first = token('0a1b2c3d4e5f6071', 'tn_a', now - 3_000);
    const second = token('1a1b2c3d4e5f6071', 'tn_a', now - 1_000);
    const other = token('2a1b2c3d4e5f6071', 'tn_b', now - 2_000);
    for (const x of [second, other, first]) t.equal(await tenants.insertToken(x), true);
    t.strictSame(await tenants.getToken(first.id), first);
    t.notOk('revokedAt' in (await tenants.getToken(first.id))!, 'no revokedAt key before a revocation');
    t.strictSame(await tenants.listTokens('tn_a'), [first, second], "one tenant's tokens, oldest first");
    t.strictSame(await tenants.listTokens('tn_nobody'), []);
    t.equal(await tenants.getToken('ffffffffffffffff'), undefined);

    t.equal(await tenants.revokeToken(first.id, now), true);
    t.equal(await tenants.revokeToken(first.id, now + 9_000), true, 'revoking again is no error');
    t.strictSame(await tenants.getToken(first.id), { ...first, revokedAt: now }, 'the first revocation time is kept');
    t.strictSame(await tenants.getToken(second.id), second, "the tenant's other token is untouched");
    t.equal(await tenants.revokeToken('ffffffffffffffff', now), false, 'an unknown token');
  });

  await t.test('a tenant and its first token are written together', async (t) => {
    const tenants = await open(t);
    const now = Date.now();
    const voltra = tenant('tn_0000000000000001', 'Voltra Motors', now);
    const first = token('0000000000000001', voltra.id, now);
    t.equal(await tenants.create(voltra, first), true);
    t.strictSame(await tenants.listTokens(voltra.id), [first]);

    const broken = tenant('tn_0000000000000002', 'Broken Cars', now);
    await t.rejects(tenants.create(broken, token('0000000000000002', 'tn_elsewhere', now)), 'a first token of another tenant is refused');
    t.equal(await tenants.get(broken.id), undefined, 'and the tenant was rolled back with it');
    t.equal(await tenants.getToken('0000000000000002'), undefined);
  });

  await t.test('a live tenant name is taken once; a deleted tenant frees it', async (t) => {
    const tenants = await open(t);
    const now = Date.now();
    t.equal(await tenants.create(tenant('tn_0000000000000001', 'Voltra Motors', now)), true);
    const again = tenant('tn_0000000000000002', 'Voltra Motors', now + 1);
    t.equal(await tenants.create(again, token('0000000000000002', again.id, now)), false, 'a second live tenant of the name is refused');
    t.equal(await tenants.get(again.id), undefined, 'and nothing of it is written');
    t.equal(await tenants.getToken('0000000000000002'), undefined);
    await tenants.delete('tn_0000000000000001', now + 2);
    t.equal(await tenants.create(again), true, 'the name of a deleted tenant may be used again');
  });

  await t.test("deleting a tenant revokes its tokens at once, keeping earlier revocations' times", async (t) => {
    const tenants = await open(t);
    const now = Date.now();
    await tenants.create(tenant('tn_a', 'A', now - 9_000), token('000000000000000a', 'tn_a', now - 9_000));
    await tenants.create(tenant('tn_b', 'B', now - 9_000), token('000000000000000b', 'tn_b', now - 9_000));
    await tenants.insertToken(token('100000000000000a', 'tn_a', now - 8_000));
    await tenants.revokeToken('100000000000000a', now - 5_000);
    t.equal(await tenants.delete('tn_a', now), true);
    t.strictSame((await tenants.listTokens('tn_a')).map((x) => x.revokedAt), [now, now - 5_000]);
    t.equal((await tenants.getToken('000000000000000b'))?.revokedAt, undefined, "another tenant's token is untouched");
  });

  await t.test('a token is added only to a live tenant', async (t) => {
    const tenants = await open(t);
    const now = Date.now();
    t.equal(await tenants.insertToken(token('000000000000000c', 'tn_nobody', now)), false, 'an unknown tenant');
    await tenants.create(tenant('tn_gone', 'Gone', now));
    await tenants.delete('tn_gone', now);
    t.equal(await tenants.insertToken(token('000000000000000d', 'tn_gone', now)), false, 'a deleted tenant');
    t.strictSame(await tenants.listTokens('tn_gone'), []);
    t.equal(await tenants.getToken('000000000000000c'), undefined);
  });

  await t.test('of concurrent creations of one name exactly one wins', async (t) => {
    const fixture = await freshFixture(t, make);
    const stores = fixture.shared ? [await fixture.open(), await fixture.open()] : [await fixture.open()];
    const now = Date.now();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => stores[i % stores.length]!.tenants.create(tenant(`tn_000000000000000${i}`, 'Voltra Motors', now), token(`000000000000000${i}`, `tn_000000000000000${i}`, now))),
    );
    t.equal(results.filter(Boolean).length, 1, 'one true, the others false');
    const live = (await stores[0]!.tenants.list()).filter((x) => x.deletedAt === undefined);
    t.equal(live.length, 1, 'one tenant of that name');
    t.equal((await stores[0]!.tenants.listTokens(live[0]!.id)).length, 1, 'with its first token');
  });

  await t.test('tenants and tokens survive close and reopen, revoked ones stay revoked', async (t) => {
    const fixture = await freshFixture(t, make);
    const first = await fixture.open();
    const voltra: TenantRecord = { id: 'tn_0123456789abcdef', name: 'Voltra Motors', brands: ['Voltra'], createdAt: Date.now() };
    const revoked: TenantTokenRecord = { ...token('0123456789abcdef', voltra.id, Date.now()), tokenHash: 'e'.repeat(64) };
    await first.tenants.create(voltra, revoked);
    await first.tenants.revokeToken(revoked.id, Date.now());
    const stored = await first.tenants.getToken(revoked.id);
    await first.close();
    const again = await fixture.open();
    t.strictSame(await again.tenants.get(voltra.id), voltra, 'tenants persist');
    t.strictSame(await again.tenants.getToken(revoked.id), stored, 'tokens persist, revoked ones stay revoked');
    t.ok(stored?.revokedAt);
  });
}
