// The soak, short: about a minute at a steady rate through MQTT (a login per vehicle) against the spawned service.
// Every acked sample is stored once, the slopes are computed from real readings, and once the vehicles have gone the
// service holds no more fds or handles than it did idle. Whether the slopes are within their bounds is reported by
// the 10-minute run (docs/chaos.md#soak), not asserted here: a minute on a shared machine is too noisy for it.
import t from 'tap';
import { FLAT_BOUNDS, slope, soak } from '../../bench/chaos/soak.ts';

t.test('least-squares slope', async (t) => {
  t.equal(slope([[0, 1], [1, 3], [2, 5]]), 2);
  t.equal(slope([[0, 4], [1, 4], [2, 4]]), 0);
  t.equal(slope([[0, 1]]), 0, 'one point: no slope');
  t.equal(slope([[1, 1], [1, 5]]), 0, 'no spread in x: no slope');
});

t.test('a minute of steady MQTT load: nothing lost, slopes computed, fds and handles back to the idle baseline', async (t) => {
  t.setTimeout(600_000);
  const lines: string[] = [];
  const run = await soak({ quick: true, log: (line) => lines.push(line) });
  t.comment(lines.join('\n'));
  const r = run.result;
  t.ok(r.acked > 10_000, `acked ${r.acked}`);
  t.equal(r.lost, 0);
  t.equal(r.duplicated, 0);
  t.ok(run.readings.length >= 10, `${run.readings.length} readings`);
  for (const key of Object.keys(FLAT_BOUNDS) as Array<keyof typeof FLAT_BOUNDS>) t.ok(Number.isFinite(r.slopes[key]), `${key} computed: ${r.slopes[key]}`);
  t.ok(run.readings.every((x) => x.rssMiB > 0 && x.heapMiB > 0 && x.handles > 0 && x.fds > 0), 'every reading has RSS, heap, handles and fds');
  t.ok(run.readings.every((x) => x.liveMiB > x.heapMiB && x.liveMiB <= x.rssMiB && x.heapCommittedMiB >= x.heapMiB), 'live memory: within RSS, above the heap in use');
  t.ok(run.after.fds <= run.baseline.fds, `fds after ${run.after.fds}, idle ${run.baseline.fds}`);
  t.ok(run.after.handles <= run.baseline.handles, `handles after ${run.after.handles}, idle ${run.baseline.handles}`);
});
