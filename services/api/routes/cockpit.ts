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
import { ErrorSchema, IntervalParam, TimeParam } from '../schemas.ts';

const DEFAULT_WINDOW_MS = 24 * 3_600_000;
const TARGET_BUCKETS = 288;
const MAX_BUCKETS = 10_000;

const CockpitQuerySchema = z.object({ from: TimeParam.optional(), to: TimeParam.optional(), interval: IntervalParam.optional() });
const nullableNumber = z.number().nullable();
const CockpitSchema = z.object({
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
});
const BrandParams = z.object({ brand: z.string().min(1).max(64) });
const ModelParams = BrandParams.extend({ model: z.string().min(1).max(64) });
const BrandListSchema = z.object({ brands: z.array(z.object({ brand: z.string(), models: z.number().int(), vehicles: z.number().int(), online: z.number().int() })) });
const ModelListSchema = z.object({ models: z.array(z.object({ model: z.string(), vehicles: z.number().int(), online: z.number().int() })) });

/** Resolve from/to/interval with the documented defaults: the last 24 h to the next whole minute, ~288 buckets. */
export function cockpitWindow(query: { from?: number; to?: number; interval?: number }, now = Date.now()): { from: number; to: number; intervalMs: number } {
  const to = query.to ?? Math.ceil(now / MINUTE_MS) * MINUTE_MS;
  const from = query.from ?? to - DEFAULT_WINDOW_MS;
  if (from >= to) throw new InvalidRange('from must be before to');
  const intervalMs = query.interval ?? Math.max(MINUTE_MS, Math.ceil((to - from) / TARGET_BUCKETS / MINUTE_MS) * MINUTE_MS);
  if ((to - from) / intervalMs > MAX_BUCKETS) throw new InvalidRange(`at most ${MAX_BUCKETS} buckets: widen interval or narrow [from, to)`);
  return { from, to, intervalMs };
}

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
    { schema: { tags: ['cockpit'], summary: 'Cockpit over all brands the token may see', security, querystring: CockpitQuerySchema, response: { 200: CockpitSchema } } },
    async (request) => answer({ brands: tenantBrands(request) }, 'fleet', visibleVehicles(request).length, request.query),
  );

  app.get(
    '/api/v1/brands',
    { schema: { tags: ['cockpit'], summary: 'Brands with model and vehicle counts, online now', security, response: { 200: BrandListSchema } } },
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
    { schema: { tags: ['cockpit'], summary: 'Cockpit of one brand', security, params: BrandParams, querystring: CockpitQuerySchema, response: { 200: CockpitSchema, 404: ErrorSchema } } },
    async (request) => {
      const { brand } = request.params;
      const vehicles = requireBrand(request, brand);
      return answer({ brand }, 'brand', vehicles.length, request.query);
    },
  );

  app.get(
    '/api/v1/brands/:brand/models',
    { schema: { tags: ['cockpit'], summary: 'Models of a brand', security, params: BrandParams, response: { 200: ModelListSchema, 404: ErrorSchema } } },
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
    { schema: { tags: ['cockpit'], summary: 'Cockpit of one model', security, params: ModelParams, querystring: CockpitQuerySchema, response: { 200: CockpitSchema, 404: ErrorSchema } } },
    async (request) => {
      const { brand, model } = request.params;
      const vehicles = requireBrand(request, brand).filter((v) => v.model === model);
      if (vehicles.length === 0) throw new ModelNotFound(model, brand);
      return answer({ brand, model }, 'model', vehicles.length, request.query);
    },
  );
};
