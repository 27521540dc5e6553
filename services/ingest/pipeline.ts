// The ingest pipeline, the same for every transport (embedded broker hook, external MQTT subscription, HTTP):
// decode + validate -> registry check -> spool (durable) -> twin. The caller acknowledges only after `ingest`
// returned: that is what makes a PUBACK or an HTTP 2xx mean "stored or on local disk".
import {
  capRaw,
  decodeTelemetry,
  validateTelemetry,
  type DecodeResult,
  type RejectReason,
  type TelemetrySample,
} from '../contract/telemetry.ts';
import type { Spool } from '../spool/spool.ts';
import type { DeadLetter, VehicleRecord } from '../store/telemetry-store.ts';
import type { VehicleRegistry } from '../registry/registry.ts';
import type { TwinRegistry } from '../twin/twin.ts';
import type { ServiceMetrics } from '../observability/metrics.ts';

/** A spool record: accepted samples of one vehicle, or a dead letter. */
export type SpoolRecord =
  | { k: 's'; at: number; vin: string; brand: string; model: string; samples: TelemetrySample[] }
  | { k: 'd'; at: number; letter: DeadLetter };

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

  constructor(options: IngestPipelineOptions) {
    this.spool = options.spool;
    this.registry = options.registry;
    this.twins = options.twins;
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
  }

  /** Ingest one raw MQTT message. Synchronous when the spool has room and the VIN is cached. */
  ingestMqtt(topic: string, payload: Buffer): IngestOutcome | Promise<IngestOutcome> {
    this.metrics.messages.inc({ transport: 'mqtt' });
    const receivedAt = this.now();
    return this.process(decodeTelemetry(topic, payload, receivedAt), topic, payload, receivedAt);
  }

  /** Ingest one HTTP body (already parsed JSON). */
  ingestHttp(body: unknown): IngestOutcome | Promise<IngestOutcome> {
    this.metrics.messages.inc({ transport: 'http' });
    const receivedAt = this.now();
    return this.process(validateTelemetry(body, undefined, receivedAt), 'http', body, receivedAt);
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
      const vin = typeof payload === 'object' && payload !== null && !Buffer.isBuffer(payload) ? stringField(payload, 'vin') : undefined;
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
      this.spool.append(record);
      this.metrics.samplesAccepted.inc(decoded.samples.length);
      this.twins.apply(vehicle.vin, decoded.samples, receivedAt);
    }
    return {
      vin: decoded.vin,
      accepted: decoded.samples.length,
      rejected: decoded.rejected.map((r) => ({ index: r.index, reason: r.reason, detail: r.detail })),
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
