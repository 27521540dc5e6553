// The time range of a view, from its deep link: `range=1h|6h|24h|7d`, or `range=custom&from=..&to=..` (ms or
// ISO 8601). Windows end on the next whole 5 minutes (so they hold now): the cockpit API answers whole minutes from its
// rollups, and buckets that start on 5 minutes from the sums of sealed 10 minutes, hours and days (docs/cockpit.md).
export const RANGES = { '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 24 * 3_600_000, '7d': 7 * 24 * 3_600_000 } as const;
export type RangeKey = keyof typeof RANGES | 'custom';
const MINUTE = 60_000;
/** Windows end on a multiple of this: the finest sealed series piece of the cockpit (5 minutes). */
export const WINDOW_STEP_MS = 5 * MINUTE;

export interface TimeRange {
  key: RangeKey;
  from: number;
  to: number;
}

const parseTime = (s: string | null): number | undefined => {
  if (!s) return undefined;
  const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
};

export function resolveRange(params: URLSearchParams, now = Date.now(), fallback: keyof typeof RANGES = '24h'): TimeRange {
  const key = params.get('range');
  if (key === 'custom') {
    const from = parseTime(params.get('from'));
    const to = parseTime(params.get('to'));
    if (from !== undefined && to !== undefined && from < to) return { key: 'custom', from, to };
  }
  const k = key && key in RANGES ? (key as keyof typeof RANGES) : fallback;
  const to = Math.ceil(now / WINDOW_STEP_MS) * WINDOW_STEP_MS;
  return { key: k, from: to - RANGES[k], to };
}

/** `value` of an <input type="datetime-local"> in local time. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * MINUTE);
  return d.toISOString().slice(0, 16);
}
