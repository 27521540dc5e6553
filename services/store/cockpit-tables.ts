// The cockpit tables port: what the cockpit engine (services/cockpit) keeps in a store. The engine decides what
// goes in them (rollups, sealing, late data, window covers); a store only keeps and returns these rows, and
// recounts from its raw samples when the engine asks. Both stores implement it (embedded-cockpit.ts, influx-cockpit.ts)
// and one suite (tests/store/cockpit-tables-suite.ts) holds them to the same behaviour.
//
// Two tables of "parts" and one of seal marks:
//   series  sums per (brand, model, minute): samples, speed, SoC and ADAS counts (what sums across vehicles);
//   facts   per-vehicle facts packed per (brand, model, segment) of a tier (minute, 10 minutes, hour, day): which
//           vehicles sent samples, their odometer range, whether they charged or reported a fault (what does not);
//   seals   which 10-minute, hour and day segments are complete, with a revision that changes when late data lands.
// A segment may hold several parts (numbered from 0): the answer for a segment is the sum of its series parts and
// the merge of its facts parts, so late data is added as a new part without reading what is there.
import type { CockpitAggregates, CockpitScope, CockpitSums, CockpitWindow, RollupKey, RollupRow } from './telemetry-store.ts';

export const MINUTE_MS = 60_000;

/** The segment spans per-vehicle facts are packed in, finest first; each divides the next. */
export const FACT_TIERS = ['minute', '10min', 'hour', 'day'] as const;
export type FactTier = (typeof FACT_TIERS)[number];
/** Tiers that are sealed (a mark says the segment is complete); minute segments are always as complete as written. */
export type SealedTier = Exclude<FactTier, 'minute'>;
export const TIER_SPAN_MS: Readonly<Record<FactTier, number>> = { minute: MINUTE_MS, '10min': 10 * MINUTE_MS, hour: 60 * MINUTE_MS, day: 24 * 60 * MINUTE_MS };

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
}

/** A sealed segment: complete since it was sealed; `rev` changes whenever a part is added to it or its finer segments. */
export interface SealMark {
  tier: SealedTier;
  start: number;
  rev: number;
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
  write(batch: { series?: readonly SeriesPart[]; facts?: readonly FactsPart[]; seals?: readonly SealMark[] }): Promise<void>;
  /** The series sums per bucket of the window (buckets start at from + k * intervalMs, empty ones omitted), in scope. */
  seriesBuckets(window: CockpitWindow): Promise<Array<CockpitSums & { t: number }>>;
  /** Every facts part of segments starting in the ranges, in scope. */
  readFacts(ranges: readonly FactsRange[], scope: CockpitScope): Promise<FactsPart[]>;
  /** The seal marks of segments starting in [lo, hi). */
  readSeals(lo: number, hi: number): Promise<SealMark[]>;
  /** The greatest part number of each of these segments that has a facts part (keyed by segmentKey); others are absent. */
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
