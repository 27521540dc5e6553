// Trip routes inside a city: legs along a street grid (city streets, arterials every 1.2 km, an expressway for
// long trips), with the points where a driver must slow down or stop (corners, red lights, the destination)
// and the stretches without mobile coverage (tunnels, dead zones). A route is planned once, then driven.
import type { City, GeoPoint } from './cities.ts';
import { bearingDeg, distanceM, fromLocal, toLocal, type LocalPoint } from './geo.ts';
import type { Prng } from './prng.ts';

export type RoadClass = 'city' | 'arterial' | 'expressway';

export interface RoadProfile {
  /** Speeds drivers pick in free traffic. */
  readonly kmh: readonly [number, number];
  /** Signalled intersections are this far apart. */
  readonly lightsEveryM: readonly [number, number] | undefined;
  /** Chance that a light is red when the car gets there. */
  readonly redChance: number;
  /** Rush hour multiplies speeds by this. */
  readonly rushHourFactor: number;
}

export const ROADS: Readonly<Record<RoadClass, RoadProfile>> = {
  city: { kmh: [28, 50], lightsEveryM: [180, 420], redChance: 0.4, rushHourFactor: 0.6 },
  arterial: { kmh: [50, 72], lightsEveryM: [500, 900], redChance: 0.4, rushHourFactor: 0.7 },
  expressway: { kmh: [80, 120], lightsEveryM: undefined, redChance: 0, rushHourFactor: 0.75 },
};

/** Arterial roads form a grid with this spacing. */
const ARTERIAL_SPACING_M = 1200;
/** Trips shorter than this (straight line) stay on city streets. */
const CITY_ONLY_BELOW_M = 2500;
/** Trips longer than this take the expressway. */
const EXPRESSWAY_ABOVE_M = 9000;
/** A leg shorter than this is dropped (the grid point is where the car already is). */
const MIN_LEG_M = 5;

export interface RouteLeg {
  readonly from: GeoPoint;
  readonly to: GeoPoint;
  readonly road: RoadClass;
  /** Distance along the route where the leg starts. */
  readonly startM: number;
  readonly lengthM: number;
  readonly bearingDeg: number;
}

/** A point of the route the car must pass at most at `maxMs`; a stop (0) with `dwellS` is a red light. */
export interface RouteControl {
  readonly atM: number;
  readonly maxMs: number;
  readonly dwellS: number;
}

export interface Route {
  readonly legs: readonly RouteLeg[];
  readonly lengthM: number;
  /** Sorted by `atM`; the last one is the destination (a stop). */
  readonly controls: readonly RouteControl[];
  /** [startM, endM) stretches without coverage, sorted. */
  readonly offline: ReadonlyArray<readonly [number, number]>;
}

export interface RoutePlanOptions {
  /** Plan tunnels and dead zones. */
  gaps: boolean;
}

interface GridPoint {
  u: number;
  v: number;
}

/** The city's street-grid frame: u along the main axis, v across it. */
class StreetGrid {
  private readonly sin: number;
  private readonly cos: number;
  constructor(private readonly city: City) {
    this.sin = Math.sin((city.gridBearingDeg * Math.PI) / 180);
    this.cos = Math.cos((city.gridBearingDeg * Math.PI) / 180);
  }
  toGrid(point: GeoPoint): GridPoint {
    const { x, y } = toLocal(this.city.centre, point);
    return { u: x * this.sin + y * this.cos, v: x * this.cos - y * this.sin };
  }
  toGeo({ u, v }: GridPoint): GeoPoint {
    const local: LocalPoint = { x: u * this.sin + v * this.cos, y: u * this.cos - v * this.sin };
    return fromLocal(this.city.centre, local);
  }
}

const snap = (c: number): number => Math.round(c / ARTERIAL_SPACING_M) * ARTERIAL_SPACING_M;

/** A random point of the city, denser towards the centre, at least `minM` and at most `maxM` from `from`. */
export function pickDestination(city: City, from: GeoPoint, rng: Prng, minM: number, maxM: number): GeoPoint {
  const radiusM = city.radiusKm * 1000;
  let best: GeoPoint = city.centre;
  for (let attempt = 0; attempt < 20; attempt++) {
    // A point at a random bearing and distance from the start, kept when it is inside the city.
    const distance = rng.between(minM, maxM);
    const bearing = rng.between(0, 2 * Math.PI);
    const local = toLocal(city.centre, from);
    const candidate = { x: local.x + distance * Math.sin(bearing), y: local.y + distance * Math.cos(bearing) };
    best = fromLocal(city.centre, candidate);
    if (Math.hypot(candidate.x, candidate.y) <= radiusM * 0.85) return best;
  }
  // Near the edge every draw may fall outside: head for a point between here and the centre instead.
  const local = toLocal(city.centre, from);
  return fromLocal(city.centre, { x: local.x * 0.5, y: local.y * 0.5 });
}

/** A random starting point in the city, denser towards the centre. */
export function pickHome(city: City, rng: Prng): GeoPoint {
  const r = city.radiusKm * 1000 * 0.8 * Math.sqrt(rng.next()) * rng.between(0.5, 1);
  const bearing = rng.between(0, 2 * Math.PI);
  return fromLocal(city.centre, { x: r * Math.sin(bearing), y: r * Math.cos(bearing) });
}

/** Plan the route from `from` to `to`: its legs, where to slow down or stop, and where coverage drops. */
export function planRoute(city: City, from: GeoPoint, to: GeoPoint, rng: Prng, options: RoutePlanOptions): Route {
  const grid = new StreetGrid(city);
  const a = grid.toGrid(from);
  const b = grid.toGrid(to);
  const straight = Math.hypot(b.u - a.u, b.v - a.v);
  const turns: Array<{ at: GridPoint; road: RoadClass }> = [];
  if (straight < CITY_ONLY_BELOW_M) {
    // Short hop: an L or a Z through the side streets.
    if (rng.chance(0.5)) {
      const m = rng.between(Math.min(a.u, b.u), Math.max(a.u, b.u));
      turns.push({ at: { u: m, v: a.v }, road: 'city' }, { at: { u: m, v: b.v }, road: 'city' });
    } else {
      turns.push({ at: { u: a.u, v: b.v }, road: 'city' });
    }
  } else {
    const va = snap(a.v);
    const ub = snap(b.u);
    turns.push({ at: { u: a.u, v: va }, road: 'city' });
    if (straight > EXPRESSWAY_ABOVE_M) {
      // Up onto the expressway near the start, off near the destination; it bends, unlike the grid.
      const vb = snap(b.v);
      const mid = { u: (a.u + ub) / 2, v: (va + vb) / 2 };
      const bend = rng.between(-0.12, 0.12) * Math.hypot(ub - a.u, vb - va);
      const length = Math.hypot(ub - a.u, vb - va) || 1;
      turns.push({ at: { u: mid.u - (bend * (vb - va)) / length, v: mid.v + (bend * (ub - a.u)) / length }, road: 'expressway' });
      turns.push({ at: { u: ub, v: vb }, road: 'expressway' });
    } else {
      turns.push({ at: { u: ub, v: va }, road: 'arterial' });
    }
    turns.push({ at: { u: ub, v: b.v }, road: 'arterial' });
  }
  turns.push({ at: b, road: 'city' });

  const legs: RouteLeg[] = [];
  const last = turns[turns.length - 1];
  let previous = from;
  let startM = 0;
  for (const turn of turns) {
    // The destination is `to` itself, not its round trip through the grid frame.
    const point = turn === last ? to : grid.toGeo(turn.at);
    const lengthM = distanceM(previous, point);
    if (lengthM < MIN_LEG_M) continue;
    legs.push({ from: previous, to: point, road: turn.road, startM, lengthM, bearingDeg: bearingDeg(previous, point) });
    startM += lengthM;
    previous = point;
  }
  if (legs.length === 0) {
    // Already there: a token leg so that every route has a length and a destination stop.
    const point = grid.toGeo({ u: a.u + 50, v: a.v });
    const lengthM = distanceM(from, point);
    legs.push({ from, to: point, road: 'city', startM: 0, lengthM, bearingDeg: bearingDeg(from, point) });
    startM = lengthM;
  }
  return { legs, lengthM: startM, controls: planControls(legs, rng), offline: options.gaps ? planGaps(legs, startM, rng) : [] };
}

function planControls(legs: readonly RouteLeg[], rng: Prng): RouteControl[] {
  const controls: RouteControl[] = [];
  legs.forEach((leg, i) => {
    const road = ROADS[leg.road];
    if (road.lightsEveryM) {
      const [low, high] = road.lightsEveryM;
      for (let at = rng.between(low, high); at < leg.lengthM - 60; at += rng.between(low, high)) {
        if (rng.chance(road.redChance)) controls.push({ atM: leg.startM + at, maxMs: 0, dwellS: rng.between(5, 55) });
      }
    }
    const next = legs[i + 1];
    if (!next) return;
    const turn = Math.abs(((next.bearingDeg - leg.bearingDeg + 540) % 360) - 180);
    const end = leg.startM + leg.lengthM;
    // A turn is taken slowly; a red light at the corner means a full stop first.
    if (leg.road !== 'expressway' && next.road !== 'expressway' && rng.chance(road.redChance)) {
      controls.push({ atM: end, maxMs: 0, dwellS: rng.between(5, 55) });
    } else if (turn >= 60) {
      controls.push({ atM: end, maxMs: rng.between(16, 24) / 3.6, dwellS: 0 });
    } else if (turn >= 25) {
      controls.push({ atM: end, maxMs: rng.between(35, 45) / 3.6, dwellS: 0 });
    }
  });
  const last = legs[legs.length - 1];
  controls.push({ atM: last ? last.startM + last.lengthM : 0, maxMs: 0, dwellS: 0 });
  return controls;
}

function planGaps(legs: readonly RouteLeg[], lengthM: number, rng: Prng): Array<[number, number]> {
  const gaps: Array<[number, number]> = [];
  for (const leg of legs) {
    // Expressways around big cities run through tunnels now and then.
    if (leg.road === 'expressway' && leg.lengthM > 1500 && rng.chance(0.35)) {
      const length = rng.between(300, Math.min(2500, leg.lengthM * 0.8));
      const start = leg.startM + rng.between(0, leg.lengthM - length);
      gaps.push([start, start + length]);
    }
  }
  if (rng.chance(0.12)) {
    // A dead zone: an underpass, a radio shadow between high-rises, a congested cell.
    const length = Math.min(rng.between(150, 1200), lengthM * 0.5);
    const start = rng.between(0, lengthM - length);
    gaps.push([start, start + length]);
  }
  gaps.sort((x, y) => x[0] - y[0]);
  return gaps;
}
