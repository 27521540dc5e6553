// The Mosquitto harness starts a broker that never drops QoS 1 messages for a slow or offline persistent
// subscriber; a control run with Mosquitto's default queue limit shows the same scenario does lose messages.
import { existsSync } from 'node:fs';
import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { MOSQUITTO_BINARY, startMosquitto, type MosquittoOptions } from '../../tooling/mosquitto.ts';
import { missingServer, waitFor } from '../../tooling/system.ts';

const skip = missingServer('mosquitto', MOSQUITTO_BINARY) ?? false;

const MESSAGES = 2_000;
const TOPIC = 'vehicles/TESTVIN0000000001/telemetry';
const SUBSCRIBER_ID = 'slow-ingest';
/** The subscriber goes offline after this many messages, so its persistent session must queue the rest. */
const OFFLINE_AFTER = 500;

interface DeliveryReport {
  received: Set<number>;
  missing: number[];
  duplicates: number;
}

/** A QoS 1 subscriber that PUBACKs each message only after `delayMs`, as a busy ingest would. */
async function slowSubscriber(url: string, seen: Map<number, number>, delayMs: number): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: SUBSCRIBER_ID, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
  // Set before CONNACK: a resumed session's queued messages arrive in the same read as the CONNACK.
  client.handleMessage = (packet, callback) => {
    const { seq } = JSON.parse(packet.payload.toString()) as { seq: number };
    seen.set(seq, (seen.get(seq) ?? 0) + 1);
    setTimeout(callback, delayMs);
  };
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  return client;
}

async function publishAndDrain(options: MosquittoOptions, t: { teardown(fn: () => unknown): void }): Promise<DeliveryReport> {
  const broker = await startMosquitto(options);
  t.teardown(() => broker.stop());
  const seen = new Map<number, number>();

  const first = await slowSubscriber(broker.url, seen, 1);
  await first.subscribeAsync(TOPIC, { qos: 1 });
  const wentOffline = waitFor('the subscriber to go offline', async () => (seen.size >= OFFLINE_AFTER ? true : undefined), 30_000, 5).then(() =>
    first.endAsync(true),
  );

  const publisher = await mqtt.connectAsync(broker.url, { clientId: 'vehicle-publisher', protocolVersion: 4, reconnectPeriod: 0 });
  const acks = [];
  for (let seq = 0; seq < MESSAGES; seq++) acks.push(publisher.publishAsync(TOPIC, JSON.stringify({ seq }), { qos: 1 }));
  await Promise.all(acks);
  await publisher.endAsync();
  await wentOffline;

  // Back online with the same client id: the persistent session delivers what was queued meanwhile.
  const second = await slowSubscriber(broker.url, seen, 1);
  let lastSize = -1;
  let quietSince = Date.now();
  await waitFor(
    'the queue to drain',
    async () => {
      if (seen.size === MESSAGES) return true;
      if (seen.size !== lastSize) {
        lastSize = seen.size;
        quietSince = Date.now();
      }
      return Date.now() - quietSince > 1_500 ? true : undefined;
    },
    60_000,
    20,
  );
  await second.endAsync();

  const missing: number[] = [];
  for (let seq = 0; seq < MESSAGES; seq++) if (!seen.has(seq)) missing.push(seq);
  const duplicates = [...seen.values()].reduce((sum, n) => sum + n - 1, 0);
  return { received: new Set(seen.keys()), missing, duplicates };
}

t.test('the harness broker delivers every QoS 1 message to a slow subscriber with a persistent session', { skip }, async (t) => {
  const report = await publishAndDrain({}, t);
  t.same(report.missing, [], 'no seq is missing');
  t.equal(report.received.size, MESSAGES, `all ${MESSAGES} seqs arrived`);
  t.comment(`${report.duplicates} redelivered duplicates (expected after going offline with messages in flight)`);
});

t.test("control: Mosquitto's default max_queued_messages 1000 drops messages in the same scenario", { skip }, async (t) => {
  const report = await publishAndDrain({ config: 'max_queued_messages 1000' }, t);
  t.ok(report.missing.length > 0, `the default limit lost ${report.missing.length} messages`);
});

t.test('the harness broker keeps a persistent session across a restart', { skip }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const seen = new Map<number, number>();
  const subscriber = await slowSubscriber(broker.url, seen, 0);
  await subscriber.subscribeAsync(TOPIC, { qos: 1 });
  await subscriber.endAsync();

  const publisher = await mqtt.connectAsync(broker.url, { clientId: 'vehicle-publisher', protocolVersion: 4, reconnectPeriod: 0 });
  for (let seq = 0; seq < 10; seq++) await publisher.publishAsync(TOPIC, JSON.stringify({ seq }), { qos: 1 });
  await publisher.endAsync();

  const pidBefore = broker.pid;
  await broker.restart();
  t.not(broker.pid, pidBefore, 'a new broker process');

  const back = await slowSubscriber(broker.url, seen, 0);
  await waitFor('queued messages after the restart', async () => (seen.size === 10 ? true : undefined), 10_000);
  await back.endAsync();
  t.equal(seen.size, 10, 'the 10 messages queued before the restart were delivered after it');
});

t.test('stop() ends the broker process and removes its data dir', { skip }, async (t) => {
  const broker = await startMosquitto();
  const { pid, dataDir } = broker;
  await broker.stop();
  await broker.stop();
  t.throws(() => process.kill(pid, 0), 'the process is gone');
  t.notOk(existsSync(dataDir), 'the data dir is removed');
});
