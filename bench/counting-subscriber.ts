// The broker ceiling's subscriber: one MQTT.js client subscribed at QoS 1 that only counts what it receives
// (keeping each vehicle's seqs, so that zero loss is checked by seq like everything else). MQTT.js PUBACKs each
// message as soon as the handler returns, so this is as fast as one MQTT.js subscriber gets.
import mqtt, { type MqttClient } from 'mqtt';
import { TOPIC_FILTER } from '../services/contract/telemetry.ts';
import { serveRpc } from './rpc.ts';

interface VehicleLog {
  seqs: number[];
  ts: number[];
  lastTs: number;
}

let client: MqttClient | undefined;
let received = 0;
let malformed = 0;
const vehicles = new Map<string, VehicleLog>();
const VIN_START = 'vehicles/'.length;

function onMessage(topic: string, payload: Buffer): void {
  received += 1;
  const vin = topic.slice(VIN_START, VIN_START + 17);
  let message: { ts?: number; seq?: number; samples?: Array<{ ts: number; seq: number }> };
  try {
    message = JSON.parse(payload.toString('utf8')) as typeof message;
  } catch {
    malformed += 1;
    return;
  }
  let log = vehicles.get(vin);
  if (!log) vehicles.set(vin, (log = { seqs: [], ts: [], lastTs: 0 }));
  for (const s of message.samples ?? [message as { ts: number; seq: number }]) {
    log.seqs.push(s.seq);
    log.ts.push(s.ts);
    if (s.ts > log.lastTs) log.lastTs = s.ts;
  }
}

serveRpc({
  async connect(args: { url: string; clientId: string }) {
    const c = mqtt.connect(args.url, { clientId: args.clientId, protocolVersion: 4, clean: true, reconnectPeriod: 1_000 });
    client = c;
    c.on('message', onMessage);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    await c.subscribeAsync(TOPIC_FILTER, { qos: 1 });
    return true;
  },
  stats() {
    return { received, malformed, samples: [...vehicles.values()].reduce((n, v) => n + v.seqs.length, 0) };
  },
  /** has the sample (vin, ts) arrived? Vehicles' samples arrive in ts order over one connection. */
  seen(args: { vin: string; ts: number }) {
    return (vehicles.get(args.vin)?.lastTs ?? 0) >= args.ts;
  },
  /** seqs received per vehicle with ts in [from, to); forgets them afterwards */
  readBack(args: { from: number; to: number }) {
    const out: Array<[string, number[]]> = [];
    for (const [vin, log] of vehicles) {
      const seqs: number[] = [];
      log.seqs.forEach((seq, i) => {
        const ts = log.ts[i]!;
        if (ts >= args.from && ts < args.to) seqs.push(seq);
      });
      out.push([vin, seqs]);
    }
    vehicles.clear();
    return out;
  },
  async close() {
    await client?.endAsync();
    return true;
  },
});
