// The broker docker-compose deploys, run from the same files: deploy/mosquitto/mosquitto.conf (only its ports and
// paths rewritten to free loopback ports and a temp dir), started through deploy/mosquitto/entrypoint.sh (which seeds
// dynamic security with the service's broker admin), with the certificates and passwords made by the deployment's own
// first-start step (deploy/init/init.sh). The service provisions vehicles on the internal plain listener, as in
// docker-compose.yml; vehicles get in over TLS with the CA and their registration's account, and nothing else gets in.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tcpConnect } from 'node:net';
import { promisify } from 'node:util';
import t from 'tap';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { DYNSEC_PLUGIN, MOSQUITTO_BINARY, MOSQUITTO_CTRL_BINARY } from '../../tooling/mosquitto.ts';
import { findBinary, freePort, missingServer, ROOT, tempDir, terminate, TS_EXEC_ARGV, waitFor } from '../../tooling/system.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin, type Api } from '../helpers/api.ts';

const run = promisify(execFile);
const OPENSSL = findBinary(['/usr/bin/openssl', 'openssl']);
const skip = missingServer('mosquitto', MOSQUITTO_BINARY && MOSQUITTO_CTRL_BINARY && DYNSEC_PLUGIN) ?? missingServer('openssl', OPENSSL) ?? false;

/** The deployment's first-start step into `dir`: passwords, a CA of its own and the broker's certificate. */
async function initDeployment(dir: string): Promise<void> {
  await run('bash', [join(ROOT, 'deploy/init/init.sh')], { env: { ...process.env, VC_INIT_DIR: dir, MQTT_TLS_HOSTS: 'localhost,127.0.0.1' } });
}

/** Replace `from` in the deployed config, failing loudly when it is not there (the file changed: update the rewrite). */
function rewrite(text: string, from: RegExp | string, to: string): string {
  const found = typeof from === 'string' ? text.includes(from) : from.test(text);
  if (!found) throw new Error(`deploy/mosquitto/mosquitto.conf no longer holds ${String(from)}`);
  return typeof from === 'string' ? text.split(from).join(to) : text.replace(from, to);
}

const tcpOpen = (port: number): Promise<true | undefined> =>
  new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });

async function storedSeqs(api: Api, vin: string): Promise<number[]> {
  const r = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${Date.now() - 600_000}&to=${Date.now() + 60_000}`);
  return r.body.samples.map((s) => s.seq);
}

t.test('the deployed Mosquitto: vehicles over TLS with their dynsec account, nothing anonymous or in plain text', { skip }, async (t) => {
  const dir = await tempDir('deploy-mosquitto');
  t.teardown(dir.remove);
  const vc = join(dir.path, 'vc');
  const other = join(dir.path, 'other');
  const data = join(dir.path, 'data');
  await initDeployment(vc);
  // a second deployment: its CA signed nothing this broker holds
  await initDeployment(other);
  await run('mkdir', ['-p', data]);

  const [plainPort, tlsPort] = [await freePort(), await freePort()];
  let config = readFileSync(join(ROOT, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
  config = rewrite(config, /^listener 1883$/m, `listener ${plainPort} 127.0.0.1`);
  config = rewrite(config, /^listener 8883$/m, `listener ${tlsPort} 127.0.0.1`);
  config = rewrite(config, '/mosquitto/tls/', `${vc}/mosquitto-tls/`);
  config = rewrite(config, '/mosquitto/data/', `${data}/`);
  config = rewrite(config, /^plugin \/usr\/lib\/mosquitto_dynamic_security\.so$/m, `plugin ${DYNSEC_PLUGIN}`);
  // Started as root, Mosquitto drops to the `mosquitto` user, which cannot read our temp dir (the image runs it as its own user).
  if (process.getuid?.() === 0) config += '\nuser root\n';
  const configFile = join(dir.path, 'mosquitto.conf');
  writeFileSync(configFile, config);
  const dynsecFile = /^plugin_opt_config_file (.+)$/m.exec(config)?.[1];
  t.equal(dynsecFile, join(data, 'dynamic-security.json'), 'the dynamic security file is on the data volume');

  const admin = { username: 'vehicle-cloud', password: readFileSync(join(vc, 'mosquitto/mqtt-admin'), 'utf8').trim() };
  let log = '';
  const broker = spawn('sh', [join(ROOT, 'deploy/mosquitto/entrypoint.sh'), MOSQUITTO_BINARY!, '-c', configFile], {
    env: { ...process.env, MQTT_ADMIN_USERNAME: admin.username, MQTT_ADMIN_PASSWORD_FILE: join(vc, 'mosquitto/mqtt-admin'), MOSQUITTO_DYNSEC_FILE: dynsecFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [broker.stdout, broker.stderr]) stream.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8_192)));
  t.teardown(() => terminate(broker, 5_000));
  const exited = new Promise<never>((_, reject) => broker.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${log}`))));
  exited.catch(() => undefined);
  await Promise.race([waitFor('both listeners', async () => ((await tcpOpen(plainPort)) && (await tcpOpen(tlsPort)) ? true : undefined), 15_000, 100), exited]);
  t.match(log, /dynamic security initialised with the admin vehicle-cloud/, 'the entry point seeded dynamic security on first start');

  const tlsUrl = `mqtts://localhost:${tlsPort}`;
  const service = await startLocalService({
    mqttUrl: `mqtt://127.0.0.1:${plainPort}`,
    mqttUsername: admin.username,
    mqttPassword: admin.password,
    mqttDynsec: true,
    mqttPublicUrl: tlsUrl,
    mqttClientId: 'vc-deploy-ingest',
  });
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, service.adminToken.token);
  await waitFor('/readyz', async () => ((await fetch(`${service.apiUrl}/readyz`)).ok ? true : undefined), 20_000, 100);
  const vin = testVin(1, 'TLS');
  const reg = (await registerVehicles(api, [vin])).get(vin)!;
  const ca = readFileSync(join(vc, 'mosquitto-tls/ca.crt'));
  const login = { clientId: vin, username: reg.mqtt.username, password: reg.mqtt.password };

  await t.test('a vehicle over mqtts:// trusting the deployment CA, with its dynsec account, publishes and the service stores it', async (t) => {
    t.equal(reg.mqtt.url, tlsUrl, 'the registration answer sends vehicles to the TLS listener');
    const client = await connectMqtt(tlsUrl, { ...login, ca });
    t.teardown(() => client.endAsync());
    await publishQos1(client, telemetryTopic(vin), JSON.stringify({ vin, ts: Date.now() - 1_000, seq: 1, signals: { 'Vehicle.Speed': 42 } }));
    await waitFor(`seq 1 of ${vin} stored`, async () => ((await storedSeqs(api, vin)).includes(1) ? true : undefined), 20_000, 100);
  });

  await t.test('a client that trusts another CA refuses the broker: the TLS handshake fails', async (t) => {
    const wrongCa = readFileSync(join(other, 'mosquitto-tls/ca.crt'));
    await t.rejects(connectMqtt(tlsUrl, { ...login, ca: wrongCa }), /certificate|self[- ]signed|unable to (get|verify)/i);
  });

  await t.test('a certificate for another name is refused by a client that checks names', async (t) => {
    await t.rejects(connectMqtt(tlsUrl, { ...login, ca, servername: 'broker.elsewhere.example' }), /altnames|does not match|hostname/i);
  });

  await t.test('plain MQTT on the TLS port gets no CONNACK: the connection is closed', async (t) => {
    await t.rejects(connectMqtt(`mqtt://127.0.0.1:${tlsPort}`, login), /connection closed|ECONNRESET|timeout/i);
  });

  await t.test('anonymous clients are refused on both listeners, wrong passwords too', async (t) => {
    await t.rejects(connectMqtt(tlsUrl, { clientId: 'anonymous-tls', ca }), /Not authorized/, 'anonymous over TLS');
    await t.rejects(connectMqtt(`mqtt://127.0.0.1:${plainPort}`, { clientId: 'anonymous-plain' }), /Not authorized/, 'anonymous on the internal listener');
    await t.rejects(connectMqtt(tlsUrl, { ...login, password: 'wrong', ca }), /Not authorized/, 'a wrong password over TLS');
    await t.rejects(connectMqtt(`mqtt://127.0.0.1:${plainPort}`, { clientId: 'guess', username: admin.username, password: 'wrong' }), /Not authorized/, "a guess at the service's password");
  });

  await t.test("the fleet simulator, as docs/operations.md runs it, publishes over TLS trusting the CA through NODE_EXTRA_CA_CERTS", async (t) => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const args = [...TS_EXEC_ARGV, join(ROOT, 'simulators/fleet/cli.ts'), '--api', service.apiUrl, '--broker', tlsUrl, '--token', service.adminToken.token, '--vehicles', '2', '--duration', '3s', '--fresh-vins', '--json'];
      const child = spawn(process.execPath, args, { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(vc, 'mosquitto-tls/ca.crt') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('exit', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });
    t.equal(code, 0, `the simulator ran to its end: ${stderr.slice(-500)}`);
    const summary = JSON.parse(stdout) as { connected: number; samplesAcked: number; unacked: number; errors: number };
    t.match(summary, { connected: 2, unacked: 0, errors: 0 }, 'both vehicles connected over TLS, every message acknowledged');
    t.ok(summary.samplesAcked > 0, `${summary.samplesAcked} samples acknowledged`);
  });

  await t.test('a second start keeps the dynamic security file: the vehicle account survives a broker restart', async (t) => {
    await terminate(broker, 5_000);
    const again = spawn('sh', [join(ROOT, 'deploy/mosquitto/entrypoint.sh'), MOSQUITTO_BINARY!, '-c', configFile], {
      env: { ...process.env, MQTT_ADMIN_USERNAME: admin.username, MQTT_ADMIN_PASSWORD_FILE: join(vc, 'mosquitto/mqtt-admin'), MOSQUITTO_DYNSEC_FILE: dynsecFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let second = '';
    again.stdout.on('data', (chunk: Buffer) => (second += chunk.toString()));
    t.teardown(() => terminate(again, 5_000));
    await waitFor('the TLS listener again', async () => ((await tcpOpen(tlsPort)) ? true : undefined), 15_000, 100);
    t.notMatch(second, /dynamic security initialised/, 'not seeded again');
    const client = await connectMqtt(tlsUrl, { ...login, ca });
    t.ok(client.connected, "the vehicle's account is still there");
    await client.endAsync();
  });
});
