// The metadata repositories on PostgreSQL (VC_DATABASE_URL), on a throwaway server; each fixture is its own database.
import t from 'tap';
import { openMetadataStore } from '../../services/store/metadata.ts';
import { postgresOrSkip, startPostgres, type Postgres } from '../../tooling/postgres.ts';
import { postgresFixture } from './metadata-fixture.ts';
import { migrationsSuite } from './migrations-suite.ts';
import { tenantsSuite } from './tenants-suite.ts';
import { vehicle, vehiclesSuite } from './vehicles-suite.ts';

const found = postgresOrSkip();
let server: Postgres | undefined;
if (found.binDir) {
  server = await startPostgres(found.binDir);
  t.teardown(() => server?.stop());
}
const skip = found.skip ?? false;
const fixture = () => postgresFixture(server!)();

await t.test('the VehicleRepository suite on PostgreSQL', { skip }, (t) => vehiclesSuite(t, fixture));
await t.test('the TenantRepository suite on PostgreSQL', { skip }, (t) => tenantsSuite(t, fixture));
await t.test('migrations on PostgreSQL', { skip }, (t) => migrationsSuite(t, fixture));

await t.test('the schema is what psql shows: keys and constraints hold the rules', { skip }, async (t) => {
  const url = await server!.createDatabase();
  const store = await openMetadataStore({ databaseUrl: url, dir: '/nonexistent' });
  t.teardown(() => store.close());
  t.equal(store.location.includes(new URL(url).password), false, 'the location never shows the password');
  t.match(store.location, /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\//);
  const tables = await server!.query(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
  t.strictSame(tables.flat(), ['schema_migrations', 'tenant_tokens', 'tenants', 'vehicles']);
  await store.vehicles.insert(vehicle('LNBSCB3F5JW000003'));
  await t.rejects(
    server!.query(url, "INSERT INTO vehicles (vin, brand, model, credential_hash, created_at) VALUES ('LNBSCB3F5JW000003', 'X', 'Y', 'z', 1)"),
    /duplicate key value violates unique constraint "vehicles_pkey"/,
    'the VIN is unique by constraint, whoever writes',
  );
  await server!.query(url, "INSERT INTO tenants (id, name, brands, created_at) VALUES ('tn_1', 'Voltra', '[]', 1)");
  await t.rejects(server!.query(url, "INSERT INTO tenants (id, name, brands, created_at) VALUES ('tn_2', 'Voltra', '[]', 2)"), /tenants_live_name/, 'one live tenant per name');
  await t.rejects(server!.query(url, "INSERT INTO tenant_tokens (id, tenant_id, token_hash, created_at) VALUES ('t', 'tn_none', 'h', 1)"), /foreign key/, 'a token belongs to a tenant');
});

await t.test('a database that cannot be reached fails the open, and nothing stays open', { skip }, async (t) => {
  const wrong = new URL(server!.url);
  wrong.password = 'not-the-password';
  await t.rejects(openMetadataStore({ databaseUrl: wrong.toString(), dir: '/nonexistent' }), /password authentication failed/);
});
