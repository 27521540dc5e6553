// The one typed client of the cockpit's pages: every request goes to this service's /api/v1 with the token in
// the Authorization header, and every failure becomes an ApiError with the API's stable code.
import { createParser } from 'eventsource-parser';
import type { Me } from '../../../services/api/fleet-status-schemas.ts';
import type { components, operations } from '../../../services/api/client/openapi-types.ts';
import { currentToken } from './session.ts';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the API refuses the token (401): the app signs out. */
let onUnauthorized: () => void = () => undefined;
export const setUnauthorizedHandler = (handler: () => void): void => {
  onUnauthorized = handler;
};
/** Something other than a request of this module met a 401 (the position worker's stream). */
export const signOutUnauthorized = (): void => onUnauthorized();

async function request<T>(method: string, path: string, token = currentToken(), signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { method, headers: { authorization: `Bearer ${token ?? ''}`, accept: 'application/json' }, signal, cache: 'no-store' });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, 'NETWORK', 'the service did not answer');
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const e = (body ?? {}) as { code?: string; message?: string };
    // a refused stored token signs out; a refused candidate (the sign-in form's) is the form's business
    if (response.status === 401 && token === currentToken()) onUnauthorized();
    throw new ApiError(response.status, e.code ?? 'HTTP_ERROR', e.message ?? `HTTP ${response.status}`);
  }
  return body as T;
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> => request<T>('GET', path, undefined, signal);
export const post = <T>(path: string): Promise<T> => request<T>('POST', path);
/** Check a token before keeping it. */
export const whoIs = (token: string): Promise<Me> => request<Me>('GET', '/api/v1/me', token);

/** Query string of the defined values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Server-sent events over fetch (EventSource cannot send an Authorization header). Reconnects after a drop
 * until `signal` aborts.
 */
export async function subscribe(
  path: string,
  onEvent: (event: string, data: string) => void,
  signal: AbortSignal,
  // a worker has no sessionStorage: it is handed the token, and reports a refusal to the page
  caller: { token: () => string | null; unauthorized: () => void } = { token: currentToken, unauthorized: () => onUnauthorized() },
): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await fetch(path, { headers: { authorization: `Bearer ${caller.token() ?? ''}`, accept: 'text/event-stream' }, signal, cache: 'no-store' });
      if (response.status === 401) return caller.unauthorized();
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const parser = createParser({ onEvent: (e) => onEvent(e.event ?? 'message', e.data) });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch {
      if (signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// Answers. The web cockpit's own routes give their types from their zod schemas; the other routes' from the types
// generated from the OpenAPI document (services/api/client/openapi-types.ts, held to the routes by a test).
export type { Faults, IngestHealth, Me, Position, PositionChange, Positions, StatusFilter, VehicleState, VehicleStatus, VehicleStatusList } from '../../../services/api/fleet-status-schemas.ts';
type Answer<K extends keyof operations> = operations[K] extends { responses: { 200: { content: { 'application/json': infer T } } } } ? T : never;
export type Cockpit = components['schemas']['Cockpit'];
export type Kpis = Cockpit['kpis'];
export type CockpitPoint = Cockpit['series'][number];
export type BrandSummary = Answer<'listBrands'>['brands'][number];
export type ModelSummary = Answer<'listBrandModels'>['models'][number];
export type SignalValue = number | boolean | string;
export type Twin = components['schemas']['VehicleTwin'];
/** A bucket: its start and count, and `{avg, min, max}` per numeric signal (the document leaves the paths open). */
export type TelemetryBucket = { t: number; samples: number } & Record<string, unknown>;
export type Telemetry = Omit<components['schemas']['TelemetryAnswer'], 'buckets'> & { buckets?: TelemetryBucket[] };
export type Sample = NonNullable<Telemetry['samples']>[number];
export type DeadLetters = Answer<'listDeadLetters'>;
