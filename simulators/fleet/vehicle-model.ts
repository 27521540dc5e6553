// Deterministic vehicle physics for the fleet simulator: a seeded PRNG per vehicle drives trips around a city
// centre (accelerations, red lights, parking, charging, refuelling) and turns the state into contract samples.
// Nothing here reads the real clock: callers pass each sample's time, so a test can simulate hours in milliseconds.
import { SIGNALS, type SignalValue } from '../../services/contract/signals.ts';
import type { TelemetrySample, Vin } from '../../services/contract/telemetry.ts';
import { FLEET_CATALOG, type CatalogModel, type Powertrain } from './catalog.ts';

export interface GeoPoint {
  lat: number;
  lon: number;
}

/** Shanghai's People's Square: the fleet drives around it unless told otherwise. */
export const DEFAULT_CITY_CENTRE: GeoPoint = { lat: 31.2304, lon: 121.4737 };
export const DEFAULT_CITY_RADIUS_KM = 15;

export interface FleetVehicle {
  vin: Vin;
  brand: string;
  model: string;
  year: number;
  powertrain: Powertrain;
  /** Position in the fleet, 0-based; with the seed it determines everything about the vehicle. */
  index: number;
  spec: CatalogModel;
}

// ---------------------------------------------------------------------------------------------------------
// Seeded randomness

/** 32-bit FNV-1a of a string: turns (seed, purpose, index) into an independent PRNG seed. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: small, fast and good enough for plausible traffic; the same seed gives the same stream. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }
  int(min: number, maxInclusive: number): number {
    return Math.floor(this.between(min, maxInclusive + 1));
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

// ---------------------------------------------------------------------------------------------------------
// VINs

const VIN_ALPHABET = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
/** Letter values of the check-digit computation (digits count as themselves). */
const VIN_VALUES: Readonly<Record<string, number>> = Object.fromEntries([
  ...'A1 B2 C3 D4 E5 F6 G7 H8 J1 K2 L3 M4 N5 P7 R9 S2 T3 U4 V5 W6 X7 Y8 Z9'.split(' ').map((pair) => [pair[0], Number(pair[1])]),
  ...[...'0123456789'].map((digit) => [digit, Number(digit)]),
]);
/** ISO 3779 model-year codes, 2010 = A (letters I, O, Q, U, Z and the digit 0 are never used). */
const MODEL_YEAR_CODES = 'ABCDEFGHJKLMNPRSTVWXY123456789';
/** Three VIN characters (positions 11-13) name the fleet: this many distinct fleets. */
export const FLEET_NUMBERS = VIN_ALPHABET.length ** 3;
/** Four characters (positions 14-17) number the vehicles of a fleet. */
export const MAX_FLEET_VEHICLES = VIN_ALPHABET.length ** 4;

/** North American check digit (49 CFR 565), position 9: '0'-'9' or 'X'. */
export function vinCheckDigit(vin: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const value = VIN_VALUES[vin[i] ?? ''];
    if (value === undefined) throw new Error(`not a VIN character: ${vin[i]}`);
    sum += value * (VIN_WEIGHTS[i] ?? 0);
  }
  const remainder = sum % 11;
  return remainder === 10 ? 'X' : String(remainder);
}

function base33(value: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = VIN_ALPHABET[value % VIN_ALPHABET.length] + out;
    value = Math.floor(value / VIN_ALPHABET.length);
  }
  return out;
}

/** WMI + VDS + check digit + model year + fleet number (3) + vehicle number (4). */
export function fleetVin(spec: CatalogModel, year: number, fleetNumber: number, index: number): Vin {
  const yearCode = MODEL_YEAR_CODES[(((year - 2010) % 30) + 30) % 30];
  const body = `${spec.wmi}${spec.vds}0${yearCode}${base33(fleetNumber, 3)}${base33(index, 4)}`;
  return `${body.slice(0, 8)}${vinCheckDigit(body)}${body.slice(9)}`;
}

/**
 * The fleet number of a run: the seed itself (so seeds 0..35,936 never share VINs), or, with a salt, a hash of
 * both (fresh VINs for a rerun with the same seed).
 */
export function fleetNumber(seed: number, vinSalt?: string): number {
  if (vinSalt) return hash32(`${seed}/${vinSalt}`) % FLEET_NUMBERS;
  return ((Math.trunc(seed) % FLEET_NUMBERS) + FLEET_NUMBERS) % FLEET_NUMBERS;
}

export interface FleetPlanOptions {
  seed: number;
  vehicles: number;
  /** Mixed into the VINs only (not the physics): a per-run salt gives unused VINs for the same seed. */
  vinSalt?: string;
  catalog?: readonly CatalogModel[];
}

/** Which vehicles a fleet has: VIN, brand, model, year, powertrain; a pure function of the options. */
export function planFleet(options: FleetPlanOptions): FleetVehicle[] {
  const catalog = options.catalog ?? FLEET_CATALOG;
  if (catalog.length === 0) throw new Error('the catalog is empty');
  if (options.vehicles > MAX_FLEET_VEHICLES) throw new Error(`at most ${MAX_FLEET_VEHICLES} vehicles per fleet`);
  const fleet = fleetNumber(options.seed, options.vinSalt);
  const vehicles: FleetVehicle[] = [];
  for (let index = 0; index < options.vehicles; index++) {
    const rng = new Prng(hash32(`${options.seed}/plan/${index}`));
    const spec = rng.pick(catalog);
    const year = rng.int(spec.years[0], spec.years[1]);
    vehicles.push({ vin: fleetVin(spec, year, fleet, index), brand: spec.brand, model: spec.model, year, powertrain: spec.powertrain, index, spec });
  }
  return vehicles;
}

// ---------------------------------------------------------------------------------------------------------
// Physics

type Phase = 'driving' | 'parked' | 'charging' | 'refuelling';
type RoadClass = 'city' | 'arterial' | 'expressway';

const EARTH_RADIUS_M = 6_371_000;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** Longest integration step: a longer gap between samples is integrated in steps of at most this. */
const MAX_STEP_S = 1;

const ROADS: Record<RoadClass, { kmh: readonly [number, number]; redLightsPerMinute: number; turnsPerMinute: number; weight: number }> = {
  city: { kmh: [25, 50], redLightsPerMinute: 0.9, turnsPerMinute: 1.2, weight: 0.5 },
  arterial: { kmh: [50, 70], redLightsPerMinute: 0.35, turnsPerMinute: 0.4, weight: 0.35 },
  expressway: { kmh: [80, 120], redLightsPerMinute: 0, turnsPerMinute: 0.05, weight: 0.15 },
};

const FAULT_CODES = ['P0420', 'P0301', 'P0171', 'C0035', 'B1318', 'U0100', 'P0A80'] as const;
/** Chance per driving hour that a diagnostic trouble code appears. */
const FAULTS_PER_DRIVING_HOUR = 0.05;

export interface VehicleSimulationOptions {
  /** The fleet seed; with the vehicle's index it seeds this vehicle's PRNG. */
  seed: number;
  /** Time of the vehicle's initial state (ms since the epoch); the first sample is at or after it. */
  startTs: number;
  centre?: GeoPoint;
  radiusKm?: number;
}

export class VehicleSimulation {
  readonly vehicle: FleetVehicle;
  private readonly rng: Prng;
  private readonly centre: GeoPoint;
  private readonly radiusM: number;
  private seq = 0;
  private t: number;

  private lat: number;
  private lon: number;
  private heading: number;
  private speed = 0; // m/s
  private odometerKm: number;
  private soc: number;
  private fuel: number;
  private phase: Phase;
  private phaseUntil: number;
  private tripUntil = 0;
  private road: RoadClass = 'city';
  private roadUntil = 0;
  private cruise = 0; // m/s the driver aims for on this road
  private redLightUntil = 0;
  private chargeTarget = 90;
  private adasEngaged = false;
  private adasLevel = 0;
  private readonly adasHabit: number;
  private readonly tireBase: readonly [number, number, number, number];
  private tireWarmth = 0;
  private readonly ambientBase: number;
  private cabin: number;
  private dtc = '';

  constructor(vehicle: FleetVehicle, options: VehicleSimulationOptions) {
    this.vehicle = vehicle;
    this.rng = new Prng(hash32(`${options.seed}/vehicle/${vehicle.index}`));
    const rng = this.rng;
    this.centre = options.centre ?? DEFAULT_CITY_CENTRE;
    this.radiusM = (options.radiusKm ?? DEFAULT_CITY_RADIUS_KM) * 1000;
    this.t = options.startTs;

    const r = this.radiusM * 0.6 * Math.sqrt(rng.next());
    const bearing = rng.between(0, 2 * Math.PI);
    [this.lat, this.lon] = offset(this.centre.lat, this.centre.lon, r * Math.cos(bearing), r * Math.sin(bearing));
    this.heading = rng.between(0, 360);
    const ageYears = Math.max(0.1, new Date(options.startTs).getUTCFullYear() - vehicle.year + rng.next());
    this.odometerKm = ageYears * rng.between(6_000, 20_000);
    this.soc = hasBattery(vehicle.powertrain) ? rng.between(15, 95) : 0;
    this.fuel = hasTank(vehicle.powertrain) ? rng.between(12, 100) : 0;
    this.adasHabit = rng.between(0.2, 0.9);
    this.tireBase = [rng.between(232, 244), rng.between(232, 244), rng.between(232, 244), rng.between(232, 244)];
    this.ambientBase = rng.between(14, 24);
    this.cabin = this.ambient(this.t) + rng.between(-1, 3);

    if (vehicle.powertrain === 'bev' && this.soc < 25) {
      this.phase = 'charging';
      this.phaseUntil = Infinity;
      this.chargeTarget = rng.between(80, 95);
    } else if (rng.chance(0.75)) {
      this.phase = 'driving';
      this.phaseUntil = Infinity;
      this.startTrip(rng.between(5, 35) * MINUTE);
      this.speed = this.cruise * rng.next();
    } else {
      this.phase = 'parked';
      this.phaseUntil = this.t + rng.between(0, 10) * MINUTE;
    }
  }

  get vin(): Vin {
    return this.vehicle.vin;
  }

  /** Advance the physics to `ts` (ms since the epoch, not before the previous sample) and sample every signal. */
  sample(ts: number): TelemetrySample {
    const dt = Math.max(0, ts - this.t) / SECOND;
    const steps = Math.ceil(dt / MAX_STEP_S);
    for (let i = 0; i < steps; i++) this.step(dt / steps);
    this.t = Math.max(this.t, ts);
    return { ts, seq: this.seq++, signals: this.signals() };
  }

  private step(h: number): void {
    const now = this.t + h * SECOND;
    switch (this.phase) {
      case 'parked':
        if (now >= this.phaseUntil) {
          this.phase = 'driving';
          this.startTrip(this.rng.between(8, 40) * MINUTE);
        }
        break;
      case 'charging': {
        const spec = this.vehicle.spec;
        // Charging power tapers above 80 %, as every lithium-ion charge curve does.
        const taper = this.soc < 80 ? 1 : 0.35;
        this.soc = Math.min(100, this.soc + (((spec.chargeKw ?? 11) * taper * h) / 3600 / (spec.batteryKwh ?? 60)) * 100);
        if (this.soc >= this.chargeTarget) this.park(this.rng.between(1, 5) * MINUTE);
        break;
      }
      case 'refuelling':
        this.fuel = Math.min(100, this.fuel + 0.8 * h);
        if (this.fuel >= 100) this.park(this.rng.between(1, 3) * MINUTE);
        break;
      case 'driving':
        this.drive(now, h);
        break;
    }
    this.t = now;
    this.updateCabin(h);
    this.tireWarmth = this.phase === 'driving' && this.speed > 0 ? Math.min(1, this.tireWarmth + h / 900) : Math.max(0, this.tireWarmth - h / 2700);
  }

  private drive(now: number, h: number): void {
    const rng = this.rng;
    const road = ROADS[this.road];
    if (now >= this.roadUntil) this.changeRoad(now);
    if (road.redLightsPerMinute > 0 && now >= this.redLightUntil && this.speed > 3 && rng.chance((road.redLightsPerMinute * h) / 60)) {
      this.redLightUntil = now + rng.between(12, 50) * SECOND;
    }
    const ending = now >= this.tripUntil || this.energyLow();
    const target = ending || now < this.redLightUntil ? 0 : this.cruise;

    // Gentler acceleration at speed; firm but comfortable braking.
    const maxAccel = this.speed < 14 ? 2.2 : 1.1;
    const accel = Math.max(-3, Math.min(maxAccel, (target - this.speed) / h));
    const v0 = this.speed;
    const v1 = Math.max(0, v0 + accel * h);
    const distance = ((v0 + v1) / 2) * h;

    this.steer(road.turnsPerMinute, h);
    [this.lat, this.lon] = offset(this.lat, this.lon, distance * Math.cos(rad(this.heading)), distance * Math.sin(rad(this.heading)));
    this.speed = v1;
    this.odometerKm += distance / 1000;
    this.consume(distance, (v0 + v1) / 2, h);
    this.updateAdas();
    if (!this.dtc && rng.chance((FAULTS_PER_DRIVING_HOUR * h) / 3600)) this.dtc = rng.pick(FAULT_CODES);

    if (ending && this.speed === 0) this.endTrip();
  }

  private steer(turnsPerMinute: number, h: number): void {
    const rng = this.rng;
    const fromCentre = distanceM(this.centre, { lat: this.lat, lon: this.lon });
    if (fromCentre > this.radiusM) {
      // Outside the city: turn back towards the centre, a few degrees per second.
      const back = bearingDeg({ lat: this.lat, lon: this.lon }, this.centre);
      const diff = ((back - this.heading + 540) % 360) - 180;
      this.heading += Math.max(-8 * h, Math.min(8 * h, diff));
    } else if (this.speed < 14 && this.speed > 1 && rng.chance((turnsPerMinute * h) / 60)) {
      this.heading += rng.pick([-90, 90, -45, 45]);
    } else {
      this.heading += rng.normal() * 1.5 * Math.sqrt(h);
    }
    this.heading = ((this.heading % 360) + 360) % 360;
  }

  private consume(distanceM: number, meanSpeed: number, h: number): void {
    const spec = this.vehicle.spec;
    const kmh = meanSpeed * 3.6;
    // Air drag grows with the square of speed: about +30 % at 100 km/h over the city figure.
    const drag = 0.85 + 0.3 * (kmh / 100) ** 2;
    const km = distanceM / 1000;
    const electric = this.vehicle.powertrain === 'bev' || (this.vehicle.powertrain === 'phev' && this.soc > 12);
    if (electric) {
      const kwh = ((km * (spec.kwhPer100Km ?? 18)) / 100) * drag;
      this.soc = Math.max(0, this.soc - (kwh / (spec.batteryKwh ?? 60)) * 100);
    } else {
      // Idling at a red light burns fuel too (about 0.8 l/h).
      const litres = ((km * (spec.litresPer100Km ?? 7)) / 100) * drag + (meanSpeed < 0.5 ? (0.8 * h) / 3600 : 0);
      this.fuel = Math.max(0, this.fuel - (litres / (spec.tankLitres ?? 50)) * 100);
    }
  }

  private energyLow(): boolean {
    switch (this.vehicle.powertrain) {
      case 'bev':
        return this.soc < 12;
      case 'phev':
      case 'ice':
        return this.fuel < 8;
    }
  }

  private startTrip(duration: number): void {
    this.tripUntil = this.t + duration;
    this.roadUntil = 0;
    this.redLightUntil = 0;
    this.changeRoad(this.t);
  }

  private changeRoad(now: number): void {
    const rng = this.rng;
    const x = rng.next();
    this.road = x < ROADS.city.weight ? 'city' : x < ROADS.city.weight + ROADS.arterial.weight ? 'arterial' : 'expressway';
    this.roadUntil = now + rng.between(30, 180) * SECOND;
    const [low, high] = ROADS[this.road].kmh;
    this.cruise = Math.min(rng.between(low, high), this.vehicle.spec.topSpeedKmh) / 3.6;
    this.adasEngaged = rng.chance(this.adasHabit);
  }

  private endTrip(): void {
    const rng = this.rng;
    this.adasLevel = 0;
    if (this.dtc && rng.chance(0.5)) this.dtc = '';
    const { powertrain } = this.vehicle;
    if (powertrain === 'bev' && this.soc < 30) {
      this.phase = 'charging';
      this.chargeTarget = rng.between(80, 95);
    } else if (powertrain !== 'bev' && this.fuel < 15) {
      this.phase = 'refuelling';
    } else if (powertrain === 'phev' && this.soc < 30 && rng.chance(0.6)) {
      this.phase = 'charging';
      this.chargeTarget = 100;
    } else {
      this.park(rng.between(2, 20) * MINUTE);
    }
  }

  private park(duration: number): void {
    this.phase = 'parked';
    this.phaseUntil = this.t + duration;
    this.speed = 0;
  }

  private updateAdas(): void {
    const kmh = this.speed * 3.6;
    const max = this.vehicle.spec.adasMaxLevel;
    let level = 0;
    if (this.adasEngaged && this.road === 'expressway' && kmh > 60) level = 2;
    else if (this.adasEngaged && this.road !== 'city' && kmh > 30) level = 1;
    this.adasLevel = Math.min(level, max);
  }

  private updateCabin(h: number): void {
    // The HVAC holds about 21.5 C while the car is in use; parked, the cabin drifts to the outside temperature.
    const target = this.phase === 'parked' ? this.ambient(this.t) : 21.5;
    const tau = this.phase === 'parked' ? 1800 : 300;
    this.cabin += (target - this.cabin) * (1 - Math.exp(-h / tau));
  }

  /** Outside temperature: the vehicle's base plus a daily swing peaking mid-afternoon (UTC+8 local time). */
  private ambient(ts: number): number {
    const localHour = ((ts / 3_600_000 + 8) % 24 + 24) % 24;
    return this.ambientBase + 5 * Math.sin((2 * Math.PI * (localHour - 9)) / 24);
  }

  private signals(): Record<string, SignalValue> {
    const { powertrain } = this.vehicle;
    const noise = (): number => this.rng.normal() * 0.3;
    const tire = (i: 0 | 1 | 2 | 3): number => round(this.tireBase[i] + 6 * this.tireWarmth + noise(), 1);
    const signals: Record<string, SignalValue> = {
      'Vehicle.Speed': round(this.speed * 3.6, 1),
      'Vehicle.CurrentLocation.Latitude': round(this.lat, 6),
      'Vehicle.CurrentLocation.Longitude': round(this.lon, 6),
      'Vehicle.CurrentLocation.Heading': round(this.heading, 1),
      'Vehicle.TraveledDistance': round(this.odometerKm, 3),
      'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure': tire(0),
      'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure': tire(1),
      'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure': tire(2),
      'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure': tire(3),
      'Vehicle.ADAS.ActiveAutonomyLevel': this.adasLevel,
      'Vehicle.Cabin.HVAC.AmbientAirTemperature': round(this.cabin, 1),
      'Vehicle.Exterior.AirTemperature': round(this.ambient(this.t), 1),
      'Vehicle.OBD.DTCList': this.dtc,
      'Vehicle.OBD.Status.MILStatus': this.dtc !== '',
    };
    if (hasBattery(powertrain)) {
      signals['Vehicle.Powertrain.TractionBattery.StateOfCharge.Current'] = round(this.soc, 2);
      signals['Vehicle.Powertrain.TractionBattery.Charging.IsCharging'] = this.phase === 'charging';
    }
    if (hasTank(powertrain)) signals['Vehicle.Powertrain.FuelSystem.RelativeLevel'] = round(this.fuel, 2);
    return signals;
  }
}

/** Every signal the simulator emits, checked against the catalog once at load: a typo fails fast. */
export const SIMULATED_SIGNALS = [
  'Vehicle.Speed',
  'Vehicle.CurrentLocation.Latitude',
  'Vehicle.CurrentLocation.Longitude',
  'Vehicle.CurrentLocation.Heading',
  'Vehicle.TraveledDistance',
  'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current',
  'Vehicle.Powertrain.TractionBattery.Charging.IsCharging',
  'Vehicle.Powertrain.FuelSystem.RelativeLevel',
  'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure',
  'Vehicle.ADAS.ActiveAutonomyLevel',
  'Vehicle.Cabin.HVAC.AmbientAirTemperature',
  'Vehicle.Exterior.AirTemperature',
  'Vehicle.OBD.DTCList',
  'Vehicle.OBD.Status.MILStatus',
] as const;
for (const path of SIMULATED_SIGNALS) if (!SIGNALS.has(path)) throw new Error(`simulator signal ${path} is not in the signal catalog`);

/** Samples of one vehicle at the times `clock` yields: the pure way to drive a simulation (tests, backfills). */
export function* simulateSamples(vehicle: FleetVehicle, options: VehicleSimulationOptions, clock: Iterable<number>): Generator<TelemetrySample> {
  const simulation = new VehicleSimulation(vehicle, options);
  for (const ts of clock) yield simulation.sample(ts);
}

/** `count` times from `startTs`, `intervalMs` apart. */
export function* fixedClock(startTs: number, intervalMs: number, count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield startTs + i * intervalMs;
}

// ---------------------------------------------------------------------------------------------------------
// Geometry (a flat-earth step is exact enough for the metres a vehicle moves between samples)

function hasBattery(powertrain: Powertrain): boolean {
  return powertrain !== 'ice';
}

function hasTank(powertrain: Powertrain): boolean {
  return powertrain !== 'bev';
}

function rad(deg: number): number {
  return (deg * Math.PI) / 180;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

function offset(lat: number, lon: number, northM: number, eastM: number): [number, number] {
  const dLat = northM / EARTH_RADIUS_M;
  const dLon = eastM / (EARTH_RADIUS_M * Math.cos(rad(lat)));
  return [lat + (dLat * 180) / Math.PI, lon + (dLon * 180) / Math.PI];
}

/** Great-circle distance in metres (haversine). */
export function distanceM(a: GeoPoint, b: GeoPoint): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

function bearingDeg(from: GeoPoint, to: GeoPoint): number {
  const y = Math.sin(rad(to.lon - from.lon)) * Math.cos(rad(to.lat));
  const x = Math.cos(rad(from.lat)) * Math.sin(rad(to.lat)) - Math.sin(rad(from.lat)) * Math.cos(rad(to.lat)) * Math.cos(rad(to.lon - from.lon));
  return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
}
