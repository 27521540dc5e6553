// Answers of the web cockpit's API routes (routes/fleet-status.ts, routes/ingest-health.ts) as zod schemas: the
// validator, the OpenAPI document and the types, for the service and for the page (dashboards/web imports the types).
// Only zod is imported here, so that the browser bundle's type check can follow it.
import { z } from 'zod';

/** One colour on the map: offline wins, then a fault, charging, moving, standing. */
export const VEHICLE_STATES = ['offline', 'fault', 'charging', 'driving', 'parked'] as const;
export type VehicleState = (typeof VEHICLE_STATES)[number];

/** Filters of the vehicle list; online and offline split the fleet, charging and fault are flags across both. */
export const STATUS_FILTERS = ['online', 'offline', 'charging', 'fault'] as const;
export type StatusFilter = (typeof STATUS_FILTERS)[number];

export const MeSchema = z.object({ kind: z.enum(['admin', 'tenant']), name: z.string().nullable(), brands: z.array(z.string()).nullable().describe('null: every brand') });
export const StateSchema = z.enum(VEHICLE_STATES).describe('offline, else fault, charging, driving (>= 1 km/h) or parked');
export const PositionSchema = z.object({ vin: z.string(), brand: z.string(), model: z.string(), lat: z.number(), lon: z.number(), state: StateSchema, speed: z.number().nullable() });
export const PositionsSchema = z.object({
  at: z.number().int().describe('ms since the epoch'),
  positions: z.array(PositionSchema),
  unplaced: z.number().int().describe('vehicles in scope without a known position'),
});
export const VehicleStatusSchema = z.object({
  vin: z.string(),
  brand: z.string(),
  model: z.string(),
  online: z.boolean(),
  lastSeen: z.number().int().nullable(),
  charging: z.boolean(),
  fault: z.boolean(),
  dtc: z.string().describe('active trouble codes, comma-separated'),
  speed: z.number().nullable(),
  soc: z.number().nullable(),
  lat: z.number().nullable(),
  lon: z.number().nullable(),
  state: StateSchema,
});
export const CountsSchema = z.object({ all: z.number().int(), online: z.number().int(), offline: z.number().int(), charging: z.number().int(), fault: z.number().int() });
export const VehicleStatusListSchema = z.object({
  counts: CountsSchema.describe('per status, over the vehicles matching scope and q (before the status filter)'),
  total: z.number().int().describe('vehicles matching every filter'),
  items: z.array(VehicleStatusSchema),
});
export const FaultsSchema = z.object({
  from: z.number().int(),
  to: z.number().int(),
  now: z.array(VehicleStatusSchema).describe('vehicles reporting a fault now (MIL on or a trouble code), last seen first'),
  models: z.array(
    z.object({
      brand: z.string(),
      model: z.string(),
      vehicles: z.number().int(),
      faultsNow: z.number().int(),
      faultsInRange: z.number().int().describe('vehicles that reported a fault in [from, to)'),
    }),
  ),
});
export const PointSchema = z.object({ t: z.number().int(), messagesPerSecond: z.number(), samplesPerSecond: z.number(), rejectsPerSecond: z.number(), storeLagSeconds: z.number() });
export const IngestHealthSchema = z.object({
  at: z.number().int(),
  windowSeconds: z.number().describe('the rates below are over this many seconds (the last sampling interval)'),
  messagesPerSecond: z.number(),
  samplesPerSecond: z.number().describe('samples accepted per second'),
  storedPerSecond: z.number().describe('samples confirmed by the store per second'),
  rejectsPerSecond: z.number(),
  rejects: z.array(z.object({ reason: z.string(), total: z.number(), perSecond: z.number() })).describe('since the process started, most first'),
  spoolPendingBytes: z.number(),
  storeLagSeconds: z.number(),
  history: z.array(PointSchema).describe('one point per sampling interval (5 s), oldest first'),
});

export type Me = z.infer<typeof MeSchema>;
export type Position = z.infer<typeof PositionSchema>;
export type Positions = z.infer<typeof PositionsSchema>;
/** One vehicle in a frame of the position stream: [vin, lat, lon, state, speed]. */
export type PositionChange = [string, number, number, VehicleState, number | null];
export type VehicleStatus = z.infer<typeof VehicleStatusSchema>;
export type VehicleStatusList = z.infer<typeof VehicleStatusListSchema>;
export type Faults = z.infer<typeof FaultsSchema>;
export type IngestHealth = z.infer<typeof IngestHealthSchema>;
