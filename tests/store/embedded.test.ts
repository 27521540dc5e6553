// The embedded (DuckDB) backend: the shared telemetry, dead-letter and cockpit suites in a temp dir, then what only
// this backend promises.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DuckDbCockpitTables } from '../../services/store/duckdb/cockpit-tables.ts';
import { DuckDbFile } from '../../services/store/duckdb/connection.ts';
import { DATABASE_FILE, EmbeddedStore } from '../../services/store/duckdb/store.ts';
import { DuckDbTelemetry } from '../../services/store/duckdb/telemetry.ts';
import type { StoreLogger } from '../../services/store/telemetry-store.ts';
import type { TelemetryStore } from '../../services/store/telemetry-store.ts';
import { tempDir } from '../../tooling/system.ts';
import { CockpitReader } from '../../services/cockpit/reader.ts';
import { cockpitSuite, engine, writeBatch } from './cockpit-suite.ts';
import { deadLettersSuite } from './dead-letters-suite.ts';
import { randomVin, storedSample, type StoreFixture } from './store-fixture.ts';
import { telemetrySuite } from './telemetry-suite.ts';

const SPEED = 'Vehicle.Speed';
const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';
const DTC = 'Vehicle.OBD.DTCList';
const EXTERIOR_TEMP = 'Vehicle.Exterior.AirTemperature';

async function embeddedFixture(logger?: StoreLogger): Promise<StoreFixture & { dir: string }> {
  const dir = await tempDir('embedded');
  const opened: TelemetryStore[] = [await EmbeddedStore.open({ dir: dir.path, logger })];
  return {
    dir: dir.path,
    store: opened[0]!,
    reopen: async () => {
      const store = await EmbeddedStore.open({ dir: dir.path, logger });
      opened.push(store);
      return store;
    },
    cleanup: async () => {
      // close() is idempotent, so the store the suite already closed is no trouble.
      for (const store of opened) await store.close();
      await dir.remove();
    },
  };
}

async function openEmbedded(tt: { teardown: (fn: () => Promise<void>) => void }, logger?: StoreLogger) {
  const fixture = await embeddedFixture(logger);
  tt.teardown(() => fixture.cleanup());
  await fixture.store.init();
  return fixture;
}

const base = Date.now() - 40 * 60_000;

/** Open the database file of a closed store directly (as an older version would have left it, or to look inside). */
async function onFile<T>(dir: string, work: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(join(dir, DATABASE_FILE));
  const connection = await instance.connect();
  try {
    return await work(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

await t.test('the telemetry suite', (t) => telemetrySuite(t, (options) => embeddedFixture(options?.logger)));

await t.test('the dead-letter suite', (t) => deadLettersSuite(t, () => embeddedFixture()));

await t.test('the cockpit engine, held to the raw samples', (t) => cockpitSuite(t, () => embeddedFixture()));

await t.test('a batch stages the signals it carries; one that rewrites a sample replaces whole rows, signals it lacks included', async (t) => {
  const { store } = await openEmbedded(t);
  const vin = randomVin();
  const SPEED = 'Vehicle.Speed';
  const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';
  const DTC = 'Vehicle.OBD.DTCList';
  await store.writeSamples([storedSample(vin, base, 1, { [SPEED]: 10, [SOC]: 80 }), storedSample(vin, base + 1_000, 2, { [DTC]: 'P0420' })]);
  t.strictSame(
    (await store.querySamples({ vin, from: base, to: base + 2_000, limit: 10 })).map((s) => s.signals),
    [{ [SPEED]: 10, [SOC]: 80 }, { [DTC]: 'P0420' }],
    'each sample holds its own signals, the others NULL',
  );
  // a new sample beside a rewrite of the first, which no longer carries SOC: the row is replaced, SOC gone with it
  await store.writeSamples([storedSample(vin, base + 2_000, 3, { [SOC]: 79 }), storedSample(vin, base, 1, { [SPEED]: 12 })]);
  t.strictSame(
    (await store.querySamples({ vin, from: base, to: base + 3_000, limit: 10 })).map((s) => [s.ts - base, s.signals]),
    [
      [0, { [SPEED]: 12 }],
      [1_000, { [DTC]: 'P0420' }],
      [2_000, { [SOC]: 79 }],
    ],
  );
  t.strictSame(await store.latest(vin), {
    lastTs: base + 2_000,
    signals: { [SPEED]: { value: 12, ts: base }, [SOC]: { value: 79, ts: base + 2_000 }, [DTC]: { value: 'P0420', ts: base + 1_000 } },
  });
});

await t.test('the database is one file in the data dir', async (t) => {
  const { dir, store } = await openEmbedded(t);
  t.equal(store.kind, 'embedded');
  t.ok((await stat(join(dir, DATABASE_FILE))).isFile(), `${DATABASE_FILE} exists`);
});

await t.test('a batch of 20,000 samples with duplicates inside writes each (vin, ts) once, the last copy winning', async (t) => {
  const { store } = await openEmbedded(t);
  const vins = [randomVin('LNB'), randomVin('WVW')];
  const batch = [];
  for (let i = 0; i < 16_000; i++) {
    const vin = vins[i % 2]!;
    batch.push(storedSample(vin, base + Math.floor(i / 2) * 100, Math.floor(i / 2), { [SPEED]: (i % 1000) / 10, [SOC]: 50 }));
  }
  // 4,000 redeliveries with new values, spread through the batch.
  for (let i = 0; i < 4_000; i++) {
    const vin = vins[i % 2]!;
    const at = 3 * i;
    batch.splice(4 * i + 1, 0, storedSample(vin, base + Math.floor(at / 2) * 100, Math.floor(at / 2), { [SPEED]: 123.4 }));
  }
  t.equal(batch.length, 20_000);
  const started = performance.now();
  await store.writeSamples(batch);
  t.comment(`20,000 samples written in ${Math.round(performance.now() - started)} ms`);
  for (const vin of vins) {
    const samples = await store.querySamples({ vin, from: base, to: base + 3_600_000, limit: 100_000 });
    t.equal(samples.length, 8_000, `${vin}: each (vin, ts) once`);
    t.ok(
      samples.every((s, i) => i === 0 || s.ts > samples[i - 1]!.ts),
      'strictly ascending ts',
    );
  }
  const redelivered = batch.filter((s) => s.signals[SPEED] === 123.4);
  for (const sample of redelivered.slice(0, 50)) {
    const [read] = await store.querySamples({ vin: sample.vin, from: sample.ts, to: sample.ts + 1, limit: 1 });
    t.strictSame(read?.signals, { [SPEED]: 123.4 }, 'the later copy in the batch replaced the earlier one');
  }
});

await t.test('hostile strings are stored verbatim, and request strings never reach the SQL', async (t) => {
  const { store } = await openEmbedded(t);
  const vin = randomVin();
  const hostile = [
    `'); DROP TABLE telemetry; --`,
    `" OR 1=1 --`,
    `O'Brien's "quoted" \\ back\\slash`,
    'line\nbreak\ttab',
    'P0420,\u00e9\u4e2d\u6587,\u{1F697}',
    `$1 $vin ? :name`,
  ];
  await store.writeSamples(hostile.map((text, i) => storedSample(vin, base + i, i, { [DTC]: text })));
  const samples = await store.querySamples({ vin, from: base, to: base + 100, limit: 100 });
  t.strictSame(
    samples.map((s) => s.signals[DTC]),
    hostile,
  );

  const letter = {
    receivedAt: Date.now(),
    reason: 'malformed_json' as const,
    detail: `unexpected token ' at "position" 3`,
    topic: `vehicles/'; DROP TABLE dead_letters; --/telemetry`,
    raw: `{"vin": "x\u0000y", 'single'}\r\n\\`,
  };
  await store.writeDeadLetters([letter]);
  t.strictSame(await store.listDeadLetters({ limit: 10 }), [letter], 'a NUL, quotes and backslashes survive');

  const injected = await store.querySamples({ vin, from: base, to: base + 100, signals: [`${DTC}" FROM telemetry; --`], limit: 100 });
  t.strictSame(injected, [], 'a signal name outside the catalog selects nothing');
  t.strictSame(await store.querySamples({ vin: `${vin}' OR '1'='1`, from: base, to: base + 100, limit: 100 }), [], 'a hostile vin matches nothing');
  t.equal((await store.querySamples({ vin, from: base, to: base + 100, limit: 100 })).length, hostile.length, 'the table is intact');
});

await t.test('a rewrite carrying other signals replaces the whole sample', async (t) => {
  const { store } = await openEmbedded(t);
  const vin = randomVin();
  await store.writeSamples([storedSample(vin, base, 1, { [SPEED]: 10, [SOC]: 80 })]);
  await store.writeSamples([storedSample(vin, base, 2, { [DTC]: 'P0420' })]);
  t.strictSame(await store.querySamples({ vin, from: base, to: base + 1, limit: 10 }), [{ ts: base, seq: 2, signals: { [DTC]: 'P0420' } }]);
});

await t.test('a signal added to the catalog after the file was made gets its column at init', async (t) => {
  const fixture = await embeddedFixture();
  t.teardown(() => fixture.cleanup());
  const vin = randomVin();
  await fixture.store.init();
  await fixture.store.writeSamples([storedSample(vin, base, 1, { [SPEED]: 33 })]);
  await fixture.store.close();
  // An older file: the same table without one of today's catalog columns.
  await onFile(fixture.dir, async (connection) => {
    await connection.run(`ALTER TABLE telemetry DROP COLUMN "${EXTERIOR_TEMP}"`);
  });

  const logged: object[] = [];
  const logger: StoreLogger = { info: (obj) => logged.push(obj), warn: () => undefined, error: () => undefined };
  const store = await EmbeddedStore.open({ dir: fixture.dir, logger });
  t.teardown(() => store.close());
  await store.init();
  t.equal(logged.filter((entry) => 'signal' in entry && entry.signal === EXTERIOR_TEMP).length, 1, 'the new column is logged');
  await store.writeSamples([storedSample(vin, base + 1_000, 2, { [EXTERIOR_TEMP]: -3.5 })]);
  t.strictSame(await store.querySamples({ vin, from: base, to: base + 2_000, limit: 10 }), [
    { ts: base, seq: 1, signals: { [SPEED]: 33 } },
    { ts: base + 1_000, seq: 2, signals: { [EXTERIOR_TEMP]: -3.5 } },
  ]);
  t.strictSame((await store.latest(vin))?.signals[EXTERIOR_TEMP], { value: -3.5, ts: base + 1_000 });
});

await t.test('a file without the latest table (or with the wide one of before) gets it derived from its samples at init', async (t) => {
  const fixture = await embeddedFixture();
  t.teardown(() => fixture.cleanup());
  const vin = randomVin();
  await fixture.store.init();
  await fixture.store.writeSamples([
    storedSample(vin, base + 1_000, 2, { [SPEED]: 20 }),
    storedSample(vin, base, 1, { [SPEED]: 10, [DTC]: 'P0420' }),
  ]);
  await fixture.store.close();
  await onFile(fixture.dir, async (connection) => {
    await connection.run('DROP TABLE latest_values');
    await connection.run('CREATE TABLE latest_signals (vin VARCHAR PRIMARY KEY)');
  });

  const store = await fixture.reopen!();
  await store.init();
  t.strictSame(await store.latest(vin), {
    lastTs: base + 1_000,
    signals: { [SPEED]: { value: 20, ts: base + 1_000 }, [DTC]: { value: 'P0420', ts: base } },
  });
  await store.close();
  const tables = await onFile(fixture.dir, async (connection) => (await connection.runAndReadAll("SELECT count(*) FROM information_schema.tables WHERE table_name = 'latest_signals'")).getRowsJS());
  t.strictSame(tables, [[0n]], 'the wide table of before is gone');
});

await t.test('latest follows a rewrite of a ts, and a rewrite never removes a signal from it', async (t) => {
  const { store } = await openEmbedded(t);
  const vin = randomVin();
  await store.writeSamples([storedSample(vin, base, 1, { [SPEED]: 10, [DTC]: 'P0420' })]);
  await store.writeSamples([storedSample(vin, base, 1, { [SPEED]: 12 })]);
  t.strictSame(await store.latest(vin), {
    lastTs: base,
    signals: { [SPEED]: { value: 12, ts: base }, [DTC]: { value: 'P0420', ts: base } },
  });
});

await t.test('staging tables give back their memory: what DuckDB holds stays the same however many batches went through', async (t) => {
  // DuckDB keeps the memory of rows deleted from a temp table; staging tables emptied that way grew with every batch
  // (the soak's RSS rose 17 MiB a minute). A checkpoint moves the committed rows out of memory, so what is left in
  // memory tables after one is what the staging tables hold.
  const dir = await tempDir('embedded-staging');
  t.teardown(() => dir.remove());
  const file = await DuckDbFile.open({ dir: dir.path, name: DATABASE_FILE, what: 'embedded store', config: { threads: '1' }, readConnection: true });
  t.teardown(() => file.close());
  const telemetry = new DuckDbTelemetry(file);
  const cockpit = new DuckDbCockpitTables(file);
  await file.write(async (db) => {
    await telemetry.createTables(db);
    await cockpit.createTables(db);
  });
  const held = async (): Promise<number> => {
    await file.write((db) => db.run('CHECKPOINT'));
    const memory = await file.memory();
    return (memory.IN_MEMORY_TABLE ?? 0) + (memory.OVERFLOW_STRINGS ?? 0);
  };
  let seq = 0;
  const batches = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const samples = Array.from({ length: 250 }, (_, j) => {
        seq += 1;
        return storedSample(`STAGING${String(j % 50).padStart(10, '0')}`, base + seq, seq, { [SPEED]: j % 130, [DTC]: `P${j}` });
      });
      await telemetry.writeSamples(samples);
      await cockpit.write({ facts: [{ tier: 'minute', start: base + seq * 60_000, brand: 'Staging', model: 'Batches', part: 0, packed: 'f'.repeat(20_000) }] });
    }
  };
  await batches(40);
  const after40 = await held();
  await batches(120);
  const after160 = await held();
  // with DELETE FROM the staging tables: 8.5 MiB after 40 batches, 22.0 MiB after 160
  t.ok(after160 <= after40 + 2 ** 20, `held after 160 batches (${(after160 / 2 ** 20).toFixed(2)} MiB) within 1 MiB of after 40 (${(after40 / 2 ** 20).toFixed(2)} MiB)`);
  t.equal((await file.read('SELECT count(*) FROM telemetry'))[0]![0], BigInt(seq), 'every sample stored');
});

await t.test('one store per database file in a process', async (t) => {
  const { dir, store } = await openEmbedded(t);
  await t.rejects(EmbeddedStore.open({ dir }), /already open/);
  await store.close();
  const again = await EmbeddedStore.open({ dir });
  t.teardown(() => again.close());
  await t.resolves(again.ping());
});

await t.test('a closed store refuses work, and closing twice is harmless', async (t) => {
  const { store } = await openEmbedded(t);
  await store.close();
  await t.rejects(store.ping(), /closed/);
  await t.rejects(store.writeSamples([storedSample(randomVin(), base, 1, { [SPEED]: 1 })]), /closed/);
  await t.rejects(store.writeSamples([]), /closed/);
  await t.rejects(store.querySamples({ vin: randomVin(), from: base, to: base + 1, limit: 1 }), /closed/);
  await t.resolves(store.close());
});

await t.test('a value of the wrong type is stored as null and logged, never poisoning the batch', async (t) => {
  const warnings: object[] = [];
  const logger: StoreLogger = { info: () => undefined, warn: (obj) => warnings.push(obj), error: () => undefined };
  const { store } = await openEmbedded(t, logger);
  const vin = randomVin();
  const mistyped = { ...storedSample(vin, base, 1, { [SPEED]: 12 }), signals: { [SPEED]: 12, [SOC]: 'full' } };
  await store.writeSamples([mistyped]);
  t.strictSame(await store.querySamples({ vin, from: base, to: base + 1, limit: 1 }), [{ ts: base, seq: 1, signals: { [SPEED]: 12 } }]);
  t.strictSame(warnings, [{ values: 1 }]);
});

await t.test('a failed batch writes none of its samples and leaves the store writable', async (t) => {
  const { store } = await openEmbedded(t);
  const vin = randomVin();
  const good = Array.from({ length: 2_100 }, (_, i) => storedSample(vin, base + i, i, { [SPEED]: 10 }));
  // A fractional ts cannot become a BIGINT: the batch fails in its second chunk, after the first was staged.
  const bad = { ...storedSample(vin, base + 5_000, 5_000, { [SPEED]: 11 }), ts: base + 5_000.5 };
  await t.rejects(store.writeSamples([...good, bad]));
  t.strictSame(await store.querySamples({ vin, from: base, to: base + 10_000, limit: 10 }), []);
  t.equal(await store.latest(vin), undefined);
  await store.writeSamples([storedSample(vin, base + 6_000, 6_000, { [SPEED]: 12 })]);
  t.strictSame(
    (await store.querySamples({ vin, from: base, to: base + 10_000, limit: 10 })).map((s) => s.seq),
    [6_000],
    'the next batch does not carry the failed one along',
  );
});

await t.test('cockpit tables in the file: segments sealed as time passes them, a reopened store adds late data to them, former tables dropped', async (t) => {
  const fixture = await embeddedFixture();
  t.teardown(() => fixture.cleanup());
  const { store } = fixture;
  await store.init();
  const hour = 3_600_000;
  const h0 = Math.floor(base / hour) * hour - 3 * hour;
  const vins = [randomVin('LNB'), randomVin('WVW')];
  const sample = (vin: string, ts: number, seq: number) => storedSample(vin, ts, seq, { [SPEED]: 40, 'Vehicle.TraveledDistance': seq * 0.5 });
  // two vehicles every 2 minutes from h0 to h0 + 2 h 30 min, written as a service would: all of it is long over, so it seals
  const first = engine(store);
  let seq = 0;
  for (let at = h0; at < h0 + 2.5 * hour; at += 10 * 60_000) {
    const chunk = vins.flatMap((vin) => Array.from({ length: 5 }, (_, i) => sample(vin, at + i * 120_000, seq + i)));
    seq += 5;
    await writeBatch(store, first, chunk);
  }
  await first.stop();
  await store.close();
  const look = (sql: string): Promise<unknown[][]> => onFile(fixture.dir, async (connection) => (await connection.runAndReadAll(sql)).getRowsJS() as unknown[][]);
  t.strictSame((await look(`SELECT start FROM cockpit_seals WHERE tier = 'hour' AND start < ${h0 + 3 * hour} ORDER BY start`)).map((r) => Number(r[0])), [h0, h0 + hour, h0 + 2 * hour], 'the hours are sealed');
  t.strictSame((await look(`SELECT count(*) FROM cockpit_seals WHERE tier = '10min' AND start >= ${h0} AND start < ${h0 + 2.5 * hour}`)).map((r) => Number(r[0])), [15], 'and their 10 minutes');
  t.strictSame((await look(`SELECT count(*), sum(samples) FROM cockpit_series`)).map((r) => r.map(Number)), [[75, 150]], 'one series row per (brand, model, minute)');
  t.strictSame((await look(`SELECT count(*) FROM cockpit_facts WHERE tier = 'hour'`)).map((r) => Number(r[0])), [3], 'one facts row per (brand, model, hour)');

  // a reopened store and a new engine: a late sample into the first hour is added to its sealed segments
  const reopened = await fixture.reopen!();
  await reopened.init();
  const second = engine(reopened);
  const late = sample(vins[0]!, h0 + 59 * 60_000, 9_999);
  await writeBatch(reopened, second, [late]);
  await second.stop();
  const reader = new CockpitReader(reopened.cockpit);
  const fromRollups = await reader.aggregates({ from: h0, to: h0 + 2 * hour, intervalMs: hour }, 'rollup');
  t.equal(fromRollups.totals.distanceKm, 9_999 * 0.5 + 59 * 0.5, 'the late odometer reading is in the hour facts (vehicle 0: 0 to it, vehicle 1: 0 to seq 59)');
  t.strictSame(fromRollups.series.map((b) => b.samples), [61, 60]);
  await reopened.close();
  t.ok((await look(`SELECT count(*) FROM cockpit_facts WHERE tier = 'hour' AND start = ${h0} AND part > 0`)).map((r) => Number(r[0]))[0]! >= 1, 'the late data is a part added to the sealed hour');

  // a file with the tables of the former cockpit engine: dropped at init
  await onFile(fixture.dir, (connection) => connection.run('CREATE TABLE rollup_1m (vin VARCHAR, bucket BIGINT)'));
  const older = await fixture.reopen!();
  await older.init();
  await older.close();
  t.strictSame(await look("SELECT count(*) FROM information_schema.tables WHERE table_name = 'rollup_1m'"), [[0n]], 'rollup_1m dropped');
});
