// The event-loop delay gauges (services/observability/event-loop.ts): prom-client's names, sampled every 100 ms
// instead of every 10, with the sampling interval taken out of every figure, and reset at each scrape.
import t from 'tap';
import { Registry } from 'prom-client';
import { EVENT_LOOP_METRICS, EVENT_LOOP_RESOLUTION_MS, delayBeyond, eventLoopDelayGauges } from '../../services/observability/event-loop.ts';
import { ServiceMetrics } from '../../services/observability/metrics.ts';

const histogram = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return {
    count: values.length,
    min: values.length > 0 ? sorted[0]! : 9223372036854776000,
    max: values.length > 0 ? sorted.at(-1)! : 0,
    mean: values.length > 0 ? mean : Number.NaN,
    stddev: values.length > 0 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length) : Number.NaN,
    percentile: (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0,
  };
};

t.test('every figure is the delay beyond the sampling interval, never below 0', (t) => {
  const ms = 1e6;
  // intervals of a 100 ms timer: on time (and a hair early, as timers are), 5 ms late, 250 ms late
  const figures = delayBeyond(histogram([99.9 * ms, 100 * ms, 100 * ms, 105 * ms, 350 * ms]), 100);
  t.equal(figures.min, 0);
  t.equal(figures.max, 0.25);
  t.ok(Math.abs(figures.mean - (0.0 + 0 + 0 + 0.005 + 0.25 - 0.0001) / 5) < 1e-9, `mean ${figures.mean}`);
  t.equal(figures.p50, 0);
  t.equal(figures.p99, 0.25);
  // the spread of the intervals is the spread of the delays
  t.ok(figures.stddev > 0.09 && figures.stddev < 0.11, `stddev ${figures.stddev}`);
  t.end();
});

t.test('nothing measured since the last reset reads 0, not the histogram\'s empty min (2^63 ns)', (t) => {
  t.same(delayBeyond(histogram([]), 100), { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 });
  t.end();
});

t.test('a blocked loop shows in max and p99 at the next scrape, and the scrape starts a new interval', async (t) => {
  const registry = new Registry();
  const stop = eventLoopDelayGauges(registry, 20);
  t.teardown(stop);
  const read = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of await registry.getMetricsAsJSON()) out[m.name] = Number(m.values[0]?.value);
    return out;
  };
  await read(); // start an interval
  await new Promise((resolve) => setTimeout(resolve, 100));
  const until = Date.now() + 600;
  while (Date.now() < until); // block the loop for 600 ms
  await new Promise((resolve) => setTimeout(resolve, 60)); // let the delayed timer fire and record
  const blocked = await read();
  t.ok(blocked.nodejs_eventloop_lag_max_seconds! >= 0.5, `max ${blocked.nodejs_eventloop_lag_max_seconds} s after a 600 ms block`);
  t.ok(blocked.nodejs_eventloop_lag_p99_seconds! >= 0.5, `p99 ${blocked.nodejs_eventloop_lag_p99_seconds} s`);
  t.ok(blocked.nodejs_eventloop_lag_seconds! >= 0, 'the setImmediate lag is measured');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await read();
  t.ok(after.nodejs_eventloop_lag_max_seconds! < blocked.nodejs_eventloop_lag_max_seconds!, `the next interval no longer holds the block (max ${after.nodejs_eventloop_lag_max_seconds} s)`);
  // stopped, the monitor records nothing: a block no longer shows
  stop();
  await read();
  const until2 = Date.now() + 300;
  while (Date.now() < until2);
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.equal((await read()).nodejs_eventloop_lag_max_seconds, 0, 'nothing recorded once stopped');
});

t.test('the service registry has each event-loop name once, from these gauges; it still answers after close()', async (t) => {
  const metrics = new ServiceMetrics();
  t.teardown(() => metrics.close());
  const text = await metrics.text();
  for (const name of EVENT_LOOP_METRICS) {
    t.equal(text.split('\n').filter((line) => line.startsWith(`# TYPE ${name} `)).length, 1, name);
  }
  t.match(text, new RegExp(`beyond the ${EVENT_LOOP_RESOLUTION_MS} ms sampling interval`));
  metrics.close();
  metrics.close(); // twice is harmless
  t.match(await metrics.text(), /nodejs_eventloop_lag_mean_seconds/, 'the registry still answers after close');
});
