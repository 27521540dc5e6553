// Where the store writer runs. With a store another thread can open (InfluxDB) it runs in its own thread
// (writer-thread.ts): writing, line protocol and rollups then use another core instead of taking turns with MQTT
// ingestion on this one (measured: ingestion under load went from 4.6k to 8.1k msgs/s with the writer off this
// thread). The embedded store stays in this thread: DuckDB is opened once per process, and the API reads it here.
// Both wire the spool writer and the cockpit engine with wireWriter.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MetricsSnapshot, ServiceMetrics } from '../observability/metrics.ts';
import { CockpitMaintainer, type RollupStrategy } from '../cockpit/maintainer.ts';
import type { Spool, SpoolSource } from '../spool/spool.ts';
import { SharedSpoolEnd } from '../spool/shared-end.ts';
import type { TelemetryStore } from '../store/telemetry-store.ts';
import { SpoolWriter } from './writer.ts';
import type { FromWriterThread, ToWriterThread, WriterThreadData } from './writer-thread.ts';

/** The store writer as the rest of the service sees it, wherever it runs. */
export interface StoreWriter {
  /** true while the last store write succeeded (readiness) */
  readonly storeHealthy: boolean;
  readonly lastStoreError: string | undefined;
  /** Resolves true once everything spooled so far is stored and in the cockpit tables, false after `timeoutMs`. */
  drained(timeoutMs?: number): Promise<boolean>;
  /** Stop after the current batch; with `drainMs`, first keep writing until the spool is empty or time is up. */
  stop(drainMs?: number): Promise<void>;
  readonly rollupStrategy: RollupStrategy;
}

/** The store writer's and the cockpit engine's settings (VC_STORE_* and VC_ROLLUP_* in services/config.ts). */
export interface WriterSettings {
  strategy: RollupStrategy;
  /** recompute strategy: recount every changed minute once more this long after (ms) */
  settleMs?: number;
  batchBytes: number;
  flushMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  rollupFlushMs: number;
  rollupFactsFlushMs: number;
  rollupMemoryKeys?: number;
}

interface WriterSetup {
  spool: Spool;
  store: TelemetryStore;
  metrics: ServiceMetrics;
  logger: Logger;
  settings: WriterSettings;
}

/** The spool writer and the cockpit engine of one store, wherever they run. */
export interface WiredWriter {
  writer: SpoolWriter;
  rollups: CockpitMaintainer;
  /** Write everything the cockpit engine holds, the facts of minutes still open included. */
  flushRollups(): Promise<void>;
  /** Stop after the current batch (with `drainMs`, first keep writing until the spool is empty or time is up), then the cockpit engine. */
  stop(drainMs: number): Promise<void>;
}

/**
 * The spool writer and the cockpit engine, wired the same way wherever they run: the spool checkpoint moves past a
 * batch only once the store confirmed it and the cockpit tables hold what it changed.
 */
export function wireWriter(parts: { spool: SpoolSource; store: TelemetryStore; metrics: ServiceMetrics; logger: Logger; settings: WriterSettings }): WiredWriter {
  const { spool, store, metrics, logger, settings } = parts;
  store.writeObserver = (table, rows, bytes) => metrics.observeWrites(table, rows, bytes);
  const memory = store.memory?.bind(store);
  if (memory) metrics.storeMemoryFrom(memory);
  const rollups = new CockpitMaintainer({
    tables: store.cockpit,
    logger,
    metrics,
    strategy: settings.strategy,
    settleMs: settings.settleMs,
    flushMs: settings.rollupFlushMs,
    factsFlushMs: settings.rollupFactsFlushMs,
    memoryKeys: settings.rollupMemoryKeys,
  });
  const writer = new SpoolWriter({
    spool,
    store,
    metrics,
    logger,
    batchBytes: settings.batchBytes,
    flushMs: settings.flushMs,
    retryMinMs: settings.retryMinMs,
    retryMaxMs: settings.retryMaxMs,
    beforeWrite: (samples) => rollups.prepare(samples),
    onStored: (samples) => rollups.track(samples),
    onCaughtUp: () => rollups.flushSoon(),
  });
  rollups.start();
  writer.start();
  return {
    writer,
    rollups,
    flushRollups: () => rollups.flush(true),
    async stop(drainMs) {
      await writer.stop(drainMs);
      await rollups.stop();
    },
  };
}

/** The writer in this thread (embedded store). */
export function startWriterHere(setup: WriterSetup): StoreWriter {
  const wired = wireWriter(setup);
  const { writer } = wired;
  return {
    get storeHealthy() {
      return writer.storeHealthy;
    },
    get lastStoreError() {
      return writer.lastStoreError;
    },
    rollupStrategy: setup.settings.strategy,
    async drained(timeoutMs) {
      if (!(await writer.drained(timeoutMs))) return false;
      await wired.flushRollups();
      return true;
    },
    stop: (drainMs = 0) => wired.stop(drainMs),
  };
}

/** Resolves once the spool holds nothing unstored, or false at the deadline. */
async function spoolDrained(spool: Spool, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (spool.pendingBytes > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

const RESTART_MS = 1_000;
/**
 * How long a scrape waits for the thread's metrics. A thread too busy to answer (a long store write, a major GC) is
 * shown as of its last answer: without it, its counters would read 0 and then jump back, which Prometheus takes for
 * a restart (rate() counts the whole value again) and gauges such as the spool's pending bytes would read 0.
 */
const METRICS_TIMEOUT_MS = 2_000;

/** The writer in its own thread (a store it can open, InfluxDB), supervised: a thread that dies is started again from the checkpoint. */
export class WriterThread implements StoreWriter {
  private worker: Worker | undefined;
  private status: { storeHealthy: boolean; lastStoreError?: string } = { storeHealthy: true };
  /** where the spool's files end, for the thread (it outlives a thread that dies) */
  private readonly end: SharedSpoolEnd;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private nextMetricsId = 0;
  private readonly metricsWaiters = new Map<number, (snapshot: MetricsSnapshot | undefined) => void>();
  /** the thread's last answer (shown while it does not answer in time) */
  private lastMetrics: MetricsSnapshot | undefined;
  private readonly flushWaiters = new Map<number, (ok: boolean) => void>();

  constructor(
    private readonly setup: WriterSetup & { data: Omit<WriterThreadData, 'checkpoint' | 'end' | 'settings'> },
  ) {
    this.end = new SharedSpoolEnd(setup.spool.writePosition);
    setup.spool.followedBy((end) => this.end.publish(end));
    setup.metrics.addSource(() => this.metricsSnapshot());
    this.spawn();
  }

  get storeHealthy(): boolean {
    return this.status.storeHealthy;
  }

  get lastStoreError(): string | undefined {
    return this.status.lastStoreError;
  }

  get rollupStrategy(): RollupStrategy {
    return this.setup.settings.strategy;
  }

  async drained(timeoutMs = 30_000): Promise<boolean> {
    if (!(await spoolDrained(this.setup.spool, timeoutMs))) return false;
    // the facts of open minutes too: ask the thread for a round that writes everything
    const id = ++this.nextMetricsId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.flushWaiters.delete(id);
        resolve(false);
      }, timeoutMs);
      this.flushWaiters.set(id, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      if (!this.worker) this.flushWaiters.get(id)!(false);
      else this.post({ type: 'flush', id });
    });
  }

  stop(drainMs = 0): Promise<void> {
    this.stopping = true;
    this.stopped ??= new Promise<void>((resolve) => {
      const worker = this.worker;
      if (!worker) return resolve();
      // a thread that does not answer is ended: what it had not stored is replayed at the next start
      const timer = setTimeout(() => void worker.terminate(), drainMs + 15_000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'stop', drainMs });
    });
    return this.stopped;
  }

  private spawn(): void {
    const { spool, logger } = this.setup;
    const data: WriterThreadData = {
      ...this.setup.data,
      checkpoint: spool.checkpointPosition,
      end: this.end.buffer,
      settings: this.setup.settings,
    };
    const worker = new Worker(new URL('./writer-thread-entry.mjs', import.meta.url), {
      workerData: data,
      // V8's own young generation (semi-spaces of up to 16 MB here). 192 MB (2026-12-05) cut the scavenges of a day's
      // history catch-up from 31 to 23% of this thread but not its time (95 s with it, 85 s without, one run each), and
      // a steady load grew it step by step to 64 MB a semi-space, RSS with it (docs/chaos.md#soak)
    });
    this.worker = worker;
    worker.on('message', (message: FromWriterThread) => this.receive(message));
    worker.on('error', (err) => logger.error({ event: 'writer_thread_failed', err: err.message }, 'the store writer thread failed'));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [, done] of this.metricsWaiters) done(undefined);
      this.metricsWaiters.clear();
      for (const [, done] of this.flushWaiters) done(false);
      this.flushWaiters.clear();
      if (this.stopping) return;
      // nothing is lost: every record it did not report stored is still in the spool, past the checkpoint
      logger.error({ event: 'writer_thread_exited', code }, 'the store writer thread exited; starting it again from the checkpoint');
      this.status = { storeHealthy: false, lastStoreError: `writer thread exited (${code})` };
      setTimeout(() => {
        if (!this.stopping) this.spawn();
      }, RESTART_MS).unref();
    });
  }

  private receive(message: FromWriterThread): void {
    switch (message.type) {
      case 'commit':
        this.setup.spool.commit(message.position);
        break;
      case 'status':
        this.status = { storeHealthy: message.storeHealthy, lastStoreError: message.lastStoreError };
        break;
      case 'metrics':
        this.metricsWaiters.get(message.id)?.(message.snapshot as MetricsSnapshot);
        this.metricsWaiters.delete(message.id);
        break;
      case 'flushed':
        this.flushWaiters.get(message.id)?.(message.ok);
        this.flushWaiters.delete(message.id);
        break;
      case 'stopped':
        break;
    }
  }

  private post(message: ToWriterThread): void {
    this.worker?.postMessage(message);
  }

  private metricsSnapshot(): Promise<MetricsSnapshot | undefined> {
    if (!this.worker) return Promise.resolve(this.lastMetrics);
    const id = ++this.nextMetricsId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.metricsWaiters.delete(id);
        resolve(this.lastMetrics);
      }, METRICS_TIMEOUT_MS);
      this.metricsWaiters.set(id, (snapshot) => {
        clearTimeout(timer);
        if (snapshot) this.lastMetrics = snapshot;
        resolve(snapshot ?? this.lastMetrics);
      });
      this.post({ type: 'metrics', id });
    });
  }
}
