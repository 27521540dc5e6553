// What the web cockpit reads besides the cockpit KPIs: the vehicles in scope with their status (filters with
// counts, search, sort, paging), their positions (once, then as a coalesced stream: one frame of changes per
// second, however many samples arrive), the faults now and per model over a window. Same auth and tenant scoping
// as the rest: another brand is a 404 exactly like a brand that does not exist.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { computeCockpit } from '../../cockpit/answer.ts';
import type { VehicleRecord } from '../../store/vehicles.ts';
import type { ApiContext } from '../context.ts';
import { canSeeBrand, requirePrincipal } from '../auth.ts';
import { BrandNotFound, ModelNotFound } from '../errors.ts';
import { ERROR_ANSWERS, errorAnswer, jsonAnswer, TimeParam } from '../schemas.ts';
import { FaultsSchema, MeSchema, PositionsSchema, STATUS_FILTERS, VehicleStatusListSchema, type PositionChange, type VehicleStatus } from '../fleet-status-schemas.ts';
import { matchesFilter, vehicleStatus } from '../vehicle-status.ts';
import { cockpitWindow } from './cockpit.ts';

/** One frame of position changes per this many ms, whatever the sample rate. */
export const POSITION_FRAME_MS = 1_000;
/** Every this many frames, vehicles last sent online are checked for having gone offline (no sample says so). */
const OFFLINE_SWEEP_FRAMES = 5;
/** Bytes a position stream may have unsent before the client is dropped (a frame of 10,000 vehicles is ~0.5 MB). */
export const POSITION_CLIENT_BUFFER_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

const ScopeQuerySchema = z.object({
  brand: z.string().min(1).max(64).optional().describe('only this brand'),
  model: z.string().min(1).max(64).optional().describe('only this model (with brand)'),
});

const SORT_KEYS = ['vin', 'brand', 'model', 'lastSeen', 'speed', 'soc'] as const;
const VehicleStatusQuerySchema = ScopeQuerySchema.extend({
  q: z.string().trim().max(17).optional().describe('part of a VIN, any case'),
  status: z.enum(STATUS_FILTERS).optional(),
  sort: z.enum(SORT_KEYS).default('vin'),
  order: z.enum(['asc', 'desc']).default('asc'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const FaultsQuerySchema = z.object({ from: TimeParam.optional(), to: TimeParam.optional() });

type SortKey = (typeof SORT_KEYS)[number];
const compareBy = (key: SortKey) => (a: VehicleStatus, b: VehicleStatus): number => {
  const x = a[key];
  const y = b[key];
  // unknown values last in either order is not worth it: they sort as the smallest
  if (x === y) return a.vin < b.vin ? -1 : 1;
  if (x === null) return -1;
  if (y === null) return 1;
  return x < y ? -1 : 1;
};

export const fleetStatusRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.addHook('onRequest', requirePrincipal(ctx.resolvePrincipal));
  const security = [{ bearer: [] }];
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of [...streams]) close();
  });

  /** The vehicles the caller may see in the asked scope; an unknown or foreign brand or model is a 404. */
  const scopedVehicles = (request: FastifyRequest, scope: { brand?: string; model?: string }): VehicleRecord[] => {
    let vehicles = ctx.registry.all().filter((v) => canSeeBrand(request.principal, v.brand));
    if (scope.brand !== undefined) {
      vehicles = vehicles.filter((v) => v.brand === scope.brand);
      if (vehicles.length === 0) throw new BrandNotFound(scope.brand);
    }
    if (scope.model !== undefined) {
      vehicles = vehicles.filter((v) => v.model === scope.model);
      if (vehicles.length === 0) throw new ModelNotFound(scope.model, scope.brand ?? '*');
    }
    return vehicles;
  };

  app.get(
    '/api/v1/me',
    {
      schema: {
        operationId: 'getMe',
        tags: ['cockpit'],
        summary: 'Who the token is: the admin (every brand) or a tenant with its brands',
        security,
        response: { 200: jsonAnswer('the caller', MeSchema), 401: ERROR_ANSWERS.unauthorized, 429: ERROR_ANSWERS.rateLimited },
      },
    },
    async (request) => {
      const p = request.principal;
      return p.kind === 'admin' ? { kind: p.kind, name: null, brands: null } : { kind: p.kind, name: p.name, brands: [...p.brands].sort() };
    },
  );

  app.get(
    '/api/v1/positions',
    {
      schema: {
        operationId: 'listPositions',
        tags: ['cockpit'],
        summary: 'Last known position and map state of every vehicle in scope',
        security,
        querystring: ScopeQuerySchema,
        response: { 200: jsonAnswer('every vehicle in scope with a known position', PositionsSchema), 400: ERROR_ANSWERS.validation, 401: ERROR_ANSWERS.unauthorized, 404: errorAnswer('BRAND_NOT_FOUND or MODEL_NOT_FOUND: a brand or model the token may not see, or that does not exist'), 429: ERROR_ANSWERS.rateLimited },
      },
    },
    async (request) => {
      const now = Date.now();
      const positions = [];
      let unplaced = 0;
      for (const vehicle of scopedVehicles(request, request.query)) {
        const s = vehicleStatus(vehicle, ctx.twins, now);
        if (s.lat === null || s.lon === null) unplaced += 1;
        else positions.push({ vin: s.vin, brand: s.brand, model: s.model, lat: s.lat, lon: s.lon, state: s.state, speed: s.speed });
      }
      return { at: now, positions, unplaced };
    },
  );

  app.get(
    '/api/v1/positions/live',
    {
      schema: {
        tags: ['cockpit'],
        operationId: 'streamPositions',
        summary: `Server-sent events: at most one \`event: positions\` frame per ${POSITION_FRAME_MS} ms with the vehicles whose position or state changed`,
        description:
          'Each frame is {at, changes: [[vin, lat, lon, state, speed], ...]}, the latest of each changed vehicle in scope (also a vehicle that went offline). ' +
          'A vehicle sending ten samples in a frame appears once. Read GET /api/v1/positions first for the vehicles that do not change. A client that does not keep up is dropped.',
        security,
        querystring: ScopeQuerySchema,
        response: {
          200: {
            description: 'an endless event stream: `event: positions` frames, and `: heartbeat` comments',
            content: { 'text/event-stream': { schema: z.string().describe('text/event-stream (https://html.spec.whatwg.org/multipage/server-sent-events.html)') } },
          },
          400: ERROR_ANSWERS.validation,
          401: ERROR_ANSWERS.unauthorized,
          404: errorAnswer('BRAND_NOT_FOUND or MODEL_NOT_FOUND: a brand or model the token may not see, or that does not exist'),
          429: ERROR_ANSWERS.rateLimited,
        },
      },
    },
    async (request, reply) => {
      const inScope = new Set(scopedVehicles(request, request.query).map((v) => v.vin));
      const { brand, model } = request.query;
      const principal = request.principal;
      const dirty = new Set<string>();
      const sent = new Map<string, PositionChange[3]>();
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      raw.write(': vehicle-cloud coalesced positions\n\n');
      let closed = false;
      let frames = 0;
      const close = (): void => {
        if (closed) return;
        closed = true;
        streams.delete(close);
        unsubscribe();
        clearInterval(ticker);
        clearInterval(heartbeat);
        raw.end();
      };
      const unsubscribe = ctx.twins.onUpdate((twin) => {
        if (inScope.has(twin.vin)) {
          dirty.add(twin.vin);
          return;
        }
        // registered after the stream opened
        const vehicle = ctx.registry.peek(twin.vin);
        if (!vehicle || !canSeeBrand(principal, vehicle.brand)) return;
        if ((brand !== undefined && vehicle.brand !== brand) || (model !== undefined && vehicle.model !== model)) return;
        inScope.add(twin.vin);
        dirty.add(twin.vin);
      });
      const frame = (): void => {
        frames += 1;
        const now = Date.now();
        if (frames % OFFLINE_SWEEP_FRAMES === 0) {
          for (const [vin, state] of sent) if (state !== 'offline' && !ctx.twins.isOnline(ctx.twins.peek(vin), now)) dirty.add(vin);
        }
        if (dirty.size === 0) return;
        const changes: PositionChange[] = [];
        for (const vin of dirty) {
          const vehicle = ctx.registry.peek(vin);
          if (!vehicle) continue;
          const s = vehicleStatus(vehicle, ctx.twins, now);
          if (s.lat === null || s.lon === null) continue;
          sent.set(vin, s.state);
          changes.push([vin, s.lat, s.lon, s.state, s.speed]);
        }
        dirty.clear();
        if (changes.length === 0) return;
        if (raw.writableLength > POSITION_CLIENT_BUFFER_BYTES) {
          ctx.metrics.liveClientsDropped.inc();
          request.log.info({ event: 'live_client_dropped', stream: 'positions', bufferedBytes: raw.writableLength }, 'position client too slow; dropped');
          close();
          return;
        }
        raw.write(`id: ${frames}\nevent: positions\ndata: ${JSON.stringify({ at: now, changes })}\n\n`);
      };
      const ticker = setInterval(frame, POSITION_FRAME_MS);
      const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
      ticker.unref();
      heartbeat.unref();
      streams.add(close);
      raw.on('close', close);
      raw.on('error', close);
    },
  );

  app.get(
    '/api/v1/fleet/vehicles',
    {
      schema: {
        operationId: 'listFleetVehicles',
        tags: ['cockpit'],
        summary: 'Vehicles in scope with their status now: search by VIN, filter by status (with counts), sort, page',
        security,
        querystring: VehicleStatusQuerySchema,
        response: { 200: jsonAnswer('a page of vehicles with their status, and the counts per status', VehicleStatusListSchema), 400: ERROR_ANSWERS.validation, 401: ERROR_ANSWERS.unauthorized, 404: errorAnswer('BRAND_NOT_FOUND or MODEL_NOT_FOUND: a brand or model the token may not see, or that does not exist'), 429: ERROR_ANSWERS.rateLimited },
      },
    },
    async (request) => {
      const { q, status, sort, order, limit, offset } = request.query;
      const now = Date.now();
      const needle = q?.toUpperCase();
      const counts = { all: 0, online: 0, offline: 0, charging: 0, fault: 0 };
      const matching: VehicleStatus[] = [];
      for (const vehicle of scopedVehicles(request, request.query)) {
        if (needle && !vehicle.vin.includes(needle)) continue;
        const s = vehicleStatus(vehicle, ctx.twins, now);
        counts.all += 1;
        for (const filter of STATUS_FILTERS) if (matchesFilter(s, filter)) counts[filter] += 1;
        if (status === undefined || matchesFilter(s, status)) matching.push(s);
      }
      matching.sort(compareBy(sort));
      if (order === 'desc') matching.reverse();
      return { counts, total: matching.length, items: matching.slice(offset, offset + limit) };
    },
  );

  app.get(
    '/api/v1/faults',
    {
      schema: {
        operationId: 'listFaults',
        tags: ['cockpit'],
        summary: 'Vehicles reporting a fault now, and per model the vehicles with a fault now and in [from, to) (default: the last 24 h)',
        security,
        querystring: FaultsQuerySchema,
        response: { 200: jsonAnswer('faults now and per model', FaultsSchema), 400: ERROR_ANSWERS.validation, 401: ERROR_ANSWERS.unauthorized, 429: ERROR_ANSWERS.rateLimited },
      },
    },
    async (request) => {
      // one bucket: only the window's totals are read
      const window = cockpitWindow(request.query);
      const now = Date.now();
      const byModel = new Map<string, { brand: string; model: string; vehicles: number; faultsNow: number }>();
      const faulty: VehicleStatus[] = [];
      for (const vehicle of scopedVehicles(request, {})) {
        const key = `${vehicle.brand}\u0000${vehicle.model}`;
        let entry = byModel.get(key);
        if (!entry) byModel.set(key, (entry = { brand: vehicle.brand, model: vehicle.model, vehicles: 0, faultsNow: 0 }));
        entry.vehicles += 1;
        const s = vehicleStatus(vehicle, ctx.twins, now);
        if (s.fault) {
          entry.faultsNow += 1;
          faulty.push(s);
        }
      }
      const entries = [...byModel.values()].sort((a, b) => a.brand.localeCompare(b.brand) || a.model.localeCompare(b.model));
      const models = await Promise.all(
        entries.map(async (m) => {
          const cockpit = await computeCockpit(ctx.cockpit, { scope: { brand: m.brand, model: m.model }, from: window.from, to: window.to, intervalMs: window.to - window.from }, m.vehicles);
          return { ...m, faultsInRange: cockpit.kpis.faults };
        }),
      );
      faulty.sort((a, b) => (b.lastSeen ?? 0) - (a.lastSeen ?? 0));
      return { from: window.from, to: window.to, now: faulty, models };
    },
  );
};
