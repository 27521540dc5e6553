// Cockpit questions answered from the cockpit tables: the series from the sealed sums of whole pieces of sealed
// segments where they are current and the (brand, model, minute) sums elsewhere (periods.ts planSeries), and the
// per-vehicle facts from the segments that cover the window (periods.ts planCover). Sealed segments do not change
// but by a new revision of their seal mark, so their decoded facts and their sealed sums (of every brand and model)
// are kept in one bounded cache: a dashboard that asks again, or slides its window, reads only what is not sealed yet.
// Segments not sealed yet are kept there too, per (brand, model), checked against their prints (how many parts, the sum
// and the greatest of their write stamps) at every question: one asked again while an upload lands reads the parts
// written since it last asked, not every part of the day again.
import { addCockpitSums, FACT_TIERS, MINUTE_MS, SEALED_TIERS, SERIES_PIECE_MS, TIER_SPAN_MS, totalOf, type CockpitTables, type FactsPart, type FactsPrint, type FactsRange, type FactTier, type SealedTier, type SealMark, segmentKey } from '../store/cockpit-tables.ts';
import type { CockpitAggregates, CockpitScope, CockpitSums, CockpitWindow } from '../store/telemetry-store.ts';
import { EMPTY_SUMS, groupKey } from './book.ts';
import { BASE_MARK, currentParts, decodedBytes, decodeFacts, FactsMerge, partsBySegment, VinNumbers, type DecodedFacts } from './facts.ts';
import { appendRange, planCover, planSeries, startOf } from './periods.ts';

/** A series plan of more ranges than this reads the window's minutes instead. */
export const MAX_SERIES_RANGES = 16;

/**
 * Default bound of what a reader keeps (MiB, VC_COCKPIT_CACHE_MB). Sealed segments need little (a week of 2,000
 * vehicles' days: under 1 MiB); minutes not sealed yet need 21 bytes per vehicle-minute and 24 per part: a fleet's week
 * of history landing (2,000 vehicles, 9.2 M samples, 47,340 segments of about 42 parts each) 185 MiB once stored. A bound
 * below what a question reads keeps none of it for the next (each one's reads push out the last one's): with 64 MiB, the
 * fleet question over that week took 41-42 s after everything was stored, 7.3 s with it all kept.
 */
export const DEFAULT_CACHE_MB = 256;

export interface CockpitReaderOptions {
  /** bound of the decoded segments kept (bytes); default DEFAULT_CACHE_MB */
  cacheBytes?: number;
  /**
   * up to this many segments not sealed yet, a question reads their parts at once rather than their prints first
   * (default 60: the last minutes of a live fleet's window cost one statement, not two in turn)
   */
  directOpenSegments?: number;
}

/** A segment's decoded facts of every (brand, model), as of a seal revision. */
interface CachedSegment {
  rev: number;
  models: Map<string, { brand: string; model: string; facts: DecodedFacts }>;
  bytes: number;
}

/** A sealed segment's sums per piece, of every (brand, model) and in all, as of the mark's `series` revision. */
interface CachedSums {
  rev: number;
  pieces: Array<{ start: number; total: CockpitSums; models: Array<{ brand: string; model: string; sums: CockpitSums }> }>;
  bytes: number;
}

/**
 * A segment not sealed (a minute of 10 minutes not sealed yet), of one (brand, model): its facts decoded, and which
 * parts they are of (part -> stamp), so that a question that finds the segment's print unchanged reads nothing of it,
 * and one that finds parts added reads only those. Sealed segments are kept by their mark's revision instead.
 */
interface OpenSegment {
  rev?: undefined;
  parts: Map<number, number>;
  /** the greatest stamp of the parts */
  stampMax: number;
  /**
   * the greatest stamp of any segment's print when this one was last found as kept or read: a part added to it since
   * is stamped after that (or, written while that question was asked, makes it read whole)
   */
  seen: number;
  /** decoded facts of the parts, one set per read that added some (merged into one now and then) */
  pieces: DecodedFacts[];
  bytes: number;
}

/** More decoded sets than this in an open segment are merged into one. */
const MAX_OPEN_PIECES = 4;
/** A read of open segments in more ranges than this reads the span around them (a statement per range on InfluxDB). */
const MAX_OPEN_RANGES = 16;

/** Segments as ranges to read: per tier, finest first, adjacent segments merged. */
function segmentRanges(segments: ReadonlyArray<{ tier: FactTier; start: number }>): FactsRange[] {
  const ranges: FactsRange[] = [];
  for (const m of [...segments].sort((a, b) => FACT_TIERS.indexOf(a.tier) - FACT_TIERS.indexOf(b.tier) || a.start - b.start)) appendRange(ranges, m.tier, m.start, m.start + TIER_SPAN_MS[m.tier]);
  return ranges;
}

/** Windows on whole minutes can be answered from the cockpit tables; any other from the raw samples. */
export function rollupAligned(window: Pick<CockpitWindow, 'from' | 'to' | 'intervalMs'>): boolean {
  return window.from % MINUTE_MS === 0 && window.to % MINUTE_MS === 0 && window.intervalMs % MINUTE_MS === 0;
}

function inScope(scope: CockpitScope, brand: string, model: string): boolean {
  if (scope.brand !== undefined && brand !== scope.brand) return false;
  if (scope.model !== undefined && model !== scope.model) return false;
  if (scope.brands !== undefined && !scope.brands.includes(brand)) return false;
  return true;
}

export class CockpitReader {
  private readonly numbers = new VinNumbers();
  private readonly merge = new FactsMerge();
  /**
   * `facts:${tier}:${start}` -> decoded facts, `sums:${tier}:${start}` -> sealed sums, `open:${segmentKey}` -> a segment
   * not sealed; least recently used first
   */
  private readonly cache = new Map<string, CachedSegment | CachedSums | OpenSegment>();
  private cachedBytes = 0;
  private readonly cacheBytes: number;
  private readonly directOpenSegments: number;
  /**
   * questions answered, facts segments read from the store or the cache, the series asked for in minutes and in
   * sealed pieces per (brand, model), and the segments whose sealed sums were read from the store or the cache (for
   * tests and metrics)
   */
  readonly counts = { questions: 0, segmentsRead: 0, segmentsCached: 0, openParts: 0, openCached: 0, seriesRows: { minutes: 0, sealed: 0 }, sumsRead: 0, sumsCached: 0 };

  constructor(
    private readonly tables: CockpitTables,
    options: CockpitReaderOptions = {},
  ) {
    this.cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_MB * 1024 ** 2;
    this.directOpenSegments = options.directOpenSegments ?? 60;
  }

  /** Cockpit sums and per-vehicle totals of a window: from the cockpit tables (`rollup`, whole minutes only) or raw samples. */
  async aggregates(window: CockpitWindow, source: 'rollup' | 'raw'): Promise<CockpitAggregates> {
    if (window.brands !== undefined && window.brands.length === 0) return { series: [], totals: { ...EMPTY_SUMS, activeVehicles: 0, distanceKm: 0, chargingVehicles: 0, faultVehicles: 0 } };
    if (source === 'raw') return this.tables.fromRaw(window);
    if (!rollupAligned(window)) throw new RangeError('a rollup question needs from, to and interval on whole minutes');
    this.counts.questions += 1;
    const marks = await this.marks(window);
    const [series, vehicles] = await Promise.all([this.series(window, marks), this.vehicleTotals(window, marks)]);
    return { series, totals: { ...totalOf(series), ...vehicles } };
  }

  /**
   * The seal marks the question's plans can use, from the start of the first 10 minutes touched (a minute's segment is
   * cached under its sealed 10 minutes, and the second half of those 10 minutes may be in the window). Over more than
   * two days in buckets of whole hours the 10-minute marks are read only where the day and hour marks leave the plans
   * in minutes: the last two hours at once, other places in a second read. A week holds 1,008 of them, and influxd
   * took 17-28 ms to read them with the rest against 4-6 ms for its hours and days and its last two hours' 10 minutes
   * (measured apart, 2,366 marks).
   */
  private async marks(window: CockpitWindow): Promise<SealMark[]> {
    const lo = startOf('10min', window.from);
    const hi = window.to;
    const hour = TIER_SPAN_MS.hour;
    if (hi - lo <= 2 * TIER_SPAN_MS.day || window.from % hour !== 0 || window.intervalMs % hour !== 0) return this.tables.readSeals(lo, hi);
    const recent = Math.max(lo, startOf('hour', hi) - hour);
    const [coarse, tens] = await Promise.all([this.tables.readSeals(lo, hi, ['hour', 'day']), this.tables.readSeals(recent, hi, ['10min'])]);
    const marks = [...coarse, ...tens];
    // before `recent` a 10-minute segment is not known sealed: where the plans fall to minutes there, its mark may count
    const known = new Map<string, SealMark>(marks.map((m) => [`${m.tier}:${m.start}`, m]));
    const cover = planCover(window.from, window.to, (tier, start) => known.has(`${tier}:${start}`));
    const series = planSeries(window.from, window.to, window.intervalMs, (tier, start) => {
      const m = known.get(`${tier}:${start}`);
      return m !== undefined && m.series === m.rev;
    });
    const wanted: FactsRange[] = [];
    for (const r of [...cover, ...series].filter((x) => x.tier === 'minute' && x.lo < recent).sort((a, b) => a.lo - b.lo)) {
      const from = startOf('10min', r.lo);
      const to = Math.min(recent, r.hi);
      const last = wanted[wanted.length - 1];
      if (last && from <= last.hi) last.hi = Math.max(last.hi, to);
      else wanted.push({ tier: '10min', lo: from, hi: to });
    }
    if (wanted.length === 0) return marks;
    // a few places read apart, more (a week not sealed yet) in one read from the first to the last
    const reads = wanted.length <= 4 ? wanted : [{ tier: '10min' as const, lo: wanted[0]!.lo, hi: wanted[wanted.length - 1]!.hi }];
    for (const more of await Promise.all(reads.map((r) => this.tables.readSeals(r.lo, r.hi, ['10min'])))) marks.push(...more);
    return marks;
  }

  /**
   * The series: sealed sums of the segments whose sums are current (from the cache, or read for every brand and model
   * and kept), minute sums elsewhere (periods.ts planSeries).
   */
  private async series(window: CockpitWindow, marks: readonly SealMark[]): Promise<Array<CockpitSums & { t: number }>> {
    const current = new Map<string, number>();
    for (const m of marks) if (m.series === m.rev) current.set(`${m.tier}:${m.start}`, m.rev);
    const plan = planSeries(window.from, window.to, window.intervalMs, (tier, start) => current.has(`${tier}:${start}`));
    // buckets not on 5 minutes (a window sliding by the minute) cut the pieces into a range per bucket edge: InfluxDB
    // pays ~12 ms a statement (a week in hours from :02 is 337 of them, 4 s); one read of the minutes costs less
    if (plan.length > MAX_SERIES_RANGES) {
      this.counts.seriesRows.minutes += (window.to - window.from) / MINUTE_MS;
      return this.tables.seriesBuckets({ ...window, ranges: [{ tier: 'minute', lo: window.from, hi: window.to }] });
    }
    const minutes: FactsRange[] = [];
    const segments = new Map<string, { tier: SealedTier; start: number; rev: number; key: string; sums?: CachedSums }>();
    // the part [lo, hi) of a segment the plan uses
    const uses: Array<{ segment: { sums?: CachedSums }; lo: number; hi: number }> = [];
    for (const r of plan) {
      if (r.tier === 'minute') {
        minutes.push(r);
        this.counts.seriesRows.minutes += (r.hi - r.lo) / MINUTE_MS;
        continue;
      }
      this.counts.seriesRows.sealed += (r.hi - r.lo) / SERIES_PIECE_MS[r.tier];
      const span = TIER_SPAN_MS[r.tier];
      for (let start = startOf(r.tier, r.lo); start < r.hi; start += span) {
        const key = `${r.tier}:${start}`;
        let segment = segments.get(key);
        if (!segment) segments.set(key, (segment = { tier: r.tier, start, rev: current.get(key)!, key }));
        uses.push({ segment, lo: Math.max(r.lo, start), hi: Math.min(r.hi, start + span) });
      }
    }
    const missing: Array<{ tier: SealedTier; start: number; rev: number; key: string }> = [];
    for (const s of segments.values()) {
      const hit = this.recall<CachedSums>(`sums:${s.key}`, s.rev);
      if (hit) {
        s.sums = hit;
        this.counts.sumsCached += 1;
      } else missing.push(s);
    }
    const [fromMinutes, loaded] = await Promise.all([minutes.length > 0 ? this.tables.seriesBuckets({ ...window, ranges: minutes }) : Promise.resolve([]), this.loadSums(missing)]);
    for (const m of missing) segments.get(m.key)!.sums = loaded.get(m.key)!;
    // every bucket's sums: the minutes' as read, then each sealed piece of the plan added to the bucket it starts in
    // (a whole week of 10-minute segments is 30,000 (piece, model) sums: the fleet adds each piece's total instead)
    const everyModel = window.brand === undefined && window.model === undefined && window.brands === undefined;
    const buckets = new Map<number, CockpitSums & { t: number }>();
    for (const { brand: _b, model: _m, ...b } of fromMinutes) buckets.set(b.t, b);
    let bucket: (CockpitSums & { t: number }) | undefined;
    for (const { segment, lo, hi } of uses) {
      for (const piece of segment.sums!.pieces) {
        if (piece.start < lo || piece.start >= hi) continue;
        const t = window.from + Math.floor((piece.start - window.from) / window.intervalMs) * window.intervalMs;
        if (bucket?.t !== t) {
          bucket = buckets.get(t);
          if (!bucket) buckets.set(t, (bucket = { t, ...EMPTY_SUMS }));
        }
        if (everyModel) addCockpitSums(bucket, piece.total);
        else for (const m of piece.models) if (inScope(window, m.brand, m.model)) addCockpitSums(bucket, m.sums);
      }
    }
    return [...buckets.values()].filter((b) => b.samples > 0).sort((a, b) => a.t - b.t);
  }

  /** Read the sealed sums of segments, every (brand, model) of each piece, and keep them. */
  private async loadSums(missing: ReadonlyArray<{ tier: SealedTier; start: number; rev: number; key: string }>): Promise<Map<string, CachedSums>> {
    const out = new Map<string, CachedSums>();
    if (missing.length === 0) return out;
    this.counts.sumsRead += missing.length;
    // one bucket per piece (every piece starts on a minute); the segments of one question do not overlap in time
    const buckets = await this.tables.seriesBuckets({ from: 0, intervalMs: MINUTE_MS, ranges: segmentRanges(missing) }, true);
    for (const m of missing) out.set(m.key, { rev: m.rev, pieces: [], bytes: 64 });
    const pieces = new Map<number, CachedSums['pieces'][number]>();
    for (const { t, brand = '', model = '', ...sums } of buckets) {
      const segment = SEALED_TIERS.map((tier) => out.get(`${tier}:${startOf(tier, t)}`)).find((x) => x !== undefined);
      if (!segment) continue;
      let piece = pieces.get(t);
      if (!piece) {
        segment.pieces.push((piece = { start: t, total: { ...EMPTY_SUMS }, models: [] }));
        pieces.set(t, piece);
        segment.bytes += 160;
      }
      addCockpitSums(piece.total, sums);
      piece.models.push({ brand, model, sums });
      segment.bytes += 160 + 2 * (brand.length + model.length);
    }
    for (const [key, segment] of out) this.remember(`sums:${key}`, segment);
    return out;
  }

  private async vehicleTotals(window: CockpitWindow, marks: readonly SealMark[]): Promise<ReturnType<FactsMerge['totals']>> {
    const rev = new Map<string, number>(marks.map((m) => [`${m.tier}:${m.start}`, m.rev]));
    // asked once per segment of every tier over the window (millions for a window of years): no string keys here
    const sealedStarts = new Map<string, Set<number>>();
    for (const m of marks) (sealedStarts.get(m.tier) ?? sealedStarts.set(m.tier, new Set()).get(m.tier)!).add(m.start);
    const cover = planCover(window.from, window.to, (tier, start) => sealedStarts.get(tier)?.has(start) === true);
    // a segment is cached when it is sealed, or is a minute of a sealed 10 minutes; the rest is read for this question
    const cached: Array<{ key: string; segment: CachedSegment }> = [];
    const missing: Array<{ tier: FactTier; start: number; key: string; rev: number }> = [];
    const uncached: FactsRange[] = [];
    // sealed 10 minutes in order: a stretch of minutes with none is read as one range, not visited minute by minute
    // (a window from 1970 is 29 million minutes: 30 s of a blocked event loop)
    const sealedTens = marks.filter((m) => m.tier === '10min').map((m) => m.start).sort((x, y) => x - y);
    const nextSealedTen = (after: number): number => {
      let lo = 0;
      let hi = sealedTens.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sealedTens[mid]! < after) lo = mid + 1;
        else hi = mid;
      }
      return sealedTens[lo] ?? Number.POSITIVE_INFINITY;
    };
    for (const range of cover) {
      const span = TIER_SPAN_MS[range.tier];
      for (let start = range.lo; start < range.hi; start += span) {
        const key = `${range.tier}:${start}`;
        const sealedRev = range.tier === 'minute' ? rev.get(`10min:${startOf('10min', start)}`) : rev.get(key);
        if (sealedRev === undefined) {
          const end = range.tier === 'minute' ? Math.min(range.hi, nextSealedTen(start)) : start + span;
          appendRange(uncached, range.tier, start, end);
          start = end - span;
          continue;
        }
        const hit = this.recall<CachedSegment>(`facts:${key}`, sealedRev);
        if (hit) {
          cached.push({ key, segment: hit });
          this.counts.segmentsCached += 1;
        } else missing.push({ tier: range.tier, start, key, rev: sealedRev });
      }
    }
    const openSegments = uncached.reduce((n, r) => n + (r.hi - r.lo) / TIER_SPAN_MS[r.tier], 0);
    const [fresh, open] = await Promise.all([
      this.load(missing),
      uncached.length === 0 ? Promise.resolve([]) : openSegments <= this.directOpenSegments ? this.readOpen(uncached, window) : this.openFacts(uncached, window),
    ]);
    this.counts.segmentsRead += missing.length;
    // sized after decoding, which numbers the vehicles seen for the first time
    this.merge.reset(this.numbers.size);
    for (const { segment } of [...cached, ...fresh]) {
      for (const m of segment.models.values()) if (inScope(window, m.brand, m.model)) this.merge.add(m.facts);
    }
    for (const facts of open) this.merge.add(facts);
    return this.merge.totals();
  }

  /** The decoded facts of the segments not sealed in these ranges, in scope, read whole and not kept. */
  private async readOpen(ranges: readonly FactsRange[], scope: CockpitScope): Promise<DecodedFacts[]> {
    const parts = await this.tables.readFacts(ranges, scope);
    this.counts.openParts += parts.length;
    return [...decodeParts(parts, this.numbers).values()].map((m) => m.facts);
  }

  /**
   * The decoded facts of the segments not sealed in these ranges, in scope. Their prints say which kept segments are
   * as they were (nothing read), which have parts added (only parts stamped since the segment's last stamp are read)
   * and which are new, or were written again (read whole). While an upload lands in minutes not sealed yet, a
   * dashboard's question then reads what was added since it last asked, not every part of the day again.
   */
  private async openFacts(ranges: readonly FactsRange[], scope: CockpitScope): Promise<DecodedFacts[]> {
    const prints = await this.tables.factsPrints(ranges, scope);
    const out: DecodedFacts[] = [];
    const added: Array<{ print: FactsPrint; key: string; kept: OpenSegment }> = [];
    const matched: Array<{ print: FactsPrint; key: string; kept: OpenSegment }> = [];
    const whole: Array<{ print: FactsPrint; key: string }> = [];
    let seen = 0;
    for (const print of prints) seen = Math.max(seen, print.stampMax);
    for (const print of prints) {
      const key = `open:${segmentKey(print)}`;
      const kept = this.cache.get(key) as OpenSegment | undefined;
      if (kept && matches(kept, print)) {
        // it had no part stamped after its own greatest and up to `seen` when the prints were read
        kept.seen = Math.max(kept.seen, seen);
        this.touch(key, kept);
        matched.push({ print, key, kept });
        out.push(...kept.pieces);
        this.counts.openCached += 1;
      } else if (kept && print.stampMax > kept.stampMax) added.push({ print, key, kept });
      else whole.push({ print, key });
    }
    // parts added to kept segments: those stamped after the prints each one was last seen in (a part stamped earlier,
    // or one written again, makes its segment read whole below); a dashboard that asks every few seconds reads what was
    // written since it last asked
    const since = Math.min(...added.map((a) => a.kept.seen + 1));
    const [newer, read] = await Promise.all([
      added.length > 0 ? this.tables.readFacts(openRanges(added.map((a) => a.print)), scope, since) : Promise.resolve([]),
      this.readWhole(whole, scope, seen),
    ]);
    this.counts.openParts += newer.length;
    const bySegment = partsBySegment(newer);
    const again: Array<{ print: FactsPrint; key: string }> = [];
    for (const a of added) {
      const segment = this.extended(a.kept, bySegment.get(segmentKey(a.print)) ?? [], seen);
      if (!segment || !matches(segment, a.print)) {
        again.push(a);
        continue;
      }
      this.keepOpen(a.key, segment);
      out.push(...segment.pieces);
    }
    // parts written to segments found as kept while this question was asked (the read since a stamp holds them): kept
    // for the next question, which finds them in its prints
    for (const m of matched) {
      const parts = bySegment.get(segmentKey(m.print));
      if (!parts) continue;
      const segment = this.extended(m.kept, parts, seen);
      if (segment && segment.parts.size > m.kept.parts.size) this.keepOpen(m.key, segment);
    }
    for (const segment of [...read, ...(await this.readWhole(again, scope, seen))]) out.push(...segment.pieces);
    return out;
  }

  /**
   * A kept open segment with parts read since (those it holds left out), or undefined when they cannot be added to it:
   * a part written again, numbered below one kept, or a base (its segment is then read whole).
   */
  private extended(kept: OpenSegment, read: readonly FactsPart[], seen: number): OpenSegment | undefined {
    const parts = read.filter((p) => kept.parts.get(p.part) !== p.stamp);
    const above = Math.max(-1, ...kept.parts.keys());
    if (!parts.every((p) => p.part > above && !p.packed.startsWith(BASE_MARK))) return undefined;
    const segment: OpenSegment = { ...kept, parts: new Map(kept.parts), pieces: [...kept.pieces] };
    for (const p of parts) segment.parts.set(p.part, p.stamp ?? 0);
    segment.stampMax = Math.max(segment.stampMax, ...parts.map((p) => p.stamp ?? 0));
    segment.seen = Math.max(seen, segment.stampMax);
    const list = parts.map((p) => p.packed).filter((x) => x !== '');
    if (list.length > 0) segment.pieces.push(decodeFacts(list, this.numbers));
    if (segment.pieces.length > MAX_OPEN_PIECES) segment.pieces = [this.merge.merged(segment.pieces, this.numbers.size)];
    return segment;
  }

  /** Read open segments whole and keep them (as read: a part written since their print is in), seen in prints up to `seen`. */
  private async readWhole(segments: ReadonlyArray<{ print: FactsPrint; key: string }>, scope: CockpitScope, seen: number): Promise<OpenSegment[]> {
    if (segments.length === 0) return [];
    const parts = await this.tables.readFacts(openRanges(segments.map((s) => s.print)), scope);
    this.counts.openParts += parts.length;
    const bySegment = partsBySegment(parts);
    const out: OpenSegment[] = [];
    for (const { print, key } of segments) {
      const all = bySegment.get(segmentKey(print)) ?? [];
      const list = currentParts(all).map((p) => p.packed).filter((x) => x !== '');
      const stampMax = Math.max(0, ...all.map((p) => p.stamp ?? 0));
      const segment: OpenSegment = {
        parts: new Map(all.map((p) => [p.part, p.stamp ?? 0])),
        stampMax,
        seen: Math.max(seen, stampMax),
        pieces: list.length > 0 ? [decodeFacts(list, this.numbers)] : [],
        bytes: 0,
      };
      this.keepOpen(key, segment);
      out.push(segment);
    }
    return out;
  }

  private keepOpen(key: string, segment: OpenSegment): void {
    segment.bytes = 96 + 24 * segment.parts.size + segment.pieces.reduce((n, f) => n + decodedBytes(f), 0);
    this.remember(key, segment);
  }

  /** A kept entry, now the most recently used. */
  private touch(key: string, entry: CachedSegment | CachedSums | OpenSegment): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
  }

  /** Read sealed segments of every (brand, model) and keep them. */
  private async load(missing: ReadonlyArray<{ tier: FactTier; start: number; key: string; rev: number }>): Promise<Array<{ key: string; segment: CachedSegment }>> {
    if (missing.length === 0) return [];
    const parts = await this.tables.readFacts(segmentRanges(missing), {});
    const bySegment = new Map<string, FactsPart[]>();
    for (const p of parts) {
      const key = `${p.tier}:${p.start}`;
      let list = bySegment.get(key);
      if (!list) bySegment.set(key, (list = []));
      list.push(p);
    }
    const out: Array<{ key: string; segment: CachedSegment }> = [];
    for (const m of missing) {
      const models = decodeParts(bySegment.get(m.key) ?? [], this.numbers);
      let bytes = 64;
      for (const x of models.values()) bytes += decodedBytes(x.facts);
      const segment: CachedSegment = { rev: m.rev, models, bytes };
      this.remember(`facts:${m.key}`, segment);
      out.push({ key: m.key, segment });
    }
    return out;
  }

  /** A kept segment of this revision, now the most recently used. */
  private recall<T extends CachedSegment | CachedSums>(key: string, rev: number): T | undefined {
    const hit = this.cache.get(key);
    if (!hit || hit.rev !== rev) return undefined;
    this.touch(key, hit);
    return hit as T;
  }

  private remember(key: string, segment: CachedSegment | CachedSums | OpenSegment): void {
    const old = this.cache.get(key);
    if (old) {
      this.cachedBytes -= old.bytes;
      this.cache.delete(key);
    }
    if (segment.bytes > this.cacheBytes) return;
    this.cache.set(key, segment);
    this.cachedBytes += segment.bytes;
    for (const [k, s] of this.cache) {
      if (this.cachedBytes <= this.cacheBytes) break;
      this.cache.delete(k);
      this.cachedBytes -= s.bytes;
    }
  }
}

/** True when a kept open segment holds what a print says (its parts stamped after the print's greatest left out). */
function matches(kept: OpenSegment, print: FactsPrint): boolean {
  let parts = 0;
  let sum = 0;
  for (const stamp of kept.parts.values()) {
    if (stamp > print.stampMax) continue;
    parts += 1;
    sum += stamp;
  }
  return parts === print.parts && sum === print.stampSum;
}

/** The ranges to read some segments in: adjacent ones merged, and the span around them when they are many. */
function openRanges(segments: ReadonlyArray<{ tier: FactTier; start: number }>): FactsRange[] {
  const ranges = segmentRanges(segments);
  if (ranges.length <= MAX_OPEN_RANGES) return ranges;
  const envelope: FactsRange[] = [];
  for (const tier of FACT_TIERS) {
    const of = ranges.filter((r) => r.tier === tier);
    if (of.length > 0) envelope.push({ tier, lo: Math.min(...of.map((r) => r.lo)), hi: Math.max(...of.map((r) => r.hi)) });
  }
  return envelope;
}

/** Parts of one or more segments decoded per (brand, model). */
function decodeParts(parts: readonly FactsPart[], numbers: VinNumbers): Map<string, { brand: string; model: string; facts: DecodedFacts }> {
  const packed = new Map<string, { brand: string; model: string; list: string[] }>();
  for (const p of currentParts(parts)) {
    if (p.packed === '') continue;
    const key = groupKey(p.brand, p.model);
    let entry = packed.get(key);
    if (!entry) packed.set(key, (entry = { brand: p.brand, model: p.model, list: [] }));
    entry.list.push(p.packed);
  }
  const out = new Map<string, { brand: string; model: string; facts: DecodedFacts }>();
  for (const [key, { brand, model, list }] of packed) out.set(key, { brand, model, facts: decodeFacts(list, numbers) });
  return out;
}

export type { SealedTier };
