// The fleet simulator's runtime: register N vehicles with the API, connect each to the broker with its own
// credentials, publish contract samples at QoS 1 at a fixed rate (buffering them through connectivity gaps and
// sending the backlog as batches), count PUBACKs, and stop cleanly.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createApiClient, describeApiError, type ApiClient, type components } from '../../services/api/client/client.ts';
import { MAX_BATCH_SAMPLES, telemetryTopic, type Vin } from '../../services/contract/telemetry.ts';
import { redactUrl } from '../../services/observability/redact.ts';
import { FLEET_CATALOG, type CatalogModel } from './catalog.ts';
import { CITIES, type City } from './cities.ts';
import { StoreAndForward, type UplinkMessage } from './uplink.ts';
import { planFleet, VehicleSimulation, type FleetVehicle } from './vehicle-model.ts';

export interface FleetOptions {
  /** Base URL of the vehicle-cloud API, e.g. http://127.0.0.1:3000. */
  api: string;
  /** MQTT broker URL, e.g. mqtt://127.0.0.1:1883. */
  broker: string;
  /** Admin token for POST /api/v1/vehicles. */
  token: string;
  vehicles: number;
  /** Samples per second per vehicle. */
  rate: number;
  /** Seconds to publish; 0 = until `hooks.signal` aborts. */
  durationS: number;
  seed: number;
  /** Mixed into the VINs only: another salt, other (unregistered) VINs for the same simulated vehicles. */
  vinSalt?: string;
  /** Tunnels, dead zones and underground car parks, after which vehicles send their backlog as batches (default on). */
  gaps?: boolean;
  /** Every Nth message of a vehicle is a store-and-forward batch of the samples buffered meanwhile. */
  batchEvery?: number;
  /** Samples per store-and-forward batch (the vehicle is "in a tunnel" that many ticks). */
  batchSize?: number;
  /** Unacknowledged QoS 1 messages allowed per connection; a tick finding the window full takes no sample. */
  maxInFlight?: number;
  /** Registrations and connection attempts at a time. */
  concurrency?: number;
  /** How long a stop waits for outstanding PUBACKs. */
  drainTimeoutMs?: number;
  /** How often `onProgress` is called while running. */
  progressEveryMs?: number;
  catalog?: readonly CatalogModel[];
  /** The cities vehicles are spread over (default: all of CITIES). */
  cities?: readonly City[];
}

export type FleetPhase = 'registering' | 'connecting' | 'publishing' | 'draining' | 'done';

export interface FleetCounters {
  vehicles: number;
  registered: number;
  connected: number;
  messagesPublished: number;
  messagesAcked: number;
  samplesPublished: number;
  samplesAcked: number;
  /** Ticks that took no sample: the connection had `maxInFlight` unacknowledged messages, or the timer fell behind. */
  skippedTicks: number;
  reconnects: number;
  errors: number;
  /** Messages that were store-and-forward batches. */
  batchesPublished: number;
  /** Times a vehicle lost coverage (tunnel, dead zone, underground car park). */
  connectivityGaps: number;
  /** Samples a full vehicle buffer overwrote during a long gap. */
  samplesDropped: number;
}

export interface FleetProgress extends FleetCounters {
  phase: FleetPhase;
  elapsedS: number;
  inFlight: number;
  /** Acknowledged messages per second since the previous progress report. */
  msgsPerSecond: number;
  /** Vehicles without coverage now, and the samples they hold. */
  offline: number;
  buffered: number;
}

export interface FleetVehicleReport {
  vin: Vin;
  brand: string;
  model: string;
  powertrain: string;
  city: string;
  /** Kilometres the simulated vehicle drove during the run. */
  distanceKm: number;
  samplesPublished: number;
  samplesAcked: number;
  /** seq of the last sample taken, -1 when none. */
  lastSeq: number;
}

export interface FleetSummary extends FleetCounters {
  /** Seconds from the first tick to the end of the drain. */
  durationS: number;
  /** Acknowledged messages per second of `durationS`. */
  msgsPerSecond: number;
  samplesPerSecond: number;
  /** Published messages still without a PUBACK when the run ended. */
  unacked: number;
  /** True when a signal stopped the run before its duration. */
  interrupted: boolean;
  /** Distinct error messages with their counts, most frequent first (at most 10). */
  errorMessages: Array<{ message: string; count: number }>;
  /** CPU time of this process while publishing, in % of one core (100 = one core busy). */
  cpuPercent: number;
  /** Peak resident memory of this process, MiB. */
  maxRssMiB: number;
  byBrand: FleetGroupReport[];
  byCity: FleetGroupReport[];
  perVehicle: FleetVehicleReport[];
}

/** Totals over the vehicles of one brand or one city. */
export interface FleetGroupReport {
  name: string;
  vehicles: number;
  samplesAcked: number;
  distanceKm: number;
}

export type FleetErrorCode = 'invalid_options' | 'api_unreachable' | 'unauthorized' | 'vin_conflict' | 'registration_failed' | 'broker_unreachable' | 'broker_refused';

/** A failure that ends the run before publishing, with a one-line message fit for a terminal. */
export class FleetError extends Error {
  constructor(
    readonly code: FleetErrorCode,
    message: string,
    readonly vin?: Vin,
  ) {
    super(message);
    this.name = 'FleetError';
  }
}

export interface FleetHooks {
  onProgress?(progress: FleetProgress): void;
  signal?: AbortSignal;
}

const DEFAULTS = { batchSize: 20, maxInFlight: 32, concurrency: 16, drainTimeoutMs: 5_000, progressEveryMs: 1_000 } as const;
const HTTP_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 10_000;
const MAX_ERROR_KINDS = 50;

type Credentials = components['schemas']['Registration']['mqtt'];

export function validateFleetOptions(options: FleetOptions): void {
  const problems: string[] = [];
  if (!Number.isInteger(options.vehicles) || options.vehicles < 1) problems.push('vehicles must be a whole number >= 1');
  if (!Number.isFinite(options.rate) || options.rate <= 0 || options.rate > 1000) problems.push('rate must be > 0 and <= 1000 samples per second');
  if (!Number.isFinite(options.durationS) || options.durationS < 0) problems.push('duration must be >= 0 seconds');
  if (!Number.isSafeInteger(options.seed)) problems.push('seed must be a whole number');
  if (options.batchEvery !== undefined && (!Number.isInteger(options.batchEvery) || options.batchEvery < 1)) problems.push('batch-every must be a whole number >= 1');
  const batchSize = options.batchSize ?? DEFAULTS.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SAMPLES) problems.push(`batch-size must be 1-${MAX_BATCH_SAMPLES}`);
  if (!options.token) problems.push('an admin token is required');
  if (options.cities !== undefined && options.cities.length === 0) problems.push('cities must name at least one city');
  for (const [name, url] of [['api', options.api], ['broker', options.broker]] as const) {
    if (!URL.canParse(url)) problems.push(`${name} is not a URL: ${url.slice(0, 100)}`);
  }
  if (problems.length > 0) throw new FleetError('invalid_options', problems.join('; '));
}

/**
 * Run a simulated fleet until `durationS` passes or `hooks.signal` aborts, then wait (bounded) for outstanding
 * PUBACKs, disconnect and summarize. Throws a FleetError when the fleet cannot start (API, token, VIN
 * conflict, broker); errors after the start are counted, not thrown.
 */
export async function runFleet(options: FleetOptions, hooks: FleetHooks = {}): Promise<FleetSummary> {
  validateFleetOptions(options);
  const run = new FleetRun(options, hooks);
  return run.execute();
}

interface SimulatedVehicle {
  plan: FleetVehicle;
  simulation: VehicleSimulation;
  credentials?: Credentials;
  client?: MqttClient;
  topic: string;
  inFlight: number;
  samplesPublished: number;
  samplesAcked: number;
  lastSeq: number;
  /** Singles sent since the last batch (--batch-every). */
  singlesInCycle: number;
  uplink: StoreAndForward;
  /** Coverage at the last sample. */
  online: boolean;
  timer?: NodeJS.Timeout;
}

class FleetRun {
  private readonly options: FleetOptions;
  private readonly hooks: FleetHooks;
  private readonly counters: FleetCounters;
  private readonly errorKinds = new Map<string, number>();
  private readonly vehicles: SimulatedVehicle[];
  private phase: FleetPhase = 'registering';
  private readonly startedAt = Date.now();
  private publishStartedAt = 0;
  private drainEndedAt = 0;
  private stopping = false;
  private closing = false;
  private interrupted = false;
  private lastProgress = { at: Date.now(), acked: 0 };
  private drainWaiters: Array<() => void> = [];
  private inFlightTotal = 0;
  private readonly api: ApiClient;
  private cpuAtPublishStart: NodeJS.CpuUsage | undefined;
  private cpuPercent = 0;
  private maxRss = 0;

  constructor(options: FleetOptions, hooks: FleetHooks) {
    this.options = options;
    this.hooks = hooks;
    this.api = createApiClient({ baseUrl: options.api, token: options.token, timeoutMs: HTTP_TIMEOUT_MS, ...(hooks.signal ? { signal: hooks.signal } : {}) });
    const plan = planFleet({
      seed: options.seed,
      vehicles: options.vehicles,
      vinSalt: options.vinSalt,
      catalog: options.catalog ?? FLEET_CATALOG,
      cities: options.cities ?? CITIES,
    });
    const startTs = Date.now();
    this.vehicles = plan.map((vehicle) => ({
      plan: vehicle,
      simulation: new VehicleSimulation(vehicle, { seed: options.seed, startTs, gaps: options.gaps ?? true }),
      topic: telemetryTopic(vehicle.vin),
      inFlight: 0,
      samplesPublished: 0,
      samplesAcked: 0,
      lastSeq: -1,
      singlesInCycle: 0,
      uplink: new StoreAndForward(vehicle.vin),
      // A vehicle that starts without coverage counts as a gap from its first sample.
      online: true,
    }));
    this.counters = {
      vehicles: plan.length,
      registered: 0,
      connected: 0,
      messagesPublished: 0,
      messagesAcked: 0,
      samplesPublished: 0,
      samplesAcked: 0,
      skippedTicks: 0,
      reconnects: 0,
      errors: 0,
      batchesPublished: 0,
      connectivityGaps: 0,
      samplesDropped: 0,
    };
  }

  async execute(): Promise<FleetSummary> {
    const signal = this.hooks.signal;
    const progressTimer = setInterval(() => this.report(), this.options.progressEveryMs ?? DEFAULTS.progressEveryMs);
    progressTimer.unref();
    try {
      this.setPhase('registering');
      await this.eachVehicle((vehicle) => this.register(vehicle));
      if (!signal?.aborted) {
        this.setPhase('connecting');
        await this.eachVehicle((vehicle) => this.connect(vehicle));
      }
      if (!signal?.aborted) {
        this.setPhase('publishing');
        await this.publishUntilStopped();
      }
      this.interrupted = signal?.aborted ?? false;
      this.setPhase('draining');
      await this.drain();
      return this.summary();
    } finally {
      clearInterval(progressTimer);
      this.stopTicks();
      await this.disconnectAll();
      this.setPhase('done');
    }
  }

  // --- registration ------------------------------------------------------------------------------------

  private async register(vehicle: SimulatedVehicle): Promise<void> {
    const { vin, brand, model, year, powertrain } = vehicle.plan;
    const answer = await this.api.POST('/api/v1/vehicles', { body: { vin, brand, model, year, powertrain } }).catch((err: unknown) => ({ unreachable: err }));
    if ('unreachable' in answer) {
      if (this.hooks.signal?.aborted) return;
      throw new FleetError('api_unreachable', `API unreachable at ${redactUrl(this.options.api)}: ${describeNetworkError(answer.unreachable)}`);
    }
    const { response, data, error } = answer;
    if (data) {
      vehicle.credentials = data.mqtt;
      vehicle.topic = data.mqtt.topic;
      this.counters.registered++;
      return;
    }
    const detail = describeApiError(response.status, error);
    if (response.status === 409) {
      throw new FleetError('vin_conflict', `VIN ${vin} is already registered, and its MQTT password is shown only at registration`, vin);
    }
    if (response.status === 401 || response.status === 403) {
      throw new FleetError('unauthorized', `the API refused the admin token (HTTP ${response.status}, ${detail})`);
    }
    throw new FleetError('registration_failed', `registering ${vin} failed: HTTP ${response.status} (${detail})`, vin);
  }

  // --- MQTT connections ----------------------------------------------------------------------------------

  private async connect(vehicle: SimulatedVehicle): Promise<void> {
    const credentials = vehicle.credentials;
    if (!credentials) return;
    const { vin } = vehicle.plan;
    const clientOptions: IClientOptions = {
      clientId: vin,
      username: credentials.username,
      password: credentials.password,
      // The embedded Aedes broker speaks MQTT 3.1.1 only.
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectPeriod: 0,
    };
    const client = mqtt.connect(this.options.broker, clientOptions);
    vehicle.client = client;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(Object.assign(new Error('no CONNACK'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS + 1_000);
        const settle = (err?: Error): void => {
          clearTimeout(timer);
          client.off('connect', onConnect);
          client.off('error', onError);
          client.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onConnect = (): void => settle();
        const onError = (err: Error): void => settle(err);
        const onClose = (): void => settle(Object.assign(new Error('connection closed before CONNACK'), { code: 'ECONNRESET' }));
        client.on('connect', onConnect);
        client.on('error', onError);
        client.on('close', onClose);
      });
    } catch (err) {
      client.end(true);
      if (this.hooks.signal?.aborted) return;
      const refused = typeof (err as { code?: unknown }).code === 'number';
      throw new FleetError(refused ? 'broker_refused' : 'broker_unreachable', `${vin}: MQTT connect to ${redactUrl(this.options.broker)} failed: ${describeMqttError(err)}`, vin);
    }
    this.counters.connected++;
    // Connected once: from now on reconnect on our own schedule and count problems instead of failing the run.
    client.options.reconnectPeriod = 1_000;
    client.on('error', (err) => this.recordError(`MQTT: ${describeMqttError(err)}`));
    client.on('close', () => {
      if (!this.closing) this.counters.connected = Math.max(0, this.counters.connected - 1);
    });
    client.on('connect', () => {
      this.counters.connected++;
    });
    client.on('reconnect', () => {
      this.counters.reconnects++;
    });
  }

  // --- publishing ----------------------------------------------------------------------------------------

  private publishUntilStopped(): Promise<void> {
    const periodMs = 1000 / this.options.rate;
    this.publishStartedAt = Date.now();
    this.cpuAtPublishStart = process.cpuUsage();
    const active = this.vehicles.filter((v) => v.client);
    // Spread the vehicles over one period so the broker sees a steady stream, not a burst per tick.
    active.forEach((vehicle, i) => this.scheduleTicks(vehicle, this.publishStartedAt + (i / active.length) * periodMs, periodMs));
    return new Promise<void>((resolve) => {
      const stop = (): void => {
        if (this.stopping) return;
        this.stopping = true;
        clearTimeout(durationTimer);
        this.hooks.signal?.removeEventListener('abort', stop);
        this.stopTicks();
        resolve();
      };
      const durationTimer = this.options.durationS > 0 ? setTimeout(stop, this.options.durationS * 1000) : undefined;
      this.hooks.signal?.addEventListener('abort', stop, { once: true });
      if (this.hooks.signal?.aborted) stop();
    });
  }

  private scheduleTicks(vehicle: SimulatedVehicle, firstAt: number, periodMs: number): void {
    let tick = 0;
    const next = (): void => {
      if (this.stopping) return;
      const due = firstAt + tick * periodMs;
      vehicle.timer = setTimeout(() => {
        if (this.stopping) return;
        // A timer that fired late skips the ticks it missed rather than bursting to catch up.
        const behind = Math.floor((Date.now() - due) / periodMs);
        if (behind > 0) {
          this.counters.skippedTicks += behind;
          tick += behind;
        }
        tick++;
        this.tick(vehicle);
        next();
      }, Math.max(0, due - Date.now()));
    };
    next();
  }

  private tick(vehicle: SimulatedVehicle): void {
    const maxInFlight = this.options.maxInFlight ?? DEFAULTS.maxInFlight;
    const batchEvery = this.options.batchEvery;
    const forcedTunnel = batchEvery !== undefined && vehicle.singlesInCycle >= batchEvery - 1;
    // Only a vehicle that would publish now waits for its window; one that buffers samples anyway does not.
    if (!forcedTunnel && vehicle.online && vehicle.inFlight >= maxInFlight) {
      this.counters.skippedTicks++;
      return;
    }
    const sample = vehicle.simulation.sample(Date.now());
    vehicle.lastSeq = sample.seq;
    const online = vehicle.simulation.online;
    if (vehicle.online && !online) this.counters.connectivityGaps++;
    vehicle.online = online;
    const dropped = vehicle.uplink.dropped;
    let messages: UplinkMessage[];
    if (forcedTunnel) {
      vehicle.uplink.offer(sample, false);
      messages = online && vehicle.uplink.buffered >= (this.options.batchSize ?? DEFAULTS.batchSize) ? vehicle.uplink.flush() : [];
    } else {
      messages = vehicle.uplink.offer(sample, online);
    }
    this.counters.samplesDropped += vehicle.uplink.dropped - dropped;
    for (const message of messages) this.publish(vehicle, message);
  }

  /** Publish one message at QoS 1; a batch ends a --batch-every cycle. */
  private publish(vehicle: SimulatedVehicle, message: UplinkMessage): void {
    const client = vehicle.client;
    if (!client) return;
    if (message.batch) {
      vehicle.singlesInCycle = 0;
      this.counters.batchesPublished++;
    } else {
      vehicle.singlesInCycle++;
    }
    const n = message.samples;
    vehicle.inFlight++;
    this.inFlightTotal++;
    vehicle.samplesPublished += n;
    this.counters.messagesPublished++;
    this.counters.samplesPublished += n;
    client.publish(vehicle.topic, message.payload, { qos: 1 }, (err) => {
      vehicle.inFlight--;
      this.inFlightTotal--;
      if (err) {
        if (!this.closing) this.recordError(`publish: ${describeMqttError(err)}`);
      } else {
        vehicle.samplesAcked += n;
        this.counters.messagesAcked++;
        this.counters.samplesAcked += n;
      }
      if (this.inFlightTotal === 0) for (const wake of this.drainWaiters.splice(0)) wake();
    });
  }

  private stopTicks(): void {
    for (const vehicle of this.vehicles) clearTimeout(vehicle.timer);
  }

  /** Send what vehicles still buffer (they leave their tunnels), then wait for PUBACKs, at most `drainTimeoutMs`. */
  private async drain(): Promise<void> {
    if (this.cpuAtPublishStart) {
      const used = process.cpuUsage(this.cpuAtPublishStart);
      const wallMs = Date.now() - this.publishStartedAt;
      this.cpuPercent = wallMs > 0 ? Math.round(((used.user + used.system) / 1000 / wallMs) * 1000) / 10 : 0;
    }
    for (const vehicle of this.vehicles) for (const message of vehicle.uplink.flush()) this.publish(vehicle, message);
    if (this.inFlightTotal > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.drainWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.drainEndedAt = Date.now();
  }

  private async disconnectAll(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.vehicles.map(async (vehicle) => {
        const client = vehicle.client;
        if (!client) return;
        vehicle.client = undefined;
        // Drained (or given up on): close at once rather than let MQTT.js wait for more PUBACKs.
        await client.endAsync(true).catch(() => undefined);
      }),
    );
  }

  // --- bookkeeping ---------------------------------------------------------------------------------------

  private async eachVehicle(work: (vehicle: SimulatedVehicle) => Promise<void>): Promise<void> {
    const queue = [...this.vehicles];
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && !this.hooks.signal?.aborted) {
        const vehicle = queue.shift();
        if (!vehicle) return;
        try {
          await work(vehicle);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    const concurrency = Math.min(this.options.concurrency ?? DEFAULTS.concurrency, this.vehicles.length);
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (failure !== undefined) throw failure;
  }

  private recordError(message: string): void {
    this.counters.errors++;
    const line = message.replace(/\s+/g, ' ').slice(0, 200);
    if (this.errorKinds.has(line) || this.errorKinds.size < MAX_ERROR_KINDS) this.errorKinds.set(line, (this.errorKinds.get(line) ?? 0) + 1);
  }

  private setPhase(phase: FleetPhase): void {
    this.phase = phase;
    this.report();
  }

  private report(): void {
    this.maxRss = Math.max(this.maxRss, process.memoryUsage.rss());
    const onProgress = this.hooks.onProgress;
    if (!onProgress) return;
    const now = Date.now();
    const seconds = (now - this.lastProgress.at) / 1000;
    const msgsPerSecond = seconds > 0 ? (this.counters.messagesAcked - this.lastProgress.acked) / seconds : 0;
    this.lastProgress = { at: now, acked: this.counters.messagesAcked };
    let offline = 0;
    let buffered = 0;
    for (const vehicle of this.vehicles) {
      if (!vehicle.online) offline++;
      buffered += vehicle.uplink.buffered;
    }
    onProgress({ ...this.counters, phase: this.phase, elapsedS: (now - this.startedAt) / 1000, inFlight: this.inFlightTotal, msgsPerSecond, offline, buffered });
  }

  private group(key: (vehicle: SimulatedVehicle) => string): FleetGroupReport[] {
    const groups = new Map<string, FleetGroupReport>();
    for (const vehicle of this.vehicles) {
      const name = key(vehicle);
      const group = groups.get(name) ?? { name, vehicles: 0, samplesAcked: 0, distanceKm: 0 };
      group.vehicles++;
      group.samplesAcked += vehicle.samplesAcked;
      group.distanceKm += vehicle.simulation.distanceKm;
      groups.set(name, group);
    }
    return [...groups.values()].map((g) => ({ ...g, distanceKm: Math.round(g.distanceKm * 10) / 10 })).sort((a, b) => a.name.localeCompare(b.name));
  }

  private summary(): FleetSummary {
    const from = this.publishStartedAt || this.startedAt;
    const to = this.drainEndedAt || Date.now();
    const durationS = Math.max(0, (to - from) / 1000);
    const perSecond = (n: number): number => (durationS > 0 ? Math.round((n / durationS) * 10) / 10 : 0);
    return {
      ...this.counters,
      durationS,
      msgsPerSecond: perSecond(this.counters.messagesAcked),
      samplesPerSecond: perSecond(this.counters.samplesAcked),
      unacked: this.inFlightTotal,
      interrupted: this.interrupted,
      errorMessages: [...this.errorKinds]
        .map(([message, count]) => ({ message, count }))
        .sort((a, b) => b.count - a.count)
        .slice(0, 10),
      cpuPercent: this.cpuPercent,
      maxRssMiB: Math.round(Math.max(this.maxRss, process.memoryUsage.rss()) / 1024 / 1024),
      byBrand: this.group((v) => v.plan.brand),
      byCity: this.group((v) => v.plan.city.name),
      perVehicle: this.vehicles.map((v) => ({
        vin: v.plan.vin,
        brand: v.plan.brand,
        model: v.plan.model,
        powertrain: v.plan.powertrain,
        city: v.plan.city.name,
        distanceKm: Math.round(v.simulation.distanceKm * 10) / 10,
        samplesPublished: v.samplesPublished,
        samplesAcked: v.samplesAcked,
        lastSeq: v.lastSeq,
      })),
    };
  }
}

const MQTT_CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

/** One line for an MQTT.js error: a refused CONNACK, a socket error, or its message. */
export function describeMqttError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && MQTT_CONNACK_REASONS[code]) return `broker refused the connection: ${MQTT_CONNACK_REASONS[code]}`;
  if (typeof code === 'string') return describeSocketCode(code) ?? `${code} ${errorMessage(err)}`;
  return errorMessage(err);
}

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return describeSocketCode(code) ?? code;
  if ((err as { name?: unknown }).name === 'TimeoutError') return `no answer within ${HTTP_TIMEOUT_MS / 1000} s`;
  return errorMessage(cause ?? err);
}

function describeSocketCode(code: string): string | undefined {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is it running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return undefined;
  }
}

function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]?.slice(0, 200) ?? '';
}
