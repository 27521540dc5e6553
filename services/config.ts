// Runtime configuration (docs/operations.md, Configuration): fixed env names, validated once at start.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { resolve } from 'node:path';
import { DEFAULT_CACHE_MB } from './cockpit/reader.ts';
import { DEFAULT_TIMEOUT_MS, DEFAULT_WRITE_CHUNK_LINES } from './store/influx/client.ts';
import { MIN_RETENTION_MS, MIN_ROLLUPS_RETENTION_MS, parseRetention, retentionProblem } from './store/influx/retention.ts';

const port = z.coerce.number().int().min(0).max(65535);
const emptyAsUndefined = (v: unknown): unknown => (v === '' ? undefined : v);
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const MqttUrl = z.url().refine((url) => /^(mqtts?|tcp|ssl|tls):\/\//i.test(url), 'an MQTT broker URL: mqtt://host:port or mqtts://host:port');
/** An InfluxQL retention duration (`30d`, `4w`, `inf`) of at least `minimumMs`, kept as written. */
const retention = (minimumMs: number) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .superRefine((text, ctx) => {
        const problem = retentionProblem(text, minimumMs);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  );
/** A byte count, or `off` (Infinity: never); unset stays undefined, for a default that depends on the server. */
const bytesOrOff = z.preprocess(
  (v) => (v === Number.POSITIVE_INFINITY ? 'off' : emptyAsUndefined(v)),
  z
    .union([z.string().regex(/^off$/i).transform(() => Number.POSITIVE_INFINITY), z.coerce.number().int().min(0)], { error: 'a whole number of bytes, or off' })
    .optional(),
);
/** true/1/yes/on or false/0/no/off; anything else is an error, not false. */
const parseFlag = (v: unknown): unknown => {
  if (v === '') return undefined;
  if (typeof v === 'string' && /^(true|1|yes|on)$/i.test(v)) return true;
  if (typeof v === 'string' && /^(false|0|no|off)$/i.test(v)) return false;
  return v;
};

export const ConfigSchema = z.object({
  host: z.string().default('127.0.0.1'),
  httpPort: port.default(3000),
  mqttPort: port.default(1883),
  mqttUrl: z.preprocess(emptyAsUndefined, MqttUrl.optional()),
  /** the broker URL a registration answer gives vehicles; default: the embedded broker's, or VC_MQTT_URL without credentials */
  mqttPublicUrl: z.preprocess(emptyAsUndefined, MqttUrl.optional()),
  mqttUsername: optionalString,
  mqttPassword: optionalString,
  mqttClientId: z.string().max(23).default('vehicle-cloud-ingest'),
  /** MQTT 5 Receive Maximum of the ingest session: unacknowledged messages the broker may send at once */
  mqttReceiveMaximum: z.coerce.number().int().min(1).max(65535).default(1000),
  /** share the ingest subscription among N workers ($share/<group>/vehicles/+/telemetry) */
  mqttShareGroup: optionalString,
  /**
   * How many processes write telemetry to the store: `one` (this one; rollups are kept in memory) or `many`
   * (rollups are recomputed from the raw samples). Default: `many` with a share group, else `one`.
   */
  storeWriters: z.preprocess(emptyAsUndefined, z.enum(['one', 'many']).optional()),
  /** VC_MQTT_USERNAME/PASSWORD are a Mosquitto dynamic-security admin: create an account per registered vehicle */
  mqttDynsec: z.preprocess(parseFlag, z.boolean().default(false)),
  influxUrl: z.preprocess(emptyAsUndefined, z.url().optional()),
  /** PostgreSQL for vehicles, tenants and tokens, shared by every process; unset: a DuckDB file in the data dir */
  databaseUrl: z.preprocess(
    emptyAsUndefined,
    z
      .url()
      .refine((url) => /^postgres(ql)?:\/\/[^/]/i.test(url), 'a PostgreSQL URL: postgres://user:password@host:5432/database')
      .optional(),
  ),
  /** the password of VC_DATABASE_URL's user, for a URL that carries none (typically from VC_DATABASE_PASSWORD_FILE) */
  databasePassword: optionalString,
  influxDb: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'database names are letters, digits, _ . -').default('vehicle_cloud'),
  influxToken: optionalString,
  influxUsername: optionalString,
  influxPassword: optionalString,
  /** retention of raw telemetry and dead letters (policy vc_raw, made the default); unset: the database's default policy as it is */
  influxRetentionRaw: retention(MIN_RETENTION_MS),
  /** retention of the cockpit tables (policy vc_rollups); unset: created as inf when missing, else left as it is */
  influxRetentionRollups: retention(MIN_ROLLUPS_RETENTION_MS),
  /** lines per InfluxDB /write request (a batch goes in chunks, each awaited); a chunk must stay under influxd's 25 MB body limit */
  influxWriteChunkLines: z.coerce.number().int().min(1).max(50_000).default(DEFAULT_WRITE_CHUNK_LINES),
  /** InfluxDB request bodies above this many bytes are gzipped; unset: 64 KiB, but never for a server on loopback */
  influxGzipBytes: bytesOrOff,
  /** socket timeout of one InfluxDB request (ms); the store writer retries a write that timed out */
  influxTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(DEFAULT_TIMEOUT_MS),
  dataDir: z.string().default('./data'),
  adminToken: z.preprocess(emptyAsUndefined, z.string().min(16, 'VC_ADMIN_TOKEN must be at least 16 characters').optional()),
  metricsToken: optionalString,
  spoolMaxBytes: z.coerce.number().int().positive().default(1024 ** 3),
  /** threads DuckDB runs the embedded store's queries on */
  embeddedThreads: z.coerce.number().int().min(1).max(64).default(1),
  /** largest batch the store writer reads from the spool at once (spool bytes) */
  storeBatchBytes: z.coerce.number().int().min(64 * 1024).default(4 * 1024 ** 2),
  /** with no backlog, how long a batch may wait to fill before it is written (ms); unset: storeFlushDefault */
  storeFlushMs: z.coerce.number().int().min(0).max(60_000).optional(),
  /** backoff of a failed store write: first and longest wait (ms) */
  storeRetryMinMs: z.coerce.number().int().min(1).default(100),
  storeRetryMaxMs: z.coerce.number().int().min(1).default(5_000),
  /** how often changed cockpit series sums are written (ms); with several writers, how often changed minutes are recounted */
  rollupFlushMs: z.coerce.number().int().min(50).max(60_000).default(1_000),
  /** how often the per-vehicle facts of minutes still open are written at most (ms) */
  rollupFactsFlushMs: z.coerce.number().int().min(100).max(60_000).default(15_000),
  /** vehicle-minutes and per-vehicle facts of unsealed periods the cockpit engine holds in memory at most */
  rollupMemoryKeys: z.coerce.number().int().min(1_000).max(100_000_000).default(400_000),
  /** MiB of decoded cockpit facts and sums the API keeps between questions (services/cockpit/reader.ts) */
  cockpitCacheMb: z.coerce.number().int().min(0).max(65_536).default(DEFAULT_CACHE_MB),
  spoolFsync: z.enum(['always', 'interval', 'never']).default('interval'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** API requests per minute per token (per client address without a known token); 0 = unlimited */
  rateLimit: z.coerce.number().int().min(0).default(6000),
  /** HTTP ingest requests per minute per credential, counted apart from the API; 0 = unlimited */
  rateLimitIngest: z.coerce.number().int().min(0).default(60_000),
}).superRefine((config, ctx) => {
  if (config.storeWriters === 'one' && config.mqttShareGroup) {
    ctx.addIssue({ code: 'custom', path: ['storeWriters'], message: 'VC_MQTT_SHARE_GROUP means several ingest workers write to the store: use many (or leave it unset)' });
  }
  if (config.mqttShareGroup && !config.databaseUrl) {
    // each worker would have its own registry file: vehicles registered through one would be dead letters at the other
    ctx.addIssue({ code: 'custom', path: ['mqttShareGroup'], message: 'several ingest workers need one registry: set VC_DATABASE_URL (PostgreSQL)' });
  }
  if (config.storeRetryMaxMs < config.storeRetryMinMs) {
    ctx.addIssue({ code: 'custom', path: ['storeRetryMaxMs'], message: 'must be at least VC_STORE_RETRY_MIN_MS' });
  }
  const rawMs = config.influxRetentionRaw === undefined ? undefined : parseRetention(config.influxRetentionRaw);
  const rollupsMs = config.influxRetentionRollups === undefined ? undefined : parseRetention(config.influxRetentionRollups);
  if (rawMs !== undefined && rollupsMs !== undefined && rollupsMs < rawMs) {
    // the cockpit answers from the rollups: they must outlive the raw points they summarise
    ctx.addIssue({ code: 'custom', path: ['influxRetentionRollups'], message: 'must be at least VC_INFLUX_RETENTION_RAW (the cockpit answers from the rollups)' });
  }
  if (config.databasePassword !== undefined && !config.databaseUrl) {
    ctx.addIssue({ code: 'custom', path: ['databasePassword'], message: 'is the password of VC_DATABASE_URL, which is unset' });
  }
  if (config.databasePassword !== undefined && config.databaseUrl && new URL(config.databaseUrl).password !== '') {
    ctx.addIssue({ code: 'custom', path: ['databasePassword'], message: 'VC_DATABASE_URL already holds a password: give it in one place' });
  }
  if (config.mqttDynsec && !(config.mqttUrl && config.mqttUsername && config.mqttPassword)) {
    ctx.addIssue({ code: 'custom', path: ['mqttDynsec'], message: 'needs VC_MQTT_URL, VC_MQTT_USERNAME and VC_MQTT_PASSWORD (a dynamic-security admin of that broker)' });
  }
});

export type ServiceConfig = z.infer<typeof ConfigSchema>;

const ENV_NAMES: Record<keyof ServiceConfig, string> = {
  host: 'VC_HOST',
  httpPort: 'VC_HTTP_PORT',
  mqttPort: 'VC_MQTT_PORT',
  mqttUrl: 'VC_MQTT_URL',
  mqttPublicUrl: 'VC_MQTT_PUBLIC_URL',
  mqttUsername: 'VC_MQTT_USERNAME',
  mqttPassword: 'VC_MQTT_PASSWORD',
  mqttClientId: 'VC_MQTT_CLIENT_ID',
  mqttShareGroup: 'VC_MQTT_SHARE_GROUP',
  mqttReceiveMaximum: 'VC_MQTT_RECEIVE_MAXIMUM',
  storeWriters: 'VC_STORE_WRITERS',
  mqttDynsec: 'VC_MQTT_DYNSEC',
  influxUrl: 'VC_INFLUX_URL',
  databaseUrl: 'VC_DATABASE_URL',
  databasePassword: 'VC_DATABASE_PASSWORD',
  influxDb: 'VC_INFLUX_DB',
  influxToken: 'VC_INFLUX_TOKEN',
  influxUsername: 'VC_INFLUX_USERNAME',
  influxPassword: 'VC_INFLUX_PASSWORD',
  influxRetentionRaw: 'VC_INFLUX_RETENTION_RAW',
  influxRetentionRollups: 'VC_INFLUX_RETENTION_ROLLUPS',
  influxWriteChunkLines: 'VC_INFLUX_WRITE_CHUNK_LINES',
  influxGzipBytes: 'VC_INFLUX_GZIP_BYTES',
  influxTimeoutMs: 'VC_INFLUX_TIMEOUT_MS',
  dataDir: 'VC_DATA_DIR',
  adminToken: 'VC_ADMIN_TOKEN',
  metricsToken: 'VC_METRICS_TOKEN',
  spoolMaxBytes: 'VC_SPOOL_MAX_BYTES',
  embeddedThreads: 'VC_EMBEDDED_THREADS',
  storeBatchBytes: 'VC_STORE_BATCH_BYTES',
  storeFlushMs: 'VC_STORE_FLUSH_MS',
  storeRetryMinMs: 'VC_STORE_RETRY_MIN_MS',
  storeRetryMaxMs: 'VC_STORE_RETRY_MAX_MS',
  rollupFlushMs: 'VC_ROLLUP_FLUSH_MS',
  rollupFactsFlushMs: 'VC_ROLLUP_FACTS_FLUSH_MS',
  rollupMemoryKeys: 'VC_ROLLUP_MEMORY_KEYS',
  cockpitCacheMb: 'VC_COCKPIT_CACHE_MB',
  spoolFsync: 'VC_SPOOL_FSYNC',
  logLevel: 'VC_LOG_LEVEL',
  rateLimit: 'VC_RATE_LIMIT',
  rateLimitIngest: 'VC_RATE_LIMIT_INGEST',
};

/**
 * The value of every variable, each read from the file named by `<name>_FILE` when that is set (docker secrets, a
 * mounted secret): one trailing newline is dropped. Setting both is an error, as is a file that cannot be read.
 */
function valuesFrom(env: NodeJS.ProcessEnv): { raw: Record<string, unknown>; problems: string[] } {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') {
      raw[key] = env[name];
      continue;
    }
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name}_FILE: ${name} is set too: give one of them`);
      continue;
    }
    try {
      raw[key] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return { raw, problems };
}

/** Read the configuration from environment variables; throws one readable message listing every bad value. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  const { raw, problems } = valuesFrom(env);
  const parsed = ConfigSchema.safeParse({ ...raw, ...overrides });
  const lines = [
    ...problems,
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => {
          const key = i.path[0] as keyof ServiceConfig | undefined;
          return `${key ? ENV_NAMES[key] : 'config'}: ${i.message}`;
        })),
  ];
  if (lines.length > 0 || !parsed.success) throw new Error(`invalid configuration:\n  ${lines.join('\n  ')}`);
  const { databasePassword, databaseUrl } = parsed.data;
  return {
    ...parsed.data,
    databaseUrl: databaseUrl && databasePassword !== undefined ? withPassword(databaseUrl, databasePassword) : databaseUrl,
    dataDir: resolve(parsed.data.dataDir),
  };
}

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

export function configFrom(values: Partial<ServiceConfig>): ServiceConfig {
  return configFromEnv({}, values);
}
