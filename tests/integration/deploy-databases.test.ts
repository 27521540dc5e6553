// The databases docker-compose deploys, set up by the deployment's own first-start scripts against real servers:
// deploy/influxdb/initdb/vehicle-cloud.sh on an influxd with authentication on (after the admin and the database the
// influxdb image makes first), deploy/postgres/initdb/vehicle-cloud.sh on a PostgreSQL with password authentication,
// with the passwords deploy/init/init.sh makes and the variables docker-compose.yml gives (`docker-compose config`),
// only file paths, hosts and ports rewritten. The service then runs with the environment docker-compose gives it: as
// users that are no admin it writes and reads, and without or with wrong credentials it stops at start, saying why.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { parse } from 'yaml';
import { configFromEnv, type ServiceConfig } from '../../services/config.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { influxdOrSkip, startInfluxd, type Influxd } from '../../tooling/influxd.ts';
import { postgresOrSkip, startPostgres } from '../../tooling/postgres.ts';
import { findBinary, missingServer, ROOT, tempDir, TS_EXEC_ARGV } from '../../tooling/system.ts';
import { apiClient, registerVehicles, testVin } from '../helpers/api.ts';

const run = promisify(execFile);
const COMPOSE = findBinary(['docker-compose']);
const influx = influxdOrSkip();
const postgres = postgresOrSkip();
const tools = missingServer('docker-compose', COMPOSE) ?? missingServer('openssl', findBinary(['/usr/bin/openssl', 'openssl'])) ?? missingServer('curl', findBinary(['/usr/bin/curl', 'curl']));

type Env = Record<string, string>;
interface Deployment {
  /** each compose service's environment, its /run/vc-secrets files at the init output in `secrets` */
  env: Record<string, Env>;
  secrets: string;
  remove(): Promise<void>;
}

/** `docker-compose config`'s environments, and deploy/init/init.sh's output standing in for the secrets volumes. */
async function deployment(): Promise<Deployment> {
  const dir = await tempDir('deploy-databases');
  const { VC_ADMIN_TOKEN: _token, ...hostEnv } = process.env;
  const { stdout } = await run(COMPOSE!, ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, env: hostEnv });
  const services = (parse(stdout) as { services: Record<string, { environment?: Record<string, string | null> }> }).services;
  const secrets = join(dir.path, 'vc');
  await run('bash', [join(ROOT, 'deploy/init/init.sh')], { env: { ...process.env, VC_INIT_DIR: secrets } });
  const env: Record<string, Env> = {};
  for (const [name, service] of Object.entries(services)) {
    env[name] = Object.fromEntries(
      Object.entries(service.environment ?? {}).map(([key, value]) => [key, String(value ?? '').replace(/^\/run\/vc-secrets\//, `${secrets}/${name}/`)]),
    );
  }
  return { env, secrets, remove: dir.remove };
}

async function influxql(server: Influxd, q: string, user?: { name: string; password: string }): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.url}/query?db=vehicle_cloud`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(user ? { authorization: `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}` } : {}) },
    body: new URLSearchParams({ q }),
  });
  return { status: res.status, body: await res.text() };
}

/** `services/server.ts` in a child process with `env`: its exit code and what it wrote to stderr (bounded wait). */
function serverExit(env: Env): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TS_EXEC_ARGV, join(ROOT, 'services/server.ts')], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // generous: a loaded machine starts node and its loader slowly; a service that retries instead never exits
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not stop within 120 s: ${stderr.slice(-2_000)}`));
    }, 120_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** The service's InfluxDB settings from docker-compose's environment (its password read from VC_INFLUX_PASSWORD_FILE). */
function serviceInflux(env: Env, url: string): Partial<ServiceConfig> {
  const only = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('VC_INFLUX_')));
  const config = configFromEnv({ ...only, VC_INFLUX_URL: url });
  const { influxUrl, influxDb, influxUsername, influxPassword, influxRetentionRaw, influxRetentionRollups } = config;
  return { influxUrl, influxDb, influxUsername, influxPassword, influxRetentionRaw, influxRetentionRollups };
}

t.test('InfluxDB as deployed: authentication on, the service a user with no admin, Grafana read-only', { skip: influx.skip ?? tools ?? false }, async (t) => {
  const deployed = await deployment();
  t.teardown(deployed.remove);
  const server = await startInfluxd({ binary: influx.binary, auth: true });
  t.teardown(() => server.stop());
  const db = deployed.env.influxdb!;
  const admin = { name: db.INFLUXDB_ADMIN_USER!, password: readFileSync(db.INFLUXDB_ADMIN_PASSWORD_FILE!, 'utf8').trim() };
  // what the influxdb image's first start does before it runs initdb/: the admin, then the database
  t.equal((await influxql(server, `CREATE USER "${admin.name}" WITH PASSWORD '${admin.password}' WITH ALL PRIVILEGES`)).status, 200);
  t.equal((await influxql(server, `CREATE DATABASE "${db.INFLUXDB_DB}"`, admin)).status, 200);
  // then sources deploy/influxdb/initdb/*.sh in bash, with the admin's password (deploy/influxdb/entrypoint.sh) and its port
  const script = `set -e; INFLUXDB_INIT_PORT=${new URL(server.url).port}; . "$1"`;
  await run('bash', ['-c', script, 'init', join(ROOT, 'deploy/influxdb/initdb/vehicle-cloud.sh')], { env: { PATH: process.env.PATH ?? '', ...db, INFLUXDB_ADMIN_PASSWORD: admin.password } });

  const policies = JSON.parse((await influxql(server, `SHOW RETENTION POLICIES ON "${db.INFLUXDB_DB}"`, admin)).body) as { results: Array<{ series: Array<{ values: unknown[][] }> }> };
  t.same(
    policies.results[0]!.series[0]!.values.filter((row) => String(row[0]).startsWith('vc_')).map((row) => [row[0], row[4]]),
    [['vc_raw', true], ['vc_rollups', false]],
    'the policies the service expects, vc_raw the default',
  );

  const serviceEnv = deployed.env['vehicle-cloud']!;
  const settings = serviceInflux(serviceEnv, server.url);
  t.equal(settings.influxUsername, db.INFLUXDB_SERVICE_USER);
  t.equal(settings.influxPassword, readFileSync(db.INFLUXDB_SERVICE_PASSWORD_FILE!, 'utf8').trim(), 'VC_INFLUX_PASSWORD_FILE holds the password InfluxDB gave the service');
  const serviceUser = { name: settings.influxUsername!, password: settings.influxPassword! };
  const grafana = { name: db.INFLUXDB_GRAFANA_USER!, password: readFileSync(db.INFLUXDB_GRAFANA_PASSWORD_FILE!, 'utf8').trim() };

  await t.test('the service starts as its user, keeps the policies as they are, writes and reads', async (t) => {
    const service = await startLocalService(settings);
    t.teardown(service.cleanup);
    const api = apiClient(service.apiUrl, service.adminToken.token);
    const vin = testVin(1, 'FXD');
    await registerVehicles(api, [vin]);
    const ts = Date.now() - 5_000;
    const posted = await api.post('/api/v1/telemetry', { vin, ts, seq: 1, signals: { 'Vehicle.Speed': 88 } });
    t.equal(posted.status, 200);
    t.ok(await service.writer.drained(), 'the spool drained into InfluxDB');
    const read = await api.get<{ samples: Array<{ seq: number; signals: Record<string, unknown> }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${ts}&to=${ts + 1}`);
    t.match(read.body.samples, [{ seq: 1, signals: { 'Vehicle.Speed': 88 } }], 'written and read back by its user');
    const stored = await influxql(server, `SELECT count(*) FROM "vc_raw"."telemetry" WHERE "vin" = '${vin}'`, grafana);
    t.equal(stored.status, 200);
    const counted = JSON.parse(stored.body) as { results: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }> }> };
    const series = counted.results[0]?.series?.[0];
    t.equal(series?.values[0]?.[series.columns.indexOf('count_seq')], 1, "one point in vc_raw, readable by Grafana's user");
  });

  await t.test("the service's user is no admin, Grafana's may only read", async (t) => {
    t.match((await influxql(server, 'CREATE DATABASE elsewhere', serviceUser)).body, /requires admin privilege/);
    t.match((await influxql(server, `CREATE USER "intruder" WITH PASSWORD 'x' WITH ALL PRIVILEGES`, serviceUser)).body, /requires admin privilege/);
    t.match((await influxql(server, 'DROP DATABASE "vehicle_cloud"', serviceUser)).body, /requires admin privilege/);
    const write = await fetch(`${server.url}/write?db=${db.INFLUXDB_DB}`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${grafana.name}:${grafana.password}`).toString('base64')}` }, body: 'telemetry,vin=X speed=1' });
    t.equal(write.status, 403, "Grafana's user cannot write");
    t.equal((await influxql(server, 'SHOW DATABASES')).status, 401, 'nobody without credentials');
  });

  await t.test('without credentials, or with a wrong password, the service stops at start and says why', async (t) => {
    const base: Env = { ...Object.fromEntries(Object.entries(serviceEnv).filter(([key]) => key.startsWith('VC_INFLUX_'))), VC_INFLUX_URL: server.url, VC_HOST: '127.0.0.1', VC_HTTP_PORT: '0', VC_MQTT_PORT: '0', VC_LOG_LEVEL: 'silent' };
    const dataDir = await tempDir('deploy-no-credentials');
    t.teardown(dataDir.remove);
    const { VC_INFLUX_USERNAME: _user, VC_INFLUX_PASSWORD_FILE: _file, ...anonymous } = base;
    const none = await serverExit({ ...anonymous, VC_DATA_DIR: dataDir.path });
    t.equal(none.code, 1, 'exit code 1');
    t.match(none.stderr, /vehicle-cloud failed to start: InfluxDB asks for credentials and none are set \(.*401.*\): set VC_INFLUX_USERNAME and VC_INFLUX_PASSWORD \(or VC_INFLUX_TOKEN\)/);
    const wrong = await serverExit({ ...anonymous, VC_INFLUX_USERNAME: serviceUser.name, VC_INFLUX_PASSWORD: 'not-the-password', VC_DATA_DIR: dataDir.path });
    t.equal(wrong.code, 1);
    t.match(wrong.stderr, new RegExp(`vehicle-cloud failed to start: InfluxDB refused user "${serviceUser.name}" \\(.*401.*\\): check its password or token`));
    t.notMatch(wrong.stderr, /not-the-password/, 'the password is never printed');
  });

  await t.test('retention settings an admin has not applied stop the start, naming the statements to run as admin', async (t) => {
    await t.rejects(
      startLocalService({ ...settings, influxRetentionRaw: '60d' }),
      /requires admin privilege.*only an InfluxDB admin may change them: run ALTER RETENTION POLICY "vc_raw" ON "vehicle_cloud" DURATION 60d SHARD DURATION 1d DEFAULT;/,
    );
  });

  await t.test('a database that is missing or not granted is named with what to run', async (t) => {
    await t.rejects(startLocalService({ ...settings, influxDb: 'not_granted' }), /requires admin privilege.*run CREATE DATABASE "not_granted" and GRANT ALL ON "not_granted" TO/);
  });
});

t.test("PostgreSQL as deployed: the service's own role, which owns its database and nothing more", { skip: postgres.skip ?? tools ?? false }, async (t) => {
  const deployed = await deployment();
  t.teardown(deployed.remove);
  const server = await startPostgres(postgres.binDir);
  t.teardown(() => server.stop());
  const pg = deployed.env.postgres!;
  const superuser = new URL(server.url);
  // the postgres image runs initdb/ as its superuser once the cluster is up: psql over the server's port here
  await run('bash', [join(ROOT, 'deploy/postgres/initdb/vehicle-cloud.sh')], {
    env: {
      PATH: `${postgres.binDir}:${process.env.PATH ?? ''}`,
      ...pg,
      POSTGRES_USER: decodeURIComponent(superuser.username),
      POSTGRES_DB: 'postgres',
      PGHOST: '127.0.0.1',
      PGPORT: String(server.port),
      PGPASSWORD: decodeURIComponent(superuser.password),
    },
  });
  const [role] = await server.query(server.url, 'SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = $1', [pg.POSTGRES_SERVICE_USER]);
  t.same(role, [false, false, false, true], 'a login role, no superuser, no CREATEDB, no CREATEROLE');
  const [owner] = await server.query(server.url, 'SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1', [pg.POSTGRES_SERVICE_DB]);
  t.same(owner, [pg.POSTGRES_SERVICE_USER], 'owner of its database');

  const serviceEnv = deployed.env['vehicle-cloud']!;
  const url = new URL(serviceEnv.VC_DATABASE_URL!);
  url.host = `127.0.0.1:${server.port}`;
  const { databaseUrl } = configFromEnv({ VC_DATABASE_URL: url.toString(), VC_DATABASE_PASSWORD_FILE: serviceEnv.VC_DATABASE_PASSWORD_FILE! });

  await t.test('the service keeps its vehicles there, logged in with VC_DATABASE_PASSWORD_FILE', async (t) => {
    const service = await startLocalService({ databaseUrl });
    t.teardown(service.cleanup);
    const api = apiClient(service.apiUrl, service.adminToken.token);
    const vin = testVin(1, 'PGD');
    await registerVehicles(api, [vin]);
    const rows = await server.query(server.url.replace(/\/postgres$/, `/${pg.POSTGRES_SERVICE_DB}`), 'SELECT vin FROM vehicles');
    t.same(rows, [[vin]], "the registration is in the service's database");
  });

  await t.test('a wrong password stops the start, saying why', async (t) => {
    const wrong = new URL(databaseUrl!);
    wrong.password = 'not-the-password';
    await t.rejects(startLocalService({ databaseUrl: wrong.toString() }), /PostgreSQL refused the user of VC_DATABASE_URL \(28P01/);
  });
});
