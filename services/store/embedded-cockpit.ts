// Cockpit rollups and queries of the embedded (DuckDB) store. Rollups are one row per (vehicle, minute),
// recomputed from the raw samples, so they are exact whatever was duplicated or late; cockpit queries merge them
// in SQL (sums per series bucket, per-vehicle facts for distinct counts and distance).
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
  'CREATE TEMP TABLE IF NOT EXISTS rollup_keys (vin VARCHAR, bucket BIGINT)',
  // rows computed in memory pass through here on their way into rollup_1m (an appender cannot upsert)
  'CREATE TEMP TABLE IF NOT EXISTS rollup_stage AS SELECT * FROM rollup_1m LIMIT 0',
];

const ROLLUP_COLUMNS = 'vin, bucket, brand, model, samples, speed_sum, speed_count, soc_sum, soc_count, odo_min, odo_max, charging, adas_count, adas2, faults';

/** The same KPI ingredients, read from raw samples or from stored rollups. */
interface Source {
  table: string;
  time: string;
  sums: string;
  perVehicle: string;
}

const SUMS_RAW = `count(*), sum(${SPEED}), count(${SPEED}), sum(${SOC}), count(${SOC}), count(${ADAS}), count(*) FILTER (WHERE ${ADAS} >= 2)`;
const SUMS_ROLLUP = 'sum(samples), sum(speed_sum), sum(speed_count), sum(soc_sum), sum(soc_count), sum(adas_count), sum(adas2)';

const SOURCES: Record<'raw' | 'rollup', Source> = {
  raw: {
    table: 'telemetry',
    time: 'ts',
    sums: SUMS_RAW,
    perVehicle: `max(${ODO}) AS odo_max, min(${ODO}) AS odo_min, count(*) FILTER (WHERE ${CHARGING}) AS charging, count(*) FILTER (WHERE ${FAULT}) AS faults`,
  },
  rollup: {
    table: 'rollup_1m',
    time: 'bucket',
    sums: SUMS_ROLLUP,
    perVehicle: 'max(odo_max) AS odo_max, min(odo_min) AS odo_min, sum(charging) AS charging, sum(faults) AS faults',
  },
};

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

/** Recompute the rollups of `keys` from the raw samples, in one transaction on the write connection. */
export async function recomputeRollups(db: DuckDBConnection, keys: readonly RollupKey[]): Promise<void> {
  if (keys.length === 0) return;
  const { lo, hi } = await stageKeys(db, keys);
  await inTransaction(db, RECOMPUTE, { lo: BigInt(lo), hi: BigInt(hi) }, 'rollup_keys');
}

/** Run one statement in a transaction, then empty the temp table it read. */
async function inTransaction(db: DuckDBConnection, sql: string, params: Record<string, DuckDBValue>, staging: string): Promise<void> {
  await db.run('BEGIN TRANSACTION');
  try {
    await db.run(sql, params);
    await db.run('COMMIT');
  } catch (err) {
    await db.run('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await db.run(`DELETE FROM ${staging}`).catch(() => undefined);
  }
}

/** Store rows computed in memory, overwriting the rows of the same (vin, bucket), in one transaction. */
export async function writeRollups(db: DuckDBConnection, rows: readonly RollupRow[]): Promise<void> {
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
  await inTransaction(db, `INSERT OR REPLACE INTO rollup_1m SELECT ${ROLLUP_COLUMNS} FROM rollup_stage`, {}, 'rollup_stage');
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
  const source = SOURCES[sourceName];
  const params: Record<string, DuckDBValue> = { from: BigInt(window.from), to: BigInt(window.to), interval: BigInt(window.intervalMs) };
  const where = `${source.time} >= $from AND ${source.time} < $to${scopeSql(window, params)}`;
  const seriesRows = await read(
    `SELECT (${source.time} - $from) // $interval AS k, ${source.sums} FROM ${source.table} WHERE ${where} GROUP BY k ORDER BY k`,
    params,
  );
  // DuckDB refuses a bound parameter the statement does not use
  const { interval: _interval, ...windowParams } = params;
  const [vehicles] = await read(
    `SELECT count(*), coalesce(sum(odo_max - odo_min), 0), count(*) FILTER (WHERE charging > 0), count(*) FILTER (WHERE faults > 0)
     FROM (SELECT vin, ${source.perVehicle} FROM ${source.table} WHERE ${where} GROUP BY vin)`,
    windowParams,
  );
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

