// Rate limits per token (@fastify/rate-limit, counters in this process): the API and HTTP ingest have separate
// per-minute budgets, and probes, /metrics and the OpenAPI UI are never limited; neither is the admin token (the
// operator's own tooling registers fleets of thousands of vehicles in bulk). The limiter runs before
// authentication, on every request including unknown routes; a credential this process does not know yet is
// counted by client address, so a flood of made-up tokens shares one budget.
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiContext } from './context.ts';
import { bearerToken, knownCallerKey } from './auth.ts';
import { RateLimited } from './errors.ts';

const WINDOW_MS = 60_000;
const UNLIMITED_ROUTES = ['/healthz', '/readyz', '/metrics', '/docs'];
/** Counters kept (least recently used dropped first): far more than the callers active in one minute. */
const TRACKED_CALLERS = 50_000;

const isIngest = (request: FastifyRequest): boolean => request.method === 'POST' && request.routeOptions.url === '/api/v1/telemetry';
const isUnlimitedRoute = (request: FastifyRequest): boolean => {
  const route = request.routeOptions.url;
  return route !== undefined && UNLIMITED_ROUTES.some((prefix) => route === prefix || route.startsWith(`${prefix}/`));
};

export const rateLimiting = (ctx: ApiContext) =>
  fp(
    async (app) => {
      const { perMinute, ingestPerMinute } = ctx.rateLimit;
      const budget = (request: FastifyRequest): number => (isIngest(request) ? ingestPerMinute : perMinute);
      const isAdmin = (request: FastifyRequest): boolean => {
        const token = bearerToken(request);
        return token !== undefined && ctx.isAdminToken(token);
      };
      await app.register(fastifyRateLimit, { global: false, cache: TRACKED_CALLERS });
      app.addHook(
        'onRequest',
        app.rateLimit({
          timeWindow: WINDOW_MS,
          max: (request) => budget(request),
          keyGenerator: (request) => `${isIngest(request) ? 'ingest' : 'api'}|${knownCallerKey(request, ctx) ?? `ip:${request.ip}`}`,
          allowList: (request) => isUnlimitedRoute(request) || budget(request) === 0 || isAdmin(request),
          errorResponseBuilder: (_request, context) => new RateLimited(context.after),
        }),
      );
    },
    { name: 'vehicle-cloud-rate-limit' },
  );
