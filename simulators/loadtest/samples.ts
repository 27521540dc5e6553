// Load-test telemetry: cheap, contract-valid samples whose values depend only on the seed, the vehicle and the
// seq (the fleet simulator is the realistic one; the load tester must not be the bottleneck it measures).
import type { TelemetrySample } from '../../services/contract/telemetry.ts';

export interface VehicleTrack {
  lat: number;
  lon: number;
  odometerKm: number;
  phase: number;
}

/** mulberry32: a tiny deterministic PRNG */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function vehicleTrack(seed: number, vehicle: number): VehicleTrack {
  const random = prng(Math.imul(seed + 1, 0x9e3779b1) ^ vehicle);
  return { lat: 48 + random() * 4, lon: 2 + random() * 8, odometerKm: 1_000 + random() * 80_000, phase: random() * 1_000 };
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export function loadSample(track: VehicleTrack, seq: number, ts: number): TelemetrySample {
  const t = track.phase + seq;
  return {
    ts,
    seq,
    signals: {
      'Vehicle.Speed': round(Math.max(0, 60 + 55 * Math.sin(t / 40)), 1),
      'Vehicle.CurrentLocation.Latitude': round(track.lat + 0.01 * Math.sin(t / 500), 6),
      'Vehicle.CurrentLocation.Longitude': round(track.lon + 0.01 * Math.cos(t / 500), 6),
      'Vehicle.TraveledDistance': round(track.odometerKm + seq * 0.015, 3),
      'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': round(90 - ((seq * 0.002) % 70), 2),
    },
  };
}
