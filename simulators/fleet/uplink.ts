// A vehicle's telematics uplink: one message per sample while it has coverage; without coverage it buffers
// its samples (bounded, oldest dropped first, as a TCU's ring buffer does) and on reconnecting sends them as
// store-and-forward batches, each within the contract's 1,000 samples and 256 KiB.
import { MAX_BATCH_SAMPLES, MAX_PAYLOAD_BYTES, type TelemetrySample, type Vin } from '../../services/contract/telemetry.ts';
import { VehicleSimulation, type FleetVehicle, type VehicleSimulationOptions } from './vehicle-model.ts';

export interface UplinkMessage {
  /** The JSON payload, ready to publish on vehicles/{vin}/telemetry. */
  payload: string;
  samples: number;
  batch: boolean;
}

/** A TCU keeps this many samples while offline: over an hour at 5 Hz. */
export const DEFAULT_BUFFER_SAMPLES = 20_000;

export function singleMessage(vin: Vin, sample: TelemetrySample): UplinkMessage {
  return { payload: JSON.stringify({ vin, ...sample }), samples: 1, batch: false };
}

/** Samples as few batch messages as the limits allow, in order; each payload at most `maxBytes`. */
export function batchMessages(vin: Vin, samples: readonly TelemetrySample[], maxBytes = MAX_PAYLOAD_BYTES, maxSamples = MAX_BATCH_SAMPLES): UplinkMessage[] {
  const head = `{"vin":${JSON.stringify(vin)},"samples":[`;
  const tail = ']}';
  const messages: UplinkMessage[] = [];
  let parts: string[] = [];
  let bytes = head.length + tail.length;
  const flush = (): void => {
    if (parts.length === 0) return;
    messages.push({ payload: head + parts.join(',') + tail, samples: parts.length, batch: true });
    parts = [];
    bytes = head.length + tail.length;
  };
  for (const sample of samples) {
    const part = JSON.stringify(sample);
    const size = Buffer.byteLength(part);
    // A comma separates every sample from the one before it.
    if (parts.length >= maxSamples || (parts.length > 0 && bytes + 1 + size > maxBytes)) flush();
    bytes += size + (parts.length > 0 ? 1 : 0);
    parts.push(part);
  }
  flush();
  return messages;
}

export class StoreAndForward {
  private buffer: TelemetrySample[] = [];
  /** Samples the full buffer overwrote: lost for good, as on a real vehicle. */
  dropped = 0;

  constructor(
    readonly vin: Vin,
    private readonly capacity = DEFAULT_BUFFER_SAMPLES,
  ) {}

  get buffered(): number {
    return this.buffer.length;
  }

  /** Hand over the sample taken now; returns what to publish now (nothing while offline). */
  offer(sample: TelemetrySample, online: boolean): UplinkMessage[] {
    if (!online) {
      this.buffer.push(sample);
      if (this.buffer.length > this.capacity) {
        this.buffer.shift();
        this.dropped++;
      }
      return [];
    }
    if (this.buffer.length === 0) return [singleMessage(this.vin, sample)];
    // Back in coverage: the backlog and the current sample go out together, oldest first.
    this.buffer.push(sample);
    return this.flush();
  }

  /** Everything buffered, as batches (the simulator stopping, or a forced store-and-forward cycle). */
  flush(): UplinkMessage[] {
    const samples = this.buffer;
    this.buffer = [];
    return batchMessages(this.vin, samples);
  }
}

export interface UplinkTick {
  /** The sample time, and the time its messages (if any) leave the vehicle. */
  ts: number;
  online: boolean;
  messages: UplinkMessage[];
}

/**
 * What one vehicle sends at the times `clock` yields, gaps included; at the end the vehicle comes back into
 * coverage and sends what it still holds. The pure way to check the wire output (tests, backfills).
 */
export function* simulateMessages(vehicle: FleetVehicle, options: VehicleSimulationOptions, clock: Iterable<number>): Generator<UplinkTick> {
  const simulation = new VehicleSimulation(vehicle, options);
  const uplink = new StoreAndForward(vehicle.vin);
  let last: number | undefined;
  for (const ts of clock) {
    const sample = simulation.sample(ts);
    const online = simulation.online;
    last = ts;
    yield { ts, online, messages: uplink.offer(sample, online) };
  }
  if (last !== undefined && uplink.buffered > 0) yield { ts: last, online: true, messages: uplink.flush() };
}
