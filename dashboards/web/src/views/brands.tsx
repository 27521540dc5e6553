// Brands and models: one comparison table (a row per brand, expanding to its models, a totals row, every KPI a
// sortable column), a brand page, and a model page that can overlay a second model.
import { useState } from 'preact/hooks';
import type { BrandSummary, Cockpit, Kpis, ModelSummary } from '../api.ts';
import { cockpitPath, DataState, KPI_COLUMNS, KpiTiles, RangePicker, SortableTable, type Column } from '../components.tsx';
import { fmtInt } from '../format.ts';
import { resolveRange, type TimeRange } from '../range.ts';
import { href, setParams, type Route } from '../router.ts';
import { useApi, useApiAll } from '../use-api.ts';
import { CockpitCharts } from './cockpit-charts.tsx';

interface Row {
  name: string;
  link: string;
  online: number;
  kpis: Kpis;
}

const rangeParams = (range: TimeRange): Record<string, string | undefined> =>
  range.key === 'custom' ? { range: 'custom', from: String(range.from), to: String(range.to) } : { range: range.key };

function kpiColumns(first: Column<Row>): Column<Row>[] {
  return [
    first,
    ...KPI_COLUMNS.slice(0, 1).map((c) => ({ key: c.key, label: c.label, value: (r: Row) => r.kpis[c.key], render: (r: Row) => c.format(r.kpis), numeric: true })),
    { key: 'online', label: 'Online', value: (r: Row) => r.online, render: (r: Row) => fmtInt(r.online), numeric: true },
    ...KPI_COLUMNS.slice(1).map((c) => ({ key: c.key, label: c.label, value: (r: Row) => r.kpis[c.key], render: (r: Row) => c.format(r.kpis), numeric: true })),
  ];
}

function KpiCells({ row }: { row: Row }) {
  return (
    <>
      {kpiColumns({ key: 'name', label: '', value: (r) => r.name }).slice(1).map((c) => (
        <td key={c.key} class="num">
          {c.render!(row)}
        </td>
      ))}
    </>
  );
}

export function BrandsTable({ route }: { route: Route }) {
  const range = resolveRange(route.params);
  const brands = useApi<{ brands: BrandSummary[] }>('/api/v1/brands');
  const list = brands.data?.brands;
  const cockpits = useApiAll<Cockpit>(list ? [cockpitPath({}, range), ...list.map((b) => cockpitPath({ brand: b.brand }, range))] : null);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const toggle = (brand: string) => setOpen((s) => (s.has(brand) ? new Set([...s].filter((b) => b !== brand)) : new Set([...s, brand])));
  const params = rangeParams(range);
  return (
    <section aria-labelledby="view-title">
      <header class="view-head">
        <h1 id="view-title">Brands and models</h1>
        <RangePicker route={route} range={range} />
      </header>
      <DataState label="brands" data={list && cockpits.data ? cockpits.data : undefined} error={brands.error ?? cockpits.error} loading={brands.loading || cockpits.loading}>
        {([fleet, ...perBrand]) => {
          const rows: Row[] = list!.map((b, i) => ({ name: b.brand, link: href(['brands', b.brand], params), online: b.online, kpis: perBrand[i]!.kpis }));
          const totals: Row = { name: 'All brands', link: href([], params), online: list!.reduce((s, b) => s + b.online, 0), kpis: fleet!.kpis };
          const first: Column<Row> = {
            key: 'name',
            label: 'Brand',
            value: (r) => r.name,
            render: (r) => (
              <span class="brand-cell">
                <button type="button" class="expand" aria-expanded={open.has(r.name)} aria-label={`${open.has(r.name) ? 'Hide' : 'Show'} models of ${r.name}`} onClick={() => toggle(r.name)}>
                  {open.has(r.name) ? '−' : '+'}
                </button>
                <a href={r.link}>{r.name}</a>
              </span>
            ),
          };
          return (
            <SortableTable
              caption={`KPIs per brand, ${range.key === 'custom' ? 'custom range' : `last ${range.key}`}; + shows a brand's models`}
              columns={kpiColumns(first)}
              rows={rows}
              rowKey={(r) => r.name}
              expand={(r) => (open.has(r.name) ? <ModelRows brand={r.name} range={range} /> : null)}
              footer={
                <tr class="totals" data-row="totals">
                  <th scope="row">{totals.name}</th>
                  <KpiCells row={totals} />
                </tr>
              }
            />
          );
        }}
      </DataState>
    </section>
  );
}

function ModelRows({ brand, range }: { brand: string; range: TimeRange }) {
  const models = useApi<{ models: ModelSummary[] }>(`/api/v1/brands/${encodeURIComponent(brand)}/models`);
  const list = models.data?.models;
  const cockpits = useApiAll<Cockpit>(list ? list.map((m) => cockpitPath({ brand, model: m.model }, range)) : null);
  if (!list || !cockpits.data) {
    const error = models.error ?? cockpits.error;
    return (
      <tr class="sub">
        <td colSpan={12} role={error ? 'alert' : 'status'}>
          {error ? `Could not load the models of ${brand}: ${error.message}` : `Loading the models of ${brand}…`}
        </td>
      </tr>
    );
  }
  return (
    <>
      {list.map((m, i) => (
        <tr key={m.model} class="sub" data-row={`${brand}/${m.model}`}>
          <th scope="row">
            <a href={href(['brands', brand, 'models', m.model], rangeParams(range))}>{m.model}</a>
          </th>
          <KpiCells row={{ name: m.model, link: '', online: m.online, kpis: cockpits.data![i]!.kpis }} />
        </tr>
      ))}
    </>
  );
}

export function BrandPage({ route, brand }: { route: Route; brand: string }) {
  const range = resolveRange(route.params);
  const cockpit = useApi<Cockpit>(cockpitPath({ brand }, range));
  const models = useApi<{ models: ModelSummary[] }>(`/api/v1/brands/${encodeURIComponent(brand)}/models`);
  const list = models.data?.models;
  const modelCockpits = useApiAll<Cockpit>(list ? list.map((m) => cockpitPath({ brand, model: m.model }, range)) : null);
  const params = rangeParams(range);
  return (
    <section aria-labelledby="view-title">
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href(['brands'], params)}>Brands</a> › <span aria-current="page">{brand}</span>
      </nav>
      <header class="view-head">
        <h1 id="view-title">{brand}</h1>
        <RangePicker route={route} range={range} />
      </header>
      <p class="links">
        <a href={href(['vehicles'], { brand })}>Vehicles of {brand}</a> · <a href={href(['map'], { brand })}>{brand} on the map</a>
      </p>
      <DataState label={`the cockpit of ${brand}`} {...cockpit}>
        {(c) => (
          <>
            <KpiTiles kpis={c.kpis} online={list?.reduce((s, m) => s + m.online, 0)} />
            <CockpitCharts cockpits={[{ label: brand, cockpit: c }]} />
          </>
        )}
      </DataState>
      <DataState label="models" data={list && modelCockpits.data ? modelCockpits.data : undefined} error={models.error ?? modelCockpits.error} loading={modelCockpits.loading}>
        {(perModel) => (
          <SortableTable
            caption={`Models of ${brand}`}
            columns={kpiColumns({ key: 'name', label: 'Model', value: (r) => r.name, render: (r) => <a href={r.link}>{r.name}</a> })}
            rows={list!.map((m, i) => ({ name: m.model, link: href(['brands', brand, 'models', m.model], params), online: m.online, kpis: perModel[i]!.kpis }))}
            rowKey={(r) => r.name}
          />
        )}
      </DataState>
    </section>
  );
}

export function ModelPage({ route, brand, model }: { route: Route; brand: string; model: string }) {
  const range = resolveRange(route.params);
  const compare = route.params.get('compare') ?? '';
  const [otherBrand, otherModel] = compare.includes('/') ? [compare.slice(0, compare.indexOf('/')), compare.slice(compare.indexOf('/') + 1)] : [undefined, undefined];
  const paths = [cockpitPath({ brand, model }, range), ...(otherBrand && otherModel ? [cockpitPath({ brand: otherBrand, model: otherModel }, range)] : [])];
  const cockpits = useApiAll<Cockpit>(paths);
  const params = rangeParams(range);
  return (
    <section aria-labelledby="view-title">
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href={href(['brands'], params)}>Brands</a> › <a href={href(['brands', brand], params)}>{brand}</a> › <span aria-current="page">{model}</span>
      </nav>
      <header class="view-head">
        <h1 id="view-title">
          {brand} {model}
        </h1>
        <RangePicker route={route} range={range} />
      </header>
      <p class="links">
        <a href={href(['vehicles'], { brand, model })}>Vehicles of this model</a> · <a href={href(['map'], { brand })}>{brand} on the map</a>
      </p>
      <CompareWith route={route} current={`${brand}/${model}`} compare={compare} />
      <DataState label={`the cockpit of ${brand} ${model}`} {...cockpits}>
        {([mine, other]) => (
          <>
            <KpiTiles kpis={mine!.kpis} />
            <CockpitCharts cockpits={[{ label: `${brand} ${model}`, cockpit: mine! }, ...(other ? [{ label: `${otherBrand} ${otherModel}`, cockpit: other }] : [])]} />
            {other ? (
              <table class="compact" aria-label="Model comparison">
                <thead>
                  <tr>
                    <th scope="col">KPI</th>
                    <th scope="col" class="num">
                      {brand} {model}
                    </th>
                    <th scope="col" class="num">
                      {otherBrand} {otherModel}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {KPI_COLUMNS.map((c) => (
                    <tr key={c.key}>
                      <th scope="row">{c.label}</th>
                      <td class="num">{c.format(mine!.kpis)}</td>
                      <td class="num">{c.format(other.kpis)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </>
        )}
      </DataState>
    </section>
  );
}

/** A model picker: every model of every brand the token may see. */
function CompareWith({ route, current, compare }: { route: Route; current: string; compare: string }) {
  const brands = useApi<{ brands: BrandSummary[] }>('/api/v1/brands');
  const models = useApiAll<{ models: ModelSummary[] }>(brands.data ? brands.data.brands.map((b) => `/api/v1/brands/${encodeURIComponent(b.brand)}/models`) : null);
  const options = brands.data && models.data ? brands.data.brands.flatMap((b, i) => models.data![i]!.models.map((m) => `${b.brand}/${m.model}`)).filter((o) => o !== current) : [];
  return (
    <div class="compare">
      <label for="compare">Compare with</label>
      <select id="compare" value={compare} onChange={(e) => setParams(route, { compare: e.currentTarget.value || undefined })}>
        <option value="">(no other model)</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o.replace('/', ' ')}
          </option>
        ))}
      </select>
    </div>
  );
}
