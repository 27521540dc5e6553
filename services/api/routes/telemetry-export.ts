// A vehicle's raw telemetry as CSV, streamed page by page from the store (never built whole in memory). API
// clients GET it with their bearer token. A browser cannot put a header on a download, and the cockpit's token
// must not go into a URL: the page asks (with its token) for a one-time export link, valid for a minute and for
// one download only, and lets the browser download that.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SIGNAL_PATHS, type SignalValue } from '../../contract/signals.ts';
import type { TelemetryStore } from '../../store/telemetry-store.ts';
import type { ApiContext } from '../context.ts';
import { canSeeBrand, requirePrincipal } from '../auth.ts';
import { ExportNotFound, InvalidRange, VehicleNotFound } from '../errors.ts';
import { ERROR_ANSWERS, errorAnswer, jsonAnswer, SignalListParam, TimeParam, VinParams } from '../schemas.ts';

const DEFAULT_WINDOW_MS = 24 * 3_600_000;
/** Samples read from the store per page. */
export const CSV_PAGE_SAMPLES = 5_000;
export const EXPORT_LINK_TTL_MS = 60_000;
const MAX_OPEN_LINKS = 10_000;

const ExportQuerySchema = z.object({ from: TimeParam.optional(), to: TimeParam.optional(), signals: SignalListParam.optional() });
const CSV_ANSWER = {
  description: 'the samples as CSV, streamed',
  content: { 'text/csv': { schema: z.string().describe('time (ISO 8601), ts (ms), seq, then one column per signal; empty where a sample has no value') } },
};
const ExportLinkSchema = z.object({ url: z.string().describe('GET it once, within expiresAt, with no Authorization header'), expiresAt: z.number().int() });
const TicketParams = z.object({ ticket: z.string().min(16).max(64) });

interface CsvExport {
  vin: string;
  from: number;
  to: number;
  signals: readonly string[];
}

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
export function csvField(value: SignalValue | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The CSV lines of an export: a header, then one line per sample in ts order, read from the store a page at a time. */
export async function* csvLines(store: TelemetryStore, spec: CsvExport): AsyncGenerator<string> {
  yield `${['time', 'ts', 'seq', ...spec.signals].join(',')}\r\n`;
  for (let start = spec.from; start < spec.to; ) {
    const page = await store.querySamples({ vin: spec.vin, from: start, to: spec.to, signals: spec.signals, limit: CSV_PAGE_SAMPLES });
    if (page.length === 0) return;
    let chunk = '';
    for (const sample of page) {
      chunk += `${new Date(sample.ts).toISOString()},${sample.ts},${sample.seq}`;
      for (const path of spec.signals) chunk += `,${csvField(sample.signals[path])}`;
      chunk += '\r\n';
    }
    yield chunk;
    if (page.length < CSV_PAGE_SAMPLES) return;
    start = page[page.length - 1]!.ts + 1;
  }
}

export const telemetryExportRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  const links = new Map<string, CsvExport & { expiresAt: number }>();
  const authenticate = requirePrincipal(ctx.resolvePrincipal);

  const exportOf = async (request: FastifyRequest, vin: string, query: z.infer<typeof ExportQuerySchema>): Promise<CsvExport> => {
    const vehicle = await ctx.registry.get(vin);
    if (!vehicle || !canSeeBrand(request.principal, vehicle.brand)) throw new VehicleNotFound(vin);
    const to = query.to ?? Date.now();
    const from = query.from ?? to - DEFAULT_WINDOW_MS;
    if (from >= to) throw new InvalidRange('from must be before to');
    return { vin, from, to, signals: query.signals ?? SIGNAL_PATHS };
  };
  const sendCsv = (reply: FastifyReply, spec: CsvExport) =>
    reply
      .type('text/csv; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="${spec.vin}-${new Date(spec.from).toISOString().slice(0, 16).replace(':', '')}.csv"`)
      .send(Readable.from(csvLines(ctx.store, spec)));

  app.get(
    '/api/v1/vehicles/:vin/telemetry.csv',
    {
      onRequest: authenticate,
      schema: {
        operationId: 'exportVehicleTelemetryCsv',
        tags: ['vehicles'],
        summary: 'Raw samples in [from, to) (default: the last 24 h) as CSV, streamed',
        security: [{ bearer: [] }],
        params: VinParams,
        querystring: ExportQuerySchema,
        response: { 200: CSV_ANSWER, 400: ERROR_ANSWERS.validation, 401: ERROR_ANSWERS.unauthorized, 404: errorAnswer('VEHICLE_NOT_FOUND: a VIN the token may not see, or not registered'), 429: ERROR_ANSWERS.rateLimited, 503: ERROR_ANSWERS.storeUnavailable },
      },
    },
    async (request, reply) => sendCsv(reply, await exportOf(request, request.params.vin, request.query)),
  );

  app.post(
    '/api/v1/vehicles/:vin/telemetry/exports',
    {
      onRequest: authenticate,
      schema: {
        operationId: 'createTelemetryExport',
        tags: ['vehicles'],
        summary: 'A one-time link (one download, within a minute, no token needed) to the CSV of GET .../telemetry.csv: for browsers',
        security: [{ bearer: [] }],
        params: VinParams,
        querystring: ExportQuerySchema,
        response: { 201: jsonAnswer('the one-time link and when it expires', ExportLinkSchema), 400: ERROR_ANSWERS.validation, 401: ERROR_ANSWERS.unauthorized, 404: errorAnswer('VEHICLE_NOT_FOUND: a VIN the token may not see, or not registered'), 429: ERROR_ANSWERS.rateLimited },
      },
    },
    async (request, reply) => {
      const spec = await exportOf(request, request.params.vin, request.query);
      const now = Date.now();
      for (const [ticket, link] of links) if (link.expiresAt <= now || links.size >= MAX_OPEN_LINKS) links.delete(ticket);
      const ticket = randomBytes(24).toString('base64url');
      const expiresAt = now + EXPORT_LINK_TTL_MS;
      links.set(ticket, { ...spec, expiresAt });
      return reply.code(201).send({ url: `/api/v1/exports/${ticket}`, expiresAt });
    },
  );

  app.get(
    '/api/v1/exports/:ticket',
    {
      schema: {
        operationId: 'downloadTelemetryExport',
        tags: ['vehicles'],
        summary: 'Download the CSV of a one-time export link (the link is the credential)',
        security: [],
        params: TicketParams,
        response: { 200: CSV_ANSWER, 400: ERROR_ANSWERS.validation, 404: errorAnswer('EXPORT_NOT_FOUND: the link was used already, expired, or never existed'), 429: ERROR_ANSWERS.rateLimited, 503: ERROR_ANSWERS.storeUnavailable },
      },
    },
    async (request, reply) => {
      const link = links.get(request.params.ticket);
      links.delete(request.params.ticket);
      if (!link || link.expiresAt <= Date.now()) throw new ExportNotFound();
      return sendCsv(reply, link);
    },
  );
};
