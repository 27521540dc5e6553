// Small builders for Grafana's dashboard JSON model (the classic model that file provisioning reads), typed with
// @grafana/schema so that `npm run typecheck` already holds the dashboards to Grafana's types; the JSON Schema check
// in tests/unit/grafana-dashboards.test.ts then covers the panel options, which the dashboard type leaves open.
import type { Dashboard, DashboardLink, DataTransformerConfig, FieldConfigSource, Panel, VariableModel } from '@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen';

export type { Dashboard, Panel, VariableModel };

/** The datasources dashboards/grafana/provisioning/datasources/ provisions, by uid. */
export const INFLUX = { type: 'influxdb', uid: 'vc-influxdb' } as const;
export const PROMETHEUS = { type: 'prometheus', uid: 'vc-prometheus' } as const;
export type Datasource = typeof INFLUX | typeof PROMETHEUS;

/** The dashboards link to each other through this tag. */
export const TAG = 'vehicle-cloud';

/** The schema version of the dashboard model written (Grafana 13 writes 42). */
export const SCHEMA_VERSION = 42;

export interface InfluxTarget extends Record<string, unknown> {
  refId: string;
  datasource: typeof INFLUX;
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table';
  alias?: string;
}

export interface PrometheusTarget extends Record<string, unknown> {
  refId: string;
  datasource: typeof PROMETHEUS;
  expr: string;
  legendFormat: string;
  range: boolean;
  instant: boolean;
  editorMode: 'code';
}

export type Target = InfluxTarget | PrometheusTarget;

/** An InfluxQL query as written (raw mode: Grafana substitutes variables, `$timeFilter` and `$__interval`). */
export function influx(query: string, options: { table?: boolean; alias?: string } = {}): Omit<InfluxTarget, 'refId'> {
  return {
    datasource: INFLUX,
    query,
    rawQuery: true,
    resultFormat: options.table ? 'table' : 'time_series',
    ...(options.alias ? { alias: options.alias } : {}),
  };
}

/** A PromQL query; `instant` for a single value (stat panels), else a range query. */
export function prometheus(expr: string, legendFormat = '__auto', instant = false): Omit<PrometheusTarget, 'refId'> {
  return { datasource: PROMETHEUS, expr, legendFormat, range: !instant, instant, editorMode: 'code' };
}

interface PanelSpec {
  title: string;
  description?: string;
  targets: ReadonlyArray<Omit<Target, 'refId'>>;
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  /** the smallest `$__interval` Grafana may pick (the rollups are per minute) */
  interval?: string;
  transformations?: DataTransformerConfig[];
  overrides?: FieldConfigSource['overrides'];
}

/** A panel without its place: `layout` gives it an id and a grid position. */
export type UnplacedPanel = Omit<Panel, 'id' | 'gridPos'>;

function panel(type: string, spec: PanelSpec, options: Record<string, unknown>, custom?: Record<string, unknown>): UnplacedPanel {
  const datasource = spec.targets[0]?.datasource;
  const defaults: FieldConfigSource['defaults'] = {};
  if (spec.unit !== undefined) defaults.unit = spec.unit;
  if (spec.decimals !== undefined) defaults.decimals = spec.decimals;
  if (spec.min !== undefined) defaults.min = spec.min;
  if (spec.max !== undefined) defaults.max = spec.max;
  if (custom) defaults.custom = custom;
  return {
    type,
    title: spec.title,
    ...(spec.description ? { description: spec.description } : {}),
    ...(datasource ? { datasource } : {}),
    ...(spec.interval ? { interval: spec.interval } : {}),
    targets: spec.targets.map((target, i) => ({ refId: String.fromCharCode(65 + i), ...target })),
    fieldConfig: { defaults, overrides: spec.overrides ?? [] },
    options,
    ...(spec.transformations ? { transformations: spec.transformations } : {}),
  };
}

/** One number over the dashboard's time range. */
export function stat(spec: PanelSpec & { graph?: boolean }): UnplacedPanel {
  return panel('stat', spec, {
    colorMode: 'none',
    graphMode: spec.graph ? 'area' : 'none',
    justifyMode: 'auto',
    orientation: 'auto',
    percentChangeColorMode: 'standard',
    reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    showPercentChange: false,
    textMode: 'auto',
    wideLayout: true,
  });
}

export function timeseries(spec: PanelSpec & { bars?: boolean; legendCalcs?: string[] }): UnplacedPanel {
  return panel(
    'timeseries',
    spec,
    {
      legend: { calcs: spec.legendCalcs ?? [], displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    { drawStyle: spec.bars ? 'bars' : 'line', fillOpacity: spec.bars ? 60 : 10, lineWidth: 1, showPoints: 'never', spanNulls: false },
  );
}

export function table(spec: PanelSpec): UnplacedPanel {
  return panel('table', spec, { cellHeight: 'sm', frameIndex: 0, showHeader: true });
}

export function text(title: string, markdown: string): UnplacedPanel {
  return { type: 'text', title, fieldConfig: { defaults: {}, overrides: [] }, options: { mode: 'markdown', content: markdown } };
}

/** Hide the time column of a table (an aggregate over the whole range has one at the range start). */
export const WITHOUT_TIME: DataTransformerConfig[] = [{ id: 'organize', options: { excludeByName: { Time: true } } }];

/** Rows of [panel, width, height]: ids in order and grid positions row after row, 24 columns wide. */
export function layout(rows: ReadonlyArray<ReadonlyArray<readonly [UnplacedPanel, number, number]>>): Panel[] {
  const panels: Panel[] = [];
  let y = 0;
  for (const row of rows) {
    let x = 0;
    let height = 0;
    for (const [p, w, h] of row) {
      if (x + w > 24) throw new Error(`row at y=${y} is wider than 24 columns (${p.title})`);
      panels.push({ ...p, id: panels.length + 1, gridPos: { h, w, x, y } });
      x += w;
      height = Math.max(height, h);
    }
    y += height;
  }
  return panels;
}

/** A hidden, fixed value (a deployment detail such as a retention policy name). */
export function constant(name: string, value: string, description: string): VariableModel {
  return { name, type: 'constant', description, hide: 2, query: value, skipUrlSync: true };
}

/** A variable whose values come from a query, refreshed when the dashboard loads. */
export function queryVariable(name: string, label: string, datasource: Datasource, query: string): VariableModel {
  return { name, label, type: 'query', datasource, query, refresh: 1, sort: 1, includeAll: false, multi: false };
}

export function dashboard(spec: {
  uid: string;
  title: string;
  description: string;
  panels: Panel[];
  variables: VariableModel[];
  time?: string;
  refresh?: string;
}): Dashboard {
  const links: DashboardLink[] = [
    { title: 'vehicle-cloud', type: 'dashboards', tags: [TAG], asDropdown: true, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false, tooltip: '', url: '' },
  ];
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: [TAG],
    editable: false,
    graphTooltip: 1,
    schemaVersion: SCHEMA_VERSION,
    time: { from: spec.time ?? 'now-6h', to: 'now' },
    timezone: 'browser',
    refresh: spec.refresh ?? '30s',
    links,
    templating: { list: spec.variables },
    annotations: { list: [] },
    panels: spec.panels,
  };
}
