// What the cockpit shows about a vehicle now, from its registry record and the twin this process holds: online,
// charging, fault, position and a single map state. Vehicles this process has not heard from since it started
// have no twin yet: they count as offline, without a position.
import { COCKPIT_SIGNALS } from '../contract/signals.ts';
import type { VehicleRecord } from '../store/vehicles.ts';
import type { TwinRegistry, VehicleTwin } from '../twin/twin.ts';
import type { StatusFilter, VehicleState, VehicleStatus } from './fleet-status-schemas.ts';

export const LATITUDE = 'Vehicle.CurrentLocation.Latitude';
export const LONGITUDE = 'Vehicle.CurrentLocation.Longitude';

/** Slower than this (km/h) is standing. */
const MOVING_KMH = 1;

const numberOf = (twin: VehicleTwin | undefined, path: string): number | null => {
  const value = twin?.signals.get(path)?.value;
  return typeof value === 'number' ? value : null;
};

export function vehicleStatus(vehicle: VehicleRecord, twins: TwinRegistry, now: number): VehicleStatus {
  const twin = twins.peek(vehicle.vin);
  const online = twins.isOnline(twin, now);
  const dtcValue = twin?.signals.get(COCKPIT_SIGNALS.dtc)?.value;
  const dtc = typeof dtcValue === 'string' ? dtcValue : '';
  const charging = twin?.signals.get(COCKPIT_SIGNALS.charging)?.value === true;
  const fault = twin?.signals.get(COCKPIT_SIGNALS.mil)?.value === true || dtc.length > 0;
  const speed = numberOf(twin, COCKPIT_SIGNALS.speed);
  const state: VehicleState = !online ? 'offline' : fault ? 'fault' : charging ? 'charging' : (speed ?? 0) >= MOVING_KMH ? 'driving' : 'parked';
  return {
    vin: vehicle.vin,
    brand: vehicle.brand,
    model: vehicle.model,
    online,
    lastSeen: twin?.lastSeen || null,
    charging,
    fault,
    dtc,
    speed,
    soc: numberOf(twin, COCKPIT_SIGNALS.soc),
    lat: numberOf(twin, LATITUDE),
    lon: numberOf(twin, LONGITUDE),
    state,
  };
}

export function matchesFilter(status: VehicleStatus, filter: StatusFilter): boolean {
  switch (filter) {
    case 'online':
      return status.online;
    case 'offline':
      return !status.online;
    case 'charging':
      return status.charging;
    case 'fault':
      return status.fault;
  }
}
