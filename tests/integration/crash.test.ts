// Acked means durable: the service is killed with SIGKILL while vehicles publish at QoS 1, then restarted on
// the same data dir. Every sample whose PUBACK a publisher received must be stored (checked per vehicle, by seq).
// Run in both deployments: embedded broker + embedded store, and Mosquitto + InfluxDB.
import t from 'tap';
import type { MqttClient } from 'mqtt';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY, startMosquitto } from '../../tooling/mosquitto.ts';
import { apiClient, connectMqtt, registerVehicles, testVin, type Registration } from '../helpers/api.ts';
import { spawnService } from '../../tooling/service.ts';
import { freePort, missingServer, tempDir, waitFor } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

const VEHICLES = 12;
const IN_FLIGHT = 20;

interface Publisher {
  vin: string;
  client: MqttClient;
  acked: Set<number>;
  next: number;
}

/** Publish seq 0, 1, 2... keeping IN_FLIGHT QoS 1 messages open, recording each PUBACK. */
function drive(p: Publisher, base: number, running: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    let open = 0;
    const pump = (): void => {
      while (running() && open < IN_FLIGHT) {
        const seq = p.next++;
        open += 1;
        const payload = JSON.stringify({ vin: p.vin, ts: base + seq, seq, signals: { 'Vehicle.Speed': seq % 200 } });
        p.client.publish(telemetryTopic(p.vin), payload, { qos: 1 }, (err) => {
          open -= 1;
          if (!err) p.acked.add(seq);
          if (!running() && open === 0) resolve();
          else setImmediate(pump);
        });
      }
      if (!running() && open === 0) resolve();
    };
    pump();
  });
}

async function scenario(t: TapTest, mode: 'embedded' | 'mosquitto+influx'): Promise<void> {
  const data = await tempDir('crash');
  t.teardown(data.remove);
  const httpPort = await freePort();
  const env: Record<string, string> = {
    VC_HTTP_PORT: String(httpPort),
    VC_DATA_DIR: data.path,
    VC_ADMIN_TOKEN: 'crash-test-admin-token-0123456789',
  };
  let brokerUrl: string;
  if (mode === 'embedded') {
    env.VC_MQTT_PORT = String(await freePort());
    brokerUrl = `mqtt://127.0.0.1:${env.VC_MQTT_PORT}`;
  } else {
    const influx = await startInfluxd();
    t.teardown(influx.stop);
    const broker = await startMosquitto();
    t.teardown(broker.stop);
    env.VC_MQTT_URL = broker.url;
    env.VC_INFLUX_URL = influx.url;
    env.VC_INFLUX_DB = 'vc_crash';
    brokerUrl = broker.url;
  }
  let service = await spawnService(env);
  t.teardown(() => service.stop('SIGKILL'));
  const api = apiClient(`http://127.0.0.1:${httpPort}`, env.VC_ADMIN_TOKEN!);
  const vins = Array.from({ length: VEHICLES }, (_, i) => testVin(i, mode === 'embedded' ? 'CRE' : 'CRX'));
  const regs: Map<string, Registration> = await registerVehicles(api, vins);
  const base = Date.now() - 3_600_000;

  const publishers: Publisher[] = await Promise.all(
    vins.map(async (vin) => {
      const reg = regs.get(vin)!;
      const client = await connectMqtt(brokerUrl, mode === 'embedded' ? { clientId: vin, username: vin, password: reg.mqtt.password, reconnectPeriod: 200 } : { clientId: vin, reconnectPeriod: 200 });
      client.on('error', () => {
        // refused while the service restarts: MQTT.js reconnects by itself
      });
      return { vin, client, acked: new Set<number>(), next: 0 };
    }),
  );
  t.teardown(() => Promise.all(publishers.map((p) => p.client.endAsync(true))));

  let publishing = true;
  const driving = Promise.all(publishers.map((p) => drive(p, base, () => publishing)));
  await waitFor('publishers to get acks', async () => (publishers.every((p) => p.acked.size > 50) ? true : undefined), 30_000);
  const ackedBeforeKill = publishers.reduce((n, p) => n + p.acked.size, 0);
  await service.stop('SIGKILL');
  t.pass(`killed with SIGKILL after ${ackedBeforeKill} acks`);
  service = await spawnService(env);
  const ackedAtRestart = publishers.reduce((n, p) => n + p.acked.size, 0);
  await waitFor('acks after the restart', async () => (publishers.reduce((n, p) => n + p.acked.size, 0) > ackedAtRestart + 500 ? true : undefined), 60_000);
  publishing = false;
  await Promise.race([driving, new Promise((r) => setTimeout(r, 20_000))]);

  const missing = new Map<string, number[]>();
  await waitFor(
    'every acked sample to be stored',
    async () => {
      missing.clear();
      for (const p of publishers) {
        const r = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${p.vin}/telemetry?from=${base}&to=${base + p.next}&limit=10000&signals=Vehicle.Speed`);
        if (r.status !== 200) return undefined;
        const stored = new Set(r.body.samples.map((s) => s.seq));
        const lost = [...p.acked].filter((seq) => !stored.has(seq));
        if (lost.length) missing.set(p.vin, lost.slice(0, 10));
        const seqs = r.body.samples.map((s) => s.seq);
        if (new Set(seqs).size !== seqs.length) throw new Error(`${p.vin}: a sample is stored twice`);
      }
      return missing.size === 0 ? true : undefined;
    },
    60_000,
    500,
  ).catch(() => undefined);
  const acked = publishers.reduce((n, p) => n + p.acked.size, 0);
  t.same(Object.fromEntries(missing), {}, `all ${acked} acked samples of ${VEHICLES} vehicles are stored (by seq)`);
  t.ok(acked > ackedBeforeKill, 'publishing went on after the restart');
  await service.stop('SIGTERM');
  t.equal(service.child.exitCode, 0, 'a graceful stop exits 0');
}

t.test('embedded broker + embedded store: nothing acked is lost to kill -9', (t) => scenario(t, 'embedded'));

const influxd = influxdOrSkip();
const mosquittoMissing = missingServer('mosquitto', MOSQUITTO_BINARY);
t.test('Mosquitto + InfluxDB: nothing acked is lost to kill -9', { skip: 'skip' in influxd ? influxd.skip : mosquittoMissing }, (t) => scenario(t, 'mosquitto+influx'));
