// The fleet simulator's vehicle model, driven by a pure clock (no real time): catalog and cities, VINs,
// determinism, and an hour of a 60-vehicle fleet at 1 Hz sent through the store-and-forward uplink and the
// contract validator, whose received samples must obey the physics, across connectivity gaps too.
import t from 'tap';
import { SIGNALS } from '../../services/contract/signals.ts';
import { decodeTelemetry, MAX_BATCH_SAMPLES, MAX_PAYLOAD_BYTES, telemetryTopic, VIN_PATTERN, type TelemetrySample } from '../../services/contract/telemetry.ts';
import {
  batchMessages,
  CITIES,
  citiesByName,
  distanceM,
  FLEET_CATALOG,
  fixedClock,
  planFleet,
  planRoute,
  Prng,
  simulateMessages,
  simulateSamples,
  SIMULATED_SIGNALS,
  StoreAndForward,
  vinCheckDigit,
  type FleetVehicle,
} from '../../simulators/fleet/index.ts';

const START = Date.UTC(2026, 0, 15, 7, 0, 0);
const SEED = 42;
const SPEED = 'Vehicle.Speed';
const LAT = 'Vehicle.CurrentLocation.Latitude';
const LON = 'Vehicle.CurrentLocation.Longitude';
const ODOMETER = 'Vehicle.TraveledDistance';
const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';
const CHARGING = 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging';
const FUEL = 'Vehicle.Powertrain.FuelSystem.RelativeLevel';
const ADAS = 'Vehicle.ADAS.ActiveAutonomyLevel';
const CABIN = 'Vehicle.Cabin.HVAC.AmbientAirTemperature';
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
const position = (s: TelemetrySample) => ({ lat: num(s, LAT), lon: num(s, LON) });

// ---------------------------------------------------------------------------------------------------------
// Catalog, cities, VINs

t.test('the catalog has at least 6 brands and 15 models of all three powertrains, with plausible figures', async (t) => {
  t.ok(new Set(FLEET_CATALOG.map((m) => m.brand)).size >= 6, 'at least 6 brands');
  t.ok(FLEET_CATALOG.length >= 15, `${FLEET_CATALOG.length} models`);
  t.same(new Set(FLEET_CATALOG.map((m) => m.powertrain)), new Set(['bev', 'phev', 'ice']), 'battery-electric, plug-in hybrid and combustion');
  t.equal(new Set(FLEET_CATALOG.map((m) => `${m.brand}/${m.model}`)).size, FLEET_CATALOG.length, 'no model twice');
  const implausible = FLEET_CATALOG.filter(
    (m) =>
      m.topSpeedKmh < 120 ||
      m.topSpeedKmh > 260 ||
      (m.battery && (m.battery.kwh < 8 || m.battery.kwh > 150 || m.battery.kwhPer100Km < 10 || m.battery.kwhPer100Km > 30 || m.battery.acKw > 22)) ||
      (m.powertrain === 'bev' && (m.battery.kwh < 15 || m.battery.dcKw === undefined)) ||
      (m.powertrain === 'phev' && m.battery.kwh > 30) ||
      (m.tank && (m.tank.litres < 30 || m.tank.litres > 120 || m.tank.litresPer100Km < 3 || m.tank.litresPer100Km > 16)) ||
      m.tireKpa < 200 ||
      m.tireKpa > 300,
  );
  t.same(implausible.map((m) => m.model), [], 'battery, consumption, top speed, tank and tire figures in the range of real cars');
  t.ok(FLEET_CATALOG.some((m) => m.adasLevel2) && FLEET_CATALOG.some((m) => !m.adasLevel2), 'some models have level 2 assistance, some do not');
});

t.test('vehicles live in at least 4 real cities, the fleet spread over all of them', async (t) => {
  t.ok(CITIES.length >= 4, `${CITIES.length} cities`);
  const offMap = CITIES.filter((c) => Math.abs(c.centre.lat) > 70 || Math.abs(c.centre.lon) > 180 || c.radiusKm < 5 || c.radiusKm > 40 || c.monthlyMeanC.length !== 12);
  t.same(offMap, [], 'centres on the map, radii of a city, 12 monthly temperatures');
  const vehicles = planFleet({ seed: SEED, vehicles: 300 });
  t.same(new Set(vehicles.map((v) => v.city.name)), new Set(CITIES.map((c) => c.name)), 'every city has vehicles');
  t.same(new Set(vehicles.map((v) => v.brand)), new Set(FLEET_CATALOG.map((m) => m.brand)), 'every brand is fielded');
  t.same(citiesByName(['munich', 'São Paulo']).map((c) => c.name), ['Munich', 'Sao Paulo'], 'cities are found by name, any case and accents');
  t.throws(() => citiesByName(['Atlantis']), /unknown cities: Atlantis/);
  const oslo = planFleet({ seed: SEED, vehicles: 20, cities: citiesByName(['Oslo']) });
  t.ok(oslo.every((v) => v.city.name === 'Oslo'), 'a fleet can be limited to some cities');
  t.throws(() => planFleet({ seed: SEED, vehicles: 1, cities: [] }), /no city/);
  t.throws(() => planFleet({ seed: SEED, vehicles: 1, catalog: [] }), /catalog is empty/);
});

t.test('VINs are 17 ISO 3779 characters with a valid check digit, unique within a fleet', async (t) => {
  const vehicles = planFleet({ seed: SEED, vehicles: 2_000 });
  const bad = vehicles.filter(({ vin }) => !VIN_PATTERN.test(vin) || vin[8] !== vinCheckDigit(vin));
  t.same(bad, [], 'every VIN is well formed');
  t.equal(new Set(vehicles.map((v) => v.vin)).size, vehicles.length, 'no VIN twice');
  t.equal(vinCheckDigit('1M8GDM9AXKP042788'), 'X', 'the check digit of the standard example VIN');
  t.throws(() => vinCheckDigit('1M8GDM9AXKP04278O'), /not a VIN character/);
  t.throws(() => planFleet({ seed: SEED, vehicles: 33 ** 4 + 1 }), /at most/);
});

t.test('a VIN salt gives other VINs for the same vehicles', async (t) => {
  const plain = planFleet({ seed: SEED, vehicles: 30 });
  const salted = planFleet({ seed: SEED, vehicles: 30, vinSalt: 'run-2' });
  t.same(salted.map(({ vin: _vin, ...rest }) => rest), plain.map(({ vin: _vin, ...rest }) => rest), 'same brands, models, years, cities');
  t.equal(salted.filter((v, i) => v.vin === plain[i]?.vin).length, 0, 'no VIN shared');
});

t.test('the same seed gives the same fleet and the same samples; another seed does not', async (t) => {
  const run = (seed: number) =>
    planFleet({ seed, vehicles: 8 }).map((vehicle) => [...simulateSamples(vehicle, { seed, startTs: START }, fixedClock(START, 1000, 600))]);
  t.same(planFleet({ seed: SEED, vehicles: 50 }), planFleet({ seed: SEED, vehicles: 50 }), 'same vehicles');
  const first = run(SEED);
  t.same(run(SEED), first, 'same samples, signal by signal');
  const other = run(SEED + 1);
  t.notSame(other[0]?.[300]?.signals, first[0]?.[300]?.signals, 'other signals');
});

t.test('routes follow the street grid, slow down for corners and end with a stop at the destination', async (t) => {
  const [city] = citiesByName(['Munich']);
  if (!city) throw new Error('no Munich');
  const rng = new Prng(7);
  const from = { lat: 48.1, lon: 11.5 };
  const near = planRoute(city, from, { lat: 48.11, lon: 11.51 }, rng, { gaps: true });
  t.ok(near.legs.every((leg) => leg.road === 'city'), 'a short trip stays on city streets');
  t.ok(near.legs.every((leg) => Math.min(leg.bearingDeg % 90, 90 - (leg.bearingDeg % 90)) < 1), 'along the grid (Munich: north-south, east-west)');
  const far = planRoute(city, from, { lat: 48.2, lon: 11.66 }, rng, { gaps: true });
  t.ok(far.legs.some((leg) => leg.road === 'expressway'), 'a long trip takes the expressway');
  t.ok(far.lengthM >= distanceM(from, { lat: 48.2, lon: 11.66 }), 'a route is never shorter than the straight line');
  const last = far.controls.at(-1);
  t.equal(last?.atM, far.lengthM, 'the last control is the destination');
  t.equal(last?.maxMs, 0, 'where the car stops');
  t.ok(far.controls.every((c, i) => i === 0 || c.atM >= (far.controls[i - 1]?.atM ?? 0)), 'controls in route order');
  const calm = planRoute(city, from, from, rng, { gaps: false });
  t.ok(calm.lengthM > 0 && calm.offline.length === 0, 'a trip to where the car stands is a short hop; without gaps there are none');
});

// ---------------------------------------------------------------------------------------------------------
// An hour of a fleet at 1 Hz, through the uplink and the contract validator

interface FleetReport {
  vehicles: number;
  samples: number;
  messages: number;
  batches: number;
  /** Flushes that took more than one batch message (a long gap). */
  splitFlushes: number;
  maxBatchBytes: number;
  maxBatchSamples: number;
  batchSeqProblems: string[];
  offlineTicks: number;
  rejections: string[];
  seqProblems: string[];
  pairs: number;
  /** Consecutive samples of which one came in a batch and the other did not: the edges of a gap. */
  gapEdgePairs: number;
  teleports: string[];
  speedMismatches: string[];
  worstMismatchM: number;
  harshAccelerations: string[];
  odometerBackwards: string[];
  movingSamples: number;
  movingSpeedSum: number;
  maxSpeed: number;
  standstills: number;
  stopAndGo: number;
  maxDistanceFromCityShare: number;
  socOutOfRange: string[];
  socRisingWhileMoving: string[];
  socRisingNotCharging: string[];
  fuelRisingWhileMoving: string[];
  /** Per vehicle: km driven and the SoC or fuel level lost while driving. */
  energyUse: Array<{ vehicle: FleetVehicle; km: number; socDrop: number; fuelDrop: number }>;
  equippedMoving: number;
  equippedLevel2: number;
  unequippedAbove1: number;
  levelsSeen: Set<number>;
  pressures: [number, number];
  cabin: [number, number];
  dtcProblems: string[];
  emitted: Set<string>;
  wrongEnergySignals: string[];
}

function newReport(): FleetReport {
  return {
    vehicles: 0,
    samples: 0,
    messages: 0,
    batches: 0,
    splitFlushes: 0,
    maxBatchBytes: 0,
    maxBatchSamples: 0,
    batchSeqProblems: [],
    offlineTicks: 0,
    rejections: [],
    seqProblems: [],
    pairs: 0,
    gapEdgePairs: 0,
    teleports: [],
    speedMismatches: [],
    worstMismatchM: 0,
    harshAccelerations: [],
    odometerBackwards: [],
    movingSamples: 0,
    movingSpeedSum: 0,
    maxSpeed: 0,
    standstills: 0,
    stopAndGo: 0,
    maxDistanceFromCityShare: 0,
    socOutOfRange: [],
    socRisingWhileMoving: [],
    socRisingNotCharging: [],
    fuelRisingWhileMoving: [],
    energyUse: [],
    equippedMoving: 0,
    equippedLevel2: 0,
    unequippedAbove1: 0,
    levelsSeen: new Set(),
    pressures: [Infinity, -Infinity],
    cabin: [Infinity, -Infinity],
    dtcProblems: [],
    emitted: new Set(),
    wrongEnergySignals: [],
  };
}

const DTC_FORMAT = /^$|^[PCBU][0-9A-F]{4}(,[PCBU][0-9A-F]{4})*$/;

/** Each vehicle's messages go through the contract validator as the service receives them; the accepted samples are checked. */
function driveThroughContract(vehicles: readonly FleetVehicle[], seed: number, intervalMs: number, count: number): FleetReport {
  const report = newReport();
  for (const vehicle of vehicles) {
    report.vehicles++;
    const received: Array<{ sample: TelemetrySample; batch: boolean }> = [];
    for (const tick of simulateMessages(vehicle, { seed, startTs: START }, fixedClock(START, intervalMs, count))) {
      if (!tick.online) report.offlineTicks++;
      if (tick.messages.filter((m) => m.batch).length > 1) report.splitFlushes++;
      for (const message of tick.messages) {
        report.messages++;
        if (message.batch) {
          report.batches++;
          report.maxBatchBytes = Math.max(report.maxBatchBytes, Buffer.byteLength(message.payload));
          report.maxBatchSamples = Math.max(report.maxBatchSamples, message.samples);
        }
        const result = decodeTelemetry(telemetryTopic(vehicle.vin), message.payload, tick.ts);
        if (!result.ok) {
          report.rejections.push(`${vehicle.vin}: ${result.reason} ${result.detail}`);
          continue;
        }
        report.rejections.push(...result.rejected.map((r) => `${vehicle.vin}: ${r.reason} ${r.detail}`));
        if (message.batch && result.samples.some((s, i) => i > 0 && s.seq <= (result.samples[i - 1]?.seq ?? -1))) report.batchSeqProblems.push(vehicle.vin);
        for (const sample of result.samples) received.push({ sample, batch: message.batch });
      }
    }
    checkVehicle(vehicle, received, report);
  }
  return report;
}

function checkVehicle(vehicle: FleetVehicle, received: ReadonlyArray<{ sample: TelemetrySample; batch: boolean }>, report: FleetReport): void {
  const { vin, spec } = vehicle;
  const use = { vehicle, km: 0, socDrop: 0, fuelDrop: 0 };
  report.energyUse.push(use);
  const radiusM = vehicle.city.radiusKm * 1000;
  let stoppedAfterMoving = false;
  received.forEach(({ sample: b, batch }, i) => {
    report.samples++;
    if (b.seq !== i) report.seqProblems.push(`${vin}: sample ${i} has seq ${b.seq}`);
    for (const path of Object.keys(b.signals)) report.emitted.add(path);
    if (SOC in b.signals !== (spec.powertrain !== 'ice') || CHARGING in b.signals !== (spec.powertrain !== 'ice') || FUEL in b.signals !== (spec.powertrain !== 'bev')) {
      report.wrongEnergySignals.push(`${vin} ${spec.model}`);
    }
    const speed = num(b, SPEED);
    report.maxSpeed = Math.max(report.maxSpeed, speed);
    const level = num(b, ADAS);
    report.levelsSeen.add(level);
    if (speed > 0) {
      report.movingSamples++;
      report.movingSpeedSum += speed;
      if (spec.adasLevel2) {
        report.equippedMoving++;
        if (level === 2) report.equippedLevel2++;
      }
      if (stoppedAfterMoving) report.stopAndGo++;
      stoppedAfterMoving = false;
    } else {
      report.standstills++;
      if (i > 0 && num(received[i - 1]!.sample, SPEED) > 0) stoppedAfterMoving = true;
    }
    if (!spec.adasLevel2 && level > 1) report.unequippedAbove1++;
    report.maxDistanceFromCityShare = Math.max(report.maxDistanceFromCityShare, distanceM(vehicle.city.centre, position(b)) / radiusM);
    for (const tire of TIRES) report.pressures = [Math.min(report.pressures[0], num(b, tire)), Math.max(report.pressures[1], num(b, tire))];
    report.cabin = [Math.min(report.cabin[0], num(b, CABIN)), Math.max(report.cabin[1], num(b, CABIN))];
    const dtc = b.signals[DTC];
    if (typeof dtc !== 'string' || !DTC_FORMAT.test(dtc) || (b.signals[MIL] === true && dtc === '') || (/^[CB]/.test(dtc) && !dtc.includes('P') && !dtc.includes('U') && b.signals[MIL] === true)) {
      report.dtcProblems.push(`${vin}#${b.seq}: ${String(dtc)} MIL ${String(b.signals[MIL])}`);
    }
    if (SOC in b.signals && (num(b, SOC) < 0 || num(b, SOC) > 100)) report.socOutOfRange.push(`${vin}#${b.seq}`);

    const previous = received[i - 1];
    if (!previous) return;
    const a = previous.sample;
    report.pairs++;
    if (previous.batch !== batch) report.gapEdgePairs++;
    const dt = (b.ts - a.ts) / 1000;
    const odometerM = (num(b, ODOMETER) - num(a, ODOMETER)) * 1000;
    const chordM = distanceM(position(a), position(b));
    const trapezoidM = ((num(a, SPEED) + num(b, SPEED)) / 2 / 3.6) * dt;
    const where = `${vin}#${b.seq}${batch || previous.batch ? ' (batch)' : ''}`;
    if (odometerM < 0) report.odometerBackwards.push(where);
    // Positions are rounded to 1e-6 degrees (about 0.1 m): the straight line is never longer than the road.
    if (chordM > odometerM + 0.5) report.teleports.push(`${where}: moved ${chordM.toFixed(1)} m, odometer ${odometerM.toFixed(1)} m`);
    const mismatch = Math.abs(odometerM - trapezoidM);
    report.worstMismatchM = Math.max(report.worstMismatchM, mismatch);
    // Speeds are rounded to 0.1 km/h; a stop reached within a step ends it early.
    if (mismatch > 1 + 0.02 * trapezoidM) report.speedMismatches.push(`${where}: odometer ${odometerM.toFixed(1)} m, speed x dt ${trapezoidM.toFixed(1)} m`);
    if (Math.abs(num(b, SPEED) - num(a, SPEED)) / 3.6 / dt > 3.1) report.harshAccelerations.push(where);
    const moving = num(a, SPEED) > 0 || num(b, SPEED) > 0 || odometerM > 0;
    use.km += odometerM / 1000;
    if (SOC in b.signals) {
      const rise = num(b, SOC) - num(a, SOC);
      if (rise > 0 && moving) report.socRisingWhileMoving.push(where);
      if (rise > 0 && b.signals[CHARGING] !== true) report.socRisingNotCharging.push(where);
      if (odometerM > 0) use.socDrop -= rise;
    }
    if (FUEL in b.signals) {
      const rise = num(b, FUEL) - num(a, FUEL);
      if (rise > 0 && moving) report.fuelRisingWhileMoving.push(where);
      if (odometerM > 0) use.fuelDrop -= rise;
    }
  });
}

const hour = driveThroughContract(planFleet({ seed: SEED, vehicles: 60 }), SEED, 1000, 3600);

t.test('every sample of 60 vehicles over a simulated hour passes the contract validator, batches included', async (t) => {
  t.same(hour.rejections.slice(0, 5), [], 'zero rejections');
  t.equal(hour.samples, 60 * 3600, 'all 216,000 samples accepted, none lost in a gap');
  t.same(hour.seqProblems.slice(0, 5), [], 'per vehicle, seq runs 0, 1, 2, ... in arrival order');
  t.same(SIMULATED_SIGNALS.filter((path) => !SIGNALS.has(path)), [], 'every simulated signal is in the catalog');
  t.same(hour.emitted, new Set(SIMULATED_SIGNALS), 'and every one is emitted');
  t.same(hour.wrongEnergySignals.slice(0, 5), [], 'battery signals iff a traction battery, fuel level iff a tank');
});

t.test('connectivity gaps: the car buffers, then sends valid batches of increasing seq within the contract limits', async (t) => {
  t.ok(hour.offlineTicks > 0, `${hour.offlineTicks} samples taken without coverage`);
  t.ok(hour.batches > 0, `${hour.batches} store-and-forward batches`);
  t.ok(hour.splitFlushes > 0, `${hour.splitFlushes} long gaps needed more than one batch`);
  t.ok(hour.maxBatchBytes <= MAX_PAYLOAD_BYTES, `largest batch ${hour.maxBatchBytes} bytes <= 256 KiB`);
  t.ok(hour.maxBatchSamples <= MAX_BATCH_SAMPLES, `largest batch ${hour.maxBatchSamples} samples <= 1,000`);
  t.same(hour.batchSeqProblems, [], 'seq increases within every batch');
  t.ok(hour.gapEdgePairs > 0, `${hour.gapEdgePairs} sample pairs straddle a gap's edge, checked like all others`);
});

t.test('vehicles never teleport: positions, odometer and speed x dt agree, across gaps too', async (t) => {
  t.ok(hour.pairs > 200_000, `${hour.pairs} consecutive pairs`);
  t.same(hour.teleports.slice(0, 5), [], 'the distance between positions never exceeds the odometer progress');
  t.same(hour.speedMismatches.slice(0, 5), [], `odometer progress = mean speed x dt (worst error ${hour.worstMismatchM.toFixed(2)} m)`);
  t.same(hour.harshAccelerations.slice(0, 5), [], 'no acceleration or braking beyond 3 m/s2');
  t.same(hour.odometerBackwards.slice(0, 5), [], 'the odometer is monotonic');
});

t.test('speeds are plausible city and expressway driving, with stops at lights and parking', async (t) => {
  const mean = hour.movingSpeedSum / hour.movingSamples;
  t.ok(hour.maxSpeed <= 135, `never above 135 km/h (max ${hour.maxSpeed})`);
  t.ok(hour.maxSpeed >= 80, 'some expressway driving');
  t.ok(mean > 20 && mean < 70, `mean moving speed ${mean.toFixed(1)} km/h`);
  t.ok(hour.movingSamples / hour.samples > 0.25, `${((100 * hour.movingSamples) / hour.samples).toFixed(0)} % of samples moving`);
  t.ok(hour.stopAndGo > 100, `${hour.stopAndGo} stops followed by driving on`);
  t.ok(hour.maxDistanceFromCityShare < 1.15, `vehicles stay in their city (farthest at ${hour.maxDistanceFromCityShare.toFixed(2)} x its radius)`);
});

t.test('SoC stays in 0-100, falls while driving at the model\'s consumption, rises only while charging', async (t) => {
  t.same(hour.socOutOfRange.slice(0, 5), [], 'within 0-100 %');
  t.same(hour.socRisingWhileMoving.slice(0, 5), [], 'never rises while moving');
  t.same(hour.socRisingNotCharging.slice(0, 5), [], 'rises only while charging');
  const bevs = hour.energyUse.filter((u) => u.vehicle.powertrain === 'bev' && u.km > 2);
  t.ok(bevs.length >= 5, `${bevs.length} BEVs drove more than 2 km`);
  const implausible = bevs
    .map((u) => ({ model: u.vehicle.model, kwhPer100Km: (((u.socDrop / 100) * (u.vehicle.spec.battery?.kwh ?? 0)) / u.km) * 100 }))
    .filter((u) => !(u.kwhPer100Km > 8 && u.kwhPer100Km < 45));
  t.same(implausible, [], 'each used 8-45 kWh/100 km');
  t.same(hour.fuelRisingWhileMoving.slice(0, 5), [], 'fuel never rises while moving');
  const ices = hour.energyUse.filter((u) => u.vehicle.powertrain === 'ice' && u.km > 2);
  t.ok(ices.length >= 5, `${ices.length} combustion cars drove more than 2 km`);
  const thirsty = ices
    .map((u) => ({ model: u.vehicle.model, litresPer100Km: (((u.fuelDrop / 100) * (u.vehicle.spec.tank?.litres ?? 0)) / u.km) * 100 }))
    .filter((u) => !(u.litresPer100Km > 3 && u.litresPer100Km < 25));
  t.same(thirsty, [], 'each burned 3-25 l/100 km');
});

t.test('about a quarter of the moving samples of level-2 models are at level 2; other models reach level 1 at most', async (t) => {
  const share = hour.equippedLevel2 / hour.equippedMoving;
  t.ok(hour.equippedMoving > 20_000, `${hour.equippedMoving} moving samples of equipped models`);
  t.ok(share >= 0.18 && share <= 0.32, `level 2 share ${(share * 100).toFixed(1)} % (25 % +- 7)`);
  t.equal(hour.unequippedAbove1, 0, 'never level 2 on a model without it');
  t.same(hour.levelsSeen, new Set([0, 1, 2]), 'levels 0, 1 and 2 all occur');
});

t.test('tire pressures, cabin temperatures and fault codes are plausible', async (t) => {
  t.ok(hour.pressures[0] >= 150 && hour.pressures[1] <= 320, `tires ${hour.pressures[0]}-${hour.pressures[1]} kPa`);
  t.ok(hour.cabin[0] > -20 && hour.cabin[1] < 50, `cabin ${hour.cabin[0]}-${hour.cabin[1]} C`);
  t.same(hour.dtcProblems.slice(0, 5), [], 'DTC lists are comma-separated codes, the MIL lit only with a code that lights it');
});

t.test('without gaps every sample is sent at once as a single message', async (t) => {
  let messages = 0;
  let batches = 0;
  let offline = 0;
  for (const vehicle of planFleet({ seed: SEED, vehicles: 10 })) {
    for (const tick of simulateMessages(vehicle, { seed: SEED, startTs: START, gaps: false }, fixedClock(START, 1000, 1200))) {
      if (!tick.online) offline++;
      messages += tick.messages.length;
      batches += tick.messages.filter((m) => m.batch).length;
    }
  }
  t.equal(offline, 0);
  t.equal(batches, 0);
  t.equal(messages, 10 * 1200);
});

t.test('a gap between samples is integrated, not jumped', async (t) => {
  const [vehicle] = planFleet({ seed: SEED, vehicles: 1 });
  if (!vehicle) throw new Error('no vehicle');
  const everySecond = [...simulateSamples(vehicle, { seed: SEED, startTs: START }, fixedClock(START, 1000, 121))];
  const twoSamples = [...simulateSamples(vehicle, { seed: SEED, startTs: START }, [START, START + 120_000])];
  const odometerGap = num(twoSamples[1]!, ODOMETER) - num(twoSamples[0]!, ODOMETER);
  t.ok(odometerGap >= 0 && odometerGap < (135 / 3600) * 120, `${(odometerGap * 1000).toFixed(0)} m in 2 minutes`);
  t.equal(twoSamples[1]?.seq, 1, 'one sample, one seq');
  t.equal(everySecond.length, 121);
});

// ---------------------------------------------------------------------------------------------------------
// The uplink on its own

const tinySample = (seq: number): TelemetrySample => ({ ts: START + seq * 1000, seq, signals: { 'Vehicle.Speed': seq % 100 } });
const VIN = 'VLTEX2A10T0000001';

t.test('batches respect the 1,000-sample and 256 KiB limits and keep the order', async (t) => {
  const many = Array.from({ length: 2_500 }, (_, i) => tinySample(i));
  const byCount = batchMessages(VIN, many);
  t.same(byCount.map((m) => m.samples), [1000, 1000, 500], 'split by count');
  const bySize = batchMessages(VIN, many.slice(0, 100), 1_000);
  t.ok(bySize.length > 1 && bySize.every((m) => Buffer.byteLength(m.payload) <= 1_000), `${bySize.length} payloads of at most 1,000 bytes`);
  const seqs = bySize.flatMap((m) => (JSON.parse(m.payload) as { samples: TelemetrySample[] }).samples.map((s) => s.seq));
  t.same(seqs, Array.from({ length: 100 }, (_, i) => i), 'every sample once, in order');
  t.same(batchMessages(VIN, []), [], 'nothing buffered, nothing sent');
});

t.test('a full vehicle buffer drops its oldest samples and counts them', async (t) => {
  const uplink = new StoreAndForward(VIN, 5);
  for (let i = 0; i < 8; i++) t.same(uplink.offer(tinySample(i), false), [], 'offline: nothing sent');
  t.equal(uplink.buffered, 5);
  t.equal(uplink.dropped, 3);
  const [batch, ...rest] = uplink.offer(tinySample(8), true);
  t.same(rest, []);
  t.same((JSON.parse(batch?.payload ?? '{}') as { samples: TelemetrySample[] }).samples.map((s) => s.seq), [3, 4, 5, 6, 7, 8], 'the newest samples, then the current one');
  const single = uplink.offer(tinySample(9), true);
  t.same(single.map((m) => m.batch), [false], 'back to single messages');
});
