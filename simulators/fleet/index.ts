// The fleet simulator as a library: the catalog and cities, the deterministic vehicle model (drive it with any
// clock), the store-and-forward uplink, and the runtime that publishes a fleet to a running vehicle-cloud.
export { FLEET_CATALOG, type CatalogModel, type FuelTank, type Powertrain, type TractionBattery } from './catalog.ts';
export { CITIES, citiesByName, type City, type GeoPoint } from './cities.ts';
export { distanceM } from './geo.ts';
export { hash32, Prng } from './prng.ts';
export { planRoute, ROADS, type RoadClass, type Route } from './routes.ts';
export { batchMessages, simulateMessages, singleMessage, StoreAndForward, type UplinkMessage, type UplinkTick } from './uplink.ts';
export {
  fixedClock,
  fleetVin,
  planFleet,
  SIMULATED_SIGNALS,
  simulateSamples,
  VehicleSimulation,
  vinCheckDigit,
  type FleetPlanOptions,
  type FleetVehicle,
  type VehicleSimulationOptions,
} from './vehicle-model.ts';
export { runFleet, FleetError, type FleetOptions, type FleetProgress, type FleetSummary } from './fleet.ts';
