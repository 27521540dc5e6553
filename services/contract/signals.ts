// The signal catalog: the one list of COVESA VSS signals vehicle-cloud accepts. It is the validator's
// allowlist, the stores' field list and the simulator's output set.

export type SignalType = 'number' | 'boolean' | 'string';
export type SignalValue = number | boolean | string;

export interface SignalSpec {
  /** COVESA VSS path, e.g. `Vehicle.Speed`. */
  readonly path: string;
  readonly type: SignalType;
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  /** Only whole numbers (e.g. an SAE level). */
  readonly integer?: boolean;
  /** Longest accepted string, for `type: 'string'`. */
  readonly maxLength?: number;
  /** An angle in degrees that wraps around: averaged as a circular mean (350 and 10 average to 0, not 180). */
  readonly circular?: true;
  readonly description: string;
}

const TIRE_PRESSURE = { type: 'number', unit: 'kPa', min: 0, max: 1000 } as const;

export const SIGNAL_CATALOG: readonly SignalSpec[] = [
  { path: 'Vehicle.Speed', type: 'number', unit: 'km/h', min: -250, max: 500, description: 'Vehicle speed (negative when reversing).' },
  { path: 'Vehicle.CurrentLocation.Latitude', type: 'number', unit: 'degrees', min: -90, max: 90, description: 'WGS 84 latitude.' },
  { path: 'Vehicle.CurrentLocation.Longitude', type: 'number', unit: 'degrees', min: -180, max: 180, circular: true, description: 'WGS 84 longitude.' },
  { path: 'Vehicle.CurrentLocation.Heading', type: 'number', unit: 'degrees', min: 0, max: 360, circular: true, description: 'Heading, clockwise from true north.' },
  { path: 'Vehicle.TraveledDistance', type: 'number', unit: 'km', min: 0, max: 10_000_000, description: 'Odometer.' },
  { path: 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current', type: 'number', unit: 'percent', min: 0, max: 100, description: 'Traction battery state of charge.' },
  { path: 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging', type: 'boolean', description: 'True while the traction battery is charging.' },
  { path: 'Vehicle.Powertrain.FuelSystem.RelativeLevel', type: 'number', unit: 'percent', min: 0, max: 100, description: 'Fuel level.' },
  { path: 'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure', ...TIRE_PRESSURE, description: 'Front left tire pressure.' },
  { path: 'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure', ...TIRE_PRESSURE, description: 'Front right tire pressure.' },
  { path: 'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure', ...TIRE_PRESSURE, description: 'Rear left tire pressure.' },
  { path: 'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure', ...TIRE_PRESSURE, description: 'Rear right tire pressure.' },
  { path: 'Vehicle.ADAS.ActiveAutonomyLevel', type: 'number', integer: true, min: 0, max: 5, description: 'Active SAE J3016 driving automation level (0-5).' },
  { path: 'Vehicle.Cabin.HVAC.AmbientAirTemperature', type: 'number', unit: 'celsius', min: -60, max: 80, description: 'Cabin ambient air temperature.' },
  { path: 'Vehicle.Exterior.AirTemperature', type: 'number', unit: 'celsius', min: -60, max: 70, description: 'Outside air temperature.' },
  { path: 'Vehicle.OBD.DTCList', type: 'string', maxLength: 256, description: 'Active diagnostic trouble codes, comma-separated (empty when none).' },
  { path: 'Vehicle.OBD.Status.MILStatus', type: 'boolean', description: 'Malfunction indicator lamp on (a fault is active).' },
];

export const SIGNALS: ReadonlyMap<string, SignalSpec> = new Map(SIGNAL_CATALOG.map((s) => [s.path, s]));

export const SIGNAL_PATHS: readonly string[] = SIGNAL_CATALOG.map((s) => s.path);

/**
 * The mean direction of angles in degrees, from the sums of their sines and cosines (what a store can aggregate), in
 * the signal's own range: [0, 360) for a heading, [-180, 180) for a longitude.
 */
export function circularMean(spec: SignalSpec, sumSin: number, sumCos: number): number {
  const low = spec.min ?? -180;
  // rounded so that 350 and 10 give 0, not 359.9999999999999
  const degrees = Math.round(((Math.atan2(sumSin, sumCos) * 180) / Math.PI) * 1e9) / 1e9;
  const wrapped = ((((degrees - low) % 360) + 360) % 360) + low;
  return wrapped === 0 ? 0 : wrapped;
}

/** Why a signal value is not acceptable, or undefined when it is. */
export type SignalRejection = 'unknown_signal' | 'invalid_signal_type' | 'non_finite_value' | 'out_of_range_value';

export function checkSignal(path: string, value: unknown): SignalRejection | undefined {
  const spec = SIGNALS.get(path);
  if (!spec) return 'unknown_signal';
  if (value === NON_FINITE) return 'non_finite_value';
  switch (spec.type) {
    case 'number':
      if (typeof value !== 'number') return 'invalid_signal_type';
      if (!Number.isFinite(value)) return 'non_finite_value';
      if (spec.integer && !Number.isInteger(value)) return 'out_of_range_value';
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) return 'out_of_range_value';
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'invalid_signal_type';
    case 'string':
      if (typeof value !== 'string') return 'invalid_signal_type';
      return spec.maxLength !== undefined && value.length > spec.maxLength ? 'out_of_range_value' : undefined;
  }
}

/**
 * JSON has no NaN or Infinity, but firmware serializers emit them. The tolerant decoder replaces such
 * bare tokens by this marker so that only the affected sample is rejected, not its whole batch.
 */
export const NON_FINITE = '\u0000non-finite';

/** The signals cockpit KPIs are computed from (rollups and cockpit queries of both stores). */
export const COCKPIT_SIGNALS = {
  speed: 'Vehicle.Speed',
  soc: 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current',
  odometer: 'Vehicle.TraveledDistance',
  charging: 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging',
  adasLevel: 'Vehicle.ADAS.ActiveAutonomyLevel',
  mil: 'Vehicle.OBD.Status.MILStatus',
  dtc: 'Vehicle.OBD.DTCList',
} as const;
