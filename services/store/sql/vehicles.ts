// VehicleRepository over a SQL client (PostgreSQL or DuckDB): the VIN is the primary key, so a second insert of a
// VIN is refused by the database itself (ON CONFLICT DO NOTHING answers no row), never by a check-then-write.
import { toNumber, type SqlClient, type SqlRow, type SqlValue } from './client.ts';
import type { VehicleRecord, VehicleRepository } from '../vehicles.ts';

const COLUMNS = 'vin, brand, model, year, powertrain, credential_hash, created_at';
/** Rows per INSERT of insertMany: 7 parameters each, well under PostgreSQL's 65,535 a statement. */
const ROWS_PER_INSERT = 500;

const paramsOf = (v: VehicleRecord): SqlValue[] => [v.vin, v.brand, v.model, v.year ?? null, v.powertrain ?? null, v.credentialHash, v.createdAt];

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
    return (await this.insertMany([vehicle])).has(vehicle.vin);
  }

  async insertMany(vehicles: readonly VehicleRecord[]): Promise<Set<string>> {
    // a VIN twice in one statement is an error, not a conflict: the first copy is the one offered
    const byVin = new Map<string, VehicleRecord>();
    for (const v of vehicles) if (!byVin.has(v.vin)) byVin.set(v.vin, v);
    const unique = [...byVin.values()];
    const inserted = new Set<string>();
    if (unique.length === 0) return inserted;
    // one transaction: a commit costs milliseconds, a row microseconds
    await this.db.transaction(async (tx) => {
      for (let start = 0; start < unique.length; start += ROWS_PER_INSERT) {
        const slice = unique.slice(start, start + ROWS_PER_INSERT);
        const values = slice.map((_, i) => `(${Array.from({ length: 7 }, (_, k) => `$${i * 7 + k + 1}`).join(', ')})`);
        const rows = await tx.query(`INSERT INTO vehicles (${COLUMNS}) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING RETURNING vin`, slice.flatMap(paramsOf));
        for (const [vin] of rows) inserted.add(String(vin));
      }
    });
    return inserted;
  }

  async get(vin: string): Promise<VehicleRecord | undefined> {
    const [row] = await this.db.query(`SELECT ${COLUMNS} FROM vehicles WHERE vin = $1`, [vin]);
    return row ? toVehicle(row) : undefined;
  }

  async list(): Promise<VehicleRecord[]> {
    // COLLATE "C": byte order, as the registry and the API's cursors compare VINs (PostgreSQL would use the locale)
    return (await this.db.query(`SELECT ${COLUMNS} FROM vehicles ORDER BY vin COLLATE "C"`)).map(toVehicle);
  }

  async count(): Promise<number> {
    const [row] = await this.db.query('SELECT count(*) FROM vehicles');
    return toNumber(row![0]);
  }
}
