// The cockpit tables port: what the cockpit engine (services/cockpit) keeps in a store. The engine decides what
// goes in them (rollups, sealing, late data, window covers); a store only keeps and returns these rows, and
// recounts from its raw samples when the engine asks. Both backends implement it (duckdb/cockpit-tables.ts,
// influx/cockpit-tables.ts) and one suite (tests/store/cockpit-suite.ts) holds them to the same behaviour.
//
// Two tables of "parts", one of sealed sums and one of seal marks:
//   series  sums per (brand, model, minute): samples, speed, SoC and ADAS counts (what sums across vehicles);
//   sealed series  the same sums per (brand, model) over the pieces of a sealed segment (a 10-minute segment's two
//           5-minute halves, an hour, a day: SERIES_PIECE_MS), so that a week's question reads a row per model and
//           hour instead of one per model and minute;
//   facts   per-vehicle facts packed per (brand, model, segment) of a tier (minute, 10 minutes, hour, day): which
//           vehicles sent samples, their odometer range, whether they charged or reported a fault (what does not);
//   seals   which 10-minute, hour and day segments are complete, with a revision that changes when late data lands,
//           and the revision its sealed series sums are of (they may be used only while the two are equal).
// A segment may hold several parts (numbered from 0): the answer for a segment is the sum of its series parts and
// the merge of its facts parts, so late data is added as a new part without reading what is there. A facts part keeps
// the stamp of its last write, so that a reader can keep parts decoded and read only those written since (readFacts
// with `since`, factsPrints).

/** A (vehicle, minute). */
export interface RollupKey {
  vin: string;
  /** minute start, ms */
  bucket: number;
}

/**
 * The cockpit ingredients of one vehicle in one minute: what a recount from the raw samples gives, and what the
 * cockpit engine counts in memory for the same samples (services/cockpit).
 */
export interface RollupRow extends RollupKey {
  brand: string;
  model: string;
  samples: number;
  speedSum: number;
  speedCount: number;
  socSum: number;
  socCount: number;
  /** smallest and greatest odometer; absent when no sample of the bucket carries it */
  odoMin?: number;
  odoMax?: number;
  /** samples charging */
  charging: number;
  /** samples carrying the ADAS level, and those at SAE level 2 or more */
  adasCount: number;
  adas2: number;
  /** samples reporting a fault (MIL on or a DTC) */
  faults: number;
}

/** Which vehicles a cockpit question is about: all (optionally limited to some brands), a brand, or a model. */
export interface CockpitScope {
  /** tenant scope: only these brands (undefined = every brand) */
  brands?: readonly string[];
  brand?: string;
  model?: string;
}

export interface CockpitWindow extends CockpitScope {
  /** inclusive, ms */
  from: number;
  /** exclusive, ms */
  to: number;
  /** series bucket width (ms); series buckets start at from + k * intervalMs */
  intervalMs: number;
}

/** Mergeable sums of one series bucket (or of a whole window). */
export interface CockpitSums {
  samples: number;
  speedSum: number;
  speedCount: number;
  socSum: number;
  socCount: number;
  adasCount: number;
  /** samples with Vehicle.ADAS.ActiveAutonomyLevel >= 2 */
  adas2Count: number;
}

/** Per-vehicle facts over the whole window (what cannot be summed across vehicles). */
export interface CockpitVehicleTotals {
  /** vehicles with at least one sample in the window */
  activeVehicles: number;
  /** sum over vehicles of (greatest - smallest odometer) in the window */
  distanceKm: number;
  /** vehicles with at least one sample charging */
  chargingVehicles: number;
  /** vehicles with at least one sample reporting a fault (MIL on or a DTC) */
  faultVehicles: number;
}

export interface CockpitAggregates {
  series: Array<CockpitSums & { t: number }>;
  totals: CockpitSums & CockpitVehicleTotals;
}

/** Sums of nothing. */
export const EMPTY_SUMS: Readonly<CockpitSums> = { samples: 0, speedSum: 0, speedCount: 0, socSum: 0, socCount: 0, adasCount: 0, adas2Count: 0 };

/** Add `sums` into `into`, field by field. */
export function addCockpitSums(into: CockpitSums, sums: CockpitSums): void {
  into.samples += sums.samples;
  into.speedSum += sums.speedSum;
  into.speedCount += sums.speedCount;
  into.socSum += sums.socSum;
  into.socCount += sums.socCount;
  into.adasCount += sums.adasCount;
  into.adas2Count += sums.adas2Count;
}

/** The sums of a whole window: its buckets added up. */
export function totalOf(series: readonly CockpitSums[]): CockpitSums {
  const totals = { ...EMPTY_SUMS };
  for (const b of series) addCockpitSums(totals, b);
  return totals;
}

/** Segment starts (each `span` long) as few [lo, hi) ranges: adjacent ones merged, in time order, each start once. */
export function contiguousRanges(starts: readonly number[], span: number): Array<{ lo: number; hi: number }> {
  const ranges: Array<{ lo: number; hi: number }> = [];
  for (const start of [...new Set(starts)].sort((a, b) => a - b)) {
    const last = ranges[ranges.length - 1];
    if (last && last.hi === start) last.hi = start + span;
    else ranges.push({ lo: start, hi: start + span });
  }
  return ranges;
}

/** What a scope asks of the brand and model columns: each term one of some values; undefined when nothing can match. */
export function scopeTerms(scope: CockpitScope): Array<{ column: 'brand' | 'model'; anyOf: readonly string[] }> | undefined {
  if (scope.brands?.length === 0) return undefined;
  const terms: Array<{ column: 'brand' | 'model'; anyOf: readonly string[] }> = [];
  if (scope.brand !== undefined) terms.push({ column: 'brand', anyOf: [scope.brand] });
  if (scope.model !== undefined) terms.push({ column: 'model', anyOf: [scope.model] });
  if (scope.brands !== undefined) terms.push({ column: 'brand', anyOf: scope.brands });
  return terms;
}

export const MINUTE_MS = 60_000;

/** The segment spans per-vehicle facts are packed in, finest first; each divides the next. */
export const FACT_TIERS = ['minute', '10min', 'hour', 'day'] as const;
export type FactTier = (typeof FACT_TIERS)[number];
/** Tiers that are sealed (a mark says the segment is complete); minute segments are always as complete as written. */
export type SealedTier = Exclude<FactTier, 'minute'>;
export const SEALED_TIERS: readonly SealedTier[] = FACT_TIERS.filter((t): t is SealedTier => t !== 'minute');
export const TIER_SPAN_MS: Readonly<Record<FactTier, number>> = { minute: MINUTE_MS, '10min': 10 * MINUTE_MS, hour: 60 * MINUTE_MS, day: 24 * 60 * MINUTE_MS };

/**
 * The width of a sealed segment's series pieces: a 10-minute segment keeps two 5-minute halves (the cockpit's default
 * 24 h question has 5-minute buckets), an hour and a day one piece each.
 */
export const SERIES_PIECE_MS: Readonly<Record<SealedTier, number>> = { '10min': 5 * MINUTE_MS, hour: TIER_SPAN_MS.hour, day: TIER_SPAN_MS.day };

/** The sums of (brand, model) over one piece of a sealed segment (starting at `start`, SERIES_PIECE_MS wide). */
export interface SealedSums {
  tier: SealedTier;
  start: number;
  brand: string;
  model: string;
  sums: CockpitSums;
  /**
   * greater at every write of the piece's sums (ms, at least the piece start): the sums with the greatest are the
   * piece's (a store may keep every write rather than write a point again)
   */
  stamp: number;
}

/**
 * A series read: rows of the minute series in the `minute` ranges and sealed sums of the other tiers' ranges (of
 * piece starts), each added to the bucket from + k * intervalMs it starts in, in scope.
 */
export interface SeriesRead extends CockpitScope {
  from: number;
  intervalMs: number;
  ranges: readonly FactsRange[];
}

/** A bucket's sums; per (brand, model) when the read asked so. */
export type SeriesBucket = CockpitSums & { t: number; brand?: string; model?: string };

/** Part numbers live in the time of a row (segment start + part ms), so a part number stays below the tier's span. */
export const MAX_PART = MINUTE_MS - 1;

/** One part of the sums of (brand, model, minute). */
export interface SeriesPart {
  minute: number;
  brand: string;
  model: string;
  part: number;
  sums: CockpitSums;
}

/** One part of the packed per-vehicle facts of (brand, model, segment of a tier). */
export interface FactsPart {
  tier: FactTier;
  start: number;
  brand: string;
  model: string;
  part: number;
  /** the packed facts (services/cockpit/facts.ts); the store keeps it as it is, of any length */
  packed: string;
  /**
   * the write's stamp (services/cockpit/facts.ts nextStamp: ms since the epoch, greater at every write of a process),
   * kept with the part and returned by readFacts; 0 for a part written without one (or before stamps were kept)
   */
  stamp?: number;
}

/**
 * What the parts of one segment are, in short, for a reader that keeps them decoded: how many there are, and the sum
 * and the greatest of their stamps (0 for a part without one). A part added or written again changes them.
 */
export interface FactsPrint extends SegmentRef {
  parts: number;
  stampSum: number;
  stampMax: number;
}

/**
 * A sealed segment: complete since it was sealed; `rev` changes whenever a part is added to it or its finer segments,
 * and grows at every write of its mark (ms, at least the segment's start): the mark with the greatest is the segment's.
 */
export interface SealMark {
  tier: SealedTier;
  start: number;
  rev: number;
  /**
   * the revision its sealed series sums are of: they are current while it equals `rev`. Written only with the sums;
   * a mark written without it keeps the one stored (so a new revision makes the sums stale until summed again)
   */
  series?: number;
}

export interface SegmentRef {
  tier: FactTier;
  start: number;
  brand: string;
  model: string;
}

export const segmentKey = (s: SegmentRef): string => `${s.tier}\u0000${s.start}\u0000${s.brand}\u0000${s.model}`;

export interface FactsRange {
  tier: FactTier;
  /** segment starts in [lo, hi) */
  lo: number;
  hi: number;
}

/** A (brand, model) pair. */
export interface ModelRef {
  brand: string;
  model: string;
}

export interface CockpitTables {
  /**
   * Store parts (each overwrites the part of the same segment and number) and then the seal marks, so that a reader
   * that sees a mark finds the parts. Resolves once the store has durably accepted all of it.
   */
  write(batch: { series?: readonly SeriesPart[]; facts?: readonly FactsPart[]; sealedSeries?: readonly SealedSums[]; seals?: readonly SealMark[] }): Promise<void>;
  /**
   * The series sums per bucket (buckets start at from + k * intervalMs; empty ones omitted) of the read's ranges, in
   * scope; per (brand, model) with `byModel`.
   */
  seriesBuckets(read: SeriesRead, byModel?: boolean): Promise<SeriesBucket[]>;
  /** Every facts part of segments starting in the ranges, in scope; with `since`, only those stamped at or after it. */
  readFacts(ranges: readonly FactsRange[], scope: CockpitScope, since?: number): Promise<FactsPart[]>;
  /** The print of every segment starting in the ranges that has a facts part, in scope. */
  factsPrints(ranges: readonly FactsRange[], scope: CockpitScope): Promise<FactsPrint[]>;
  /** The seal marks of segments starting in [lo, hi), of these tiers when given (else of every sealed tier). */
  readSeals(lo: number, hi: number, tiers?: readonly SealedTier[]): Promise<SealMark[]>;
  /**
   * The greatest part number of each of these segments that has a part (facts, or series for a minute; keyed by
   * segmentKey); others are absent.
   */
  lastParts(segments: readonly SegmentRef[]): Promise<Map<string, number>>;
  /**
   * Per-(vehicle, minute) rows recounted from the raw samples of the minutes in [lo, hi) of each range, only of these
   * models when given, only of these VINs when given.
   */
  rowsFromRaw(ranges: ReadonlyArray<{ lo: number; hi: number; models?: readonly ModelRef[]; vins?: readonly string[] }>): Promise<RollupRow[]>;
  /** The (vehicle, minute) keys among these that hold at least one stored sample. */
  keysWithSamples(keys: readonly RollupKey[]): Promise<RollupKey[]>;
  /** The greatest sample time stored, or undefined for an empty store. */
  newestSample(): Promise<number | undefined>;
  /** A cockpit counted straight from the raw samples (any window; slow): the reference the rollups are held to. */
  fromRaw(window: CockpitWindow): Promise<CockpitAggregates>;
}

/** What a store write was about, for `vc_store_rows_written_total` / `vc_store_bytes_written_total`. */
export type WriteObserver = (table: string, rows: number, bytes: number) => void;
