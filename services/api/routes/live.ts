// GET /api/v1/live: server-sent events of twin updates as they are ingested, filtered by brand, model or VIN
// and by the caller's brands. Each client has a bounded buffer: a client that does not keep up is dropped,
// it never slows ingestion.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { VinSchema } from '../../contract/telemetry.ts';
import type { VehicleTwin } from '../../twin/twin.ts';
import type { ApiContext } from '../context.ts';
import { canSeeBrand, requirePrincipal } from '../auth.ts';
import { BrandNotFound, VehicleNotFound } from '../errors.ts';
import { ERROR_ANSWERS, errorAnswer } from '../schemas.ts';

/** Bytes a client may have unsent before it is dropped. */
export const LIVE_CLIENT_BUFFER_BYTES = 256 * 1024;
const HEARTBEAT_MS = 15_000;

const LiveQuerySchema = z.object({ brand: z.string().max(64).optional(), model: z.string().max(64).optional(), vin: VinSchema.optional() });

export const liveRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.addHook('onRequest', requirePrincipal(ctx.resolvePrincipal));
  // streams never end by themselves: close them so the server can close
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of [...streams]) close();
  });
  app.get(
    '/api/v1/live',
    {
      schema: {
        operationId: 'streamLiveTwins',
        tags: ['cockpit'],
        summary: 'Server-sent events: `event: twin` with {vin, brand, model, lastSeen, signals} for every accepted message',
        security: [{ bearer: [] }],
        querystring: LiveQuerySchema,
        response: {
          200: {
            description: 'an endless event stream: `event: twin` with `data:` one JSON object {vin, brand, model, lastSeen, signals: {path: {value, ts}}} per accepted message, and `: heartbeat` comments every 15 s',
            content: { 'text/event-stream': { schema: z.string().describe('text/event-stream (https://html.spec.whatwg.org/multipage/server-sent-events.html)') } },
          },
          400: ERROR_ANSWERS.validation,
          401: ERROR_ANSWERS.unauthorized,
          404: errorAnswer("BRAND_NOT_FOUND or VEHICLE_NOT_FOUND: a brand or VIN the token may not see, or that does not exist"),
          429: ERROR_ANSWERS.rateLimited,
        },
      },
    },
    async (request, reply) => {
      const { brand, model, vin } = request.query;
      const principal = request.principal;
      if (brand !== undefined && !ctx.registry.all().some((v) => v.brand === brand && canSeeBrand(principal, v.brand))) throw new BrandNotFound(brand);
      if (vin !== undefined) {
        const vehicle = await ctx.registry.get(vin);
        if (!vehicle || !canSeeBrand(principal, vehicle.brand)) throw new VehicleNotFound(vin);
      }
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      raw.write(': vehicle-cloud live twin updates\n\n');
      let id = 0;
      let closed = false;
      const close = (): void => {
        if (closed) return;
        closed = true;
        streams.delete(close);
        unsubscribe();
        clearInterval(heartbeat);
        raw.end();
      };
      const unsubscribe = ctx.twins.onUpdate((twin: VehicleTwin, changed: readonly string[]) => {
        if (closed || (vin !== undefined && twin.vin !== vin)) return;
        const vehicle = ctx.registry.peek(twin.vin);
        if (!vehicle || !canSeeBrand(principal, vehicle.brand)) return;
        if ((brand !== undefined && vehicle.brand !== brand) || (model !== undefined && vehicle.model !== model)) return;
        if (raw.writableLength > LIVE_CLIENT_BUFFER_BYTES) {
          ctx.metrics.liveClientsDropped.inc();
          request.log.info({ event: 'live_client_dropped', bufferedBytes: raw.writableLength }, 'live client too slow; dropped');
          close();
          return;
        }
        const signals: Record<string, unknown> = {};
        for (const path of changed) signals[path] = twin.signals.get(path);
        id += 1;
        raw.write(`id: ${id}\nevent: twin\ndata: ${JSON.stringify({ vin: twin.vin, brand: vehicle.brand, model: vehicle.model, lastSeen: twin.lastSeen, signals })}\n\n`);
      });
      const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      streams.add(close);
      raw.on('close', close);
      raw.on('error', close);
    },
  );
};
