// Hash routes, so every view is a deep link that survives a reload and the back button:
// `#/brands/Aurora/models/A1?range=24h`. (The fragment also carries the demo's sign-in token: see session.ts.)
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** decoded path segments: `#/brands/Aurora` -> ['brands', 'Aurora'] */
  segments: string[];
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const body = hash.replace(/^#\/?/, '');
  const q = body.indexOf('?');
  const path = q < 0 ? body : body.slice(0, q);
  return {
    segments: path.split('/').filter(Boolean).map((s) => decodeURIComponent(s)),
    params: new URLSearchParams(q < 0 ? '' : body.slice(q + 1)),
  };
}

/** `href(['brands', 'Aurora'], {range: '24h'})` -> `#/brands/Aurora?range=24h` */
export function href(segments: readonly string[], params?: Record<string, string | undefined> | URLSearchParams): string {
  const q = new URLSearchParams();
  if (params instanceof URLSearchParams) params.forEach((v, k) => q.set(k, v));
  else for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${segments.map(encodeURIComponent).join('/')}${s ? `?${s}` : ''}`;
}

export const navigate = (to: string): void => {
  location.hash = to;
};

/** The same view with some parameters changed (replaces the history entry: filters are not pages). */
export function setParams(route: Route, changes: Record<string, string | undefined>, push = false): void {
  const params = new URLSearchParams(route.params);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') params.delete(k);
    else params.set(k, v);
  }
  const to = href(route.segments, params);
  if (push) navigate(to);
  else {
    history.replaceState(null, '', to);
    dispatchEvent(new HashChangeEvent('hashchange'));
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
