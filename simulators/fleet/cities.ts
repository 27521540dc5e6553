// The cities simulated vehicles live in: a real centre, the radius they drive within, the orientation of the
// street grid their routes follow, local time and monthly mean temperatures (climate normals, rounded).

export interface GeoPoint {
  lat: number;
  lon: number;
}

export interface City {
  readonly name: string;
  readonly centre: GeoPoint;
  readonly radiusKm: number;
  /** Bearing of the main street axis, degrees clockwise from north: routes run along it and across it. */
  readonly gridBearingDeg: number;
  /** Standard time (daylight saving is ignored: it shifts the daily temperature curve by an hour at most). */
  readonly utcOffsetHours: number;
  /** Mean air temperature of each month, January first. */
  readonly monthlyMeanC: readonly number[];
  /** Relative share of the fleet registered in this city. */
  readonly fleetShare: number;
}

export const CITIES: readonly City[] = [
  {
    name: 'Shanghai',
    centre: { lat: 31.2304, lon: 121.4737 }, // People's Square
    radiusKm: 22,
    gridBearingDeg: 15,
    utcOffsetHours: 8,
    monthlyMeanC: [4.8, 6.5, 10.2, 15.7, 21.0, 24.8, 29.0, 28.6, 24.9, 19.7, 13.8, 7.5],
    fleetShare: 3,
  },
  {
    name: 'Munich',
    centre: { lat: 48.1374, lon: 11.5755 }, // Marienplatz
    radiusKm: 14,
    gridBearingDeg: 0,
    utcOffsetHours: 1,
    monthlyMeanC: [-0.5, 0.8, 4.8, 9.1, 13.6, 16.9, 18.9, 18.5, 14.3, 9.6, 4.3, 0.8],
    fleetShare: 2,
  },
  {
    name: 'Oslo',
    centre: { lat: 59.9133, lon: 10.7389 }, // Oslo City Hall
    radiusKm: 11,
    gridBearingDeg: 30,
    utcOffsetHours: 1,
    monthlyMeanC: [-2.9, -2.6, 0.8, 5.6, 10.9, 15.2, 17.2, 16.1, 11.6, 6.4, 1.6, -2.0],
    fleetShare: 1,
  },
  {
    name: 'Los Angeles',
    centre: { lat: 34.0537, lon: -118.2428 }, // City Hall
    radiusKm: 28,
    gridBearingDeg: 0,
    utcOffsetHours: -8,
    monthlyMeanC: [14.4, 14.8, 15.7, 17.0, 18.5, 20.3, 22.6, 23.3, 22.8, 20.5, 17.1, 14.2],
    fleetShare: 2,
  },
  {
    name: 'Sao Paulo',
    centre: { lat: -23.5505, lon: -46.634 }, // Praca da Se
    radiusKm: 20,
    gridBearingDeg: 45,
    utcOffsetHours: -3,
    monthlyMeanC: [23.3, 23.6, 22.8, 21.2, 18.6, 17.5, 17.2, 18.4, 19.1, 20.5, 21.4, 22.5],
    fleetShare: 2,
  },
];

/** The cities whose names match (case- and accent-insensitive); throws naming the unknown ones. */
export function citiesByName(names: readonly string[], cities: readonly City[] = CITIES): City[] {
  const key = (name: string): string => name.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z]/g, '');
  const unknown = names.filter((name) => !cities.some((city) => key(city.name) === key(name)));
  if (unknown.length > 0) throw new Error(`unknown cities: ${unknown.join(', ')} (known: ${cities.map((c) => c.name).join(', ')})`);
  return cities.filter((city) => names.some((name) => key(city.name) === key(name)));
}
