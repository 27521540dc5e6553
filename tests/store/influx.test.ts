// The InfluxDB adapter against the shared store suite, on a throwaway influxd; each fixture is its own database.
// InfluxDB-only behaviour (escaping, field types, auth, outages) is in influx-extra.test.ts.
import t from 'tap';
import { InfluxStore } from '../../services/store/influx-store.ts';
import { influxdOrSkip, startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { storeSuite, type StoreFixture } from './store-suite.ts';

const found = influxdOrSkip();

function influxFixture(server: Influxd, database: string, soleRollupWriter = false): StoreFixture {
  const opened: InfluxStore[] = [new InfluxStore({ url: server.url, database, soleRollupWriter })];
  return {
    store: opened[0]!,
    reopen: async () => {
      const store = new InfluxStore({ url: server.url, database, soleRollupWriter });
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of opened) await store.close();
      const res = await fetch(`${server.url}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }),
      });
      if (!res.ok) throw new Error(`DROP DATABASE ${database}: HTTP ${res.status}`);
    },
  };
}

await t.test('the TelemetryStore suite on InfluxDB', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  let databases = 0;
  await storeSuite(t, async () => influxFixture(server, `vc_suite_${++databases}`));
});

// A store that is the only rollup writer derives the cockpit series from the minute rows it holds, not read back.
await t.test('the TelemetryStore suite on InfluxDB, the store being the only rollup writer', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  let databases = 0;
  await storeSuite(t, async () => influxFixture(server, `vc_sole_${++databases}`, true));
});
