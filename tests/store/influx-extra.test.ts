// InfluxDB-specific behaviour of InfluxStore on a real influxd: line-protocol and InfluxQL escaping of hostile
// values, field types, bucket alignment, chunked writes, and failing loudly while the server is down.
import t from 'tap';
import { InfluxClient } from '../../services/store/influx/client.ts';
import { InfluxStore } from '../../services/store/influx/store.ts';
import { tagValue } from '../../services/store/influx/lines.ts';
import { CockpitReader } from '../../services/cockpit/reader.ts';
import { engine, writeBatch } from './cockpit-suite.ts';
import { StoreRejectedError, type StoreLogger } from '../../services/store/telemetry-store.ts';
import type { StoredSample } from '../../services/store/telemetry-store.ts';
import { influxQuery } from '../../tooling/influxql.ts';
import { influxdOrSkip, startInfluxd, type Influxd } from '../../tooling/influxd.ts';

const found = influxdOrSkip();
const T0 = 1_795_000_000_000;
const VIN = 'LNBSCB3F5JW123456';

/** Raw InfluxQL for checks the port does not expose; returns the first statement's rows and columns. */
async function influxql(server: Influxd, db: string, q: string, auth?: string): Promise<{ columns: string[]; values: unknown[][] }> {
  const res = await fetch(`${server.url}/query?db=${encodeURIComponent(db)}&epoch=ms`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
    body: new URLSearchParams({ q }),
  });
  const json = (await res.json()) as { results: { error?: string; series?: { columns: string[]; values: unknown[][] }[] }[] };
  const result = json.results[0];
  if (result?.error) throw new Error(result.error);
  const series = result?.series ?? [];
  return { columns: series[0]?.columns ?? [], values: series.flatMap((s) => s.values) };
}

function sample(ts: number, seq: number, signals: StoredSample['signals'], extra: Partial<StoredSample> = {}): StoredSample {
  return { vin: VIN, brand: 'Acme', model: 'Roadster', ts, seq, signals, ...extra };
}

t.test('InfluxStore on a real influxd', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  let databases = 0;
  const fresh = async (): Promise<{ store: InfluxStore; db: string }> => {
    const db = `vc_test_${++databases}`;
    const store = new InfluxStore({ url: server.url, database: db });
    await store.init();
    t.teardown(() => store.close());
    return { store, db };
  };

  t.test('init creates the database when missing and is idempotent', async (t) => {
    const database = 'vc "new" db\'s';
    const store = new InfluxStore({ url: server.url, database });
    t.teardown(() => store.close());
    await t.rejects(store.ping(), /database not found/, 'ping fails before init: the database is missing');
    await store.init();
    await store.init();
    const { values } = await influxql(server, '', 'SHOW DATABASES');
    t.ok(values.some((row) => row[0] === database), 'the database exists under its exact name');
    await store.ping();
    await store.writeSamples([sample(T0, 1, { 'Vehicle.Speed': 1 })]);
    t.equal((await store.querySamples({ vin: VIN, from: T0, to: T0 + 1, limit: 10 })).length, 1);
  });

  t.test('hostile tag values are escaped, not interpreted as line protocol', async (t) => {
    const { store, db } = await fresh();
    const brand = 'Acme, "X"=1\n';
    const model = 'Q 5,trim=sport \\ x\\,y\\';
    await store.writeSamples([sample(T0, 7, { 'Vehicle.Speed': 50 }, { brand, model })]);
    t.same(await store.querySamples({ vin: VIN, from: T0, to: T0 + 1, limit: 10 }), [
      { ts: T0, seq: 7, signals: { 'Vehicle.Speed': 50 } },
    ]);
    const series = await influxql(server, db, 'SHOW SERIES FROM "telemetry"');
    t.equal(series.values.length, 1, 'one series: no tag or point was injected');
    const fields = await influxql(server, db, 'SHOW FIELD KEYS FROM "telemetry"');
    t.same(fields.values.map((row) => row[0]).sort(), ['Vehicle.Speed', 'seq'], 'no field was injected');
    const tags = await influxql(server, db, 'SHOW TAG VALUES FROM "telemetry" WITH KEY IN ("brand", "model")');
    const byKey = Object.fromEntries(tags.values.map((row) => [row[0], row[1]]));
    // 1.x keeps an escaped newline as backslash-n and cannot end a tag value with a backslash.
    t.equal(byKey.brand, 'Acme, "X"=1\\n');
    t.equal(byKey.model, 'Q 5,trim=sport \\ x\\,y\uff3c');
    t.equal(tagValue(brand), byKey.brand, 'tagValue() predicts the stored tag, for queries by brand');
    t.equal(tagValue(model), byKey.model);
    t.equal(tagValue('a\\b'), 'a\\b', 'inner backslashes are kept');
  });

  t.test('string fields keep quotes, backslashes and newlines', async (t) => {
    const { store } = await fresh();
    const dtc = 'P0420,"C1234"\\ \n U0100 \'x\'';
    await store.writeSamples([sample(T0, 1, { 'Vehicle.OBD.DTCList': dtc, 'Vehicle.OBD.Status.MILStatus': true })]);
    const [got] = await store.querySamples({ vin: VIN, from: T0, to: T0 + 1, limit: 1 });
    t.same(got?.signals, { 'Vehicle.OBD.DTCList': dtc, 'Vehicle.OBD.Status.MILStatus': true });
  });

  t.test('single quotes and backslashes in InfluxQL literals', async (t) => {
    const { store } = await fresh();
    const hostileVin = "X\\' OR vin =~ /./ OR 'a'='a";
    await store.writeSamples([sample(T0, 3, { 'Vehicle.Speed': 12 }, { vin: hostileVin })]);
    t.equal((await store.querySamples({ vin: hostileVin, from: T0, to: T0 + 1, limit: 9 })).length, 1);
    t.equal((await store.querySamples({ vin: VIN, from: T0, to: T0 + 1, limit: 9 })).length, 0);
    t.equal((await store.latest(hostileVin))?.lastTs, T0);

    await store.writeDeadLetters([
      { receivedAt: T0, reason: 'invalid_vin', detail: "it's bad", topic: `vehicles/${hostileVin}/telemetry`, vin: hostileVin, raw: '{"a":\n1,\u0000"b"}' },
      { receivedAt: T0, reason: 'invalid_vin', detail: 'other', topic: 'http', raw: '' },
    ]);
    const letters = await store.listDeadLetters({ vin: hostileVin, limit: 10 });
    t.equal(letters.length, 1);
    t.equal(letters[0]?.vin, hostileVin);
    t.equal(letters[0]?.raw, '{"a":\n1,\u0000"b"}', 'newline and NUL kept');
  });

  t.test('re-writing the same (vin, ts) overwrites it', async (t) => {
    const { store } = await fresh();
    await store.writeSamples([sample(T0, 1, { 'Vehicle.Speed': 10 }), sample(T0 + 1000, 2, { 'Vehicle.Speed': 20 })]);
    await store.writeSamples([sample(T0, 1, { 'Vehicle.Speed': 11 })]);
    await store.writeSamples([sample(T0, 1, { 'Vehicle.Speed': 11 })]);
    t.same(await store.querySamples({ vin: VIN, from: T0, to: T0 + 2000, limit: 10 }), [
      { ts: T0, seq: 1, signals: { 'Vehicle.Speed': 11 } },
      { ts: T0 + 1000, seq: 2, signals: { 'Vehicle.Speed': 20 } },
    ]);
    const [bucket] = await store.queryBuckets({ vin: VIN, from: T0, to: T0 + 2000, intervalMs: 2000 });
    t.equal(bucket?.samples, 2, 'counted once');
  });

  t.test('numbers are float fields, so whole numbers never conflict with fractions', async (t) => {
    const { store, db } = await fresh();
    await store.writeSamples([
      sample(T0, 1, { 'Vehicle.ADAS.ActiveAutonomyLevel': 2, 'Vehicle.Speed': 60 }),
      sample(T0 + 1, 2, { 'Vehicle.ADAS.ActiveAutonomyLevel': 3, 'Vehicle.Speed': 60.5 }),
    ]);
    const fields = await influxql(server, db, 'SHOW FIELD KEYS FROM "telemetry"');
    t.same(Object.fromEntries(fields.values.map((row) => [row[0], row[1]])), {
      'Vehicle.ADAS.ActiveAutonomyLevel': 'float',
      'Vehicle.Speed': 'float',
      seq: 'integer',
    });
    const got = await store.querySamples({ vin: VIN, from: T0, to: T0 + 2, limit: 5, signals: ['Vehicle.ADAS.ActiveAutonomyLevel'] });
    t.same(got.map((s) => s.signals['Vehicle.ADAS.ActiveAutonomyLevel']), [2, 3]);
  });

  t.test('signal lists are allowlisted by the catalog: other names select nothing and never reach InfluxQL', async (t) => {
    const { store, db } = await fresh();
    await store.writeSamples([sample(T0, 1, { 'Vehicle.Speed': 5, 'Vehicle.OBD.DTCList': 'P0420' })]);
    t.same(await store.querySamples({ vin: VIN, from: T0, to: T0 + 1, limit: 1, signals: ['Vehicle.Speed" FROM x; DROP DATABASE "y'] }), [], 'a hostile name selects nothing');
    t.same(await store.queryBuckets({ vin: VIN, from: T0, to: T0 + 1, intervalMs: 1, signals: ['Vehicle.OBD.DTCList'] }), [{ t: T0, samples: 1, signals: {} }], 'a string signal is not aggregated');
    const { values } = await influxql(server, '', 'SHOW DATABASES');
    t.ok(values.some((row) => row[0] === db), 'the database is still there');
    await t.rejects(store.queryBuckets({ vin: VIN, from: T0, to: T0 + 1, intervalMs: 0 }), RangeError);
    await t.rejects(store.querySamples({ vin: VIN, from: T0 + 0.5, to: T0 + 1, limit: 1 }), RangeError);
  });

  t.test('values outside the catalog or of the wrong type are logged and skipped, not stored', async (t) => {
    const warnings: object[] = [];
    const logger: StoreLogger = { info: () => undefined, warn: (obj) => warnings.push(obj), error: () => undefined };
    const db = 'vc_mistyped';
    const store = new InfluxStore({ url: server.url, database: db, logger });
    t.teardown(() => store.close());
    await store.init();
    await store.writeSamples([
      sample(T0, 1, { 'Vehicle.Unknown': 1, 'Vehicle.Speed': 'fast', 'Vehicle.OBD.DTCList': 7, 'Vehicle.ADAS.ActiveAutonomyLevel': Number.NaN }),
      sample(T0 + 1, 2, { 'Vehicle.Speed': 3, 'Vehicle.OBD.Status.MILStatus': 'yes' }),
    ]);
    t.same(await store.querySamples({ vin: VIN, from: T0, to: T0 + 2, limit: 5 }), [
      { ts: T0, seq: 1, signals: {} },
      { ts: T0 + 1, seq: 2, signals: { 'Vehicle.Speed': 3 } },
    ]);
    t.same(warnings, [{ values: 5 }]);
    const fields = await influxql(server, db, 'SHOW FIELD KEYS FROM "telemetry"');
    t.same(fields.values.map((row) => row[0]).sort(), ['Vehicle.Speed', 'seq']);
  });

  t.test('a write influxd refuses rejects with its reason', async (t) => {
    const { store, db } = await fresh();
    // An integer field written by someone else: our float of the same name is a type conflict (HTTP 400).
    const res = await fetch(`${server.url}/write?db=${db}&precision=ms`, { method: 'POST', body: `telemetry,vin=${VIN} Vehicle.Speed=1i ${T0}` });
    t.equal(res.status, 204);
    await t.rejects(store.writeSamples([sample(T0 + 1, 1, { 'Vehicle.Speed': 2 })]), /influx write failed: .*field type conflict/);
  });

  t.test('a sample query for some signals returns the samples carrying one of them', async (t) => {
    const { store } = await fresh();
    await store.writeSamples([
      sample(T0, 1, { 'Vehicle.Speed': 1 }),
      sample(T0 + 1, 2, { 'Vehicle.Cabin.HVAC.AmbientAirTemperature': 21 }),
      sample(T0 + 2, 3, { 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': false }),
      sample(T0 + 3, 4, { 'Vehicle.Speed': 2, 'Vehicle.Cabin.HVAC.AmbientAirTemperature': 22 }),
    ]);
    const got = await store.querySamples({
      vin: VIN, from: T0, to: T0 + 10, limit: 2,
      signals: ['Vehicle.Speed', 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging'],
    });
    t.same(got, [
      { ts: T0, seq: 1, signals: { 'Vehicle.Speed': 1 } },
      { ts: T0 + 2, seq: 3, signals: { 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': false } },
    ], 'the limit counts matching samples only');
    t.equal((await store.querySamples({ vin: VIN, from: T0, to: T0 + 10, limit: 10, signals: [] })).length, 4, 'an empty list means all');
    t.same(await store.querySamples({ vin: VIN, from: T0, to: T0 + 10, limit: 0 }), []);
  });

  t.test('buckets start at from + k * interval, empty ones omitted', async (t) => {
    const { store } = await fresh();
    const from = T0 + 1234;
    await store.writeSamples([
      sample(from - 1, 0, { 'Vehicle.Speed': 999 }),
      sample(from, 1, { 'Vehicle.Speed': 10 }),
      sample(from + 9_999, 2, { 'Vehicle.Speed': 30, 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 80 }),
      sample(from + 25_000, 3, { 'Vehicle.OBD.Status.MILStatus': true }),
      sample(from + 30_000, 4, { 'Vehicle.Speed': 5 }),
    ]);
    const buckets = await store.queryBuckets({ vin: VIN, from, to: from + 30_000, intervalMs: 10_000 });
    t.same(buckets, [
      {
        t: from,
        samples: 2,
        signals: {
          'Vehicle.Speed': { avg: 20, min: 10, max: 30 },
          'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': { avg: 80, min: 80, max: 80 },
        },
      },
      { t: from + 20_000, samples: 1, signals: {} },
    ]);
    const speedOnly = await store.queryBuckets({ vin: VIN, from, to: from + 30_000, intervalMs: 10_000, signals: ['Vehicle.Speed'] });
    t.same(Object.keys(speedOnly[0]?.signals ?? {}), ['Vehicle.Speed']);
    t.same(await store.queryBuckets({ vin: 'LNBSCB3F5JW999999', from, to: from + 30_000, intervalMs: 10_000 }), []);
  });

  t.test('latest takes each signal from its greatest ts, not the last write', async (t) => {
    const { store } = await fresh();
    t.equal(await store.latest(VIN), undefined, 'no samples: undefined');
    const future = Date.now() + 4 * 60_000;
    await store.writeSamples([sample(future, 9, { 'Vehicle.Speed': 90 })]);
    await store.writeSamples([
      sample(T0, 1, { 'Vehicle.Speed': 10, 'Vehicle.OBD.DTCList': 'P0001' }),
      sample(T0 + 5, 2, { 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': true }),
    ]);
    t.same(await store.latest(VIN), {
      lastTs: future,
      signals: {
        'Vehicle.Speed': { value: 90, ts: future },
        'Vehicle.OBD.DTCList': { value: 'P0001', ts: T0 },
        'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': { value: true, ts: T0 + 5 },
      },
    });
  });

  t.test('a batch over the chunk size is written whole', async (t) => {
    const { store } = await fresh();
    const samples = Array.from({ length: 12_001 }, (_, i) =>
      sample(T0 + i, i, { 'Vehicle.Speed': i % 250, 'Vehicle.OBD.DTCList': i % 2 ? '' : 'P0420' }),
    );
    await store.writeSamples(samples);
    const [bucket] = await store.queryBuckets({ vin: VIN, from: T0, to: T0 + 20_000, intervalMs: 20_000 });
    t.equal(bucket?.samples, 12_001);
    const got = await store.querySamples({ vin: VIN, from: T0, to: T0 + 20_000, limit: 20_000 });
    t.equal(got.length, 12_001);
    t.equal(got[12_000]?.seq, 12_000);
  });

  t.test('writes go in chunks of writeChunkLines, gzipped above gzipBytes, and all of them land', async (t) => {
    const db = 'vc_chunks';
    const store = new InfluxStore({ url: server.url, database: db, writeChunkLines: 1000, gzipBytes: 0 });
    t.teardown(() => store.close());
    await store.init();
    const chunks: number[] = [];
    store.writeObserver = (table, rows) => {
      if (table === 'telemetry') chunks.push(rows);
    };
    await store.writeSamples(Array.from({ length: 2_500 }, (_, i) => sample(T0 + i, i, { 'Vehicle.Speed': i % 250 })));
    t.same(chunks.sort((a, b) => b - a), [1000, 1000, 500], 'three requests (two at a time: in either order)');
    const [bucket] = await store.queryBuckets({ vin: VIN, from: T0, to: T0 + 2_500, intervalMs: 2_500 });
    t.equal(bucket?.samples, 2_500, 'every gzipped chunk was accepted, and the queries (init, this one) were not gzipped: influxd refuses that');
    t.throws(() => new InfluxStore({ url: server.url, database: db, writeChunkLines: 0 }), RangeError, 'a chunk holds at least a line');
  });

  t.test('chunks sent several at once all land; a refused one fails the write once the chunks in flight ended, and no chunk starts after it', async (t) => {
    const db = 'vc_concurrent';
    const client = new InfluxClient({ url: server.url, database: db, writeChunkLines: 10, gzipBytes: Number.POSITIVE_INFINITY });
    t.teardown(() => client.close());
    await influxql(server, '', `CREATE DATABASE ${db}`);
    const sent: number[] = [];
    client.observe = (_table, rows) => sent.push(rows);
    const line = (i: number, value = `${i}`): string => `m,k=${i % 7} f=${value} ${T0 + i}`;
    await client.write(Array.from({ length: 95 }, (_, i) => line(i)), { precision: 'ms', table: 'm', concurrency: 3 });
    t.same(sent.sort((a, b) => a - b), [5, ...Array(9).fill(10)], 'ten chunks, three at a time');
    const [count] = (await influxql(server, db, 'SELECT count("f") FROM "m"')).values;
    t.equal(count?.[1], 95, 'every line landed');
    // a string where the field is a float: influxd refuses the chunk holding it (400, a field type conflict)
    sent.length = 0;
    const lines = Array.from({ length: 100 }, (_, i) => line(1_000 + i, i === 5 ? '"text"' : `${i}`));
    await t.rejects(client.write(lines, { precision: 'ms', table: 'm', concurrency: 2 }), StoreRejectedError);
    t.ok(sent.length < 9, `the chunks after the refused one were not sent (${sent.length} of 9 others were)`);
    t.ok(sent.length >= 1, 'the chunk in flight beside it ended first');
  });

  t.test('dead letters of one ms are all kept, newest first, filtered', async (t) => {
    const { store } = await fresh();
    const letters = Array.from({ length: 5 }, (_, i) => ({
      receivedAt: T0 + (i < 3 ? 0 : 1),
      reason: i % 2 ? ('malformed_json' as const) : ('unregistered_vehicle' as const),
      detail: `d${i}`,
      topic: 'http',
      raw: `r${i}`,
      ...(i === 4 ? { vin: VIN } : {}),
    }));
    await store.writeDeadLetters(letters.slice(0, 3));
    await store.writeDeadLetters(letters.slice(3));
    const all = await store.listDeadLetters({ limit: 10 });
    t.same(all.map((l) => l.detail), ['d4', 'd3', 'd2', 'd1', 'd0']);
    t.same(all[0], letters[4]);
    t.same(all[4], letters[0], 'no vin field when it had none');
    t.same((await store.listDeadLetters({ reason: 'malformed_json', limit: 10 })).map((l) => l.detail), ['d3', 'd1']);
    t.same((await store.listDeadLetters({ reason: 'unregistered_vehicle', vin: VIN, limit: 10 })).map((l) => l.detail), ['d4']);
    t.same((await store.listDeadLetters({ limit: 2 })).map((l) => l.detail), ['d4', 'd3']);
  });
});

t.test('InfluxStore with auth on, and while influxd is down', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary, auth: true });
  t.teardown(() => server.stop());
  // With auth on and no user yet, influxd lets anyone create the first admin.
  await influxql(server, '', "CREATE USER admin WITH PASSWORD 's3cr:t' WITH ALL PRIVILEGES");
  const anonymous = new InfluxStore({ url: server.url, database: 'vc_down' });
  t.teardown(() => anonymous.close());
  await t.rejects(anonymous.init(), /influx query failed: .*401/, 'no credentials: refused');
  const wrong = new InfluxStore({ url: server.url, database: 'vc_down', username: 'admin', password: 'nope' });
  t.teardown(() => wrong.close());
  await t.rejects(wrong.init(), /401/, 'wrong password: refused');

  const store = new InfluxStore({ url: server.url, database: 'vc_down', username: 'admin', password: 's3cr:t', timeoutMs: 5_000 });
  t.teardown(() => store.close());
  await store.init();
  await store.ping();
  await store.writeSamples([sample(T0, 1, { 'Vehicle.Speed': 1 })]);
  t.equal((await store.querySamples({ vin: VIN, from: T0, to: T0 + 1, limit: 1 })).length, 1, 'basic auth writes and reads');

  await server.stop();
  let pidGone = false;
  try {
    process.kill(server.pid, 0);
  } catch {
    pidGone = true;
  }
  t.ok(pidGone, 'influxd process is gone');
  await t.rejects(store.ping(), /influx ping failed/);
  await t.rejects(store.writeSamples([sample(T0 + 1, 2, { 'Vehicle.Speed': 2 })]), /influx write failed/, 'a write rejects, it never resolves');
  await t.rejects(store.querySamples({ vin: VIN, from: T0, to: T0 + 2, limit: 2 }), /influx query failed/);
  await store.close();
  await t.rejects(store.ping(), /closed/);
});

t.test('cockpit measurements: a series per (brand, model), never per vehicle; big facts split over string fields', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary });
  t.teardown(() => server.stop());
  const db = 'vc_cockpit_shape';
  const store = new InfluxStore({ url: server.url, database: db });
  t.teardown(() => store.close());
  await store.init();
  const rollups = engine(store);
  const hour = 3_600_000;
  const h0 = Math.floor(Date.now() / hour) * hour - 3 * hour;
  // 4,400 vehicles of two models, one sample each minute for 12 minutes: a minute's facts of a model exceed 64 KB
  const vins = Array.from({ length: 4_400 }, (_, i) => `LNBSCB3F5JW${String(i).padStart(6, '0')}`);
  for (let m = 0; m < 12; m++) {
    const batch = vins.map((vin, i) => sample(h0 + m * 60_000 + i, m, { 'Vehicle.Speed': 50, 'Vehicle.TraveledDistance': 1000 + i + m }, { vin, model: i % 2 === 0 ? 'Roadster' : 'Coupe' }));
    await writeBatch(store, rollups, batch);
  }
  await rollups.stop();
  const q = (sql: string) => influxQuery(server.url, db, sql);
  t.equal((await q('SHOW SERIES FROM "cockpit_series"')).length, 2, 'cockpit_series: a series per (brand, model)');
  t.equal((await q('SHOW SERIES FROM "cockpit_facts_minute"')).length, 2, 'cockpit_facts_minute: a series per (brand, model)');
  t.equal((await q('SHOW SERIES FROM "cockpit_facts_10min"')).length, 2, 'sealed 10 minutes too');
  const [row] = await q(`SELECT "chunks", "part" FROM "vc_rollups"."cockpit_facts_minute" WHERE "model" = 'Roadster' AND time = ${h0}ms`);
  t.ok(Number(row?.[1]) >= 2, 'a minute of 2,200 vehicles is split over several string fields');
  t.equal(row?.[2], 0, 'part 0: the whole minute');
  const [speed] = await q(`SELECT sum("speed_sum") / sum("speed_count"), sum("samples") FROM "vc_rollups"."cockpit_series" WHERE time >= ${h0}ms AND time < ${h0 + 12 * 60_000}ms`);
  t.strictSame([speed?.[1], speed?.[2]], [50, 52_800], 'what a Grafana panel asks of the series (in the vc_rollups policy): an average and a count');
  const reader = new CockpitReader(store.cockpit);
  const answer = await reader.aggregates({ from: h0, to: h0 + 12 * 60_000, intervalMs: 6 * 60_000 }, 'rollup');
  t.equal(answer.totals.activeVehicles, 4_400);
  t.equal(answer.totals.distanceKm, 4_400 * 11);
});

t.test('an answer influxd cut at its [http] max-row-limit fails loudly, not taken for the whole', { skip: found.skip ?? false }, async (t) => {
  const server = await startInfluxd({ binary: found.binary, maxRowLimit: 5_000 });
  t.teardown(() => server.stop());
  const store = new InfluxStore({ url: server.url, database: 'vc_rows' });
  await store.init();
  t.teardown(() => store.close());
  await store.writeSamples(Array.from({ length: 6_000 }, (_, i) => sample(T0 + i, i, { 'Vehicle.Speed': i % 250 })));
  await t.rejects(store.querySamples({ vin: VIN, from: T0, to: T0 + 10_000, limit: 10_000 }), /max-row-limit/);
  const [bucket] = await store.queryBuckets({ vin: VIN, from: T0, to: T0 + 10_000, intervalMs: 10_000 });
  t.equal(bucket?.samples, 6_000, 'an answer under the limit is whole');
});
