// The embedded MQTT broker (Aedes, MQTT 3.1.1) used when no external broker is configured. Vehicles log in
// with their own credentials and may publish only under `vehicles/{their vin}/`. Telemetry is ingested in the
// broker's authorizePublish hook, which Aedes awaits before it sends the PUBACK; the hook calls back once the
// spool group holding the message is written (one write shared by all connections in that event-loop turn), so
// the vehicle hears that its sample is safe only when it is on local disk.
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { vinFromTopic, VIN_PATTERN } from '../contract/telemetry.ts';
import type { IngestPipeline } from '../ingest/pipeline.ts';
import { secretMatches, type VehicleRegistry } from '../registry/registry.ts';

/** Username that logs in with the admin token (debugging subscriptions, test publishers). */
export const ADMIN_MQTT_USERNAME = 'admin';

const BAD_USERNAME_OR_PASSWORD = 4;
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;

interface Principal {
  kind: 'vehicle' | 'admin';
  vin?: string;
}

const principals = new WeakMap<Client, Principal>();

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  pipeline: IngestPipeline;
  registry: VehicleRegistry;
  adminTokenMatches: (token: string) => boolean;
  logger: Logger;
}

export class EmbeddedBroker {
  private constructor(
    private readonly aedes: Aedes,
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    readonly port: number,
  ) {}

  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const { pipeline, registry, logger } = options;
    const aedes = await Aedes.createBroker({
      maxClientsIdLength: 23,
      authenticate(client, username, password, done) {
        const secret = password?.toString('utf8') ?? '';
        const refuse = (code: number, message: string): void => {
          const error = Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
          logger.info({ event: 'mqtt_auth_refused', clientId: client.id?.slice(0, 32), username: username?.slice(0, 32), reason: message });
          done(error, false);
        };
        if (!username) return refuse(BAD_USERNAME_OR_PASSWORD, 'credentials required');
        if (username === ADMIN_MQTT_USERNAME) {
          if (!options.adminTokenMatches(secret)) return refuse(BAD_USERNAME_OR_PASSWORD, 'bad admin credentials');
          principals.set(client, { kind: 'admin' });
          return done(null, true);
        }
        // not a VIN: no store lookup (keeps garbage logins off the store)
        if (!VIN_PATTERN.test(username)) return refuse(BAD_USERNAME_OR_PASSWORD, 'bad vehicle credentials');
        registry.get(username).then(
          (vehicle) => {
            if (!vehicle || !secretMatches(secret, vehicle.credentialHash)) return refuse(BAD_USERNAME_OR_PASSWORD, 'bad vehicle credentials');
            // A client id equal to another vehicle's VIN would take over that vehicle's session.
            if (client.id !== vehicle.vin && VIN_PATTERN.test(client.id) && registry.peek(client.id)) {
              return refuse(IDENTIFIER_REJECTED, 'client id is another vehicle\'s VIN');
            }
            principals.set(client, { kind: 'vehicle', vin: vehicle.vin });
            done(null, true);
          },
          (err: unknown) => refuse(SERVER_UNAVAILABLE, `registry unavailable: ${String(err)}`),
        );
      },
      authorizePublish(client, packet, callback) {
        const principal = client ? principals.get(client) : undefined;
        if (!client || !principal) return callback(new Error('not authenticated'));
        const topic = packet.topic;
        const topicVin = vinFromTopic(topic);
        if (principal.kind === 'vehicle' && !topic.startsWith(`vehicles/${principal.vin}/`)) {
          pipeline.reject('unauthorized_publisher', `vehicle ${principal.vin} may publish only under vehicles/${principal.vin}/`, topic.slice(0, 256), packet.payload as Buffer, principal.vin);
          return callback(new Error('publish outside the vehicle\'s own topic'));
        }
        // Retained telemetry would pile up in broker memory and is never needed: the twin is the latest state.
        packet.retain = false;
        if (topicVin === undefined) return callback(null);
        let outcome;
        try {
          outcome = pipeline.ingestMqtt(topic, toBuffer(packet.payload));
        } catch (err) {
          // not durable, so no PUBACK: the error closes the connection and the vehicle resends
          logger.error({ event: 'ingest_failed', err: String(err) }, 'ingest failed; connection closed without ack');
          return callback(err as Error);
        }
        const afterDurable = (err?: Error): void => {
          if (err) logger.error({ event: 'spool_write_failed', err: err.message }, 'spool write failed; connection closed without ack');
          callback(err ?? null);
        };
        if (outcome instanceof Promise) outcome.then(() => pipeline.whenDurable(afterDurable), (err: Error) => callback(err));
        else pipeline.whenDurable(afterDurable);
      },
      authorizeSubscribe(client, subscription, callback) {
        const principal = principals.get(client);
        if (principal?.kind === 'admin') return callback(null, subscription);
        if (principal?.kind === 'vehicle' && subscription.topic.startsWith(`vehicles/${principal.vin}/`)) return callback(null, subscription);
        callback(null, null);
      },
    });
    aedes.on('clientError', (client, err) => logger.debug({ event: 'mqtt_client_error', clientId: client.id?.slice(0, 32), err: err.message }));
    aedes.on('connectionError', (_client, err) => logger.debug({ event: 'mqtt_connection_error', err: err.message }));
    const server = createServer(aedes.handle);
    const sockets = new Set<Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : options.port);
      });
    });
    return new EmbeddedBroker(aedes, server, sockets, port);
  }

  get connectedClients(): number {
    return this.aedes.connectedClients;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}

function toBuffer(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload;
}
