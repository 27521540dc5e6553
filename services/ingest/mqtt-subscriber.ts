// Ingestion from an external broker (Mosquitto 2, EMQX, HiveMQ): one MQTT.js client with a persistent session
// subscribed at QoS 1. MQTT.js writes each PUBACK once `handleMessage` calls back; its socket is wrapped in a
// DurableAckStream, which lets those PUBACKs out only after the spool group holding their messages is written,
// so the broker keeps (and redelivers) whatever we have not made durable. With VC_MQTT_SHARE_GROUP, N ingest
// workers share the subscription ($share/<group>/...).
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { MqttClient, type IClientOptions } from 'mqtt';
import type { Logger } from 'pino';
import { TOPIC_FILTER } from '../contract/telemetry.ts';
import { redact } from '../observability/redact.ts';
import { DurableAckStream } from './durable-ack-stream.ts';
import type { IngestPipeline } from './pipeline.ts';

export interface MqttSubscriberOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  shareGroup?: string;
  pipeline: IngestPipeline;
  logger: Logger;
  /** MQTT 5 Receive Maximum of the ingest session */
  receiveMaximum?: number;
}

export class MqttSubscriber {
  private client: MqttClient | undefined;
  private closing = false;
  private subscribed = false;

  constructor(private readonly options: MqttSubscriberOptions) {}

  get connected(): boolean {
    return this.client?.connected === true && this.subscribed;
  }

  get topic(): string {
    return this.options.shareGroup ? `$share/${this.options.shareGroup}/${TOPIC_FILTER}` : TOPIC_FILTER;
  }

  /** Connect and subscribe; resolves on the first successful subscription (keeps reconnecting in the background). */
  start(): Promise<void> {
    const { url, clientId, pipeline, logger } = this.options;
    // credentials in the URL (mqtt://user:pass@host) count when none are configured, as with mqtt.connect
    const parsed = new URL(url);
    const username = this.options.username ?? (parsed.username ? decodeURIComponent(parsed.username) : undefined);
    const password = this.options.password ?? (parsed.password ? decodeURIComponent(parsed.password) : undefined);
    const clientOptions: IClientOptions = {
      clientId,
      username,
      password,
      // A persistent session: while we are down or reconnecting, the broker queues QoS 1 messages for us
      // (MQTT 5: clean start off, and a session that never expires).
      clean: false,
      protocolVersion: 5,
      properties: {
        sessionExpiryInterval: 0xffffffff,
        // How many unacknowledged messages the broker may send us at once. The broker's own default (Mosquitto's
        // max_inflight_messages 20) caps ingestion at 20 messages per acknowledgement round trip.
        receiveMaximum: this.options.receiveMaximum ?? 1000,
      },
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
      resubscribe: true,
      // MQTT.js logs a dozen debug lines per packet; unless asked for (DEBUG=mqttjs*), skip them altogether
      ...(/mqttjs/.test(process.env.DEBUG ?? '') ? {} : { log: () => undefined }),
    };
    const client = new MqttClient(() => this.brokerStream(), clientOptions);
    this.client = client;
    client.handleMessage = (packet, done) => {
      this.handle(packet.topic, packet.payload as Buffer, done);
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      client.on('connect', (connack) => {
        logger.info({ event: 'mqtt_connected', url: redact(url), sessionPresent: connack.sessionPresent }, 'connected to MQTT broker');
        client.subscribe(this.topic, { qos: 1 }, (err, granted) => {
          const refused = granted?.some((g) => g.qos === 128);
          if (err || refused) {
            const message = err?.message ?? `broker refused the subscription to ${this.topic}`;
            logger.error({ event: 'mqtt_subscribe_failed', err: message });
            if (!settled) {
              settled = true;
              reject(new Error(message));
            }
            return;
          }
          this.subscribed = true;
          if (!settled) {
            settled = true;
            resolve();
          }
        });
      });
      client.on('close', () => {
        this.subscribed = false;
      });
      client.on('error', (err) => {
        logger.warn({ event: 'mqtt_error', err: err.message }, 'MQTT client error');
        if (!settled && /Not authorized|Bad username|Connection refused/i.test(err.message)) {
          settled = true;
          reject(err);
        }
      });
      client.on('offline', () => {
        if (!this.closing) logger.warn({ event: 'mqtt_offline', url: redact(url) }, 'MQTT broker unreachable; reconnecting');
      });
    });
  }

  /** A new connection to the broker (mqtt:// or mqtts://), its PUBACKs held until their messages are durable. */
  private brokerStream(): DurableAckStream {
    const { url, pipeline, logger } = this.options;
    const parsed = new URL(url);
    const secure = TLS_PROTOCOLS.has(parsed.protocol);
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    const port = parsed.port ? Number(parsed.port) : secure ? 8883 : 1883;
    const socket = secure ? tlsConnect({ host, port, servername: host }) : tcpConnect({ host, port });
    socket.setNoDelay(true);
    return new DurableAckStream(socket, {
      protocolVersion: 5,
      // QoS 1 telemetry is taken off the wire here; MQTT.js keeps the session (and any other packet)
      publish: (topic, payload) => {
        const outcome = pipeline.ingestMqtt(topic, payload);
        if (outcome instanceof Promise) return outcome.then(() => undefined);
      },
      commit: () => pipeline.commit(),
      onCommitFailed: (err) => logger.error({ event: 'spool_write_failed', err: err.message }, 'spool write failed; connection closed without acks, the broker redelivers'),
    });
  }

  private handle(topic: string, payload: Buffer, done: (err?: Error) => void): void {
    let outcome;
    try {
      outcome = this.options.pipeline.ingestMqtt(topic, payload);
    } catch (err) {
      // The spool could not take it (disk full, closed): no PUBACK; retry, which also holds back the broker.
      this.options.logger.error({ event: 'ingest_failed', err: String(err) }, 'ingest failed; retrying before ack');
      if (this.closing) return;
      setTimeout(() => this.handle(topic, payload, done), 1000);
      return;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        () => done(),
        () => setTimeout(() => this.handle(topic, payload, done), 1000),
      );
    } else done();
  }

  async close(): Promise<void> {
    this.closing = true;
    const client = this.client;
    if (!client) return;
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }
}

/** URL schemes of an external broker: plain TCP or TLS. */
export const TCP_PROTOCOLS: ReadonlySet<string> = new Set(['mqtt:', 'tcp:']);
export const TLS_PROTOCOLS: ReadonlySet<string> = new Set(['mqtts:', 'ssl:', 'tls:']);
