// A simulated day of a 60-vehicle fleet, one sample a minute, driven by a pure clock: everything it sends passes
// the contract validator, batteries charge and tanks get refilled, slow tire leaks show and get fixed, fault codes
// come and go, and temperatures follow each city's climate and the time of day.
import t from 'tap';
import { decodeTelemetry, telemetryTopic, type TelemetrySample } from '../../services/contract/telemetry.ts';
import { distanceM, fixedClock, planFleet, simulateMessages, type FleetVehicle } from '../../simulators/fleet/index.ts';

const START = Date.UTC(2026, 0, 15, 0, 0, 0);
const SEED = 7;
const MINUTE = 60_000;
const SPEED = 'Vehicle.Speed';
const ODOMETER = 'Vehicle.TraveledDistance';
const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';
const CHARGING = 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging';
const FUEL = 'Vehicle.Powertrain.FuelSystem.RelativeLevel';
const CABIN = 'Vehicle.Cabin.HVAC.AmbientAirTemperature';
const OUTSIDE = 'Vehicle.Exterior.AirTemperature';
const DTC = 'Vehicle.OBD.DTCList';
const MIL = 'Vehicle.OBD.Status.MILStatus';
const TIRES = [
  'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure',
];

const num = (sample: TelemetrySample, path: string): number => {
  const value = sample.signals[path];
  if (typeof value !== 'number') throw new Error(`${path} is not a number: ${String(value)}`);
  return value;
};

interface Day {
  vehicle: FleetVehicle;
  samples: TelemetrySample[];
}

const rejections: string[] = [];
const fleet: Day[] = planFleet({ seed: SEED, vehicles: 60 }).map((vehicle) => {
  const samples: TelemetrySample[] = [];
  for (const tick of simulateMessages(vehicle, { seed: SEED, startTs: START }, fixedClock(START, MINUTE, 24 * 60))) {
    for (const message of tick.messages) {
      const result = decodeTelemetry(telemetryTopic(vehicle.vin), message.payload, tick.ts);
      if (!result.ok) rejections.push(`${vehicle.vin}: ${result.reason} ${result.detail}`);
      else {
        rejections.push(...result.rejected.map((r) => `${vehicle.vin}#${r.index}: ${r.reason} ${r.detail}`));
        samples.push(...result.samples);
      }
    }
  }
  samples.sort((a, b) => a.seq - b.seq);
  return { vehicle, samples };
});

const minOf = (values: number[]): number => values.reduce((a, b) => Math.min(a, b), Infinity);
const maxOf = (values: number[]): number => values.reduce((a, b) => Math.max(a, b), -Infinity);

/** Consecutive sample pairs of one vehicle's day. */
const pairs = (samples: readonly TelemetrySample[]): Array<[TelemetrySample, TelemetrySample]> =>
  samples.slice(1).map((b, i) => [samples[i]!, b]);

t.test('a day of 60 vehicles passes the contract validator, every sample of it', async (t) => {
  t.same(rejections.slice(0, 5), [], 'zero rejections');
  t.equal(fleet.reduce((n, d) => n + d.samples.length, 0), 60 * 24 * 60, 'all 86,400 samples arrived');
  t.same(fleet.filter((d) => d.samples.some((s, i) => s.seq !== i)).map((d) => d.vehicle.vin), [], 'seq contiguous');
});

t.test('over a day each vehicle drives a plausible distance, odometer monotonic, staying in its city', async (t) => {
  const km = fleet.map((d) => num(d.samples.at(-1)!, ODOMETER) - num(d.samples[0]!, ODOMETER));
  t.ok(Math.min(...km) > 5 && Math.max(...km) < 800, `${Math.min(...km).toFixed(0)}-${Math.max(...km).toFixed(0)} km a day`);
  t.same(fleet.filter((d) => pairs(d.samples).some(([a, b]) => num(b, ODOMETER) < num(a, ODOMETER))).map((d) => d.vehicle.vin), [], 'never backwards');
  const farthest = maxOf(
    fleet.flatMap((d) =>
      d.samples.map((s) => distanceM(d.vehicle.city.centre, { lat: num(s, 'Vehicle.CurrentLocation.Latitude'), lon: num(s, 'Vehicle.CurrentLocation.Longitude') }) / (d.vehicle.city.radiusKm * 1000)),
    ),
  );
  t.ok(farthest < 1.15, `at most ${farthest.toFixed(2)} x the city radius from its centre`);
});

t.test('batteries charge (SoC rising, plugged in, standing) and stay within 0-100; tanks get refilled', async (t) => {
  const socs = fleet.flatMap((d) => d.samples.filter((s) => SOC in s.signals).map((s) => num(s, SOC)));
  t.ok(minOf(socs) >= 0 && maxOf(socs) <= 100, `SoC ${minOf(socs)}-${maxOf(socs)} %`);
  const charged = fleet.filter((d) => pairs(d.samples).some(([a, b]) => b.signals[CHARGING] === true && num(b, SPEED) === 0 && num(b, SOC) > num(a, SOC)));
  t.ok(charged.filter((d) => d.vehicle.powertrain === 'bev').length >= 3, `${charged.length} vehicles charged, SoC rising`);
  t.ok(charged.some((d) => d.vehicle.powertrain === 'phev'), 'plug-in hybrids plug in too');
  const fastest = maxOf(fleet.flatMap((d) => pairs(d.samples).filter(([, b]) => b.signals[CHARGING] === true).map(([a, b]) => num(b, SOC) - num(a, SOC))));
  t.ok(fastest > 1 && fastest < 4, `DC charging adds at most ${fastest.toFixed(1)} % a minute (2.4 C)`);
  const refuelled = fleet.filter((d) => pairs(d.samples).some(([a, b]) => FUEL in b.signals && num(b, FUEL) > num(a, FUEL) && num(b, SPEED) === 0));
  t.ok(refuelled.length >= 2, `${refuelled.length} vehicles refuelled at a standstill`);
  // A minute apart, a car may arrive and plug in between two samples: only a minute spent on the road counts.
  const risingWhileMoving = fleet.filter((d) =>
    pairs(d.samples).some(([a, b]) => num(a, SPEED) > 0 && num(b, SPEED) > 0 && ((SOC in b.signals && num(b, SOC) > num(a, SOC)) || (FUEL in b.signals && num(b, FUEL) > num(a, FUEL)))),
  );
  t.same(risingWhileMoving.map((d) => d.vehicle.vin), [], 'no energy gained on the move');
});

t.test('a slow tire leak loses a few kPa an hour, stays bounded, and is fixed after the TPMS warns', async (t) => {
  let leaks = 0;
  let fixes = 0;
  let worstDeficit = 0;
  let fastestLossPerHour = 0;
  for (const { vehicle, samples } of fleet) {
    // A leaking tire shows as a deficit against the median of the other three, which share its temperature.
    const deficits = TIRES.map((tire) =>
      samples.map((s) => {
        const others = TIRES.filter((o) => o !== tire).map((o) => num(s, o)).sort((x, y) => x - y);
        return (others[1] ?? 0) - num(s, tire);
      }),
    );
    for (const series of deficits) {
      const peak = Math.max(...series);
      worstDeficit = Math.max(worstDeficit, peak / vehicle.spec.tireKpa);
      if (peak < 15) continue;
      leaks++;
      const warned = series.findIndex((d) => d >= vehicle.spec.tireKpa * 0.15);
      if (warned >= 0 && series.slice(warned).some((d) => d < 5)) fixes++;
      // The loss over each hour (a fix is a jump the other way).
      for (let i = 60; i < series.length; i++) fastestLossPerHour = Math.max(fastestLossPerHour, (series[i] ?? 0) - (series[i - 60] ?? 0));
    }
  }
  t.ok(leaks >= 3, `${leaks} tires leaked visibly (15 kPa or more under the others)`);
  t.ok(fixes >= 1, `${fixes} were fixed after the TPMS warning`);
  t.ok(worstDeficit <= 0.52, `never more than half the placard pressure lost (worst ${(worstDeficit * 100).toFixed(0)} %)`);
  t.ok(fastestLossPerHour > 2 && fastestLossPerHour <= 13, `a slow leak: at most ${fastestLossPerHour.toFixed(1)} kPa an hour`);
  const pressures = fleet.flatMap((d) => d.samples.flatMap((s) => TIRES.map((tire) => num(s, tire))));
  const [low, high] = [minOf(pressures), maxOf(pressures)];
  t.ok(low >= 100 && high <= 320, `pressures ${low}-${high} kPa`);
});

t.test('fault codes come and go; the MIL is lit exactly while an emissions- or network-relevant code is active', async (t) => {
  const faulted = fleet.filter((d) => d.samples.some((s) => s.signals[DTC] !== ''));
  t.ok(faulted.length >= 2 && faulted.length <= 30, `${faulted.length} of 60 vehicles reported a fault code`);
  const cleared = faulted.filter((d) => pairs(d.samples).some(([a, b]) => String(b.signals[DTC]).length < String(a.signals[DTC]).length));
  t.ok(cleared.length >= 1, `${cleared.length} had a code repaired`);
  const milWrong = fleet.flatMap((d) => d.samples.filter((s) => (s.signals[MIL] === true) !== /(^|,)(P|U)/.test(String(s.signals[DTC]))));
  t.same(milWrong.slice(0, 3), [], 'MIL on iff a P or U code is active');
});

t.test('temperatures follow the city climate and the time of day; the HVAC holds the cabin while driving', async (t) => {
  const meanOutside = (city: string): number => {
    const values = fleet.filter((d) => d.vehicle.city.name === city).flatMap((d) => d.samples.map((s) => num(s, OUTSIDE)));
    return values.reduce((a, b) => a + b, 0) / values.length;
  };
  t.ok(meanOutside('Oslo') < 2 && meanOutside('Sao Paulo') > 18, `January: Oslo ${meanOutside('Oslo').toFixed(1)} C, Sao Paulo ${meanOutside('Sao Paulo').toFixed(1)} C`);
  const swings = fleet.map((d) => Math.max(...d.samples.map((s) => num(s, OUTSIDE))) - Math.min(...d.samples.map((s) => num(s, OUTSIDE))));
  t.ok(Math.min(...swings) > 6, 'every vehicle sees a day-night swing of more than 6 C');
  const cabinsWhileDriving = fleet.flatMap((d) => {
    // Samples after 15 minutes of driving (the odometer moving every minute): the HVAC has caught up.
    let since = 0;
    return pairs(d.samples)
      .filter(([a, b]) => {
        since = num(b, ODOMETER) > num(a, ODOMETER) ? since + 1 : 0;
        return since > 15;
      })
      .map(([, b]) => num(b, CABIN));
  });
  t.ok(cabinsWhileDriving.length > 100, `${cabinsWhileDriving.length} samples well into a drive`);
  t.ok(minOf(cabinsWhileDriving) >= 15 && maxOf(cabinsWhileDriving) <= 26, `cabin ${minOf(cabinsWhileDriving)}-${maxOf(cabinsWhileDriving)} C while driving`);
});
