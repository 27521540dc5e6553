// The provisioned Grafana dashboards: fleet, brand, model and vehicle over InfluxDB (InfluxQL), ingestion health over
// Prometheus. The fleet, brand and model panels read only the rollup measurement `cockpit_series` (sums per brand,
// model and minute, several parts a minute, so every panel aggregates with sum()), which keeps them fast on a day of
// 2,000 vehicles; only the vehicle dashboard reads raw `telemetry` points, of one vehicle. Measurements and fields are
// documented in docs/grafana.md. `npm run grafana:build` writes them to dashboards/grafana/dashboards/.
import { COCKPIT_SIGNALS } from '../../../services/contract/signals.ts';
import { SERIES_MEASUREMENT } from '../../../services/store/influx-cockpit.ts';
import { TELEMETRY_MEASUREMENT } from '../../../services/store/influx-store.ts';
import {
  constant,
  dashboard,
  influx,
  INFLUX,
  layout,
  prometheus,
  PROMETHEUS,
  queryVariable,
  stat,
  table,
  text,
  timeseries,
  WITHOUT_TIME,
  type Dashboard,
  type UnplacedPanel,
  type VariableModel,
} from './grafana.ts';

/**
 * The retention policy of the cockpit measurements, as a hidden dashboard constant (`rollup_rp`): the service always
 * writes them to `vc_rollups` (README, Retention). Raw telemetry is read without a policy: InfluxQL then reads the
 * database's default policy, which is where the service writes it (`vc_raw` when VC_INFLUX_RETENTION_RAW is set).
 */
export const RETENTION_POLICIES = { rollups: 'vc_rollups' };

const ROLLUPS = `"\${rollup_rp:raw}".${JSON.stringify(SERIES_MEASUREMENT)}`;
const RAW = JSON.stringify(TELEMETRY_MEASUREMENT);

/** Filters on the dashboard's variables; `:regex` escapes a value the way Grafana does for a regex literal. */
const BY_BRAND = `"brand" =~ /^\${brand:regex}$/`;
const BY_MODEL = `"model" =~ /^\${model:regex}$/`;
const BY_VIN = `"vin" =~ /^\${vin:regex}$/`;

/**
 * The cockpit KPIs InfluxQL can compute from the rollups: sums, and ratios of sums (exact, as the cockpit API's). A
 * ratio reads only parts that counted its signal (`over`): InfluxQL answers 0 for 0 / 0, where the API says null.
 */
export const ROLLUP_KPIS: Readonly<Record<'samples' | 'avgSpeed' | 'avgSoc' | 'adasShare', { title: string; select: string; over?: string; unit: string; decimals: number }>> = {
  samples: { title: 'Samples', select: 'sum("samples")', unit: 'short', decimals: 0 },
  avgSpeed: { title: 'Average speed', select: 'sum("speed_sum") / sum("speed_count")', over: 'speed_count', unit: 'velocitykmh', decimals: 1 },
  avgSoc: { title: 'Average state of charge', select: 'sum("soc_sum") / sum("soc_count")', over: 'soc_count', unit: 'percent', decimals: 1 },
  adasShare: { title: 'ADAS level 2+ share', select: 'sum("adas2") / sum("adas_count")', over: 'adas_count', unit: 'percentunit', decimals: 1 },
};
export type RollupKpi = keyof typeof ROLLUP_KPIS;
const KPI_NAMES = Object.keys(ROLLUP_KPIS) as RollupKpi[];

const DISTINCT_NOTE = `Vehicle counts (registered, active, online, charging, with faults) and distance driven are counts over
distinct vehicles: the rollups Grafana reads hold sums per brand, model and minute, from which InfluxQL cannot count
vehicles. Those KPIs are in the web cockpit served by vehicle-cloud at \`/\` and in its cockpit API
(\`GET /api/v1/fleet/cockpit\`, \`/api/v1/brands/{brand}/cockpit\`, \`/api/v1/brands/{brand}/models/{model}/cockpit\`).`;

function where(filters: readonly string[]): string {
  return [...filters, '$timeFilter'].join(' AND ');
}

/** A KPI over the whole range, or per `$__interval` bucket (optionally one series per tag value). */
function kpiQuery(kpi: RollupKpi, filters: readonly string[], by: { time?: boolean; tag?: 'brand' | 'model' } = {}): string {
  const groups = [...(by.time ? ['time($__interval)'] : []), ...(by.tag ? [`"${by.tag}"`] : [])];
  const group = groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : '';
  const fill = by.time ? (kpi === 'samples' ? ' fill(0)' : ' fill(none)') : '';
  const { select, over } = ROLLUP_KPIS[kpi];
  return `SELECT ${select} AS "${kpi}" FROM ${ROLLUPS} WHERE ${where(over ? [`"${over}" > 0`, ...filters] : filters)}${group}${fill}`;
}

function kpiStats(filters: readonly string[]): Array<readonly [UnplacedPanel, number, number]> {
  return KPI_NAMES.map((kpi) => {
    const { title, unit, decimals } = ROLLUP_KPIS[kpi];
    return [stat({ title, unit, decimals, targets: [influx(kpiQuery(kpi, filters))] }), 6, 4] as const;
  });
}

/** One chart per KPI, per bucket: the whole scope, or one series per brand or model. */
function kpiCharts(filters: readonly string[], tag?: 'brand' | 'model'): Array<Array<readonly [UnplacedPanel, number, number]>> {
  const charts = KPI_NAMES.map((kpi) => {
    const { title, unit, decimals } = ROLLUP_KPIS[kpi];
    const target = influx(kpiQuery(kpi, filters, { time: true, tag }), tag ? { alias: `$tag_${tag}` } : { alias: title });
    return [timeseries({ title: tag ? `${title} by ${tag}` : title, unit, decimals, min: 0, interval: '1m', bars: kpi === 'samples', targets: [target] }), 12, 8] as const;
  });
  return [charts.slice(0, 2), charts.slice(2)];
}

/** A row per brand or model with every rollup KPI over the range (a query each, merged on the name); a click on a name opens its dashboard. */
function breakdownTable(title: string, filters: readonly string[], tag: 'brand' | 'model', link: string) {
  const overrides = [
    { matcher: { id: 'byName', options: tag }, properties: [{ id: 'links', value: [{ title: `Open the ${tag} dashboard`, url: link }] }] },
    ...KPI_NAMES.map((kpi) => ({
      matcher: { id: 'byName', options: kpi },
      properties: [
        { id: 'displayName', value: ROLLUP_KPIS[kpi].title },
        { id: 'unit', value: ROLLUP_KPIS[kpi].unit },
        { id: 'decimals', value: ROLLUP_KPIS[kpi].decimals },
      ],
    })),
  ];
  return table({
    title,
    targets: KPI_NAMES.map((kpi) => influx(kpiQuery(kpi, filters, { tag }), { table: true })),
    transformations: [{ id: 'merge', options: {} }, ...WITHOUT_TIME],
    overrides,
  });
}

const rollupPolicy = (): VariableModel => constant('rollup_rp', RETENTION_POLICIES.rollups, 'Retention policy of the cockpit rollup measurements');
const brandVariable = (measurement: string): VariableModel => queryVariable('brand', 'Brand', INFLUX, `SHOW TAG VALUES FROM ${measurement} WITH KEY = "brand"`);
const modelVariable = (measurement: string): VariableModel => queryVariable('model', 'Model', INFLUX, `SHOW TAG VALUES FROM ${measurement} WITH KEY = "model" WHERE ${BY_BRAND}`);

function fleet(): Dashboard {
  return dashboard({
    uid: 'vc-fleet',
    title: 'vehicle-cloud / Fleet',
    description: 'Every brand: samples, average speed, average state of charge and ADAS share, from the per-minute rollups.',
    variables: [rollupPolicy()],
    panels: layout([
      kpiStats([]),
      ...kpiCharts([], 'brand'),
      [[breakdownTable('Brands over the range', [], 'brand', '/d/vc-brand/?var-brand=${__value.raw:percentencode}&${__url_time_range}'), 24, 7]],
      [[text('Vehicle counts and distance', DISTINCT_NOTE), 24, 4]],
    ]),
  });
}

function brand(): Dashboard {
  return dashboard({
    uid: 'vc-brand',
    title: 'vehicle-cloud / Brand',
    description: "One brand's cockpit from the per-minute rollups: the same numbers as GET /api/v1/brands/{brand}/cockpit.",
    variables: [rollupPolicy(), brandVariable(ROLLUPS)],
    panels: layout([
      kpiStats([BY_BRAND]),
      ...kpiCharts([BY_BRAND]),
      ...kpiCharts([BY_BRAND], 'model'),
      [[breakdownTable('Models over the range', [BY_BRAND], 'model', '/d/vc-model/?var-brand=${brand:percentencode}&var-model=${__value.raw:percentencode}&${__url_time_range}'), 24, 7]],
      [[text('Vehicle counts and distance', DISTINCT_NOTE), 24, 4]],
    ]),
  });
}

function model(): Dashboard {
  return dashboard({
    uid: 'vc-model',
    title: 'vehicle-cloud / Model',
    description: "One model's cockpit from the per-minute rollups: the same numbers as GET /api/v1/brands/{brand}/models/{model}/cockpit.",
    variables: [rollupPolicy(), brandVariable(ROLLUPS), modelVariable(ROLLUPS)],
    panels: layout([kpiStats([BY_BRAND, BY_MODEL]), ...kpiCharts([BY_BRAND, BY_MODEL]), [[text('Vehicle counts and distance', DISTINCT_NOTE), 24, 4]]]),
  });
}

/** A VSS signal as an InfluxQL field of `telemetry`. */
const field = (path: string): string => JSON.stringify(path);
const TIRES = (
  [
    ['Row1.Wheel.Left', 'front left'],
    ['Row1.Wheel.Right', 'front right'],
    ['Row2.Wheel.Left', 'rear left'],
    ['Row2.Wheel.Right', 'rear right'],
  ] as const
).map(([wheel, label]) => [`Vehicle.Chassis.Axle.${wheel}.Tire.Pressure`, label] as const);

function vehicle(): Dashboard {
  const filters = [BY_VIN];
  const last = (title: string, path: string, unit: string, decimals: number) =>
    [stat({ title, unit, decimals, targets: [influx(`SELECT last(${field(path)}) FROM ${RAW} WHERE ${where(filters)}`)] }), 4, 4] as const;
  /** Signals as [path, label], aggregated per `$__interval`. */
  const chart = (title: string, signals: ReadonlyArray<readonly [string, string]>, unit: string, aggregate = 'mean') =>
    timeseries({
      title,
      unit,
      targets: [influx(`SELECT ${signals.map(([path, label]) => `${aggregate}(${field(path)}) AS ${JSON.stringify(label)}`).join(', ')} FROM ${RAW} WHERE ${where(filters)} GROUP BY time($__interval) fill(none)`)],
    });
  return dashboard({
    uid: 'vc-vehicle',
    title: 'vehicle-cloud / Vehicle',
    description: "One vehicle's telemetry (raw points of one VIN): speed, battery, tires, temperatures, ADAS level and faults.",
    variables: [rollupPolicy(), brandVariable(ROLLUPS), modelVariable(ROLLUPS), queryVariable('vin', 'VIN', INFLUX, `SHOW TAG VALUES FROM ${RAW} WITH KEY = "vin" WHERE ${BY_BRAND} AND ${BY_MODEL}`)],
    time: 'now-3h',
    panels: layout([
      [
        [stat({ title: 'Samples', unit: 'short', decimals: 0, targets: [influx(`SELECT count("seq") FROM ${RAW} WHERE ${where(filters)}`)] }), 4, 4],
        last('Speed', COCKPIT_SIGNALS.speed, 'velocitykmh', 0),
        last('State of charge', COCKPIT_SIGNALS.soc, 'percent', 0),
        last('Odometer', COCKPIT_SIGNALS.odometer, 'lengthkm', 0),
        [stat({ title: 'Distance in range', unit: 'lengthkm', decimals: 1, targets: [influx(`SELECT spread(${field(COCKPIT_SIGNALS.odometer)}) FROM ${RAW} WHERE ${where(filters)}`)] }), 4, 4],
        last('ADAS level', COCKPIT_SIGNALS.adasLevel, 'none', 0),
      ],
      [
        [chart('Speed', [[COCKPIT_SIGNALS.speed, 'speed']], 'velocitykmh'), 12, 8],
        [chart('State of charge', [[COCKPIT_SIGNALS.soc, 'state of charge']], 'percent'), 12, 8],
      ],
      [
        [chart('Tire pressure', TIRES, 'pressurekpa'), 12, 8],
        [
          chart('Temperatures', [
            ['Vehicle.Cabin.HVAC.AmbientAirTemperature', 'cabin'],
            ['Vehicle.Exterior.AirTemperature', 'outside'],
          ], 'celsius'),
          12,
          8,
        ],
      ],
      [
        [chart('ADAS level (highest)', [[COCKPIT_SIGNALS.adasLevel, 'SAE level']], 'none', 'max'), 12, 8],
        [
          table({
            title: 'Faults in range',
            targets: [
              influx(
                `SELECT ${field(COCKPIT_SIGNALS.dtc)} AS "DTCs", ${field(COCKPIT_SIGNALS.mil)} AS "MIL" FROM ${RAW} WHERE ${BY_VIN} AND (${field(COCKPIT_SIGNALS.mil)} = true OR ${field(COCKPIT_SIGNALS.dtc)} != '') AND $timeFilter ORDER BY time DESC LIMIT 200`,
                { table: true },
              ),
            ],
          }),
          12,
          8,
        ],
      ],
    ]),
  });
}

/**
 * `instance` narrows to some ingest workers (several share one subscription when scaled out). No format: the Prometheus
 * datasource escapes the values for a regex inside a PromQL string (`:regex` would leave `\.`, an invalid string escape).
 */
const INSTANCE = '{instance=~"$instance"}';
const rate = (metric: string, by?: string): string => `sum${by ? ` by (${by})` : ''} (rate(${metric}${INSTANCE}[$__rate_interval]))`;
const quantiles = (histogram: string) => [0.5, 0.99].map((q) => prometheus(`histogram_quantile(${q}, sum by (le) (rate(${histogram}_bucket${INSTANCE}[$__rate_interval])))`, `p${q * 100}`));

function ingestion(): Dashboard {
  const instance: VariableModel = { ...queryVariable('instance', 'Instance', PROMETHEUS, 'label_values(vc_ingest_samples_accepted_total, instance)'), multi: true, includeAll: true, allValue: '.*' };
  const series = (title: string, unit: string, targets: ReadonlyArray<ReturnType<typeof prometheus>>) => [timeseries({ title, unit, min: 0, targets }), 12, 8] as const;
  return dashboard({
    uid: 'vc-ingestion',
    title: 'vehicle-cloud / Ingestion health',
    description: 'The pipeline itself, from the vc_* metrics every vehicle-cloud process exports at /metrics: ingest rates, rejects, spool, store writes, rollups, event loop.',
    variables: [instance],
    time: 'now-1h',
    refresh: '10s',
    panels: layout([
      [
        [stat({ title: 'Messages / s', unit: 'reqps', decimals: 1, graph: true, targets: [prometheus(rate('vc_ingest_messages_total'), 'messages', true)] }), 6, 4],
        [stat({ title: 'Samples stored / s', unit: 'short', decimals: 1, graph: true, targets: [prometheus(rate('vc_store_samples_written_total'), 'samples', true)] }), 6, 4],
        [stat({ title: 'Spool not yet stored', unit: 'bytes', targets: [prometheus(`sum(vc_spool_pending_bytes${INSTANCE})`, 'pending', true)] }), 6, 4],
        [stat({ title: 'Store lag', unit: 's', decimals: 1, targets: [prometheus(`max(vc_store_lag_seconds${INSTANCE})`, 'lag', true)] }), 6, 4],
      ],
      [
        series('Messages by transport', 'reqps', [prometheus(rate('vc_ingest_messages_total', 'transport'), '{{transport}}')]),
        series('Rejects by reason', 'reqps', [prometheus(rate('vc_ingest_rejects_total', 'reason'), '{{reason}}')]),
      ],
      [
        series('Samples accepted and stored', 'short', [prometheus(rate('vc_ingest_samples_accepted_total'), 'accepted'), prometheus(rate('vc_store_samples_written_total'), 'stored')]),
        series('Store write latency', 's', quantiles('vc_store_write_seconds')),
      ],
      [
        series('Spool not yet stored', 'bytes', [prometheus(`sum(vc_spool_pending_bytes${INSTANCE})`, 'spool pending bytes')]),
        series('Store lag', 's', [prometheus(`max(vc_store_lag_seconds${INSTANCE})`, 'oldest unstored record')]),
      ],
      [
        series('Store rows written by table', 'short', [prometheus(rate('vc_store_rows_written_total', 'table'), '{{table}}')]),
        series('Store bytes written by table', 'Bps', [prometheus(rate('vc_store_bytes_written_total', 'table'), '{{table}}')]),
      ],
      [
        series('Write errors and push-back', 'short', [prometheus(rate('vc_store_write_errors_total'), 'store write errors / s'), prometheus(rate('vc_ingest_backpressure_total'), 'acks held (spool full) / s')]),
        series('Rollup round latency', 's', quantiles('vc_rollup_round_seconds')),
      ],
      [
        series('Rollup backlog', 'short', [prometheus(`sum(vc_rollup_pending_keys${INSTANCE})`, 'pending keys'), prometheus(`sum(vc_rollup_memory_keys${INSTANCE})`, 'vehicle-minutes in memory')]),
        series('Event loop lag', 's', [prometheus(`max(nodejs_eventloop_lag_p99_seconds${INSTANCE})`, 'p99'), prometheus(`max(nodejs_eventloop_lag_mean_seconds${INSTANCE})`, 'mean')]),
      ],
      [
        series('CPU', 'percentunit', [prometheus(`sum by (instance) (rate(process_cpu_seconds_total${INSTANCE}[$__rate_interval]))`, '{{instance}}')]),
        series('Memory (RSS)', 'bytes', [prometheus(`sum by (instance) (process_resident_memory_bytes${INSTANCE})`, '{{instance}}')]),
      ],
      [series('Live clients dropped', 'short', [prometheus(rate('vc_live_clients_dropped_total'), 'dropped / s')])],
    ]),
  });
}

/** Every provisioned dashboard, by file name. */
export function buildDashboards(): Record<string, Dashboard> {
  return { 'fleet.json': fleet(), 'brand.json': brand(), 'model.json': model(), 'vehicle.json': vehicle(), 'ingestion.json': ingestion() };
}
