// Live map: every vehicle in scope at its last position, coloured by state, moving with the coalesced position
// stream (one frame of changes a second however many vehicles report). Click a vehicle to see it; `?vin=` selects
// one and follows it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, query, signOutUnauthorized, type BrandSummary, type Positions, type VehicleState } from '../api.ts';
import { currentToken } from '../session.ts';
import { href, setParams, type Route } from '../router.ts';
import { useApi } from '../use-api.ts';
import type { FleetMap } from '../map/fleet-map.ts';
import { StateBadge } from './state-badge.tsx';

const STATES: VehicleState[] = ['driving', 'parked', 'charging', 'fault', 'offline'];

export function MapView({ route }: { route: Route }) {
  const brand = route.params.get('brand') ?? undefined;
  const selected = route.params.get('vin') ?? undefined;
  const box = useRef<HTMLDivElement>(null);
  const fleetMap = useRef<FleetMap | undefined>(undefined);
  const [status, setStatus] = useState<{ phase: 'loading' | 'ready' | 'error'; message?: string }>({ phase: 'loading' });
  const [counts, setCounts] = useState<Record<VehicleState, number>>();
  const [frames, setFrames] = useState(0);
  const brands = useApi<{ brands: BrandSummary[] }>('/api/v1/brands');

  useEffect(() => {
    const abort = new AbortController();
    setStatus({ phase: 'loading' });
    const scope = query({ brand });
    void (async () => {
      try {
        const [{ createFleetMap, STATE_COLOURS }, positions] = await Promise.all([import('../map/fleet-map.ts'), get<Positions>(`/api/v1/positions${scope}`, abort.signal)]);
        if (abort.signal.aborted || !box.current) return;
        for (const state of STATES) document.documentElement.style.setProperty(`--state-${state}`, STATE_COLOURS[state]);
        const map = createFleetMap(box.current, { onSelect: (vin) => setParams(route, { vin }) });
        fleetMap.current = map;
        map.setPositions(positions.positions);
        if (!(selected && map.focus(selected))) map.fit();
        setCounts(map.counts());
        box.current.dataset.vehicles = String(positions.positions.length);
        setStatus({ phase: 'ready' });
        void map
          .stream(`/api/v1/positions/live${scope}`, currentToken() ?? '', () => {
            setCounts(map.counts());
            setFrames((n) => n + 1);
          }, abort.signal)
          .then(() => !abort.signal.aborted && signOutUnauthorized());
      } catch (err) {
        if (!abort.signal.aborted) setStatus({ phase: 'error', message: err instanceof Error ? err.message : String(err) });
      }
    })();
    return () => {
      abort.abort();
      fleetMap.current?.destroy();
      fleetMap.current = undefined;
    };
    // the map is built per scope; selecting a vehicle does not rebuild it
  }, [brand]);

  useEffect(() => fleetMap.current?.select(selected), [selected, status.phase]);
  const vehicle = selected ? fleetMap.current?.vehicle(selected) : undefined;
  return (
    <section aria-labelledby="view-title" class="map-view">
      <header class="view-head">
        <h1 id="view-title">Live map</h1>
        <div class="map-tools">
          <label for="map-brand">Brand</label>
          <select id="map-brand" value={brand ?? ''} onChange={(e) => setParams(route, { brand: e.currentTarget.value || undefined, vin: undefined })}>
            <option value="">All brands</option>
            {brands.data?.brands.map((b) => (
              <option key={b.brand} value={b.brand}>
                {b.brand}
              </option>
            ))}
          </select>
        </div>
      </header>
      <ul class="legend" aria-label="Vehicles by state" aria-live="off">
        {STATES.map((s) => (
          <li key={s} data-state={s}>
            <StateBadge state={s} /> {counts ? counts[s] : '…'}
          </li>
        ))}
        <li class="frames" data-frames={frames}>
          {frames} live update{frames === 1 ? '' : 's'}
        </li>
      </ul>
      {status.phase === 'loading' ? (
        <div class="state loading" role="status">
          Loading the map…
        </div>
      ) : null}
      {status.phase === 'error' ? (
        <div class="state error" role="alert">
          Could not load the map: {status.message}
        </div>
      ) : null}
      <div class="map-layout">
        <div ref={box} class="fleet-map" aria-label="Map of the vehicles; the vehicle list is on the Vehicles page" role="region" />
        {selected ? (
          <aside class="panel selected" aria-label="Selected vehicle" data-vin={selected}>
            <h2>
              <a href={href(['vehicles', selected])} class="mono">
                {selected}
              </a>
            </h2>
            {vehicle ? (
              <dl>
                <dt>State</dt>
                <dd>
                  <StateBadge state={vehicle.state} />
                </dd>
                <dt>Position</dt>
                <dd class="mono" data-position>
                  {vehicle.lat.toFixed(5)}, {vehicle.lon.toFixed(5)}
                </dd>
              </dl>
            ) : (
              <p>No position known.</p>
            )}
            <button type="button" onClick={() => setParams(route, { vin: undefined })}>
              Close
            </button>
          </aside>
        ) : null}
      </div>
      <p class="note">
        Positions update once a second. Speeds: <a href={href(['vehicles'], { sort: 'speed', order: 'desc' })}>fastest vehicles</a>.
      </p>
    </section>
  );
}
