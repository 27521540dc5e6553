// Automaker tenants (admin only): create one scoped to brands, list them, issue and revoke their API tokens,
// delete one. A token is shown once, in the answer that issued it.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { requireAdmin } from '../auth.ts';
import { TenantExists, TenantNotFound, TokenNotFound } from '../errors.ts';
import { ERROR_ANSWERS, errorAnswer, jsonAnswer, RegisterVehicleSchema } from '../schemas.ts';

const BrandName = RegisterVehicleSchema.shape.brand;

const CreateTenantSchema = z.object({
  name: z.string().trim().min(1).max(128).regex(/^[^\u0000-\u001f]+$/, 'no control characters').describe('automaker name, unique among tenants'),
  brands: z.array(BrandName).min(1).max(100).describe('the brands its tokens may see'),
});

const TokenInfoSchema = z.object({ tokenId: z.string(), createdAt: z.number().int(), revokedAt: z.number().int().nullable() });
const TenantSchema = z.object({ id: z.string(), name: z.string(), brands: z.array(z.string()), createdAt: z.number().int(), tokens: z.array(TokenInfoSchema) });
const CreatedTenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  brands: z.array(z.string()),
  createdAt: z.number().int(),
  tokenId: z.string(),
  token: z.string().describe('Bearer token of the tenant; shown only in this answer'),
});
const IssuedTokenSchema = z.object({ tokenId: z.string(), token: z.string().describe('shown only in this answer'), createdAt: z.number().int() });
const TenantParams = z.object({ id: z.string().min(1).max(64) });
const TokenParams = TenantParams.extend({ tokenId: z.string().min(1).max(64) });

const { validation, invalidBody, unauthorized, adminOnly, tooLarge, mediaType, rateLimited } = ERROR_ANSWERS;
/** Every tenant operation: a token is needed, and only the admin's will do. */
const ADMIN_ANSWERS = { 401: unauthorized, 403: adminOnly, 429: rateLimited } as const;
const tenantNotFound = errorAnswer('TENANT_NOT_FOUND: no tenant with this id');
const noContent = z.undefined().describe('done');

export const tenantRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  app.addHook('onRequest', requireAdmin(ctx.resolvePrincipal));
  const security = [{ bearer: [] }];

  app.post(
    '/api/v1/tenants',
    {
      schema: {
        operationId: 'createTenant',
        tags: ['tenants'],
        summary: 'Create an automaker tenant scoped to brands; answers its first token (shown only here)',
        security,
        body: CreateTenantSchema,
        response: {
          201: jsonAnswer('created, with its first token', CreatedTenantSchema),
          400: invalidBody,
          ...ADMIN_ANSWERS,
          409: errorAnswer('TENANT_EXISTS: a tenant of this name exists'),
          413: tooLarge,
          415: mediaType,
        },
      },
    },
    async (request, reply) => {
      const created = await ctx.tenants.create(request.body);
      if (!created) throw new TenantExists(request.body.name);
      const { tenant, issued } = created;
      request.log.info({ event: 'tenant_created', tenantId: tenant.id, brands: tenant.brands, tokenId: issued.tokenId });
      return reply.code(201).send({ id: tenant.id, name: tenant.name, brands: tenant.brands, createdAt: tenant.createdAt, tokenId: issued.tokenId, token: issued.token });
    },
  );

  app.get(
    '/api/v1/tenants',
    {
      schema: {
        operationId: 'listTenants',
        tags: ['tenants'],
        summary: 'Tenants with their brands and token ids (never the tokens)',
        security,
        response: { 200: jsonAnswer('every tenant', z.object({ items: z.array(TenantSchema) })), ...ADMIN_ANSWERS },
      },
    },
    async () => ({ items: await ctx.tenants.list() }),
  );

  app.get(
    '/api/v1/tenants/:id',
    {
      schema: {
        operationId: 'getTenant',
        tags: ['tenants'],
        summary: 'One tenant with its token ids',
        security,
        params: TenantParams,
        response: { 200: jsonAnswer('the tenant', TenantSchema), 400: validation, ...ADMIN_ANSWERS, 404: tenantNotFound },
      },
    },
    async (request) => {
      const tenant = await ctx.tenants.get(request.params.id);
      if (!tenant) throw new TenantNotFound(request.params.id);
      return tenant;
    },
  );

  app.delete(
    '/api/v1/tenants/:id',
    {
      schema: {
        operationId: 'deleteTenant',
        tags: ['tenants'],
        summary: 'Delete a tenant: all its tokens are refused from now on',
        security,
        params: TenantParams,
        response: { 204: noContent, 400: validation, ...ADMIN_ANSWERS, 404: tenantNotFound },
      },
    },
    async (request, reply) => {
      if (!(await ctx.tenants.delete(request.params.id))) throw new TenantNotFound(request.params.id);
      request.log.info({ event: 'tenant_deleted', tenantId: request.params.id });
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/v1/tenants/:id/tokens',
    {
      schema: {
        operationId: 'issueTenantToken',
        tags: ['tenants'],
        summary: 'Issue one more token for a tenant (shown only in this answer)',
        security,
        params: TenantParams,
        response: { 201: jsonAnswer('issued', IssuedTokenSchema), 400: validation, ...ADMIN_ANSWERS, 404: tenantNotFound },
      },
    },
    async (request, reply) => {
      const issued = await ctx.tenants.issueToken(request.params.id);
      if (!issued) throw new TenantNotFound(request.params.id);
      request.log.info({ event: 'tenant_token_issued', tenantId: request.params.id, tokenId: issued.tokenId });
      return reply.code(201).send(issued);
    },
  );

  app.delete(
    '/api/v1/tenants/:id/tokens/:tokenId',
    {
      schema: {
        operationId: 'revokeTenantToken',
        tags: ['tenants'],
        summary: 'Revoke a token: refused at once by this process, by other processes within the token cache TTL (5 s)',
        security,
        params: TokenParams,
        response: { 204: noContent, 400: validation, ...ADMIN_ANSWERS, 404: errorAnswer('TOKEN_NOT_FOUND: the tenant has no token of this id') },
      },
    },
    async (request, reply) => {
      const { id, tokenId } = request.params;
      if (!(await ctx.tenants.revokeToken(id, tokenId))) throw new TokenNotFound(id, tokenId);
      request.log.info({ event: 'tenant_token_revoked', tenantId: id, tokenId });
      return reply.code(204).send();
    },
  );
};
