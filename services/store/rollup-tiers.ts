// What both stores derive from their per-(vehicle, minute) rollup rows so that a cockpit question reads a few
// thousand rows instead of a row per vehicle and minute (see services/rollup for the minute rows):
//   series  sums per (brand, model, minute): the series and the sample-weighted KPIs, rewritten with every write
//           of a minute's rows;
//   hours   per (vehicle, hour): samples, odometer range, charging and fault counts (the per-vehicle facts behind
//           the distinct counts and the distance), for sealed hours only. An hour is sealed once minute rows
//           ROLLUP_SEAL_AFTER_MS past its end are written: its rows are derived and a seal marker stored; a later
//           write into a sealed hour derives the touched vehicles' rows of it again.
// A question takes the facts of the sealed hours inside its window from the hour rows and those of the rest (the
// partial hours at its edges, unsealed hours) from the minute rows, so the answer does not depend on which it read.
import type { CockpitWindow } from './telemetry-store.ts';

export const ROLLUP_HOUR_MS = 3_600_000;
/** An hour is sealed once minute rows this long after its end are written (later writes into it are rarer). */
export const ROLLUP_SEAL_AFTER_MS = 2 * 60_000;

export const hourOf = (ms: number): number => Math.floor(ms / ROLLUP_HOUR_MS) * ROLLUP_HOUR_MS;

/** The latest of some sealed hours, or undefined when there are none. */
export function latestHour(hours: Iterable<number>): number | undefined {
  let last: number | undefined;
  for (const hour of hours) if (last === undefined || hour > last) last = hour;
  return last;
}

export interface SealState {
  /** the latest sealed hour, or undefined when none is */
  lastSealed: number | undefined;
  /** where to start when nothing is sealed yet: the oldest minute row's bucket */
  oldest: () => Promise<number | undefined>;
  /** the greatest minute bucket written */
  newest: number;
  /** the hours of the minute rows just written */
  touchedHours: Iterable<number>;
  isSealed: (hour: number) => boolean;
  /** the sealed period: an hour unless given (the InfluxDB store seals 10-minute blocks) */
  period?: number;
}

/** The hour ranges to seal after a write: every hour after the last sealed one that is due, and touched old ones. */
export async function dueHours(options: SealState): Promise<Array<{ lo: number; hi: number }>> {
  const period = options.period ?? ROLLUP_HOUR_MS;
  const floor = (ms: number): number => Math.floor(ms / period) * period;
  // a vehicle whose clock runs ahead (samples may be up to 5 minutes in the future) must not seal the hour early
  const target = floor(Math.min(options.newest, Date.now()) - ROLLUP_SEAL_AFTER_MS);
  let since: number;
  if (options.lastSealed !== undefined) since = options.lastSealed + period;
  else {
    const oldest = await options.oldest();
    since = oldest === undefined ? target : floor(oldest);
  }
  const ranges: Array<{ lo: number; hi: number }> = [];
  if (since < target) ranges.push({ lo: since, hi: target });
  // a late write into an hour older than every seal (nothing was there when sealing began)
  for (const hour of new Set(options.touchedHours)) if (hour < Math.min(since, target) && !options.isSealed(hour)) ranges.push({ lo: hour, hi: hour + period });
  return ranges;
}

export interface FactRange {
  source: 'hours' | 'minutes';
  lo: number;
  hi: number;
}

/** The whole hours inside a window: [first, end). */
export function hoursInside(window: Pick<CockpitWindow, 'from' | 'to'>): { first: number; end: number } {
  return { first: Math.ceil(window.from / ROLLUP_HOUR_MS) * ROLLUP_HOUR_MS, end: Math.floor(window.to / ROLLUP_HOUR_MS) * ROLLUP_HOUR_MS };
}

/** Where a window's per-vehicle facts come from: hour rows for its sealed hours, minute rows for the rest. */
export function factRanges(window: Pick<CockpitWindow, 'from' | 'to'>, sealed: ReadonlySet<number>): FactRange[] {
  const { first, end } = hoursInside(window);
  const parts: FactRange[] = [];
  const push = (source: FactRange['source'], lo: number, hi: number): void => {
    if (lo >= hi) return;
    const last = parts[parts.length - 1];
    if (last && last.source === source && last.hi === lo) last.hi = hi;
    else parts.push({ source, lo, hi });
  };
  let at = window.from;
  for (let hour = first; hour < end; hour += ROLLUP_HOUR_MS) {
    if (!sealed.has(hour)) continue;
    push('minutes', at, hour);
    push('hours', hour, hour + ROLLUP_HOUR_MS);
    at = hour + ROLLUP_HOUR_MS;
  }
  push('minutes', at, window.to);
  return parts;
}

/** Buckets and the vehicles per hour of some minute keys. */
export function touchedOf(keys: ReadonlyArray<{ vin: string; bucket: number }>): { buckets: number[]; vinHours: Map<number, Set<string>> } {
  const buckets = new Set<number>();
  const vinHours = new Map<number, Set<string>>();
  for (const key of keys) {
    buckets.add(key.bucket);
    const hour = hourOf(key.bucket);
    let vins = vinHours.get(hour);
    if (!vins) vinHours.set(hour, (vins = new Set()));
    vins.add(key.vin);
  }
  return { buckets: [...buckets].sort((a, b) => a - b), vinHours };
}

