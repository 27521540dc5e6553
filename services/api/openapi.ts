// The OpenAPI document (served at /docs/json, UI at /docs): its frame (servers, security schemes, tags), the schemas
// it names as components, and a last pass that keeps the components the operations use. The operations themselves
// come from each route's zod schemas; `npm test` lints the result with Redocly and generates the typed client from it.
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CatalogSampleSchema, TelemetryMessageSchema } from '../contract/telemetry.ts';

// Shared by several operations, and named types in generated clients (the API's own are named where they are defined).
for (const [id, schema] of [
  ['TelemetryMessage', TelemetryMessageSchema],
  ['TelemetrySample', CatalogSampleSchema],
] as const) {
  z.globalRegistry.add(schema, { ...z.globalRegistry.get(schema), id });
}

const TAGS = [
  { name: 'vehicles', description: 'Registry, digital twins and per-vehicle telemetry' },
  { name: 'telemetry', description: 'HTTP ingest (the MQTT contract over HTTP) and dead letters' },
  { name: 'cockpit', description: 'Per-fleet, per-brand and per-model cockpit data, and the live stream' },
  { name: 'tenants', description: 'Automaker tenants and their API tokens (admin only)' },
  { name: 'operations', description: 'Liveness, readiness and Prometheus metrics' },
];

const REF_PREFIX = '#/components/schemas/';

/**
 * Keep only the component schemas the operations reach, under their plain names: the zod provider emits an input
 * and an output copy of each named schema (`<id>Input` and `<id>`), and most are used on one side only.
 */
export function tidyComponents<T extends { paths?: unknown; components?: { schemas?: Record<string, unknown> } }>(document: T): T {
  const schemas = document.components?.schemas ?? {};
  const used = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) for (const item of node) visit(item);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string' && value.startsWith(REF_PREFIX)) {
          const id = value.slice(REF_PREFIX.length);
          if (!used.has(id)) {
            used.add(id);
            visit(schemas[id]);
          }
        } else visit(value);
      }
    }
  };
  visit(document.paths);
  const names = new Map([...used].map((id) => [id, id.endsWith('Input') && !used.has(id.slice(0, -5)) ? id.slice(0, -5) : id]));
  const kept = Object.fromEntries([...used].sort().map((id) => [names.get(id)!, schemas[id]]));
  const renamed = JSON.parse(JSON.stringify({ ...document, components: { ...document.components, schemas: kept } }), (key, value) =>
    key === '$ref' && typeof value === 'string' && value.startsWith(REF_PREFIX) ? `${REF_PREFIX}${names.get(value.slice(REF_PREFIX.length))}` : value,
  );
  return renamed as T;
}

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'vehicle-cloud',
        description: 'Smart-car cloud telemetry backend: vehicles, digital twins, telemetry, cockpit data. Every error answer is `{statusCode, code, message}`.',
        version,
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      servers: [{ url: '/', description: 'the service that serves this document' }],
      tags: TAGS,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'the admin token (VC_ADMIN_TOKEN or the data dir\'s admin-token) or a tenant token' },
          vehicle: { type: 'http', scheme: 'basic', description: "a vehicle's MQTT username (its VIN) and password; HTTP ingest only" },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'VC_METRICS_TOKEN, when it is set' },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: (document) => tidyComponents(jsonSchemaTransformObject(document)),
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
}
