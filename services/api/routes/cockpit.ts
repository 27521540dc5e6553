// Cockpit data per fleet, brand and model: what an automaker's dashboards read. A tenant sees only its
// brands; another brand is a 404, exactly like a brand that does not exist.
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { computeCockpit, type CockpitAnswer } from '../../cockpit/answer.ts';
import { MINUTE_MS } from '../../store/cockpit-tables.ts';
import type { CockpitScope } from '../../store/telemetry-store.ts';
import type { ApiContext } from '../context.ts';
import { canSeeBrand, requirePrincipal } from '../auth.ts';
import { BrandNotFound, InvalidRange, ModelNotFound } from '../errors.ts';
import { ERROR_ANSWERS, errorAnswer, IntervalParam, jsonAnswer, TimeParam } from '../schemas.ts';

const DEFAULT_WINDOW_MS = 24 * 3_600_000;
const TARGET_BUCKETS = 288;
const MAX_BUCKETS = 10_000;

const CockpitQuerySchema = z.object({ from: TimeParam.optional(), to: TimeParam.optional(), interval: IntervalParam.optional() });
const nullableNumber = z.number().nullable();
const CockpitSchema = z
  .object({
  scope: z.object({ level: z.enum(['fleet', 'brand', 'model']), brand: z.string().optional(), model: z.string().optional() }),
  from: z.number().int(),
  to: z.number().int(),
  interval: z.number().int().describe('bucket width, ms'),
  source: z.enum(['rollup', 'raw']).describe('rollup: whole-minute windows from stored rollups; raw: from raw samples'),
  kpis: z.object({
    vehicles: z.number().int(),
    activeVehicles: z.number().int(),
    samples: z.number().int(),
    avgSpeed: nullableNumber,
    distanceKm: z.number(),
    avgSoc: nullableNumber,
    charging: z.number().int().describe('vehicles charging at some point in the window'),
    adasShare: nullableNumber.describe('share of samples at SAE level >= 2, in [0, 1]'),
    faults: z.number().int().describe('vehicles reporting a fault in the window'),
  }),
  series: z.array(z.object({ t: z.number().int(), samples: z.number().int(), avgSpeed: nullableNumber, avgSoc: nullableNumber, adasShare: nullableNumber })),
  })
  .meta({ id: 'Cockpit' });
const BrandParams = z.object({ brand: z.string().min(1).max(64) });
const ModelParams = BrandParams.extend({ model: z.string().min(1).max(64) });
const BrandListSchema = z.object({ brands: z.array(z.object({ brand: z.string(), models: z.number().int(), vehicles: z.number().int(), online: z.number().int() })) });
const ModelListSchema = z.object({ models: z.array(z.object({ model: z.string(), vehicles: z.number().int(), online: z.number().int() })) });

/** ~288 whole-minute buckets over a window. */
const defaultInterval = (windowMs: number): number => Math.max(MINUTE_MS, Math.ceil(windowMs / TARGET_BUCKETS / MINUTE_MS) * MINUTE_MS);

/**
 * Resolve from/to/interval with the documented defaults: the last 24 h in ~288 buckets. A default `from` is aligned to
 * the interval (and a default `to` too, when neither is given), so that buckets start on round times: 10:05, not 10:03.
 */
export function cockpitWindow(query: { from?: number; to?: number; interval?: number }, now = Date.now()): { from: number; to: number; intervalMs: number } {
  const nextMinute = Math.ceil(now / MINUTE_MS) * MINUTE_MS;
  const intervalMs = query.interval ?? defaultInterval(query.from === undefined ? DEFAULT_WINDOW_MS : (query.to ?? nextMinute) - query.from);
  const to = query.to ?? (query.from === undefined ? Math.ceil(now / intervalMs) * intervalMs : nextMinute);
  const from = query.from ?? Math.floor((to - DEFAULT_WINDOW_MS) / intervalMs) * intervalMs;
  if (from >= to) throw new InvalidRange('from must be before to');
  if ((to - from) / intervalMs > MAX_BUCKETS) throw new InvalidRange(`at most ${MAX_BUCKETS} buckets: widen interval or narrow [from, to)`);
  return { from, to, intervalMs };
}

const { validation, unauthorized, rateLimited } = ERROR_ANSWERS;
const brandNotFound = errorAnswer("BRAND_NOT_FOUND: no vehicle of this brand, or another tenant's brand");
const cockpitAnswers = {
  200: jsonAnswer('KPIs over [from, to) and one series item per bucket', CockpitSchema),
  400: errorAnswer('VALIDATION_FAILED: a parameter does not match its schema; INVALID_RANGE: from is not before to, or too many buckets'),
  401: unauthorized,
  429: rateLimited,
  503: ERROR_ANSWERS.storeUnavailable,
};

export const cockpitRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.addHook('onRequest', requirePrincipal(ctx.resolvePrincipal));
  const security = [{ bearer: [] }];

  const visibleVehicles = (request: FastifyRequest) => ctx.registry.all().filter((v) => canSeeBrand(request.principal, v.brand));
  const tenantBrands = (request: FastifyRequest): readonly string[] | undefined =>
    request.principal.kind === 'tenant' ? [...request.principal.brands] : undefined;
  const answer = async (scope: CockpitScope, level: 'fleet' | 'brand' | 'model', registered: number, q: { from?: number; to?: number; interval?: number }) => {
    const window = cockpitWindow(q);
    const result: CockpitAnswer = await computeCockpit(ctx.cockpit, { scope, ...window }, registered);
    return { scope: { level, ...(scope.brand !== undefined ? { brand: scope.brand } : {}), ...(scope.model !== undefined ? { model: scope.model } : {}) }, ...result };
  };
  const requireBrand = (request: FastifyRequest, brand: string) => {
    const vehicles = visibleVehicles(request).filter((v) => v.brand === brand);
    if (vehicles.length === 0) throw new BrandNotFound(brand);
    return vehicles;
  };

  app.get(
    '/api/v1/fleet/cockpit',
    { schema: { operationId: 'getFleetCockpit', tags: ['cockpit'], summary: 'Cockpit over all brands the token may see', security, querystring: CockpitQuerySchema, response: cockpitAnswers } },
    async (request) => answer({ brands: tenantBrands(request) }, 'fleet', visibleVehicles(request).length, request.query),
  );

  app.get(
    '/api/v1/brands',
    {
      schema: {
        operationId: 'listBrands',
        tags: ['cockpit'],
        summary: 'Brands with model and vehicle counts, online now',
        security,
        response: { 200: jsonAnswer('the brands the token may see', BrandListSchema), 401: unauthorized, 429: rateLimited },
      },
    },
    async (request) => {
      const byBrand = new Map<string, { models: Set<string>; vehicles: number; online: number }>();
      const now = Date.now();
      for (const v of visibleVehicles(request)) {
        let b = byBrand.get(v.brand);
        if (!b) byBrand.set(v.brand, (b = { models: new Set(), vehicles: 0, online: 0 }));
        b.models.add(v.model);
        b.vehicles += 1;
        if (ctx.twins.isOnline(ctx.twins.peek(v.vin), now)) b.online += 1;
      }
      const brands = [...byBrand].sort(([a], [b]) => a.localeCompare(b)).map(([brand, b]) => ({ brand, models: b.models.size, vehicles: b.vehicles, online: b.online }));
      return { brands };
    },
  );

  app.get(
    '/api/v1/brands/:brand/cockpit',
    {
      schema: {
        operationId: 'getBrandCockpit',
        tags: ['cockpit'],
        summary: 'Cockpit of one brand',
        security,
        params: BrandParams,
        querystring: CockpitQuerySchema,
        response: { ...cockpitAnswers, 404: brandNotFound },
      },
    },
    async (request) => {
      const { brand } = request.params;
      const vehicles = requireBrand(request, brand);
      return answer({ brand }, 'brand', vehicles.length, request.query);
    },
  );

  app.get(
    '/api/v1/brands/:brand/models',
    {
      schema: {
        operationId: 'listBrandModels',
        tags: ['cockpit'],
        summary: 'Models of a brand',
        security,
        params: BrandParams,
        response: { 200: jsonAnswer('the models of the brand', ModelListSchema), 400: validation, 401: unauthorized, 404: brandNotFound, 429: rateLimited },
      },
    },
    async (request) => {
      const vehicles = requireBrand(request, request.params.brand);
      const byModel = new Map<string, { vehicles: number; online: number }>();
      const now = Date.now();
      for (const v of vehicles) {
        let m = byModel.get(v.model);
        if (!m) byModel.set(v.model, (m = { vehicles: 0, online: 0 }));
        m.vehicles += 1;
        if (ctx.twins.isOnline(ctx.twins.peek(v.vin), now)) m.online += 1;
      }
      return { models: [...byModel].sort(([a], [b]) => a.localeCompare(b)).map(([model, m]) => ({ model, ...m })) };
    },
  );

  app.get(
    '/api/v1/brands/:brand/models/:model/cockpit',
    {
      schema: {
        operationId: 'getModelCockpit',
        tags: ['cockpit'],
        summary: 'Cockpit of one model',
        security,
        params: ModelParams,
        querystring: CockpitQuerySchema,
        response: { ...cockpitAnswers, 404: errorAnswer('BRAND_NOT_FOUND or MODEL_NOT_FOUND: no vehicle of this brand (or not one of the tenant\'s) or of this model') },
      },
    },
    async (request) => {
      const { brand, model } = request.params;
      const vehicles = requireBrand(request, brand).filter((v) => v.model === model);
      if (vehicles.length === 0) throw new ModelNotFound(model, brand);
      return answer({ brand, model }, 'model', vehicles.length, request.query);
    },
  );
};
