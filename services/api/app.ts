// The HTTP API as a Fastify instance: external plugins (OpenAPI), error handling, then the routes, one file per
// resource. Tests build it and use inject(); the service composition root (services/service.ts) listens.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../contract/telemetry.ts';
import type { ApiContext } from './context.ts';
import { clientErrorHandler, InvalidJson, registerErrorHandlers } from './errors.ts';
import { registerOpenApi } from './openapi.ts';
import { rateLimiting } from './rate-limit.ts';
import { cockpitRoutes } from './routes/cockpit.ts';
import { fleetStatusRoutes } from './routes/fleet-status.ts';
import { healthRoutes } from './routes/health.ts';
import { liveRoutes } from './routes/live.ts';
import { ingestRoutes } from './routes/ingest.ts';
import { ingestHealthRoutes } from './routes/ingest-health.ts';
import { telemetryExportRoutes } from './routes/telemetry-export.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { vehicleRoutes } from './routes/vehicles.ts';
import { webRoutes } from './routes/web.ts';

export async function buildApi(ctx: ApiContext, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    requestIdHeader: false,
    trustProxy: false,
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandlers(app);
  // every body, not only telemetry, is refused past the contract's nesting limit (docs/api.md, INVALID_JSON); the
  // rest is Fastify's own parser (prototype poisoning refused)
  // every route takes JSON only: Fastify's text/plain parser would hand a route a string (415, docs/api.md)
  app.removeContentTypeParser('text/plain');
  const fastifyJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, text, done) => {
    if (jsonTooDeep(text as string)) return done(new InvalidJson(`it nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    fastifyJson(request, text as string, done);
  });

  await registerOpenApi(app, ctx.version);
  await app.register(rateLimiting(ctx));

  await app.register(healthRoutes(ctx));
  await app.register(vehicleRoutes(ctx));
  await app.register(ingestRoutes(ctx));
  await app.register(tenantRoutes(ctx));
  await app.register(cockpitRoutes(ctx));
  await app.register(liveRoutes(ctx));
  // the web cockpit and what only it needs
  await app.register(fleetStatusRoutes(ctx));
  await app.register(telemetryExportRoutes(ctx));
  await app.register(ingestHealthRoutes(ctx));
  await app.register(webRoutes);
  return app;
}
