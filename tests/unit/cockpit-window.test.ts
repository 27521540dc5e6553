// The window of a cockpit query when from, to or interval are left out: the last 24 h, buckets on round times.
import t from 'tap';
import { cockpitWindow } from '../../services/api/routes/cockpit.ts';

const NOW = Date.parse('2026-12-05T10:03:17Z');
const MIN = 60_000;
const H = 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();

t.test('by default: the last 24 h in 5-minute buckets starting on multiples of 5 minutes', async (t) => {
  const w = cockpitWindow({}, NOW);
  t.equal(w.intervalMs, 5 * MIN);
  t.equal(iso(w.to), '2026-12-05T10:05:00.000Z', 'to: the end of the current bucket');
  t.equal(iso(w.from), '2026-12-04T10:05:00.000Z');
});

t.test('a given interval aligns the default window to it', async (t) => {
  const hourly = cockpitWindow({ interval: H }, NOW);
  t.same([iso(hourly.from), iso(hourly.to)], ['2026-12-04T11:00:00.000Z', '2026-12-05T11:00:00.000Z']);
  const odd = cockpitWindow({ interval: 7 * MIN }, NOW);
  t.equal(odd.from % (7 * MIN), 0, 'from is a multiple of an interval that does not divide a day');
  t.ok(odd.to - odd.from >= 24 * H && odd.to - odd.from < 24 * H + 14 * MIN, 'and the window still covers the last 24 h');
  const untilGiven = cockpitWindow({ to: Date.parse('2026-12-05T10:03:00Z'), interval: 10 * MIN }, NOW);
  t.equal(iso(untilGiven.from), '2026-12-04T10:00:00.000Z', 'with only to given, from is aligned too');
  t.equal(iso(untilGiven.to), '2026-12-05T10:03:00.000Z', 'and to stays as given');
});

t.test('a given from or to is kept; the default interval follows the span', async (t) => {
  const from = Date.parse('2026-11-28T10:03:17Z');
  const week = cockpitWindow({ from }, NOW);
  t.equal(week.from, from, 'from as given');
  t.equal(iso(week.to), '2026-12-05T10:04:00.000Z', 'to: the next whole minute');
  t.equal(week.intervalMs, 36 * MIN, 'about 288 buckets over the week');
  const both = cockpitWindow({ from, to: from + H }, NOW);
  t.same(both, { from, to: from + H, intervalMs: MIN });
  t.throws(() => cockpitWindow({ from: NOW, to: NOW }, NOW), { code: 'INVALID_RANGE' });
});
