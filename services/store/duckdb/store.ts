// The embedded backend of the telemetry store: telemetry, dead letters and the cockpit tables in one DuckDB file
// under VC_DATA_DIR (connection.ts), no server to run. Writes share one connection and its staging tables, so they
// are serialized; reads use their own connection and see committed data only, so a long write never blocks a query.
import { ComposedStore, type StoreLogger } from '../telemetry-store.ts';
import { DuckDbCockpitTables } from './cockpit-tables.ts';
import { DuckDbFile, transaction } from './connection.ts';
import { DuckDbDeadLetters } from './dead-letters.ts';
import { DuckDbTelemetry } from './telemetry.ts';

export interface EmbeddedStoreOptions {
  /** Directory holding `telemetry.duckdb`; created if missing. */
  dir: string;
  /**
   * Threads DuckDB runs queries on (VC_EMBEDDED_THREADS), default 1: measured on 2 cores, a service storing 50
   * samples a second spent 7.2 % of a core in DuckDB with 1 thread and 10.9 % with 2; large scans are slower with 1.
   */
  threads?: number;
  logger?: StoreLogger;
}

export const DATABASE_FILE = 'telemetry.duckdb';

export class EmbeddedStore extends ComposedStore {
  readonly kind = 'embedded' as const;
  private initialized: Promise<void> | undefined;

  private constructor(
    private readonly file: DuckDbFile,
    private readonly resources: { telemetry: DuckDbTelemetry; deadLetters: DuckDbDeadLetters; cockpit: DuckDbCockpitTables },
    private readonly logger: StoreLogger | undefined,
  ) {
    super({ ...resources, observed: file });
  }

  static async open(options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    // DuckDB's threads: its per-statement overhead grows with them, and the service has other work for a core
    const file = await DuckDbFile.open({ dir: options.dir, name: DATABASE_FILE, what: 'embedded store', config: { threads: String(options.threads ?? 1) }, readConnection: true });
    const { logger } = options;
    logger?.info({ file: file.location }, 'embedded store opened');
    return new EmbeddedStore(file, { telemetry: new DuckDbTelemetry(file, logger), deadLetters: new DuckDbDeadLetters(file), cockpit: new DuckDbCockpitTables(file, logger) }, logger);
  }

  init(): Promise<void> {
    this.initialized ??= this.file.write((db) =>
      transaction(db, async () => {
        for (const resource of Object.values(this.resources)) await resource.createTables(db);
      }),
    );
    // A failed init may be retried (e.g. the disk was full): forget it.
    this.initialized.catch(() => {
      this.initialized = undefined;
    });
    return this.initialized;
  }

  async ping(): Promise<void> {
    await this.file.write((db) => db.run('SELECT 1'));
  }

  /** DuckDB's memory for this store by tag, in bytes (duckdb_memory()). */
  memory(): Promise<Record<string, number>> {
    return this.file.memory();
  }

  async close(): Promise<void> {
    if (await this.file.close()) this.logger?.info({ file: this.file.location }, 'embedded store closed');
  }
}
