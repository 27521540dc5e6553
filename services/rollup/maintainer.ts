// Keeps the per-vehicle, per-minute rollups up to date. The writer reports every confirmed sample; the
// (vehicle, minute) keys they touch are recomputed from the raw samples in coalesced rounds, and the writer's
// spool checkpoint advances only once a batch's keys are recomputed, so a crash in between replays the batch
// and its rollups are recomputed again. With several ingest workers on one store, each key gets a second,
// later recompute, so a recompute that raced another worker's write is overwritten by one that saw it.
import type { Logger } from 'pino';
import type { ServiceMetrics } from '../observability/metrics.ts';
import { ROLLUP_BUCKET_MS, type RollupKey, type TelemetryStore } from '../store/telemetry-store.ts';

export interface RollupMaintainerOptions {
  store: TelemetryStore;
  logger: Logger;
  metrics: ServiceMetrics;
  /** how often dirty keys are recomputed (ms) */
  periodMs?: number;
  /** when set, recompute every key once more this long after (several writers share the store) */
  settleMs?: number;
  /** keys per store call */
  chunkKeys?: number;
}

interface Waiter {
  resolve: () => void;
}

export class RollupMaintainer {
  private dirty = new Map<string, RollupKey>();
  private waiters: Waiter[] = [];
  private readonly settling: Array<{ at: number; keys: RollupKey[] }> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;
  private readonly periodMs: number;
  private readonly chunkKeys: number;

  constructor(private readonly options: RollupMaintainerOptions) {
    this.periodMs = options.periodMs ?? 250;
    this.chunkKeys = options.chunkKeys ?? 20_000;
  }

  /** Keys waiting for a recompute (a gauge in /metrics; 0 means cockpit answers include everything stored). */
  get pendingKeys(): number {
    return this.dirty.size;
  }

  start(): void {
    this.schedule(this.periodMs);
  }

  /** Mark what these stored samples touch; resolves once their rollups are recomputed. */
  track(samples: ReadonlyArray<{ vin: string; ts: number }>): Promise<void> {
    for (const s of samples) {
      const bucket = Math.floor(s.ts / ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS;
      this.dirty.set(`${s.vin}\u0000${bucket}`, { vin: s.vin, bucket });
    }
    this.options.metrics.rollupPendingKeys.set(this.dirty.size);
    return new Promise((resolve) => this.waiters.push({ resolve }));
  }

  /** Recompute what is dirty now (also used at shutdown); resolves when the round is over. */
  async flush(): Promise<void> {
    if (this.running) await this.running;
    this.running = this.round();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.failures === 0) await this.flush().catch(() => undefined);
    else if (this.running) await this.running.catch(() => undefined);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.flush().then(
        () => this.schedule(this.periodMs),
        () => this.schedule(Math.min(5_000, this.periodMs * 2 ** Math.min(this.failures, 5))),
      );
    }, delay);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    const now = Date.now();
    while (this.settling.length > 0 && this.settling[0]!.at <= now) {
      for (const key of this.settling.shift()!.keys) this.dirty.set(`${key.vin}\u0000${key.bucket}`, key);
    }
    if (this.dirty.size === 0) {
      for (const w of this.waiters.splice(0)) w.resolve();
      return;
    }
    const keys = [...this.dirty.values()];
    const waiters = this.waiters;
    this.dirty = new Map();
    this.waiters = [];
    const started = process.hrtime.bigint();
    try {
      for (let i = 0; i < keys.length; i += this.chunkKeys) await this.options.store.recomputeRollups(keys.slice(i, i + this.chunkKeys));
    } catch (err) {
      // keep everything for the next round: the writer holds its checkpoint meanwhile
      for (const key of keys) this.dirty.set(`${key.vin}\u0000${key.bucket}`, key);
      this.waiters = waiters.concat(this.waiters);
      this.failures += 1;
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.options.logger.warn({ event: 'rollup_recompute_failed', keys: keys.length, failures: this.failures, err: err instanceof Error ? err.message : String(err) }, 'rollup recompute failed; retrying');
      }
      this.options.metrics.rollupPendingKeys.set(this.dirty.size);
      throw err;
    }
    this.failures = 0;
    this.options.metrics.rollupRecomputeSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.options.metrics.rollupPendingKeys.set(this.dirty.size);
    if (this.options.settleMs !== undefined) this.settling.push({ at: Date.now() + this.options.settleMs, keys });
    for (const w of waiters) w.resolve();
  }
}
