// The docker-compose deployment is valid for Compose and wires the service to Mosquitto 2, InfluxDB 1.x and
// PostgreSQL with the settings the architecture requires (a broker that never drops QoS 1 messages, persistent
// volumes, vehicles and tenants in PostgreSQL rather than in the telemetry database, retention policies for raw
// telemetry and the rollups), and it is secure as shipped (docs/security.md, Deployment): no anonymous broker, only
// the API and MQTT over TLS published, every database behind its own users, every secret from a file the init
// service made and handed to the services that need it. The broker's files run for real in deploy-mosquitto.test.ts,
// InfluxDB's and PostgreSQL's first-start scripts in deploy-databases.test.ts.
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { parse } from 'yaml';
import { configFromEnv } from '../../services/config.ts';
import { parseRetention } from '../../services/store/influx/retention.ts';
import { readGrafanaSchemas } from '../../dashboards/grafana/schema/index.ts';
import { findBinary, missingServer } from '../../tooling/system.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMPOSE = findBinary(['docker-compose']);
const skipCompose = missingServer('docker-compose', COMPOSE) ?? false;
const skipInit = skipCompose || (missingServer('openssl', findBinary(['/usr/bin/openssl', 'openssl'])) ?? false);

interface ComposeService {
  entrypoint?: string[] | string;
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

/** A mount's source as an absolute path (named volumes stay names). */
const local = (source: string): string => (source.startsWith('/') || !source.includes('/') ? source : join(ROOT, source));

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
    [decodeURIComponent(databaseUrl.username), databaseUrl.pathname.slice(1)],
    [env.POSTGRES_SERVICE_USER, env.POSTGRES_SERVICE_DB],
    "as the role and database the postgres service's first start creates for it",
  );
  t.not(env.POSTGRES_SERVICE_USER, env.POSTGRES_USER, 'its own role, not the superuser');
  t.equal(databaseUrl.password, '', 'no password in the URL: VC_DATABASE_PASSWORD_FILE gives it');
  t.ok(mounts(postgres).some(([source, target]) => target === '/docker-entrypoint-initdb.d' && local(source) === join(ROOT, 'deploy/postgres/initdb')), "deploy/postgres/initdb/ runs at PostgreSQL's first start");

  const build = typeof service?.build === 'string' ? service.build : service?.build?.context;
  t.equal(build?.replace(/\/$/, ''), ROOT.replace(/\/$/, ''), 'vehicle-cloud is built from this repository');
  t.match(service?.environment ?? {}, {
    VC_HOST: '0.0.0.0',
    VC_MQTT_URL: 'mqtt://mosquitto:1883',
    VC_MQTT_DYNSEC: 'true',
    VC_INFLUX_URL: 'http://influxdb:8086',
    VC_INFLUX_DB: 'vehicle_cloud',
    VC_DATA_DIR: '/data',
  });
  // the *_FILE variables name files only the running container has: here the settings alone, without them
  const settings = configFromEnv(Object.fromEntries(Object.entries(service?.environment ?? {}).filter(([name]) => !name.endsWith('_FILE')).map(([name, value]) => [name, value ?? ''])), { mqttPassword: 'from-a-file' });
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
  const mountedAt = (s: ComposeService | undefined, target: string): string | undefined => mounts(s).find(([, to]) => to === target)?.[0];

  t.equal(grafana?.image, `grafana/grafana:${readGrafanaSchemas().grafanaSchemaVersion}`, 'the Grafana whose schema the dashboards are checked against');
  t.match(prometheus?.image, /^prom\/prometheus:v2\.\d+\.\d+$/, 'a pinned Prometheus 2');

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

type Compose = { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };

async function composeConfig(): Promise<Compose> {
  return parse((await compose('config')).stdout) as Compose;
}

/** Every variable of a service whose value is a secret itself rather than where to find one. */
const SECRET_NAME = /PASSWORD|TOKEN|SECRET|_KEY$/;
const isFileRef = (name: string): boolean => name.endsWith('_FILE');

t.test('only the API (3000) and MQTT over TLS (8883) are published on the host, and Grafana on 127.0.0.1', { skip: skipCompose }, async (t) => {
  const { services } = await composeConfig();
  const published = Object.entries(services).flatMap(([name, s]) =>
    (s.ports ?? []).map((p) => `${name} ${typeof p === 'string' ? p.replace(/\/tcp$/, '') : `${p.published}:${p.target}`}`),
  );
  t.same(published.sort(), ['grafana 127.0.0.1:3001:3000', 'mosquitto 8883:8883', 'vehicle-cloud 3000:3000'].sort(), published.join(', '));
  t.same((services.mosquitto as { expose?: string[] }).expose?.map(String), ['1883'], 'the plain listener only on the compose network');
});

t.test('Mosquitto takes no anonymous client: dynamic security on, TLS on 8883, the service provisions vehicle accounts', { skip: skipCompose }, async (t) => {
  const { services } = await composeConfig();
  const { mosquitto, 'vehicle-cloud': service } = services;
  const conf = mounts(mosquitto).find(([, target]) => target === '/mosquitto/config/mosquitto.conf');
  t.equal(conf && local(conf[0]), join(ROOT, 'deploy/mosquitto/mosquitto.conf'), 'deploy/mosquitto/mosquitto.conf is mounted');
  const options = mosquittoOptions(readFileSync(join(ROOT, 'deploy/mosquitto/mosquitto.conf'), 'utf8'));
  t.same(options.get('allow_anonymous'), ['false'], 'allow_anonymous false, once');
  t.same(options.get('per_listener_settings'), ['false'], 'one set of rules for every listener');
  t.same(options.get('plugin'), ['/usr/lib/mosquitto_dynamic_security.so'], "the dynamic security plugin, where eclipse-mosquitto:2 installs it");
  const dynsecFile = options.get('plugin_opt_config_file')?.[0] ?? '';
  t.ok(mounts(mosquitto).some(([source, target]) => dynsecFile.startsWith(`${target}/`) && !source.includes('/')), `its accounts (${dynsecFile}) on a named volume`);
  t.same(options.get('listener'), ['1883', '8883']);
  for (const option of ['certfile', 'keyfile']) {
    const file = options.get(option)?.[0] ?? '';
    t.ok(mounts(mosquitto).some(([source, target]) => file.startsWith(`${target}/`) && source === 'mosquitto-tls'), `${option} ${file} from the mosquitto-tls volume`);
  }
  t.notOk(options.has('password_file') || options.has('acl_file'), 'no second source of accounts');
  const entrypoint = [mosquitto?.entrypoint].flat().join(' ');
  t.match(entrypoint, /\/vc-deploy\/entrypoint\.sh/, 'started through deploy/mosquitto/entrypoint.sh, which seeds dynamic security');
  t.equal(mosquitto?.environment?.MQTT_ADMIN_USERNAME, service?.environment?.VC_MQTT_USERNAME, "the seeded admin is the service's broker user");
  t.equal(service?.environment?.VC_MQTT_DYNSEC, 'true', 'which creates an account per registered vehicle');
  const publicUrl = String(service?.environment?.VC_MQTT_PUBLIC_URL);
  t.match(publicUrl, /^mqtts:\/\/[^/]+:8883$/, `vehicles are told the TLS listener (${publicUrl})`);
  t.match([mosquitto?.healthcheck?.test].flat().join(' '), /-u .*-P /, 'the health check logs in too');
});

t.test('InfluxDB and PostgreSQL ask for passwords, and each client has its own user with only what it needs', { skip: skipCompose }, async (t) => {
  const { services } = await composeConfig();
  const { influxdb, postgres, grafana, 'vehicle-cloud': service } = services;
  const influx = influxdb?.environment ?? {};
  t.equal(influx.INFLUXDB_HTTP_AUTH_ENABLED, 'true', 'InfluxDB HTTP authentication on');
  t.ok(influx.INFLUXDB_ADMIN_USER && influx.INFLUXDB_ADMIN_PASSWORD_FILE, 'an admin, its password from a file');
  t.equal(service?.environment?.VC_INFLUX_USERNAME, influx.INFLUXDB_SERVICE_USER, "the service writes as InfluxDB's service user");
  t.not(influx.INFLUXDB_SERVICE_USER, influx.INFLUXDB_ADMIN_USER, 'which is not the admin');
  t.ok(mounts(influxdb).some(([source, target]) => target === '/docker-entrypoint-initdb.d' && local(source) === join(ROOT, 'deploy/influxdb/initdb')), "deploy/influxdb/initdb/ runs at InfluxDB's first start");
  t.same([influxdb?.entrypoint].flat(), ['/bin/bash', '/vc-deploy/entrypoint.sh'], 'through deploy/influxdb/entrypoint.sh, which gives the admin password to the first start alone');
  for (const name of ['VC_INFLUX_RETENTION_RAW', 'VC_INFLUX_RETENTION_ROLLUPS']) t.equal(influx[name], service?.environment?.[name], `InfluxDB's first start creates the policies the service is configured with (${name})`);
  t.ok(postgres?.environment?.POSTGRES_PASSWORD_FILE, "PostgreSQL's superuser password from a file");

  const datasources = (parse(readFileSync(join(ROOT, 'dashboards/grafana/provisioning/datasources/vehicle-cloud.yaml'), 'utf8')) as { datasources: Array<{ type: string; user?: string; secureJsonData?: Record<string, string>; jsonData?: Record<string, unknown> }> }).datasources;
  const influxSource = datasources.find((d) => d.type === 'influxdb');
  t.equal(influxSource?.user, influx.INFLUXDB_GRAFANA_USER, "Grafana's InfluxDB datasource logs in as the read-only user");
  const password = influxSource?.secureJsonData?.password ?? '';
  const file = /^\$__file\{(.+)\}$/.exec(password)?.[1];
  t.ok(file, `its password from a file (${password})`);
  t.equal(file && basename(file), basename(String(influx.INFLUXDB_GRAFANA_PASSWORD_FILE)), 'the one InfluxDB gave that user');
  t.ok(file && mounts(grafana).some(([source, target]) => file.startsWith(`${target}/`) && source === 'secrets-grafana'), "on Grafana's own secrets volume");
  t.ok(grafana?.environment?.GF_SECURITY_ADMIN_PASSWORD__FILE, "Grafana's admin password from a file, not a default");
  t.equal(grafana?.environment?.GF_AUTH_ANONYMOUS_ENABLED, 'false');
});

t.test('no secret is written in the deployment: every one comes from a file the init service made', { skip: skipCompose }, async (t) => {
  const { services } = await composeConfig();
  for (const [name, s] of Object.entries(services)) {
    for (const [variable, value] of Object.entries(s.environment ?? {})) {
      if (SECRET_NAME.test(variable) && !isFileRef(variable)) t.equal(value ?? '', '', `${name}: ${variable} is empty unless you set it (.env)`);
      if (typeof value === 'string' && /^\w+:\/\/[^/@]*:[^/@]*@/.test(value)) t.fail(`${name}: ${variable} holds a password in a URL`);
      if (isFileRef(variable)) {
        const mount = mounts(s).find(([, target]) => String(value).startsWith(`${target}/`));
        t.ok(mount && /^(secrets-[\w-]+)$/.test(mount[0]), `${name}: ${variable} is on the service's own secrets volume (${mount?.[0] ?? 'none'})`);
      }
    }
  }
  const holders = (volume: string): string[] => Object.entries(services).filter(([, s]) => mounts(s).some(([source]) => source === volume)).map(([name]) => name);
  t.same(holders('secrets'), ['init'], "the passwords and the CA's key: mounted by the init service alone");
  const volumes = Object.keys((await composeConfig()).volumes ?? {}).filter((v) => v.startsWith('secrets-'));
  t.ok(volumes.length >= 6, `one secrets volume per service (${volumes.join(', ')})`);
  for (const volume of volumes) {
    const [first, ...others] = holders(volume).filter((n) => n !== 'init');
    t.ok(first && others.length === 0 && holders(volume).includes('init'), `${volume}: written by init, mounted by ${first} alone`);
    const readOnly = mounts(services[first!]).length > 0 && (services[first!]?.volumes ?? []).some((v) => (typeof v === 'string' ? v.startsWith(`${volume}:`) && v.endsWith(':ro') : v.source === volume && (v as { read_only?: boolean }).read_only));
    t.ok(readOnly, `${volume}: read-only in ${first}`);
  }
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  t.notMatch(dockerfile, /^(ENV|ARG)\b.*(PASSWORD|TOKEN|SECRET)/im, 'the image holds no secret');
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  t.ok(ignored.includes('.env'), '.dockerignore keeps a .env out of the image');
  t.same(JSON.stringify(services.init).match(/"(?:8883|3000|1883)/g), null, 'the init service has no port');
  t.equal((services.init as { network_mode?: string }).network_mode, 'none', 'nor any network');
});

t.test("the init service's output is what every service reads: the files exist and each secret is the same at both ends", { skip: skipInit }, async (t) => {
  const { services } = await composeConfig();
  const { init } = services;
  const out = mkdtempSync(join(tmpdir(), 'vc-compose-init-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const script = mounts(init).find(([, target]) => [init?.entrypoint].flat().includes(target));
  t.equal(script && local(script[0]), join(ROOT, 'deploy/init/init.sh'), 'the init service runs deploy/init/init.sh');
  const initDir = String(init?.environment?.VC_INIT_DIR);
  await run('bash', [join(ROOT, 'deploy/init/init.sh')], { env: { ...process.env, VC_INIT_DIR: out, MQTT_TLS_HOSTS: String(init?.environment?.MQTT_TLS_HOSTS) } });
  /** Where a path inside `service` is in the init output, through the volume both mount. */
  const generated = (service: string, path: string): string | undefined => {
    const mount = mounts(services[service]).find(([, target]) => path.startsWith(`${target}/`));
    const atInit = mount && mounts(init).find(([source]) => source === mount[0]);
    return atInit && join(out, atInit[1].slice(initDir.length), path.slice(mount[1].length));
  };
  const secret = (service: string, variable: string): string => readFileSync(generated(service, String(services[service]?.environment?.[variable]))!, 'utf8');
  for (const [name, s] of Object.entries(services)) {
    for (const [variable, value] of Object.entries(s.environment ?? {})) {
      if (!isFileRef(variable)) continue;
      const path = generated(name, String(value));
      t.ok(path && existsSync(path), `${name}: ${variable} ${value} is made by init`);
    }
  }
  t.equal(secret('vehicle-cloud', 'VC_MQTT_PASSWORD_FILE'), secret('mosquitto', 'MQTT_ADMIN_PASSWORD_FILE'), "the service's broker password is the seeded admin's");
  t.equal(secret('vehicle-cloud', 'VC_INFLUX_PASSWORD_FILE'), secret('influxdb', 'INFLUXDB_SERVICE_PASSWORD_FILE'), "the service's InfluxDB password is its user's");
  t.equal(secret('vehicle-cloud', 'VC_DATABASE_PASSWORD_FILE'), secret('postgres', 'POSTGRES_SERVICE_PASSWORD_FILE'), "the service's PostgreSQL password is its role's");
  const influxSource = (parse(readFileSync(join(ROOT, 'dashboards/grafana/provisioning/datasources/vehicle-cloud.yaml'), 'utf8')) as { datasources: Array<{ type: string; secureJsonData?: Record<string, string> }> }).datasources.find((d) => d.type === 'influxdb');
  const grafanaFile = /^\$__file\{(.+)\}$/.exec(influxSource?.secureJsonData?.password ?? '')?.[1] ?? '';
  t.equal(readFileSync(generated('grafana', grafanaFile)!, 'utf8'), secret('influxdb', 'INFLUXDB_GRAFANA_PASSWORD_FILE'), "Grafana's datasource password is InfluxDB's read-only user's");
  const scrape = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ authorization?: { credentials_file?: string } }> };
  const tokenFile = scrape.scrape_configs[0]?.authorization?.credentials_file ?? '';
  t.equal(readFileSync(generated('prometheus', tokenFile)!, 'utf8'), secret('vehicle-cloud', 'VC_METRICS_TOKEN_FILE'), 'Prometheus scrapes /metrics with the token the service asks for');
  const passwords = new Set(['mqtt-admin', 'influxdb-admin', 'influxdb-service', 'influxdb-grafana', 'postgres-admin', 'postgres-service', 'grafana-admin', 'metrics-token'].map((n) => readFileSync(join(out, 'secrets', n), 'utf8')));
  t.equal(passwords.size, 8, 'every password is its own');
  for (const p of passwords) t.match(p, /^[0-9a-f]{32}\n$/, '128 random bits');

  const tls = generated('mosquitto', '/mosquitto/tls/server.crt')!;
  const { stdout } = await run('openssl', ['verify', '-CAfile', join(out, 'mosquitto-tls/ca.crt'), tls]);
  t.match(stdout, /: OK/, "the broker's certificate is signed by the CA vehicles are given");
  t.notOk(existsSync(join(out, 'mosquitto-tls/ca.key')), "the CA's key stays with init");
  const before = readFileSync(tls, 'utf8');
  await run('bash', [join(ROOT, 'deploy/init/init.sh')], { env: { ...process.env, VC_INIT_DIR: out } });
  t.equal(readFileSync(tls, 'utf8'), before, 'a second run keeps the certificate');
  t.equal(secret('vehicle-cloud', 'VC_MQTT_PASSWORD_FILE'), secret('mosquitto', 'MQTT_ADMIN_PASSWORD_FILE'), 'and the passwords');
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
