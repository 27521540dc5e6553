// The InfluxDB adapter against the shared store suite, on a throwaway influxd; each fixture is its own database.
// InfluxDB-only behaviour (escaping, field types, auth, outages) is in influx-extra.test.ts.
import t from 'tap';
import { InfluxStore } from '../../services/store/influx-store.ts';
import type { RetentionSettings } from '../../services/store/influx-retention.ts';
import { influxdOrSkip, startInfluxd, type Influxd } from '../helpers/influxd.ts';
import { cockpitSuite } from './cockpit-suite.ts';
import { storeSuite, type StoreFixture } from './store-suite.ts';

const found = influxdOrSkip();

function influxFixture(server: Influxd, database: string, retention?: RetentionSettings): StoreFixture {
  const opened: InfluxStore[] = [new InfluxStore({ url: server.url, database, retention })];
  return {
    store: opened[0]!,
    reopen: async () => {
      const store = new InfluxStore({ url: server.url, database, retention });
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

await t.test('the TelemetryStore suite on InfluxDB, raw points in their own retention policy (vc_raw)', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  let databases = 0;
  await storeSuite(t, async () => influxFixture(server, `vc_suite_rp_${++databases}`, { raw: '30d' }));
});

// The raw telemetry in vc_raw, the cockpit tables in vc_rollups; the default policy is covered by the integration tests.
await t.test('the cockpit engine on InfluxDB, held to the raw samples', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  let databases = 0;
  await cockpitSuite(t, async () => influxFixture(server, `vc_cockpit_${++databases}`, { raw: '30d' }));
});
