// Planning of the coarser cockpit tables (services/store/rollup-tiers.ts): which hours to seal after a write, and
// which table a window's per-vehicle facts are read from.
import t from 'tap';
import { dueHours, factRanges, ROLLUP_HOUR_MS, ROLLUP_SEAL_AFTER_MS } from '../../services/store/rollup-tiers.ts';

const H = ROLLUP_HOUR_MS;
const M = 60_000;
const h0 = Math.floor(Date.now() / H) * H - 10 * H;

t.test('due hours', async (t) => {
  const sealed = new Set([h0, h0 + H]);
  const base = { lastSealed: h0 + H, oldest: async () => h0, touchedHours: [], isSealed: (h: number) => sealed.has(h) };
  t.strictSame(await dueHours({ ...base, newest: h0 + 3 * H + ROLLUP_SEAL_AFTER_MS - M }), [], 'the hour after the last sealed is not due while minute rows within the margin of its end come in');
  t.strictSame(await dueHours({ ...base, newest: h0 + 3 * H + ROLLUP_SEAL_AFTER_MS }), [{ lo: h0 + 2 * H, hi: h0 + 3 * H }], 'a minute row two minutes past its end makes it due');
  t.strictSame(await dueHours({ ...base, newest: h0 + 5 * H + 30 * M }), [{ lo: h0 + 2 * H, hi: h0 + 5 * H }], 'every hour due since the last seal, in one range');
  t.strictSame(await dueHours({ ...base, newest: h0 + 2 * H }), [], 'nothing new is due');
  t.strictSame(await dueHours({ ...base, lastSealed: undefined, newest: h0 + 2 * H + 5 * M, oldest: async () => h0 + 17 * M }), [{ lo: h0, hi: h0 + 2 * H }], 'first seal: from the oldest row\'s hour');
  t.strictSame(await dueHours({ ...base, lastSealed: undefined, newest: h0, oldest: async () => undefined }), [], 'an empty store seals nothing');
  t.strictSame(await dueHours({ ...base, newest: h0 + 2 * H, touchedHours: [h0 - 3 * H, h0 - 3 * H, h0] }), [{ lo: h0 - 3 * H, hi: h0 - 2 * H }], 'a late write into an hour older than every seal seals it');
  const now = Math.floor(Date.now() / M) * M;
  const current = Math.floor(now / H) * H;
  const ahead = await dueHours({ ...base, lastSealed: current - 2 * H, newest: now + 5 * 60_000 + H });
  t.ok(ahead.every((r) => r.hi <= current), 'a vehicle clock ahead of ours does not seal the current hour');

  const B = 10 * M;
  const blocks = { lastSealed: h0 + 3 * B, oldest: async () => h0, touchedHours: [h0 - 2 * B], isSealed: () => false, period: B };
  t.strictSame(
    await dueHours({ ...blocks, newest: h0 + 6 * B + ROLLUP_SEAL_AFTER_MS }),
    [
      { lo: h0 + 4 * B, hi: h0 + 6 * B },
      { lo: h0 - 2 * B, hi: h0 - B },
    ],
    'another period (10-minute blocks): the due blocks, and a touched old one',
  );
});

t.test('fact ranges', async (t) => {
  const sealed = new Set([h0 + H, h0 + 2 * H, h0 + 4 * H]);
  t.strictSame(factRanges({ from: h0 + 10 * M, to: h0 + 5 * H + 7 * M }, sealed), [
    { source: 'minutes', lo: h0 + 10 * M, hi: h0 + H },
    { source: 'hours', lo: h0 + H, hi: h0 + 3 * H },
    { source: 'minutes', lo: h0 + 3 * H, hi: h0 + 4 * H },
    { source: 'hours', lo: h0 + 4 * H, hi: h0 + 5 * H },
    { source: 'minutes', lo: h0 + 5 * H, hi: h0 + 5 * H + 7 * M },
  ]);
  t.strictSame(factRanges({ from: h0 + H, to: h0 + 2 * H }, sealed), [{ source: 'hours', lo: h0 + H, hi: h0 + 2 * H }], 'a sealed hour alone');
  t.strictSame(factRanges({ from: h0 + H + M, to: h0 + 2 * H - M }, sealed), [{ source: 'minutes', lo: h0 + H + M, hi: h0 + 2 * H - M }], 'inside one hour: minutes only');
  t.strictSame(factRanges({ from: h0 + 3 * H, to: h0 + 4 * H }, new Set()), [{ source: 'minutes', lo: h0 + 3 * H, hi: h0 + 4 * H }], 'nothing sealed');
});
