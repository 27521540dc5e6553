// Small pieces shared by the views: loading and error states, KPI tiles, the range picker, a sortable table.
import { Fragment, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiError, Kpis } from './api.ts';
import { fmt1, fmtInt, fmtPct } from './format.ts';
import { RANGES, toLocalInput, type TimeRange } from './range.ts';
import { setParams, type Route } from './router.ts';

/** Loading, error or the content: every view shows one of the three. */
export function DataState<T>(props: { data: T | undefined; error: ApiError | undefined; loading: boolean; label: string; children: (data: T) => ComponentChildren }) {
  if (props.error && props.data === undefined) {
    return (
      <div class="state error" role="alert">
        Could not load {props.label}: {props.error.message} <code>{props.error.code}</code>
      </div>
    );
  }
  if (props.data === undefined) {
    return (
      <div class="state loading" role="status" aria-live="polite">
        Loading {props.label}…
      </div>
    );
  }
  return <>{props.children(props.data)}</>;
}

/** A value with its unit, or the dash alone when there is no value. */
const withUnit = (text: string, unit: string): string => (text === '–' ? text : `${text} ${unit}`);

export const KPI_COLUMNS: ReadonlyArray<{ key: keyof Kpis; label: string; format: (k: Kpis) => string; hint: string }> = [
  { key: 'vehicles', label: 'Vehicles', format: (k) => fmtInt(k.vehicles), hint: 'registered' },
  { key: 'activeVehicles', label: 'Active', format: (k) => fmtInt(k.activeVehicles), hint: 'sent data in the range' },
  { key: 'samples', label: 'Samples', format: (k) => fmtInt(k.samples), hint: 'in the range' },
  { key: 'avgSpeed', label: 'Avg speed', format: (k) => withUnit(fmt1(k.avgSpeed), 'km/h'), hint: 'mean over samples' },
  { key: 'distanceKm', label: 'Distance', format: (k) => `${fmtInt(k.distanceKm)} km`, hint: 'odometer progress' },
  { key: 'avgSoc', label: 'Avg SoC', format: (k) => withUnit(fmt1(k.avgSoc), '%'), hint: 'battery state of charge' },
  { key: 'charging', label: 'Charging', format: (k) => fmtInt(k.charging), hint: 'vehicles that charged' },
  { key: 'adasShare', label: 'ADAS share', format: (k) => fmtPct(k.adasShare), hint: 'samples at SAE level 2+' },
  { key: 'faults', label: 'Faults', format: (k) => fmtInt(k.faults), hint: 'vehicles with a fault' },
];

export function KpiTiles({ kpis, online }: { kpis: Kpis; online?: number }) {
  return (
    <ul class="tiles" aria-label="Key figures">
      {KPI_COLUMNS.slice(0, 2).map((c) => (
        <Tile key={c.key} id={c.key} label={c.label} value={c.format(kpis)} hint={c.hint} />
      ))}
      {online !== undefined ? <Tile id="online" label="Online now" value={fmtInt(online)} hint="seen in the last minute" /> : null}
      {KPI_COLUMNS.slice(2).map((c) => (
        <Tile key={c.key} id={c.key} label={c.label} value={c.format(kpis)} hint={c.hint} />
      ))}
    </ul>
  );
}

function Tile({ id, label, value, hint }: { id: string; label: string; value: string; hint: string }) {
  return (
    <li class="tile" data-kpi={id}>
      <span class="tile-label">{label}</span>
      <span class="tile-value">{value}</span>
      <span class="tile-hint">{hint}</span>
    </li>
  );
}

export function RangePicker({ route, range }: { route: Route; range: TimeRange }) {
  const [from, setFrom] = useState(toLocalInput(range.from));
  const [to, setTo] = useState(toLocalInput(range.to));
  useEffect(() => {
    setFrom(toLocalInput(range.from));
    setTo(toLocalInput(range.to));
  }, [range.from, range.to]);
  return (
    <div class="range" role="group" aria-label="Time range">
      {(Object.keys(RANGES) as Array<keyof typeof RANGES>).map((key) => (
        <button key={key} type="button" aria-pressed={range.key === key} onClick={() => setParams(route, { range: key, from: undefined, to: undefined })}>
          {key}
        </button>
      ))}
      <details class="custom-range">
        <summary aria-pressed={range.key === 'custom'}>custom</summary>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const f = Date.parse(from);
            const t = Date.parse(to);
            if (f < t) setParams(route, { range: 'custom', from: String(f), to: String(t) });
            const details = e.currentTarget.closest('details');
            if (details) details.open = false;
          }}
        >
          <label>
            From <input type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} required />
          </label>
          <label>
            To <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} required />
          </label>
          <button type="submit">Apply</button>
        </form>
      </details>
    </div>
  );
}

export interface Column<T> {
  key: string;
  label: string;
  value: (row: T) => number | string | null;
  render?: (row: T) => ComponentChildren;
  numeric?: boolean;
}

/** A table whose every column sorts (click or Enter on its header); `aria-sort` tells screen readers. */
export function SortableTable<T>(props: { caption: string; columns: ReadonlyArray<Column<T>>; rows: readonly T[]; rowKey: (row: T) => string; footer?: ComponentChildren; expand?: (row: T) => ComponentChildren; initialSort?: string }) {
  const [sort, setSort] = useState<{ key: string; desc: boolean }>({ key: props.initialSort ?? props.columns[0]!.key, desc: false });
  const column = props.columns.find((c) => c.key === sort.key) ?? props.columns[0]!;
  const rows = [...props.rows].sort((a, b) => {
    const x = column.value(a);
    const y = column.value(b);
    const order = x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1;
    return sort.desc ? -order : order;
  });
  return (
    <div class="table-wrap">
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c.key} scope="col" class={c.numeric ? 'num' : undefined} aria-sort={c.key === sort.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
                <button type="button" onClick={() => setSort({ key: c.key, desc: c.key === sort.key ? !sort.desc : c.numeric === true })}>
                  {c.label}
                  <span aria-hidden="true">{c.key === sort.key ? (sort.desc ? ' ▼' : ' ▲') : ''}</span>
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <Fragment key={props.rowKey(row)}>
              <tr data-row={props.rowKey(row)}>
                {props.columns.map((c, i) =>
                  i === 0 ? (
                    <th key={c.key} scope="row">
                      {c.render ? c.render(row) : c.value(row)}
                    </th>
                  ) : (
                    <td key={c.key} class={c.numeric ? 'num' : undefined}>
                      {c.render ? c.render(row) : c.value(row)}
                    </td>
                  ),
                )}
              </tr>
              {props.expand?.(row)}
            </Fragment>
          ))}
        </tbody>
        {props.footer ? <tfoot>{props.footer}</tfoot> : null}
      </table>
    </div>
  );
}

export const cockpitPath = (scope: { brand?: string; model?: string }, range: TimeRange): string => {
  const base = scope.model !== undefined && scope.brand !== undefined
    ? `/api/v1/brands/${encodeURIComponent(scope.brand)}/models/${encodeURIComponent(scope.model)}/cockpit`
    : scope.brand !== undefined
      ? `/api/v1/brands/${encodeURIComponent(scope.brand)}/cockpit`
      : '/api/v1/fleet/cockpit';
  return `${base}?from=${range.from}&to=${range.to}`;
};
