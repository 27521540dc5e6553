// The naive bridge a user would write instead of vehicle-cloud: an MQTT.js subscriber (QoS 1, PUBACK as soon as
// the handler returns) that turns each sample into a Point for @influxdata/influxdb-client's WriteApi with its
// default options (batches of 1000 lines, flush every 60 s, retries, a 32k-line retry buffer). The only change is
// the write path: Debian's influxd 1.6.7 has no /api/v2/write, so the client's transport is pointed at /write.
import { InfluxDB, Point, type Transport, type WriteApi } from '@influxdata/influxdb-client';
import mqtt, { type MqttClient } from 'mqtt';
import { TOPIC_FILTER } from '../services/contract/telemetry.ts';
import { serveRpc } from './rpc.ts';

type Sample = { ts: number; seq: number; signals: Record<string, number | boolean | string> };

let client: MqttClient | undefined;
let writeApi: WriteApi | undefined;
let received = 0;
let written = 0;
/** failed write attempts (retried by the client, or given up) */
let failedWrites = 0;

/** The v1 write endpoint for WriteApi's v2 path; everything else passes through. */
function v1Transport(base: Transport, database: string): Transport {
  const path = (p: string): string => (p.startsWith('/api/v2/write?') ? `/write?db=${encodeURIComponent(database)}&precision=ms` : p);
  return {
    send: (p, body, options, callbacks) => base.send(path(p), body, options, callbacks),
    request: (p, body, options, started) => base.request(path(p), body, options, started),
    iterate: (p, body, options) => base.iterate(path(p), body, options),
    chunkCombiner: base.chunkCombiner,
  };
}

function toPoint(vin: string, sample: Sample): Point {
  const point = new Point('telemetry').tag('vin', vin).intField('seq', sample.seq).timestamp(sample.ts);
  for (const [path, value] of Object.entries(sample.signals)) {
    if (typeof value === 'number') point.floatField(path, value);
    else if (typeof value === 'boolean') point.booleanField(path, value);
    else point.stringField(path, value);
  }
  return point;
}

serveRpc({
  async connect(args: { mqttUrl: string; influxUrl: string; database: string; clientId: string }) {
    const base = new InfluxDB({ url: args.influxUrl }).transport;
    writeApi = new InfluxDB({ url: args.influxUrl, transport: v1Transport(base, args.database) }).getWriteApi('', args.database, 'ms', {
      // observers only (they do not change batching or retries): how the benchmark knows what was written
      writeSuccess: (lines: string[]) => {
        written += lines.length;
      },
      writeFailed: () => {
        failedWrites += 1;
      },
    });
    const c = mqtt.connect(args.mqttUrl, { clientId: args.clientId, protocolVersion: 4, reconnectPeriod: 1_000 });
    client = c;
    c.on('message', (topic, payload) => {
      const vin = topic.split('/')[1] ?? '';
      let message: Sample & { samples?: Sample[] };
      try {
        message = JSON.parse(payload.toString('utf8')) as typeof message;
      } catch {
        return;
      }
      for (const sample of message.samples ?? [message]) {
        received += 1;
        writeApi?.writePoint(toPoint(vin, sample));
      }
    });
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    await c.subscribeAsync(TOPIC_FILTER, { qos: 1 });
    return true;
  },
  stats() {
    return { received, written, failedWrites };
  },
  /**
   * The end of a step stands for the flush interval passing: once the broker has delivered its backlog (nothing
   * new for 300 ms), send the partial batch instead of leaving it for WriteApi's 60 s timer.
   */
  async flushWhenIdle() {
    const deadline = Date.now() + 120_000;
    for (let seen = -1; seen !== received && Date.now() < deadline; ) {
      seen = received;
      await new Promise((r) => setTimeout(r, 300));
    }
    await writeApi?.flush().catch(() => undefined);
    return true;
  },
  async close() {
    await client?.endAsync();
    await writeApi?.close().catch(() => undefined);
    return true;
  },
});
