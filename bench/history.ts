// The history the cockpit benchmark loads: per vehicle, samples every `everyMs` over time ranges, with the
// cockpit's signals varying with time and vehicle so that every KPI has work to do. A function of the vehicle's
// index and the ranges only, so the benchmark knows what it sent without keeping it.
import type { TelemetrySample } from '../services/contract/telemetry.ts';

/** Samples of one vehicle every `everyMs` in [from, to). */
export interface HistoryRange {
  from: number;
  to: number;
  everyMs: number;
}

/** Vehicles do not all sample on the same ms: each is offset within the period by its index. */
const offsetOf = (index: number, range: HistoryRange): number => index % range.everyMs;

/** How many samples `historySamples(index, ranges)` holds. */
export function historyCount(index: number, ranges: readonly HistoryRange[]): number {
  return ranges.reduce((n, r) => n + Math.max(0, Math.ceil((r.to - r.from - offsetOf(index, r)) / r.everyMs)), 0);
}

/** A vehicle's history: the cockpit's signals, varying with time and vehicle so that every KPI has work to do. */
export function historySamples(index: number, ranges: readonly HistoryRange[]): TelemetrySample[] {
  const samples: TelemetrySample[] = [];
  let k = 0;
  for (const range of ranges) {
    for (let t = range.from + offsetOf(index, range); t < range.to; t += range.everyMs, k++) {
      const speed = Math.max(0, 50 + 40 * Math.sin((k + index) / 30));
      samples.push({
        ts: t,
        seq: k,
        signals: {
          'Vehicle.Speed': Math.round(speed * 10) / 10,
          'Vehicle.TraveledDistance': Math.round((10_000 + index + k * 0.1) * 10) / 10,
          'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 20 + ((k + index) % 800) / 10,
          'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': (k + index) % 800 > 760,
          'Vehicle.ADAS.ActiveAutonomyLevel': (k + index) % 4 === 0 ? 2 : 0,
          'Vehicle.OBD.Status.MILStatus': (k + index) % 5000 === 0,
        },
      });
    }
  }
  return samples;
}

