// Every InfluxQL query of the provisioned Grafana dashboards, panel and variable alike, with its variables,
// `$timeFilter` and `$__interval` substituted as Grafana substitutes them, runs against a real influxd filled through
// the real ingest path (registered vehicles publishing over MQTT, stored and rolled up by the service): without an
// error, and with data. The fleet, brand and model panels give the cockpit API's numbers for the same window.
import t from 'tap';
import type { Dashboard } from '@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { builtinsFor, grafanaInfluxQuery, interpolate, loadDashboards, queriesOf, variablesOf, type InfluxSeries, type PanelQuery, type QueryContext } from '../helpers/grafana.ts';
import { influxdOrSkip, startInfluxd } from '../../tooling/influxd.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin, type Api } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import type { TapTest } from '../helpers/tap.ts';

const MINUTE = 60_000;
const DB = 'vehicle_cloud';
type Signals = Record<string, number | boolean | string>;

// "Nord.Star (EU)" has regex metacharacters, and "NordXStar (EU)" would match it if the dots were not escaped.
const FLEET = [
  { brand: 'Aurora', model: 'A1', count: 3, ice: false },
  { brand: 'Aurora', model: 'A2', count: 2, ice: false },
  { brand: 'Borealis', model: 'B1', count: 2, ice: false },
  { brand: 'Nord.Star (EU)', model: 'N.1+', count: 1, ice: true },
  { brand: 'NordXStar (EU)', model: 'N.1+', count: 1, ice: false },
];

/** 40 samples, one every 45 s, carrying the signals the dashboards read; an ICE car has fuel instead of a battery. */
function samplesOf(index: number, ice: boolean, base: number): Array<{ ts: number; seq: number; signals: Signals }> {
  return Array.from({ length: 40 }, (_, k) => {
    const signals: Signals = {
      'Vehicle.TraveledDistance': 1000 * (index + 1) + k * 0.4,
      'Vehicle.Cabin.HVAC.AmbientAirTemperature': 20 + (k % 3),
      'Vehicle.Exterior.AirTemperature': 5 + index,
      'Vehicle.OBD.DTCList': k === 7 ? 'P0420' : '',
      'Vehicle.OBD.Status.MILStatus': k === 20,
    };
    // not every sample carries every KPI signal: a ratio's denominator is its own count, not the sample count
    if (k % 5 !== 4) signals['Vehicle.Speed'] = (index * 7 + k * 13) % 120;
    if (k % 4 !== 1) signals['Vehicle.ADAS.ActiveAutonomyLevel'] = (index + Math.floor(k / 3)) % 6;
    for (const wheel of ['Row1.Wheel.Left', 'Row1.Wheel.Right', 'Row2.Wheel.Left', 'Row2.Wheel.Right']) signals[`Vehicle.Chassis.Axle.${wheel}.Tire.Pressure`] = 230 + index + (k % 5);
    if (ice) signals['Vehicle.Powertrain.FuelSystem.RelativeLevel'] = 80 - k;
    else {
      if (k % 3 !== 0) signals['Vehicle.Powertrain.TractionBattery.StateOfCharge.Current'] = 90 - k - index;
      signals['Vehicle.Powertrain.TractionBattery.Charging.IsCharging'] = index % 3 === 0 && k >= 30;
    }
    return { ts: base + k * 45_000 + index * 7, seq: k, signals };
  });
}

interface CockpitBody {
  source: string;
  kpis: Record<string, number | null>;
  series: Array<{ t: number } & Record<string, number | null>>;
}

const ROLLUP_KPIS = ['samples', 'avgSpeed', 'avgSoc', 'adasShare'] as const;

/** The value of a one-number (stat) answer, or null when InfluxDB returned no row. */
function single(series: InfluxSeries[]): number | null {
  const value = series[0]?.values[0]?.[1];
  return typeof value === 'number' ? value : null;
}

/** Bucket start -> value of a time-grouped answer (one series), nulls left out like the API's empty buckets. */
function buckets(series: InfluxSeries | undefined): Map<number, number> {
  return new Map((series?.values ?? []).filter((row) => typeof row[1] === 'number').map((row) => [row[0] as number, row[1] as number]));
}

const near = (a: number | null | undefined, b: number | null | undefined): boolean => (a === null || a === undefined ? b === null || b === undefined : typeof b === 'number' && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));

const influxd = influxdOrSkip();

t.test('the Grafana dashboards over InfluxDB, filled through MQTT ingestion', { skip: influxd.skip }, async (t) => {
  const influx = await startInfluxd(influxd.binary);
  t.teardown(influx.stop);
  const service = await startLocalService({ influxUrl: influx.url, influxDb: DB });
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, service.adminToken.token);

  const vehicles: Array<{ vin: string; brand: string; model: string; ice: boolean }> = [];
  for (const f of FLEET) {
    const vins = Array.from({ length: f.count }, (_, i) => testVin(vehicles.length + i, 'GRF'));
    await registerVehicles(api, vins, f.brand, f.model);
    for (const vin of vins) vehicles.push({ vin, brand: f.brand, model: f.model, ice: f.ice });
  }
  const publisher = await connectMqtt(service.mqttUrl, { clientId: 'grafana-influx', username: 'admin', password: service.adminToken.token });
  t.teardown(() => publisher.endAsync());
  // buckets of 5 minutes from a 5-minute boundary: Grafana's GROUP BY time() buckets start at the epoch, the API's at `from`
  const from = Math.floor(Date.now() / (5 * MINUTE)) * 5 * MINUTE - 45 * MINUTE;
  const to = from + 45 * MINUTE;
  for (const [index, v] of vehicles.entries()) {
    const samples = samplesOf(index, v.ice, from);
    await publishQos1(publisher, telemetryTopic(v.vin), JSON.stringify({ vin: v.vin, samples: samples.slice(0, 25) }));
    for (const s of samples.slice(25)) await publishQos1(publisher, telemetryTopic(v.vin), JSON.stringify({ vin: v.vin, ...s }));
  }
  t.ok(await service.writer.drained(), 'every sample stored and rolled up');

  const dashboards = loadDashboards();
  const byUid = new Map([...dashboards.values()].map((d) => [d.uid, d]));
  // one point a pixel of a wide panel: 45 min / 1000 px rounds to 2 s, so rollup panels get their 1 m minimum
  const wide: QueryContext = { from, to, maxDataPoints: 1000 };

  /** Resolve the dashboard's variables in order, running each query variable; `choose` picks among its values. */
  async function variableValues(t: TapTest, dashboard: Dashboard, choose: Record<string, string>): Promise<Record<string, string>> {
    const variables = variablesOf(dashboard);
    const values: Record<string, string> = {};
    for (const variable of variables.filter((v) => v.type === 'query' && v.datasource?.type === 'influxdb')) {
      const query = interpolate(String(variable.query), variables, values);
      const series = await grafanaInfluxQuery(influx.url, DB, query);
      const options = series.flatMap((s) => s.values.map((row) => String(row[1])));
      t.ok(options.length > 0, `${dashboard.uid} variable ${variable.name} has values: ${query}`);
      const wanted = choose[variable.name] ?? options[0]!;
      t.ok(options.includes(wanted), `${dashboard.uid} variable ${variable.name} offers ${wanted} (${options.join(', ')})`);
      values[variable.name] = wanted;
    }
    return values;
  }

  /** Run every InfluxDB query of a dashboard; each must answer, with at least one value unless `empty` expects none. */
  async function runAll(t: TapTest, dashboard: Dashboard, values: Record<string, string>, context: QueryContext, empty: (q: PanelQuery) => boolean = () => false): Promise<Map<PanelQuery, InfluxSeries[]>> {
    const answers = new Map<PanelQuery, InfluxSeries[]>();
    for (const q of queriesOf(dashboard).filter((q) => q.datasource.type === 'influxdb')) {
      const text = interpolate(q.text, variablesOf(dashboard), values, builtinsFor(q.panel, context));
      const series = await grafanaInfluxQuery(influx.url, DB, text);
      const cells = series.flatMap((s) => s.values.flatMap((row) => row.slice(1))).filter((x) => x !== null);
      if (empty(q)) t.equal(cells.length, 0, `${q.where} has no data`, { query: text });
      else t.ok(cells.length > 0, `${q.where} has data`, { query: text });
      answers.set(q, series);
    }
    return answers;
  }

  t.test('every panel and variable query answers with data', async (t) => {
    const choices: Record<string, Record<string, string>> = {
      'vc-brand': { brand: 'Aurora' },
      'vc-model': { brand: 'Aurora', model: 'A2' },
      'vc-vehicle': { brand: 'Aurora', model: 'A1', vin: vehicles[0]!.vin },
    };
    let ran = 0;
    for (const dashboard of dashboards.values()) {
      if (!queriesOf(dashboard).some((q) => q.datasource.type === 'influxdb')) continue;
      const values = await variableValues(t, dashboard, choices[dashboard.uid ?? ''] ?? {});
      ran += (await runAll(t, dashboard, values, wide)).size;
    }
    t.ok(ran >= 40, `${ran} InfluxQL panel queries ran`);
  });

  t.test('a chained variable narrows: models of one brand, VINs of one model', async (t) => {
    const model = await variableValues(t, byUid.get('vc-model')!, { brand: 'Nord.Star (EU)' });
    t.equal(model.model, 'N.1+');
    const vehicle = byUid.get('vc-vehicle')!;
    const values = await variableValues(t, vehicle, { brand: 'Borealis', model: 'B1' });
    const vin = variablesOf(vehicle).find((v) => v.name === 'vin')!;
    const vins = (await grafanaInfluxQuery(influx.url, DB, interpolate(String(vin.query), variablesOf(vehicle), values))).flatMap((s) => s.values.map((r) => r[1]));
    t.same(vins.sort(), vehicles.filter((v) => v.model === 'B1').map((v) => v.vin).sort(), 'exactly the VINs of Borealis B1');
  });

  /** Stat panels against the API's KPIs, and per-bucket charts (one series, or one per tag value) against its series. */
  async function sameAsApi(t: TapTest, uid: string, values: Record<string, string>, api: Api, cockpitOf: (tag?: string) => string, tag?: 'brand' | 'model') {
    const dashboard = byUid.get(uid)!;
    const scope = vehicles.filter((v) => (values.brand === undefined || v.brand === values.brand) && (values.model === undefined || v.model === values.model));
    // a scope of ICE cars only has no state of charge: the API says null, the SoC queries answer nothing
    const noSoc = scope.every((v) => v.ice);
    const interval = 5 * MINUTE;
    // 45 min on a 9-point-wide panel: $__interval is 5m, the API's interval
    const narrow: QueryContext = { from, to, maxDataPoints: 9 };
    const answers = await runAll(t, dashboard, values, narrow, (q) => noSoc && q.text.includes('"soc_count" > 0'));
    const cockpit = async (path: string): Promise<CockpitBody> => {
      const r = await api.get<CockpitBody>(`${path}?from=${from}&to=${to}&interval=${interval}ms`);
      t.equal(r.status, 200, path);
      t.equal(r.body.source, 'rollup', `${path} answered from the rollups`);
      return r.body;
    };
    const whole = await cockpit(cockpitOf());
    let compared = 0;
    for (const [q, series] of answers) {
      const kpi = ROLLUP_KPIS.find((k) => q.text.includes(`AS "${k}"`));
      if (!kpi) continue;
      if (q.panel.type === 'stat') {
        t.ok(near(single(series), whole.kpis[kpi]), `${q.where}: ${single(series)} is the API's ${kpi} ${whole.kpis[kpi]}`);
        compared++;
      } else if (q.panel.type === 'timeseries' && !/GROUP BY time\(\$__interval\), "/.test(q.text)) {
        // samples are charted with fill(0) where the API leaves an empty bucket out
        const charted = [...buckets(series[0])].filter(([, v]) => kpi !== 'samples' || v > 0).map(([at]) => at);
        t.same(charted, whole.series.filter((b) => b[kpi] !== null).map((b) => b.t), `${q.where}: the API's buckets`);
        for (const b of whole.series) t.ok(near(buckets(series[0]).get(b.t), b[kpi]), `${q.where} at ${new Date(b.t).toISOString()}: the API's ${kpi} ${b[kpi]}`);
        compared++;
      } else if (q.panel.type === 'timeseries' && tag) {
        const names = [...new Set(scope.filter((v) => kpi !== 'avgSoc' || !v.ice).map((v) => v[tag]))];
        t.same(series.map((s) => s.tags?.[tag]).sort(), names.sort(), `${q.where}: a series per ${tag}`);
        for (const s of series) {
          const per = await cockpit(cockpitOf(s.tags?.[tag]));
          for (const b of per.series) t.ok(near(buckets(s).get(b.t), b[kpi]), `${q.where} ${s.tags?.[tag]} at ${new Date(b.t).toISOString()}: the API's ${kpi}`);
        }
        compared++;
      } else if (q.panel.type === 'table' && tag) {
        for (const s of series) {
          const row = s.values[0]!;
          const name = s.tags?.[tag] ?? String(row[s.columns.indexOf(tag)]);
          const per = await cockpit(cockpitOf(name));
          t.ok(near(row[s.columns.indexOf(kpi)] as number, per.kpis[kpi]), `${q.where} ${name}: the API's ${kpi} ${per.kpis[kpi]}`);
        }
        compared++;
      }
    }
    return compared;
  }

  t.test('the brand dashboard gives the brand cockpit numbers: samples, avg speed, avg SoC, ADAS share, per bucket', async (t) => {
    for (const brand of ['Aurora', 'Nord.Star (EU)']) {
      const compared = await sameAsApi(t, 'vc-brand', { brand }, api, (model) => (model ? `/api/v1/brands/${encodeURIComponent(brand)}/models/${encodeURIComponent(model)}/cockpit` : `/api/v1/brands/${encodeURIComponent(brand)}/cockpit`), 'model');
      t.ok(compared >= 12, `${brand}: ${compared} panels compared`);
    }
  });

  t.test('the model dashboard gives the model cockpit numbers', async (t) => {
    const compared = await sameAsApi(t, 'vc-model', { brand: 'Aurora', model: 'A2' }, api, () => '/api/v1/brands/Aurora/models/A2/cockpit');
    t.equal(compared, 8, 'four stats and four charts');
  });

  t.test('the fleet dashboard gives the fleet cockpit numbers, and per brand the brand cockpits', async (t) => {
    const compared = await sameAsApi(t, 'vc-fleet', {}, api, (brand) => (brand ? `/api/v1/brands/${encodeURIComponent(brand)}/cockpit` : '/api/v1/fleet/cockpit'), 'brand');
    t.ok(compared >= 12, `${compared} panels compared`);
  });

  t.test('the vehicle dashboard reads what that vehicle sent', async (t) => {
    const dashboard = byUid.get('vc-vehicle')!;
    const vin = vehicles[1]!.vin;
    const answers = await runAll(t, dashboard, { brand: 'Aurora', model: 'A1', vin }, wide);
    const sent = samplesOf(1, false, from);
    const answer = (type: string, title: string): InfluxSeries[] => [...answers].find(([q]) => q.panel.type === type && q.panel.title === title)?.[1] ?? [];
    t.equal(single(answer('stat', 'Samples')), sent.length, 'samples of the vehicle');
    t.equal(single(answer('stat', 'Odometer')), sent.at(-1)!.signals['Vehicle.TraveledDistance'], 'its last odometer');
    t.ok(near(single(answer('stat', 'Distance in range')), 39 * 0.4), 'distance: odometer spread');
    t.equal(single(answer('stat', 'Speed')), sent.findLast((s) => 'Vehicle.Speed' in s.signals)!.signals['Vehicle.Speed'], 'its last speed');
    const faults = answer('table', 'Faults in range')[0]?.values ?? [];
    t.equal(faults.length, 2, 'a DTC and a MIL sample');
  });
});
