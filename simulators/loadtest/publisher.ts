// A load-test publisher process (forked by the load tester; several of them use several cores): connects its
// MQTT connections, publishes its vehicles' samples on the offered schedule with per-vehicle seqs, keeps at most
// `inflight` unacknowledged messages per connection, and reports what each vehicle sent and got acknowledged.
import mqtt, { type MqttClient } from 'mqtt';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { samplesDue } from './options.ts';
import type { FromPublisher, PublisherConfig, PublisherProgress, Reconnection, ToPublisher, VehicleOutcome } from './protocol.ts';
import { loadSample, vehicleTrack, type VehicleTrack } from './samples.ts';

/** Messages published per timer tick at most, so acks and IPC are served between bursts. */
const MAX_MESSAGES_PER_TICK = 2_000;
const PROGRESS_EVERY_MS = 250;

interface Connection {
  client: MqttClient;
  inflight: number;
  /** indices into config.vins */
  vehicles: number[];
  cursor: number;
  /** CONNACK received and not closed since */
  up: boolean;
  /** the latest reconnection, until its first PUBACK */
  awaitingResume?: Reconnection;
}

interface Pending {
  vehicle: number;
  seq: number;
  count: number;
}

function send(message: FromPublisher): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Connections opening at once: thousands of CONNECTs in one burst time out while the broker checks each login. */
const CONNECTING_AT_ONCE = 100;

function open(config: PublisherConfig, c: PublisherConfig['connections'][number]): Promise<MqttClient> {
  const client = mqtt.connect(config.brokerUrl, {
    clientId: c.clientId,
    username: c.username,
    password: c.password,
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    connectTimeout: 30_000,
    reconnectPeriod: 1_000,
  });
  return new Promise<MqttClient>((resolve, reject) => {
    const onError = (err: Error): void => {
      client.end(true);
      reject(new Error(`MQTT connection refused: ${err.message}`));
    };
    client.once('error', onError);
    client.once('connect', () => {
      client.removeListener('error', onError);
      resolve(client);
    });
  });
}

async function connectAll(config: PublisherConfig): Promise<Connection[]> {
  const clients: MqttClient[] = new Array(config.connections.length);
  let next = 0;
  let failed: unknown;
  const lane = async (): Promise<void> => {
    while (next < config.connections.length && failed === undefined) {
      const i = next++;
      try {
        clients[i] = await open(config, config.connections[i]!);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECTING_AT_ONCE, config.connections.length) }, lane));
  if (failed !== undefined) {
    await Promise.all(clients.filter(Boolean).map((client) => client.endAsync(true).catch(() => undefined)));
    throw failed;
  }
  const connections: Connection[] = clients.map((client) => ({ client, inflight: 0, vehicles: [], cursor: 0, up: true }));
  config.vins.forEach((_, i) => connections[i % connections.length]!.vehicles.push(i));
  return connections;
}

async function run(config: PublisherConfig, goAt: Promise<number>, stopRequested: { value: boolean }): Promise<void> {
  const connections = await connectAll(config);
  const progress: PublisherProgress = { published: 0, messages: 0, acked: 0, inflight: 0, behind: 0, errors: 0, reconnects: 0, connected: connections.length };
  const reconnections: Reconnection[] = [];
  connections.forEach((connection, index) => {
    const { client } = connection;
    let connectSentAt = 0;
    client.on('reconnect', () => (progress.reconnects += 1));
    client.on('error', () => (progress.errors += 1));
    client.on('packetsend', (packet) => {
      if (packet.cmd === 'connect') connectSentAt = Date.now();
    });
    // the first connect happened before these listeners: every 'connect' here is a reconnection
    client.on('connect', () => {
      const now = Date.now();
      connection.up = true;
      progress.connected += 1;
      const reconnection: Reconnection = { connection: index, connackMs: now - connectSentAt, connackAt: now, resumedAt: 0 };
      reconnections.push(reconnection);
      connection.awaitingResume = reconnection;
    });
    client.on('close', () => {
      if (!connection.up) return;
      connection.up = false;
      progress.connected -= 1;
    });
  });
  const n = config.vins.length;
  const topics = config.vins.map(telemetryTopic);
  const tracks: VehicleTrack[] = config.vins.map((_, i) => vehicleTrack(config.seed, config.vehicleIndex[i]!));
  const nextSeq = new Int32Array(n);
  const lastTs = new Float64Array(n);
  const unconfirmed = new Map<number, number[]>();
  const pending = new Map<number, Pending>();
  let nextMessageId = 0;
  let connectionCursor = 0;
  let firstTs = Number.POSITIVE_INFINITY;
  let maxTs = 0;

  await send({ type: 'ready' });
  const startAt = await goAt;
  const finalDue = Math.floor(samplesDue(config.schedule, config.durationMs, config.durationMs) / config.batch);
  let nextProbeAt = startAt;

  const markUnconfirmed = (p: Pending): void => {
    const list = unconfirmed.get(p.vehicle) ?? [];
    for (let k = 0; k < p.count; k++) list.push(p.seq + k);
    unconfirmed.set(p.vehicle, list);
  };

  const openConnection = (): Connection | undefined => {
    for (let k = 0; k < connections.length; k++) {
      const c = connections[connectionCursor]!;
      connectionCursor = (connectionCursor + 1) % connections.length;
      if (c.inflight < config.inflight) return c;
    }
    return undefined;
  };

  const publishOne = (connection: Connection, now: number): void => {
    const v = connection.vehicles[connection.cursor]!;
    connection.cursor = (connection.cursor + 1) % connection.vehicles.length;
    const vin = config.vins[v]!;
    const seq = nextSeq[v]!;
    const samples = [];
    let ts = lastTs[v]!;
    for (let k = 0; k < config.batch; k++) {
      ts = Math.max(now, ts + 1);
      samples.push(loadSample(tracks[v]!, seq + k, ts));
    }
    if (ts > maxTs) maxTs = ts;
    if (samples[0]!.ts < firstTs) firstTs = samples[0]!.ts;
    lastTs[v] = ts;
    nextSeq[v] = seq + config.batch;
    const payload = config.batch === 1 ? JSON.stringify({ vin, ...samples[0]! }) : JSON.stringify({ vin, samples });
    const id = nextMessageId++;
    const entry: Pending = { vehicle: v, seq, count: config.batch };
    pending.set(id, entry);
    connection.inflight += 1;
    progress.published += config.batch;
    progress.messages += 1;
    connection.client.publish(topics[v]!, payload, { qos: config.qos }, (err) => {
      connection.inflight -= 1;
      pending.delete(id);
      if (err) {
        progress.errors += 1;
        markUnconfirmed(entry);
      } else {
        progress.acked += entry.count;
        if (connection.awaitingResume) {
          connection.awaitingResume.resumedAt = Date.now();
          connection.awaitingResume = undefined;
        }
      }
    });
    if (config.probeEveryMs > 0 && now >= nextProbeAt) {
      nextProbeAt = now + config.probeEveryMs;
      void send({ type: 'probe', vin, ts, sentAt: Date.now() });
    }
  };

  const report = (): void => {
    progress.inflight = pending.size;
    void send({ type: 'progress', progress: { ...progress } });
  };
  const progressTimer = setInterval(report, PROGRESS_EVERY_MS);

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = Date.now();
      const elapsed = now - startAt;
      const last = elapsed >= config.durationMs || stopRequested.value;
      // at the end everything offered is due; an early stop offers nothing more
      const due = elapsed >= config.durationMs ? finalDue : Math.floor(samplesDue(config.schedule, elapsed, config.durationMs) / config.batch);
      let budget = Math.min(due - progress.messages, MAX_MESSAGES_PER_TICK);
      let windowsFull = false;
      while (budget > 0) {
        const connection = openConnection();
        if (!connection) {
          windowsFull = true;
          break;
        }
        publishOne(connection, now);
        budget -= 1;
      }
      progress.behind = Math.max(0, due - progress.messages) * config.batch;
      if (last) return resolve();
      // still due and sendable: go on at once (after pending I/O); otherwise wait for time or acks
      if (!windowsFull && due - progress.messages > 0) setImmediate(tick);
      else setTimeout(tick, 1);
    };
    const wait = Math.max(0, startAt - Date.now());
    setTimeout(tick, wait);
  });
  if (stopRequested.value) progress.behind = 0;

  const ackDeadline = Date.now() + config.ackTimeoutMs;
  while (pending.size > 0 && Date.now() < ackDeadline) await new Promise((r) => setTimeout(r, 20));
  clearInterval(progressTimer);
  for (const entry of pending.values()) markUnconfirmed(entry);
  progress.inflight = pending.size;

  const vehicles: VehicleOutcome[] = config.vins.map((vin, i) => ({ vin, published: nextSeq[i]!, unconfirmed: (unconfirmed.get(i) ?? []).sort((a, b) => a - b) }));
  await send({ type: 'done', progress: { ...progress }, vehicles, firstTs: Number.isFinite(firstTs) ? firstTs : startAt, lastTs: maxTs, reconnections });
  await Promise.all(connections.map(({ client }) => client.endAsync(true).catch(() => undefined)));
}

if (!process.send) {
  process.stderr.write('simulators/loadtest/publisher.ts is started by the load tester (npm run loadtest), not by hand\n');
  process.exit(2);
}

let resolveGo: (at: number) => void = () => undefined;
const goAt = new Promise<number>((resolve) => (resolveGo = resolve));
const stopRequested = { value: false };
process.on('message', (message: ToPublisher) => {
  if (message.type === 'start') {
    run(message.config, goAt, stopRequested).then(
      () => process.exit(0),
      async (err: unknown) => {
        await send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
        process.exit(1);
      },
    );
  } else if (message.type === 'go') resolveGo(message.at);
  else stopRequested.value = true;
});
// The load tester going away (killed, crashed) must not leave publishers behind.
process.on('disconnect', () => process.exit(0));
