// The store misbehaving: down for a while (the service must push back, not drop) and refusing a sample for
// good (it must become a dead letter, not wedge the spool). Real InfluxDB, embedded broker, real MQTT clients.
import t from 'tap';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { waitFor } from '../../tooling/system.ts';

const influxd = influxdOrSkip();
if ('skip' in influxd) {
  t.plan(0, influxd.skip);
} else {
  await run(influxd.binary).catch((err: unknown) => t.fail(`setup failed: ${String(err)}`));
}

async function run(binary: string): Promise<void> {
  const influx = await startInfluxd(binary);
  t.teardown(influx.stop);
  const database = 'vc_faults';
  const service = await startLocalService({ influxUrl: influx.url, influxDb: database, spoolMaxBytes: 24 * 1024 });
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, service.adminToken.token);
  const vins = [testVin(1, 'FLT'), testVin(2, 'FLT'), testVin(3, 'FLT')];
  const regs = await registerVehicles(api, vins);
  const now = Date.now();

  t.test('with the store down the service stops acking instead of dropping, and catches up after', async (t) => {
    const vin = vins[0]!;
    const reg = regs.get(vin)!;
    const client = await connectMqtt(service.mqttUrl, { clientId: vin, username: vin, password: reg.mqtt.password });
    t.teardown(() => client.endAsync(true));
    await influx.down();
    const TOTAL = 400;
    const acked = new Set<number>();
    let next = 0;
    let open = 0;
    const base = now - 100_000;
    const pump = (): void => {
      while (next < TOTAL && open < 16) {
        const seq = next++;
        open += 1;
        client.publish(telemetryTopic(vin), JSON.stringify({ vin, ts: base + seq, seq, signals: { 'Vehicle.Speed': seq % 100, 'Vehicle.TraveledDistance': seq } }), { qos: 1 }, (err) => {
          open -= 1;
          if (!err) acked.add(seq);
          pump();
        });
      }
    };
    pump();
    // the spool bound (24 KiB) is far below 400 messages: acks must stall while the store is down
    let last = -1;
    await waitFor('acks to stall', async () => {
      const stalled = acked.size === last;
      last = acked.size;
      return stalled && acked.size > 0 ? true : undefined;
    }, 20_000, 700);
    t.ok(acked.size < TOTAL, `acks stalled at ${acked.size} of ${TOTAL} while the store is down`);
    // what an operator watches during the outage: the spool's depth at its bound, and the data ageing
    const gauges = await waitFor('the spool gauges to show the outage', async () => {
      const text = (await api.get<string>('/metrics', '')).body;
      const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      const pending = value('vc_spool_pending_bytes');
      const lag = value('vc_store_lag_seconds');
      return pending >= 24 * 1024 && lag > 0 ? { pending, lag } : undefined;
    }, 30_000, 250);
    t.ok(gauges.pending >= 24 * 1024, `vc_spool_pending_bytes ${gauges.pending} at the bound, not its value before the outage`);
    const ready = await api.get<{ ready: boolean; checks: Record<string, { ok: boolean }> }>('/readyz', '');
    t.equal(ready.status, 503, 'not ready while the store is down');
    t.equal(ready.body.checks.store?.ok, false);
    t.equal(ready.body.checks.spool?.ok, false, 'the spool is full');
    const http = await api.post('/api/v1/telemetry', { vin, ts: now, seq: 9999, signals: { 'Vehicle.Speed': 1 } });
    t.equal(http.status, 503);
    t.match(http.body, { code: 'INGEST_BACKPRESSURE' });
    // reads the store cannot answer: retryable, not an internal error
    const history = await fetch(`${service.apiUrl}/api/v1/vehicles/${vin}/telemetry?from=${base}&to=${base + TOTAL}`, { headers: { authorization: `Bearer ${service.adminToken.token}` } });
    t.equal(history.status, 503, 'a history read while the store is down');
    t.strictSame(await history.json(), { statusCode: 503, code: 'STORE_UNAVAILABLE', message: 'the telemetry store did not answer; retry later' });
    t.equal(history.headers.get('retry-after'), '1');
    const minute = Math.floor(base / 60_000) * 60_000;
    const cockpit = await api.get(`/api/v1/fleet/cockpit?from=${minute}&to=${minute + 600_000}&interval=1m`);
    t.equal(cockpit.status, 503, 'a cockpit read too');
    t.match(cockpit.body, { code: 'STORE_UNAVAILABLE' });

    await influx.up();
    await waitFor('every message to be acked', async () => (acked.size === TOTAL ? true : undefined), 60_000, 200);
    t.ok(await service.writer.drained(60_000), 'the spool drained into InfluxDB');
    const stored = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${base}&to=${base + TOTAL}&limit=10000`);
    t.same(stored.body.samples.map((s) => s.seq), Array.from({ length: TOTAL }, (_, i) => i), 'every sample, once, in order');
    await waitFor('readiness', async () => ((await api.get<{ ready: boolean }>('/readyz', '')).body.ready ? true : undefined), 10_000);
  });

  t.test('a sample the store refuses for good becomes a dead letter; the rest of its batch is stored', async (t) => {
    const vin = vins[1]!;
    const ts = now - 50_000;
    // a string where the catalog has a number: InfluxDB now refuses floats for this field in this shard
    const conflict = await fetch(`${influx.url}/write?db=${database}&precision=ms`, {
      method: 'POST',
      body: `telemetry,vin=${vin},brand=x,model=y Vehicle.Exterior.AirTemperature="warm" ${ts - 1}`,
    });
    t.equal(conflict.status, 204);
    const client = await connectMqtt(service.mqttUrl, { clientId: vin, username: vin, password: regs.get(vin)!.mqtt.password });
    t.teardown(() => client.endAsync());
    const samples = Array.from({ length: 6 }, (_, i) => ({
      ts: ts + i,
      seq: i,
      signals: i === 4 ? { 'Vehicle.Speed': 10, 'Vehicle.Exterior.AirTemperature': 21 } : { 'Vehicle.Speed': 10 + i },
    }));
    await publishQos1(client, telemetryTopic(vin), JSON.stringify({ vin, samples }));
    await publishQos1(client, telemetryTopic(vin), JSON.stringify({ vin, ts: ts + 10, seq: 10, signals: { 'Vehicle.Speed': 99 } }));
    t.ok(await service.writer.drained(30_000), 'the writer did not wedge');
    const stored = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${ts}&to=${ts + 11}`);
    t.same(stored.body.samples.map((s) => s.seq), [0, 1, 2, 3, 5, 10]);
    const letters = await api.get<{ items: Array<{ reason: string; vin?: string; raw: string }> }>(`/api/v1/dead-letters?reason=store_rejected&vin=${vin}`);
    t.equal(letters.body.items.length, 1);
    t.match(letters.body.items[0]?.raw, /"seq":4/);
  });

  t.test('the store writer thread dying loses nothing: it is started again from the checkpoint', async (t) => {
    const vin = vins[2]!;
    const client = await connectMqtt(service.mqttUrl, { clientId: vin, username: vin, password: regs.get(vin)!.mqtt.password });
    t.teardown(() => client.endAsync());
    const base = now - 30_000;
    const TOTAL = 300;
    const thread = (service.writer as unknown as { worker?: { terminate(): Promise<number> } }).worker;
    t.ok(thread, 'InfluxDB mode runs the writer in a thread');
    for (let seq = 0; seq < TOTAL; seq++) {
      await publishQos1(client, telemetryTopic(vin), JSON.stringify({ vin, ts: base + seq, seq, signals: { 'Vehicle.Speed': seq % 90 } }));
      // a crash of the thread, as an uncaught error would end it, half-way through
      if (seq === TOTAL / 2) await thread!.terminate();
    }
    t.ok(await service.writer.drained(60_000), 'drained by the new thread');
    const stored = await api.get<{ samples: Array<{ seq: number }> }>(`/api/v1/vehicles/${vin}/telemetry?from=${base}&to=${base + TOTAL}&limit=10000`);
    t.same(stored.body.samples.map((s) => s.seq), Array.from({ length: TOTAL }, (_, i) => i), 'every acked sample once');
    await waitFor('ready again', async () => ((await api.get<{ ready: boolean }>('/readyz', '')).body.ready ? true : undefined), 15_000);
  });
}

