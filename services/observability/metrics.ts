// Prometheus metrics about the pipeline itself (ingest rates, rejects by reason, spool depth, store write
// latency, event-loop lag). One registry per service instance, so several services can share a process (tests).
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { EVENT_LOOP_METRICS, eventLoopDelayGauges } from './event-loop.ts';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly messages = new Counter({
    name: 'vc_ingest_messages_total',
    help: 'Telemetry messages received, by transport (mqtt, http)',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly samplesAccepted = new Counter({
    name: 'vc_ingest_samples_accepted_total',
    help: 'Samples accepted (spooled, then stored)',
    registers: [this.registry],
  });
  readonly rejects = new Counter({
    name: 'vc_ingest_rejects_total',
    help: 'Rejected messages or samples (dead letters), by reason code',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly spoolPendingBytes = new Gauge({
    name: 'vc_spool_pending_bytes',
    help: 'Bytes in the spool not yet confirmed by the store',
    registers: [this.registry],
  });
  readonly spoolWriteErrors = new Counter({
    name: 'vc_spool_write_errors_total',
    help: 'Spool writes the disk refused (disk full, I/O error): those messages were not acknowledged',
    registers: [this.registry],
  });
  readonly backpressure = new Counter({
    name: 'vc_ingest_backpressure_total',
    help: 'Times ingestion held acks because the spool was full',
    registers: [this.registry],
  });
  readonly storeWriteSeconds = new Histogram({
    name: 'vc_store_write_seconds',
    help: 'Latency of one confirmed store write batch',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly storeWriteErrors = new Counter({
    name: 'vc_store_write_errors_total',
    help: 'Failed store write attempts (retried)',
    registers: [this.registry],
  });
  readonly samplesStored = new Counter({
    name: 'vc_store_samples_written_total',
    help: 'Samples confirmed by the store',
    registers: [this.registry],
  });
  readonly storeRowsWritten = new Counter({
    name: 'vc_store_rows_written_total',
    help: 'Rows (InfluxDB points) written to the store, by table: telemetry, dead_letters, cockpit_series, cockpit_facts, cockpit_seals',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly storeBytesWritten = new Counter({
    name: 'vc_store_bytes_written_total',
    help: 'Bytes written to the store, by table (InfluxDB: line protocol; embedded: 8 bytes a number, strings by length)',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly storeLagSeconds = new Gauge({
    name: 'vc_store_lag_seconds',
    help: 'Age of the oldest spooled record not yet confirmed by the store',
    registers: [this.registry],
  });

  /** Where vc_store_memory_bytes comes from: the embedded store's DuckDB (storeMemoryFrom), none in InfluxDB mode. */
  private storeMemory: (() => Promise<Record<string, number>>) | undefined;
  readonly storeMemoryBytes = new Gauge({
    name: 'vc_store_memory_bytes',
    help: "Memory the embedded store's DuckDB holds, by its tag (duckdb_memory(): BASE_TABLE, ART_INDEX, IN_MEMORY_TABLE, ...); absent in InfluxDB mode",
    labelNames: ['tag'] as const,
    registers: [this.registry],
    collect: async () => {
      if (!this.storeMemory) return;
      const memory = await this.storeMemory().catch(() => undefined);
      this.storeMemoryBytes.reset();
      for (const [tag, bytes] of Object.entries(memory ?? {})) this.storeMemoryBytes.set({ tag }, bytes);
    },
  });

  /** Report a store's own memory at every scrape (the embedded store's DuckDB). */
  storeMemoryFrom(source: () => Promise<Record<string, number>>): void {
    this.storeMemory = source;
  }

  readonly rollupPendingKeys = new Gauge({
    name: 'vc_rollup_pending_keys',
    help: '(brand, model, minute) groups and sealed segments with changes not written yet; 0 means the cockpit covers everything stored (the per-vehicle facts of open minutes are written every VC_ROLLUP_FACTS_FLUSH_MS)',
    registers: [this.registry],
  });
  readonly rollupSealBacklog = new Gauge({
    name: 'vc_rollup_seal_backlog',
    help: 'Cockpit periods (10 minutes, hours, days) due to be sealed and not sealed yet, or whose sealed series sums are to be summed again after late data; until then, questions over them read finer facts or minutes (slower answers)',
    registers: [this.registry],
  });
  readonly rollupMemoryKeys = new Gauge({
    name: 'vc_rollup_memory_keys',
    help: 'Vehicle-minutes and per-vehicle facts of periods not sealed yet that the cockpit engine holds in memory (bounded: 400,000 by default)',
    registers: [this.registry],
  });
  readonly rollupRoundSeconds = new Histogram({
    name: 'vc_rollup_round_seconds',
    help: 'Latency of one cockpit rollup round (changed groups written, recounts, seals)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** What the store writes, per table (a store's writeObserver). */
  observeWrites(table: string, rows: number, bytes: number): void {
    this.storeRowsWritten.inc({ table }, rows);
    this.storeBytesWritten.inc({ table }, bytes);
  }

  readonly liveClientsDropped = new Counter({
    name: 'vc_live_clients_dropped_total',
    help: 'Live (SSE) clients dropped because they did not keep up',
    registers: [this.registry],
  });

  /** Metrics kept by other threads of this process (the store writer's), merged into `text()`. */
  private readonly sources: Array<() => Promise<MetricsSnapshot | undefined>> = [];

  /**
   * `processMetrics: false` in a worker thread: the process's CPU, memory and event loop are reported once, by the main thread.
   * `thread` names a worker thread whose own V8 heap is reported as vc_thread_heap_bytes (prom-client's nodejs_heap_* are the main thread's).
   */
  constructor(options: { processMetrics?: boolean; thread?: string } = {}) {
    if (options.thread !== undefined) {
      const thread = options.thread;
      new Gauge({
        name: 'vc_thread_heap_bytes',
        help: "A worker thread's V8 heap: used, committed (all spaces) and young (the new space's committed part), by thread",
        labelNames: ['thread', 'kind'] as const,
        registers: [this.registry],
        collect() {
          const heap = getHeapStatistics();
          this.set({ thread, kind: 'used' }, heap.used_heap_size);
          this.set({ thread, kind: 'committed' }, heap.total_heap_size);
          this.set({ thread, kind: 'young' }, getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0);
        },
      });
    }
    // process CPU/RSS/fds, heap, GC; the event-loop figures are replaced below
    if (options.processMetrics !== false) {
      // collectDefaultMetrics always starts its own event-loop monitor: at this precision it wakes once a minute,
      // and its gauges are replaced by ours (same names, event-loop.ts), which sample every 100 ms, not every 10
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 60_000 });
      for (const name of EVENT_LOOP_METRICS) this.registry.removeSingleMetric(name);
      this.stopEventLoop = eventLoopDelayGauges(this.registry);
      // Node's handle and request lists are walked whole at every scrape: with a vehicle per connection on the
      // embedded broker that is thousands of objects a scrape, for a debugging figure (process_open_fds stays).
      for (const name of ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_requests', 'nodejs_active_requests_total', 'nodejs_active_resources', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(name);
      }
      // the soak's leak check (docs/chaos.md#soak): one count, not a walk grouping every handle by its type
      new Gauge({
        name: 'vc_active_resources',
        help: 'Handles, requests and timers keeping the event loop alive (process.getActiveResourcesInfo().length)',
        registers: [this.registry],
        collect() {
          this.set(process.getActiveResourcesInfo().length);
        },
      });
    }
  }

  /** The event-loop monitor, when this registry has the process's metrics. */
  private stopEventLoop?: () => void;

  /** Stop what samples in the background (the event-loop monitor). The registry still answers. */
  close(): void {
    this.stopEventLoop?.();
    this.stopEventLoop = undefined;
  }

  addSource(source: () => Promise<MetricsSnapshot | undefined>): void {
    this.sources.push(source);
  }

  /** Every metric of this registry and every source as JSON (the same metric from several threads summed). */
  async snapshot(): Promise<MetricsSnapshot> {
    if (this.sources.length === 0) return this.registry.getMetricsAsJSON();
    const snapshots = [await this.registry.getMetricsAsJSON(), ...(await Promise.all(this.sources.map((s) => s())))].filter((m): m is MetricsSnapshot => m !== undefined);
    return AggregatorRegistry.aggregate(snapshots).getMetricsAsJSON();
  }

  /** Prometheus text of this registry and every source (the same metric from several threads is summed). */
  async text(): Promise<string> {
    if (this.sources.length === 0) return this.registry.metrics();
    const snapshots = [await this.registry.getMetricsAsJSON(), ...(await Promise.all(this.sources.map((s) => s())))].filter((m): m is MetricsSnapshot => m !== undefined);
    return AggregatorRegistry.aggregate(snapshots).metrics();
  }
}
