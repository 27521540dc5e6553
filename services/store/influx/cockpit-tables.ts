// The cockpit tables (cockpit-tables.ts) in InfluxDB. InfluxDB 1.x pays for every series a query reads, so nothing
// here is a series per vehicle:
//   cockpit_series          tags brand, model; integer and float sums; one point per part at minute + part ms;
//   cockpit_facts_<tier>    tags brand, model; the packed facts of a part in string fields v0, v1 ... (a field holds
//                           at most 64 KB) with `chunks` saying how many are current, and the write's `stamp`, at
//                           segment start + part ms;
//   cockpit_series_sealed   tags tier, brand, model; the sums of a sealed segment's piece, every write a point of its
//                           own at the piece start + (stamp - piece start) ns with field `stamp`: the point with the
//                           greatest stamp (the last) is the piece's sums;
//   cockpit_seals           tag tier; fields rev and series (the revision the sealed sums are of); every write a point
//                           at the segment start + (rev - start) ns: the last point is the mark, the last `series` its.
// InfluxDB 1.x may keep the older value of a point written again when a cache snapshot and a compaction overlap
// (influxdata/influxdb#24388, open), so the cockpit engine's sole writer writes no point twice with other values:
// parts get new numbers, marks and sums new times. A point written again at the same series and time merges its
// fields into the old point, which is how several writers overwrite a part (`chunks` tells stale string fields from
// current ones). Recounts from the raw `telemetry` points and
// the raw cockpit are InfluxQL over that measurement (tags vin, brand, model). The cockpit measurements and the raw
// ones may live in different retention policies (retention.ts): raw points expire first.
import { Point } from '@influxdata/influxdb-client';
import { COCKPIT_SIGNALS } from '../../contract/signals.ts';
import { VIN_PATTERN } from '../../contract/telemetry.ts';
import { contiguousRanges, EMPTY_SUMS, FACT_TIERS, MINUTE_MS, scopeTerms, SEALED_TIERS, segmentKey, SERIES_PIECE_MS, TIER_SPAN_MS, totalOf, type CockpitAggregates, type CockpitScope, type CockpitSums, type CockpitTables, type CockpitWindow, type FactsPart, type FactsPrint, type FactsRange, type FactTier, type ModelRef, type RollupKey, type RollupRow, type SealedSums, type SealedTier, type SealMark, type SegmentRef, type SeriesBucket, type SeriesPart, type SeriesRead } from '../cockpit-tables.ts';
import type { InfluxClient, StatementResult } from './client.ts';
import { identifier, inPolicy, lineOf, tagIs, TELEMETRY_MEASUREMENT, tagValue } from './lines.ts';

export const SERIES_MEASUREMENT = 'cockpit_series';
export const SEALS_MEASUREMENT = 'cockpit_seals';
export const SEALED_SERIES_MEASUREMENT = 'cockpit_series_sealed';
export const factsMeasurement = (tier: FactTier): string => `cockpit_facts_${tier}`;
/**
 * Ranges (of facts, or of the series' minutes) longer than a day cut at every midnight, and whether any was: a range of
 * minutes over days not sealed yet (a fleet's week of history landing: 650,000 facts parts 160 s into it) was one
 * statement that ran past the request timeout (30 s) on a busy influxd; a day per statement and per request, two at a
 * time, keeps each request to a day and uses both of its cores. A range of a day or less (a dashboard's edges) is left
 * whole. (Every finer tier's span divides a day, so a cut falls between segments.)
 */
function byDay(ranges: readonly FactsRange[]): { ranges: FactsRange[]; split: boolean } {
  const day = TIER_SPAN_MS.day;
  const out: FactsRange[] = [];
  for (const r of ranges) {
    if (r.tier === 'day' || r.hi - r.lo <= day) {
      out.push(r);
      continue;
    }
    for (let lo = r.lo; lo < r.hi; ) {
      const cut = Math.min(r.hi, Math.floor(lo / day) * day + day);
      out.push({ tier: r.tier, lo, hi: cut });
      lo = cut;
    }
  }
  return { ranges: out, split: out.length > ranges.length };
}

/** The tier of a facts measurement, by its name (as a query's series names it). */
const FACTS_TIERS = new Map<string, FactTier>(FACT_TIERS.map((tier) => [factsMeasurement(tier), tier]));

/** Characters per string field (InfluxDB keeps at most 64 KB in one). */
const CHUNK_CHARS = 60_000;
/** Beyond this many vehicles in one range, recount the whole range instead of listing VINs. */
const MAX_LISTED_VINS = 200;

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** Split a packed string at entry boundaries into chunks of at most CHUNK_CHARS. */
export function chunksOf(packed: string): string[] {
  if (packed.length <= CHUNK_CHARS) return [packed];
  const chunks: string[] = [];
  let at = 0;
  while (at < packed.length) {
    if (packed.length - at <= CHUNK_CHARS) {
      chunks.push(packed.slice(at));
      break;
    }
    let cut = packed.lastIndexOf(';', at + CHUNK_CHARS);
    if (cut <= at) cut = packed.indexOf(';', at + CHUNK_CHARS);
    if (cut < 0) cut = packed.length;
    chunks.push(packed.slice(at, cut));
    at = cut + 1;
  }
  return chunks;
}

export class InfluxCockpitTables implements CockpitTables {
  constructor(
    private readonly influx: InfluxClient,
    /** a retention policy the cockpit measurements are written to and read from (default: the database's default) */
    private readonly retentionPolicy?: string,
    /** the retention policy of the raw `telemetry` points (default: the database's default) */
    private readonly rawPolicy?: string,
  ) {}

  /** A measurement as InfluxQL names it, in the cockpit's retention policy. */
  private from(measurement: string): string {
    return inPolicy(this.retentionPolicy, measurement);
  }

  /** The raw telemetry, in its retention policy. */
  private get telemetry(): string {
    return inPolicy(this.rawPolicy, TELEMETRY_MEASUREMENT);
  }

  /** Write lines of the cockpit tables, in their policy. */
  private writeLines(lines: readonly string[], table: string, precision: 'ms' | 'ns' = 'ms'): Promise<void> {
    return this.influx.write(lines, { precision, table, retentionPolicy: this.retentionPolicy });
  }

  /**
   * Ask statements in requests of at most `perRequest` (40 by default; in `lanes` concurrent ones) and hand every row of
   * every series to `each`.
   */
  private async eachRow(statements: readonly string[], each: (series: NonNullable<StatementResult['series']>[number], values: readonly unknown[]) => void, lanes = 1, perRequest?: number): Promise<void> {
    for (const result of await this.influx.queryInRequests(statements, { lanes, perRequest })) for (const series of result.series ?? []) for (const values of series.values ?? []) each(series, values);
  }

  async write(batch: { series?: readonly SeriesPart[]; facts?: readonly FactsPart[]; sealedSeries?: readonly SealedSums[]; seals?: readonly SealMark[] }): Promise<void> {
    const series: string[] = [];
    for (const s of batch.series ?? []) {
      const point = sumsPoint(new Point(SERIES_MEASUREMENT).tag('brand', tagValue(s.brand)).tag('model', tagValue(s.model)), s.sums);
      series.push(lineOf(point.intField('part', s.part).timestamp(s.minute + s.part)));
    }
    const sealed: string[] = [];
    for (const s of batch.sealedSeries ?? []) {
      const point = sumsPoint(new Point(SEALED_SERIES_MEASUREMENT).tag('brand', tagValue(s.brand)).tag('model', tagValue(s.model)).tag('tier', s.tier), s.sums);
      sealed.push(lineOf(point.intField('stamp', s.stamp).timestamp(stampedNs(s.start, s.stamp, SERIES_PIECE_MS[s.tier]))));
    }
    const facts: string[] = [];
    for (const f of batch.facts ?? []) {
      const chunks = f.packed === '' ? [] : chunksOf(f.packed);
      const point = new Point(factsMeasurement(f.tier)).tag('brand', tagValue(f.brand)).tag('model', tagValue(f.model)).intField('part', f.part).intField('chunks', chunks.length).intField('stamp', Math.trunc(f.stamp ?? 0));
      chunks.forEach((chunk, i) => point.stringField(`v${i}`, chunk));
      facts.push(lineOf(point.timestamp(f.start + f.part)));
    }
    if (series.length > 0) await this.writeLines(series, SERIES_MEASUREMENT);
    if (facts.length > 0) await this.writeLines(facts, 'cockpit_facts');
    if (sealed.length > 0) await this.writeLines(sealed, SEALED_SERIES_MEASUREMENT, 'ns');
    // the marks after the parts they vouch for; a mark without `series` keeps the last one written (readSeals)
    const seals = (batch.seals ?? []).map((m) => `${SEALS_MEASUREMENT},tier=${m.tier} rev=${Math.trunc(m.rev)}i${m.series === undefined ? '' : `,series=${Math.trunc(m.series)}i`} ${stampedNs(m.start, m.rev, TIER_SPAN_MS[m.tier])}`);
    if (seals.length > 0) await this.writeLines(seals, SEALS_MEASUREMENT, 'ns');
  }

  private scopeFilter(scope: CockpitScope): string | undefined {
    return scopeTerms(scope)
      ?.map(({ column, anyOf }) => (anyOf.length === 1 ? ` AND ${tagIs(column, anyOf[0]!)}` : ` AND (${anyOf.map((v) => tagIs(column, v)).join(' OR ')})`))
      .join('');
  }

  private modelsFilter(models: readonly ModelRef[] | undefined): string {
    if (!models || models.length === 0) return '';
    const unique = new Map(models.map((m) => [`${m.brand}\u0000${m.model}`, m]));
    return ` AND (${[...unique.values()].map((m) => `(${tagIs('brand', m.brand)} AND ${tagIs('model', m.model)})`).join(' OR ')})`;
  }

  async seriesBuckets(read: SeriesRead, byModel = false): Promise<SeriesBucket[]> {
    const scope = this.scopeFilter(read);
    if (scope === undefined || read.ranges.length === 0) return [];
    // one statement per range (InfluxQL has no OR of time ranges) and per day of its minutes, their buckets added up
    // here (a bucket cut by a midnight is summed from both days)
    const days = byDay(read.ranges.filter((r) => r.tier === 'minute'));
    const ranges = [...days.ranges, ...read.ranges.filter((r) => r.tier !== 'minute')];
    const sums = 'sum("samples"), sum("speed_sum"), sum("speed_count"), sum("soc_sum"), sum("soc_count"), sum("adas_count"), sum("adas2")';
    const group = timeGroup(read, byModel ? ', "brand", "model"' : '');
    // minutes: summed by influxd; sealed pieces: every write of a piece's sums is a point of its own, the one with the
    // greatest `stamp` counts (picked here: a subquery of last() per piece took influxd 10x as long as the sum)
    const sealedFields = [...SUMS_FIELDS, 'stamp'].map((f) => `"${f}"`).join(', ');
    const statements = ranges.map((r) =>
      r.tier === 'minute'
        ? `SELECT ${sums} FROM ${this.from(SERIES_MEASUREMENT)} WHERE time >= ${r.lo}ms AND time < ${r.hi}ms${scope} ${group}`
        : `SELECT ${sealedFields} FROM ${this.from(SEALED_SERIES_MEASUREMENT)} WHERE ${tagIs('tier', r.tier)} AND time >= ${r.lo}ms AND time < ${r.hi}ms${scope} GROUP BY "brand", "model"`,
    );
    const buckets = new Map<string, SeriesBucket>();
    const add = (t: number, brand: string, model: string, row: readonly unknown[]): void => {
      const key = byModel ? `${t}\u0000${brand}\u0000${model}` : String(t);
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { t, ...(byModel ? { brand, model } : {}), ...EMPTY_SUMS }));
      b.samples += num(row[1]);
      b.speedSum += num(row[2]);
      b.speedCount += num(row[3]);
      b.socSum += num(row[4]);
      b.socCount += num(row[5]);
      b.adasCount += num(row[6]);
      b.adas2Count += num(row[7]);
    };
    const pieces = new Map<string, { t: number; brand: string; model: string; stamp: number; row: readonly unknown[] }>();
    const results = await this.influx.queryInRequests(statements, days.split ? { perRequest: 1, lanes: 2 } : {});
    results.forEach((result, i) => {
      const range = ranges[i]!;
      for (const series of result.series ?? []) {
        const brand = series.tags?.brand ?? '';
        const model = series.tags?.model ?? '';
        for (const row of series.values ?? []) {
          if (range.tier === 'minute') {
            add(num(row[0]), brand, model, row);
            continue;
          }
          const piece = SERIES_PIECE_MS[range.tier];
          const start = Math.floor(num(row[0]) / piece) * piece;
          // (sums written before stamps were: older than any stamped write)
          const stamp = num(row[8]);
          const key = `${range.tier}\u0000${start}\u0000${brand}\u0000${model}`;
          const have = pieces.get(key);
          if (!have || stamp >= have.stamp) pieces.set(key, { t: read.from + Math.floor((start - read.from) / read.intervalMs) * read.intervalMs, brand, model, stamp, row });
        }
      }
    });
    for (const p of pieces.values()) add(p.t, p.brand, p.model, p.row);
    return [...buckets.values()].filter((b) => b.samples > 0).sort((a, b) => a.t - b.t || (a.brand ?? '').localeCompare(b.brand ?? '') || (a.model ?? '').localeCompare(b.model ?? ''));
  }

  /** A range of segment starts as the time range of their parts (a segment's parts lie up to a span after its start). */
  private factsTimes(r: FactsRange): string {
    const span = TIER_SPAN_MS[r.tier];
    return `time >= ${Math.ceil(r.lo / span) * span}ms AND time < ${Math.ceil(r.hi / span) * span}ms`;
  }

  async readFacts(ranges: readonly FactsRange[], scope: CockpitScope, since?: number): Promise<FactsPart[]> {
    const filter = this.scopeFilter(scope);
    if (filter === undefined || ranges.length === 0) return [];
    // a part written before stamps has none: not "since" anything
    const newer = since === undefined ? '' : ` AND "stamp" >= ${Math.trunc(since)}`;
    // one statement per range (InfluxQL has no OR of time ranges) and per day of it, in two concurrent requests (influxd
    // answers on two cores)
    const days = byDay(ranges);
    const statements = days.ranges.map((r) => `SELECT * FROM ${this.from(factsMeasurement(r.tier))} WHERE ${this.factsTimes(r)}${filter}${newer} GROUP BY "brand", "model"`);
    const parts: FactsPart[] = [];
    await this.eachRow(
      statements,
      (series, values) => {
        const columns = series.columns ?? [];
        const tier = FACTS_TIERS.get(series.name ?? '');
        if (tier === undefined) return;
        const at = (name: string): unknown => values[columns.indexOf(name)];
        const chunks = num(at('chunks'));
        let packed = '';
        for (let i = 0; i < chunks; i++) {
          const chunk = at(`v${i}`);
          if (typeof chunk !== 'string' || chunk === '') continue;
          packed = packed === '' ? chunk : `${packed};${chunk}`;
        }
        const time = num(values[0]);
        const span = TIER_SPAN_MS[tier];
        parts.push({ tier, start: Math.floor(time / span) * span, brand: series.tags?.brand ?? '', model: series.tags?.model ?? '', part: num(at('part')), packed, stamp: num(at('stamp')) });
      },
      2,
      days.split ? 1 : undefined,
    );
    return parts;
  }

  async factsPrints(ranges: readonly FactsRange[], scope: CockpitScope): Promise<FactsPrint[]> {
    const filter = this.scopeFilter(scope);
    if (filter === undefined || ranges.length === 0) return [];
    // every point of a segment lies in the segment (start + part ms), so a bucket of its span is the segment; a part
    // written before stamps is counted by its `part` and adds nothing to the stamps
    const days = byDay(ranges);
    const statements = days.ranges.map((r) => `SELECT count("part"), sum("stamp"), max("stamp") FROM ${this.from(factsMeasurement(r.tier))} WHERE ${this.factsTimes(r)}${filter} GROUP BY time(${TIER_SPAN_MS[r.tier]}ms), "brand", "model" fill(none)`);
    const prints: FactsPrint[] = [];
    await this.eachRow(
      statements,
      (series, values) => {
        const tier = FACTS_TIERS.get(series.name ?? '');
        if (tier === undefined || num(values[1]) === 0) return;
        prints.push({ tier, start: num(values[0]), brand: series.tags?.brand ?? '', model: series.tags?.model ?? '', parts: num(values[1]), stampSum: num(values[2]), stampMax: num(values[3]) });
      },
      2,
      days.split ? 1 : undefined,
    );
    return prints;
  }

  async readSeals(lo: number, hi: number, tiers: readonly SealedTier[] = SEALED_TIERS): Promise<SealMark[]> {
    const asked = SEALED_TIERS.filter((t) => tiers.includes(t));
    if (asked.length === 0) return [];
    // a segment's marks lie within seconds of its start (a week's revisions are 0.6 s of nanoseconds), so they are read
    // up to a step (the finest span asked) past `hi`: the last of each step and tier is the mark of the segment
    // starting there (one starting outside [lo, hi) is dropped); `series` is the last one written
    const step = Math.min(...asked.map((t) => TIER_SPAN_MS[t]));
    const only = asked.length === SEALED_TIERS.length ? '' : ` AND (${asked.map((t) => tagIs('tier', t)).join(' OR ')})`;
    const [result] = await this.influx.query([`SELECT last("rev"), last("series") FROM ${this.from(SEALS_MEASUREMENT)} WHERE time >= ${lo}ms AND time < ${hi + step}ms${only} GROUP BY time(${step}ms), "tier" fill(none)`]);
    const marks: SealMark[] = [];
    for (const series of result?.series ?? []) {
      const tier = asked.find((t) => t === series.tags?.tier);
      if (tier === undefined) continue;
      for (const row of series.values ?? []) {
        const start = num(row[0]);
        if (start >= lo && start < hi && start % TIER_SPAN_MS[tier] === 0) marks.push({ tier, start, rev: num(row[1]), ...(typeof row[2] === 'number' ? { series: row[2] } : {}) });
      }
    }
    return marks;
  }

  async lastParts(segments: readonly SegmentRef[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (segments.length === 0) return out;
    const wanted = new Set(segments.map(segmentKey));
    const byTier = new Map<FactTier, SegmentRef[]>();
    for (const s of segments) byTier.set(s.tier, [...(byTier.get(s.tier) ?? []), s]);
    const statements: string[] = [];
    const tiers: FactTier[] = [];
    for (const [tier, list] of byTier) {
      const span = TIER_SPAN_MS[tier];
      const models = this.modelsFilter(list);
      for (const range of contiguousRanges(list.map((s) => s.start), span)) {
        statements.push(`SELECT max("part") FROM ${this.from(factsMeasurement(tier))} WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${models} GROUP BY time(${span}ms), "brand", "model" fill(none)`);
        tiers.push(tier);
        if (tier !== 'minute') continue;
        statements.push(`SELECT max("part") FROM ${this.from(SERIES_MEASUREMENT)} WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${models} GROUP BY time(${span}ms), "brand", "model" fill(none)`);
        tiers.push(tier);
      }
    }
    const results = await this.influx.queryInRequests(statements);
    results.forEach((result, i) => {
      for (const series of result.series ?? []) {
        for (const row of series.values ?? []) {
          const key = segmentKey({ tier: tiers[i]!, start: num(row[0]), brand: series.tags?.brand ?? '', model: series.tags?.model ?? '' });
          if (wanted.has(key) && typeof row[1] === 'number') out.set(key, Math.max(row[1], out.get(key) ?? 0));
        }
      }
    });
    return out;
  }

  async rowsFromRaw(ranges: ReadonlyArray<{ lo: number; hi: number; models?: readonly ModelRef[]; vins?: readonly string[] }>): Promise<RollupRow[]> {
    const id = identifier;
    const f = {
      speed: id(COCKPIT_SIGNALS.speed),
      soc: id(COCKPIT_SIGNALS.soc),
      odo: id(COCKPIT_SIGNALS.odometer),
      charging: id(COCKPIT_SIGNALS.charging),
      adas: id(COCKPIT_SIGNALS.adasLevel),
      mil: id(COCKPIT_SIGNALS.mil),
      dtc: id(COCKPIT_SIGNALS.dtc),
    };
    const statements: string[] = [];
    for (const range of ranges) {
      const where = `time >= ${range.lo}ms AND time < ${range.hi}ms${this.modelsFilter(range.models)}${vinFilter(range.vins)}`;
      const group = `GROUP BY time(${MINUTE_MS}ms), "vin", "brand", "model" fill(none)`;
      statements.push(
        `SELECT count("seq"), sum(${f.speed}), count(${f.speed}), sum(${f.soc}), count(${f.soc}), min(${f.odo}), max(${f.odo}), count(${f.adas}) FROM ${this.telemetry} WHERE ${where} ${group}`,
        `SELECT count("seq") FROM ${this.telemetry} WHERE ${f.charging} = true AND ${where} ${group}`,
        `SELECT count("seq") FROM ${this.telemetry} WHERE ${f.adas} >= 2 AND ${where} ${group}`,
        `SELECT count("seq") FROM ${this.telemetry} WHERE (${f.mil} = true OR ${f.dtc} != '') AND ${where} ${group}`,
      );
    }
    const rows = new Map<string, RollupRow>();
    // four statements per range, read in order: a request may split a range
    const results = await this.influx.queryInRequests(statements);
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
          if (row.samples > 0) rows.set(key, row);
        }
      }
    }
    return [...rows.values()];
  }

  async keysWithSamples(keys: readonly RollupKey[]): Promise<RollupKey[]> {
    if (keys.length === 0) return [];
    const wanted = new Set(keys.map((k) => `${k.vin}\u0000${k.bucket}`));
    const statements = planRanges(keys).map(
      (range) => `SELECT count("seq") FROM ${this.telemetry} WHERE time >= ${range.lo}ms AND time < ${range.hi}ms${vinFilter(range.vins)} GROUP BY time(${MINUTE_MS}ms), "vin" fill(none)`,
    );
    const found = new Map<string, RollupKey>();
    await this.eachRow(statements, (series, row) => {
      const vin = series.tags?.vin ?? '';
      const key = `${vin}\u0000${num(row[0])}`;
      if (num(row[1]) > 0 && wanted.has(key)) found.set(key, { vin, bucket: num(row[0]) });
    });
    return [...found.values()];
  }

  async newestSample(): Promise<number | undefined> {
    const [result] = await this.influx.query([`SELECT last("seq") FROM ${this.telemetry}`]);
    const at = result?.series?.[0]?.values?.[0]?.[0];
    return typeof at === 'number' ? at : undefined;
  }

  async fromRaw(window: CockpitWindow): Promise<CockpitAggregates> {
    const scope = this.scopeFilter(window);
    const empty = { ...totalOf([]), activeVehicles: 0, distanceKm: 0, chargingVehicles: 0, faultVehicles: 0 };
    if (scope === undefined) return { series: [], totals: empty };
    const where = `time >= ${window.from}ms AND time < ${window.to}ms${scope}`;
    const byTime = timeGroup(window);
    const id = identifier;
    const results = await this.influx.query([
      `SELECT count("seq"), sum(${id(COCKPIT_SIGNALS.speed)}), count(${id(COCKPIT_SIGNALS.speed)}), sum(${id(COCKPIT_SIGNALS.soc)}), count(${id(COCKPIT_SIGNALS.soc)}), count(${id(COCKPIT_SIGNALS.adasLevel)}) FROM ${this.telemetry} WHERE ${where} ${byTime}`,
      `SELECT max(${id(COCKPIT_SIGNALS.odometer)}), min(${id(COCKPIT_SIGNALS.odometer)}), count("seq") FROM ${this.telemetry} WHERE ${where} GROUP BY "vin"`,
      `SELECT count("seq") FROM ${this.telemetry} WHERE ${id(COCKPIT_SIGNALS.adasLevel)} >= 2 AND ${where} ${byTime}`,
      `SELECT count("seq") FROM ${this.telemetry} WHERE ${id(COCKPIT_SIGNALS.charging)} = true AND ${where} GROUP BY "vin"`,
      `SELECT count("seq") FROM ${this.telemetry} WHERE (${id(COCKPIT_SIGNALS.mil)} = true OR ${id(COCKPIT_SIGNALS.dtc)} != '') AND ${where} GROUP BY "vin"`,
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
    return { series, totals: { ...totalOf(series), activeVehicles, distanceKm, chargingVehicles, faultVehicles } };
  }
}

/** InfluxQL aligns buckets to the epoch plus an offset: this makes `from` a bucket start. */
function timeGroup(window: Pick<CockpitWindow, 'from' | 'intervalMs'>, tags = ''): string {
  const offset = ((window.from % window.intervalMs) + window.intervalMs) % window.intervalMs;
  return `GROUP BY time(${window.intervalMs}ms, ${offset}ms)${tags} fill(none)`;
}

/** The sums' fields, in CockpitSums' order. */
const SUMS_FIELDS = ['samples', 'speed_sum', 'speed_count', 'soc_sum', 'soc_count', 'adas_count', 'adas2'] as const;

/**
 * The time (ns) of a write of something many writes of which lie at `start` (ms): start + (stamp - start) ns, so that a
 * later stamp is a later point and no two writes are the same point. Stamps are ms, and grow by at least one a write.
 */
export function stampedNs(start: number, stamp: number, spanMs: number): string {
  const offset = Math.min(Math.max(0, Math.trunc(stamp) - start), spanMs * 1_000_000 - 1);
  return (BigInt(start) * 1_000_000n + BigInt(offset)).toString();
}

/** The sums' fields on a point. */
function sumsPoint(point: Point, sums: CockpitSums): Point {
  return point
    .intField('samples', sums.samples)
    .floatField('speed_sum', sums.speedSum)
    .intField('speed_count', sums.speedCount)
    .floatField('soc_sum', sums.socSum)
    .intField('soc_count', sums.socCount)
    .intField('adas_count', sums.adasCount)
    .intField('adas2', sums.adas2Count);
}

function countsBySeriesTime(result: StatementResult | undefined): Map<string, number> {
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
 * Turn vehicle-minute keys into few InfluxQL ranges: live traffic has many vehicles in one or two minutes (one
 * range per minute), a late batch many minutes of one vehicle (one range per vehicle).
 */
export function planRanges(keys: readonly RollupKey[]): TimeRange[] {
  const byBucket = new Map<number, Set<string>>();
  for (const k of keys) {
    let vins = byBucket.get(k.bucket);
    if (!vins) byBucket.set(k.bucket, (vins = new Set()));
    vins.add(k.vin);
  }
  if (byBucket.size <= 8) {
    return [...byBucket].map(([bucket, vins]) => ({ lo: bucket, hi: bucket + MINUTE_MS, vins: vins.size > MAX_LISTED_VINS ? undefined : [...vins] }));
  }
  const byVin = new Map<string, { lo: number; hi: number }>();
  for (const k of keys) {
    const r = byVin.get(k.vin);
    if (!r) byVin.set(k.vin, { lo: k.bucket, hi: k.bucket + MINUTE_MS });
    else {
      r.lo = Math.min(r.lo, k.bucket);
      r.hi = Math.max(r.hi, k.bucket + MINUTE_MS);
    }
  }
  return [...byVin].map(([vin, r]) => ({ ...r, vins: [vin] }));
}

function vinFilter(vins: readonly string[] | undefined): string {
  if (!vins) return '';
  if (vins.length > MAX_LISTED_VINS) return '';
  // VINs are [A-HJ-NPR-Z0-9]: safe inside a regex; anything else is matched as an escaped literal
  if (vins.every((v) => VIN_PATTERN.test(v))) return ` AND "vin" =~ /^(${vins.join('|')})$/`;
  return ` AND (${vins.map((v) => tagIs('vin', v)).join(' OR ')})`;
}
