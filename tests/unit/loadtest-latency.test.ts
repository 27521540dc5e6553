// The load tester's publish-to-queryable prober: polls come every pollMs at first, then at 5% of the time already
// waited, so a slow target is asked less often while the latency stays within 5% (or one poll) of the truth.
import t from 'tap';
import { LatencyProber, nextPollDelay, percentile } from '../../simulators/loadtest/latency.ts';

t.test('the poll delay is pollMs until 5% of the wait exceeds it', async (t) => {
  t.equal(nextPollDelay(0, 20), 20);
  t.equal(nextPollDelay(400, 20), 20);
  t.equal(nextPollDelay(1_000, 20), 50);
  t.equal(nextPollDelay(5_000, 20), 250);
  t.equal(nextPollDelay(5_000, 500), 500);
});

t.test('percentile picks the nearest rank', async (t) => {
  t.equal(percentile([], 99), null);
  t.equal(percentile([5], 99), 5);
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(percentile(hundred, 50), 50);
  t.equal(percentile(hundred, 99), 99);
});

t.test('a sample queryable after 1.5 s is found within 5% plus one poll, in far fewer polls than a fixed interval', async (t) => {
  const sentAt = Date.now();
  const readyAt = sentAt + 1_500;
  let polls = 0;
  const prober = new LatencyProber({
    queryable: async () => {
      polls += 1;
      return Date.now() >= readyAt;
    },
    pollMs: 20,
    timeoutMs: 20_000,
  });
  prober.probe('VIN', 1, sentAt);
  const stats = await prober.finish(20_000);
  t.equal(stats.found, 1);
  t.ok(stats.p50Ms! >= 1_500, `not found before it was queryable (${stats.p50Ms} ms)`);
  // at a fixed 20 ms that is 75 polls; the first 400 ms at 20 ms and then growing 5% a poll is about 20 + 27,
  // and a loaded machine only stretches the intervals (fewer polls)
  t.ok(polls <= 50, `${polls} polls`);
  t.ok(polls >= 2, `${polls} polls`);
});

t.test('a sample never queryable times out, polled ever less often', async (t) => {
  let polls = 0;
  const prober = new LatencyProber({
    queryable: async () => {
      polls += 1;
      return false;
    },
    pollMs: 20,
    timeoutMs: 2_000,
  });
  prober.probe('VIN', 1, Date.now());
  const stats = await prober.finish(10_000);
  t.equal(stats.found, 0);
  t.equal(stats.timedOut, 1);
  t.ok(polls <= 60, `${polls} polls in 2 s (a fixed 20 ms would be 100)`);
});
