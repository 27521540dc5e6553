// The composition root: wires store, metadata database, spool, registry, twins, ingest (embedded broker or external
// subscription), the batch writer and the HTTP API, and stops them in the right order (stop acking, drain, close).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApi } from './api/app.ts';
import { principalResolver, resolveAdminToken, tokenMatcher, type AdminToken } from './api/auth.ts';
import type { Readiness } from './api/context.ts';
import { EmbeddedBroker } from './broker/embedded-broker.ts';
import { MosquittoDynsec } from './broker/mosquitto-dynsec.ts';
import type { ServiceConfig } from './config.ts';
import { MqttSubscriber } from './ingest/mqtt-subscriber.ts';
import { IngestPipeline } from './ingest/pipeline.ts';
import { startWriterHere, WriterThread, type StoreWriter, type WriterSettings } from './ingest/writer-host.ts';
import { CockpitReader } from './cockpit/reader.ts';
import { createLogger } from './observability/logger.ts';
import { ServiceMetrics } from './observability/metrics.ts';
import { redact } from './observability/redact.ts';
import { VehicleRegistry } from './registry/registry.ts';
import { Spool } from './spool/spool.ts';
import { metadataDir, openMetadataStore, type MetadataStore } from './store/metadata.ts';
import { openableInAnyThread, openTelemetryStore, type StoreSettings } from './store/open.ts';
import { StoreAccessError, type TelemetryStore } from './store/telemetry-store.ts';
import { TenantDirectory } from './tenants/tenants.ts';
import { TwinRegistry } from './twin/twin.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** How often a process picks up vehicles registered through other processes (its list views; a lookup is at once). */
export const REGISTRY_REFRESH_MS = 10_000;

export interface RunningService {
  config: ServiceConfig;
  adminToken: AdminToken;
  /** base URL of the HTTP API, e.g. http://127.0.0.1:3000 */
  apiUrl: string;
  /** the broker vehicles connect to: the embedded one, or VC_MQTT_URL */
  mqttUrl: string;
  api: FastifyInstance;
  store: TelemetryStore;
  /** vehicles, tenants and tokens */
  metadata: MetadataStore;
  writer: StoreWriter;
  spool: Spool;
  logger: Logger;
  stop(): Promise<void>;
}

/**
 * VC_STORE_FLUSH_MS when unset. DuckDB spends about 12 ms of CPU on a write whatever its size (docs/benchmarks.md), so the
 * embedded store's writes wait a second to fill; InfluxDB's cost a write is small, and its 500 ms keep queries fresher.
 */
export function storeFlushDefault(kind: StoreSettings['kind']): number {
  return kind === 'embedded' ? 1_000 : 500;
}

/** The telemetry store's settings, for the service's store and its writer thread's: InfluxDB when configured, else embedded. */
function storeSettings(config: ServiceConfig): StoreSettings {
  if (!config.influxUrl) return { kind: 'embedded', embedded: { dir: join(config.dataDir, 'store'), threads: config.embeddedThreads } };
  return {
    kind: 'influx',
    influx: {
      url: config.influxUrl,
      database: config.influxDb,
      token: config.influxToken,
      username: config.influxUsername,
      password: config.influxPassword,
      retention: { raw: config.influxRetentionRaw, rollups: config.influxRetentionRollups },
      writeChunkLines: config.influxWriteChunkLines,
      gzipBytes: config.influxGzipBytes,
      timeoutMs: config.influxTimeoutMs,
    },
  };
}

export function createStore(config: ServiceConfig, logger: Logger): Promise<TelemetryStore> {
  return openTelemetryStore(storeSettings(config), logger);
}

/**
 * Retry `open` until it succeeds: the service cannot check VINs without its databases, so it does not ingest before.
 * Refused credentials or a missing privilege (StoreAccessError) end the start at once: waiting would not fix them.
 */
async function whenReachable<T>(what: { event: string; kind: string }, open: () => Promise<T>, logger: Logger): Promise<T> {
  for (let attempt = 1, delay = 250; ; attempt++, delay = Math.min(delay * 2, 5_000)) {
    try {
      return await open();
    } catch (err) {
      if (err instanceof StoreAccessError) throw err;
      logger.warn({ event: what.event, store: what.kind, attempt, err: err instanceof Error ? err.message : String(err) }, `${what.kind} not reachable yet; retrying`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export async function startService(config: ServiceConfig, options: { logger?: Logger } = {}): Promise<RunningService> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const adminToken = resolveAdminToken(config.adminToken, config.dataDir);
  const isAdmin = tokenMatcher(adminToken.token);
  const metrics = new ServiceMetrics();

  const where = storeSettings(config);
  const store = await openTelemetryStore(where, logger);
  try {
    await whenReachable({ event: 'store_unavailable', kind: store.kind }, () => store.init(), logger);
  } catch (err) {
    await store.close();
    throw err;
  }
  const metadata = await whenReachable(
    { event: 'metadata_unavailable', kind: config.databaseUrl ? 'postgres' : 'duckdb' },
    () => openMetadataStore({ databaseUrl: config.databaseUrl, dir: metadataDir(config.dataDir), logger }),
    logger,
  ).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  if (config.influxUrl && !config.databaseUrl) {
    logger.warn({ event: 'metadata_private', location: metadata.location }, 'vehicles and tenants are in this process\'s own file: other processes over this InfluxDB do not see them (set VC_DATABASE_URL to share them)');
  }
  // With VC_MQTT_DYNSEC the service administers Mosquitto: every registration creates the vehicle's broker account.
  const dynsec = config.mqttDynsec && config.mqttUrl
    ? new MosquittoDynsec({ url: config.mqttUrl, username: config.mqttUsername ?? '', password: config.mqttPassword ?? '', logger })
    : undefined;
  const registry = new VehicleRegistry(metadata.vehicles, dynsec);
  const tenants = new TenantDirectory({ tenants: metadata.tenants });
  const vehicles = await registry.load();
  const registryRefresh = setInterval(() => {
    registry.refresh().catch((err: unknown) => logger.warn({ event: 'registry_refresh_failed', err: String(err) }));
  }, REGISTRY_REFRESH_MS);
  registryRefresh.unref();
  const twins = new TwinRegistry((vin) => store.latest(vin));
  const spool = Spool.open({ dir: join(config.dataDir, 'spool'), maxBytes: config.spoolMaxBytes, fsync: config.spoolFsync, onWriteError: () => metrics.spoolWriteErrors.inc() });
  if (spool.pendingBytes > 0) logger.info({ event: 'spool_replay', bytes: spool.pendingBytes }, 'replaying spooled records not yet confirmed by the store');
  const pipeline = new IngestPipeline({ spool, registry, twins, metrics });
  // The store's only writer counts rollups in memory; several writers must recount them from the raw samples.
  const writers = config.storeWriters ?? (config.mqttShareGroup ? 'many' : 'one');
  const settings: WriterSettings = {
    strategy: writers === 'one' ? 'incremental' : 'recompute',
    settleMs: writers === 'many' ? 2_000 : undefined,
    batchBytes: config.storeBatchBytes,
    flushMs: config.storeFlushMs ?? storeFlushDefault(where.kind),
    retryMinMs: config.storeRetryMinMs,
    retryMaxMs: config.storeRetryMaxMs,
    rollupFlushMs: config.rollupFlushMs,
    rollupFactsFlushMs: config.rollupFactsFlushMs,
    rollupMemoryKeys: config.rollupMemoryKeys,
  };
  const writerSetup = { spool, store, metrics, logger, settings };
  // in its own thread when the store can be opened there: writing then uses another core than MQTT ingestion
  const writer: StoreWriter = openableInAnyThread(where)
    ? new WriterThread({ ...writerSetup, data: { spoolDir: spool.dir, logLevel: logger.level, store: where } })
    : startWriterHere(writerSetup);

  let broker: EmbeddedBroker | undefined;
  let subscriber: MqttSubscriber | undefined;
  let mqttUrl: string;
  if (config.mqttUrl) {
    subscriber = new MqttSubscriber({
      url: config.mqttUrl,
      username: config.mqttUsername,
      password: config.mqttPassword,
      clientId: config.mqttClientId,
      shareGroup: config.mqttShareGroup,
      receiveMaximum: config.mqttReceiveMaximum,
      pipeline,
      logger,
    });
    const ingest = subscriber;
    // with dynsec, subscribe only once the ingest role is in place (a refused subscription is not retried)
    (dynsec ? dynsec.start().then(() => ingest.start()) : ingest.start()).catch((err: unknown) =>
      logger.error({ event: 'mqtt_subscribe_failed', err: String(err) }, 'cannot subscribe to the external broker'),
    );
    mqttUrl = config.mqttUrl;
  } else {
    broker = await EmbeddedBroker.start({ host: config.host, port: config.mqttPort, pipeline, registry, adminTokenMatches: isAdmin, logger });
    mqttUrl = `mqtt://${config.host}:${broker.port}`;
  }

  const brokerUrl = config.mqttPublicUrl ?? withoutCredentials(mqttUrl);

  const readiness = async (): Promise<Readiness> => {
    const checks: Readiness['checks'] = {};
    checks.broker = broker ? { ok: true, detail: 'embedded' } : { ok: subscriber?.connected === true, detail: redact(config.mqttUrl ?? '') };
    if (dynsec) checks.dynsec = dynsec.healthy ? { ok: true } : { ok: false, detail: 'dynamic security not set up (see the log)' };
    try {
      await store.ping();
      checks.store = writer.storeHealthy ? { ok: true, detail: store.kind } : { ok: false, detail: `last write failed: ${writer.lastStoreError ?? 'unknown'}` };
    } catch (err) {
      checks.store = { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
    try {
      await metadata.ping();
      checks.metadata = { ok: true, detail: metadata.kind };
    } catch (err) {
      checks.metadata = { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
    const refused = spool.lastWriteError;
    checks.spool = refused
      ? { ok: false, detail: `the disk refused the last spool write (${refused.message.slice(0, 120)}): nothing is acknowledged until it takes writes again` }
      : spool.hasRoom
        ? { ok: true }
        : { ok: false, detail: 'spool full: ingestion is pushing back' };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  };

  const api = await buildApi(
    { store, cockpit: new CockpitReader(store.cockpit, { cacheBytes: config.cockpitCacheMb * 1024 ** 2 }), registry, twins, pipeline, metrics, resolvePrincipal: principalResolver(isAdmin, tenants), isAdminToken: isAdmin, tenants, rateLimit: { perMinute: config.rateLimit, ingestPerMinute: config.rateLimitIngest }, ingestHasRoom: () => spool.hasRoom, readiness, metricsToken: config.metricsToken, brokerUrl, version: VERSION },
    logger,
  );
  await api.listen({ host: config.host, port: config.httpPort });
  const address = api.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
  const apiUrl = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${httpPort}`;
  logger.info({ event: 'service_started', apiUrl, mqtt: redact(mqttUrl), store: store.kind, metadata: metadata.location, storeWriters: writers, rollups: writer.rollupStrategy, writerThread: writer instanceof WriterThread, vehicles, dataDir: config.dataDir }, 'vehicle-cloud is running');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ event: 'service_stopping' }, 'stopping: no new acks, draining the spool');
      clearInterval(registryRefresh);
      await api.close();
      await subscriber?.close();
      await dynsec?.close();
      await broker?.close();
      await writer.stop(5_000);
      spool.close();
      await store.close();
      await metadata.close();
      metrics.close();
      logger.info({ event: 'service_stopped', spoolPendingBytes: spool.pendingBytes }, 'stopped');
    })();
    return stopping;
  };

  return { config, adminToken, apiUrl, mqttUrl, api, store, metadata, writer, spool, logger, stop };
}

/** A broker URL fit to hand out: without the service's own username and password. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}
