// The metadata database: vehicles, tenants and tokens, apart from the telemetry store (whose retention policies
// must never reach them). PostgreSQL when VC_DATABASE_URL is set (shared by every process of a deployment),
// otherwise an embedded DuckDB file under VC_DATA_DIR (one process). Opening it applies the schema migrations.
import { join } from 'node:path';
import { openDuckDbMetadata } from './duckdb/duckdb-metadata.ts';
import { openPostgresMetadata } from './postgres/postgres-metadata.ts';
import type { SqlDatabase } from './sql/client.ts';
import { migrate } from './sql/migrate.ts';
import { metadataMigrations } from './sql/schema.ts';
import { SqlTenantRepository } from './sql/tenants.ts';
import { SqlVehicleRepository } from './sql/vehicles.ts';
import { StoreAccessError, type StoreLogger } from './telemetry-store.ts';
import type { TenantRepository } from './tenants.ts';
import type { VehicleRepository } from './vehicles.ts';

export interface MetadataStore {
  readonly kind: 'postgres' | 'duckdb';
  /** the file, or the URL with its password redacted */
  readonly location: string;
  readonly vehicles: VehicleRepository;
  readonly tenants: TenantRepository;
  /** Throws when the database cannot be reached now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface MetadataOptions {
  /** postgres://...: PostgreSQL; unset: the DuckDB file in `dir` */
  databaseUrl?: string;
  /** where the embedded file lives (VC_DATA_DIR/store) */
  dir: string;
  logger?: StoreLogger;
}

/** SQLSTATEs of a refused login (28000, 28P01) or a missing privilege (42501). */
const POSTGRES_ACCESS_REFUSED = new Set(['28000', '28P01', '42501']);

/** Open the database and bring its schema up to date; on failure nothing stays open. */
export async function openMetadataStore(options: MetadataOptions): Promise<MetadataStore> {
  const { logger } = options;
  const db: SqlDatabase = options.databaseUrl
    ? openPostgresMetadata({ url: options.databaseUrl, onError: (err) => logger?.warn({ event: 'metadata_connection_lost', err: err.message }, 'a PostgreSQL connection was closed; the next query reconnects') })
    : await openDuckDbMetadata(options.dir);
  try {
    const applied = await db.transaction(async (tx) => {
      await db.lockForMigrations(tx);
      return migrate(tx, metadataMigrations(db.kind));
    });
    logger?.info({ event: 'metadata_opened', kind: db.kind, location: db.location, migrationsApplied: applied }, 'metadata database ready');
  } catch (err) {
    await db.close().catch(() => undefined);
    const code = (err as { code?: unknown }).code;
    // a refused password or a missing privilege: retrying would not help (services/service.ts stops the start)
    if (typeof code === 'string' && POSTGRES_ACCESS_REFUSED.has(code)) {
      throw new StoreAccessError(`PostgreSQL refused the user of VC_DATABASE_URL (${code}: ${(err as Error).message}): check its password (VC_DATABASE_PASSWORD) and that it owns its database`, { cause: err });
    }
    throw err;
  }
  return {
    kind: db.kind,
    location: db.location,
    vehicles: new SqlVehicleRepository(db),
    tenants: new SqlTenantRepository(db),
    ping: () => db.ping(),
    close: () => db.close(),
  };
}

/** The embedded file's folder for a data dir: beside the embedded telemetry store's file, never inside it. */
export const metadataDir = (dataDir: string): string => join(dataDir, 'store');
