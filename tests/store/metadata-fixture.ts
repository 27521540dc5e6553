// The metadata backends as test fixtures: each fixture is one fresh database (a DuckDB file in a temp dir, or a new
// database on a throwaway PostgreSQL) that the conformance suites open, close and reopen.
import { openDuckDbMetadata } from '../../services/store/duckdb/duckdb-metadata.ts';
import { openMetadataStore, type MetadataStore } from '../../services/store/metadata.ts';
import { openPostgresMetadata } from '../../services/store/postgres/postgres-metadata.ts';
import type { SqlDatabase } from '../../services/store/sql/client.ts';
import type { Postgres } from '../../tooling/postgres.ts';
import { tempDir } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

/** The suites take the tap test type from here. */
export type { TapTest };

export interface MetadataFixture {
  /** A MetadataStore over the fixture's database (migrated on open); every call opens a new one. */
  open(): Promise<MetadataStore>;
  /** The bare SQL database, no migration run: for the migration tests. */
  openSql(): Promise<SqlDatabase>;
  /** Two stores may be open on the database at once, as two processes would be (PostgreSQL). */
  shared: boolean;
  /** Close whatever is still open and drop the data. */
  cleanup(): Promise<void>;
}

export type MakeFixture = () => Promise<MetadataFixture>;

/** Close what a fixture opened, whichever order the test closed things in (close is idempotent). */
function tracking(): { track: <T extends { close(): Promise<void> }>(opened: T) => T; closeAll: () => Promise<void> } {
  const opened: Array<{ close(): Promise<void> }> = [];
  return {
    track: (x) => (opened.push(x), x),
    closeAll: async () => {
      for (const x of opened.reverse()) await x.close();
    },
  };
}

export const duckdbFixture: MakeFixture = async () => {
  const dir = await tempDir('metadata');
  const { track, closeAll } = tracking();
  return {
    shared: false,
    open: async () => track(await openMetadataStore({ dir: dir.path })),
    openSql: async () => track(await openDuckDbMetadata(dir.path)),
    cleanup: async () => {
      await closeAll();
      await dir.remove();
    },
  };
};

export function postgresFixture(server: Postgres): MakeFixture {
  return async () => {
    const url = await server.createDatabase();
    const { track, closeAll } = tracking();
    return {
      shared: true,
      open: async () => track(await openMetadataStore({ databaseUrl: url, dir: '/nonexistent' })),
      openSql: async () => track(openPostgresMetadata({ url })),
      cleanup: closeAll,
    };
  };
}

/** A fresh fixture for one subtest, cleaned up when it ends. */
export async function freshFixture(t: TapTest, make: MakeFixture): Promise<MetadataFixture> {
  const fixture = await make();
  t.teardown(() => fixture.cleanup());
  return fixture;
}
