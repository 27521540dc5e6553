// Liveness, readiness and Prometheus metrics.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { bearerToken } from '../auth.ts';
import { Unauthorized } from '../errors.ts';

export const healthRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness', response: { 200: z.object({ status: z.literal('ok'), version: z.string() }) } } }, async () => ({
    status: 'ok' as const,
    version: ctx.version,
  }));

  const ReadySchema = z.object({ ready: z.boolean(), checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })) });
  app.get('/readyz', { schema: { tags: ['operations'], summary: 'Readiness: broker connected, store writable', response: { 200: ReadySchema, 503: ReadySchema } } }, async (_request, reply) => {
    const readiness = await ctx.readiness();
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });

  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics', hide: false } }, async (request, reply) => {
    if (ctx.metricsToken && bearerToken(request) !== ctx.metricsToken) throw new Unauthorized();
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.text();
  });
};
