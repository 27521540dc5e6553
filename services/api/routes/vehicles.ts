// Vehicle registry (one vehicle, or a fleet at once), digital twins, per-vehicle telemetry, and which samples the
// fleet stored in a window (what a load test checks by seq). A tenant token sees and registers only vehicles of its
// brands: another brand's vehicle is a 404 exactly like a VIN that does not exist, and registering a vehicle of
// another brand is a 404 BRAND_NOT_FOUND like a brand that does not exist.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { SIGNAL_CATALOG } from '../../contract/signals.ts';
import { telemetryTopic, VIN_PATTERN } from '../../contract/telemetry.ts';
import type { VehicleRecord } from '../../store/vehicles.ts';
import type { ApiContext } from '../context.ts';
import { ProvisioningError, type Registration } from '../../registry/registry.ts';
import { canSeeBrand, requirePrincipal } from '../auth.ts';
import { BrandNotFound, BrokerUnavailable, InvalidRange, VehicleExists, VehicleNotFound } from '../errors.ts';
import {
  BulkRegistrationSchema,
  decodeCursor,
  encodeCursor,
  ERROR_ANSWERS,
  errorAnswer,
  jsonAnswer,
  MAX_VEHICLES_PER_BATCH,
  RegisterVehicleSchema,
  RegisterVehiclesSchema,
  RegistrationSchema,
  SampleRefsAnswerSchema,
  SampleRefsQuerySchema,
  TelemetryAnswerSchema,
  TelemetryQuerySchema,
  TwinSchema,
  VehicleListQuerySchema,
  VehicleListSchema,
  VinParams,
} from '../schemas.ts';

const DEFAULT_WINDOW_MS = 3_600_000;
const MAX_BUCKETS = 10_000;
const NUMERIC_SIGNALS = SIGNAL_CATALOG.filter((s) => s.type === 'number').map((s) => s.path);

const publicVehicle = (v: VehicleRecord) => ({
  vin: v.vin,
  brand: v.brand,
  model: v.model,
  ...(v.year !== undefined ? { year: v.year } : {}),
  ...(v.powertrain !== undefined ? { powertrain: v.powertrain } : {}),
  createdAt: v.createdAt,
});

const { validation, invalidBody, unauthorized, tooLarge, mediaType, rateLimited } = ERROR_ANSWERS;
const vehicleNotFound = errorAnswer("VEHICLE_NOT_FOUND: no such VIN, or another brand's (a tenant sees only its brands)");

export const vehicleRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.addHook('onRequest', requirePrincipal(ctx.resolvePrincipal));
  const security = [{ bearer: [] }];

  const registrationAnswer = ({ vehicle, password }: Registration) => ({
    ...publicVehicle(vehicle),
    mqtt: { username: vehicle.vin, password, topic: telemetryTopic(vehicle.vin), url: ctx.brokerUrl },
  });

  /** The vehicle if the caller may see it; otherwise the same 404 whether it exists or not. */
  const visibleVehicle = async (request: FastifyRequest, vin: string): Promise<VehicleRecord> => {
    const vehicle = await ctx.registry.get(vin);
    if (!vehicle || !canSeeBrand(request.principal, vehicle.brand)) throw new VehicleNotFound(vin);
    return vehicle;
  };

  app.post(
    '/api/v1/vehicles',
    {
      schema: {
        operationId: 'registerVehicle',
        tags: ['vehicles'],
        summary: 'Register a vehicle; answers its MQTT credentials (the password is shown only here)',
        description: 'A tenant token registers vehicles of its brands only (another brand: 404 BRAND_NOT_FOUND). A VIN is a global key: a taken VIN is 409 whoever holds it.',
        security,
        body: RegisterVehicleSchema,
        response: {
          201: jsonAnswer('registered: its MQTT credentials, topic and broker', RegistrationSchema),
          400: invalidBody,
          401: unauthorized,
          404: errorAnswer("BRAND_NOT_FOUND: a tenant token registering a vehicle of a brand that is not one of its own"),
          409: errorAnswer('VEHICLE_EXISTS: the VIN is already registered'),
          413: tooLarge,
          415: mediaType,
          429: rateLimited,
          503: errorAnswer('BROKER_UNAVAILABLE: the MQTT broker did not confirm the vehicle account; nothing was registered'),
        },
      },
    },
    async (request, reply) => {
      if (!canSeeBrand(request.principal, request.body.brand)) throw new BrandNotFound(request.body.brand);
      let registration;
      try {
        registration = await ctx.registry.register(request.body);
      } catch (err) {
        if (err instanceof ProvisioningError) {
          request.log.warn({ event: 'vehicle_provisioning_failed', vin: request.body.vin, err: err.message }, 'broker account not created; vehicle not registered');
          throw new BrokerUnavailable();
        }
        throw err;
      }
      if (!registration) throw new VehicleExists(request.body.vin);
      const { vehicle } = registration;
      request.log.info({ event: 'vehicle_registered', vin: vehicle.vin, brand: vehicle.brand, model: vehicle.model });
      return reply.code(201).send(registrationAnswer(registration));
    },
  );

  app.post(
    '/api/v1/vehicles/batch',
    {
      schema: {
        operationId: 'registerVehicles',
        tags: ['vehicles'],
        summary: `Register up to ${MAX_VEHICLES_PER_BATCH} vehicles at once; answers the new ones with their MQTT credentials, and the VINs already registered`,
        description: 'One database transaction for the lot (a fleet, a load test). A tenant token registers vehicles of its brands only: one vehicle of another brand is a 404 BRAND_NOT_FOUND and nothing is registered.',
        security,
        body: RegisterVehiclesSchema,
        response: {
          200: jsonAnswer('the new vehicles with their MQTT credentials (each password shown only here), and the VINs already registered', BulkRegistrationSchema),
          400: invalidBody,
          401: unauthorized,
          404: errorAnswer('BRAND_NOT_FOUND: a tenant token registering a vehicle of a brand that is not one of its own; nothing was registered'),
          413: tooLarge,
          415: mediaType,
          429: rateLimited,
          503: errorAnswer('BROKER_UNAVAILABLE: the MQTT broker did not confirm the vehicle accounts; nothing was registered'),
        },
      },
    },
    async (request) => {
      const hidden = request.body.vehicles.find((v) => !canSeeBrand(request.principal, v.brand));
      if (hidden) throw new BrandNotFound(hidden.brand);
      let outcome;
      try {
        outcome = await ctx.registry.registerMany(request.body.vehicles);
      } catch (err) {
        if (err instanceof ProvisioningError) {
          request.log.warn({ event: 'vehicle_provisioning_failed', vehicles: request.body.vehicles.length, err: err.message }, 'broker accounts not created; no vehicle registered');
          throw new BrokerUnavailable();
        }
        throw err;
      }
      request.log.info({ event: 'vehicles_registered', registered: outcome.registered.length, existing: outcome.existing.length });
      return { registered: outcome.registered.map(registrationAnswer), existing: outcome.existing };
    },
  );

  app.get(
    '/api/v1/telemetry',
    {
      schema: {
        operationId: 'listStoredSamples',
        tags: ['telemetry'],
        summary: 'Which samples every vehicle stored in [from, to): (vin, ts, seq), ts ascending, at most limit',
        description: "For checking a load test by seq without a request per vehicle. A tenant token sees its brands' vehicles only. `truncated` says the window holds more: ask again for narrower windows.",
        security,
        querystring: SampleRefsQuerySchema,
        response: {
          200: jsonAnswer('the samples stored in the window', SampleRefsAnswerSchema),
          400: errorAnswer('VALIDATION_FAILED or INVALID_RANGE: from and to are required, from before to'),
          401: unauthorized,
          429: rateLimited,
        },
      },
    },
    async (request) => {
      const { from, to, limit } = request.query;
      if (from >= to) throw new InvalidRange('from must be before to');
      const brands = request.principal.kind === 'admin' ? undefined : [...request.principal.brands];
      const refs = await ctx.store.sampleRefs({ from, to, brands, limit: limit + 1 });
      return { from, to, samples: refs.slice(0, limit), truncated: refs.length > limit };
    },
  );

  app.get(
    '/api/v1/vehicles',
    {
      schema: {
        operationId: 'listVehicles',
        tags: ['vehicles'],
        summary: 'Registered vehicles with their twin summary, paginated',
        security,
        querystring: VehicleListQuerySchema,
        response: { 200: jsonAnswer('a page of vehicles', VehicleListSchema), 400: validation, 401: unauthorized, 429: rateLimited },
      },
    },
    async (request) => {
      const { brand, model, online, limit, cursor } = request.query;
      const after = cursor ? decodeCursor(cursor) : '';
      // a cursor is the last VIN of the previous page: anything else was not given by this list
      if (cursor && !VIN_PATTERN.test(after)) throw new InvalidRange('cursor is not one this list gave');
      const now = Date.now();
      const items = [];
      let nextCursor: string | null = null;
      for (const v of ctx.registry.all()) {
        if (v.vin <= after || !canSeeBrand(request.principal, v.brand)) continue;
        if (brand !== undefined && v.brand !== brand) continue;
        if (model !== undefined && v.model !== model) continue;
        const twin = ctx.twins.peek(v.vin);
        const isOnline = ctx.twins.isOnline(twin, now);
        if (online !== undefined && online !== isOnline) continue;
        if (items.length === limit) {
          nextCursor = encodeCursor(items[items.length - 1]!.vin);
          break;
        }
        items.push({ vin: v.vin, brand: v.brand, model: v.model, online: isOnline, lastSeen: twin?.lastSeen || null });
      }
      return { items, nextCursor };
    },
  );

  app.get(
    '/api/v1/vehicles/:vin',
    {
      schema: {
        operationId: 'getVehicleTwin',
        tags: ['vehicles'],
        summary: 'Digital twin: latest value and time of every signal',
        security,
        params: VinParams,
        response: { 200: jsonAnswer('the twin', TwinSchema), 400: validation, 401: unauthorized, 404: vehicleNotFound, 429: rateLimited },
      },
    },
    async (request) => {
      const { vin } = request.params;
      const vehicle = await visibleVehicle(request, vin);
      const twin = await ctx.twins.get(vin);
      const signals: Record<string, { value: number | boolean | string; ts: number }> = {};
      if (twin) for (const path of [...twin.signals.keys()].sort()) signals[path] = twin.signals.get(path)!;
      return {
        vin,
        brand: vehicle.brand,
        model: vehicle.model,
        online: ctx.twins.isOnline(twin),
        lastSeen: twin?.lastSeen || null,
        signals,
      };
    },
  );

  app.get(
    '/api/v1/vehicles/:vin/telemetry',
    {
      schema: {
        operationId: 'queryVehicleTelemetry',
        tags: ['vehicles'],
        summary: 'Raw samples in [from, to) in ts order, or time buckets aligned to from when interval is given',
        security,
        params: VinParams,
        querystring: TelemetryQuerySchema,
        response: {
          200: jsonAnswer('samples (a page: follow nextCursor), or buckets', TelemetryAnswerSchema),
          400: errorAnswer('VALIDATION_FAILED: a parameter does not match its schema (e.g. an unknown signal); INVALID_RANGE: from is not before to, too many buckets, or a cursor of another range'),
          401: unauthorized,
          404: vehicleNotFound,
          429: rateLimited,
          503: ERROR_ANSWERS.storeUnavailable,
        },
      },
    },
    async (request) => {
      const { vin } = request.params;
      const q = request.query;
      await visibleVehicle(request, vin);
      const to = q.to ?? Date.now();
      // a bucketed query's default window starts on a multiple of the interval, so buckets start on round times
      const from = q.from ?? (q.interval === undefined ? to - DEFAULT_WINDOW_MS : Math.floor((to - DEFAULT_WINDOW_MS) / q.interval) * q.interval);
      if (from >= to) throw new InvalidRange('from must be before to');
      if (q.interval !== undefined) {
        if ((to - from) / q.interval > MAX_BUCKETS) throw new InvalidRange(`at most ${MAX_BUCKETS} buckets: widen interval or narrow [from, to)`);
        const signals = q.signals ? q.signals.filter((s) => NUMERIC_SIGNALS.includes(s)) : undefined;
        const buckets = await ctx.store.queryBuckets({ vin, from, to, intervalMs: q.interval, signals });
        return { vin, from, to, interval: q.interval, buckets: buckets.map((b) => ({ t: b.t, samples: b.samples, ...b.signals })), nextCursor: null };
      }
      const start = q.cursor ? Number(decodeCursor(q.cursor)) : from;
      if (!Number.isInteger(start) || start < from || start >= to) throw new InvalidRange('cursor does not belong to this range');
      const rows = await ctx.store.querySamples({ vin, from: start, to, signals: q.signals, limit: q.limit + 1 });
      const more = rows.length > q.limit;
      const samples = more ? rows.slice(0, q.limit) : rows;
      return { vin, from, to, samples, nextCursor: more ? encodeCursor(rows[q.limit]!.ts) : null };
    },
  );
};
