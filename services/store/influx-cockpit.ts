// Cockpit rollups and queries of the InfluxDB store. Rollups are points of measurement `rollup_1m`, one per
// (vehicle, minute), recomputed from the raw `telemetry` points with InfluxQL (or written by the store's only
// writer) and written over the previous point of the same series and time: exact and idempotent, whichever ingest
// worker writes them. Derived from them right after each write of minute points:
//   `rollup_bm_1m`  the sums per (brand, model, minute), for the series;
//   `rollup_vf_*`   the per-vehicle facts packed per (brand, model, segment) (packed-facts.ts): minutes with every
//                   write; 5-minute blocks once sealed (rollup-tiers.ts, markers in `rollup_sealed_5m`), and each
//                   larger segment once all its blocks are, from the segments one tier down. A later write into a
//                   sealed block derives its segments again.
// A store that is the only rollup writer keeps the rows of recent minutes in memory to derive the minute points;
// otherwise it reads the minutes back, other writers' rows included (a derivation that raced another writer's is
// redone by the settle recompute that follows every key).
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
import { BLOCK_MS, mergeFacts, packFacts, planCover, segmentSealed, TIER_SPANS_MS, tierName, unpackFacts, type CoverPart, type VehicleFacts } from './packed-facts.ts';
import { dueHours, latestHour, ROLLUP_HOUR_MS, touchedOf } from './rollup-tiers.ts';

export const ROLLUP_MEASUREMENT = 'rollup_1m';
export const SERIES_MEASUREMENT = 'rollup_bm_1m';
/** Markers of the sealed blocks (5 minutes). */
export const SEALED_MEASUREMENT = `rollup_sealed_${tierName(BLOCK_MS)}`;
/** The packed facts of one tier of segments (packed-facts.ts): rollup_vf_1m, rollup_vf_5m, rollup_vf_15m, rollup_vf_1h ... rollup_vf_128h. */
export const factsMeasurement = (tier: number): string => `rollup_vf_${tierName(TIER_SPANS_MS[tier]!)}`;
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

/** Ask these statements, STATEMENTS_PER_REQUEST to a request, one request after another, and hand every row of every series to `each`. */
async function eachRow(influx: InfluxAccess, statements: readonly string[], each: (tags: Record<string, string>, values: readonly unknown[]) => void): Promise<void> {
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) {
    for (const result of await influx.query(statements.slice(i, i + STATEMENTS_PER_REQUEST))) {
      for (const series of result.series ?? []) for (const values of series.values ?? []) each(series.tags ?? {}, values);
    }
  }
}

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
  await eachRow(influx, statements, (tags, row) => {
    const vin = tags.vin ?? '';
    const key = keyOf(vin, num(row[0]));
    if (num(row[1]) > 0 && wanted.has(key)) found.set(key, { vin, bucket: num(row[0]) });
  });
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
  await eachRow(influx, statements, (tags, values) => {
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
  });
  return rows;
}

/**
 * The tables derived from the minute points (see the file comment), kept up to date by afterWrite; one per store.
 * `soleWriter`: this store is the only process writing rollups, so the minute rows it wrote are all there are.
 */
export class RollupTiers {
  private readonly minutes = new Map<number, Map<string, RollupRow>>();
  /** the sealed blocks, remembered by a sole writer */
  private sealedCache: Set<number> | undefined;
  private newest = Number.NEGATIVE_INFINITY;

  constructor(private readonly soleWriter: boolean) {}

  /** After the minute points of `rows` were written. */
  async afterWrite(influx: InfluxAccess, rows: readonly RollupRow[]): Promise<void> {
    if (rows.length === 0) return;
    const { buckets } = touchedOf(rows);
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
    await influx.writeLines([...seriesLines(influx, complete), ...minuteFactLines(influx, complete)]);
    this.newest = Math.max(this.newest, buckets[buckets.length - 1]!);

    // the models written into each block
    const touched = new Map<number, Map<string, Scope>>();
    for (const row of rows) {
      const block = Math.floor(row.bucket / BLOCK_MS) * BLOCK_MS;
      let scopes = touched.get(block);
      if (!scopes) touched.set(block, (scopes = new Map()));
      scopes.set(`${row.brand}\u0000${row.model}`, { brand: row.brand, model: row.model });
    }
    const blocks = [...touched.keys()];
    const seals = await this.seals(influx, Math.min(...blocks), Math.max(...blocks) + BLOCK_MS);
    // a late write into sealed blocks: derive their segments again, for the models written
    const late = blocks.filter((block) => seals.sealed.has(block));
    if (late.length > 0) {
      const scopes = new Map<string, Scope>();
      for (const block of late) for (const [id, scope] of touched.get(block)!) scopes.set(id, scope);
      await this.derive(influx, late, [...scopes.values()]);
    }
    const due = await dueHours({
      period: BLOCK_MS,
      lastSealed: seals.last,
      oldest: async () => {
        const [result] = await influx.query([`SELECT first("samples") FROM "${ROLLUP_MEASUREMENT}"`]);
        const at = result?.series?.[0]?.values?.[0]?.[0];
        return typeof at === 'number' ? at : undefined;
      },
      newest: this.newest,
      touchedHours: blocks,
      isSealed: (block) => seals.sealed.has(block),
    });
    for (const range of due) {
      for (let lo = range.lo; lo < range.hi; lo += SEAL_CHUNK_MS) {
        const hi = Math.min(range.hi, lo + SEAL_CHUNK_MS);
        const sealing: number[] = [];
        for (let block = lo; block < hi; block += BLOCK_MS) sealing.push(block);
        await this.derive(influx, sealing, undefined);
        // the markers last: a question that sees a block sealed finds every segment derived from it
        await influx.writeLines(sealing.map((block) => `${SEALED_MEASUREMENT} sealed=true ${block}`));
        for (const block of sealing) this.sealedCache?.add(block);
      }
    }
    if (this.soleWriter) for (const bucket of this.minutes.keys()) if (bucket < this.newest - KEEP_MINUTES_MS) this.minutes.delete(bucket);
  }

  /**
   * Packed facts of these blocks from the minute points, then of every larger segment holding one of them whose
   * blocks are all sealed (counting these), each from the segments one tier down. All models, or some.
   */
  private async derive(influx: InfluxAccess, blocks: readonly number[], scopes: readonly Scope[] | undefined): Promise<void> {
    const filter = scopes === undefined ? '' : ` AND (${scopes.map((s) => `("brand" = ${influx.literal(influx.tagValue(s.brand))} AND "model" = ${influx.literal(influx.tagValue(s.model))})`).join(' OR ')})`;
    const statements = bucketRanges(blocks, BLOCK_MS).map(
      (range) =>
        `SELECT min("odo_min"), max("odo_max"), sum("charging"), sum("faults") FROM "${ROLLUP_MEASUREMENT}" WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${filter} GROUP BY time(${BLOCK_MS}ms), "vin", "brand", "model" fill(none)`,
    );
    const derived = new PackedSegments();
    await eachRow(influx, statements, (tags, values) => {
      const facts: VehicleFacts = { charging: num(values[3]) > 0, faults: num(values[4]) > 0 };
      if (typeof values[1] === 'number') facts.odoMin = values[1];
      if (typeof values[2] === 'number') facts.odoMax = values[2];
      mergeFacts(derived.facts(num(values[0]), tags.brand ?? '', tags.model ?? ''), tags.vin ?? '', facts);
    });
    await influx.writeLines(derived.lines(influx, 1));

    const first = Math.min(...blocks);
    const last = Math.max(...blocks);
    const top = TIER_SPANS_MS[TIER_SPANS_MS.length - 1]!;
    const known = await this.seals(influx, Math.floor(first / top) * top, Math.floor(last / top) * top + top);
    const sealed = new Set([...known.sealed, ...blocks]);
    for (let tier = 2; tier < TIER_SPANS_MS.length; tier++) {
      const span = TIER_SPANS_MS[tier]!;
      const segments = [...new Set(blocks.map((block) => Math.floor(block / span) * span))].filter((start) => segmentSealed(tier, start, sealed));
      if (segments.length === 0) break;
      const below = factsMeasurement(tier - 1);
      const reads = bucketRanges(segments, span).map((range) => `SELECT "vehicles" FROM "${below}" WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${filter} GROUP BY "brand", "model"`);
      const parents = new PackedSegments();
      await eachRow(influx, reads, (tags, values) => {
        if (typeof values[1] === 'string') unpackFacts(values[1], parents.facts(Math.floor(num(values[0]) / span) * span, tags.brand ?? '', tags.model ?? ''));
      });
      await influx.writeLines(parents.lines(influx, tier));
    }
  }

  /** The sealed blocks in [lo, hi) and the latest sealed block: remembered by a sole writer, else asked each time. */
  private async seals(influx: InfluxAccess, lo: number, hi: number): Promise<{ sealed: ReadonlySet<number>; last: number | undefined }> {
    if (this.soleWriter && this.sealedCache) return { sealed: this.sealedCache, last: latestHour(this.sealedCache) };
    if (this.soleWriter) {
      const [all] = await influx.query([`SELECT "sealed" FROM "${SEALED_MEASUREMENT}"`]);
      this.sealedCache = new Set((all?.series?.[0]?.values ?? []).map((row) => num(row[0])));
      return { sealed: this.sealedCache, last: latestHour(this.sealedCache) };
    }
    const [inRange, last] = await influx.query([
      `SELECT "sealed" FROM "${SEALED_MEASUREMENT}" WHERE time >= ${lo}ms AND time < ${hi}ms`,
      `SELECT last("sealed") FROM "${SEALED_MEASUREMENT}"`,
    ]);
    const at = last?.series?.[0]?.values?.[0]?.[0];
    return { sealed: new Set((inRange?.series?.[0]?.values ?? []).map((row) => num(row[0]))), last: typeof at === 'number' ? at : undefined };
  }
}

interface Scope {
  brand: string;
  model: string;
}

/** Facts being gathered per (segment start, brand, model), and their packed points. */
class PackedSegments {
  private readonly byKey = new Map<string, { start: number; brand: string; model: string; facts: Map<string, VehicleFacts> }>();

  facts(start: number, brand: string, model: string): Map<string, VehicleFacts> {
    const key = `${start}\u0000${brand}\u0000${model}`;
    let entry = this.byKey.get(key);
    if (!entry) this.byKey.set(key, (entry = { start, brand, model, facts: new Map() }));
    return entry.facts;
  }

  lines(influx: InfluxAccess, tier: number): string[] {
    const lines: string[] = [];
    for (const { start, brand, model, facts } of this.byKey.values()) {
      packFacts(facts).forEach((packed, part) => {
        const line = new Point(factsMeasurement(tier))
          .tag('brand', influx.tagValue(brand))
          .tag('model', influx.tagValue(model))
          .tag('part', String(part))
          .stringField('vehicles', packed)
          .timestamp(start)
          .toLineProtocol();
        if (line) lines.push(line);
      });
    }
    return lines;
  }
}

/** Contiguous runs of aligned segments (minute buckets unless given) as time ranges. */
function bucketRanges(starts: readonly number[], span = ROLLUP_BUCKET_MS): TimeRange[] {
  const ranges: TimeRange[] = [];
  for (const start of [...new Set(starts)].sort((a, b) => a - b)) {
    const last = ranges[ranges.length - 1];
    if (last && last.hi === start) last.hi = start + span;
    else ranges.push({ lo: start, hi: start + span });
  }
  return ranges;
}

/** Packed minute facts of every (brand, model) of these minutes, from their complete rows. */
function minuteFactLines(influx: InfluxAccess, minutes: ReadonlyMap<number, ReadonlyMap<string, RollupRow>>): string[] {
  const packed = new PackedSegments();
  for (const [bucket, rows] of minutes) {
    for (const row of rows.values()) {
      const facts: VehicleFacts = { charging: row.charging > 0, faults: row.faults > 0 };
      if (row.odoMin !== undefined) facts.odoMin = row.odoMin;
      if (row.odoMax !== undefined) facts.odoMax = row.odoMax;
      mergeFacts(packed.facts(bucket, row.brand, row.model), row.vin, facts);
    }
  }
  return packed.lines(influx, 0);
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

/** Segments in a part of a cover (points per model read for it). */
const pointsOf = (part: CoverPart): number => (part.hi - part.lo) / TIER_SPANS_MS[part.tier]!;

/** Series from the (brand, model, minute) sums; per-vehicle facts from the packed segments that cover the window. */
async function fromRollups(influx: InfluxAccess, window: CockpitWindow, scope: string): Promise<CockpitAggregates> {
  const seriesAnswer = influx.query([
    `SELECT sum("samples"), sum("speed_sum"), sum("speed_count"), sum("soc_sum"), sum("soc_count"), sum("adas_count"), sum("adas2") FROM "${SERIES_MEASUREMENT}" WHERE time >= ${window.from}ms AND time < ${window.to}ms${scope} ${timeGroup(window)}`,
  ]);
  const vehicles = new Map<string, VehicleFacts>();
  const factsAnswer = (async () => {
    const [sealedResult] = await influx.query([`SELECT "sealed" FROM "${SEALED_MEASUREMENT}" WHERE time >= ${window.from}ms AND time < ${window.to}ms`]);
    const sealed = new Set((sealedResult?.series?.[0]?.values ?? []).map((row) => num(row[0])));
    // one statement per range (InfluxQL has no OR of time ranges), in two requests of about as many points each:
    // influxd answers them on two cores while the series request runs
    const groups: string[][] = [[], []];
    const load = [0, 0];
    const parts = planCover(window.from, window.to, (tier, start) => segmentSealed(tier, start, sealed));
    for (const part of parts.sort((a, b) => pointsOf(b) - pointsOf(a))) {
      const group = load[0]! <= load[1]! ? 0 : 1;
      groups[group]!.push(`SELECT "vehicles" FROM "${factsMeasurement(part.tier)}" WHERE time >= ${part.lo}ms AND time < ${part.hi}ms${scope}`);
      load[group]! += pointsOf(part);
    }
    await Promise.all(
      groups.map((statements) =>
        eachRow(influx, statements, (_tags, row) => {
          if (typeof row[1] === 'string') unpackFacts(row[1], vehicles);
        }),
      ),
    );
  })();
  const [[seriesResult]] = await Promise.all([seriesAnswer, factsAnswer]);
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
  let distanceKm = 0;
  let chargingVehicles = 0;
  let faultVehicles = 0;
  for (const v of vehicles.values()) {
    if (v.odoMax !== undefined && v.odoMin !== undefined) distanceKm += v.odoMax - v.odoMin;
    if (v.charging) chargingVehicles += 1;
    if (v.faults) faultVehicles += 1;
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
