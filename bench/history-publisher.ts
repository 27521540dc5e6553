// A helper process of the cockpit benchmark: vehicles back from a dead zone, each sending the history it buffered
// as store-and-forward batches (the contract's at most 1,000 samples and 256 KiB a message, cut as the fleet
// simulator's uplink cuts them), QoS 1, over a few MQTT connections with a window of unacknowledged messages each.
// It runs apart from the benchmark so that building and sending millions of samples does not share its thread.
import mqtt, { type MqttClient } from 'mqtt';
import { telemetryTopic } from '../services/contract/telemetry.ts';
import { batchMessages } from '../simulators/fleet/uplink.ts';
import { historySamples, type HistoryRange } from './history.ts';
import { serveRpc } from './rpc.ts';

export interface HistoryJob {
  brokerUrl: string;
  username?: string;
  password?: string;
  clientIdPrefix: string;
  connections: number;
  /** unacknowledged messages per connection */
  inflight: number;
  /** each vehicle's VIN and its index in the whole fleet (signal values depend on it) */
  vehicles: Array<{ vin: string; index: number }>;
  /** oldest first; a vehicle's seqs run through all of them */
  ranges: HistoryRange[];
}

export interface HistoryProgress {
  messages: number;
  samples: number;
  ackedMessages: number;
  ackedSamples: number;
  errors: number;
  /** wall-clock ms of the first publish and of the last PUBACK */
  firstSentAt: number | null;
  lastAckAt: number | null;
}

const progress: HistoryProgress = { messages: 0, samples: 0, ackedMessages: 0, ackedSamples: 0, errors: 0, firstSentAt: null, lastAckAt: null };
let clients: MqttClient[] = [];

function connect(job: HistoryJob, i: number): Promise<MqttClient> {
  const client = mqtt.connect(job.brokerUrl, {
    clientId: `${job.clientIdPrefix}-${i}`,
    username: job.username,
    password: job.password,
    protocolVersion: 4,
    clean: true,
    connectTimeout: 30_000,
    reconnectPeriod: 1_000,
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(new Error(`MQTT connection refused: ${err.message}`));
    });
  });
}

/** One connection: its vehicles one after the other, each sending its whole backlog, `inflight` messages at a time. */
async function sendOver(client: MqttClient, job: HistoryJob, vehicles: HistoryJob['vehicles']): Promise<void> {
  let inflight = 0;
  let wake: (() => void) | undefined;
  const settled = (): void => {
    inflight -= 1;
    wake?.();
  };
  for (const { vin, index } of vehicles) {
    const topic = telemetryTopic(vin);
    for (const message of batchMessages(vin, historySamples(index, job.ranges))) {
      while (inflight >= job.inflight) await new Promise<void>((r) => (wake = r));
      inflight += 1;
      progress.firstSentAt ??= Date.now();
      progress.messages += 1;
      progress.samples += message.samples;
      client.publish(topic, message.payload, { qos: 1 }, (err) => {
        if (err) progress.errors += 1;
        else {
          progress.ackedMessages += 1;
          progress.ackedSamples += message.samples;
          progress.lastAckAt = Date.now();
        }
        settled();
      });
    }
  }
  while (inflight > 0) await new Promise<void>((r) => (wake = r));
}

serveRpc({
  async publish(job: HistoryJob) {
    clients = await Promise.all(Array.from({ length: job.connections }, (_, i) => connect(job, i)));
    await Promise.all(clients.map((client, c) => sendOver(client, job, job.vehicles.filter((_, v) => v % clients.length === c))));
    await Promise.all(clients.map((client) => client.endAsync().catch(() => undefined)));
    return progress;
  },
  progress() {
    return progress;
  },
});
