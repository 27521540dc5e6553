// Versioned migrations on every metadata backend: applied once, in order, recorded in schema_migrations, whole or
// not at all; and opening the metadata store migrates it to the current schema, however often it is opened.
import type { SqlDatabase } from '../../services/store/sql/client.ts';
import { migrate, type Migration } from '../../services/store/sql/migrate.ts';
import { metadataMigrations } from '../../services/store/sql/schema.ts';
import { freshFixture, type MakeFixture, type TapTest } from './metadata-fixture.ts';

const ONE: Migration = { version: 1, name: 'gauges', statements: ['CREATE TABLE gauges (id INTEGER PRIMARY KEY, label TEXT NOT NULL)'] };
const TWO: Migration = { version: 2, name: 'a gauge unit', statements: ['ALTER TABLE gauges ADD COLUMN unit TEXT', "INSERT INTO gauges (id, label, unit) VALUES (1, 'speed', 'km/h')"] };

const versions = async (db: SqlDatabase): Promise<Array<[number, string]>> =>
  (await db.query('SELECT version, name FROM schema_migrations ORDER BY version')).map((row) => [Number(row[0]), String(row[1])]);

export async function migrationsSuite(t: TapTest, make: MakeFixture): Promise<void> {
  await t.test('migrations apply once, in version order, and are recorded', async (t) => {
    const db = await (await freshFixture(t, make)).openSql();
    t.strictSame(await db.transaction((tx) => migrate(tx, [ONE])), [1]);
    t.strictSame(await db.transaction((tx) => migrate(tx, [TWO, ONE])), [2], 'only the new version, though listed first');
    t.strictSame(await db.transaction((tx) => migrate(tx, [ONE, TWO])), [], 'a second run does nothing');
    t.strictSame(await versions(db), [[1, 'gauges'], [2, 'a gauge unit']]);
    t.strictSame(await db.query('SELECT id, label, unit FROM gauges'), [[1, 'speed', 'km/h']]);
  });

  await t.test('a failing migration leaves the schema and the record as they were', async (t) => {
    const db = await (await freshFixture(t, make)).openSql();
    await db.transaction((tx) => migrate(tx, [ONE]));
    const broken: Migration = { version: 2, name: 'broken', statements: ['CREATE TABLE dials (id INTEGER)', 'ALTER TABLE no_such_table ADD COLUMN x TEXT'] };
    await t.rejects(db.transaction((tx) => migrate(tx, [ONE, broken])));
    t.strictSame(await versions(db), [[1, 'gauges']], 'version 2 is not recorded');
    await t.rejects(db.query('SELECT * FROM dials'), 'its first statement was rolled back too');
    t.strictSame(await db.transaction((tx) => migrate(tx, [ONE, TWO])), [2], 'the fixed migration applies later');
  });

  await t.test('opening the metadata store migrates to the current schema, once however often it is opened', async (t) => {
    const fixture = await freshFixture(t, make);
    await (await fixture.open()).close();
    // PostgreSQL: two processes starting at once; the advisory lock lets one migrate and the other find it done
    const again = fixture.shared ? await Promise.all([fixture.open(), fixture.open()]) : [await fixture.open()];
    for (const store of again) await store.close();
    const current = metadataMigrations('duckdb').map((m): [number, string] => [m.version, m.name]);
    t.strictSame(await versions(await fixture.openSql()), current, 'every version once');
  });
}
