// Keeps the per-vehicle, per-minute rollups up to date. The writer reports every confirmed sample; the
// (vehicle, minute) keys they touch are written in coalesced rounds, and the writer's spool checkpoint advances
// only once a batch's rollups are stored, so a crash in between replays the batch and its rollups are made again.
// Two strategies:
//   incremental (the store's only writer, the default): rollups are kept in memory (RollupBook) and each round
//     writes the rows of the keys that changed; keys the store knew before this process are recomputed from the
//     raw samples, as below.
//   recompute (several writers share the store, e.g. ingest workers on a $share subscription): no process sees
//     every sample, so every changed key is recomputed from the raw samples, and once more `settleMs` later, so a
//     recompute that raced another worker's write is overwritten by one that saw it.
import type { Logger } from 'pino';
import type { ServiceMetrics } from '../observability/metrics.ts';
import type { RollupKey, RollupRow, StoredSample, TelemetryStore } from '../store/telemetry-store.ts';
import { bucketOf, RollupBook } from './book.ts';

export type RollupStrategy = 'incremental' | 'recompute';

export interface RollupMaintainerOptions {
  store: TelemetryStore;
  logger: Logger;
  metrics: ServiceMetrics;
  strategy: RollupStrategy;
  /**
   * how often changed keys are written (ms), default 1000: incremental, a row per changed key and round;
   * recompute, a scan of the changed minutes' raw samples per round, so a shorter period costs the store more
   */
  periodMs?: number;
  /** recompute: recompute every key once more this long after */
  settleMs?: number;
  /** keys per store call */
  chunkKeys?: number;
  /** incremental: how long after its bucket a key stays in memory (ms) */
  retainMs?: number;
  now?: () => number;
}

const MIN_ROUND_GAP_MS = 100;

interface Waiter {
  resolve: () => void;
}

/** Keys to write, as bucket -> VINs (no key object or string per sample: this runs for every sample). */
class DirtyKeys {
  private buckets = new Map<number, Set<string>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(vin: string, bucket: number): void {
    let vins = this.buckets.get(bucket);
    if (!vins) this.buckets.set(bucket, (vins = new Set()));
    if (!vins.has(vin)) {
      vins.add(vin);
      this.count += 1;
    }
  }

  has(key: RollupKey): boolean {
    return this.buckets.get(key.bucket)?.has(key.vin) === true;
  }

  /** Every key, and forget them. */
  take(): RollupKey[] {
    const keys: RollupKey[] = [];
    for (const [bucket, vins] of this.buckets) for (const vin of vins) keys.push({ vin, bucket });
    this.buckets = new Map();
    this.count = 0;
    return keys;
  }
}

export class RollupMaintainer {
  private readonly dirty = new DirtyKeys();
  private waiters: Waiter[] = [];
  private readonly settling: Array<{ at: number; keys: RollupKey[] }> = [];
  private readonly book = new RollupBook();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastRoundAt = 0;
  private failures = 0;
  private readonly periodMs: number;
  private readonly chunkKeys: number;
  private readonly retainMs: number;
  private readonly now: () => number;

  constructor(private readonly options: RollupMaintainerOptions) {
    this.periodMs = options.periodMs ?? 1000;
    this.chunkKeys = options.chunkKeys ?? 20_000;
    this.retainMs = options.retainMs ?? 3 * 60_000;
    this.now = options.now ?? Date.now;
  }

  get strategy(): RollupStrategy {
    return this.options.strategy;
  }

  /** Keys waiting to be written (a gauge in /metrics; 0 means cockpit answers include everything stored). */
  get pendingKeys(): number {
    return this.dirty.size;
  }

  /** Keys whose rollup is kept in memory (incremental). */
  get memoryKeys(): number {
    return this.book.memoryKeys;
  }

  start(): void {
    this.schedule(this.periodMs);
  }

  /**
   * Before the writer stores these samples (called again when a write is retried): learn which of their keys
   * the store already holds samples of. Incremental only; throws when the store cannot answer.
   */
  async prepare(samples: readonly StoredSample[]): Promise<void> {
    if (this.options.strategy !== 'incremental') return;
    const unknown = this.book.unknownKeys(samples);
    if (unknown.length === 0) return;
    const stored: RollupKey[] = [];
    for (let i = 0; i < unknown.length; i += this.chunkKeys) stored.push(...(await this.options.store.keysWithSamples(unknown.slice(i, i + this.chunkKeys))));
    this.book.admit(unknown, stored);
  }

  /** Count these stored samples; resolves once their keys' rollups are stored. */
  track(samples: readonly StoredSample[]): Promise<void> {
    const incremental = this.options.strategy === 'incremental';
    for (const sample of samples) {
      const bucket = bucketOf(sample.ts);
      if (incremental) this.book.apply(sample, bucket);
      this.dirty.add(sample.vin, bucket);
    }
    this.options.metrics.rollupPendingKeys.set(this.dirty.size);
    return new Promise((resolve) => this.waiters.push({ resolve }));
  }

  /**
   * The writer has caught up: write what changed without waiting out the period (which bounds the rows written
   * under load, not the latency of an idle service), but no sooner than 100 ms after the last round. Incremental
   * only: a recompute round scans raw samples, which is what the period is there to bound.
   */
  flushSoon(): void {
    if (this.options.strategy !== 'incremental') return;
    if (this.stopped || this.running || this.failures > 0 || this.dirty.size === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(Math.max(0, this.lastRoundAt + MIN_ROUND_GAP_MS - this.now()));
  }

  /** Write what changed now (also used at shutdown); resolves when the round is over. */
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
    const now = this.now();
    this.lastRoundAt = now;
    while (this.settling.length > 0 && this.settling[0]!.at <= now) {
      for (const key of this.settling.shift()!.keys) this.dirty.add(key.vin, key.bucket);
    }
    if (this.dirty.size === 0) {
      for (const w of this.waiters.splice(0)) w.resolve();
      this.evict(now);
      return;
    }
    const keys = this.dirty.take();
    const waiters = this.waiters;
    this.waiters = [];
    const started = process.hrtime.bigint();
    try {
      // the rows are taken now: a sample counted while they are written makes its key dirty for the next round
      const rows: RollupRow[] = [];
      const recompute: RollupKey[] = [];
      for (const key of keys) {
        const row = this.options.strategy === 'incremental' ? this.book.row(key) : undefined;
        if (row) rows.push(row);
        else recompute.push(key);
      }
      for (let i = 0; i < rows.length; i += this.chunkKeys) await this.options.store.writeRollups(rows.slice(i, i + this.chunkKeys));
      for (let i = 0; i < recompute.length; i += this.chunkKeys) await this.options.store.recomputeRollups(recompute.slice(i, i + this.chunkKeys));
    } catch (err) {
      // keep everything for the next round: the writer holds its checkpoint meanwhile
      for (const key of keys) this.dirty.add(key.vin, key.bucket);
      this.waiters = waiters.concat(this.waiters);
      this.failures += 1;
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.options.logger.warn({ event: 'rollup_write_failed', keys: keys.length, failures: this.failures, err: err instanceof Error ? err.message : String(err) }, 'rollup write failed; retrying');
      }
      this.options.metrics.rollupPendingKeys.set(this.dirty.size);
      throw err;
    }
    this.failures = 0;
    this.options.metrics.rollupRoundSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.options.metrics.rollupPendingKeys.set(this.dirty.size);
    if (this.options.settleMs !== undefined && this.options.strategy === 'recompute') this.settling.push({ at: this.now() + this.options.settleMs, keys });
    for (const w of waiters) w.resolve();
    this.evict(now);
  }

  private evict(now: number): void {
    if (this.options.strategy !== 'incremental') return;
    this.book.evictBefore(bucketOf(now - this.retainMs), this.dirty);
    this.options.metrics.rollupMemoryKeys.set(this.book.memoryKeys);
  }
}
