// Cockpit rollups and queries of the InfluxDB store. Rollups are points of measurement `rollup_1m`, one per
// (vehicle, minute), recomputed from the raw `telemetry` points with InfluxQL (or written by the store's only
// writer) and written over the previous point of the same series and time: exact and idempotent, whichever ingest
// worker writes them. `rollup_bm_1m` (series) and `rollup_1h` (hours, sealed ones marked in `rollup_sealed`)
// derive from them as rollup-tiers.ts describes, right after each write of minute points. A store that is the
// only rollup writer keeps the rows of recent minutes in memory to derive the series; otherwise it reads the
// minutes back, other writers' rows included (a derivation that raced another writer's is redone by the settle
// recompute that follows every key).
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
import { dueHours, factRanges, hourOf, hoursInside, latestHour, ROLLUP_HOUR_MS, touchedOf } from './rollup-tiers.ts';

export const ROLLUP_MEASUREMENT = 'rollup_1m';
export const SERIES_MEASUREMENT = 'rollup_bm_1m';
export const HOUR_MEASUREMENT = 'rollup_1h';
export const SEALED_MEASUREMENT = 'rollup_sealed';
/** How long a sole writer keeps a minute's rows after the newest minute it wrote. */
const KEEP_MINUTES_MS = 10 * 60_000;
/** Hours sealed per query when a long stretch is due (e.g. after a long outage). */
const SEAL_CHUNK_MS = 24 * ROLLUP_HOUR_MS;

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

export async function recomputeRollups(influx: InfluxAccess, tiers: RollupTiers, keys: readonly RollupKey[]): Promise<void> {
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
    await writeRollups(influx, tiers, rows);
  }
}

/** The sample-weighted sums of a row, as fields (minute and series points alike). */
function withSums(point: Point, row: RollupRow): Point {
  return point
    .intField('samples', row.samples)
    .floatField('speed_sum', row.speedSum)
    .intField('speed_count', row.speedCount)
    .floatField('soc_sum', row.socSum)
    .intField('soc_count', row.socCount)
    .intField('adas_count', row.adasCount)
    .intField('adas2', row.adas2);
}

/** Rollup points: one per (vehicle, minute), written over the previous point of the same series and time; then what derives from them. */
export async function writeRollups(influx: InfluxAccess, tiers: RollupTiers, rows: readonly RollupRow[]): Promise<void> {
  if (rows.length === 0) return;
  const lines: string[] = [];
  for (const row of rows) {
    // tags as stored on the raw points, so a rollup row and its samples filter the same way
    const point = new Point(ROLLUP_MEASUREMENT)
      .tag('vin', influx.tagValue(row.vin))
      .tag('brand', influx.tagValue(row.brand))
      .tag('model', influx.tagValue(row.model));
    withSums(point, row)
      .intField('charging', row.charging)
      .intField('faults', row.faults)
      .timestamp(row.bucket);
    if (row.odoMin !== undefined) point.floatField('odo_min', row.odoMin);
    if (row.odoMax !== undefined) point.floatField('odo_max', row.odoMax);
    const line = point.toLineProtocol();
    if (line) lines.push(line);
  }
  await influx.writeLines(lines);
  await tiers.afterWrite(influx, rows);
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
  const rows = await readRanges(influx, planRanges(keys));
  return rows.filter((row) => wanted.has(keyOf(row.vin, row.bucket)));
}

/** Every stored rollup row in these ranges. */
async function readRanges(influx: InfluxAccess, ranges: readonly TimeRange[]): Promise<RollupRow[]> {
  const fields = ROLLUP_FIELDS.map((f) => `"${f}"`).join(', ');
  const statements = ranges.map(
    (range) => `SELECT ${fields} FROM "${ROLLUP_MEASUREMENT}" WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${vinFilter(influx, range.vins)} GROUP BY "vin", "brand", "model"`,
  );
  const rows: RollupRow[] = [];
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) {
    for (const result of await influx.query(statements.slice(i, i + STATEMENTS_PER_REQUEST))) {
      for (const series of result.series ?? []) {
        const tags = series.tags ?? {};
        for (const values of series.values ?? []) {
          const field = (name: (typeof ROLLUP_FIELDS)[number]): unknown => values[1 + ROLLUP_FIELDS.indexOf(name)];
          const row: RollupRow = {
            vin: tags.vin ?? '',
            bucket: num(values[0]),
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

/**
 * The tables derived from the minute points (see the file comment), kept up to date by afterWrite; one per store.
 * `soleWriter`: this store is the only process writing rollups, so the minute rows it wrote are all there are.
 */
export class RollupTiers {
  private readonly minutes = new Map<number, Map<string, RollupRow>>();
  private sealedCache: Set<number> | undefined;
  private newest = Number.NEGATIVE_INFINITY;

  constructor(private readonly soleWriter: boolean) {}

  /** After the minute points of `rows` were written. */
  async afterWrite(influx: InfluxAccess, rows: readonly RollupRow[]): Promise<void> {
    if (rows.length === 0) return;
    const { buckets, vinHours } = touchedOf(rows);
    const complete = new Map<number, Map<string, RollupRow>>();
    const unknown: number[] = [];
    for (const bucket of buckets) {
      const held = this.soleWriter ? this.minutes.get(bucket) : undefined;
      if (held) complete.set(bucket, held);
      else unknown.push(bucket);
    }
    for (const row of rows) complete.get(row.bucket)?.set(row.vin, { ...row });
    if (unknown.length > 0) {
      const read = new Map<number, Map<string, RollupRow>>(unknown.map((bucket) => [bucket, new Map()]));
      for (const row of await readRanges(influx, bucketRanges(unknown))) read.get(row.bucket)?.set(row.vin, row);
      for (const [bucket, held] of read) {
        complete.set(bucket, held);
        if (this.soleWriter) this.minutes.set(bucket, held);
      }
    }
    await influx.writeLines(seriesLines(influx, complete));
    this.newest = Math.max(this.newest, buckets[buckets.length - 1]!);

    const seals = await this.seals(influx, [...vinHours.keys()]);
    for (const [hour, vins] of vinHours) {
      // many vehicles: derive the whole hour, one query without a long VIN list
      if (seals.sealed.has(hour)) await writeHours(influx, { lo: hour, hi: hour + ROLLUP_HOUR_MS, vins: vins.size > MAX_LISTED_VINS ? undefined : [...vins] });
    }
    const due = await dueHours({
      lastSealed: seals.last,
      oldest: async () => {
        const [result] = await influx.query([`SELECT first("samples") FROM "${ROLLUP_MEASUREMENT}"`]);
        const at = result?.series?.[0]?.values?.[0]?.[0];
        return typeof at === 'number' ? at : undefined;
      },
      newest: this.newest,
      touchedHours: vinHours.keys(),
      isSealed: (hour) => seals.sealed.has(hour),
    });
    for (const range of due) {
      for (let lo = range.lo; lo < range.hi; lo += SEAL_CHUNK_MS) {
        const hi = Math.min(range.hi, lo + SEAL_CHUNK_MS);
        await writeHours(influx, { lo, hi });
        const markers: string[] = [];
        for (let hour = lo; hour < hi; hour += ROLLUP_HOUR_MS) markers.push(`${SEALED_MEASUREMENT} sealed=true ${hour}`);
        await influx.writeLines(markers);
        for (let hour = lo; hour < hi; hour += ROLLUP_HOUR_MS) this.sealedCache?.add(hour);
      }
    }
    if (this.soleWriter) for (const bucket of this.minutes.keys()) if (bucket < this.newest - KEEP_MINUTES_MS) this.minutes.delete(bucket);
  }

  /** Which of these hours are sealed, and the latest sealed hour: remembered by a sole writer, else asked each time. */
  private async seals(influx: InfluxAccess, hours: readonly number[]): Promise<{ sealed: ReadonlySet<number>; last: number | undefined }> {
    if (this.soleWriter && this.sealedCache) return { sealed: this.sealedCache, last: latestHour(this.sealedCache) };
    if (this.soleWriter) {
      const [all] = await influx.query([`SELECT "sealed" FROM "${SEALED_MEASUREMENT}"`]);
      this.sealedCache = new Set((all?.series?.[0]?.values ?? []).map((row) => num(row[0])));
      return { sealed: this.sealedCache, last: latestHour(this.sealedCache) };
    }
    const lo = Math.min(...hours);
    const hi = Math.max(...hours);
    const [inRange, last] = await influx.query([
      `SELECT "sealed" FROM "${SEALED_MEASUREMENT}" WHERE time >= ${lo}ms AND time <= ${hi}ms`,
      `SELECT last("sealed") FROM "${SEALED_MEASUREMENT}"`,
    ]);
    const at = last?.series?.[0]?.values?.[0]?.[0];
    return { sealed: new Set((inRange?.series?.[0]?.values ?? []).map((row) => num(row[0]))), last: typeof at === 'number' ? at : undefined };
  }
}

/** Contiguous runs of minute buckets as time ranges. */
function bucketRanges(buckets: readonly number[]): TimeRange[] {
  const ranges: TimeRange[] = [];
  for (const bucket of [...buckets].sort((a, b) => a - b)) {
    const last = ranges[ranges.length - 1];
    if (last && last.hi === bucket) last.hi = bucket + ROLLUP_BUCKET_MS;
    else ranges.push({ lo: bucket, hi: bucket + ROLLUP_BUCKET_MS });
  }
  return ranges;
}

/** Series points: the sums of every (brand, model) of these minutes, from their complete rows. */
function seriesLines(influx: InfluxAccess, minutes: ReadonlyMap<number, ReadonlyMap<string, RollupRow>>): string[] {
  const lines: string[] = [];
  for (const [bucket, rows] of minutes) {
    const groups = new Map<string, RollupRow>();
    for (const row of rows.values()) {
      const id = `${row.brand}\u0000${row.model}`;
      const sum = groups.get(id);
      if (!sum) {
        groups.set(id, { ...row });
        continue;
      }
      sum.samples += row.samples;
      sum.speedSum += row.speedSum;
      sum.speedCount += row.speedCount;
      sum.socSum += row.socSum;
      sum.socCount += row.socCount;
      sum.adasCount += row.adasCount;
      sum.adas2 += row.adas2;
    }
    for (const sum of groups.values()) {
      const line = withSums(new Point(SERIES_MEASUREMENT).tag('brand', influx.tagValue(sum.brand)).tag('model', influx.tagValue(sum.model)), sum)
        .timestamp(bucket)
        .toLineProtocol();
      if (line) lines.push(line);
    }
  }
  return lines;
}

/** Hour points of the vehicles in a range of whole hours (all vehicles, or some), from the minute points. */
async function writeHours(influx: InfluxAccess, range: TimeRange): Promise<void> {
  const [result] = await influx.query([
    `SELECT sum("samples"), min("odo_min"), max("odo_max"), sum("charging"), sum("faults") FROM "${ROLLUP_MEASUREMENT}"
     WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${vinFilter(influx, range.vins)} GROUP BY time(${ROLLUP_HOUR_MS}ms), "vin", "brand", "model" fill(none)`,
  ]);
  const lines: string[] = [];
  for (const series of result?.series ?? []) {
    const tags = series.tags ?? {};
    for (const values of series.values ?? []) {
      const point = new Point(HOUR_MEASUREMENT)
        .tag('vin', influx.tagValue(tags.vin ?? ''))
        .tag('brand', influx.tagValue(tags.brand ?? ''))
        .tag('model', influx.tagValue(tags.model ?? ''))
        .intField('samples', num(values[1]))
        .intField('charging', num(values[4]))
        .intField('faults', num(values[5]))
        .timestamp(hourOf(num(values[0])));
      if (typeof values[2] === 'number') point.floatField('odo_min', values[2]);
      if (typeof values[3] === 'number') point.floatField('odo_max', values[3]);
      const line = point.toLineProtocol();
      if (line) lines.push(line);
    }
  }
  await influx.writeLines(lines);
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
  return source === 'rollup' ? fromRollups(influx, window, scope) : fromRaw(influx, window, scope);
}

const timeGroup = (window: CockpitWindow): string => {
  const offset = ((window.from % window.intervalMs) + window.intervalMs) % window.intervalMs;
  return `GROUP BY time(${window.intervalMs}ms, ${offset}ms) fill(none)`;
};

function totalsOf(series: readonly CockpitSums[]): CockpitSums {
  const totals = { ...EMPTY_SUMS };
  for (const b of series) for (const k of Object.keys(EMPTY_SUMS) as Array<keyof CockpitSums>) totals[k] += b[k];
  return totals;
}

/** Series from the (brand, model, minute) sums; per-vehicle facts from hour points of sealed hours and minute points elsewhere. */
async function fromRollups(influx: InfluxAccess, window: CockpitWindow, scope: string): Promise<CockpitAggregates> {
  const { first, end } = hoursInside(window);
  const [seriesResult, sealedResult] = await influx.query([
    `SELECT sum("samples"), sum("speed_sum"), sum("speed_count"), sum("soc_sum"), sum("soc_count"), sum("adas_count"), sum("adas2") FROM "${SERIES_MEASUREMENT}" WHERE time >= ${window.from}ms AND time < ${window.to}ms${scope} ${timeGroup(window)}`,
    `SELECT "sealed" FROM "${SEALED_MEASUREMENT}" WHERE time >= ${first}ms AND time < ${Math.max(first, end)}ms`,
  ]);
  const series = (seriesResult?.series?.[0]?.values ?? []).map((row) => ({
    t: num(row[0]),
    samples: num(row[1]),
    speedSum: num(row[2]),
    speedCount: num(row[3]),
    socSum: num(row[4]),
    socCount: num(row[5]),
    adasCount: num(row[6]),
    adas2Count: num(row[7]),
  }));
  const sealed = new Set((sealedResult?.series?.[0]?.values ?? []).map((row) => num(row[0])));
  // one statement per range: InfluxQL has no OR of time ranges
  const parts = factRanges(window, sealed);
  const results = await influx.query(
    parts.map(
      (part) =>
        `SELECT max("odo_max"), min("odo_min"), sum("charging"), sum("faults") FROM "${part.source === 'hours' ? HOUR_MEASUREMENT : ROLLUP_MEASUREMENT}" WHERE time >= ${part.lo}ms AND time < ${part.hi}ms${scope} GROUP BY "vin"`,
    ),
  );
  const vehicles = new Map<string, { odoMax?: number; odoMin?: number; charging: number; faults: number }>();
  for (const result of results) {
    for (const s of result.series ?? []) {
      const row = s.values?.[0];
      if (!row) continue;
      const vin = s.tags?.vin ?? '';
      let v = vehicles.get(vin);
      if (!v) vehicles.set(vin, (v = { charging: 0, faults: 0 }));
      if (typeof row[1] === 'number') v.odoMax = v.odoMax === undefined ? row[1] : Math.max(v.odoMax, row[1]);
      if (typeof row[2] === 'number') v.odoMin = v.odoMin === undefined ? row[2] : Math.min(v.odoMin, row[2]);
      v.charging += num(row[3]);
      v.faults += num(row[4]);
    }
  }
  let distanceKm = 0;
  let chargingVehicles = 0;
  let faultVehicles = 0;
  for (const v of vehicles.values()) {
    if (v.odoMax !== undefined && v.odoMin !== undefined) distanceKm += v.odoMax - v.odoMin;
    if (v.charging > 0) chargingVehicles += 1;
    if (v.faults > 0) faultVehicles += 1;
  }
  return { series, totals: { ...totalsOf(series), activeVehicles: vehicles.size, distanceKm, chargingVehicles, faultVehicles } };
}

async function fromRaw(influx: InfluxAccess, window: CockpitWindow, scope: string): Promise<CockpitAggregates> {
  const where = `time >= ${window.from}ms AND time < ${window.to}ms${scope}`;
  const byTime = timeGroup(window);
  const id = influx.identifier;
  const results = await influx.query([
    `SELECT count("seq"), sum(${id(COCKPIT_SIGNALS.speed)}), count(${id(COCKPIT_SIGNALS.speed)}), sum(${id(COCKPIT_SIGNALS.soc)}), count(${id(COCKPIT_SIGNALS.soc)}), count(${id(COCKPIT_SIGNALS.adasLevel)}) FROM "telemetry" WHERE ${where} ${byTime}`,
    `SELECT max(${id(COCKPIT_SIGNALS.odometer)}), min(${id(COCKPIT_SIGNALS.odometer)}), count("seq") FROM "telemetry" WHERE ${where} GROUP BY "vin"`,
    `SELECT count("seq") FROM "telemetry" WHERE ${id(COCKPIT_SIGNALS.adasLevel)} >= 2 AND ${where} ${byTime}`,
    `SELECT count("seq") FROM "telemetry" WHERE ${id(COCKPIT_SIGNALS.charging)} = true AND ${where} GROUP BY "vin"`,
    `SELECT count("seq") FROM "telemetry" WHERE (${id(COCKPIT_SIGNALS.mil)} = true OR ${id(COCKPIT_SIGNALS.dtc)} != '') AND ${where} GROUP BY "vin"`,
  ]);
  const adas2ByTime = new Map<number, number>();
  for (const row of results[2]?.series?.[0]?.values ?? []) adas2ByTime.set(num(row[0]), num(row[1]));
  const series = (results[0]?.series?.[0]?.values ?? []).map((row) => {
    const t = num(row[0]);
    return { t, samples: num(row[1]), speedSum: num(row[2]), speedCount: num(row[3]), socSum: num(row[4]), socCount: num(row[5]), adasCount: num(row[6]), adas2Count: adas2ByTime.get(t) ?? 0 };
  });
  let activeVehicles = 0;
  let distanceKm = 0;
  for (const s of results[1]?.series ?? []) {
    const row = s.values?.[0];
    if (!row) continue;
    activeVehicles += 1;
    if (typeof row[1] === 'number' && typeof row[2] === 'number') distanceKm += row[1] - row[2];
  }
  const chargingVehicles = (results[3]?.series ?? []).filter((s) => num(s.values?.[0]?.[1]) > 0).length;
  const faultVehicles = (results[4]?.series ?? []).filter((s) => num(s.values?.[0]?.[1]) > 0).length;
  return { series, totals: { ...totalsOf(series), activeVehicles, distanceKm, chargingVehicles, faultVehicles } };
}
