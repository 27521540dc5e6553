// Drives Mosquitto's dynamic security plugin (mosquitto_dynamic_security.so) over MQTT, on the topic
// $CONTROL/dynamic-security/v1, when the service holds broker admin credentials (VC_MQTT_DYNSEC). Each registered
// vehicle gets a dynsec client (username = VIN, the registration password, client id bound to the VIN) and its own
// role allowing it to publish and subscribe only under vehicles/{vin}/ (Mosquitto 2.0's dynsec has no %u patterns,
// so one role per vehicle). At start it makes sure the ingest role exists and is held by the service's own user.
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { TOPIC_FILTER } from '../contract/telemetry.ts';
import { ProvisioningError, type CredentialProvisioner } from '../registry/registry.ts';

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;
/** Held by the service's own broker user: subscribe to telemetry, also as a shared subscription. */
export const INGEST_ROLE = 'vehicle-cloud-ingest';
export const vehicleRole = (vin: string): string => `vehicle-${vin}`;
export const vehicleTopicFilter = (vin: string): string => `vehicles/${vin}/#`;

/** Dynsec answers these when the thing to create is already there. */
const ALREADY_THERE = /already exists|already has/i;
const DEFAULT_TIMEOUT_MS = 5_000;
const RETRY_MS = 5_000;
const ROLE_RECHECK_MS = 1_000;

/**
 * How long one $CONTROL message should keep the broker busy. Mosquitto is single-threaded and does a message's
 * commands in one go, rewriting its dynsec file after each command; that file grows with the accounts, so a command
 * costs more the more vehicles the broker holds (measured: 9 ms an account up to 1,000 accounts, 0.2 s at 6,000). While
 * it works, no vehicle's message moves and no PINGREQ is answered. At that cost a message of 250 vehicles keeps it busy
 * about 50 s at 6,000 accounts and longer beyond; past MQTT.js's keepalive timeout (1.5 x 60 s) the connection its
 * answer would come back on is dropped. So messages are sized from the time the last one took, to about this long.
 */
const MESSAGE_TARGET_MS = 1_000;
/** Vehicles in the first message, before any has been timed (two commands each). */
const FIRST_CHUNK = 50;
/** Vehicles in one message at most, however fast the broker is. */
const MAX_CHUNK = 250;
/**
 * Mosquitto answers a message's commands together, once it has done them all: a message is given this long per command
 * beyond the plain timeout (or three times the last measured cost of a command, if that is more), or a slow broker
 * would be taken for a silent one, and the accounts it did create removed again.
 */
const PER_COMMAND_MS = 250;

/** Vehicles for the next message: as many as the broker does in `targetMs` at its last measured cost a command. */
export function provisionChunk(msPerCommand: number | undefined, targetMs: number): number {
  if (msPerCommand === undefined) return FIRST_CHUNK;
  return Math.max(1, Math.min(MAX_CHUNK, Math.floor(targetMs / (2 * Math.max(msPerCommand, 0.01)))));
}

/** A vehicle's own role (its topics only) and its client (username = VIN, client id bound to the VIN). */
function vehicleCommands(vin: string, password: string): DynsecCommand[] {
  const rolename = vehicleRole(vin);
  const topic = vehicleTopicFilter(vin);
  return [
    {
      command: 'createRole',
      rolename,
      acls: [
        { acltype: 'publishClientSend', topic, allow: true },
        { acltype: 'subscribePattern', topic, allow: true },
      ],
    },
    // clientid binds the account to the VIN as client id: no vehicle can take over another's session
    { command: 'createClient', username: vin, password, clientid: vin, roles: [{ rolename }] },
  ];
}

interface DynsecCommand {
  command: string;
  [field: string]: unknown;
}

interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
  correlationData?: string;
}

interface Pending {
  resolve: (response: DynsecResponse) => void;
  timer: NodeJS.Timeout;
}

export interface MosquittoDynsecOptions {
  url: string;
  /** a dynsec admin (its role grants $CONTROL/dynamic-security/#); also the ingest user */
  username: string;
  password: string;
  logger: Logger;
  timeoutMs?: number;
  /** how long one message should keep the broker busy (default 1 s) */
  messageTargetMs?: number;
}

export class MosquittoDynsec implements CredentialProvisioner {
  private client: MqttClient | undefined;
  private subscribed = false;
  private rolesEnsured = false;
  private ensuring = false;
  private closing = false;
  private readonly pending = new Map<string, Pending>();
  private readonly correlationPrefix = randomBytes(6).toString('hex');
  private counter = 0;
  private readonly timeoutMs: number;
  private readonly messageTargetMs: number;
  /** what the last answered message took the broker, per command */
  private msPerCommand: number | undefined;
  /** the message in flight (run sends the next once it is answered or timed out) */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: MosquittoDynsecOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.messageTargetMs = options.messageTargetMs ?? MESSAGE_TARGET_MS;
  }

  /** Connected, and the ingest role is in place (readiness). */
  get healthy(): boolean {
    return this.subscribed && this.rolesEnsured;
  }

  /**
   * Connect (reconnecting in the background) and make sure the ingest role exists and is held by the service's
   * user. Resolves once that succeeded; until then it retries and logs why not (e.g. the user is no dynsec admin).
   */
  start(): Promise<void> {
    const { url, username, password, logger } = this.options;
    const clientOptions: IClientOptions = {
      clientId: `vc-dynsec-${randomBytes(4).toString('hex')}`,
      username,
      password,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
    };
    const client = mqtt.connect(url, clientOptions);
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic === RESPONSE_TOPIC) this.onResponse(payload);
    });
    client.on('close', () => {
      this.subscribed = false;
    });
    client.on('error', (err) => logger.warn({ event: 'dynsec_connection_error', err: err.message }, 'dynamic security: broker connection error'));
    return new Promise((resolve) => {
      const ensure = async (): Promise<void> => {
        if (this.closing || !this.subscribed || this.ensuring || this.rolesEnsured) return;
        this.ensuring = true;
        try {
          if (await this.ensureIngestRole()) {
            this.rolesEnsured = true;
            logger.info({ event: 'dynsec_ready', role: INGEST_ROLE }, 'dynamic security: ingest role in place');
            resolve();
          } else {
            // just granted: the broker reconnects us to apply it, or, if it does not, we look again shortly
            setTimeout(() => void ensure(), ROLE_RECHECK_MS).unref();
          }
        } catch (err) {
          logger.error({ event: 'dynsec_setup_failed', err: err instanceof Error ? err.message : String(err) }, 'dynamic security: cannot set up roles; retrying');
          setTimeout(() => void ensure(), RETRY_MS).unref();
        } finally {
          this.ensuring = false;
        }
      };
      client.on('connect', () => {
        client.subscribe(RESPONSE_TOPIC, { qos: 1 }, (err, granted) => {
          if (err || granted?.some((g) => g.qos === 128)) {
            logger.error({ event: 'dynsec_setup_failed', err: err?.message ?? `refused subscription to ${RESPONSE_TOPIC}` }, 'dynamic security: the service user is not a dynsec admin');
            return;
          }
          this.subscribed = true;
          void ensure();
        });
      });
    });
  }

  async provisionVehicles(accounts: ReadonlyArray<{ vin: string; password: string }>): Promise<Set<string>> {
    const created = new Set<string>();
    try {
      for (const chunk of this.paced(accounts)) {
        const answers = await this.run(chunk.flatMap(({ vin, password }) => vehicleCommands(vin, password)));
        let failure: string | undefined;
        chunk.forEach(({ vin }, i) => {
          const role = answers[2 * i];
          const client = answers[2 * i + 1];
          if (role?.error && !ALREADY_THERE.test(role.error)) failure ??= `dynsec createRole: ${role.error}`;
          else if (client?.error && !ALREADY_THERE.test(client.error)) failure ??= `dynsec createClient: ${client.error}`;
          else if (!client?.error) created.add(vin);
        });
        if (failure) throw new ProvisioningError(failure);
      }
    } catch (err) {
      await this.removeVehicles([...created]).catch(() => undefined);
      throw err;
    }
    for (const vin of created) this.options.logger.info({ event: 'dynsec_vehicle_created', vin }, 'dynamic security: vehicle account created');
    return created;
  }

  async removeVehicles(vins: readonly string[]): Promise<void> {
    for (const chunk of this.paced(vins)) {
      await this.run(chunk.flatMap((vin) => [
        { command: 'deleteClient', username: vin },
        { command: 'deleteRole', rolename: vehicleRole(vin) },
      ]));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.resolve({ command: 'closed', error: 'closing', correlationData: id });
    }
    this.pending.clear();
    const client = this.client;
    if (client) await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }

  /** true when the role exists and the service's user holds it; false when it was granted just now. */
  private async ensureIngestRole(): Promise<boolean> {
    const { username } = this.options;
    const responses = await this.run([
      { command: 'createRole', rolename: INGEST_ROLE },
      { command: 'addRoleACL', rolename: INGEST_ROLE, acltype: 'subscribePattern', topic: TOPIC_FILTER, allow: true },
      // Mosquitto 2.0 checks a shared subscription against its full $share/<group>/... filter
      { command: 'addRoleACL', rolename: INGEST_ROLE, acltype: 'subscribePattern', topic: `$share/+/${TOPIC_FILTER}`, allow: true },
      { command: 'getClient', username },
    ]);
    const failed = responses.find((r) => r.error && !ALREADY_THERE.test(r.error));
    if (failed) throw new Error(`dynsec ${failed.command}: ${failed.error}`);
    const roles = (responses[3]?.data as { client?: { roles?: Array<{ rolename?: string }> } } | undefined)?.client?.roles ?? [];
    if (roles.some((r) => r.rolename === INGEST_ROLE)) return true;
    // Not awaited: Mosquitto applies a role change by disconnecting the user's clients, this one included, so the
    // reply may never come (and 2.0.11 answers a repeated addClientRole with "Internal error"); getClient re-checks.
    this.client?.publish(DYNSEC_TOPIC, JSON.stringify({ commands: [{ command: 'addClientRole', username, rolename: INGEST_ROLE }] }), { qos: 1 });
    return false;
  }

  /** `items` in slices sized as each is taken (after the message before it was answered) by provisionChunk. */
  private *paced<T>(items: readonly T[]): Generator<T[]> {
    for (let start = 0; start < items.length; ) {
      const chunk = items.slice(start, start + provisionChunk(this.msPerCommand, this.messageTargetMs));
      start += chunk.length;
      yield chunk;
    }
  }

  /**
   * One $CONTROL message at a time: Mosquitto works through them in turn, so a message sent while another is being
   * done would spend its timeout waiting for that one (a 10,000-vehicle storm's setup got a 503 that way).
   */
  private run(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    const answers = this.queue.then(() => this.send(commands));
    this.queue = answers.catch(() => undefined);
    return answers;
  }

  /** Send commands in one message; resolves with one response per command, in order. */
  private send(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    const client = this.client;
    if (!client || !this.subscribed || this.closing) return Promise.reject(new ProvisioningError('not connected to the MQTT broker'));
    const tagged = commands.map((c) => ({ ...c, correlationData: `${this.correlationPrefix}-${++this.counter}` }));
    const perCommandMs = Math.max(PER_COMMAND_MS, 3 * (this.msPerCommand ?? 0));
    const timeoutMs = Math.round(this.timeoutMs + (commands.length - 1) * perCommandMs);
    const answers = tagged.map(
      (c) =>
        new Promise<DynsecResponse>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.pending.delete(c.correlationData);
            reject(new ProvisioningError(`the broker did not answer dynsec ${c.command} within ${timeoutMs} ms (is VC_MQTT_USERNAME a dynsec admin?)`));
          }, timeoutMs);
          this.pending.set(c.correlationData, { resolve, timer });
        }),
    );
    client.publish(DYNSEC_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 }, (err) => {
      if (!err) return;
      for (const c of tagged) {
        const pending = this.pending.get(c.correlationData);
        if (!pending) continue;
        clearTimeout(pending.timer);
        this.pending.delete(c.correlationData);
        pending.resolve({ command: c.command, error: `publish failed: ${err.message}` });
      }
    });
    const sentAt = performance.now();
    return Promise.all(answers).then((responses) => {
      const ms = performance.now() - sentAt;
      this.msPerCommand = ms / commands.length;
      this.options.logger.debug({ event: 'dynsec_message', commands: commands.length, ms: Math.round(ms) }, 'dynamic security: message answered');
      return responses;
    });
  }

  private onResponse(payload: Buffer): void {
    let parsed: { responses?: DynsecResponse[] };
    try {
      parsed = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
    } catch {
      return;
    }
    for (const response of parsed.responses ?? []) {
      const id = response.correlationData;
      const pending = id === undefined ? undefined : this.pending.get(id);
      if (!pending || id === undefined) continue;
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.resolve(response);
    }
  }
}
