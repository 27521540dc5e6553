// HTTP ingest (same contract and rules as MQTT) and the dead-letter store. A vehicle may post with its MQTT
// credentials (HTTP Basic) and only its own VIN, like on the broker: another VIN is an `unauthorized_publisher`
// dead letter and a 403. A tenant token may post for vehicles of its brands: another brand's VIN is dead-lettered
// the same way, and answered 404 VEHICLE_NOT_FOUND exactly like an unregistered VIN (no existence leak).
import { errorCodes } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { jsonTooDeep, MAX_JSON_DEPTH, MAX_PAYLOAD_BYTES, parseTelemetryJson, TelemetryMessageSchema, utf8, VIN_PATTERN, type RejectReason } from '../../contract/telemetry.ts';
import type { ApiContext } from '../context.ts';
import { canSeeBrand, requireIngestCaller, requirePrincipal } from '../auth.ts';
import { Forbidden, IngestBackpressure, InvalidJson, SpoolUnavailable, UnauthorizedPublisher, VehicleNotFound } from '../errors.ts';
import { DeadLetterListSchema, DeadLetterQuerySchema, ERROR_ANSWERS, errorAnswer, ErrorSchema, IngestAnswerSchema, jsonAnswer } from '../schemas.ts';

const IngestErrorSchema = ErrorSchema.extend({ rejections: IngestAnswerSchema.shape.rejections.optional() }).meta({
  id: 'IngestError',
  description: 'An ingest refused whole: the error, and every sample\'s reason',
});
const ingestError = (description: string) => errorAnswer(description, IngestErrorSchema);
const { validation, unauthorized, rateLimited } = ERROR_ANSWERS;

/**
 * The body is documented by the contract's message schema but not parsed with it: the contract's own decoder
 * checks sample by sample, so one bad sample is rejected with its reason and the rest of the batch is kept.
 */
const contractDecodesTheBody = () => (body: unknown) => ({ value: body });

const WHOLE_MESSAGE_STATUS: Partial<Record<RejectReason, 413 | 422>> = {
  payload_too_large: 413,
  batch_too_large: 413,
  unregistered_vehicle: 422,
};

const bodyVin = (body: unknown): string | undefined => {
  const vin = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).vin : undefined;
  return typeof vin === 'string' ? vin : undefined;
};

export const ingestRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  const security = [{ bearer: [] }];
  // Firmware JSON encoders print NaN/Infinity: over HTTP as over MQTT, only the samples carrying them are rejected.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const text = utf8(body as Buffer);
    if (text === undefined) return done(new InvalidJson('it is not valid UTF-8'), undefined);
    const parsed = parseTelemetryJson(text);
    if (parsed !== undefined) done(null, parsed.value);
    else if (jsonTooDeep(text)) done(new InvalidJson(`it nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    else done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), undefined);
  });

  app.post(
    '/api/v1/telemetry',
    {
      onRequest: requireIngestCaller(ctx.resolvePrincipal, ctx.registry),
      bodyLimit: MAX_PAYLOAD_BYTES,
      validatorCompiler: contractDecodesTheBody,
      schema: {
        operationId: 'ingestTelemetry',
        tags: ['telemetry'],
        summary: 'Ingest one sample or a batch over HTTP (same contract as MQTT); 200 once the accepted samples are durable',
        description:
          'One sample {vin, ts, seq, signals} or a batch {vin, samples: [...]} of at most 1,000. Invalid samples are rejected one by one with reasons; the rest is kept. 400/413/422 when nothing is accepted. ' +
          'Authorization: a bearer token (admin, or a tenant for its brands: another VIN is 404), or HTTP Basic with the vehicle\'s MQTT credentials (its own VIN only: another is 403 UNAUTHORIZED_PUBLISHER).',
        body: TelemetryMessageSchema,
        security: [{ bearer: [] }, { vehicle: [] }],
        response: {
          200: jsonAnswer('at least one sample accepted (durable); the others with their reasons', IngestAnswerSchema),
          400: ingestError('nothing accepted, the message itself refused: INVALID_JSON, or its reason (e.g. INVALID_VIN, INVALID_MESSAGE)'),
          401: errorAnswer('UNAUTHORIZED: no valid bearer token or vehicle credentials'),
          403: errorAnswer('UNAUTHORIZED_PUBLISHER: a vehicle posting for another VIN'),
          404: errorAnswer("VEHICLE_NOT_FOUND: a tenant token posting for a VIN that is not registered or is another brand's"),
          413: ingestError('PAYLOAD_TOO_LARGE (over 256 KiB) or BATCH_TOO_LARGE (over 1,000 samples): refused whole'),
          415: ERROR_ANSWERS.mediaType,
          422: ingestError('UNREGISTERED_VEHICLE (admin or vehicle credentials), or every sample of a valid message rejected: their reason when they share one (e.g. UNKNOWN_SIGNAL, OUT_OF_RANGE_VALUE), else NO_SAMPLE_ACCEPTED'),
          429: errorAnswer('RATE_LIMITED: the credential\'s ingest requests per minute are used up (VC_RATE_LIMIT_INGEST); Retry-After says when'),
          503: errorAnswer('INGEST_BACKPRESSURE (the spool is full) or SPOOL_UNAVAILABLE (the disk refused): nothing was acknowledged; retry later'),
        },
      },
    },
    async (request, reply) => {
      if (!ctx.ingestHasRoom()) throw new IngestBackpressure();
      const caller = request.ingestCaller;
      const vin = bodyVin(request.body);
      if (caller.kind === 'vehicle' && vin !== undefined && vin !== caller.vin) {
        ctx.pipeline.reject('unauthorized_publisher', `vehicle ${caller.vin} may publish only its own telemetry`, 'http', JSON.stringify(request.body), caller.vin);
        throw new UnauthorizedPublisher(caller.vin);
      }
      if (caller.kind === 'tenant' && vin !== undefined && VIN_PATTERN.test(vin)) {
        const vehicle = await ctx.registry.get(vin);
        if (vehicle && !canSeeBrand(caller, vehicle.brand)) {
          ctx.pipeline.reject('unauthorized_publisher', 'a tenant token may publish only for vehicles of its brands', 'http', JSON.stringify(request.body), vin);
          throw new VehicleNotFound(vin);
        }
      }
      const outcome = await ctx.pipeline.ingestHttp(request.body);
      try {
        // the answer (2xx or a rejection kept as a dead letter) goes out only once the spool group is written
        await ctx.pipeline.durable();
      } catch (err) {
        request.log.error({ event: 'spool_write_failed', err: err instanceof Error ? err.message : String(err) }, 'spool write failed; nothing acknowledged');
        throw new SpoolUnavailable();
      }
      const rejections = outcome.rejected;
      // to a tenant, an unregistered VIN looks exactly like another brand's
      if (caller.kind === 'tenant' && outcome.messageRejected === 'unregistered_vehicle') throw new VehicleNotFound(outcome.vin ?? vin ?? '');
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
    {
      onRequest: requirePrincipal(ctx.resolvePrincipal),
      schema: {
        operationId: 'listDeadLetters',
        tags: ['telemetry'],
        summary: 'Rejected messages and samples with their reasons, newest first',
        description: 'The admin sees all. A tenant must name one of its vehicles with `vin` (another brand\'s VIN: 404; no `vin`: 403, since many letters belong to no brand).',
        security,
        querystring: DeadLetterQuerySchema,
        response: {
          200: jsonAnswer('dead letters, newest first', DeadLetterListSchema),
          400: errorAnswer('VALIDATION_FAILED: a reason that is not a reject reason, a malformed vin, or a limit out of range'),
          401: unauthorized,
          403: errorAnswer('FORBIDDEN: a tenant token without `vin`'),
          404: errorAnswer("VEHICLE_NOT_FOUND: a tenant token naming a VIN that is not registered or is another brand's"),
          429: rateLimited,
          503: ERROR_ANSWERS.storeUnavailable,
        },
      },
    },
    async (request) => {
      const { reason, vin, limit } = request.query;
      if (request.principal.kind === 'tenant') {
        if (vin === undefined) throw new Forbidden();
        const vehicle = await ctx.registry.get(vin);
        if (!vehicle || !canSeeBrand(request.principal, vehicle.brand)) throw new VehicleNotFound(vin);
      }
      const items = await ctx.store.listDeadLetters({ reason, vin, limit });
      return { items };
    },
  );
};
