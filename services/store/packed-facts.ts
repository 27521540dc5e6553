// Per-vehicle facts packed per (brand, model, time segment), for the InfluxDB store. InfluxDB 1.x pays for every
// series a query reads, and a series per vehicle made a brand question read hundreds of them. Here a segment's
// facts of all vehicles of one model are one string field of one point, so a question reads a few points per model
// however many vehicles there are. Segments come in spans that divide each other (TIER_SPANS_MS): minutes, 5-minute
// blocks, quarter hours, and whole hours in powers of two up to 128 h. A window is covered by the largest complete
// segments that fit in it (planCover), so a 24 h window reads about 15 points per model instead of 1,440 minutes.
//
// A packed string is `entry;entry;...`, each entry `vin,odoMin,odoMax,flags` (odometer empty when unknown; flags:
// 1 charging, 2 fault). Numbers are written with String(), which round-trips a double exactly. A VIN that is not a
// plain ISO 3779 VIN is percent-encoded, so `,` `;` `"` and `\` never appear raw.
import { VIN_PATTERN } from '../contract/telemetry.ts';
import { ROLLUP_BUCKET_MS } from './telemetry-store.ts';

/** Segment spans, each a multiple of the one before: 1 min, 5 min, 15 min, then 1 h to 128 h in powers of two. */
export const TIER_SPANS_MS: readonly number[] = [ROLLUP_BUCKET_MS, 5 * ROLLUP_BUCKET_MS, 15 * ROLLUP_BUCKET_MS, ...Array.from({ length: 8 }, (_, k) => 2 ** k * 3_600_000)];
/** The span sealing is judged on (markers are kept per block of this span); every larger segment is made of them. */
export const BLOCK_MS = TIER_SPANS_MS[1]!;
/** At most this many vehicles per packed point (a point of a huge model is split into parts, tag `part`). */
export const VEHICLES_PER_PART = 1000;

export const tierName = (span: number): string => (span < 3_600_000 ? `${span / 60_000}m` : `${span / 3_600_000}h`);

export interface VehicleFacts {
  odoMin?: number;
  odoMax?: number;
  charging: boolean;
  faults: boolean;
}

/** Add one vehicle's facts into a map of them (min/max of the odometer, any charging, any fault). */
export function mergeFacts(into: Map<string, VehicleFacts>, vin: string, facts: VehicleFacts): void {
  const have = into.get(vin);
  if (!have) {
    into.set(vin, { ...facts });
    return;
  }
  if (facts.odoMin !== undefined) have.odoMin = have.odoMin === undefined ? facts.odoMin : Math.min(have.odoMin, facts.odoMin);
  if (facts.odoMax !== undefined) have.odoMax = have.odoMax === undefined ? facts.odoMax : Math.max(have.odoMax, facts.odoMax);
  have.charging ||= facts.charging;
  have.faults ||= facts.faults;
}

const vinText = (vin: string): string => (VIN_PATTERN.test(vin) ? vin : encodeURIComponent(vin));

/** The packed strings of some vehicles' facts, one per part, vehicles in VIN order. */
export function packFacts(facts: ReadonlyMap<string, VehicleFacts>): string[] {
  const vins = [...facts.keys()].sort();
  const parts: string[] = [];
  for (let i = 0; i < vins.length; i += VEHICLES_PER_PART) {
    parts.push(
      vins
        .slice(i, i + VEHICLES_PER_PART)
        .map((vin) => {
          const f = facts.get(vin)!;
          return `${vinText(vin)},${f.odoMin ?? ''},${f.odoMax ?? ''},${(f.charging ? 1 : 0) | (f.faults ? 2 : 0)}`;
        })
        .join(';'),
    );
  }
  return parts;
}

/** Merge a packed string into a map of facts. Malformed entries (not written by packFacts) are skipped. */
export function unpackFacts(packed: string, into: Map<string, VehicleFacts>): void {
  if (packed === '') return;
  for (const entry of packed.split(';')) {
    const [rawVin, lo, hi, flags] = entry.split(',');
    if (rawVin === undefined || flags === undefined) continue;
    let vin = rawVin;
    if (rawVin.includes('%')) {
      try {
        vin = decodeURIComponent(rawVin);
      } catch {
        continue;
      }
    }
    const bits = Number(flags);
    const facts: VehicleFacts = { charging: (bits & 1) !== 0, faults: (bits & 2) !== 0 };
    if (lo !== undefined && lo !== '') facts.odoMin = Number(lo);
    if (hi !== undefined && hi !== '') facts.odoMax = Number(hi);
    mergeFacts(into, vin, facts);
  }
}

export interface CoverPart {
  /** index into TIER_SPANS_MS */
  tier: number;
  lo: number;
  hi: number;
}

/**
 * The segments that cover [from, to): the largest complete segments that fit, smaller ones at the edges, down to
 * minutes. `complete(tier, start)` says whether a segment (tier >= 1) has been derived; minutes always are. Adjacent
 * parts of one tier are merged into one range (one query statement each).
 */
export function planCover(from: number, to: number, complete: (tier: number, start: number) => boolean): CoverPart[] {
  const parts: CoverPart[] = [];
  const push = (tier: number, lo: number, hi: number): void => {
    if (lo >= hi) return;
    const last = parts[parts.length - 1];
    if (last && last.tier === tier && last.hi === lo) last.hi = hi;
    else parts.push({ tier, lo, hi });
  };
  const cover = (lo: number, hi: number, tier: number): void => {
    if (lo >= hi) return;
    if (tier === 0) return push(0, lo, hi);
    const span = TIER_SPANS_MS[tier]!;
    let at = lo;
    for (let start = Math.ceil(lo / span) * span; start + span <= hi; start += span) {
      if (!complete(tier, start)) continue;
      cover(at, start, tier - 1);
      push(tier, start, start + span);
      at = start + span;
    }
    cover(at, hi, tier - 1);
  };
  cover(from, to, TIER_SPANS_MS.length - 1);
  return parts;
}

/** Whether every block of a segment is sealed. */
export function segmentSealed(tier: number, start: number, sealedBlocks: ReadonlySet<number>): boolean {
  if (tier === 0) return true;
  for (let block = start; block < start + TIER_SPANS_MS[tier]!; block += BLOCK_MS) if (!sealedBlocks.has(block)) return false;
  return true;
}
