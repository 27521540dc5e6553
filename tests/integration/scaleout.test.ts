// Scale-out: two real vehicle-cloud worker processes share one Mosquitto subscription ($share group), over one
// InfluxDB and one PostgreSQL (the registry both workers read). Vehicles publish through the broker; every sample must be stored exactly once (counted per vehicle with
// InfluxQL, redeliveries included), and both workers must have taken part.
import t from 'tap';
import type { MqttClient } from 'mqtt';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { parsePrometheus } from '../../simulators/loadtest/index.ts';
import { influxQuery } from '../../tooling/influxql.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY, startMosquitto } from '../../tooling/mosquitto.ts';
import { postgresOrSkip, startPostgres } from '../../tooling/postgres.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin } from '../helpers/api.ts';
import { spawnService } from '../../tooling/service.ts';
import { freePort, missingServer, tempDir, waitFor } from '../../tooling/system.ts';

const VEHICLES = 60;
const SAMPLES = 50;
const PUBLISHERS = 6;
const DATABASE = 'vc_scaleout';
const ADMIN_TOKEN = 'scaleout-admin-token-0123456789';

const influxd = influxdOrSkip();
const mosquittoMissing = missingServer('mosquitto', MOSQUITTO_BINARY);
const postgres = postgresOrSkip();
if ('skip' in influxd || mosquittoMissing || postgres.skip) {
  t.plan(0, 'skip' in influxd ? influxd.skip : (mosquittoMissing ?? postgres.skip));
} else {
  await run().catch((err: unknown) => t.fail(`setup failed: ${String(err)}`));
}

async function samplesAccepted(apiUrl: string): Promise<number> {
  const response = await fetch(`${apiUrl}/metrics`);
  return parsePrometheus(await response.text()).get('vc_ingest_samples_accepted_total') ?? 0;
}

async function run(): Promise<void> {
  const influx = await startInfluxd(influxd.binary);
  t.teardown(influx.stop);
  const broker = await startMosquitto();
  t.teardown(broker.stop);
  const registry = await startPostgres(postgres.binDir);
  t.teardown(registry.stop);
  const databaseUrl = await registry.createDatabase();

  const worker = async (name: string) => {
    const data = await tempDir(`scaleout-${name}`);
    t.teardown(data.remove);
    const env = {
      VC_HTTP_PORT: String(await freePort()),
      VC_DATA_DIR: data.path,
      VC_ADMIN_TOKEN: ADMIN_TOKEN,
      VC_MQTT_URL: broker.url,
      VC_MQTT_CLIENT_ID: `vc-scaleout-${name}`,
      VC_MQTT_SHARE_GROUP: 'vehicle-cloud',
      VC_INFLUX_URL: influx.url,
      VC_INFLUX_DB: DATABASE,
      VC_DATABASE_URL: databaseUrl,
    };
    const handle = { service: await spawnService(env), env, apiUrl: `http://127.0.0.1:${env.VC_HTTP_PORT}` };
    t.teardown(() => handle.service.stop());
    return handle;
  };
  // one after the other: both create the database at start
  const a = await worker('a');
  const b = await worker('b');
  const apiA = apiClient(a.apiUrl, ADMIN_TOKEN);
  const apiB = apiClient(b.apiUrl, ADMIN_TOKEN);
  await waitFor('both workers subscribed', async () => {
    const [ra, rb] = await Promise.all([apiA.get<{ ready: boolean }>('/readyz'), apiB.get<{ ready: boolean }>('/readyz')]);
    return ra.body.ready && rb.body.ready ? true : undefined;
  });

  // registered through worker A after B started: B finds them in the database on first sight
  const vins = Array.from({ length: VEHICLES }, (_, i) => testVin(i, 'SHR'));
  await registerVehicles(apiA, vins, 'Nordwind', 'Fjord');
  const base = Date.now() - 5 * 60_000;

  t.test(`${VEHICLES} vehicles x ${SAMPLES} samples through two $share workers are stored exactly once`, async (t) => {
    const clients: MqttClient[] = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => connectMqtt(broker.url, { clientId: `scaleout-pub-${i}` })));
    t.teardown(() => Promise.all(clients.map((c) => c.endAsync())));
    const sample = (vi: number, seq: number) => ({ ts: base + seq * 1000, seq, signals: { 'Vehicle.Speed': (vi * 7 + seq) % 140, 'Vehicle.TraveledDistance': 500 + seq } });
    let acked = 0;
    await Promise.all(
      clients.map(async (client, ci) => {
        for (let vi = ci; vi < VEHICLES; vi += PUBLISHERS) {
          const vin = vins[vi]!;
          const topic = telemetryTopic(vin);
          const sends: Array<Promise<void>> = [];
          for (let seq = 0; seq < SAMPLES; seq++) sends.push(publishQos1(client, topic, JSON.stringify({ vin, ...sample(vi, seq) })));
          // redeliveries of the same samples may reach the other worker: still one point per (vin, ts)
          for (let seq = 0; seq < SAMPLES; seq += 5) sends.push(publishQos1(client, topic, JSON.stringify({ vin, ...sample(vi, seq) })));
          await Promise.all(sends);
          acked += sends.length;
        }
      }),
    );
    t.equal(acked, VEHICLES * (SAMPLES + SAMPLES / 5), 'every publish was acknowledged by the broker');

    const counts = await waitFor(
      'every sample in InfluxDB',
      async () => {
        const rows = await influxQuery(influx.url, DATABASE, `SELECT count("seq") FROM "telemetry" WHERE time >= ${base}ms GROUP BY "vin"`);
        return rows.length === VEHICLES && rows.every((r) => r[1] === SAMPLES) ? rows : undefined;
      },
      60_000,
      250,
    );
    t.equal(counts.length, VEHICLES, 'every vehicle has a series');
    const seqs = await influxQuery(influx.url, DATABASE, `SELECT "seq" FROM "telemetry" WHERE time >= ${base}ms GROUP BY "vin"`);
    const byVin = new Map<string, number[]>();
    for (const row of seqs) {
      const vin = String(row.at(-1));
      byVin.set(vin, [...(byVin.get(vin) ?? []), Number(row[1])]);
    }
    const expected = Array.from({ length: SAMPLES }, (_, i) => i);
    t.same(vins.filter((vin) => JSON.stringify(byVin.get(vin)) !== JSON.stringify(expected)), [], `per vehicle, seq 0-${SAMPLES - 1} exactly once`);

    const [fromA, fromB] = await Promise.all([samplesAccepted(a.apiUrl), samplesAccepted(b.apiUrl)]);
    t.ok(fromA > 0, `worker A accepted samples (${fromA})`);
    t.ok(fromB > 0, `worker B accepted samples (${fromB})`);
    t.equal(fromA + fromB, acked, 'together they accepted every message once (the broker gave each to one worker)');
  });

  const storedCount = async (): Promise<number> =>
    (await influxQuery(influx.url, DATABASE, `SELECT count("seq") FROM "telemetry" WHERE time >= ${base}ms`)).reduce((n, r) => n + Number(r[1]), 0);

  t.test('a worker that stops and comes back loses nothing: its share waits in its persistent session', async (t) => {
    const client = await connectMqtt(broker.url, { clientId: 'scaleout-pub-restart' });
    t.teardown(() => client.endAsync());
    await b.service.stop('SIGTERM');
    const more = 20;
    const sends: Array<Promise<void>> = [];
    for (const vin of vins) {
      for (let seq = SAMPLES; seq < SAMPLES + more; seq++) {
        sends.push(publishQos1(client, telemetryTopic(vin), JSON.stringify({ vin, ts: base + seq * 1000, seq, signals: { 'Vehicle.Speed': seq } })));
      }
    }
    await Promise.all(sends);
    // Mosquitto keeps dealing the shared subscription's messages to B's offline persistent session: A gets only its own
    await waitFor('worker A stored its share', async () => ((await storedCount()) >= VEHICLES * SAMPLES + (VEHICLES * more) / 4 ? true : undefined), 30_000, 250);
    await new Promise((r) => setTimeout(r, 1_000));
    const whileDown = await storedCount();
    t.ok(whileDown < VEHICLES * (SAMPLES + more), `while B is down, its share waits for it (${whileDown} of ${VEHICLES * (SAMPLES + more)} stored)`);
    b.service = await spawnService(b.env);
    const total = SAMPLES + more;
    const rows = await waitFor(
      'every sample in InfluxDB after the restart',
      async () => {
        const r = await influxQuery(influx.url, DATABASE, `SELECT count("seq") FROM "telemetry" WHERE time >= ${base}ms GROUP BY "vin"`);
        return r.length === VEHICLES && r.every((row) => row[1] === total) ? r : undefined;
      },
      60_000,
      250,
    );
    t.ok(rows.every((row) => row[1] === total), `each vehicle has exactly ${total} samples`);
  });

  t.test('either worker answers for what the other stored', async (t) => {
    const vin = vins[3]!;
    for (const api of [apiA, apiB]) {
      const r = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${base}&to=${base + SAMPLES * 1000}&limit=1000`);
      t.equal(r.status, 200);
      t.same(r.body.samples.map((s) => s.seq), Array.from({ length: SAMPLES }, (_, i) => i));
    }
  });
}
