// Time arithmetic of the cockpit tables: minutes, the segments of each facts tier, and how a question's window is
// covered by the largest complete segments that fit in it (whole days, then hours, then 10 minutes, minutes at the
// edges), so a 24 h question reads about 50 segments per model, and a week about 90, however many vehicles there are.
import { FACT_TIERS, MINUTE_MS, SERIES_PIECE_MS, TIER_SPAN_MS, type FactTier, type FactsRange, type SealedTier } from '../store/cockpit-tables.ts';

export const minuteOf = (ts: number): number => Math.floor(ts / MINUTE_MS) * MINUTE_MS;
export const startOf = (tier: FactTier, ts: number): number => Math.floor(ts / TIER_SPAN_MS[tier]) * TIER_SPAN_MS[tier];

/** The tier one finer than a sealed tier (what it is derived from). */
export const finerTier = (tier: SealedTier): FactTier => FACT_TIERS[FACT_TIERS.indexOf(tier) - 1]!;

/**
 * The segments that cover [from, to) (both whole minutes): the largest complete segments that fit, smaller ones at
 * the edges, down to minutes. `complete(tier, start)` says whether a segment of a sealed tier may be used; minutes
 * always may. Adjacent segments of one tier are merged into one range.
 */
export function planCover(from: number, to: number, complete: (tier: SealedTier, start: number) => boolean): FactsRange[] {
  return cover(from, to, TIER_SPAN_MS, complete, []);
}

/**
 * The series of [from, to) in buckets of intervalMs from `from`: per bucket, the largest sealed series pieces that fit
 * in it (a day, an hour, half of 10 minutes) where `current(tier, segmentStart)` says the segment's sealed sums may be
 * used, minutes elsewhere. Ranges of sealed tiers are of piece starts; adjacent ranges of one tier are merged.
 */
export function planSeries(from: number, to: number, intervalMs: number, current: (tier: SealedTier, start: number) => boolean): FactsRange[] {
  const parts: FactsRange[] = [];
  const usable = (tier: SealedTier, piece: number): boolean => current(tier, startOf(tier, piece));
  for (let t = from; t < to; t += intervalMs) cover(t, Math.min(to, t + intervalMs), SERIES_PIECE_MS_OF, usable, parts);
  return parts;
}

const SERIES_PIECE_MS_OF: Readonly<Record<FactTier, number>> = { minute: MINUTE_MS, ...SERIES_PIECE_MS };

/** Append [lo, hi) of a tier to ranges in time order: merged into the last when it is of the tier and ends at lo. */
export function appendRange(ranges: FactsRange[], tier: FactTier, lo: number, hi: number): void {
  if (lo >= hi) return;
  const last = ranges[ranges.length - 1];
  if (last && last.tier === tier && last.hi === lo) last.hi = hi;
  else ranges.push({ tier, lo, hi });
}

/** Cover [from, to) with pieces of `spans` per tier, coarsest first where `usable`, appending merged ranges to `parts`. */
function cover(from: number, to: number, spans: Readonly<Record<FactTier, number>>, usable: (tier: SealedTier, start: number) => boolean, parts: FactsRange[]): FactsRange[] {
  const push = (tier: FactTier, lo: number, hi: number): void => appendRange(parts, tier, lo, hi);
  const fill = (lo: number, hi: number, level: number): void => {
    if (lo >= hi) return;
    const tier = FACT_TIERS[level]!;
    if (tier === 'minute') return push(tier, lo, hi);
    const span = spans[tier];
    let at = lo;
    for (let start = Math.ceil(lo / span) * span; start + span <= hi; start += span) {
      if (!usable(tier, start)) continue;
      fill(at, start, level - 1);
      push(tier, start, start + span);
      at = start + span;
    }
    fill(at, hi, level - 1);
  };
  fill(from, to, FACT_TIERS.length - 1);
  return parts;
}
