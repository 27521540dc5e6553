// The one typed client of the cockpit's pages: every request goes to this service's /api/v1 with the token in
// the Authorization header, and every failure becomes an ApiError with the API's stable code.
import { createParser } from 'eventsource-parser';
import type { Me } from '../../../services/api/fleet-status-schemas.ts';
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

// Answers. The web cockpit's own routes give their types from their zod schemas; the older routes' answers are
// mirrored here (their schemas sit in modules that also import Node's APIs, which the browser build cannot check).
export type { Faults, IngestHealth, Me, Position, PositionChange, Positions, StatusFilter, VehicleState, VehicleStatus, VehicleStatusList } from '../../../services/api/fleet-status-schemas.ts';
export interface Kpis {
  vehicles: number;
  activeVehicles: number;
  samples: number;
  avgSpeed: number | null;
  distanceKm: number;
  avgSoc: number | null;
  charging: number;
  adasShare: number | null;
  faults: number;
}
export interface CockpitPoint {
  t: number;
  samples: number;
  avgSpeed: number | null;
  avgSoc: number | null;
  adasShare: number | null;
}
export interface Cockpit {
  scope: { level: 'fleet' | 'brand' | 'model'; brand?: string; model?: string };
  from: number;
  to: number;
  interval: number;
  kpis: Kpis;
  series: CockpitPoint[];
}
export interface BrandSummary {
  brand: string;
  models: number;
  vehicles: number;
  online: number;
}
export interface ModelSummary {
  model: string;
  vehicles: number;
  online: number;
}
export type SignalValue = number | boolean | string;
export interface Twin {
  vin: string;
  brand: string;
  model: string;
  online: boolean;
  lastSeen: number | null;
  signals: Record<string, { value: SignalValue; ts: number }>;
}
export interface Sample {
  ts: number;
  seq: number;
  signals: Record<string, SignalValue>;
}
export interface Telemetry {
  vin: string;
  from: number;
  to: number;
  samples?: Sample[];
  buckets?: Array<{ t: number; samples: number } & Record<string, { avg: number; min: number; max: number } | number>>;
  nextCursor: string | null;
}
export interface DeadLetters {
  items: Array<{ receivedAt: number; reason: string; detail: string; topic: string; vin?: string; raw: string }>;
}
