// The docker-compose deployment is valid for Compose and wires the service to Mosquitto 2, InfluxDB 1.x and
// PostgreSQL with the settings the architecture requires (a broker that never drops QoS 1 messages, persistent
// volumes, vehicles and tenants in PostgreSQL rather than in the telemetry database, retention policies for raw
// telemetry and the rollups).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import t from 'tap';
import { parse } from 'yaml';
import { configFromEnv } from '../../services/config.ts';
import { parseRetention } from '../../services/store/influx/retention.ts';
import { readGrafanaSchemas } from '../../dashboards/grafana/schema/index.ts';
import { MOSQUITTO_BINARY, startMosquitto } from '../../tooling/mosquitto.ts';
import { findBinary, missingServer } from '../../tooling/system.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMPOSE = findBinary(['docker-compose']);
const skipCompose = missingServer('docker-compose', COMPOSE) ?? false;
const skipMosquitto = missingServer('mosquitto', MOSQUITTO_BINARY) ?? false;

interface ComposeService {
  image?: string;
  build?: { context?: string } | string;
  environment?: Record<string, string | null>;
  volumes?: Array<string | { source?: string; target?: string; type?: string }>;
  ports?: Array<string | { published?: number | string; target?: number }>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string };
}

async function compose(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  if (!COMPOSE) throw new Error('docker-compose not installed');
  // Without VC_ADMIN_TOKEN in the environment, as on a fresh machine.
  const { VC_ADMIN_TOKEN: _token, ...env } = process.env;
  return run(COMPOSE, ['-f', 'docker-compose.yml', ...args], { cwd: ROOT, env });
}

/** Mounts as [source, target] pairs, whichever syntax Compose printed. */
function mounts(service: ComposeService | undefined): Array<[string, string]> {
  return (service?.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return [v.source ?? '', v.target ?? ''];
    const [source = '', target = ''] = v.split(':');
    return [source, target];
  });
}

/** mosquitto.conf as option -> values, comments dropped. */
function mosquittoOptions(text: string): Map<string, string[]> {
  const options = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [name = '', ...rest] = line.split(/\s+/);
    options.set(name, [...(options.get(name) ?? []), rest.join(' ')]);
  }
  return options;
}

t.test('docker-compose.yml is valid for docker-compose', { skip: skipCompose }, async (t) => {
  const { stderr } = await compose('config', '-q');
  t.equal(stderr.trim(), '', 'no warnings (no unset variables, no deprecated keys)');
});

t.test('the services are Mosquitto 2, InfluxDB 1.x, PostgreSQL and vehicle-cloud wired to all three', { skip: skipCompose }, async (t) => {
  const { stdout } = await compose('config');
  const config = parse(stdout) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
  const { mosquitto, influxdb, postgres, 'vehicle-cloud': service } = config.services;
  t.equal(mosquitto?.image, 'eclipse-mosquitto:2');
  t.match(influxdb?.image, /^influxdb:1(\.\d+)*(-\w+)?$/, 'an InfluxDB 1.x image');
  t.equal(influxdb?.environment?.INFLUXDB_DB, 'vehicle_cloud');
  t.ok(mounts(influxdb).some(([, target]) => target === '/var/lib/influxdb'), 'InfluxDB data on a volume');
  t.match(postgres?.image, /^postgres:1[5-9](\.\d+)*(-\w+)?$/, 'a PostgreSQL 15+ image');
  t.ok(mounts(postgres).some(([source, target]) => target === '/var/lib/postgresql/data' && source in (config.volumes ?? {})), 'PostgreSQL data on a named volume');
  t.match([postgres?.healthcheck?.test].flat().join(' '), /pg_isready/, 'health-checked with pg_isready');
  const env = postgres?.environment ?? {};
  const databaseUrl = new URL(String(service?.environment?.VC_DATABASE_URL));
  t.equal(databaseUrl.protocol, 'postgres:', 'the service gets VC_DATABASE_URL');
  t.equal(databaseUrl.host, 'postgres:5432', 'pointing at the postgres service');
  t.same(
    [decodeURIComponent(databaseUrl.username), decodeURIComponent(databaseUrl.password), databaseUrl.pathname.slice(1)],
    [env.POSTGRES_USER, env.POSTGRES_PASSWORD, env.POSTGRES_DB],
    "with the user, password and database the postgres service creates",
  );

  const build = typeof service?.build === 'string' ? service.build : service?.build?.context;
  t.equal(build?.replace(/\/$/, ''), ROOT.replace(/\/$/, ''), 'vehicle-cloud is built from this repository');
  t.match(service?.environment ?? {}, {
    VC_HOST: '0.0.0.0',
    VC_MQTT_URL: 'mqtt://mosquitto:1883',
    VC_INFLUX_URL: 'http://influxdb:8086',
    VC_INFLUX_DB: 'vehicle_cloud',
    VC_DATA_DIR: '/data',
  });
  const settings = configFromEnv(Object.fromEntries(Object.entries(service?.environment ?? {}).map(([name, value]) => [name, value ?? ''])));
  t.equal(settings.influxRetentionRaw, '30d', 'raw telemetry kept 30 days (vc_raw), the settings passing the service\'s own checks');
  t.ok(parseRetention(settings.influxRetentionRollups ?? 'inf')! > parseRetention(settings.influxRetentionRaw!)!, `rollups kept longer (${settings.influxRetentionRollups})`);
  t.ok(mounts(service).some(([source, target]) => target === '/data' && source in (config.volumes ?? {})), 'the data dir (spool) is a named volume');
  const ports = (service?.ports ?? []).map((p) => (typeof p === 'string' ? p : `${p.published}:${p.target}`));
  t.ok(ports.some((p) => /(^|:)3000:3000(\/tcp)?$/.test(p)), `API published on 3000 (${ports.join(', ')})`);
  const dependsOn = Array.isArray(service?.depends_on) ? service.depends_on : Object.keys(service?.depends_on ?? {});
  t.same(dependsOn.sort(), ['influxdb', 'mosquitto', 'postgres'], 'starts after the broker and the databases');
  t.match([service?.healthcheck?.test].flat().join(' '), /\/healthz/, 'health-checked on /healthz');
});

t.test('Grafana and Prometheus run beside the service, with the provisioning, the dashboards and prometheus.yml mounted', { skip: skipCompose }, async (t) => {
  const { stdout } = await compose('config');
  const config = parse(stdout) as { services: Record<string, ComposeService> };
  const { grafana, prometheus, influxdb, 'vehicle-cloud': service } = config.services;
  const local = (source: string): string => (source.startsWith('/') ? source : join(ROOT, source));
  const mountedAt = (s: ComposeService | undefined, target: string): string | undefined => mounts(s).find(([, to]) => to === target)?.[0];
  const loopbackOnly = (s: ComposeService | undefined): boolean => (s?.ports ?? []).every((p) => typeof p === 'string' && p.startsWith('127.0.0.1:'));

  t.equal(grafana?.image, `grafana/grafana:${readGrafanaSchemas().grafanaSchemaVersion}`, 'the Grafana whose schema the dashboards are checked against');
  t.match(prometheus?.image, /^prom\/prometheus:v2\.\d+\.\d+$/, 'a pinned Prometheus 2');
  t.ok(loopbackOnly(grafana) && loopbackOnly(prometheus), 'Grafana and Prometheus published on loopback only');

  const provisioning = mountedAt(grafana, '/etc/grafana/provisioning');
  t.equal(provisioning && local(provisioning), join(ROOT, 'dashboards/grafana/provisioning'), 'the provisioning folder is mounted');
  const providers = (parse(readFileSync(join(ROOT, 'dashboards/grafana/provisioning/dashboards/vehicle-cloud.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> }).providers;
  for (const provider of providers) {
    const source = mountedAt(grafana, provider.options.path);
    t.equal(source && local(source), join(ROOT, 'dashboards/grafana/dashboards'), `the dashboards are mounted where the provider reads them (${provider.options.path})`);
  }
  const home = String(grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH);
  const homeDir = providers.find((p) => home.startsWith(`${p.options.path}/`));
  t.ok(homeDir && existsSync(join(ROOT, 'dashboards/grafana/dashboards', home.slice(homeDir.options.path.length + 1))), `the home dashboard ${home} is a provisioned file`);

  const datasources = (parse(readFileSync(join(ROOT, 'dashboards/grafana/provisioning/datasources/vehicle-cloud.yaml'), 'utf8')) as { datasources: Array<{ type: string; url: string; jsonData?: Record<string, unknown> }> }).datasources;
  const influxSource = datasources.find((d) => d.type === 'influxdb');
  t.equal(influxSource?.url, 'http://influxdb:8086', 'the InfluxDB datasource is the influxdb service');
  t.equal(influxSource?.jsonData?.dbName, influxdb?.environment?.INFLUXDB_DB, 'on the database InfluxDB creates');
  t.equal(influxSource?.jsonData?.dbName, service?.environment?.VC_INFLUX_DB, 'which the service writes');
  t.equal(datasources.find((d) => d.type === 'prometheus')?.url, 'http://prometheus:9090', 'the Prometheus datasource is the prometheus service');

  const prometheusYml = mountedAt(prometheus, '/etc/prometheus/prometheus.yml');
  t.equal(prometheusYml && local(prometheusYml), join(ROOT, 'deploy/prometheus/prometheus.yml'), 'prometheus.yml is mounted');
  const scrape = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { global: { scrape_interval: string }; scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
  t.same(scrape.scrape_configs[0]?.static_configs[0]?.targets, [`vehicle-cloud:${service?.environment?.VC_HTTP_PORT}`], 'Prometheus scrapes the service on its HTTP port');
  t.equal(datasources.find((d) => d.type === 'prometheus')?.jsonData?.timeInterval, scrape.global.scrape_interval, "the datasource's timeInterval is the scrape interval ($__rate_interval is made from it)");
  t.ok(mounts(prometheus).some(([, target]) => target === '/prometheus'), 'Prometheus data on a volume');
  t.ok(mounts(grafana).some(([, target]) => target === '/var/lib/grafana'), 'Grafana state on a volume');
});

t.test('the mounted mosquitto.conf keeps every QoS 1 message and persists', { skip: skipCompose }, async (t) => {
  const { stdout } = await compose('config');
  const config = parse(stdout) as { services: Record<string, ComposeService> };
  const mosquitto = config.services.mosquitto;
  const conf = mounts(mosquitto).find(([, target]) => target === '/mosquitto/config/mosquitto.conf');
  if (!conf) throw new Error('no mosquitto.conf mounted at /mosquitto/config/mosquitto.conf');
  const source = conf[0].startsWith('/') ? conf[0] : join(ROOT, conf[0]);
  t.ok(existsSync(source), `${source} exists`);
  const options = mosquittoOptions(readFileSync(source, 'utf8'));
  t.same(options.get('persistence'), ['true']);
  const queued = Number(options.get('max_queued_messages')?.at(-1));
  t.ok(queued === 0 || queued >= 100_000, `max_queued_messages ${queued}: unlimited or far above Mosquitto's default 1000`);
  const location = options.get('persistence_location')?.at(-1) ?? '';
  t.ok(
    mounts(mosquitto).some(([, target]) => location.replace(/\/$/, '') === target),
    `persistence_location ${location} is a mounted volume`,
  );
  t.ok(options.has('listener'), 'an explicit listener (Mosquitto 2 listens on loopback only without one)');
});

t.test('Mosquitto 2 accepts every option of the deployed mosquitto.conf', { skip: skipMosquitto }, async (t) => {
  const text = readFileSync(join(ROOT, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
  // The container's listener, paths and log destination do not apply here; every other line is kept.
  const portable = text
    .split('\n')
    .filter((line) => !/^\s*(listener|persistence_location|log_dest)\b/.test(line))
    .join('\n');
  const broker = await startMosquitto({ config: portable });
  t.teardown(() => broker.stop());
  const client = await mqtt.connectAsync(broker.url, { clientId: 'conf-check', username: 'LKYK7G106PZU50009', password: 'any', protocolVersion: 4, reconnectPeriod: 0 });
  t.ok(client.connected, 'the broker started with this configuration and accepts a vehicle client');
  await client.endAsync();
});

t.test('the Dockerfile builds a small non-root Node 20 image with cached dependencies', async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const instructions = dockerfile.split('\n').filter((line) => /^[A-Z]+\s/.test(line));
  t.match(instructions[0], /^FROM node:20(-slim|-bookworm-slim)?\b/);
  const copyManifests = instructions.findIndex((line) => /^COPY package\.json package-lock\.json/.test(line));
  const install = instructions.findIndex((line) => /^RUN npm ci\b.*--omit=dev/.test(line));
  const copyAll = instructions.findIndex((line) => /^COPY \. \./.test(line));
  t.ok(copyManifests >= 0 && copyManifests < install && install < copyAll, 'manifests, then npm ci --omit=dev, then the sources');
  t.ok(instructions.some((line) => /^USER node\b/.test(line)), 'runs as the node user');
  t.ok(instructions.some((line) => /^EXPOSE\b.*\b3000\b/.test(line)), 'exposes 3000');
  t.match(instructions.at(-1), /services\/server\.ts/, 'starts the service');
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const entry of ['node_modules', 'data', '.git']) t.ok(ignored.includes(entry), `.dockerignore excludes ${entry}`);
});
