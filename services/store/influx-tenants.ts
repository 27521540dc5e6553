// Tenants and tenant API tokens in the InfluxDB store: measurements `tenants` and `tenant_tokens`, one point per
// id (a tag) at time 0 like the registry. Deleting or revoking writes one more field to the same series and time,
// which InfluxDB merges into the existing point. Check-then-write, like the registry: the first time is kept
// unless two processes mark the same record at the same instant.
import { Point } from '@influxdata/influxdb-client';
import type { TenantRecord, TenantTokenRecord } from './telemetry-store.ts';
import type { InfluxAccess } from './influx-cockpit.ts';

export const TENANTS_MEASUREMENT = 'tenants';
export const TENANT_TOKENS_MEASUREMENT = 'tenant_tokens';
const RECORD_TIME_MS = 0;

type Row = readonly unknown[];

const rowsOf = (results: Awaited<ReturnType<InfluxAccess['query']>>): Row[] =>
  (results[0]?.series ?? []).flatMap((series) => series.values ?? []);

const byCreation = <T extends { createdAt: number; id: string }>(a: T, b: T): number =>
  a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function line(point: Point): string {
  const text = point.toLineProtocol();
  if (text === undefined) throw new Error('influx store bug: a point without fields');
  return text;
}

// Columns: time, then these, in this order.
const TENANT_FIELDS = '"id", "name", "brands", "createdAt", "deletedAt"';
const TOKEN_FIELDS = '"id", "tenantId", "tokenHash", "createdAt", "revokedAt"';

function toTenant(row: Row): TenantRecord {
  const tenant: TenantRecord = { id: String(row[1]), name: String(row[2]), brands: JSON.parse(String(row[3] ?? '[]')) as string[], createdAt: Number(row[4]) };
  if (typeof row[5] === 'number') tenant.deletedAt = row[5];
  return tenant;
}

function toToken(row: Row): TenantTokenRecord {
  const token: TenantTokenRecord = { id: String(row[1]), tenantId: String(row[2]), tokenHash: String(row[3]), createdAt: Number(row[4]) };
  if (typeof row[5] === 'number') token.revokedAt = row[5];
  return token;
}

export async function insertTenant(influx: InfluxAccess, tenant: TenantRecord): Promise<void> {
  const point = new Point(TENANTS_MEASUREMENT)
    .tag('id', influx.tagValue(tenant.id))
    .stringField('name', tenant.name)
    .stringField('brands', JSON.stringify(tenant.brands))
    .intField('createdAt', tenant.createdAt)
    .timestamp(RECORD_TIME_MS);
  if (tenant.deletedAt !== undefined) point.intField('deletedAt', tenant.deletedAt);
  await influx.writeLines([line(point)]);
}

export async function getTenant(influx: InfluxAccess, id: string): Promise<TenantRecord | undefined> {
  const rows = rowsOf(await influx.query([`SELECT ${TENANT_FIELDS} FROM "${TENANTS_MEASUREMENT}" WHERE "id" = ${influx.literal(influx.tagValue(id))}`]));
  return rows[0] ? toTenant(rows[0]) : undefined;
}

export async function listTenants(influx: InfluxAccess): Promise<TenantRecord[]> {
  return rowsOf(await influx.query([`SELECT ${TENANT_FIELDS} FROM "${TENANTS_MEASUREMENT}"`])).map(toTenant).sort(byCreation);
}

export async function deleteTenant(influx: InfluxAccess, id: string, at: number): Promise<boolean> {
  const tenant = await getTenant(influx, id);
  if (!tenant) return false;
  if (tenant.deletedAt !== undefined) return true;
  await influx.writeLines([line(new Point(TENANTS_MEASUREMENT).tag('id', influx.tagValue(id)).intField('deletedAt', at).timestamp(RECORD_TIME_MS))]);
  return true;
}

export async function insertTenantToken(influx: InfluxAccess, token: TenantTokenRecord): Promise<void> {
  const point = new Point(TENANT_TOKENS_MEASUREMENT)
    .tag('id', influx.tagValue(token.id))
    .stringField('tenantId', token.tenantId)
    .stringField('tokenHash', token.tokenHash)
    .intField('createdAt', token.createdAt)
    .timestamp(RECORD_TIME_MS);
  if (token.revokedAt !== undefined) point.intField('revokedAt', token.revokedAt);
  await influx.writeLines([line(point)]);
}

export async function getTenantToken(influx: InfluxAccess, id: string): Promise<TenantTokenRecord | undefined> {
  const rows = rowsOf(await influx.query([`SELECT ${TOKEN_FIELDS} FROM "${TENANT_TOKENS_MEASUREMENT}" WHERE "id" = ${influx.literal(influx.tagValue(id))}`]));
  return rows[0] ? toToken(rows[0]) : undefined;
}

export async function listTenantTokens(influx: InfluxAccess, tenantId: string): Promise<TenantTokenRecord[]> {
  const rows = rowsOf(await influx.query([`SELECT ${TOKEN_FIELDS} FROM "${TENANT_TOKENS_MEASUREMENT}" WHERE "tenantId" = ${influx.literal(tenantId)}`]));
  return rows.map(toToken).sort(byCreation);
}

export async function revokeTenantToken(influx: InfluxAccess, id: string, at: number): Promise<boolean> {
  const token = await getTenantToken(influx, id);
  if (!token) return false;
  if (token.revokedAt !== undefined) return true;
  await influx.writeLines([line(new Point(TENANT_TOKENS_MEASUREMENT).tag('id', influx.tagValue(id)).intField('revokedAt', at).timestamp(RECORD_TIME_MS))]);
  return true;
}
