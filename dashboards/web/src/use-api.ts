// Data of a view: loading, then the answer or an error; loaded again when the paths change (forgetting the old
// answer) and every `refreshMs` while shown (keeping the last answer on screen meanwhile).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get } from './api.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
}

const asApiError = (error: unknown): ApiError => (error instanceof ApiError ? error : new ApiError(0, 'ERROR', String(error)));

/** Several answers at once (one per path), loaded together: for tables that compare brands or models. */
export function useApiAll<T>(paths: readonly string[] | null, refreshMs?: number): Loaded<T[]> {
  const key = paths === null ? null : JSON.stringify(paths);
  const [state, setState] = useState<Loaded<T[]>>({ data: undefined, error: undefined, loading: key !== null });
  useEffect(() => {
    if (key === null) return;
    const list = JSON.parse(key) as string[];
    const abort = new AbortController();
    setState({ data: undefined, error: undefined, loading: true });
    const load = () =>
      Promise.all(list.map((p) => get<T>(p, abort.signal))).then(
        (data) => !abort.signal.aborted && setState({ data, error: undefined, loading: false }),
        (error: unknown) => !abort.signal.aborted && setState((s) => ({ data: s.data, error: asApiError(error), loading: false })),
      );
    void load();
    const timer = refreshMs ? setInterval(load, refreshMs) : undefined;
    return () => {
      abort.abort();
      clearInterval(timer);
    };
  }, [key, refreshMs]);
  return state;
}

export function useApi<T>(path: string | null, refreshMs?: number): Loaded<T> {
  const all = useApiAll<T>(path === null ? null : [path], refreshMs);
  return { data: all.data?.[0], error: all.error, loading: all.loading };
}
