// Cockpit rollups and queries of the InfluxDB store. Rollups are points of measurement `rollup_1m`, one per
// (vehicle, minute), recomputed from the raw `telemetry` points with InfluxQL and written over the previous
// point of the same series and time: exact and idempotent, whichever ingest worker recomputes them.
import { Point } from '@influxdata/influxdb-client';
import { COCKPIT_SIGNALS } from '../contract/signals.ts';
import { VIN_PATTERN } from '../contract/telemetry.ts';
import {
  ROLLUP_BUCKET_MS,
  type CockpitAggregates,
  type CockpitSums,
  type CockpitWindow,
  type RollupKey,
  type RollupRow,
} from './telemetry-store.ts';

export const ROLLUP_MEASUREMENT = 'rollup_1m';

interface TaggedSeries {
  tags?: Record<string, string>;
  values?: ReadonlyArray<readonly unknown[]>;
}
interface Result {
  series?: TaggedSeries[];
}

export interface InfluxAccess {
  query(statements: readonly string[]): Promise<Result[]>;
  writeLines(lines: readonly string[]): Promise<void>;
  literal(value: string): string;
  identifier(name: string): string;
  tagValue(value: string): string;
}

/** Statements per request: bounded so one recompute of a large replay does not build a huge query. */
const STATEMENTS_PER_REQUEST = 40;
/** Beyond this many vehicles in one bucket, recompute the whole bucket instead of listing VINs. */
const MAX_LISTED_VINS = 200;

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

export async function recomputeRollups(influx: InfluxAccess, keys: readonly RollupKey[]): Promise<void> {
  if (keys.length === 0) return;
  const id = influx.identifier;
  const f = {
    speed: id(COCKPIT_SIGNALS.speed),
    soc: id(COCKPIT_SIGNALS.soc),
    odo: id(COCKPIT_SIGNALS.odometer),
    charging: id(COCKPIT_SIGNALS.charging),
    adas: id(COCKPIT_SIGNALS.adasLevel),
    mil: id(COCKPIT_SIGNALS.mil),
    dtc: id(COCKPIT_SIGNALS.dtc),
  };
  const ranges = planRanges(keys);
  const statements: string[] = [];
  for (const range of ranges) {
    const where = `time >= ${range.lo}ms AND time < ${range.hi}ms${vinFilter(influx, range.vins)}`;
    const group = `GROUP BY time(${ROLLUP_BUCKET_MS}ms), "vin", "brand", "model" fill(none)`;
    statements.push(
      `SELECT count("seq"), sum(${f.speed}), count(${f.speed}), sum(${f.soc}), count(${f.soc}), min(${f.odo}), max(${f.odo}), count(${f.adas}) FROM "telemetry" WHERE ${where} ${group}`,
      `SELECT count("seq") FROM "telemetry" WHERE ${f.charging} = true AND ${where} ${group}`,
      `SELECT count("seq") FROM "telemetry" WHERE ${f.adas} >= 2 AND ${where} ${group}`,
      `SELECT count("seq") FROM "telemetry" WHERE (${f.mil} = true OR ${f.dtc} != '') AND ${where} ${group}`,
    );
  }
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) {
    const results = await influx.query(statements.slice(i, i + STATEMENTS_PER_REQUEST));
    const rows: RollupRow[] = [];
    for (let r = 0; r < results.length; r += 4) {
      const extra = [results[r + 1], results[r + 2], results[r + 3]].map((res) => countsBySeriesTime(res));
      for (const series of results[r]?.series ?? []) {
        const tags = series.tags ?? {};
        for (const values of series.values ?? []) {
          const bucket = num(values[0]);
          const key = `${tags.vin}\u0000${bucket}`;
          const row: RollupRow = {
            vin: tags.vin ?? '',
            bucket,
            brand: tags.brand ?? '',
            model: tags.model ?? '',
            samples: num(values[1]),
            speedSum: num(values[2]),
            speedCount: num(values[3]),
            socSum: num(values[4]),
            socCount: num(values[5]),
            adasCount: num(values[8]),
            charging: extra[0]?.get(key) ?? 0,
            adas2: extra[1]?.get(key) ?? 0,
            faults: extra[2]?.get(key) ?? 0,
          };
          if (typeof values[6] === 'number') row.odoMin = values[6];
          if (typeof values[7] === 'number') row.odoMax = values[7];
          rows.push(row);
        }
      }
    }
    await writeRollups(influx, rows);
  }
}

/** Rollup points: one per (vehicle, minute), written over the previous point of the same series and time. */
export async function writeRollups(influx: InfluxAccess, rows: readonly RollupRow[]): Promise<void> {
  if (rows.length === 0) return;
  const lines: string[] = [];
  for (const row of rows) {
    // tags as stored on the raw points, so a rollup row and its samples filter the same way
    const point = new Point(ROLLUP_MEASUREMENT)
      .tag('vin', influx.tagValue(row.vin))
      .tag('brand', influx.tagValue(row.brand))
      .tag('model', influx.tagValue(row.model))
      .intField('samples', row.samples)
      .floatField('speed_sum', row.speedSum)
      .intField('speed_count', row.speedCount)
      .floatField('soc_sum', row.socSum)
      .intField('soc_count', row.socCount)
      .intField('adas_count', row.adasCount)
      .intField('charging', row.charging)
      .intField('adas2', row.adas2)
      .intField('faults', row.faults)
      .timestamp(row.bucket);
    if (row.odoMin !== undefined) point.floatField('odo_min', row.odoMin);
    if (row.odoMax !== undefined) point.floatField('odo_max', row.odoMax);
    const line = point.toLineProtocol();
    if (line) lines.push(line);
  }
  await influx.writeLines(lines);
}

const keyOf = (vin: string, bucket: number): string => `${vin}\u0000${bucket}`;

/** The keys among `keys` with at least one raw sample: a count per vehicle and minute over the planned ranges. */
export async function keysWithSamples(influx: InfluxAccess, keys: readonly RollupKey[]): Promise<RollupKey[]> {
  if (keys.length === 0) return [];
  const wanted = new Set(keys.map((k) => keyOf(k.vin, k.bucket)));
  const statements = planRanges(keys).map(
    (range) => `SELECT count("seq") FROM "telemetry" WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${vinFilter(influx, range.vins)} GROUP BY time(${ROLLUP_BUCKET_MS}ms), "vin" fill(none)`,
  );
  const found = new Map<string, RollupKey>();
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) {
    for (const result of await influx.query(statements.slice(i, i + STATEMENTS_PER_REQUEST))) {
      for (const series of result.series ?? []) {
        const vin = series.tags?.vin ?? '';
        for (const row of series.values ?? []) {
          const key = keyOf(vin, num(row[0]));
          if (num(row[1]) > 0 && wanted.has(key)) found.set(key, { vin, bucket: num(row[0]) });
        }
      }
    }
  }
  return [...found.values()];
}

const ROLLUP_FIELDS = ['samples', 'speed_sum', 'speed_count', 'soc_sum', 'soc_count', 'odo_min', 'odo_max', 'charging', 'adas_count', 'adas2', 'faults'] as const;

/** The stored rollup rows of `keys`. */
export async function readRollups(influx: InfluxAccess, keys: readonly RollupKey[]): Promise<RollupRow[]> {
  if (keys.length === 0) return [];
  const wanted = new Set(keys.map((k) => keyOf(k.vin, k.bucket)));
  const fields = ROLLUP_FIELDS.map((f) => `"${f}"`).join(', ');
  const statements = planRanges(keys).map(
    (range) => `SELECT ${fields} FROM "${ROLLUP_MEASUREMENT}" WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${vinFilter(influx, range.vins)} GROUP BY "vin", "brand", "model"`,
  );
  const rows: RollupRow[] = [];
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) {
    for (const result of await influx.query(statements.slice(i, i + STATEMENTS_PER_REQUEST))) {
      for (const series of result.series ?? []) {
        const tags = series.tags ?? {};
        for (const values of series.values ?? []) {
          const bucket = num(values[0]);
          if (!wanted.has(keyOf(tags.vin ?? '', bucket))) continue;
          const field = (name: (typeof ROLLUP_FIELDS)[number]): unknown => values[1 + ROLLUP_FIELDS.indexOf(name)];
          const row: RollupRow = {
            vin: tags.vin ?? '',
            bucket,
            brand: tags.brand ?? '',
            model: tags.model ?? '',
            samples: num(field('samples')),
            speedSum: num(field('speed_sum')),
            speedCount: num(field('speed_count')),
            socSum: num(field('soc_sum')),
            socCount: num(field('soc_count')),
            charging: num(field('charging')),
            adasCount: num(field('adas_count')),
            adas2: num(field('adas2')),
            faults: num(field('faults')),
          };
          const odoMin = field('odo_min');
          const odoMax = field('odo_max');
          if (typeof odoMin === 'number') row.odoMin = odoMin;
          if (typeof odoMax === 'number') row.odoMax = odoMax;
          rows.push(row);
        }
      }
    }
  }
  return rows;
}

function countsBySeriesTime(result: Result | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const series of result?.series ?? []) {
    for (const row of series.values ?? []) counts.set(`${series.tags?.vin}\u0000${num(row[0])}`, num(row[1]));
  }
  return counts;
}

interface TimeRange {
  lo: number;
  hi: number;
  /** undefined: every vehicle in the range */
  vins?: readonly string[];
}

/**
 * Turn dirty keys into few InfluxQL ranges: live traffic dirties one or two minutes for many vehicles (one
 * range per minute), a late batch dirties many minutes of one vehicle (one range per vehicle).
 */
export function planRanges(keys: readonly RollupKey[]): TimeRange[] {
  const byBucket = new Map<number, Set<string>>();
  for (const k of keys) {
    let vins = byBucket.get(k.bucket);
    if (!vins) byBucket.set(k.bucket, (vins = new Set()));
    vins.add(k.vin);
  }
  if (byBucket.size <= 8) {
    return [...byBucket].map(([bucket, vins]) => ({ lo: bucket, hi: bucket + ROLLUP_BUCKET_MS, vins: vins.size > MAX_LISTED_VINS ? undefined : [...vins] }));
  }
  const byVin = new Map<string, { lo: number; hi: number }>();
  for (const k of keys) {
    const r = byVin.get(k.vin);
    if (!r) byVin.set(k.vin, { lo: k.bucket, hi: k.bucket + ROLLUP_BUCKET_MS });
    else {
      r.lo = Math.min(r.lo, k.bucket);
      r.hi = Math.max(r.hi, k.bucket + ROLLUP_BUCKET_MS);
    }
  }
  return [...byVin].map(([vin, r]) => ({ ...r, vins: [vin] }));
}

function vinFilter(influx: InfluxAccess, vins: readonly string[] | undefined): string {
  if (!vins) return '';
  // VINs are [A-HJ-NPR-Z0-9]: safe inside a regex; anything else is matched as an escaped literal
  if (vins.every((v) => VIN_PATTERN.test(v))) return ` AND "vin" =~ /^(${vins.join('|')})$/`;
  return ` AND (${vins.map((v) => `"vin" = ${influx.literal(influx.tagValue(v))}`).join(' OR ')})`;
}

function scopeFilter(influx: InfluxAccess, window: CockpitWindow): string | undefined {
  const lit = (v: string): string => influx.literal(influx.tagValue(v));
  let where = '';
  if (window.brand !== undefined) where += ` AND "brand" = ${lit(window.brand)}`;
  if (window.model !== undefined) where += ` AND "model" = ${lit(window.model)}`;
  if (window.brands !== undefined) {
    if (window.brands.length === 0) return undefined;
    where += ` AND (${window.brands.map((b) => `"brand" = ${lit(b)}`).join(' OR ')})`;
  }
  return where;
}

const EMPTY_SUMS: CockpitSums = { samples: 0, speedSum: 0, speedCount: 0, socSum: 0, socCount: 0, adasCount: 0, adas2Count: 0 };

export async function cockpit(influx: InfluxAccess, window: CockpitWindow, source: 'rollup' | 'raw'): Promise<CockpitAggregates> {
  const scope = scopeFilter(influx, window);
  if (scope === undefined) return { series: [], totals: { ...EMPTY_SUMS, activeVehicles: 0, distanceKm: 0, chargingVehicles: 0, faultVehicles: 0 } };
  const where = `time >= ${window.from}ms AND time < ${window.to}ms${scope}`;
  const offset = ((window.from % window.intervalMs) + window.intervalMs) % window.intervalMs;
  const byTime = `GROUP BY time(${window.intervalMs}ms, ${offset}ms) fill(none)`;
  const id = influx.identifier;
  const statements =
    source === 'rollup'
      ? [
          `SELECT sum("samples"), sum("speed_sum"), sum("speed_count"), sum("soc_sum"), sum("soc_count"), sum("adas_count"), sum("adas2") FROM "${ROLLUP_MEASUREMENT}" WHERE ${where} ${byTime}`,
          `SELECT max("odo_max"), min("odo_min"), sum("charging"), sum("faults") FROM "${ROLLUP_MEASUREMENT}" WHERE ${where} GROUP BY "vin"`,
        ]
      : [
          `SELECT count("seq"), sum(${id(COCKPIT_SIGNALS.speed)}), count(${id(COCKPIT_SIGNALS.speed)}), sum(${id(COCKPIT_SIGNALS.soc)}), count(${id(COCKPIT_SIGNALS.soc)}), count(${id(COCKPIT_SIGNALS.adasLevel)}) FROM "telemetry" WHERE ${where} ${byTime}`,
          `SELECT max(${id(COCKPIT_SIGNALS.odometer)}), min(${id(COCKPIT_SIGNALS.odometer)}), count("seq") FROM "telemetry" WHERE ${where} GROUP BY "vin"`,
          `SELECT count("seq") FROM "telemetry" WHERE ${id(COCKPIT_SIGNALS.adasLevel)} >= 2 AND ${where} ${byTime}`,
          `SELECT count("seq") FROM "telemetry" WHERE ${id(COCKPIT_SIGNALS.charging)} = true AND ${where} GROUP BY "vin"`,
          `SELECT count("seq") FROM "telemetry" WHERE (${id(COCKPIT_SIGNALS.mil)} = true OR ${id(COCKPIT_SIGNALS.dtc)} != '') AND ${where} GROUP BY "vin"`,
        ];
  const results = await influx.query(statements);
  const adas2ByTime = new Map<number, number>();
  if (source === 'raw') for (const row of results[2]?.series?.[0]?.values ?? []) adas2ByTime.set(num(row[0]), num(row[1]));
  const series = (results[0]?.series?.[0]?.values ?? []).map((row) => {
    const t = num(row[0]);
    return {
      t,
      samples: num(row[1]),
      speedSum: num(row[2]),
      speedCount: num(row[3]),
      socSum: num(row[4]),
      socCount: num(row[5]),
      adasCount: num(row[6]),
      adas2Count: source === 'rollup' ? num(row[7]) : (adas2ByTime.get(t) ?? 0),
    };
  });
  const totals = { ...EMPTY_SUMS };
  for (const b of series) for (const k of Object.keys(EMPTY_SUMS) as Array<keyof CockpitSums>) totals[k] += b[k];
  let activeVehicles = 0;
  let distanceKm = 0;
  let chargingVehicles = 0;
  let faultVehicles = 0;
  for (const s of results[1]?.series ?? []) {
    const row = s.values?.[0];
    if (!row) continue;
    activeVehicles += 1;
    if (typeof row[1] === 'number' && typeof row[2] === 'number') distanceKm += row[1] - row[2];
    if (source === 'rollup') {
      if (num(row[3]) > 0) chargingVehicles += 1;
      if (num(row[4]) > 0) faultVehicles += 1;
    }
  }
  if (source === 'raw') {
    chargingVehicles = (results[3]?.series ?? []).filter((s) => num(s.values?.[0]?.[1]) > 0).length;
    faultVehicles = (results[4]?.series ?? []).filter((s) => num(s.values?.[0]?.[1]) > 0).length;
  }
  return { series, totals: { ...totals, activeVehicles, distanceKm, chargingVehicles, faultVehicles } };
}
