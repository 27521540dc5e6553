// Vehicles: search by VIN, status filters with counts, sortable columns, pages. Everything is in the deep link.
import { useEffect, useState } from 'preact/hooks';
import { query, type StatusFilter, type VehicleStatusList } from '../api.ts';
import { DataState } from '../components.tsx';
import { fmt1, fmtAge } from '../format.ts';
import { href, setParams, type Route } from '../router.ts';
import { useApi } from '../use-api.ts';
import { StateBadge } from './state-badge.tsx';

const PAGE = 50;
const FILTERS: ReadonlyArray<{ key: StatusFilter | ''; label: string; count: 'all' | StatusFilter }> = [
  { key: '', label: 'All', count: 'all' },
  { key: 'online', label: 'Online', count: 'online' },
  { key: 'offline', label: 'Offline', count: 'offline' },
  { key: 'charging', label: 'Charging', count: 'charging' },
  { key: 'fault', label: 'Fault', count: 'fault' },
];
const SORTS = [
  { key: 'vin', label: 'VIN' },
  { key: 'brand', label: 'Brand' },
  { key: 'model', label: 'Model' },
  { key: 'speed', label: 'Speed' },
  { key: 'soc', label: 'SoC' },
  { key: 'lastSeen', label: 'Last seen' },
] as const;

export function Vehicles({ route }: { route: Route }) {
  const p = route.params;
  const status = p.get('status') ?? '';
  const sort = p.get('sort') ?? 'vin';
  const order = p.get('order') === 'desc' ? 'desc' : 'asc';
  const page = Math.max(1, Number(p.get('page') ?? '1') || 1);
  const q = p.get('q') ?? '';
  const [search, setSearch] = useState(q);
  useEffect(() => setSearch(q), [q]);
  const list = useApi<VehicleStatusList>(`/api/v1/fleet/vehicles${query({ q, status, sort, order, limit: PAGE, offset: (page - 1) * PAGE, brand: p.get('brand'), model: p.get('model') })}`, 10_000);
  const pages = list.data ? Math.max(1, Math.ceil(list.data.total / PAGE)) : 1;
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h1 id="view-title">Vehicles</h1>
        <form
          role="search"
          class="search"
          onSubmit={(e) => {
            e.preventDefault();
            setParams(route, { q: search.trim().toUpperCase() || undefined, page: undefined });
          }}
        >
          <label for="vin-search">Search by VIN</label>
          <input id="vin-search" type="search" value={search} maxLength={17} autocomplete="off" spellcheck={false} onInput={(e) => setSearch(e.currentTarget.value)} />
          <button type="submit">Search</button>
        </form>
      </header>
      {p.get('brand') ? (
        <p class="scope">
          Showing {p.get('brand')} {p.get('model') ?? ''} only.{' '}
          <button type="button" onClick={() => setParams(route, { brand: undefined, model: undefined, page: undefined })}>
            Show all brands
          </button>
        </p>
      ) : null}
      <div class="filters" role="group" aria-label="Status filter">
        {FILTERS.map((f) => (
          <button key={f.count} type="button" data-filter={f.count} aria-pressed={status === f.key} onClick={() => setParams(route, { status: f.key || undefined, page: undefined })}>
            {f.label} <span class="count">{list.data ? list.data.counts[f.count] : '…'}</span>
          </button>
        ))}
      </div>
      <DataState label="vehicles" {...list}>
        {(l) => (
          <>
            <div class="table-wrap">
              <table>
                <caption>
                  {l.total} vehicle{l.total === 1 ? '' : 's'}
                  {q ? ` matching “${q}”` : ''}
                  {status ? `, ${status}` : ''}
                </caption>
                <thead>
                  <tr>
                    {SORTS.slice(0, 3).map((s) => (
                      <SortHeader key={s.key} route={route} sortKey={s.key} label={s.label} sort={sort} order={order} />
                    ))}
                    <th scope="col">State</th>
                    {SORTS.slice(3).map((s) => (
                      <SortHeader key={s.key} route={route} sortKey={s.key} label={s.label} sort={sort} order={order} numeric={s.key !== 'lastSeen'} />
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {l.items.length === 0 ? (
                    <tr>
                      <td colSpan={7}>No vehicle matches.</td>
                    </tr>
                  ) : (
                    l.items.map((v) => (
                      <tr key={v.vin} data-row={v.vin}>
                        <th scope="row">
                          <a href={href(['vehicles', v.vin])} class="mono">
                            {v.vin}
                          </a>
                        </th>
                        <td>{v.brand}</td>
                        <td>{v.model}</td>
                        <td>
                          <StateBadge state={v.state} />
                          {v.fault && v.dtc ? <span class="dtc"> {v.dtc}</span> : null}
                        </td>
                        <td class="num">{v.speed === null ? '–' : `${fmt1(v.speed)} km/h`}</td>
                        <td class="num">{v.soc === null ? '–' : `${fmt1(v.soc)} %`}</td>
                        <td>{fmtAge(v.lastSeen)}</td>
                      </tr>
                    ))
                  )}
                </tbody>
              </table>
            </div>
            <nav class="pager" aria-label="Pages">
              <button type="button" disabled={page <= 1} onClick={() => setParams(route, { page: String(page - 1) }, true)}>
                ‹ Previous
              </button>
              <span>
                Page {page} of {pages}
              </span>
              <button type="button" disabled={page >= pages} onClick={() => setParams(route, { page: String(page + 1) }, true)}>
                Next ›
              </button>
            </nav>
          </>
        )}
      </DataState>
    </section>
  );
}

function SortHeader({ route, sortKey, label, sort, order, numeric }: { route: Route; sortKey: string; label: string; sort: string; order: string; numeric?: boolean }) {
  const active = sort === sortKey;
  return (
    <th scope="col" class={numeric ? 'num' : undefined} aria-sort={active ? (order === 'desc' ? 'descending' : 'ascending') : 'none'}>
      <button type="button" onClick={() => setParams(route, { sort: sortKey, order: active && order === 'asc' ? 'desc' : 'asc', page: undefined })}>
        {label}
        <span aria-hidden="true">{active ? (order === 'desc' ? ' ▼' : ' ▲') : ''}</span>
      </button>
    </th>
  );
}
