// One vehicle: its twin (every signal with value and age, live), speed / SoC / tire pressure over the range, its
// route on the map, its fault codes, and its raw telemetry as a table with a streamed CSV export.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, post, query, subscribe, type Sample, type Telemetry, type Twin } from '../api.ts';
import { Chart } from '../chart.tsx';
import { DataState, RangePicker } from '../components.tsx';
import { fmtAge, fmtTime } from '../format.ts';
import { resolveRange, type TimeRange } from '../range.ts';
import { href, type Route } from '../router.ts';
import { useApi } from '../use-api.ts';

const SPEED = 'Vehicle.Speed';
const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';
const LAT = 'Vehicle.CurrentLocation.Latitude';
const LON = 'Vehicle.CurrentLocation.Longitude';
const TIRES = ['Row1.Wheel.Left', 'Row1.Wheel.Right', 'Row2.Wheel.Left', 'Row2.Wheel.Right'].map((w) => `Vehicle.Chassis.Axle.${w}.Tire.Pressure`);
const TIRE_LABELS = ['front left', 'front right', 'rear left', 'rear right'];
const TIRE_COLOURS = ['#58a6ff', '#3fb950', '#d29922', '#a371f7'];
const RAW_PAGE = 100;
/** ~300 points per chart whatever the range, never finer than 10 s. */
const bucketMs = (range: TimeRange) => Math.max(10_000, Math.ceil((range.to - range.from) / 300 / 10_000) * 10_000);

export function VehiclePage({ route, vin }: { route: Route; vin: string }) {
  const range = resolveRange(route.params, Date.now(), '1h');
  const twin = useLiveTwin(vin);
  const interval = bucketMs(range);
  const buckets = useApi<Telemetry>(`/api/v1/vehicles/${vin}/telemetry${query({ from: range.from, to: range.to, interval: `${interval / 1000}s`, signals: [SPEED, SOC, LAT, LON, ...TIRES].join(',') })}`);
  return (
    <section aria-labelledby="view-title">
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href(['vehicles'])}>Vehicles</a> › <span aria-current="page" class="mono">{vin}</span>
      </nav>
      <header class="view-head">
        <h1 id="view-title">
          {twin.data ? `${twin.data.brand} ${twin.data.model}` : 'Vehicle'} <span class="mono vin">{vin}</span>
        </h1>
        <RangePicker route={route} range={range} />
      </header>
      <DataState label="the vehicle" {...twin}>
        {(t) => <TwinPanel twin={t} />}
      </DataState>
      <DataState label="charts" {...buckets}>
        {(b) => <VehicleCharts telemetry={b} />}
      </DataState>
      {buckets.data ? <RouteMap telemetry={buckets.data} /> : null}
      <RawTelemetry vin={vin} range={range} />
    </section>
  );
}

/** The twin, then its live updates (`/api/v1/live?vin=`) merged in as they come. */
function useLiveTwin(vin: string) {
  const loaded = useApi<Twin>(`/api/v1/vehicles/${vin}`);
  const [live, setLive] = useState<Twin>();
  useEffect(() => setLive(loaded.data), [loaded.data]);
  useEffect(() => {
    if (!loaded.data) return;
    const abort = new AbortController();
    void subscribe(
      `/api/v1/live${query({ vin })}`,
      (event, data) => {
        if (event !== 'twin') return;
        const update = JSON.parse(data) as { lastSeen: number; signals: Twin['signals'] };
        setLive((t) => (t ? { ...t, online: true, lastSeen: update.lastSeen, signals: { ...t.signals, ...update.signals } } : t));
      },
      abort.signal,
    );
    return () => abort.abort();
  }, [vin, loaded.data]);
  return { ...loaded, data: live ?? loaded.data };
}

function TwinPanel({ twin }: { twin: Twin }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const dtc = twin.signals['Vehicle.OBD.DTCList']?.value;
  const mil = twin.signals['Vehicle.OBD.Status.MILStatus']?.value === true;
  const codes = typeof dtc === 'string' && dtc ? dtc.split(',').map((c) => c.trim()) : [];
  return (
    <div class="twin-layout">
      <section class="panel" aria-labelledby="status-title">
        <h2 id="status-title">Status</h2>
        <dl>
          <dt>Online</dt>
          <dd data-field="online">{twin.online ? 'yes' : 'no'}</dd>
          <dt>Last seen</dt>
          <dd data-field="lastSeen">
            {fmtTime(twin.lastSeen)} ({fmtAge(twin.lastSeen, now)})
          </dd>
          <dt>Fault codes</dt>
          <dd data-field="faults">
            {codes.length === 0 && !mil ? (
              'none'
            ) : (
              <>
                {mil ? <span class="badge state-fault">MIL on</span> : null}{' '}
                {codes.map((c) => (
                  <code key={c} class="dtc">
                    {c}
                  </code>
                ))}
              </>
            )}
          </dd>
        </dl>
      </section>
      <section class="panel signals" aria-labelledby="signals-title">
        <h2 id="signals-title">Signals</h2>
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Signal</th>
              <th scope="col" class="num">
                Value
              </th>
              <th scope="col">Age</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(twin.signals)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([path, s]) => (
                <tr key={path} data-signal={path}>
                  <th scope="row">
                    <code>{path.replace(/^Vehicle\./, '')}</code>
                  </th>
                  <td class="num" data-value>
                    {typeof s.value === 'number' ? String(Math.round(s.value * 1000) / 1000) : String(s.value) || '—'}
                  </td>
                  <td>{fmtAge(s.ts, now)}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

const avgOf = (bucket: Record<string, unknown>, path: string): number | null => {
  const agg = bucket[path] as { avg: number } | undefined;
  return agg ? agg.avg : null;
};

function VehicleCharts({ telemetry }: { telemetry: Telemetry }) {
  const buckets = telemetry.buckets ?? [];
  if (buckets.length === 0) return <p class="state">No telemetry in this range.</p>;
  const x = buckets.map((b) => b.t);
  return (
    <div class="charts">
      <Chart title="Speed" unit="km/h" x={x} series={[{ label: 'speed', color: '#58a6ff', values: buckets.map((b) => avgOf(b, SPEED)) }]} />
      <Chart title="State of charge" unit="%" x={x} series={[{ label: 'SoC', color: '#3fb950', values: buckets.map((b) => avgOf(b, SOC)) }]} />
      <Chart title="Tire pressure" unit="kPa" x={x} series={TIRES.map((path, i) => ({ label: TIRE_LABELS[i]!, color: TIRE_COLOURS[i]!, values: buckets.map((b) => avgOf(b, path)) }))} />
    </div>
  );
}

function RouteMap({ telemetry }: { telemetry: Telemetry }) {
  const box = useRef<HTMLDivElement>(null);
  const points = (telemetry.buckets ?? []).flatMap((b) => {
    const lat = avgOf(b, LAT);
    const lon = avgOf(b, LON);
    return lat === null || lon === null ? [] : [[lat, lon] as [number, number]];
  });
  useEffect(() => {
    if (!box.current || points.length === 0) return;
    let destroy: (() => void) | undefined;
    let cancelled = false;
    void import('../map/fleet-map.ts').then(({ createFleetMap }) => {
      if (cancelled || !box.current) return;
      const map = createFleetMap(box.current);
      map.showRoute(points);
      box.current.dataset.drawn = 'true';
      destroy = map.destroy;
    });
    return () => {
      cancelled = true;
      destroy?.();
    };
  }, [telemetry]);
  return (
    <section class="panel" aria-labelledby="route-title">
      <h2 id="route-title">Route</h2>
      {points.length === 0 ? <p>No position in this range.</p> : <div ref={box} class="route-map" role="region" aria-label={`Route over ${points.length} positions`} />}
    </section>
  );
}

function RawTelemetry({ vin, range }: { vin: string; range: TimeRange }) {
  const [cursor, setCursor] = useState<string | undefined>();
  useEffect(() => setCursor(undefined), [vin, range.from, range.to]);
  const page = useApi<Telemetry>(`/api/v1/vehicles/${vin}/telemetry${query({ from: range.from, to: range.to, limit: RAW_PAGE, cursor })}`);
  const [exporting, setExporting] = useState<string>();
  const download = async () => {
    setExporting('Preparing the export…');
    try {
      // a one-time link: the browser downloads (and streams to disk) without the token in any URL
      const link = await post<{ url: string }>(`/api/v1/vehicles/${vin}/telemetry/exports${query({ from: range.from, to: range.to })}`);
      const a = document.createElement('a');
      a.href = link.url;
      a.download = '';
      a.rel = 'noopener';
      document.body.append(a);
      a.click();
      a.remove();
      setExporting('Download started.');
    } catch (err) {
      setExporting(`Export failed: ${err instanceof ApiError ? err.message : String(err)}`);
    }
  };
  const samples: Sample[] = page.data?.samples ?? [];
  const columns = [...new Set(samples.flatMap((s) => Object.keys(s.signals)))].sort();
  return (
    <section class="panel" aria-labelledby="raw-title">
      <header class="view-head">
        <h2 id="raw-title">Raw telemetry</h2>
        <div>
          <button type="button" onClick={() => void download()}>
            Export CSV
          </button>{' '}
          <span role="status">{exporting}</span>
        </div>
      </header>
      <DataState label="raw telemetry" {...page}>
        {(p) => (
          <>
            <div class="table-wrap raw">
              <table class="compact">
                <caption>
                  {samples.length} sample{samples.length === 1 ? '' : 's'} from {fmtTime(cursor ? Number(atob(cursor.replace(/-/g, '+').replace(/_/g, '/'))) : p.from)}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col" class="num">
                      Seq
                    </th>
                    {columns.map((c) => (
                      <th key={c} scope="col" class="num">
                        {c.replace(/^Vehicle\./, '')}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {samples.map((s) => (
                    <tr key={s.ts}>
                      <th scope="row">{fmtTime(s.ts)}</th>
                      <td class="num">{s.seq}</td>
                      {columns.map((c) => (
                        <td key={c} class="num">
                          {s.signals[c] === undefined ? '' : String(s.signals[c])}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <nav class="pager" aria-label="Raw telemetry pages">
              <button type="button" disabled={cursor === undefined} onClick={() => setCursor(undefined)}>
                First page
              </button>
              <button type="button" disabled={!p.nextCursor} onClick={() => setCursor(p.nextCursor ?? undefined)}>
                Next {RAW_PAGE} ›
              </button>
            </nav>
          </>
        )}
      </DataState>
    </section>
  );
}
