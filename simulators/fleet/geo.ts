// Geometry for routes inside one city: a flat local frame (metres east/north of the city centre) for planning,
// WGS 84 points for positions, and the haversine distance tests measure them with.
import type { GeoPoint } from './cities.ts';

export const EARTH_RADIUS_M = 6_371_000;

export function rad(deg: number): number {
  return (deg * Math.PI) / 180;
}

/** Great-circle distance in metres (haversine). */
export function distanceM(a: GeoPoint, b: GeoPoint): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** Initial bearing from one point to another, degrees clockwise from north in [0, 360). */
export function bearingDeg(from: GeoPoint, to: GeoPoint): number {
  const y = Math.sin(rad(to.lon - from.lon)) * Math.cos(rad(to.lat));
  const x = Math.cos(rad(from.lat)) * Math.sin(rad(to.lat)) - Math.sin(rad(from.lat)) * Math.cos(rad(to.lat)) * Math.cos(rad(to.lon - from.lon));
  return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
}

/** Metres east (x) and north (y) of an origin; equirectangular, exact to a few metres over a city. */
export interface LocalPoint {
  x: number;
  y: number;
}

export function toLocal(origin: GeoPoint, point: GeoPoint): LocalPoint {
  return {
    x: rad(point.lon - origin.lon) * EARTH_RADIUS_M * Math.cos(rad(origin.lat)),
    y: rad(point.lat - origin.lat) * EARTH_RADIUS_M,
  };
}

export function fromLocal(origin: GeoPoint, point: LocalPoint): GeoPoint {
  return {
    lat: origin.lat + (point.y / EARTH_RADIUS_M) * (180 / Math.PI),
    lon: origin.lon + (point.x / (EARTH_RADIUS_M * Math.cos(rad(origin.lat)))) * (180 / Math.PI),
  };
}
