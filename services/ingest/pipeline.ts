// The ingest pipeline, the same for every transport (embedded broker hook, external MQTT subscription, HTTP):
// decode + validate -> registry check -> spool group -> twin. Ingesting does not make a message durable: the
// transport acknowledges it only once the spool group holding it is written (`commit`, `whenDurable`,
// `durable`), which is what makes a PUBACK or an HTTP 2xx mean "on local disk" at one write per group.
import {
  capRaw,
  decodeTelemetry,
  validateTelemetry,
  VIN_PATTERN,
  vinFromTopic,
  type DecodeResult,
  type RejectReason,
  type TelemetrySample,
} from '../contract/telemetry.ts';
import type { Spool } from '../spool/spool.ts';
import type { DeadLetter } from '../store/telemetry-store.ts';
import type { VehicleRecord } from '../store/vehicles.ts';
import type { VehicleRegistry } from '../registry/registry.ts';
import type { TwinRegistry } from '../twin/twin.ts';
import type { ServiceMetrics } from '../observability/metrics.ts';

/**
 * A spool record: accepted samples of one vehicle, or a dead letter. A message accepted whole is written as
 * itself (`m`, its JSON text behind a small header: nothing to serialize again); the writer gets the decoded
 * `s` form from memory, and the `m` form only when reading the file back (see recordSamples).
 */
export type SpoolRecord =
  | { k: 's'; at: number; vin: string; brand: string; model: string; samples: TelemetrySample[] }
  | { k: 'm'; at: number; vin: string; brand: string; model: string; m: AcceptedMessage }
  | { k: 'd'; at: number; letter: DeadLetter };

/** A telemetry message as published, every sample of which was accepted. */
type AcceptedMessage = TelemetrySample | { samples: TelemetrySample[] };

/** The samples of a spool record (none for a dead letter), as validated: ts, seq and signals only. */
export function recordSamples(record: SpoolRecord): TelemetrySample[] {
  if (record.k === 's') return record.samples;
  if (record.k === 'd') return [];
  // the contract's own rule: a message with `samples` is a batch
  const candidates = 'samples' in record.m ? record.m.samples : [record.m];
  return candidates.map((s) => ({ ts: s.ts, seq: s.seq, signals: s.signals }));
}

const NO_REJECTIONS: IngestOutcome['rejected'] = Object.freeze([]) as unknown as IngestOutcome['rejected'];

/** `"vin":…,"brand":…,"model":…` of a vehicle's `m` records, serialized once per vehicle. */
const recordHeads = new WeakMap<VehicleRecord, string>();
function recordHead(vehicle: VehicleRecord): string {
  let head = recordHeads.get(vehicle);
  if (head === undefined) {
    head = `"vin":${JSON.stringify(vehicle.vin)},"brand":${JSON.stringify(vehicle.brand)},"model":${JSON.stringify(vehicle.model)}`;
    recordHeads.set(vehicle, head);
  }
  return head;
}

export type Transport = 'mqtt' | 'http';

export interface IngestOutcome {
  vin?: string;
  accepted: number;
  rejected: Array<{ index?: number; reason: RejectReason; detail: string }>;
  /** set when the whole message was refused */
  messageRejected?: RejectReason;
}

export interface IngestPipelineOptions {
  spool: Spool;
  registry: VehicleRegistry;
  twins: TwinRegistry;
  metrics: ServiceMetrics;
  now?: () => number;
}

export class IngestPipeline {
  private readonly spool: Spool;
  private readonly registry: VehicleRegistry;
  private readonly twins: TwinRegistry;
  private readonly metrics: ServiceMetrics;
  private readonly now: () => number;
  /** labelled counters looked up once (a label lookup per message hashes the labels) */
  private readonly mqttMessages;
  private readonly httpMessages;

  constructor(options: IngestPipelineOptions) {
    this.spool = options.spool;
    this.registry = options.registry;
    this.twins = options.twins;
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
    this.mqttMessages = this.metrics.messages.labels({ transport: 'mqtt' });
    this.httpMessages = this.metrics.messages.labels({ transport: 'http' });
  }

  /** Ingest one raw MQTT message (not yet durable). Synchronous when the spool has room and the VIN is cached. */
  ingestMqtt(topic: string, payload: Buffer): IngestOutcome | Promise<IngestOutcome> {
    this.mqttMessages.inc();
    const receivedAt = this.now();
    return this.process(decodeTelemetry(topic, payload, receivedAt), topic, payload, receivedAt);
  }

  /** Ingest one HTTP body (already parsed JSON). */
  ingestHttp(body: unknown): IngestOutcome | Promise<IngestOutcome> {
    this.httpMessages.inc();
    const receivedAt = this.now();
    return this.process(validateTelemetry(body, undefined, receivedAt), 'http', body, receivedAt);
  }

  /** Make everything ingested so far durable now, with one write; throws when the disk refused (then ack nothing). */
  commit(): void {
    this.spool.flush();
  }

  /** `done` once everything ingested before this call is durable (shared group commit), or with the disk's error. */
  whenDurable(done: (err?: Error) => void): void {
    this.spool.whenDurable(done);
  }

  durable(): Promise<void> {
    return this.spool.durable();
  }

  /** Record a message refused before decoding (e.g. a publish outside the vehicle's own topic). */
  reject(reason: RejectReason, detail: string, topic: string, payload: Buffer | string, vin?: string): void {
    this.deadLetter({ receivedAt: this.now(), reason, detail, topic, vin, raw: capRaw(payload) });
  }

  private process(
    decoded: DecodeResult,
    topic: string,
    payload: Buffer | unknown,
    receivedAt: number,
  ): IngestOutcome | Promise<IngestOutcome> {
    if (!this.spool.hasRoom) {
      this.metrics.backpressure.inc();
      return this.spool.waitForRoom().then(() => this.process(decoded, topic, payload, receivedAt));
    }
    if (!decoded.ok) {
      // on MQTT the topic names the publisher (the broker lets a vehicle publish only under its own VIN), even when
      // the payload cannot be read; over HTTP the body's vin, if there is one
      const vin = Buffer.isBuffer(payload) ? topicVin(topic) : typeof payload === 'object' && payload !== null ? stringField(payload, 'vin') : undefined;
      this.deadLetter({ receivedAt, reason: decoded.reason, detail: decoded.detail, topic, vin, raw: rawOf(payload) });
      return { accepted: 0, rejected: [{ reason: decoded.reason, detail: decoded.detail }], messageRejected: decoded.reason };
    }
    const vehicle = this.registry.peek(decoded.vin);
    if (vehicle) return this.accept(vehicle, decoded, topic, receivedAt);
    return this.registry.get(decoded.vin).then((found) => {
      if (found) return this.accept(found, decoded, topic, receivedAt);
      const detail = `vehicle ${decoded.vin} is not registered`;
      this.deadLetter({ receivedAt, reason: 'unregistered_vehicle', detail, topic, vin: decoded.vin, raw: rawOf(payload) });
      return { vin: decoded.vin, accepted: 0, rejected: [{ reason: 'unregistered_vehicle', detail }], messageRejected: 'unregistered_vehicle' };
    });
  }

  private accept(vehicle: VehicleRecord, decoded: DecodeResult & { ok: true }, topic: string, receivedAt: number): IngestOutcome {
    for (const r of decoded.rejected) {
      this.deadLetter({ receivedAt, reason: r.reason, detail: `sample ${r.index}: ${r.detail}`, topic, vin: decoded.vin, raw: capRaw(safeJson(r.sample)) });
    }
    if (decoded.samples.length > 0) {
      const record: SpoolRecord = { k: 's', at: receivedAt, vin: vehicle.vin, brand: vehicle.brand, model: vehicle.model, samples: decoded.samples };
      // accepted whole and on one line: the payload itself is the record's body
      const whole = decoded.json !== undefined && decoded.rejected.length === 0 && !decoded.json.includes('\n');
      this.spool.append(record, whole ? `{"k":"m","at":${receivedAt},${recordHead(vehicle)},"m":${decoded.json}}` : undefined);
      this.metrics.samplesAccepted.inc(decoded.samples.length);
      this.twins.apply(vehicle.vin, decoded.samples, receivedAt);
    }
    return {
      vin: decoded.vin,
      accepted: decoded.samples.length,
      rejected: decoded.rejected.length === 0 ? NO_REJECTIONS : decoded.rejected.map((r) => ({ index: r.index, reason: r.reason, detail: r.detail })),
    };
  }

  private deadLetter(letter: DeadLetter): void {
    this.metrics.rejects.inc({ reason: letter.reason });
    const record: SpoolRecord = { k: 'd', at: letter.receivedAt, letter: letter.vin === undefined ? omitVin(letter) : letter };
    this.spool.append(record);
  }
}

function omitVin(letter: DeadLetter): DeadLetter {
  const { vin: _vin, ...rest } = letter;
  return rest;
}

function topicVin(topic: string): string | undefined {
  const vin = vinFromTopic(topic);
  return vin !== undefined && VIN_PATTERN.test(vin) ? vin : undefined;
}

function stringField(body: object, key: string): string | undefined {
  const value = (body as Record<string, unknown>)[key];
  return typeof value === 'string' ? value.slice(0, 64) : undefined;
}

function rawOf(payload: unknown): string {
  return Buffer.isBuffer(payload) ? capRaw(payload) : capRaw(safeJson(payload));
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
