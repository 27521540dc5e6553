// Event-loop delay at /metrics, under prom-client's names (nodejs_eventloop_lag_*_seconds), measured at a coarser
// pace than prom-client's and with that pace taken out of the figures.
//
// prom-client samples the loop with Node's monitorEventLoopDelay every 10 ms: a timer that wakes an idle service 100
// times a second (measured on 12-06, idle embedded service: 1.66% of a core against 1.52% with this module, two runs
// each; docs/benchmarks.md), and whose recorded delays are whole timer intervals, so an idle loop reads 10 ms, not 0
// (prometheus/client_js#370). Here the timer runs every
// EVENT_LOOP_RESOLUTION_MS and every figure is the delay beyond it. A stall longer than the resolution is always seen
// whole; a shorter one is seen when the timer falls due during it (with probability stall / resolution).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

export const EVENT_LOOP_RESOLUTION_MS = 100;

/** prom-client's names, replaced by those of eventLoopDelayGauges (the Grafana dashboards and the soak read them). */
export const EVENT_LOOP_METRICS = [
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
] as const;

/** What a histogram of whole timer intervals (ns) says of the delay beyond them, in seconds; since the last reset. */
export function delayBeyond(histogram: Pick<IntervalHistogram, 'min' | 'max' | 'mean' | 'stddev' | 'percentile' | 'count'>, resolutionMs: number): Record<'min' | 'max' | 'mean' | 'stddev' | 'p50' | 'p90' | 'p99', number> {
  const resolution = resolutionMs * 1e6;
  const beyond = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns - resolution) / 1e9 : 0);
  // no timer interval ended since the last reset: nothing was measured (the histogram's min reads 2^63 then)
  if (histogram.count === 0) return { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
  return {
    min: beyond(histogram.min),
    max: beyond(histogram.max),
    mean: beyond(histogram.mean),
    // a constant taken from every value leaves the spread as it is
    stddev: Number.isFinite(histogram.stddev) ? histogram.stddev / 1e9 : 0,
    p50: beyond(histogram.percentile(50)),
    p90: beyond(histogram.percentile(90)),
    p99: beyond(histogram.percentile(99)),
  };
}

/**
 * Register the event-loop gauges in `registry`: nodejs_eventloop_lag_seconds (how long a setImmediate took to run at
 * the scrape, as prom-client's) and the delays since the previous scrape (min, max, mean, stddev, p50, p90, p99).
 * Returns a stop function (disables the monitor).
 */
export function eventLoopDelayGauges(registry: Registry, resolutionMs = EVENT_LOOP_RESOLUTION_MS): () => void {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const [lagName, ...statNames] = EVENT_LOOP_METRICS;
  const stats = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;
  const help: Record<(typeof stats)[number], string> = {
    min: 'The minimum event loop delay since the previous scrape',
    max: 'The maximum event loop delay since the previous scrape',
    mean: 'The mean event loop delay since the previous scrape',
    stddev: 'The standard deviation of the event loop delays since the previous scrape',
    p50: 'The 50th percentile of the event loop delays since the previous scrape',
    p90: 'The 90th percentile of the event loop delays since the previous scrape',
    p99: 'The 99th percentile of the event loop delays since the previous scrape',
  };
  new Gauge({
    name: lagName,
    help: 'How long a setImmediate scheduled at the scrape waited to run (seconds)',
    registers: [registry],
    aggregator: 'average',
    // one collect sets them all and starts the next interval: registered first, it runs before they are read
    async collect() {
      const figures = delayBeyond(histogram, resolutionMs);
      histogram.reset();
      stats.forEach((stat, i) => gauges[i]!.set(figures[stat]));
      const start = process.hrtime.bigint();
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.set(Number(process.hrtime.bigint() - start) / 1e9);
    },
  });
  const gauges = stats.map(
    (stat, i) =>
      new Gauge({
        name: statNames[i]!,
        help: `${help[stat]}, beyond the ${resolutionMs} ms sampling interval (seconds)`,
        registers: [registry],
        aggregator: stat === 'min' ? 'min' : stat === 'max' ? 'max' : 'average',
      }),
  );
  return () => histogram.disable();
}
