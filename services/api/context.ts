// What the HTTP API needs from the rest of the service. The API imports twin, registry, cockpit, store and ingest,
// never the other way round.
import type { PrincipalResolver } from './auth.ts';
import type { CockpitReader } from '../cockpit/reader.ts';
import type { IngestPipeline } from '../ingest/pipeline.ts';
import type { ServiceMetrics } from '../observability/metrics.ts';
import type { VehicleRegistry } from '../registry/registry.ts';
import type { TelemetryStore } from '../store/telemetry-store.ts';
import type { TenantDirectory } from '../tenants/tenants.ts';
import type { TwinRegistry } from '../twin/twin.ts';

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface ApiContext {
  store: TelemetryStore;
  /** cockpit questions, answered from the cockpit tables */
  cockpit: CockpitReader;
  registry: VehicleRegistry;
  twins: TwinRegistry;
  pipeline: IngestPipeline;
  metrics: ServiceMetrics;
  /** bearer token -> caller (admin or tenant) */
  resolvePrincipal: PrincipalResolver;
  /** constant-time check of the admin token, synchronous (rate-limit keys) */
  isAdminToken: (token: string) => boolean;
  /** automaker tenants and their tokens */
  tenants: TenantDirectory;
  /** requests per minute: per token on the API, per credential on HTTP ingest; 0 = unlimited */
  rateLimit: { perMinute: number; ingestPerMinute: number };
  /** true while the spool can take more (HTTP ingest answers 503 otherwise) */
  ingestHasRoom: () => boolean;
  readiness: () => Promise<Readiness>;
  metricsToken?: string;
  /** the MQTT broker a registration answer tells vehicles to publish to (never with credentials) */
  brokerUrl: string;
  version: string;
}
