// Faults: vehicles reporting a fault now, per model the vehicles with a fault now and in the range, and for the
// admin the recent dead letters by reason.
import type { DeadLetters, Faults, Me } from '../api.ts';
import { DataState, RangePicker, SortableTable } from '../components.tsx';
import { fmtAge, fmtInt, fmtTime } from '../format.ts';
import { resolveRange } from '../range.ts';
import { href, type Route } from '../router.ts';
import { useApi } from '../use-api.ts';

export function FaultsView({ route, me }: { route: Route; me: Me | undefined }) {
  const range = resolveRange(route.params);
  const faults = useApi<Faults>(`/api/v1/faults?from=${range.from}&to=${range.to}`, 30_000);
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h1 id="view-title">Faults</h1>
        <RangePicker route={route} range={range} />
      </header>
      <DataState label="faults" {...faults}>
        {(f) => (
          <>
            <section class="panel" aria-labelledby="now-title">
              <h2 id="now-title">Reporting a fault now ({f.now.length})</h2>
              {f.now.length === 0 ? (
                <p>No vehicle reports a fault now.</p>
              ) : (
                <SortableTable
                  caption="Vehicles with the malfunction lamp on or a trouble code"
                  rows={f.now}
                  rowKey={(v) => v.vin}
                  initialSort="vin"
                  columns={[
                    { key: 'vin', label: 'VIN', value: (v) => v.vin, render: (v) => <a class="mono" href={href(['vehicles', v.vin])}>{v.vin}</a> },
                    { key: 'brand', label: 'Brand', value: (v) => v.brand },
                    { key: 'model', label: 'Model', value: (v) => v.model },
                    { key: 'dtc', label: 'Codes', value: (v) => v.dtc, render: (v) => (v.dtc ? v.dtc.split(',').map((c) => <code key={c} class="dtc">{c}</code>) : 'MIL on') },
                    { key: 'lastSeen', label: 'Last seen', value: (v) => v.lastSeen, render: (v) => fmtAge(v.lastSeen) },
                  ]}
                />
              )}
            </section>
            <section class="panel" aria-labelledby="models-title">
              <h2 id="models-title">Per model</h2>
              <SortableTable
                caption={`Vehicles with a fault now and in the range (${fmtTime(f.from)} – ${fmtTime(f.to)})`}
                rows={f.models}
                rowKey={(m) => `${m.brand}/${m.model}`}
                initialSort="brand"
                columns={[
                  { key: 'brand', label: 'Brand', value: (m) => m.brand, render: (m) => <a href={href(['brands', m.brand])}>{m.brand}</a> },
                  { key: 'model', label: 'Model', value: (m) => m.model, render: (m) => <a href={href(['brands', m.brand, 'models', m.model])}>{m.model}</a> },
                  { key: 'vehicles', label: 'Vehicles', value: (m) => m.vehicles, render: (m) => fmtInt(m.vehicles), numeric: true },
                  { key: 'faultsNow', label: 'Faults now', value: (m) => m.faultsNow, render: (m) => fmtInt(m.faultsNow), numeric: true },
                  { key: 'faultsInRange', label: 'Faults in range', value: (m) => m.faultsInRange, render: (m) => fmtInt(m.faultsInRange), numeric: true },
                ]}
              />
            </section>
          </>
        )}
      </DataState>
      {me?.kind === 'admin' ? <DeadLetterPanel /> : null}
    </section>
  );
}

function DeadLetterPanel() {
  const letters = useApi<DeadLetters>('/api/v1/dead-letters?limit=200', 30_000);
  return (
    <section class="panel" aria-labelledby="dead-title">
      <h2 id="dead-title">Recent dead letters</h2>
      <DataState label="dead letters" {...letters}>
        {(d) => {
          const byReason = new Map<string, number>();
          for (const l of d.items) byReason.set(l.reason, (byReason.get(l.reason) ?? 0) + 1);
          return d.items.length === 0 ? (
            <p>No rejected message.</p>
          ) : (
            <>
              <ul class="reasons" aria-label="Dead letters by reason">
                {[...byReason].sort((a, b) => b[1] - a[1]).map(([reason, n]) => (
                  <li key={reason}>
                    <code>{reason}</code> {n}
                  </li>
                ))}
              </ul>
              <div class="table-wrap">
                <table class="compact">
                  <caption>The last {d.items.length} rejected messages or samples</caption>
                  <thead>
                    <tr>
                      <th scope="col">Received</th>
                      <th scope="col">Reason</th>
                      <th scope="col">Detail</th>
                      <th scope="col">Topic</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.items.slice(0, 50).map((l, i) => (
                      <tr key={i}>
                        <th scope="row">{fmtTime(l.receivedAt)}</th>
                        <td>
                          <code>{l.reason}</code>
                        </td>
                        <td>{l.detail}</td>
                        <td class="mono">{l.topic}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          );
        }}
      </DataState>
    </section>
  );
}
