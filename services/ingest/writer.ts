// The batch writer drains the spool into the TelemetryStore: read records in order, write them as one batch,
// and advance the spool checkpoint only after the store confirmed. A failed write is retried with backoff (the
// spool grows meanwhile, up to its bound, and then ingestion pushes back). Batches form by themselves: while
// one write is in flight, the next batch accumulates, so latency stays low at low rates and batches grow at high.
import type { Logger } from 'pino';
import type { SpoolPosition, SpoolSource } from '../spool/spool.ts';
import { capRaw, telemetryTopic } from '../contract/telemetry.ts';
import { StoreRejectedError, type DeadLetter, type StoredSample, type TelemetryStore } from '../store/telemetry-store.ts';
import type { ServiceMetrics } from '../observability/metrics.ts';
import { recordSamples, type SpoolRecord } from './pipeline.ts';

/** How often a filling batch looks whether a whole batch is waiting (ms). */
const FILL_CHECK_MS = 100;

export interface SpoolWriterOptions {
  spool: SpoolSource;
  store: TelemetryStore;
  metrics: ServiceMetrics;
  logger: Logger;
  /** Largest batch read from the spool at once, in spool bytes. */
  batchBytes?: number;
  /** Longest wait for new records when idle (ms). */
  idleMs?: number;
  /**
   * With no backlog, how long a batch may wait to fill before it is written (ms; Telegraf's flush_interval): a
   * few samples a second are then one write a flush instead of one each. 0 writes at once. Counted from when the
   * previous batch was taken, so a write that took the interval or longer is followed at once by the next.
   */
  flushMs?: number;
  /** Retry backoff bounds when the store fails (ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * Called before every attempt to store a batch of samples (a failure fails the attempt, which is retried).
   */
  beforeWrite?: (samples: readonly StoredSample[]) => Promise<void>;
  /**
   * Called with the samples of every batch the store confirmed (not those it refused for good); the spool
   * checkpoint moves past the batch only once the returned promise resolves (the rollups of the batch are stored).
   */
  onStored?: (samples: readonly StoredSample[]) => Promise<void>;
  /** Called when a stored batch left nothing unread in the spool (the writer has caught up). */
  onCaughtUp?: () => void;
}

export class SpoolWriter {
  private readonly spool: SpoolSource;
  private readonly store: TelemetryStore;
  private readonly metrics: ServiceMetrics;
  private readonly logger: Logger;
  private readonly batchBytes: number;
  private readonly idleMs: number;
  private readonly flushMs: number;
  /** the last batch was not full (there was no backlog): the next one may wait to fill */
  private caughtUp = false;
  /** when the previous batch was read from the spool (the flush interval counts from there) */
  private lastTakenAt = 0;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeRetry: (() => void) | undefined;
  private lastError: string | undefined;
  private consecutiveFailures = 0;
  /** receive time of the oldest record of the batch being written (ms), for the lag gauge while it is retried */
  private oldestUnstored = Number.POSITIVE_INFINITY;
  private readonly onStored: SpoolWriterOptions['onStored'];
  private readonly beforeWrite: SpoolWriterOptions['beforeWrite'];
  private readonly onCaughtUp: SpoolWriterOptions['onCaughtUp'];
  /** confirmed batches, in spool order, waiting for their onStored promise before their checkpoint */
  private readonly commits: Array<{ end: SpoolPosition; ready: boolean }> = [];
  /** samples the store refused for good (kept as `store_rejected` dead letters) */
  samplesRefused = 0;

  constructor(options: SpoolWriterOptions) {
    this.spool = options.spool;
    this.store = options.store;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.batchBytes = options.batchBytes ?? 4 * 1024 ** 2;
    this.idleMs = options.idleMs ?? 250;
    this.flushMs = options.flushMs ?? 0;
    this.retryMinMs = options.retryMinMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 5_000;
    this.onStored = options.onStored;
    this.beforeWrite = options.beforeWrite;
    this.onCaughtUp = options.onCaughtUp;
  }

  /** True while the last store write succeeded (readiness). */
  get storeHealthy(): boolean {
    return this.consecutiveFailures === 0;
  }

  get lastStoreError(): string | undefined {
    return this.lastError;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stop after the current batch; with `drainMs`, first keep writing until the spool is empty or time is up. */
  async stop(drainMs = 0): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.running && drainMs > 0 && this.spool.pendingBytes > 0 && this.storeHealthy && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.running = false;
    this.wakeRetry?.();
    await this.loop;
  }

  /** Resolves once everything spooled so far is confirmed by the store (tests, graceful shutdown). */
  async drained(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.spool.pendingBytes > 0) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.spool.waitForData(this.idleMs);
      if (!this.running) break;
      this.metrics.spoolPendingBytes.set(this.spool.pendingBytes);
      if (!this.spool.hasUnread()) {
        this.metrics.storeLagSeconds.set(0);
        continue;
      }
      if (this.caughtUp && this.flushMs > 0) await this.fill();
      if (!this.running) break;
      const batch = this.spool.read<SpoolRecord>(this.batchBytes);
      this.lastTakenAt = Date.now();
      const samples: StoredSample[] = [];
      const letters: DeadLetter[] = [];
      let oldest = Number.POSITIVE_INFINITY;
      for (const record of batch.records) {
        oldest = Math.min(oldest, record.at);
        if (record.k === 'd') letters.push(record.letter);
        else for (const s of recordSamples(record)) samples.push({ vin: record.vin, brand: record.brand, model: record.model, ts: s.ts, seq: s.seq, signals: s.signals });
      }
      this.oldestUnstored = oldest;
      if (Number.isFinite(oldest)) this.metrics.storeLagSeconds.set(Math.max(0, Date.now() - oldest) / 1000);
      const stored = await this.writeUntilConfirmed(samples, letters);
      if (stored === undefined) {
        // stopping with the batch unconfirmed: it stays in the spool and is replayed at the next start
        this.spool.rewind();
        break;
      }
      const entry = { end: batch.end, ready: false };
      this.commits.push(entry);
      const gate = this.onStored && stored.length > 0 ? this.onStored(stored) : undefined;
      if (gate) {
        gate.then(() => {
          entry.ready = true;
          this.commitReady();
        });
      } else {
        entry.ready = true;
        this.commitReady();
      }
      if (!this.spool.hasUnread()) this.onCaughtUp?.();
      // a batch smaller than the batch size read everything there was: no backlog, the next one may wait to fill
      this.caughtUp = batch.bytes < this.batchBytes;
    }
  }

  /**
   * Let a batch fill until flushMs after the previous one was taken, or until a whole batch is waiting (looked at every
   * FILL_CHECK_MS: a quiet service's writer thread wakes 5 times per 500 ms batch, where every 20 ms it woke 25 times).
   */
  private async fill(): Promise<void> {
    const deadline = this.lastTakenAt + this.flushMs;
    while (this.running && this.spool.pendingBytes < this.batchBytes) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise((r) => setTimeout(r, Math.min(FILL_CHECK_MS, left)));
    }
  }

  private commitReady(): void {
    let last: SpoolPosition | undefined;
    while (this.commits[0]?.ready) last = this.commits.shift()!.end;
    if (last) this.spool.commit(last);
    this.metrics.spoolPendingBytes.set(this.spool.pendingBytes);
  }

  /**
   * Write samples; when the store refuses some for good (StoreRejectedError), find them by halving the batch
   * and return them as dead letters, so one unstorable sample never wedges the spool.
   */
  private async writeSamplesIsolating(samples: StoredSample[]): Promise<Array<{ sample: StoredSample; letter: DeadLetter }>> {
    try {
      await this.store.writeSamples(samples);
      return [];
    } catch (err) {
      if (!(err instanceof StoreRejectedError)) throw err;
      if (samples.length === 1) {
        const s = samples[0]!;
        this.logger.warn({ event: 'sample_refused_by_store', vin: s.vin, ts: s.ts, err: err.message }, 'the store refused a sample; kept as a dead letter');
        const letter: DeadLetter = {
          receivedAt: Date.now(),
          reason: 'store_rejected',
          detail: err.message.slice(0, 512),
          topic: telemetryTopic(s.vin),
          vin: s.vin,
          raw: capRaw(JSON.stringify({ vin: s.vin, ts: s.ts, seq: s.seq, signals: s.signals })),
        };
        return [{ sample: s, letter }];
      }
      const half = Math.ceil(samples.length / 2);
      return [...(await this.writeSamplesIsolating(samples.slice(0, half))), ...(await this.writeSamplesIsolating(samples.slice(half)))];
    }
  }

  private async writeDeadLettersIsolating(letters: DeadLetter[]): Promise<void> {
    try {
      await this.store.writeDeadLetters(letters);
    } catch (err) {
      if (!(err instanceof StoreRejectedError)) throw err;
      if (letters.length === 1) {
        // nowhere left to keep it: say so loudly rather than retry forever
        this.logger.error({ event: 'dead_letter_refused_by_store', reason: letters[0]!.reason, err: err.message }, 'the store refused a dead letter; dropped');
        return;
      }
      const half = Math.ceil(letters.length / 2);
      await this.writeDeadLettersIsolating(letters.slice(0, half));
      await this.writeDeadLettersIsolating(letters.slice(half));
    }
  }

  /** The samples the store confirmed (all but those it refused for good), or undefined when stopped first. */
  private async writeUntilConfirmed(samples: StoredSample[], letters: DeadLetter[]): Promise<StoredSample[] | undefined> {
    let delay = this.retryMinMs;
    for (;;) {
      const started = process.hrtime.bigint();
      try {
        if (samples.length > 0) await this.beforeWrite?.(samples);
        const refused = samples.length > 0 ? await this.writeSamplesIsolating(samples) : [];
        const allLetters = refused.length > 0 ? letters.concat(refused.map((r) => r.letter)) : letters;
        if (allLetters.length > 0) await this.writeDeadLettersIsolating(allLetters);
        this.samplesRefused += refused.length;
        this.metrics.storeWriteSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics.samplesStored.inc(samples.length - refused.length);
        for (const { letter } of refused) this.metrics.rejects.inc({ reason: letter.reason });
        if (this.consecutiveFailures > 0) this.logger.info({ event: 'store_recovered', failures: this.consecutiveFailures }, 'store writes succeed again');
        this.consecutiveFailures = 0;
        this.lastError = undefined;
        if (refused.length === 0) return samples;
        const gone = new Set(refused.map((r) => r.sample));
        return samples.filter((s) => !gone.has(s));
      } catch (err) {
        this.consecutiveFailures += 1;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.metrics.storeWriteErrors.inc();
        // while the store is away the spool grows and the data ages: the gauges say so at every retry, not only between batches
        this.metrics.spoolPendingBytes.set(this.spool.pendingBytes);
        if (Number.isFinite(this.oldestUnstored)) this.metrics.storeLagSeconds.set(Math.max(0, Date.now() - this.oldestUnstored) / 1000);
        if (this.consecutiveFailures === 1 || this.consecutiveFailures % 20 === 0) {
          this.logger.warn({ event: 'store_write_failed', failures: this.consecutiveFailures, err: this.lastError, pendingBytes: this.spool.pendingBytes }, 'store write failed; retrying, spool keeps the data');
        }
      }
      if (!this.running) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeRetry = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeRetry = undefined;
      if (!this.running) return undefined;
      delay = Math.min(this.retryMaxMs, delay * 2);
    }
  }
}
