// Fleet overview: KPI tiles and charts over the range, and for the admin how ingestion is doing.
import type { BrandSummary, Cockpit, IngestHealth, Me } from '../api.ts';
import { Chart } from '../chart.tsx';
import { cockpitPath, DataState, KpiTiles, RangePicker } from '../components.tsx';
import { fmt1, fmtBytes, fmtInt } from '../format.ts';
import { resolveRange } from '../range.ts';
import type { Route } from '../router.ts';
import { useApi } from '../use-api.ts';
import { CockpitCharts } from './cockpit-charts.tsx';

const REFRESH_MS = 30_000;

export function Overview({ route, me }: { route: Route; me: Me | undefined }) {
  const range = resolveRange(route.params);
  const cockpit = useApi<Cockpit>(cockpitPath({}, range), range.key === 'custom' ? undefined : REFRESH_MS);
  const brands = useApi<{ brands: BrandSummary[] }>('/api/v1/brands', REFRESH_MS);
  const online = brands.data?.brands.reduce((sum, b) => sum + b.online, 0);
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h1 id="view-title">Fleet overview</h1>
        <RangePicker route={route} range={range} />
      </header>
      <DataState label="fleet KPIs" {...cockpit}>
        {(c) => (
          <div aria-busy={cockpit.loading}>
            <KpiTiles kpis={c.kpis} online={online} />
            <CockpitCharts cockpits={[{ label: 'Fleet', cockpit: c }]} />
          </div>
        )}
      </DataState>
      {me?.kind === 'admin' ? <IngestionHealth /> : null}
    </section>
  );
}

function IngestionHealth() {
  const health = useApi<IngestHealth>('/api/v1/ingest/health', 5_000);
  return (
    <section class="panel" aria-labelledby="ingest-title">
      <h2 id="ingest-title">Ingestion health</h2>
      <DataState label="ingestion health" {...health}>
        {(h) => (
          <>
            <ul class="tiles" aria-label="Ingestion figures">
              <li class="tile" data-kpi="messagesPerSecond">
                <span class="tile-label">Messages/s</span>
                <span class="tile-value">{fmt1(h.messagesPerSecond)}</span>
                <span class="tile-hint">MQTT and HTTP</span>
              </li>
              <li class="tile">
                <span class="tile-label">Samples/s</span>
                <span class="tile-value">{fmt1(h.samplesPerSecond)}</span>
                <span class="tile-hint">accepted</span>
              </li>
              <li class="tile">
                <span class="tile-label">Rejects/s</span>
                <span class="tile-value">{fmt1(h.rejectsPerSecond)}</span>
                <span class="tile-hint">dead letters</span>
              </li>
              <li class="tile">
                <span class="tile-label">Store lag</span>
                <span class="tile-value">{fmt1(h.storeLagSeconds)} s</span>
                <span class="tile-hint">oldest unconfirmed</span>
              </li>
              <li class="tile">
                <span class="tile-label">Spool</span>
                <span class="tile-value">{fmtBytes(h.spoolPendingBytes)}</span>
                <span class="tile-hint">not yet stored</span>
              </li>
            </ul>
            {h.history.length > 1 ? (
              <div class="charts">
                <Chart title="Messages per second" x={h.history.map((p) => p.t)} series={[{ label: 'messages/s', values: h.history.map((p) => p.messagesPerSecond), color: '#58a6ff' }, { label: 'rejects/s', values: h.history.map((p) => p.rejectsPerSecond), color: '#f85149' }]} />
                <Chart title="Store lag" unit="s" x={h.history.map((p) => p.t)} series={[{ label: 'lag', values: h.history.map((p) => p.storeLagSeconds), color: '#d29922' }]} />
              </div>
            ) : null}
            <table class="compact">
              <caption>Rejects by reason since the service started</caption>
              <thead>
                <tr>
                  <th scope="col">Reason</th>
                  <th scope="col" class="num">Total</th>
                  <th scope="col" class="num">Per second</th>
                </tr>
              </thead>
              <tbody>
                {h.rejects.length === 0 ? (
                  <tr>
                    <td colSpan={3}>No rejects.</td>
                  </tr>
                ) : (
                  h.rejects.map((r) => (
                    <tr key={r.reason}>
                      <th scope="row">
                        <code>{r.reason}</code>
                      </th>
                      <td class="num">{fmtInt(r.total)}</td>
                      <td class="num">{fmt1(r.perSecond)}</td>
                    </tr>
                  ))
                )}
              </tbody>
            </table>
          </>
        )}
      </DataState>
    </section>
  );
}
