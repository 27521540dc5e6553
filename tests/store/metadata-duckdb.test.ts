// The metadata repositories on their embedded backend: a DuckDB file in a temp dir, apart from the telemetry store.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { METADATA_FILE } from '../../services/store/duckdb/duckdb-metadata.ts';
import { metadataDir, openMetadataStore } from '../../services/store/metadata.ts';
import { tempDir } from '../../tooling/system.ts';
import { duckdbFixture } from './metadata-fixture.ts';
import { migrationsSuite } from './migrations-suite.ts';
import { tenantsSuite } from './tenants-suite.ts';
import { vehicle, vehiclesSuite } from './vehicles-suite.ts';

await t.test('the VehicleRepository suite on DuckDB', (t) => vehiclesSuite(t, duckdbFixture));
await t.test('the TenantRepository suite on DuckDB', (t) => tenantsSuite(t, duckdbFixture));
await t.test('migrations on DuckDB', (t) => migrationsSuite(t, duckdbFixture));

await t.test('the metadata file lives in VC_DATA_DIR/store, beside (never inside) the telemetry file', async (t) => {
  const data = await tempDir('metadata-file');
  t.teardown(data.remove);
  const store = await openMetadataStore({ dir: metadataDir(data.path) });
  t.teardown(() => store.close());
  await store.vehicles.insert(vehicle('LNBSCB3F5JW000002'));
  t.equal(store.location, join(data.path, 'store', METADATA_FILE));
  t.ok(existsSync(join(data.path, 'store', METADATA_FILE)));
  t.notOk(existsSync(join(data.path, 'store', 'telemetry.duckdb')), 'no telemetry file is created for it');
  await t.rejects(openMetadataStore({ dir: metadataDir(data.path) }), /already open in this process/, 'a second open of the file in one process is refused');
});
