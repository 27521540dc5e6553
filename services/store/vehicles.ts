// The vehicle registry as a repository (provisioning): which VINs exist, their brand and model, and the hash of
// their MQTT credentials. It lives in the metadata database (PostgreSQL or an embedded DuckDB file), never in the
// telemetry store; one conformance suite (tests/store/vehicles-suite.ts) holds every backend to this interface.

/** A registered vehicle. Brand and model come from here, never from telemetry. */
export interface VehicleRecord {
  vin: string;
  brand: string;
  model: string;
  year?: number;
  powertrain?: 'bev' | 'phev' | 'hev' | 'ice' | 'fcev';
  /** sha256 (hex) of the vehicle's MQTT password; the password itself is shown once and never stored. */
  credentialHash: string;
  /** ms since the epoch */
  createdAt: number;
}

export interface VehicleRepository {
  /**
   * Register a vehicle. Resolves false (and writes nothing) when the VIN is already registered: the database's
   * key decides, so of two processes inserting one VIN at the same instant exactly one gets true.
   */
  insert(vehicle: VehicleRecord): Promise<boolean>;
  /** Several vehicles in one transaction (a fleet registered at once); answers the VINs inserted, never overwriting one. */
  insertMany(vehicles: readonly VehicleRecord[]): Promise<Set<string>>;
  get(vin: string): Promise<VehicleRecord | undefined>;
  /** Every registered vehicle, VIN ascending. */
  list(): Promise<VehicleRecord[]>;
  /** How many vehicles are registered (vehicles are never deleted: a cache of N of them is complete when this is N). */
  count(): Promise<number>;
}
