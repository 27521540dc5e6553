// The OpenAPI document is what tools are given: the committed copy and the client types generated from it must be
// what the service serves, Redocly's recommended rules must find nothing wrong with it, and it must be true: the
// security and the rate limits it documents are the ones the service enforces.
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DOCUMENT_FILE, renderClientFiles, renderDocument, renderTypes, TYPES_FILE } from '../../services/api/client/generate.ts';
import { testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { ROOT } from '../../tooling/system.ts';

type Operation = {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
};
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };

const service = await startLocalService();
t.teardown(service.cleanup);
const served = await renderDocument(service.api);
const document = JSON.parse(served) as Document;
const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method, operation })));

/** A request path for an operation: its path parameters filled with well-formed values. */
const concretePath = (path: string): string =>
  path.replace('{vin}', testVin(1, 'OAS')).replace('{brand}', 'Voltra').replace('{model}', 'E-Cross').replace('{id}', 'tn_0').replace('{tokenId}', 'tk_0');
const call = (method: string, path: string, authorization?: string, api = service.api) =>
  api.inject({
    method: method.toUpperCase() as 'GET',
    url: concretePath(path),
    headers: { ...(authorization ? { authorization } : {}), ...(method === 'post' ? { 'content-type': 'application/json' } : {}) },
    ...(method === 'post' ? { payload: '{}' } : {}),
  });
const isOpen = (operation: Operation): boolean => operation.security !== undefined && (operation.security.length === 0 || operation.security.some((s) => Object.keys(s).length === 0));

t.test('the committed document and client types are what the service serves (else: npm run api:client)', async (t) => {
  t.equal(await readFile(DOCUMENT_FILE, 'utf8'), served, 'services/api/client/openapi.json');
  t.equal(await readFile(TYPES_FILE, 'utf8'), await renderTypes(served), 'services/api/client/openapi-types.ts');
  const written = await renderClientFiles();
  t.same(written, { document: served, types: await renderTypes(served) }, 'npm run api:client writes the same, from a service of its own');
});

t.test("Redocly's recommended rules find no error and no warning", async (t) => {
  const lint = spawnSync(process.execPath, [join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', DOCUMENT_FILE, '--format=json', '--config', join(ROOT, 'redocly.yaml')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  const report = JSON.parse(lint.stdout.slice(lint.stdout.indexOf('{'))) as { totals: { errors: number; warnings: number; ignored: number }; problems: Array<{ ruleId: string; message: string }> };
  t.same(report.problems.map((p) => `${p.ruleId}: ${p.message}`), []);
  t.same(report.totals, { errors: 0, warnings: 0, ignored: 2 }, 'only the two probes without a 4XX answer are ignored (.redocly.lint-ignore.yaml)');
  t.equal(lint.status, 0);
});

t.test('every operation names itself and its tags, states its security, and answers errors with the shared schema', async (t) => {
  t.ok(operations.length >= 20, `${operations.length} operations`);
  const ids = new Set<string>();
  for (const { path, method, operation } of operations) {
    const name = `${method.toUpperCase()} ${path}`;
    t.match(operation.operationId, /^[a-z][A-Za-z]+$/, `${name} has an operationId`);
    t.notOk(ids.has(operation.operationId!), `${name}: its operationId is unique`);
    ids.add(operation.operationId!);
    t.ok(operation.tags?.length, `${name} has tags`);
    t.ok(Array.isArray(operation.security), `${name} states its security`);
    // every 4xx and 5xx, except the readiness probe's 503 (its checks, not an error)
    const errors = Object.entries(operation.responses).filter(([status]) => Number(status) >= 400 && !(path === '/readyz' && status === '503'));
    for (const [status, answer] of errors) {
      const ref = answer.content?.['application/json']?.schema?.$ref ?? '';
      const schema = document.components.schemas[ref.replace('#/components/schemas/', '')];
      t.ok(schema && ['statusCode', 'code', 'message'].every((key) => key in (schema.properties ?? {})), `${name} ${status} is {statusCode, code, message}`);
    }
  }
  t.same(
    operations.filter(({ operation }) => isOpen(operation)).map(({ path }) => path),
    ['/healthz', '/readyz', '/metrics', '/api/v1/exports/{ticket}'],
    'only the probes, the metrics and a one-time export link (the link is the credential) need no token',
  );
});

t.test('the service asks for the credentials the document says, and only those', async (t) => {
  for (const { path, method, operation } of operations) {
    const answer = await call(method, path);
    const name = `${method.toUpperCase()} ${path} without credentials`;
    if (isOpen(operation)) {
      // a probe answers; a one-time export link with a made-up ticket is refused for the ticket, not for credentials
      if (path.startsWith('/api/v1/exports/')) t.not(answer.statusCode, 401, `${name}: no credentials asked`);
      else t.equal(answer.statusCode, 200, name);
    } else {
      t.equal(answer.statusCode, 401, name);
      t.ok('401' in operation.responses, `${name}: 401 is documented`);
      t.same(Object.keys(answer.json()).sort(), ['code', 'message', 'statusCode'], `${name}: the shared error schema`);
      t.equal(answer.headers['www-authenticate'], 'Bearer');
    }
  }
});

t.test('every operation documenting 429 is rate limited, and no other is', async (t) => {
  const limited = await startLocalService({ rateLimit: 2, rateLimitIngest: 2 });
  t.teardown(limited.cleanup);
  const admin = `Bearer ${limited.adminToken.token}`;
  const created = await limited.api.inject({ method: 'POST', url: '/api/v1/tenants', headers: { authorization: admin }, payload: { name: 'Limited', brands: ['Voltra'] } });
  const tenant = `Bearer ${(created.json() as { token: string }).token}`;
  // use up the tenant token's budgets (the API's and HTTP ingest's are counted apart)
  for (const [method, path] of [['get', '/api/v1/brands'], ['post', '/api/v1/telemetry']] as const) {
    let status = 0;
    for (let i = 0; i < 5 && status !== 429; i++) status = (await call(method, path, tenant, limited.api)).statusCode;
    t.equal(status, 429, `${method.toUpperCase()} ${path} reaches its limit`);
  }
  for (const { path, method, operation } of operations) {
    const answer = await call(method, path, tenant, limited.api);
    t.equal(answer.statusCode === 429, '429' in operation.responses, `${method.toUpperCase()} ${path}: ${answer.statusCode}`);
  }
});
