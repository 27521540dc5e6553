// The InfluxDB store's retention policies on a real influxd: created and altered at start, raw points in vc_raw
// and cockpit tables in vc_rollups, samples past the raw retention refused, and a database of the earlier layout
// (everything in the default policy) reported at start and brought over by the statements the README gives.
// What the retention check then deletes, and what the service still answers, is tests/integration/retention.test.ts.
import t from 'tap';
import { CockpitReader } from '../../services/cockpit/reader.ts';
import { MINUTE_MS } from '../../services/store/cockpit-tables.ts';
import { InfluxStore } from '../../services/store/influx/store.ts';
import { ensureRetention, type RetentionSettings } from '../../services/store/influx/retention.ts';
import { StoreRejectedError, type StoreLogger, type StoredSample } from '../../services/store/telemetry-store.ts';
import { influxQuery } from '../../tooling/influxql.ts';
import { influxdOrSkip, startInfluxd, type Influxd } from '../../tooling/influxd.ts';
import { engine, writeBatch } from './cockpit-suite.ts';

const found = influxdOrSkip();
const HOUR = 60 * MINUTE_MS;

interface Logged {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
}

function capturingLogger(): { logger: StoreLogger; logged: Logged[]; events: (name: string) => Array<Record<string, unknown>> } {
  const logged: Logged[] = [];
  const push = (level: Logged['level']) => (obj: object) => logged.push({ level, obj: obj as Record<string, unknown> });
  return { logger: { info: push('info'), warn: push('warn'), error: push('error') }, logged, events: (name) => logged.filter((l) => l.obj.event === name).map((l) => l.obj) };
}

function samplesOf(vins: readonly string[], from: number, minutes: number): StoredSample[] {
  const out: StoredSample[] = [];
  vins.forEach((vin, v) => {
    for (let m = 0; m < minutes; m++) {
      out.push({ vin, brand: 'Acme', model: v % 2 === 0 ? 'Roadster' : 'Coupe', ts: from + m * MINUTE_MS + v * 7, seq: m, signals: { 'Vehicle.Speed': 40 + v + m, 'Vehicle.TraveledDistance': 1000 + m } });
    }
  });
  return out;
}

const VINS = ['LNBSCB3F5JW100001', 'LNBSCB3F5JW100002', 'LNBSCB3F5JW100003'];

t.test('retention policies on a real influxd', { skip: found.skip ?? false }, async (t) => {
  const server: Influxd = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  let databases = 0;
  const open = (database: string, retention: RetentionSettings | undefined, logger?: StoreLogger): InfluxStore => {
    const store = new InfluxStore({ url: server.url, database, retention, logger });
    t.teardown(() => store.close());
    return store;
  };
  const policies = async (database: string): Promise<Record<string, unknown[]>> =>
    Object.fromEntries((await influxQuery(server.url, undefined, `SHOW RETENTION POLICIES ON "${database}"`)).map((row) => [row[0], row.slice(1)]));
  const count = async (database: string, from: string): Promise<number> => Number((await influxQuery(server.url, database, `SELECT count(*) FROM ${from}`))[0]?.[1] ?? 0);

  t.test('created at start, altered when the settings change, left as they are when unset', async (t) => {
    const db = `vc_rp_${++databases}`;
    const first = capturingLogger();
    await open(db, { raw: '30d' }, first.logger).init();
    t.same(await policies(db), {
      autogen: ['0s', '168h0m0s', 1, false],
      vc_raw: ['720h0m0s', '24h0m0s', 1, true],
      vc_rollups: ['0s', '168h0m0s', 1, false],
    }, 'vc_raw: 30 days in shard groups of a day, the default policy; vc_rollups: infinite');
    t.same(first.events('influx_retention')[0]?.policies, [
      { policy: 'vc_rollups', action: 'create', duration: 'INF', shardDuration: '1w', default: false },
      { policy: 'vc_raw', action: 'create', duration: '30d', shardDuration: '1d', default: true },
    ], 'what was done is logged');
    t.same(first.events('influx_retention_short'), [], '30 days is long enough for samples up to 7 days late');

    const again = capturingLogger();
    await open(db, { raw: '30d' }, again.logger).init();
    t.same((again.events('influx_retention')[0]?.policies as Array<{ action: string }>).map((p) => p.action), ['keep', 'keep'], 'a restart with the same settings changes nothing');

    const shorter = capturingLogger();
    await open(db, { raw: '1d', rollups: '400d' }, shorter.logger).init();
    t.same(await policies(db), {
      autogen: ['0s', '168h0m0s', 1, false],
      vc_raw: ['24h0m0s', '1h0m0s', 1, true],
      vc_rollups: ['9600h0m0s', '168h0m0s', 1, false],
    }, 'altered, shard groups too (ALTER would otherwise keep the old ones)');
    t.same((shorter.events('influx_retention')[0]?.policies as Array<{ action: string }>).map((p) => p.action), ['alter', 'alter']);
    t.match(shorter.events('influx_retention_short'), [{ policy: 'vc_raw', duration: '1d' }], 'a raw retention under 8 days is warned about');

    await open(db, undefined).init();
    t.same((await policies(db)).vc_raw, ['24h0m0s', '1h0m0s', 1, true], 'unset: the raw policy stays as it is');
    t.same((await policies(db)).vc_rollups, ['9600h0m0s', '168h0m0s', 1, false], 'and so does the rollups policy');
  });

  t.test('two processes starting together: the one whose CREATE comes second alters the policy to its settings', async (t) => {
    const db = `vc_rp_${++databases}`;
    await influxQuery(server.url, undefined, `CREATE DATABASE "${db}"`);
    const results = async (statements: readonly string[]): Promise<Array<{ error?: string; series?: Array<{ columns?: string[]; values?: unknown[][] }> }>> => {
      const response = await fetch(`${server.url}/query?db=${db}`, { method: 'POST', body: new URLSearchParams({ q: statements.join(';') }) });
      const body = (await response.json()) as { results: Array<{ error?: string; series?: Array<{ columns?: string[]; values?: unknown[][] }> }> };
      const failed = body.results.find((r) => r.error);
      if (failed) throw new Error(`influx query failed: ${failed.error}`);
      return body.results;
    };
    const racing = {
      identifier: (name: string) => `"${name}"`,
      query: async (statements: readonly string[]) => {
        // the other process wins the race, with other settings, between this one's SHOW and CREATE
        if (statements[0]?.startsWith('CREATE RETENTION POLICY "vc_raw"')) await results([`CREATE RETENTION POLICY "vc_raw" ON "${db}" DURATION 2d REPLICATION 1 SHARD DURATION 1d`]);
        return results(statements);
      },
    };
    const changes = await ensureRetention(racing, db, { raw: '30d' }, undefined);
    t.same(changes.map((c) => [c.policy, c.action]), [['vc_rollups', 'create'], ['vc_raw', 'create']]);
    t.same((await policies(db)).vc_raw, ['720h0m0s', '24h0m0s', 1, true], 'the policy has this process\'s settings');
  });

  t.test('raw telemetry and dead letters go to vc_raw, the cockpit tables to vc_rollups, nothing elsewhere', async (t) => {
    const db = `vc_rp_${++databases}`;
    const store = open(db, { raw: '30d' });
    await store.init();
    const rollups = engine(store);
    const base = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 30 * MINUTE_MS;
    const samples = samplesOf(VINS, base, 12);
    await writeBatch(store, rollups, samples);
    await rollups.stop();
    await store.writeDeadLetters([{ receivedAt: Date.now(), reason: 'invalid_sample', detail: 'test', topic: 'vehicles/x/telemetry', raw: '{}' }]);
    t.equal(await count(db, '"vc_raw"."telemetry"'), samples.length, 'every sample in vc_raw');
    t.equal(await count(db, '"vc_raw"."dead_letters"'), 1, 'the dead letter too');
    t.equal(await count(db, '"vc_rollups"."cockpit_series"'), 24, 'a series point per (model, minute) in vc_rollups');
    t.ok((await count(db, '"vc_rollups"."cockpit_facts_minute"')) > 0, 'facts in vc_rollups');
    t.equal(await count(db, '"autogen"./.*/'), 0, 'nothing in autogen');
    t.equal(await count(db, '"vc_raw"./^cockpit_/'), 0, 'no cockpit table in vc_raw');
    t.equal((await store.querySamples({ vin: VINS[0]!, from: base, to: base + HOUR, limit: 100 })).length, 12, 'read back from vc_raw');
    t.equal((await store.latest(VINS[0]!))?.lastTs, base + 11 * MINUTE_MS);
    t.equal((await store.listDeadLetters({ limit: 10 })).length, 1);
    const answer = await new CockpitReader(store.cockpit).aggregates({ from: base, to: base + 12 * MINUTE_MS, intervalMs: 6 * MINUTE_MS }, 'rollup');
    t.equal(answer.totals.samples, samples.length, 'the cockpit answers from vc_rollups');
    t.equal((await store.cockpit.fromRaw({ from: base, to: base + 12 * MINUTE_MS, intervalMs: 6 * MINUTE_MS })).totals.samples, samples.length, 'and from the raw points in vc_raw');
  });

  t.test('a sample older than the raw retention is refused for good (the writer keeps it as a store_rejected dead letter)', async (t) => {
    const db = `vc_rp_${++databases}`;
    const store = open(db, { raw: '1h' });
    await store.init();
    const now = Date.now();
    const [old, recent] = [samplesOf(VINS.slice(0, 1), now - 2 * HOUR, 1)[0]!, samplesOf(VINS.slice(1, 2), now - MINUTE_MS, 1)[0]!];
    const refused = await store.writeSamples([old, recent]).then(() => undefined, (err: unknown) => err);
    t.type(refused, StoreRejectedError, 'a retry cannot help: not an outage');
    t.match(String(refused), /points beyond retention policy dropped=1/);
    t.equal((await store.querySamples({ vin: recent.vin, from: now - HOUR, to: now + 1, limit: 10 })).length, 1, 'the other point of the request is stored');
  });

  t.test('a database of the earlier layout: reported at start, and the README statements bring the cockpit tables over', async (t) => {
    const db = `vc_rp_${++databases}`;
    const before = open(db, undefined);
    await before.init();
    const rollups = engine(before);
    const base = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 30 * MINUTE_MS;
    await writeBatch(before, rollups, samplesOf(VINS, base, 12));
    await rollups.stop();
    const window = { from: base, to: base + 12 * MINUTE_MS, intervalMs: 3 * MINUTE_MS };
    const answered = await new CockpitReader(before.cockpit).aggregates(window, 'rollup');
    t.equal(answered.totals.samples, 36);
    // the earlier layout: the cockpit tables in the default policy (autogen), next to the raw points
    await influxQuery(server.url, db, `SELECT * INTO "${db}"."autogen".:MEASUREMENT FROM "${db}"."vc_rollups"./^cockpit_/ GROUP BY *`);
    await influxQuery(server.url, db, `DROP RETENTION POLICY "vc_rollups" ON "${db}"`);

    const upgraded = capturingLogger();
    const after = open(db, { raw: '30d' }, upgraded.logger);
    await after.init();
    t.match(upgraded.events('influx_data_not_read'), [{ policies: ['autogen'], rawPolicy: 'vc_raw', rollupsPolicy: 'vc_rollups' }], 'autogen holds data the service will not read: said at start');
    t.equal((await new CockpitReader(after.cockpit).aggregates(window, 'rollup')).totals.samples, 0, 'the old cockpit tables are not read');
    t.same(await after.querySamples({ vin: VINS[0]!, from: base, to: base + HOUR, limit: 100 }), [], 'nor the old raw points');

    // README, Retention: "Upgrading a database that has data in autogen"
    await influxQuery(server.url, db, `SELECT * INTO "${db}"."vc_rollups".:MEASUREMENT FROM "${db}"."autogen"./^cockpit_/ GROUP BY *`);
    await influxQuery(server.url, db, `SELECT * INTO "${db}"."vc_raw"."telemetry" FROM "${db}"."autogen"."telemetry" WHERE time > now() - 30d GROUP BY *`);
    t.same(await new CockpitReader(after.cockpit).aggregates(window, 'rollup'), answered, 'the cockpit answers as before the upgrade');
    t.equal((await after.querySamples({ vin: VINS[0]!, from: base, to: base + HOUR, limit: 100 })).length, 12, 'and the raw points are read again');
    const reopened = capturingLogger();
    await open(db, { raw: '30d' }, reopened.logger).init();
    t.equal(reopened.events('influx_data_not_read').length, 1, 'autogen still holds its copy: still said');
    await influxQuery(server.url, db, `DROP RETENTION POLICY "autogen" ON "${db}"`);
    const cleaned = capturingLogger();
    await open(db, { raw: '30d' }, cleaned.logger).init();
    t.same(cleaned.events('influx_data_not_read'), [], 'once autogen is dropped, nothing more to say');
  });
});
