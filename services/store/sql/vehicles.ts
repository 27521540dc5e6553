// VehicleRepository over a SQL client (PostgreSQL or DuckDB): the VIN is the primary key, so a second insert of a
// VIN is refused by the database itself (ON CONFLICT DO NOTHING answers no row), never by a check-then-write.
import { toNumber, type SqlClient, type SqlRow } from './client.ts';
import type { VehicleRecord, VehicleRepository } from '../vehicles.ts';

const COLUMNS = 'vin, brand, model, year, powertrain, credential_hash, created_at';

function toVehicle(row: SqlRow): VehicleRecord {
  const vehicle: VehicleRecord = {
    vin: String(row[0]),
    brand: String(row[1]),
    model: String(row[2]),
    credentialHash: String(row[5]),
    createdAt: toNumber(row[6]),
  };
  if (row[3] !== null) vehicle.year = toNumber(row[3]);
  if (row[4] !== null) vehicle.powertrain = row[4] as VehicleRecord['powertrain'];
  return vehicle;
}

export class SqlVehicleRepository implements VehicleRepository {
  constructor(private readonly db: SqlClient) {}

  async insert(vehicle: VehicleRecord): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO vehicles (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING vin`,
      [vehicle.vin, vehicle.brand, vehicle.model, vehicle.year ?? null, vehicle.powertrain ?? null, vehicle.credentialHash, vehicle.createdAt],
    );
    return rows.length === 1;
  }

  async get(vin: string): Promise<VehicleRecord | undefined> {
    const [row] = await this.db.query(`SELECT ${COLUMNS} FROM vehicles WHERE vin = $1`, [vin]);
    return row ? toVehicle(row) : undefined;
  }

  async list(): Promise<VehicleRecord[]> {
    // COLLATE "C": byte order, as the registry and the API's cursors compare VINs (PostgreSQL would use the locale)
    return (await this.db.query(`SELECT ${COLUMNS} FROM vehicles ORDER BY vin COLLATE "C"`)).map(toVehicle);
  }
}
