// Deterministic vehicle physics for the fleet simulator: a seeded PRNG per vehicle plans trips through its
// city's street grid (routes.ts), drives them (speed profiles by road class, red lights, corners), parks,
// charges and refuels, and turns its state into contract samples. Nothing here reads the real clock: callers
// pass each sample's time, so a test can simulate hours of a fleet in a second.
import { SIGNALS, type SignalValue } from '../../services/contract/signals.ts';
import type { TelemetrySample, Vin } from '../../services/contract/telemetry.ts';
import { FLEET_CATALOG, type CatalogModel, type Powertrain, type TractionBattery } from './catalog.ts';
import { CITIES, type City, type GeoPoint } from './cities.ts';
import { hash32, Prng } from './prng.ts';
import { pickDestination, pickHome, planRoute, ROADS, type Route, type RouteLeg } from './routes.ts';

export type { GeoPoint } from './cities.ts';

export interface FleetVehicle {
  vin: Vin;
  brand: string;
  model: string;
  year: number;
  powertrain: Powertrain;
  /** Position in the fleet, 0-based; with the seed it determines everything about the vehicle. */
  index: number;
  spec: CatalogModel;
  /** The city it is registered in and drives around. */
  city: City;
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
  cities?: readonly City[];
}

/** Which vehicles a fleet has: VIN, brand, model, year, powertrain, city; a pure function of the options. */
export function planFleet(options: FleetPlanOptions): FleetVehicle[] {
  const catalog = options.catalog ?? FLEET_CATALOG;
  const cities = options.cities ?? CITIES;
  if (catalog.length === 0) throw new Error('the catalog is empty');
  if (cities.length === 0) throw new Error('no city to drive in');
  if (options.vehicles > MAX_FLEET_VEHICLES) throw new Error(`at most ${MAX_FLEET_VEHICLES} vehicles per fleet`);
  const fleet = fleetNumber(options.seed, options.vinSalt);
  const vehicles: FleetVehicle[] = [];
  for (let index = 0; index < options.vehicles; index++) {
    const rng = new Prng(hash32(`${options.seed}/plan/${index}`));
    const spec = rng.pick(catalog);
    const year = rng.int(spec.years[0], spec.years[1]);
    const city = rng.weighted(cities, (c) => c.fleetShare);
    vehicles.push({ vin: fleetVin(spec, year, fleet, index), brand: spec.brand, model: spec.model, year, powertrain: spec.powertrain, index, spec, city });
  }
  return vehicles;
}

// ---------------------------------------------------------------------------------------------------------
// Physics

type Activity = 'driving' | 'parked' | 'charging' | 'refuelling';
type TripPurpose = 'errand' | 'charge' | 'refuel';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Longest integration step while driving; a longer gap between samples is integrated in steps of this. */
const DRIVING_STEP_S = 1;
/** Longest step while standing (parked, charging, refuelling): nothing moves, energy changes linearly. */
const STANDING_STEP_S = 30;

/** Braking the driver plans with, and the firmest braking the model ever applies (m/s2). */
const PLANNED_BRAKING = 2;
const MAX_BRAKING = 3;
/** How far ahead the driver looks for corners and red lights. */
const LOOKAHEAD_M = 450;

/** Chance that the driver has assistance engaged, by road class (times the driver's habit, mean 1). */
const ADAS_ENGAGE: Readonly<Record<RouteLeg['road'], number>> = { city: 0.17, arterial: 0.3, expressway: 0.55 };
/** Lane centring and stop-and-go cruise hold above this speed (m/s); plain adaptive cruise above the next. */
const LEVEL2_MIN_MS = 15 / 3.6;
const LEVEL1_MIN_MS = 30 / 3.6;

/** A PHEV drives electrically down to this SoC, then holds it (charge-sustaining mode). */
const PHEV_SUSTAIN_SOC = 15;
/** Before a trip a BEV below this goes to a charger first; a car with a tank below FUEL_RESERVE, to a pump. */
const BEV_CHARGE_BELOW = 25;
const FUEL_RESERVE = 15;
const CHARGER_EFFICIENCY = 0.92;
const PUMP_LITRES_PER_MINUTE = 40;

/** Share of parking spots underground (no coverage while parked). */
const UNDERGROUND_PARKING = 0.06;

/** A slow leak starts on some tire about once every 4 days of a vehicle's life. */
const TIRE_LEAKS_PER_HOUR = 0.01;
const LEAK_KPA_PER_HOUR: readonly [number, number] = [3, 10];
/** The TPMS warns at 15 % under placard, and the driver then has the tire fixed at the next stop. */
const TPMS_WARNING_SHARE = 0.85;
/** A leak never takes a tire below half its placard pressure (it would be flat and the car parked). */
const MAX_LEAK_SHARE = 0.5;
const ATMOSPHERE_KPA = 101.3;

/** Diagnostic trouble codes the simulator raises: which powertrains have the part, and whether the MIL lights. */
const DTC_CATALOG: ReadonlyArray<{ code: string; mil: boolean; on: readonly Powertrain[] }> = [
  { code: 'P0420', mil: true, on: ['ice', 'phev'] }, // catalyst efficiency below threshold
  { code: 'P0301', mil: true, on: ['ice', 'phev'] }, // cylinder 1 misfire
  { code: 'P0171', mil: true, on: ['ice', 'phev'] }, // system too lean, bank 1
  { code: 'P0A80', mil: true, on: ['bev', 'phev'] }, // replace hybrid/EV battery pack
  { code: 'P0AA6', mil: true, on: ['bev', 'phev'] }, // high-voltage isolation fault
  { code: 'C0035', mil: false, on: ['bev', 'phev', 'ice'] }, // left front wheel speed sensor
  { code: 'B1318', mil: false, on: ['bev', 'phev', 'ice'] }, // low 12 V battery voltage
  { code: 'U0100', mil: true, on: ['bev', 'phev', 'ice'] }, // lost communication with the ECM/PCM
  { code: 'C0750', mil: false, on: ['bev', 'phev', 'ice'] }, // TPMS sensor, left front
];
/** Chance per driving hour that a new code appears, and per trip end that each active one gets repaired. */
const FAULTS_PER_DRIVING_HOUR = 0.02;
const FAULT_REPAIRED_PER_TRIP = 0.25;

export interface VehicleSimulationOptions {
  /** The fleet seed; with the vehicle's index it seeds this vehicle's PRNG. */
  seed: number;
  /** Time of the vehicle's initial state (ms since the epoch); the first sample is at or after it. */
  startTs: number;
  /** Tunnels, dead zones and underground car parks (default on): `online` is then false at times. */
  gaps?: boolean;
}

export class VehicleSimulation {
  readonly vehicle: FleetVehicle;
  private readonly city: City;
  private readonly rng: Prng;
  private readonly gaps: boolean;
  private seq = 0;
  private t: number;

  private position: GeoPoint;
  private heading: number;
  private activity: Activity = 'parked';
  /** End of the parking, or of a stay at a destination charger. */
  private until = 0;
  private underground = false;

  private route: Route | undefined;
  private purpose: TripPurpose = 'errand';
  /** Metres along the route. */
  private s = 0;
  private legIndex = 0;
  private controlIndex = 0;
  private gapIndex = 0;
  private waitUntil = 0;
  private speed = 0; // m/s
  private cruise = 0; // m/s the driver aims for
  private cruiseUntil = 0;
  private wobble = 0; // m/s
  private adasEngaged = false;
  private adasDecideAt = 0;
  private adasLevel = 0;

  private readonly startOdometerKm: number;
  private odometerKm: number;
  private soc: number;
  private fuel: number;
  private chargeKw = 0;
  private chargeTarget = 90;
  private dcCharging = false;

  private readonly habit: number;
  private readonly pace: number;
  private readonly comfortC: number;
  private readonly ambientOffset: number;
  private readonly placardKpa: number;
  private readonly tireLossKpa = [0, 0, 0, 0];
  private leakingTire = -1;
  private leakKpaPerHour = 0;
  private tireWarmth = 0;
  private cabin: number;
  private dtcs: string[] = [];
  private mil = false;

  constructor(vehicle: FleetVehicle, options: VehicleSimulationOptions) {
    this.vehicle = vehicle;
    this.city = vehicle.city;
    this.rng = new Prng(hash32(`${options.seed}/vehicle/${vehicle.index}`));
    this.gaps = options.gaps ?? true;
    this.t = options.startTs;
    const rng = this.rng;
    const { spec } = vehicle;

    this.position = pickHome(this.city, rng);
    this.heading = rng.between(0, 360);
    const ageYears = Math.max(0.1, new Date(options.startTs).getUTCFullYear() - vehicle.year + rng.next());
    this.odometerKm = ageYears * rng.between(6_000, 20_000);
    this.startOdometerKm = this.odometerKm;
    this.soc = spec.battery ? rng.between(20, 95) : 0;
    this.fuel = spec.tank ? rng.between(12, 100) : 0;
    this.habit = rng.between(0.6, 1.4);
    this.pace = rng.between(0.85, 1.15);
    this.comfortC = rng.between(20, 23);
    this.ambientOffset = rng.normal() * 0.8;
    this.placardKpa = spec.tireKpa;
    if (rng.chance(0.04)) this.startLeak(rng.between(0, 20));
    if (rng.chance(0.03)) this.raiseFault();
    this.cabin = this.ambient(this.t) + rng.between(-1, 3);

    if (spec.powertrain === 'bev' && this.soc < BEV_CHARGE_BELOW) {
      this.startCharging(spec.battery);
    } else if (rng.chance(0.75)) {
      // Mid-trip at start, standing at a light that just turned green: the fleet is on the road from the first sample.
      this.depart();
      const route = this.currentRoute();
      this.advanceAlong(rng.between(0, 0.6) * route.lengthM);
    } else {
      this.park(rng.between(0, 15) * MINUTE);
    }
  }

  get vin(): Vin {
    return this.vehicle.vin;
  }

  /** Whether the vehicle has mobile coverage now; while it has none, its telematics unit buffers samples. */
  get online(): boolean {
    if (!this.gaps) return true;
    if (this.activity !== 'driving') return !this.underground;
    const offline = this.route?.offline ?? [];
    while (this.gapIndex < offline.length && (offline[this.gapIndex]?.[1] ?? 0) <= this.s) this.gapIndex++;
    const gap = offline[this.gapIndex];
    return !(gap && gap[0] <= this.s);
  }

  /** Kilometres driven since the simulation started. */
  get distanceKm(): number {
    return this.odometerKm - this.startOdometerKm;
  }

  /** Advance the physics to `ts` (ms since the epoch, not before the previous sample) and sample every signal. */
  sample(ts: number): TelemetrySample {
    while (this.t < ts) {
      let stepMs = Math.min(ts - this.t, (this.activity === 'driving' ? DRIVING_STEP_S : STANDING_STEP_S) * SECOND);
      // Leave the parking spot on time, not at the end of a long standing step.
      if (this.activity === 'parked') stepMs = Math.max(1, Math.min(stepMs, this.until - this.t));
      this.step(stepMs / SECOND);
    }
    return { ts, seq: this.seq++, signals: this.signals() };
  }

  // --- one integration step --------------------------------------------------------------------------------

  private step(h: number): void {
    const end = this.t + h * SECOND;
    switch (this.activity) {
      case 'driving':
        this.drive(h);
        break;
      case 'charging':
        this.charge(h);
        break;
      case 'refuelling':
        this.refuel(h);
        break;
      case 'parked':
        break;
    }
    this.updateBody(h);
    this.t = end;
    if (this.activity === 'parked' && this.t >= this.until) this.depart();
  }

  private drive(h: number): void {
    const route = this.currentRoute();
    const now = this.t;
    if (now < this.waitUntil) {
      // Waiting at a red light: the engine idles, the HVAC runs.
      this.speed = 0;
      this.consume(0, 0, h);
      this.updateAdas();
      return;
    }
    if (now >= this.cruiseUntil) this.pickCruise(now);
    if (now >= this.adasDecideAt) this.decideAdas(now);
    // Nobody holds a speed exactly: the driver drifts around the chosen one by a km/h or two.
    this.wobble += -(this.wobble / 8) * h + this.rng.normal() * 0.3 * Math.sqrt(h);
    const v0 = this.speed;
    let target = Math.max(0, this.cruise + this.wobble);
    // The highest speed at the end of this step from which the car can still meet each control ahead.
    const k = PLANNED_BRAKING * h;
    for (let i = this.controlIndex; i < route.controls.length; i++) {
      const control = route.controls[i];
      if (!control) break;
      const ahead = control.atM - this.s;
      if (ahead > LOOKAHEAD_M) break;
      const c = k * v0 - 2 * PLANNED_BRAKING * ahead - control.maxMs ** 2;
      const disc = k * k - 4 * c;
      target = Math.min(target, disc > 0 ? Math.max(0, (-k + Math.sqrt(disc)) / 2) : 0);
    }
    const maxAccel = (v0 < 14 ? 2.2 : 1.1) * this.pace;
    let v1 = Math.max(0, v0 + Math.max(-MAX_BRAKING * h, Math.min(maxAccel * h, target - v0)));
    let distance = ((v0 + v1) / 2) * h;

    // Never roll past a stop (a red light, the destination): arrive exactly on it.
    const stop = this.nextStop(route);
    let arrived = false;
    if (stop && this.s + distance >= stop.atM) {
      distance = Math.max(0, stop.atM - this.s);
      v1 = 0;
      arrived = true;
    }
    this.advanceAlong(distance);
    this.speed = v1;
    this.odometerKm += distance / 1000;
    this.consume(distance, distance / h, h);
    this.updateAdas();
    if (this.rng.chance((FAULTS_PER_DRIVING_HOUR * h) / 3600)) this.raiseFault();

    if (arrived && stop) {
      if (stop === route.controls[route.controls.length - 1]) this.endTrip(now + h * SECOND);
      else this.waitUntil = now + (h + stop.dwellS) * SECOND;
    }
  }

  private nextStop(route: Route): Route['controls'][number] | undefined {
    for (let i = this.controlIndex; i < route.controls.length; i++) {
      const control = route.controls[i];
      if (control && control.maxMs === 0) return control;
    }
    return undefined;
  }

  /** Move `distance` metres along the route: position, leg and passed controls follow. */
  private advanceAlong(distance: number): void {
    const route = this.currentRoute();
    this.s = Math.min(route.lengthM, this.s + distance);
    let leg = route.legs[this.legIndex];
    while (leg && this.legIndex < route.legs.length - 1 && this.s > leg.startM + leg.lengthM) {
      this.legIndex++;
      leg = route.legs[this.legIndex];
      this.enterLeg();
    }
    // A control exactly here is passed: a car that arrived at a red light waits there once.
    while ((route.controls[this.controlIndex]?.atM ?? Infinity) <= this.s) this.controlIndex++;
    if (!leg) return;
    const f = leg.lengthM > 0 ? Math.min(1, Math.max(0, (this.s - leg.startM) / leg.lengthM)) : 1;
    this.position = { lat: leg.from.lat + (leg.to.lat - leg.from.lat) * f, lon: leg.from.lon + (leg.to.lon - leg.from.lon) * f };
    this.heading = leg.bearingDeg;
  }

  private enterLeg(): void {
    const leg = this.currentRoute().legs[this.legIndex];
    if (!leg) return;
    this.adasDecideAt = 0;
    this.cruiseUntil = 0;
  }

  /** On entering a road, and every few minutes on it, the driver switches assistance on or off. */
  private decideAdas(now: number): void {
    const leg = this.currentRoute().legs[this.legIndex];
    this.adasEngaged = this.rng.chance(ADAS_ENGAGE[leg?.road ?? 'city'] * this.habit);
    this.adasDecideAt = now + this.rng.between(60, 180) * SECOND;
  }

  /** A new speed the driver settles on: the road's range, the driver's pace, rush hour, the car's top speed. */
  private pickCruise(now: number): void {
    const leg = this.currentRoute().legs[this.legIndex];
    const road = ROADS[leg?.road ?? 'city'];
    const hour = this.localHour(now);
    const rush = (hour >= 7 && hour < 9.5) || (hour >= 16.5 && hour < 19);
    // Brisk drivers go a little over the road's usual top speed, not far over it.
    const kmh = Math.min(this.rng.between(road.kmh[0], road.kmh[1]) * this.pace, road.kmh[1] * 1.05) * (rush ? road.rushHourFactor : 1);
    this.cruise = Math.min(kmh, this.vehicle.spec.topSpeedKmh - 5) / 3.6;
    this.cruiseUntil = now + this.rng.between(15, 60) * SECOND;
  }

  private consume(distanceM: number, meanSpeed: number, h: number): void {
    const { spec } = this.vehicle;
    const kmh = meanSpeed * 3.6;
    // Air drag grows with the square of speed: about +30 % at 100 km/h over the city figure.
    const drag = 0.85 + 0.3 * (kmh / 100) ** 2;
    const km = distanceM / 1000;
    const coldC = Math.max(0, 15 - this.ambient(this.t));
    const electric = spec.powertrain === 'bev' || (spec.powertrain === 'phev' && this.soc > PHEV_SUSTAIN_SOC && kmh < 135);
    if (electric && spec.battery) {
      // Cold batteries and cabin heating cost about 1.2 % per degree under 15 C; the auxiliaries draw ~0.4 kW.
      const kwh = ((km * spec.battery.kwhPer100Km) / 100) * drag * (1 + 0.012 * coldC) + (0.4 * h) / 3600;
      this.soc = Math.max(0, this.soc - (kwh / spec.battery.kwh) * 100);
    } else if (spec.tank) {
      // Idling (at a red light) burns about 0.7 l/h.
      const litres = ((km * spec.tank.litresPer100Km) / 100) * drag * (1 + 0.004 * coldC) + (meanSpeed < 0.5 ? (0.7 * h) / 3600 : 0);
      this.fuel = Math.max(0, this.fuel - (litres / spec.tank.litres) * 100);
    }
  }

  private updateAdas(): void {
    const leg = this.currentRoute().legs[this.legIndex];
    let level = 0;
    if (this.adasEngaged && this.speed >= LEVEL2_MIN_MS && this.vehicle.spec.adasLevel2) level = 2;
    else if (this.adasEngaged && this.speed >= LEVEL1_MIN_MS && leg?.road !== 'city') level = 1;
    this.adasLevel = level;
  }

  // --- trips, parking, charging ------------------------------------------------------------------------------

  /** Leave the parking spot: fix a tire the TPMS warns about, then drive where the energy level says. */
  private depart(): void {
    const { spec } = this.vehicle;
    const rng = this.rng;
    this.fixLowTire();
    this.underground = false;
    let purpose: TripPurpose = 'errand';
    if (spec.powertrain === 'bev' && this.soc < BEV_CHARGE_BELOW) purpose = 'charge';
    else if (spec.tank && this.fuel < FUEL_RESERVE) purpose = 'refuel';
    else if (spec.powertrain === 'phev' && this.soc < 20 && rng.chance(0.3)) purpose = 'charge';
    // Most errands are short, a few cross town (the expressway ones).
    const [minM, maxM] = purpose === 'errand' ? [1500, 1500 + 14_000 * rng.next() ** 2] : [800, 4000];
    const destination = pickDestination(this.city, this.position, rng, minM, Math.min(maxM, this.city.radiusKm * 1000));
    this.purpose = purpose;
    this.route = planRoute(this.city, this.position, destination, rng, { gaps: this.gaps });
    this.activity = 'driving';
    this.s = 0;
    this.legIndex = 0;
    this.controlIndex = 0;
    this.gapIndex = 0;
    this.waitUntil = 0;
    this.speed = 0;
    this.enterLeg();
  }

  private endTrip(at: number): void {
    const rng = this.rng;
    this.speed = 0;
    this.adasLevel = 0;
    this.adasEngaged = false;
    this.route = undefined;
    this.fixLowTire();
    const repaired = this.dtcs.filter(() => rng.chance(FAULT_REPAIRED_PER_TRIP));
    if (repaired.length > 0) this.setFaults(this.dtcs.filter((code) => !repaired.includes(code)));
    const { battery } = this.vehicle.spec;
    this.underground = this.gaps && rng.chance(UNDERGROUND_PARKING);
    if (this.purpose === 'refuel') {
      this.underground = false;
      this.activity = 'refuelling';
    } else if (battery && this.purpose === 'charge') {
      this.startCharging(battery);
    } else if (battery && this.soc < 70 && rng.chance(0.1)) {
      // A charging post at the destination: plugged in for the stay, unplugged when leaving.
      this.startCharging(battery, 'ac', at + rng.between(20, 90) * MINUTE);
    } else {
      // Busy daytime use (ride-hailing, deliveries, car sharing): short stops, now and then a long one.
      const minutes = rng.chance(0.06) ? rng.between(30, 90) : rng.between(1, 12);
      this.parkAt(at, minutes * MINUTE);
    }
  }

  private startCharging(battery: TractionBattery, kind?: 'ac', leaveAt = Infinity): void {
    this.until = leaveAt;
    this.dcCharging = kind !== 'ac' && battery.dcKw !== undefined && this.rng.chance(0.8);
    this.chargeKw = this.dcCharging ? (battery.dcKw ?? battery.acKw) : battery.acKw;
    this.chargeTarget = this.dcCharging ? this.rng.between(75, 85) : this.rng.between(90, 100);
    this.activity = 'charging';
  }

  private charge(h: number): void {
    const battery = this.vehicle.spec.battery;
    if (!battery) return;
    // Unplugged at the start of the step after the target: the sample that saw SoC rise still says charging.
    if (this.soc >= this.chargeTarget || this.t >= this.until) return this.parkAt(this.t, this.rng.between(1, 8) * MINUTE, this.underground);
    // DC power tapers from 50 % (lithium-ion charge curves); AC only in the last few percent.
    const taper = this.dcCharging ? (this.soc < 50 ? 1 : this.soc < 80 ? 1 - ((this.soc - 50) / 30) * 0.55 : 0.25) : this.soc < 95 ? 1 : 0.5;
    this.soc = Math.min(100, this.soc + ((this.chargeKw * taper * CHARGER_EFFICIENCY * h) / 3600 / battery.kwh) * 100);
  }

  private refuel(h: number): void {
    const tank = this.vehicle.spec.tank;
    if (!tank) return;
    if (this.fuel >= 100) return this.parkAt(this.t, this.rng.between(1, 4) * MINUTE);
    this.fuel = Math.min(100, this.fuel + (((PUMP_LITRES_PER_MINUTE / 60) * h) / tank.litres) * 100);
  }

  private park(durationMs: number): void {
    this.underground = this.gaps && this.rng.chance(UNDERGROUND_PARKING);
    this.parkAt(this.t, durationMs, this.underground);
  }

  private parkAt(at: number, durationMs: number, underground = this.underground): void {
    this.activity = 'parked';
    this.speed = 0;
    this.underground = underground;
    this.until = at + durationMs;
  }

  private currentRoute(): Route {
    if (!this.route) throw new Error('no route while driving');
    return this.route;
  }

  // --- body: tires, faults, cabin --------------------------------------------------------------------------

  private updateBody(h: number): void {
    const moving = this.activity === 'driving' && this.speed > 0;
    // Tires warm up over ~10 minutes of driving and cool down over ~30 minutes standing.
    this.tireWarmth += ((moving ? 1 : 0) - this.tireWarmth) * (1 - Math.exp(-h / (moving ? 600 : 1800)));
    if (this.leakingTire < 0 && this.rng.chance((TIRE_LEAKS_PER_HOUR * h) / 3600)) this.startLeak(0);
    const leaking = this.tireLossKpa[this.leakingTire];
    if (leaking !== undefined) this.tireLossKpa[this.leakingTire] = Math.min(this.placardKpa * MAX_LEAK_SHARE, leaking + (this.leakKpaPerHour * h) / 3600);
    // The HVAC holds the driver's setting while the car is in use; parked, the cabin drifts to the outside
    // temperature plus what the sun adds through the glass.
    const inUse = this.activity === 'driving' || this.activity === 'refuelling';
    const target = inUse ? this.comfortC : this.ambient(this.t) + this.solarGain(this.t);
    this.cabin += (target - this.cabin) * (1 - Math.exp(-h / (inUse ? 240 : 1800)));
  }

  private startLeak(lossKpa: number): void {
    this.leakingTire = this.rng.int(0, 3);
    this.leakKpaPerHour = this.rng.between(LEAK_KPA_PER_HOUR[0], LEAK_KPA_PER_HOUR[1]);
    this.tireLossKpa[this.leakingTire] = lossKpa;
  }

  private fixLowTire(): void {
    if (this.leakingTire < 0) return;
    if ((this.tireLossKpa[this.leakingTire] ?? 0) < this.placardKpa * (1 - TPMS_WARNING_SHARE)) return;
    this.tireLossKpa[this.leakingTire] = 0;
    this.leakingTire = -1;
  }

  private raiseFault(): void {
    const candidates = DTC_CATALOG.filter((dtc) => dtc.on.includes(this.vehicle.powertrain) && !this.dtcs.includes(dtc.code));
    if (candidates.length === 0 || this.dtcs.length >= 3) return;
    this.setFaults([...this.dtcs, this.rng.pick(candidates).code]);
  }

  private setFaults(codes: string[]): void {
    this.dtcs = codes;
    this.mil = codes.some((code) => DTC_CATALOG.find((dtc) => dtc.code === code)?.mil);
  }

  /** Gauge pressure of a tire: placard minus leak, scaled by absolute temperature (Gay-Lussac), 20 C cold reference. */
  private tirePressure(i: number): number {
    const tireC = this.ambient(this.t) + 25 * this.tireWarmth;
    const cold = this.placardKpa - (this.tireLossKpa[i] ?? 0) + ATMOSPHERE_KPA;
    return (cold * (tireC + 273.15)) / 293.15 - ATMOSPHERE_KPA;
  }

  private localHour(ts: number): number {
    return (((ts / HOUR + this.city.utcOffsetHours) % 24) + 24) % 24;
  }

  /** Outside temperature: the city's monthly mean (interpolated), a daily swing peaking at 15:00, a local offset. */
  private ambient(ts: number): number {
    const months = this.city.monthlyMeanC;
    // Months as fractions of the mean year since 1970-01-01 (mid-month = the month's mean).
    const position = ((((ts / (24 * HOUR)) % 365.2425) + 365.2425) % 365.2425) / 30.436875 - 0.5;
    const m0 = Math.floor(position);
    const f = position - m0;
    const a = months[(m0 + 12) % 12] ?? 15;
    const b = months[(m0 + 13) % 12] ?? 15;
    const daily = 4 * Math.cos((2 * Math.PI * (this.localHour(ts) - 15)) / 24);
    return a + (b - a) * f + daily + this.ambientOffset;
  }

  /** Sun through the windows of a parked car: nothing at night, up to +8 C at midday. */
  private solarGain(ts: number): number {
    const hour = this.localHour(ts);
    return hour > 7 && hour < 19 ? 8 * Math.sin((Math.PI * (hour - 7)) / 12) : 0;
  }

  private signals(): Record<string, SignalValue> {
    const { spec } = this.vehicle;
    const noise = (): number => this.rng.normal() * 0.3;
    const signals: Record<string, SignalValue> = {
      'Vehicle.Speed': round(this.speed * 3.6, 1),
      'Vehicle.CurrentLocation.Latitude': round(this.position.lat, 6),
      'Vehicle.CurrentLocation.Longitude': round(this.position.lon, 6),
      'Vehicle.CurrentLocation.Heading': round(this.heading, 1),
      'Vehicle.TraveledDistance': round(this.odometerKm, 4),
      'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure': round(this.tirePressure(0) + noise(), 1),
      'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure': round(this.tirePressure(1) + noise(), 1),
      'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure': round(this.tirePressure(2) + noise(), 1),
      'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure': round(this.tirePressure(3) + noise(), 1),
      'Vehicle.ADAS.ActiveAutonomyLevel': this.adasLevel,
      'Vehicle.Cabin.HVAC.AmbientAirTemperature': round(this.cabin, 1),
      'Vehicle.Exterior.AirTemperature': round(this.ambient(this.t), 1),
      'Vehicle.OBD.DTCList': this.dtcs.join(','),
      'Vehicle.OBD.Status.MILStatus': this.mil,
    };
    if (spec.battery) {
      signals['Vehicle.Powertrain.TractionBattery.StateOfCharge.Current'] = round(this.soc, 2);
      signals['Vehicle.Powertrain.TractionBattery.Charging.IsCharging'] = this.activity === 'charging';
    }
    if (spec.tank) signals['Vehicle.Powertrain.FuelSystem.RelativeLevel'] = round(this.fuel, 2);
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

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
