// Errors are created once, with stable codes, and thrown everywhere. Every error answer is
// `{ statusCode, code, message }`; a 5xx never shows internals.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import createError from '@fastify/error';
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { StoreUnavailableError } from '../store/telemetry-store.ts';

export const Unauthorized = createError('UNAUTHORIZED', 'a valid bearer token is required', 401);
export const Forbidden = createError('FORBIDDEN', 'this token may not do that', 403);
export const VehicleNotFound = createError('VEHICLE_NOT_FOUND', 'no vehicle %s', 404);
export const InvalidJson = createError('INVALID_JSON', 'the body is not JSON the service takes: %s', 400);
export const VehicleExists = createError('VEHICLE_EXISTS', 'vehicle %s is already registered', 409);
export const BrandNotFound = createError('BRAND_NOT_FOUND', 'no brand %s', 404);
export const ModelNotFound = createError('MODEL_NOT_FOUND', 'no model %s of brand %s', 404);
export const InvalidRange = createError('INVALID_RANGE', '%s', 400);
export const IngestBackpressure = createError('INGEST_BACKPRESSURE', 'ingestion is pushing back (spool full); retry later', 503);
export const SpoolUnavailable = createError('SPOOL_UNAVAILABLE', 'the telemetry could not be made durable on local disk; retry later', 503);
export const TenantNotFound = createError('TENANT_NOT_FOUND', 'no tenant %s', 404);
export const TenantExists = createError('TENANT_EXISTS', 'a tenant named %s already exists', 409);
export const TokenNotFound = createError('TOKEN_NOT_FOUND', 'tenant %s has no token %s', 404);
export const UnauthorizedPublisher = createError('UNAUTHORIZED_PUBLISHER', 'vehicle %s may post only its own telemetry', 403);
export const RateLimited = createError('RATE_LIMITED', 'rate limit exceeded; retry in %s', 429);
export const ExportNotFound = createError('EXPORT_NOT_FOUND', 'no such export link (used already, or older than a minute)', 404);
export const BrokerUnavailable = createError('BROKER_UNAVAILABLE', 'the MQTT broker did not confirm the vehicle account; retry later', 503);

export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}

const FASTIFY_CODES: Record<string, { code: string; status?: number; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_JSON' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'INVALID_CONTENT_LENGTH', status: 400 },
  // @fastify/static refuses a path that climbs out of its root (`/docs/static/../..`): to the caller, no such route
  FST_STATIC_FORBIDDEN_PATH: { code: 'ROUTE_NOT_FOUND', status: 404, message: 'no such route' },
};

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let body: ErrorBody;
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issue = error.validation[0];
      const where = issue?.instancePath ? `${error.validationContext ?? 'request'}${issue.instancePath.replaceAll('/', '.')}` : (error.validationContext ?? 'request');
      body = { statusCode: 400, code: 'VALIDATION_FAILED', message: `${where}: ${issue?.message ?? 'invalid'}` };
    } else if (error.code && FASTIFY_CODES[error.code]) {
      const mapped = FASTIFY_CODES[error.code]!;
      body = { statusCode: mapped.status ?? error.statusCode ?? 400, code: mapped.code, message: mapped.message ?? error.message };
    } else if (error.statusCode && error.statusCode < 500 && error.code) {
      body = { statusCode: error.statusCode, code: error.code.replace(/^FST_ERR_/, ''), message: error.message };
    } else if (error.statusCode === 503 && error.code) {
      body = { statusCode: 503, code: error.code, message: error.message };
    } else if (error instanceof StoreUnavailableError) {
      // the store down or slow is not a bug of this service: logged without a stack, answered as retryable
      request.log.warn({ event: 'store_unavailable', err: error.message }, 'the store did not answer a read');
      body = { statusCode: 503, code: 'STORE_UNAVAILABLE', message: 'the telemetry store did not answer; retry later' };
      reply.header('retry-after', '1');
    } else {
      request.log.error({ err: error }, 'request failed');
      body = { statusCode: 500, code: 'INTERNAL_ERROR', message: 'internal server error' };
    }
    if (body.statusCode === 401) reply.header('www-authenticate', 'Bearer');
    reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ statusCode: 404, code: 'ROUTE_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}` });
  });
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (headers or URL too large, a NUL in a header, a
 * malformed request line) answered in the same `{statusCode, code, message}` shape as every other error, then closed.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Duplex): void {
  if (socket.destroyed || !socket.writable) return;
  const answer =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? { statusCode: 431, code: 'HEADERS_TOO_LARGE', message: 'the request line and headers are over the limit (16 KiB)' }
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? { statusCode: 408, code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' }
        : { statusCode: 400, code: 'BAD_REQUEST', message: 'malformed HTTP request' };
  const body = JSON.stringify(answer);
  socket.end(`HTTP/1.1 ${answer.statusCode} ${STATUS_CODES[answer.statusCode]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

