// The web cockpit's time ranges (dashboards/web/src/range.ts): windows end on the next whole 5 minutes, so the cockpit
// API can answer their buckets from the sums of sealed segments.
import t from 'tap';
import { RANGES, resolveRange, WINDOW_STEP_MS } from '../../dashboards/web/src/range.ts';

t.test('a named range ends on the next whole 5 minutes, holding now', async (t) => {
  const now = Date.UTC(2026, 11, 6, 14, 22, 31);
  const r = resolveRange(new URLSearchParams('range=7d'), now);
  t.equal(r.key, '7d');
  t.equal(r.to, Date.UTC(2026, 11, 6, 14, 25));
  t.equal(r.to - r.from, RANGES['7d']);
  t.equal(r.from % WINDOW_STEP_MS, 0, 'buckets of 5 minutes and more start on 5 minutes');
  t.equal(resolveRange(new URLSearchParams(''), Date.UTC(2026, 11, 6, 14, 25)).to, Date.UTC(2026, 11, 6, 14, 25), 'on a step already: that step');
  t.equal(resolveRange(new URLSearchParams('range=nonsense'), now).key, '24h', 'an unknown range: the fallback');
});

t.test('a custom range is kept as given', async (t) => {
  const r = resolveRange(new URLSearchParams('range=custom&from=1000&to=2000'), Date.now());
  t.strictSame(r, { key: 'custom', from: 1000, to: 2000 });
  t.equal(resolveRange(new URLSearchParams('range=custom&from=2000&to=1000'), Date.now()).key, '24h', 'from after to: the fallback');
});
