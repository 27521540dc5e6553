// The HTTP API as a Fastify instance: external plugins (OpenAPI), error handling, then the routes, one file per
// resource. Tests build it and use inject(); the service composition root (services/service.ts) listens.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { ApiContext } from './context.ts';
import { registerErrorHandlers } from './errors.ts';
import { registerOpenApi } from './openapi.ts';
import { rateLimiting } from './rate-limit.ts';
import { cockpitRoutes } from './routes/cockpit.ts';
import { healthRoutes } from './routes/health.ts';
import { liveRoutes } from './routes/live.ts';
import { ingestRoutes } from './routes/ingest.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { vehicleRoutes } from './routes/vehicles.ts';

export async function buildApi(ctx: ApiContext, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    requestIdHeader: false,
    trustProxy: false,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandlers(app);

  await registerOpenApi(app, ctx.version);
  await app.register(rateLimiting(ctx));

  await app.register(healthRoutes(ctx));
  await app.register(vehicleRoutes(ctx));
  await app.register(ingestRoutes(ctx));
  await app.register(tenantRoutes(ctx));
  await app.register(cockpitRoutes(ctx));
  await app.register(liveRoutes(ctx));
  return app;
}
