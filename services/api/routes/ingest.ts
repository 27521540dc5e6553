// HTTP ingest (same contract as MQTT) and the dead-letter store.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_PAYLOAD_BYTES, REJECT_REASONS, TelemetryMessageSchema, type RejectReason } from '../../contract/telemetry.ts';
import type { ApiContext } from '../context.ts';
import { requireAdmin } from '../auth.ts';
import { IngestBackpressure } from '../errors.ts';
import { DeadLetterListSchema, DeadLetterQuerySchema, ErrorSchema, IngestAnswerSchema } from '../schemas.ts';

// The documented shape; validation itself is the contract's per-sample validator, so one bad sample does not
// refuse the whole batch.
const TelemetryBodySchema = z.unknown().describe(JSON.stringify(z.toJSONSchema(TelemetryMessageSchema, { io: 'input' })));
const IngestErrorSchema = ErrorSchema.extend({ rejections: IngestAnswerSchema.shape.rejections.optional() });

const WHOLE_MESSAGE_STATUS: Partial<Record<RejectReason, 413 | 422>> = {
  payload_too_large: 413,
  batch_too_large: 413,
  unregistered_vehicle: 422,
};

export const ingestRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.addHook('onRequest', requireAdmin(ctx.resolvePrincipal));
  const security = [{ bearer: [] }];

  app.post(
    '/api/v1/telemetry',
    {
      bodyLimit: MAX_PAYLOAD_BYTES,
      schema: {
        tags: ['telemetry'],
        summary: 'Ingest one sample or a batch over HTTP (same contract as MQTT); 200 once the accepted samples are durable',
        description: 'One sample {vin, ts, seq, signals} or a batch {vin, samples: [...]} of at most 1,000. Invalid samples are rejected one by one with reasons; the rest is kept. 400/413/422 when nothing is accepted.',
        body: TelemetryBodySchema,
        security,
        response: { 200: IngestAnswerSchema, 400: IngestErrorSchema, 413: IngestErrorSchema, 422: IngestErrorSchema, 503: ErrorSchema },
      },
    },
    async (request, reply) => {
      if (!ctx.ingestHasRoom()) throw new IngestBackpressure();
      const outcome = await ctx.pipeline.ingestHttp(request.body);
      const rejections = outcome.rejected;
      if (outcome.accepted === 0) {
        const reason = outcome.messageRejected;
        const statusCode: 400 | 413 | 422 = reason ? (WHOLE_MESSAGE_STATUS[reason] ?? 400) : 422;
        const reasons = new Set(rejections.map((r) => r.reason));
        const code = (reason ?? (reasons.size === 1 ? [...reasons][0]! : 'no_sample_accepted')).toUpperCase();
        const message = rejections[0] ? `${rejections[0].reason}: ${rejections[0].detail}` : 'nothing accepted';
        return reply.code(statusCode).send({ statusCode, code, message, rejections });
      }
      return { vin: outcome.vin, accepted: outcome.accepted, rejected: rejections.length, rejections };
    },
  );

  app.get(
    '/api/v1/dead-letters',
    { schema: { tags: ['telemetry'], summary: 'Rejected messages and samples with their reasons, newest first', security, querystring: DeadLetterQuerySchema, response: { 200: DeadLetterListSchema } } },
    async (request) => {
      const { reason, vin, limit } = request.query;
      const known = reason === undefined || (REJECT_REASONS as readonly string[]).includes(reason);
      if (!known) return { items: [] };
      const items = await ctx.store.listDeadLetters({ reason: reason as RejectReason | undefined, vin, limit });
      return { items };
    },
  );
};
