// Ingestion from an external broker (Mosquitto 2, EMQX, HiveMQ): one MQTT.js client with a persistent session
// subscribed at QoS 1. MQTT.js sends each PUBACK only after `handleMessage` calls back, and we call back only
// after the pipeline has spooled the message, so the broker keeps (and redelivers) whatever we have not made
// durable. With VC_MQTT_SHARE_GROUP, N ingest workers share the subscription ($share/<group>/...).
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { TOPIC_FILTER } from '../contract/telemetry.ts';
import type { IngestPipeline } from './pipeline.ts';

export interface MqttSubscriberOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  shareGroup?: string;
  pipeline: IngestPipeline;
  logger: Logger;
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
    const { url, username, password, clientId, pipeline, logger } = this.options;
    const clientOptions: IClientOptions = {
      clientId,
      username,
      password,
      // A persistent session: while we are down or reconnecting, the broker queues QoS 1 messages for us.
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 30,
      resubscribe: true,
    };
    const client = mqtt.connect(url, clientOptions);
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

/** Never log credentials embedded in a broker URL. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
