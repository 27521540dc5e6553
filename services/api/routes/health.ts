// Liveness, readiness and Prometheus metrics: open to anyone (probes and scrapers carry no token), except /metrics
// when VC_METRICS_TOKEN is set.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { bearerToken } from '../auth.ts';
import { Unauthorized } from '../errors.ts';
import { errorAnswer, jsonAnswer } from '../schemas.ts';

const ReadySchema = z.object({ ready: z.boolean(), checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })) });

export const healthRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'checkLiveness',
        tags: ['operations'],
        summary: 'Liveness',
        security: [],
        response: { 200: jsonAnswer('the process is up', z.object({ status: z.literal('ok'), version: z.string() })) },
      },
    },
    async () => ({ status: 'ok' as const, version: ctx.version }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'checkReadiness',
        tags: ['operations'],
        summary: 'Readiness: broker connected, store writable',
        security: [],
        response: {
          200: jsonAnswer('ready: every check passed', ReadySchema),
          503: jsonAnswer('not ready: the failing checks say why', ReadySchema),
        },
      },
    },
    async (_request, reply) => {
      const readiness = await ctx.readiness();
      return reply.code(readiness.ready ? 200 : 503).send(readiness);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['operations'],
        summary: 'Prometheus metrics',
        description: 'Open to anyone unless VC_METRICS_TOKEN is set; then `Authorization: Bearer <VC_METRICS_TOKEN>`.',
        security: [{}, { metricsToken: [] }],
        response: {
          200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } },
          401: errorAnswer('UNAUTHORIZED: VC_METRICS_TOKEN is set and the request does not carry it'),
        },
      },
    },
    async (request, reply) => {
      if (ctx.metricsToken && bearerToken(request) !== ctx.metricsToken) throw new Unauthorized();
      reply.header('content-type', ctx.metrics.registry.contentType);
      return ctx.metrics.text();
    },
  );
};
