// Publish-to-queryable latency: a few published samples per second are polled for until the target answers
// them; the latency is the time from the publish call to the first answer that holds the sample. Polls start
// every `pollMs` and then come at a twentieth of the time already waited (`nextPollDelay`), so a latency is
// over-stated by at most one poll interval or 5%, and a slow target is not asked ever more often the slower it
// gets (at a fixed 20 ms, 16 probes waiting 5 s each asked 800 queries a second of the system they measure).
// Concurrent probes are capped so that measuring does not become the load.
export interface LatencyStats {
  probes: number;
  found: number;
  /** not queryable within the probe timeout */
  timedOut: number;
  /** dropped because `concurrency` probes were already running */
  skipped: number;
  errors: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface LatencyProberOptions {
  queryable: (vin: string, ts: number) => Promise<boolean>;
  pollMs: number;
  timeoutMs: number;
  concurrency?: number;
}

/** How long to wait before the next poll, `elapsedMs` after the publish: `pollMs`, or 5% of the wait so far. */
export function nextPollDelay(elapsedMs: number, pollMs: number): number {
  return Math.max(pollMs, Math.round(elapsedMs / 20));
}

export class LatencyProber {
  private readonly latencies: number[] = [];
  private readonly running = new Set<Promise<void>>();
  private probes = 0;
  private timedOut = 0;
  private skipped = 0;
  private errors = 0;
  private closed = false;
  private readonly concurrency: number;

  constructor(private readonly options: LatencyProberOptions) {
    this.concurrency = options.concurrency ?? 16;
  }

  probe(vin: string, ts: number, sentAt: number): void {
    if (this.closed) return;
    if (this.running.size >= this.concurrency) {
      this.skipped += 1;
      return;
    }
    this.probes += 1;
    const task = this.poll(vin, ts, sentAt).finally(() => this.running.delete(task));
    this.running.add(task);
  }

  private async poll(vin: string, ts: number, sentAt: number): Promise<void> {
    const deadline = sentAt + this.options.timeoutMs;
    let failures = 0;
    while (!this.closed) {
      try {
        const found = await this.options.queryable(vin, ts);
        // after finish() gave up on it, a late answer is counted as timed out, not as a latency
        if (this.closed) return;
        if (found) {
          this.latencies.push(Date.now() - sentAt);
          return;
        }
      } catch {
        if (this.closed) return;
        // one failed poll is not a verdict; many are
        if (++failures >= 5) {
          this.errors += 1;
          return;
        }
      }
      if (Date.now() >= deadline) {
        this.timedOut += 1;
        return;
      }
      await new Promise((r) => setTimeout(r, nextPollDelay(Date.now() - sentAt, this.options.pollMs)));
    }
  }

  /** Latencies so far (ms), for a live line. */
  recentP99(): number | null {
    return percentile([...this.latencies.slice(-200)].sort((a, b) => a - b), 99);
  }

  /** Wait for running probes (at most `waitMs`), then stop polling. */
  async finish(waitMs: number): Promise<LatencyStats> {
    const all = Promise.all([...this.running]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    this.closed = true;
    const unfinished = this.running.size;
    await all;
    this.timedOut += unfinished;
    return this.stats();
  }

  stats(): LatencyStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      probes: this.probes,
      found: sorted.length,
      timedOut: this.timedOut,
      skipped: this.skipped,
      errors: this.errors,
      p50Ms: percentile(sorted, 50),
      p95Ms: percentile(sorted, 95),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.at(-1) ?? null,
    };
  }
}
