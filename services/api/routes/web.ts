// GET /: the web cockpit (dashboards/web), bundled in memory on the first request and served gzipped. Its pages
// may load and connect only to this service (Content-Security-Policy), send no Referer, and cannot be framed.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { webBundle, type WebAsset } from '../../../dashboards/web/build.ts';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const webRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
  });

  const send = (reply: FastifyReply, asset: WebAsset, acceptEncoding: string | undefined, ifNoneMatch: string | undefined) => {
    reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache').header('etag', asset.etag).header('vary', 'accept-encoding');
    if (ifNoneMatch === asset.etag) return reply.code(304).send();
    reply.type(asset.contentType);
    if (/\bgzip\b/.test(acceptEncoding ?? '')) return reply.header('content-encoding', 'gzip').send(asset.gzip);
    return reply.send(asset.body);
  };

  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    const { assets } = await webBundle();
    return send(reply, assets.get('/')!, request.headers['accept-encoding'], request.headers['if-none-match']);
  });
  app.get<{ Params: { file: string } }>('/assets/:file', { schema: { hide: true } }, async (request, reply) => {
    const { assets } = await webBundle();
    const asset = assets.get(`/assets/${request.params.file}`);
    if (!asset) return reply.code(404).send({ statusCode: 404, code: 'ROUTE_NOT_FOUND', message: 'no such asset' });
    return send(reply, asset, request.headers['accept-encoding'], request.headers['if-none-match']);
  });
};
