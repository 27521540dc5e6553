// Opening the telemetry store a service is configured with: InfluxDB when a URL is set, else the embedded DuckDB file.
// The settings are plain data, so that the store writer's thread (services/ingest/writer-thread.ts) opens the same
// store from them as the service's thread does.
import { EmbeddedStore, type EmbeddedStoreOptions } from './duckdb/store.ts';
import { InfluxStore, type InfluxStoreOptions } from './influx/store.ts';
import type { StoreLogger, TelemetryStore } from './telemetry-store.ts';

export type StoreSettings =
  | { kind: 'influx'; influx: Omit<InfluxStoreOptions, 'logger'> }
  | { kind: 'embedded'; embedded: Omit<EmbeddedStoreOptions, 'logger'> };

export async function openTelemetryStore(settings: StoreSettings, logger?: StoreLogger): Promise<TelemetryStore> {
  return settings.kind === 'influx' ? new InfluxStore({ ...settings.influx, logger }) : EmbeddedStore.open({ ...settings.embedded, logger });
}

/** Whether another thread of this process may open the store too: a server may be; DuckDB opens a file once per process. */
export const openableInAnyThread = (settings: StoreSettings): boolean => settings.kind === 'influx';
