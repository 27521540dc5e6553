// The vehicle registry (provisioning): which VINs exist, their brand and model, and their MQTT credentials.
// It lives in the metadata database (PostgreSQL shared by every process, or this process's DuckDB file), so API
// and ingest processes stay stateless over it; this class is a read-through cache in front of the repository.
// Another process's registration is seen at once by a lookup of that VIN (after at most NEGATIVE_TTL_MS when this
// process had just found it unknown), and in `all()` after the next refresh. Vehicles are never deleted, so a refresh
// that finds as many in the database as in this cache reads none of them (a fleet of 100,000 would cost a second of
// CPU every refresh otherwise).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { VehicleRecord, VehicleRepository } from '../store/vehicles.ts';

export interface NewVehicle {
  vin: string;
  brand: string;
  model: string;
  year?: number;
  powertrain?: VehicleRecord['powertrain'];
}

export interface Registration {
  vehicle: VehicleRecord;
  /** shown once, to the caller that registered the vehicle */
  password: string;
}

export interface BulkRegistration {
  registered: Registration[];
  /** VINs already registered, left alone */
  existing: string[];
}

/**
 * Creates a vehicle's account on a broker the service administers (Mosquitto's dynamic security plugin), before
 * the vehicle is stored, so a registration either gives working credentials or fails whole.
 */
export interface CredentialProvisioner {
  /**
   * Accounts for these vehicles, all or none: resolves with the VINs whose account it created (one the broker already
   * had is never overwritten, and not in the set); throws ProvisioningError after removing what it created.
   */
  provisionVehicles(accounts: ReadonlyArray<{ vin: string; password: string }>): Promise<Set<string>>;
  /** best effort: undo provisionVehicles after the database refused the vehicles */
  removeVehicles(vins: readonly string[]): Promise<void>;
}

/** The broker could not be told about the vehicle (unreachable, refused the command): nothing was registered. */
export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
}

/** Unknown VINs are remembered briefly so a flood from an unregistered car does not hammer the database. */
export const NEGATIVE_TTL_MS = 5_000;

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export function secretMatches(secret: string, expectedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export class VehicleRegistry {
  private readonly known = new Map<string, VehicleRecord>();
  /** all() until the cache changes */
  private sorted: VehicleRecord[] | undefined;
  private readonly unknownUntil = new Map<string, number>();
  /** VINs being registered by this process right now: a concurrent second registration is a conflict. */
  private readonly registering = new Set<string>();

  constructor(
    private readonly vehicles: VehicleRepository,
    private readonly provisioner?: CredentialProvisioner,
  ) {}

  /** Load every registered vehicle into the cache (at start). */
  async load(): Promise<number> {
    const vehicles = await this.vehicles.list();
    for (const v of vehicles) this.known.set(v.vin, v);
    this.sorted = undefined;
    return vehicles.length;
  }

  /** Pick up vehicles registered through other processes (API processes are stateless over the database). */
  async refresh(): Promise<void> {
    // every vehicle in the cache is in the database: the same count means nothing new
    if ((await this.vehicles.count()) === this.known.size) return;
    for (const v of await this.vehicles.list()) {
      if (!this.known.has(v.vin)) {
        this.known.set(v.vin, v);
        this.unknownUntil.delete(v.vin);
        this.sorted = undefined;
      }
    }
  }

  /** Register a vehicle; undefined when the VIN is already registered. */
  async register(input: NewVehicle, now = Date.now()): Promise<Registration | undefined> {
    return (await this.registerMany([input], now)).registered[0];
  }

  /**
   * Register several vehicles with one database write (a fleet at once). Each gets its own password; a VIN already
   * registered (or twice in `inputs`) is answered in `existing` and left alone.
   */
  async registerMany(inputs: readonly NewVehicle[], now = Date.now()): Promise<BulkRegistration> {
    const existing: string[] = [];
    const fresh: Registration[] = [];
    for (const input of inputs) {
      if (this.known.has(input.vin) || this.registering.has(input.vin)) {
        existing.push(input.vin);
        continue;
      }
      // Random 24 bytes: a machine secret, so a fast hash (sha256) is enough to store it safely.
      const password = randomBytes(24).toString('base64url');
      fresh.push({ vehicle: { ...input, credentialHash: hashSecret(password), createdAt: now }, password });
      this.registering.add(input.vin);
    }
    try {
      const candidates = this.provisioner ? await this.provisionAll(fresh, existing) : fresh;
      let inserted: Set<string>;
      try {
        inserted = await this.vehicles.insertMany(candidates.map((c) => c.vehicle));
      } catch (err) {
        await this.unprovision(candidates);
        throw err;
      }
      // the accounts of VINs another process registered meanwhile were created just now by this call: ours to remove
      const lost = candidates.filter((c) => !inserted.has(c.vehicle.vin));
      await this.unprovision(lost);
      existing.push(...lost.map((c) => c.vehicle.vin));
      const registered = candidates.filter((c) => inserted.has(c.vehicle.vin));
      for (const { vehicle } of registered) {
        this.known.set(vehicle.vin, vehicle);
        this.unknownUntil.delete(vehicle.vin);
      }
      if (registered.length > 0) this.sorted = undefined;
      return { registered, existing };
    } finally {
      for (const { vehicle } of fresh) this.registering.delete(vehicle.vin);
    }
  }

  /** Broker accounts for `fresh`, in as few broker round trips as it takes; a VIN known to the database or to the broker goes to `existing`. */
  private async provisionAll(fresh: readonly Registration[], existing: string[]): Promise<Registration[]> {
    // never touch the broker account of a vehicle registered through another process
    const unknown: Registration[] = [];
    for (const candidate of fresh) {
      if (await this.vehicles.get(candidate.vehicle.vin)) existing.push(candidate.vehicle.vin);
      else unknown.push(candidate);
    }
    if (unknown.length === 0) return [];
    const created = await this.provisioner!.provisionVehicles(unknown.map((c) => ({ vin: c.vehicle.vin, password: c.password })));
    for (const candidate of unknown) if (!created.has(candidate.vehicle.vin)) existing.push(candidate.vehicle.vin);
    return unknown.filter((c) => created.has(c.vehicle.vin));
  }

  private async unprovision(registrations: readonly Registration[]): Promise<void> {
    if (registrations.length === 0) return;
    await this.provisioner?.removeVehicles(registrations.map((r) => r.vehicle.vin)).catch(() => undefined);
  }

  /** Cached lookup, synchronous: undefined when not (yet) known to this process. */
  peek(vin: string): VehicleRecord | undefined {
    return this.known.get(vin);
  }

  /** Lookup that falls back to the database (another process may have registered the VIN). */
  async get(vin: string, now = Date.now()): Promise<VehicleRecord | undefined> {
    const cached = this.known.get(vin);
    if (cached) return cached;
    const until = this.unknownUntil.get(vin);
    if (until !== undefined && until > now) return undefined;
    const stored = await this.vehicles.get(vin);
    if (stored) {
      this.known.set(vin, stored);
      this.unknownUntil.delete(vin);
      this.sorted = undefined;
    } else {
      if (this.unknownUntil.size > 100_000) this.unknownUntil.clear();
      this.unknownUntil.set(vin, now + NEGATIVE_TTL_MS);
    }
    return stored;
  }

  /** Every vehicle known here, VIN ascending (the same array until the cache changes: do not modify it). */
  all(): readonly VehicleRecord[] {
    this.sorted ??= [...this.known.values()].sort((a, b) => (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : 0));
    return this.sorted;
  }

  get size(): number {
    return this.known.size;
  }
}
