// The InfluxDB backend of the telemetry store: telemetry, dead letters and the cockpit tables over one client
// (client.ts), raw points in the raw retention policy and the cockpit tables in `vc_rollups` (retention.ts).
import { ComposedStore, StoreAccessError } from '../telemetry-store.ts';
import { InfluxClient, type InfluxClientOptions } from './client.ts';
import { InfluxCockpitTables } from './cockpit-tables.ts';
import { InfluxDeadLetters } from './dead-letters.ts';
import { identifier } from './lines.ts';
import { ADMIN_ONLY, ensureRetention, policyWishes, RAW_POLICY, ROLLUPS_POLICY, type RetentionSettings } from './retention.ts';
import { InfluxTelemetry } from './telemetry.ts';

export interface InfluxStoreOptions extends InfluxClientOptions {
  /** retention policies (retention.ts): raw telemetry and dead letters in `vc_raw`, cockpit tables in `vc_rollups` */
  retention?: RetentionSettings;
}

export class InfluxStore extends ComposedStore {
  readonly kind = 'influx' as const;
  private readonly client: InfluxClient;

  constructor(private readonly options: InfluxStoreOptions) {
    const retention = options.retention ?? {};
    // a bad setting fails here, not at init or at the first write
    policyWishes(retention);
    const client = new InfluxClient(options);
    // raw telemetry and dead letters in `vc_raw`, or in the database's default policy when no raw retention is set
    const rawPolicy = retention.raw === undefined ? undefined : RAW_POLICY;
    super({
      telemetry: new InfluxTelemetry(client, rawPolicy, options.logger),
      deadLetters: new InfluxDeadLetters(client, rawPolicy),
      cockpit: new InfluxCockpitTables(client, ROLLUPS_POLICY, rawPolicy),
      observed: client,
    });
    this.client = client;
  }

  /**
   * Create the database and the retention policies, or, for a user that is no InfluxDB admin (the service's own user
   * in docker-compose, deploy/influxdb/), check that an admin made them as configured: else a StoreAccessError says
   * what to run as admin.
   */
  async init(): Promise<void> {
    const create = `CREATE DATABASE ${identifier(this.client.database)}`;
    try {
      await this.client.query([create]);
    } catch (err) {
      if (!(err instanceof StoreAccessError) || !ADMIN_ONLY.test(err.message)) throw err;
      if (!(await this.client.databases()).includes(this.client.database)) {
        throw new StoreAccessError(`${err.message}; the database is missing or not granted to this user: as an InfluxDB admin, run ${create} and GRANT ALL ON ${identifier(this.client.database)} TO <the service's user>`, { cause: err });
      }
    }
    await ensureRetention(this.client, this.client.database, this.options.retention ?? {}, this.options.logger);
    this.options.logger?.info({ database: this.client.database }, 'influx database ready');
  }

  ping(): Promise<void> {
    return this.client.ping();
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
