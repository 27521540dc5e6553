// The telemetry slice in the external deployment: a real Mosquitto 2 and a real InfluxDB 1.x, each started on
// free loopback ports. 200 vehicles x 30 samples (singles and batches, out of order, duplicated) must be in
// InfluxDB exactly once, counted with InfluxQL per vehicle.
import t from 'tap';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY, startMosquitto } from '../../tooling/mosquitto.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { missingServer, waitFor } from '../../tooling/system.ts';
import { influxQuery } from '../../tooling/influxql.ts';

const influxd = influxdOrSkip();
const mosquittoMissing = missingServer('mosquitto', MOSQUITTO_BINARY);
if ('skip' in influxd || mosquittoMissing) {
  t.plan(0, 'skip' in influxd ? influxd.skip : mosquittoMissing);
} else {
  await run().catch((err: unknown) => t.fail(`setup failed: ${String(err)}`));
}

async function run(): Promise<void> {
  const influx = await startInfluxd(influxd.binary);
  t.teardown(influx.stop);
  const broker = await startMosquitto();
  t.teardown(broker.stop);
  const database = 'vc_it';
  const service = await startLocalService({ mqttUrl: broker.url, influxUrl: influx.url, influxDb: database, mqttClientId: 'vc-it-ingest' });
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, service.adminToken.token);

  const VEHICLES = 200;
  const SAMPLES = 30;
  const vins = Array.from({ length: VEHICLES }, (_, i) => testVin(i, 'MSX'));
  await registerVehicles(api, vins, 'Nordwind', 'Fjord');
  const base = Date.now() - 10 * 60_000;

  t.test('the service creates its database and reports ready', async (t) => {
    const dbs = await influxQuery(influx.url, undefined, 'SHOW DATABASES');
    t.ok(dbs.some((row) => row.includes(database)));
    await waitFor('readiness', async () => ((await api.get<{ ready: boolean }>('/readyz', '')).body.ready ? true : undefined));
  });

  t.test('200 vehicles x 30 samples at QoS 1 (singles, batches, out of order, duplicated) are stored exactly once', async (t) => {
    const PUBLISHERS = 8;
    const clients = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => connectMqtt(broker.url, { clientId: `it-pub-${i}` })));
    t.teardown(() => Promise.all(clients.map((c) => c.endAsync())));
    const sample = (vi: number, seq: number) => ({ ts: base + seq * 1000, seq, signals: { 'Vehicle.Speed': (vi + seq) % 130, 'Vehicle.TraveledDistance': 1000 + seq } });
    let published = 0;
    await Promise.all(
      clients.map(async (client, ci) => {
        for (let vi = ci; vi < VEHICLES; vi += PUBLISHERS) {
          const vin = vins[vi]!;
          const topic = telemetryTopic(vin);
          const single = (seq: number) => publishQos1(client, topic, JSON.stringify({ vin, ...sample(vi, seq) }));
          const batch = (from: number, to: number) => publishQos1(client, topic, JSON.stringify({ vin, samples: Array.from({ length: to - from }, (_, k) => sample(vi, from + k)) }));
          // the second batch (a car back from a tunnel) arrives before the first; singles arrive in reverse
          const sends: Array<() => Promise<void>> = [() => batch(20, 30), () => batch(10, 20)];
          for (let seq = 9; seq >= 0; seq--) sends.push(() => single(seq));
          // redeliveries: one single and a whole batch again
          sends.push(() => single(3 + (vi % 5)), () => batch(10, 20));
          await Promise.all(sends.map((send) => send()));
          published += sends.length;
        }
      }),
    );
    t.equal(published, VEHICLES * 14, 'every publish was acknowledged');
    const counts = await waitFor(
      'all samples in InfluxDB',
      async () => {
        const rows = await influxQuery(influx.url, database, `SELECT count("seq") FROM "telemetry" WHERE time >= ${base}ms GROUP BY "vin"`);
        return rows.length === VEHICLES && rows.every((r) => r[1] === SAMPLES) ? rows : undefined;
      },
      60_000,
      250,
    );
    t.equal(counts.length, VEHICLES, 'every vehicle has a series');
    t.ok(counts.every((r) => r[1] === SAMPLES), `each vehicle has exactly ${SAMPLES} samples`);
    const seqs = await influxQuery(influx.url, database, `SELECT "seq" FROM "telemetry" WHERE time >= ${base}ms GROUP BY "vin"`);
    const byVin = new Map<string, number[]>();
    for (const row of seqs) {
      const vin = String(row.at(-1));
      const list = byVin.get(vin) ?? [];
      list.push(Number(row[1]));
      byVin.set(vin, list);
    }
    const expected = Array.from({ length: SAMPLES }, (_, i) => i);
    const wrong = vins.filter((vin) => JSON.stringify(byVin.get(vin)) !== JSON.stringify(expected));
    t.same(wrong, [], 'per vehicle, seq 0-29 once each, in time order');
  });

  t.test('/metrics shows the store writer thread\'s counters next to ingestion\'s, and the process once', async (t) => {
    t.ok(await service.writer.drained(), 'drained');
    const text = await (await fetch(`${service.apiUrl}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    // per vehicle: 30 samples, one single sent twice and a batch of 10 sent twice
    t.equal(value('vc_ingest_samples_accepted_total'), VEHICLES * (SAMPLES + 11), 'ingestion (redeliveries counted as received)');
    t.ok(value('vc_store_samples_written_total') >= VEHICLES * SAMPLES, 'the writer thread\'s count is merged in');
    t.equal(value('vc_rollup_pending_keys'), 0);
    t.equal(text.match(/^process_resident_memory_bytes /gm)?.length, 1, 'process metrics reported once');
    const heap = (kind: string): number => Number(new RegExp(`^vc_thread_heap_bytes\\{thread="writer",kind="${kind}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    t.ok(heap('used') > 0 && heap('used') <= heap('committed'), `the writer thread's own heap: ${heap('used')} used of ${heap('committed')} committed`);
    t.ok(heap('young') > 0 && heap('young') < heap('committed'), `its young generation: ${heap('young')}`);
    t.not(heap('committed'), value('nodejs_heap_size_total_bytes'), "not the main thread's heap");
  });

  t.test('the read path answers from InfluxDB', async (t) => {
    const vin = vins[7]!;
    const r = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${base}&to=${base + 10_000}`);
    t.equal(r.status, 200);
    t.same(r.body.samples.map((s) => s.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const twin = await api.get<{ signals: Record<string, { value: unknown; ts: number }> }>(`/api/v1/vehicles/${vin}`);
    t.same(twin.body.signals['Vehicle.TraveledDistance'], { value: 1029, ts: base + 29_000 });
  });

  t.test('a bad message on the external broker is a dead letter; ingestion goes on', async (t) => {
    const client = await connectMqtt(broker.url, { clientId: 'it-bad' });
    t.teardown(() => client.endAsync());
    const vin = vins[0]!;
    await publishQos1(client, telemetryTopic(vin), 'not json');
    await publishQos1(client, telemetryTopic(vin), JSON.stringify({ vin, ts: base + 100_000, seq: 100, signals: { 'Vehicle.Speed': 1 } }));
    await waitFor('dead letter', async () => {
      const r = await api.get<{ items: Array<{ reason: string; vin?: string }> }>(`/api/v1/dead-letters?reason=malformed_json`);
      return r.body.items.length > 0 ? true : undefined;
    });
    await waitFor('the valid sample after it', async () => {
      const r = await api.get<{ samples: unknown[] }>(`/api/v1/vehicles/${vin}/telemetry?from=${base + 100_000}&to=${base + 100_001}`);
      return r.body.samples.length === 1 ? true : undefined;
    });
    t.pass('both arrived');
  });
}
