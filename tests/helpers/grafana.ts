// The provisioned Grafana dashboards as tests see them (the committed JSON files Grafana reads), and what Grafana does
// to a query before it reaches the database, so that tests can run the very text Grafana would send:
//   - template variables: `$name`, `${name}`, `${name:format}`, `[[name]]` (Grafana's variable syntax), with the
//     `raw` and `regex` formats (regex: every value escaped with @grafana/data's escapeRegex, several as `(a|b)`), a
//     custom "All" value inserted as it is, unformatted (TemplateSrv), and in PromQL without a format the Prometheus
//     datasource's own escaping for a value inside a double-quoted regex (interpolateQueryExpr);
//   - `$__interval`: (to - from) / maxDataPoints rounded by rangeutil.roundInterval, at least the panel's min interval
//     (or the datasource's timeInterval), written as Go's gtime.FormatInterval writes it (`1m`, `5m`, `20s`);
//   - `$timeFilter` (InfluxQL): `time >= <from>ms and time <= <to>ms`, as the InfluxDB backend renders it;
//   - `$__rate_interval` (PromQL): max($__interval + scrape interval, 4 * scrape interval).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Dashboard, Panel, VariableModel } from '@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen';

export const GRAFANA_DIR = fileURLToPath(new URL('../../dashboards/grafana/', import.meta.url));
export const DASHBOARDS_DIR = `${GRAFANA_DIR}dashboards/`;

/** The committed dashboard files, by file name. */
export function loadDashboards(): Map<string, Dashboard> {
  const files = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')).sort();
  return new Map(files.map((f) => [f, JSON.parse(readFileSync(`${DASHBOARDS_DIR}${f}`, 'utf8')) as Dashboard]));
}

/** Every panel, those inside rows included. */
export function panelsOf(dashboard: Dashboard): Panel[] {
  const out: Panel[] = [];
  for (const p of dashboard.panels ?? []) {
    out.push(p as Panel);
    if (p.type === 'row' && 'panels' in p) out.push(...(p.panels as Panel[]));
  }
  return out;
}

export interface PanelQuery {
  dashboard: string;
  panel: Panel;
  refId: string;
  datasource: { type?: string; uid?: string };
  /** the InfluxQL `query` or the PromQL `expr` */
  text: string;
  resultFormat?: string;
  instant?: boolean;
  where: string;
}

export function queriesOf(dashboard: Dashboard): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const panel of panelsOf(dashboard)) {
    for (const target of (panel.targets ?? []) as Array<Record<string, unknown>>) {
      const text = typeof target.query === 'string' ? target.query : typeof target.expr === 'string' ? target.expr : '';
      out.push({
        dashboard: dashboard.uid ?? '',
        panel,
        refId: String(target.refId),
        datasource: (target.datasource ?? panel.datasource ?? {}) as PanelQuery['datasource'],
        text,
        resultFormat: typeof target.resultFormat === 'string' ? target.resultFormat : undefined,
        instant: target.instant === true,
        where: `${dashboard.uid} panel ${panel.id} "${panel.title}" ${String(target.refId)}`,
      });
    }
  }
  return out;
}

export function variablesOf(dashboard: Dashboard): VariableModel[] {
  return dashboard.templating?.list ?? [];
}

/** Grafana's variable syntax (TemplateSrv's variableRegex): $name | [[name:format]] | ${name.fieldPath:format}. */
export const VARIABLE_REFERENCE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}/g;

export interface VariableReference {
  name: string;
  format?: string;
}

export function referencesIn(text: string): VariableReference[] {
  return [...text.matchAll(VARIABLE_REFERENCE)].map((m) => ({ name: (m[1] ?? m[2] ?? m[4])!, format: m[3] ?? m[6] }));
}

/** Names Grafana itself provides in queries and data links. */
export const BUILTIN_VARIABLES = new Set(['timeFilter', '__interval', '__interval_ms', '__rate_interval', '__range', '__from', '__to', '__value', '__url_time_range', '__data', '__field', '__series']);

/** @grafana/data's escapeRegex (text/string.ts). */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

export const ALL = '$__all';

/** The Prometheus datasource's escaping of a single value (prometheusRegularEscape, classic behaviour). */
export function prometheusRegularEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");
}

/** The Prometheus datasource's escaping of a value matched as a regex inside a PromQL string (prometheusSpecialRegexEscape). */
export function prometheusSpecialRegexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]+?.()|]/g, '\\\\$&');
}

/**
 * Substitute variables the way Grafana does. An InfluxQL reference names its format (raw or regex); a PromQL one names
 * none and gets the Prometheus datasource's escaping (`language: 'promql'`).
 */
export function interpolate(
  text: string,
  variables: readonly VariableModel[],
  values: Readonly<Record<string, string | readonly string[]>>,
  builtins: Readonly<Record<string, string>> = {},
  language: 'influxql' | 'promql' = 'influxql',
): string {
  return text.replace(VARIABLE_REFERENCE, (whole, a?: string, b?: string, bFormat?: string, c?: string, _path?: string, cFormat?: string) => {
    const name = (a ?? b ?? c)!;
    const format = bFormat ?? cFormat;
    if (name in builtins) return builtins[name]!;
    const variable = variables.find((v) => v.name === name);
    if (!variable) return whole;
    const value = variable.type === 'constant' ? String(variable.query) : values[name];
    if (value === undefined) throw new Error(`no value for $${name}`);
    if (value === ALL || (Array.isArray(value) && value.includes(ALL))) {
      // a custom all value is inserted as it is, unformatted
      if (variable.allValue !== undefined) return variable.allValue;
      throw new Error(`$${name}: "All" without a custom all value is not supported here`);
    }
    switch (format) {
      case 'raw':
        return Array.isArray(value) ? value.join(',') : String(value);
      case 'regex': {
        const escaped = (Array.isArray(value) ? value : [value]).map(escapeRegex);
        return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
      }
      case undefined:
        if (language === 'promql') {
          if (!variable.multi && !variable.includeAll) return prometheusRegularEscape(String(value));
          const escaped = (Array.isArray(value) ? value : [value]).map(prometheusSpecialRegexEscape);
          return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
        }
        throw new Error(`$${name} in "${text}": name its format (\${${name}:raw} or \${${name}:regex})`);
      default:
        throw new Error(`$${name} in "${text}": format ${format} is not supported here`);
    }
  });
}

/** @grafana/data rangeutil.roundInterval. */
export function roundInterval(ms: number): number {
  const ladder: Array<[number, number]> = [
    [10, 1], [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1_500, 1_000], [3_500, 2_000], [7_500, 5_000],
    [12_500, 10_000], [17_500, 15_000], [25_000, 20_000], [45_000, 30_000], [90_000, 60_000], [210_000, 120_000], [450_000, 300_000],
    [750_000, 600_000], [1_050_000, 900_000], [1_500_000, 1_200_000], [2_700_000, 1_800_000], [5_400_000, 3_600_000], [9_000_000, 7_200_000],
    [16_200_000, 10_800_000], [32_400_000, 21_600_000], [86_400_000, 43_200_000], [604_800_000, 86_400_000], [1_814_400_000, 604_800_000], [3_628_800_000, 2_592_000_000],
  ];
  for (const [below, rounded] of ladder) if (ms < below) return rounded;
  return 31_536_000_000;
}

/** A Grafana interval string (`15s`, `1m`, `2h`, `1d`, `500ms`) in ms. */
export function intervalMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text);
  if (!m) throw new Error(`not an interval: ${text}`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

/** Go's gtime.FormatInterval, which writes `$__interval` for the backend. */
export function formatInterval(ms: number): string {
  for (const [unit, size] of [['y', 31_536_000_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]] as const) {
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return '1ms';
}

/** `$__interval` of a panel for a time range: rangeutil.calculateInterval with the panel's (or datasource's) min interval. */
export function panelInterval(from: number, to: number, maxDataPoints: number, minInterval?: string): number {
  const low = minInterval ? intervalMs(minInterval) : 1;
  return Math.max(roundInterval((to - from) / maxDataPoints), low);
}

export interface QueryContext {
  from: number;
  to: number;
  /** Grafana asks for about one point per pixel of the panel's width */
  maxDataPoints: number;
  /** the datasource's timeInterval (Prometheus: its scrape interval) */
  datasourceInterval?: string;
}

/** The built-in values Grafana gives a panel query in this context. */
export function builtinsFor(panel: Panel, context: QueryContext): Record<string, string> {
  const interval = panelInterval(context.from, context.to, context.maxDataPoints, panel.interval ?? context.datasourceInterval);
  const scrape = intervalMs(context.datasourceInterval ?? '15s');
  return {
    timeFilter: `time >= ${context.from}ms and time <= ${context.to}ms`,
    __interval: formatInterval(interval),
    __interval_ms: String(interval),
    __rate_interval: formatInterval(Math.max(interval + scrape, 4 * scrape)),
  };
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** Send one InfluxQL text as Grafana's InfluxDB datasource does (POST /query, epoch ms) and return its series; an error answer throws. */
export async function grafanaInfluxQuery(url: string, db: string, query: string): Promise<InfluxSeries[]> {
  const response = await fetch(`${url}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ db, q: query, epoch: 'ms' }).toString(),
  });
  const body = (await response.json()) as { error?: string; results?: Array<{ error?: string; series?: InfluxSeries[] }> };
  const error = body.error ?? body.results?.find((r) => r.error)?.error;
  if (!response.ok || error) throw new Error(`InfluxQL ${response.status}: ${error ?? 'no answer'} in ${query}`);
  return body.results?.flatMap((r) => r.series ?? []) ?? [];
}
