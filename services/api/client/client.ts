// The typed client of the vehicle-cloud HTTP API: openapi-fetch over the types generated from the service's OpenAPI
// document (openapi-types.ts, `npm run api:client`), so the compiler holds every caller to the routes' schemas:
// a renamed field, a new required parameter or a removed route breaks the simulator's and the load tester's build.
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './openapi-types.ts';

export type ApiClient = Client<paths>;
/** Every error answer: `{ statusCode, code, message }`. */
export type ApiError = components['schemas']['Error'];
export type { components, paths };

export interface ApiClientOptions {
  /** API base URL, e.g. http://127.0.0.1:3000 */
  baseUrl: string;
  /** bearer token (admin or tenant) sent with every request */
  token?: string;
  /** each request is aborted after this long */
  timeoutMs?: number;
  /** aborts every request (e.g. Ctrl-C) */
  signal?: AbortSignal;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const { timeoutMs, signal } = options;
  return createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    fetch: (request) => {
      const signals = [request.signal, ...(signal ? [signal] : []), ...(timeoutMs ? [AbortSignal.timeout(timeoutMs)] : [])];
      return fetch(request, { signal: AbortSignal.any(signals) });
    },
  });
}

/** `CODE: message` of an error answer, or the bare HTTP status when the body is not one. */
export function describeApiError(status: number, body: unknown): string {
  const error = body as Partial<ApiError> | undefined;
  return typeof error?.code === 'string' ? `${error.code}: ${String(error.message ?? '').slice(0, 200)}` : `HTTP ${status}`;
}

/** The answer of a call, or an Error `what: CODE: message` when the service answered an error. */
export function answerOf<T>(what: string, result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined) throw new Error(`${what}: ${describeApiError(result.response.status, result.error)}`);
  return result.data;
}
