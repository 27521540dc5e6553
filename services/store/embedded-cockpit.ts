// Cockpit rollups and queries of the embedded (DuckDB) store. Rollups are one row per (vehicle, minute),
// recomputed from the raw samples (or written by the store's only writer), so they are exact whatever was
// duplicated or late. rollup_bm_1m (series) and rollup_1h (hours, sealed ones listed in rollup_sealed) derive from
// them as rollup-tiers.ts describes, in the same transaction as the minute rows.
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { COCKPIT_SIGNALS } from '../contract/signals.ts';
import {
  ROLLUP_BUCKET_MS,
  type CockpitAggregates,
  type CockpitSums,
  type CockpitWindow,
  type RollupKey,
  type RollupRow,
} from './telemetry-store.ts';
import { dueHours, factRanges, hoursInside, latestHour, ROLLUP_HOUR_MS, touchedOf } from './rollup-tiers.ts';

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const SPEED = q(COCKPIT_SIGNALS.speed);
const SOC = q(COCKPIT_SIGNALS.soc);
const ODO = q(COCKPIT_SIGNALS.odometer);
const CHARGING = q(COCKPIT_SIGNALS.charging);
const ADAS = q(COCKPIT_SIGNALS.adasLevel);
const MIL = q(COCKPIT_SIGNALS.mil);
const DTC = q(COCKPIT_SIGNALS.dtc);
const FAULT = `(${MIL} OR coalesce(${DTC}, '') <> '')`;

export const ROLLUP_DDL = [
  `CREATE TABLE IF NOT EXISTS rollup_1m (
  vin VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  samples BIGINT NOT NULL,
  speed_sum DOUBLE, speed_count BIGINT,
  soc_sum DOUBLE, soc_count BIGINT,
  odo_min DOUBLE, odo_max DOUBLE,
  charging BIGINT, adas_count BIGINT, adas2 BIGINT, faults BIGINT,
  PRIMARY KEY (vin, bucket)
)`,
  `CREATE TABLE IF NOT EXISTS rollup_bm_1m (
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  samples BIGINT NOT NULL,
  speed_sum DOUBLE, speed_count BIGINT,
  soc_sum DOUBLE, soc_count BIGINT,
  adas_count BIGINT, adas2 BIGINT,
  PRIMARY KEY (brand, model, bucket)
)`,
  `CREATE TABLE IF NOT EXISTS rollup_1h (
  vin VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  samples BIGINT NOT NULL,
  odo_min DOUBLE, odo_max DOUBLE,
  charging BIGINT, faults BIGINT,
  PRIMARY KEY (vin, bucket)
)`,
  'CREATE TABLE IF NOT EXISTS rollup_sealed (hour BIGINT PRIMARY KEY)',
  'CREATE TEMP TABLE IF NOT EXISTS rollup_keys (vin VARCHAR, bucket BIGINT)',
  // rows computed in memory pass through here on their way into rollup_1m (an appender cannot upsert)
  'CREATE TEMP TABLE IF NOT EXISTS rollup_stage AS SELECT * FROM rollup_1m LIMIT 0',
];

const ROLLUP_COLUMNS = 'vin, bucket, brand, model, samples, speed_sum, speed_count, soc_sum, soc_count, odo_min, odo_max, charging, adas_count, adas2, faults';

const BM_SUMS = 'sum(r.samples), sum(r.speed_sum), sum(r.speed_count), sum(r.soc_sum), sum(r.soc_count), sum(r.adas_count), sum(r.adas2)';
const HOUR_FACTS = 'any_value(r.brand), any_value(r.model), sum(r.samples), min(r.odo_min), max(r.odo_max), sum(r.charging), sum(r.faults)';

/** The tables derived from rollup_1m, for a database opened before they existed. */
export const DERIVE_ALL_SERIES = `INSERT OR REPLACE INTO rollup_bm_1m SELECT r.brand, r.model, r.bucket, ${BM_SUMS} FROM rollup_1m r GROUP BY r.brand, r.model, r.bucket`;

/**
 * What the write connection knows of the sealed hours: loaded on the first rollup write, then kept up to date
 * by the writes (this process is the file's only writer).
 */
export class HourSeals {
  sealed: Set<number> | undefined;
  /** the greatest minute bucket written so far */
  newest = Number.NEGATIVE_INFINITY;

  async load(db: DuckDBConnection): Promise<Set<number>> {
    if (this.sealed) return this.sealed;
    const rows = (await db.runAndReadAll('SELECT hour FROM rollup_sealed')).getRowsJS() as unknown[][];
    const sealed = new Set(rows.map((row) => toNumber(row[0])));
    const [newest] = (await db.runAndReadAll('SELECT max(bucket) FROM rollup_1m')).getRowsJS() as unknown[][];
    if (newest?.[0] !== null && newest?.[0] !== undefined) this.newest = Math.max(this.newest, toNumber(newest[0]));
    this.sealed = sealed;
    return sealed;
  }
}

/**
 * After the minute rows of the keys in `touched` (a table of vin, bucket, holding the keys `buckets` and
 * `vinHours` describe) changed, in the same transaction: the (brand, model, minute) sums of their minutes, the
 * hour rows of the touched vehicles in sealed hours, and the seal of every hour that became due.
 */
async function derive(db: DuckDBConnection, seals: HourSeals, touched: string, buckets: readonly number[], vinHours: ReadonlyMap<number, ReadonlySet<string>>): Promise<void> {
  if (buckets.length === 0) return;
  const lo = Math.min(...buckets);
  const hi = Math.max(...buckets) + ROLLUP_BUCKET_MS;
  await db.run(
    `INSERT OR REPLACE INTO rollup_bm_1m
     SELECT r.brand, r.model, r.bucket, ${BM_SUMS}
     FROM rollup_1m r JOIN (
       SELECT DISTINCT m.brand, m.model, m.bucket FROM rollup_1m m JOIN (SELECT DISTINCT vin, bucket FROM ${touched}) k ON m.vin = k.vin AND m.bucket = k.bucket
       WHERE m.bucket >= ${lo} AND m.bucket < ${hi}
     ) g ON r.brand = g.brand AND r.model = g.model AND r.bucket = g.bucket
     WHERE r.bucket >= ${lo} AND r.bucket < ${hi}
     GROUP BY r.brand, r.model, r.bucket`,
  );
  const sealed = await seals.load(db);
  seals.newest = Math.max(seals.newest, hi - ROLLUP_BUCKET_MS);
  // hours sealed before: the touched vehicles' rows of them again
  for (const [hour, vins] of vinHours) {
    if (!sealed.has(hour)) continue;
    const list = [...vins].map((v) => `'${v.replaceAll("'", "''")}'`).join(', ');
    await db.run(
      `INSERT OR REPLACE INTO rollup_1h SELECT r.vin, ${hour}, ${HOUR_FACTS} FROM rollup_1m r
       WHERE r.bucket >= ${hour} AND r.bucket < ${hour + ROLLUP_HOUR_MS} AND r.vin IN (${list}) GROUP BY r.vin`,
    );
  }
  const ranges = await dueHours({
    lastSealed: latestHour(sealed),
    oldest: async () => {
      const [oldest] = (await db.runAndReadAll('SELECT min(bucket) FROM rollup_1m')).getRowsJS() as unknown[][];
      return oldest?.[0] === null || oldest?.[0] === undefined ? undefined : toNumber(oldest[0]);
    },
    newest: seals.newest,
    touchedHours: vinHours.keys(),
    isSealed: (hour) => sealed.has(hour),
  });
  for (const { lo: from, hi: to } of ranges) {
    await db.run(
      `INSERT OR REPLACE INTO rollup_1h SELECT r.vin, r.bucket // ${ROLLUP_HOUR_MS} * ${ROLLUP_HOUR_MS} AS hour, ${HOUR_FACTS} FROM rollup_1m r
       WHERE r.bucket >= ${from} AND r.bucket < ${to} GROUP BY r.vin, hour`,
    );
    await db.run(`INSERT OR IGNORE INTO rollup_sealed SELECT range FROM range(${from}, ${to}, ${ROLLUP_HOUR_MS})`);
    for (let hour = from; hour < to; hour += ROLLUP_HOUR_MS) sealed.add(hour);
  }
}

const SUMS_RAW = `count(*), sum(${SPEED}), count(${SPEED}), sum(${SOC}), count(${SOC}), count(${ADAS}), count(*) FILTER (WHERE ${ADAS} >= 2)`;
const SUMS_ROLLUP = 'sum(samples), sum(speed_sum), sum(speed_count), sum(soc_sum), sum(soc_count), sum(adas_count), sum(adas2)';
/** Per-vehicle facts, from raw samples or from rollup rows (rollup_1m and rollup_1h alike). */
const FACTS_RAW = `max(${ODO}) AS odo_max, min(${ODO}) AS odo_min, count(*) FILTER (WHERE ${CHARGING}) AS charging, count(*) FILTER (WHERE ${FAULT}) AS faults`;
const FACTS_ROLLUP = 'max(odo_max) AS odo_max, min(odo_min) AS odo_min, sum(charging) AS charging, sum(faults) AS faults';
/** Over per-vehicle facts: active vehicles, distance, vehicles charging, vehicles with a fault. */
const VEHICLE_TOTALS = 'count(*), coalesce(sum(odo_max - odo_min), 0), count(*) FILTER (WHERE charging > 0), count(*) FILTER (WHERE faults > 0)';

const RECOMPUTE = `INSERT OR REPLACE INTO rollup_1m
SELECT t.vin, k.bucket, any_value(t.brand), any_value(t.model),
  count(*), sum(${SPEED}), count(${SPEED}), sum(${SOC}), count(${SOC}), min(${ODO}), max(${ODO}),
  count(*) FILTER (WHERE ${CHARGING}), count(${ADAS}), count(*) FILTER (WHERE ${ADAS} >= 2), count(*) FILTER (WHERE ${FAULT})
FROM (SELECT DISTINCT vin, bucket FROM rollup_keys) k
JOIN telemetry t ON t.vin = k.vin AND t.ts >= k.bucket AND t.ts < k.bucket + ${ROLLUP_BUCKET_MS}
-- the ts range lets DuckDB skip row groups by their zone maps before joining
WHERE t.ts >= $lo AND t.ts < $hi
GROUP BY t.vin, k.bucket`;

/** Fill the temp table rollup_keys with `keys`; returns the time range they span. */
async function stageKeys(db: DuckDBConnection, keys: readonly RollupKey[]): Promise<{ lo: number; hi: number }> {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  await db.run('DELETE FROM rollup_keys');
  const appender = await db.createAppender('rollup_keys');
  try {
    for (const key of keys) {
      appender.appendVarchar(key.vin);
      appender.appendBigInt(BigInt(key.bucket));
      appender.endRow();
      lo = Math.min(lo, key.bucket);
      hi = Math.max(hi, key.bucket + ROLLUP_BUCKET_MS);
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  return { lo, hi };
}

/** Recompute the rollups of `keys` from the raw samples, and what derives from them, in one transaction. */
export async function recomputeRollups(db: DuckDBConnection, seals: HourSeals, keys: readonly RollupKey[]): Promise<void> {
  if (keys.length === 0) return;
  const { lo, hi } = await stageKeys(db, keys);
  const { buckets, vinHours } = touchedOf(keys);
  await inTransaction(db, seals, 'rollup_keys', async () => {
    await db.run(RECOMPUTE, { lo: BigInt(lo), hi: BigInt(hi) });
    await derive(db, seals, 'rollup_keys', buckets, vinHours);
  });
}

/** Run `work` in a transaction, then empty the temp table it read; a rollback forgets what `seals` learnt. */
async function inTransaction(db: DuckDBConnection, seals: HourSeals, staging: string, work: () => Promise<void>): Promise<void> {
  await db.run('BEGIN TRANSACTION');
  try {
    await work();
    await db.run('COMMIT');
  } catch (err) {
    await db.run('ROLLBACK').catch(() => undefined);
    seals.sealed = undefined;
    throw err;
  } finally {
    await db.run(`DELETE FROM ${staging}`).catch(() => undefined);
  }
}

/** Store rows computed in memory, overwriting the rows of the same (vin, bucket), and what derives from them, in one transaction. */
export async function writeRollups(db: DuckDBConnection, seals: HourSeals, rows: readonly RollupRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.run('DELETE FROM rollup_stage');
  const appender = await db.createAppender('rollup_stage');
  try {
    for (const row of rows) {
      appender.appendVarchar(row.vin);
      appender.appendBigInt(BigInt(row.bucket));
      appender.appendVarchar(row.brand);
      appender.appendVarchar(row.model);
      appender.appendBigInt(BigInt(row.samples));
      appender.appendDouble(row.speedSum);
      appender.appendBigInt(BigInt(row.speedCount));
      appender.appendDouble(row.socSum);
      appender.appendBigInt(BigInt(row.socCount));
      if (row.odoMin === undefined) appender.appendNull();
      else appender.appendDouble(row.odoMin);
      if (row.odoMax === undefined) appender.appendNull();
      else appender.appendDouble(row.odoMax);
      appender.appendBigInt(BigInt(row.charging));
      appender.appendBigInt(BigInt(row.adasCount));
      appender.appendBigInt(BigInt(row.adas2));
      appender.appendBigInt(BigInt(row.faults));
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  const { buckets, vinHours } = touchedOf(rows);
  await inTransaction(db, seals, 'rollup_stage', async () => {
    await db.run(`INSERT OR REPLACE INTO rollup_1m SELECT ${ROLLUP_COLUMNS} FROM rollup_stage`);
    await derive(db, seals, 'rollup_stage', buckets, vinHours);
  });
}

/** The keys among `keys` with at least one raw sample (on the write connection, where rollup_keys lives). */
export async function keysWithSamples(db: DuckDBConnection, keys: readonly RollupKey[]): Promise<RollupKey[]> {
  if (keys.length === 0) return [];
  const { lo, hi } = await stageKeys(db, keys);
  try {
    const reader = await db.runAndReadAll(
      `SELECT DISTINCT k.vin, k.bucket FROM rollup_keys k
       JOIN telemetry t ON t.vin = k.vin AND t.ts >= k.bucket AND t.ts < k.bucket + ${ROLLUP_BUCKET_MS}
       WHERE t.ts >= $lo AND t.ts < $hi`,
      { lo: BigInt(lo), hi: BigInt(hi) },
    );
    return (reader.getRowsJS() as unknown[][]).map((row) => ({ vin: String(row[0]), bucket: toNumber(row[1]) }));
  } finally {
    await db.run('DELETE FROM rollup_keys').catch(() => undefined);
  }
}

/** The stored rollup rows of `keys`. */
export async function readRollups(db: DuckDBConnection, keys: readonly RollupKey[]): Promise<RollupRow[]> {
  if (keys.length === 0) return [];
  await stageKeys(db, keys);
  try {
    const reader = await db.runAndReadAll(
      `SELECT ${ROLLUP_COLUMNS.split(', ').map((c) => `r.${c}`).join(', ')} FROM rollup_1m r
       JOIN (SELECT DISTINCT vin, bucket FROM rollup_keys) k ON r.vin = k.vin AND r.bucket = k.bucket`,
    );
    return (reader.getRowsJS() as unknown[][]).map((row) => {
      const stored: RollupRow = {
        vin: String(row[0]),
        bucket: toNumber(row[1]),
        brand: String(row[2]),
        model: String(row[3]),
        samples: toNumber(row[4]),
        speedSum: toNumber(row[5]),
        speedCount: toNumber(row[6]),
        socSum: toNumber(row[7]),
        socCount: toNumber(row[8]),
        charging: toNumber(row[11]),
        adasCount: toNumber(row[12]),
        adas2: toNumber(row[13]),
        faults: toNumber(row[14]),
      };
      if (row[9] !== null) stored.odoMin = toNumber(row[9]);
      if (row[10] !== null) stored.odoMax = toNumber(row[10]);
      return stored;
    });
  } finally {
    await db.run('DELETE FROM rollup_keys').catch(() => undefined);
  }
}

const toNumber = (value: unknown): number => (value === null || value === undefined ? 0 : typeof value === 'bigint' ? Number(value) : Number(value));

function scopeSql(window: CockpitWindow, params: Record<string, DuckDBValue>): string {
  const parts: string[] = [];
  if (window.brand !== undefined) {
    params.brand = window.brand;
    parts.push('brand = $brand');
  }
  if (window.model !== undefined) {
    params.model = window.model;
    parts.push('model = $model');
  }
  if (window.brands !== undefined) {
    if (window.brands.length === 0) return ' AND false';
    const names = window.brands.map((b, i) => {
      params[`b${i}`] = b;
      return `$b${i}`;
    });
    parts.push(`brand IN (${names.join(', ')})`);
  }
  return parts.map((p) => ` AND ${p}`).join('');
}

function sumsOf(row: readonly unknown[], at: number): CockpitSums {
  return {
    samples: toNumber(row[at]),
    speedSum: toNumber(row[at + 1]),
    speedCount: toNumber(row[at + 2]),
    socSum: toNumber(row[at + 3]),
    socCount: toNumber(row[at + 4]),
    adasCount: toNumber(row[at + 5]),
    adas2Count: toNumber(row[at + 6]),
  };
}

export async function cockpit(
  read: (sql: string, params: Record<string, DuckDBValue>) => Promise<unknown[][]>,
  window: CockpitWindow,
  sourceName: 'raw' | 'rollup',
): Promise<CockpitAggregates> {
  const params: Record<string, DuckDBValue> = { from: BigInt(window.from), to: BigInt(window.to), interval: BigInt(window.intervalMs) };
  const scope = scopeSql(window, params);
  let seriesRows: unknown[][];
  let vehicles: unknown[] | undefined;
  if (sourceName === 'raw') {
    const where = `ts >= $from AND ts < $to${scope}`;
    seriesRows = await read(`SELECT (ts - $from) // $interval AS k, ${SUMS_RAW} FROM telemetry WHERE ${where} GROUP BY k ORDER BY k`, params);
    // DuckDB refuses a bound parameter the statement does not use
    const { interval: _interval, ...windowParams } = params;
    [vehicles] = await read(`SELECT ${VEHICLE_TOTALS} FROM (SELECT vin, ${FACTS_RAW} FROM telemetry WHERE ${where} GROUP BY vin)`, windowParams);
  } else {
    seriesRows = await read(
      `SELECT (bucket - $from) // $interval AS k, ${SUMS_ROLLUP} FROM rollup_bm_1m WHERE bucket >= $from AND bucket < $to${scope} GROUP BY k ORDER BY k`,
      params,
    );
    const { from: _from, to: _to, interval: _interval, ...scopeParams } = params;
    const { first, end } = hoursInside(window);
    const sealed =
      first < end
        ? new Set((await read('SELECT hour FROM rollup_sealed WHERE hour >= $first AND hour < $end', { first: BigInt(first), end: BigInt(end) })).map((row) => toNumber(row[0])))
        : new Set<number>();
    // plain bucket ranges, so DuckDB skips row groups by their zone maps
    const parts = factRanges(window, sealed);
    const union = parts
      .map((part) => `SELECT vin, odo_max, odo_min, charging, faults FROM ${part.source === 'hours' ? 'rollup_1h' : 'rollup_1m'} WHERE bucket >= ${part.lo} AND bucket < ${part.hi}${scope}`)
      .join('\n UNION ALL ');
    [vehicles] =
      parts.length === 0
        ? [[0, 0, 0, 0]]
        : await read(`SELECT ${VEHICLE_TOTALS} FROM (SELECT vin, ${FACTS_ROLLUP} FROM (${union}) GROUP BY vin)`, scopeParams);
  }
  const series = seriesRows.map((row) => ({ t: window.from + toNumber(row[0]) * window.intervalMs, ...sumsOf(row, 1) }));
  const totals = series.reduce<CockpitSums>(
    (acc, b) => ({
      samples: acc.samples + b.samples,
      speedSum: acc.speedSum + b.speedSum,
      speedCount: acc.speedCount + b.speedCount,
      socSum: acc.socSum + b.socSum,
      socCount: acc.socCount + b.socCount,
      adasCount: acc.adasCount + b.adasCount,
      adas2Count: acc.adas2Count + b.adas2Count,
    }),
    { samples: 0, speedSum: 0, speedCount: 0, socSum: 0, socCount: 0, adasCount: 0, adas2Count: 0 },
  );
  const v = vehicles ?? [];
  return {
    series,
    totals: { ...totals, activeVehicles: toNumber(v[0]), distanceKm: toNumber(v[1]), chargingVehicles: toNumber(v[2]), faultVehicles: toNumber(v[3]) },
  };
}
