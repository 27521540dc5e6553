// The provisioned Grafana dashboards are valid for Grafana and consistent with their provisioning: checked against
// Grafana's own dashboard and panel-option schemas (JSON Schemas generated from @grafana/schema, vendored in
// dashboards/grafana/schema/), and linted for what a schema cannot see (ids, grid, datasources, variables). The
// queries themselves run against real servers in tests/integration/grafana-*.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import t from 'tap';
import { parse } from 'yaml';
import { buildDashboards } from '../../dashboards/grafana/build/dashboards.ts';
import { dashboardFile, writeDashboards } from '../../dashboards/grafana/build/cli.ts';
import { layout, text } from '../../dashboards/grafana/build/grafana.ts';
import { installedGrafanaSchemaVersion, PANEL_TYPES, readGrafanaSchemas } from '../../dashboards/grafana/schema/index.ts';
import {
  BUILTIN_VARIABLES,
  DASHBOARDS_DIR,
  formatInterval,
  GRAFANA_DIR,
  interpolate,
  loadDashboards,
  panelInterval,
  panelsOf,
  queriesOf,
  referencesIn,
  roundInterval,
  variablesOf,
} from '../helpers/grafana.ts';
import { tempDir } from '../../tooling/system.ts';

const dashboards = loadDashboards();

interface ProvisionedDatasource {
  name: string;
  uid: string;
  type: string;
  url: string;
  access?: string;
  jsonData?: Record<string, unknown>;
}
const datasourceFiles = readdirSync(`${GRAFANA_DIR}provisioning/datasources`);
const datasources: ProvisionedDatasource[] = datasourceFiles.flatMap(
  (f) => (parse(readFileSync(`${GRAFANA_DIR}provisioning/datasources/${f}`, 'utf8')) as { datasources: ProvisionedDatasource[] }).datasources,
);

t.test('the committed dashboard files are exactly what npm run grafana:build writes', async (t) => {
  const built = buildDashboards();
  t.same([...dashboards.keys()], Object.keys(built).sort(), 'one file per built dashboard, no other');
  for (const [name, dashboard] of Object.entries(built)) {
    t.equal(readFileSync(`${DASHBOARDS_DIR}${name}`, 'utf8'), dashboardFile(dashboard), `${name} is up to date (run npm run grafana:build)`);
  }
  const dir = await tempDir('grafana-build');
  t.teardown(dir.remove);
  const written = writeDashboards(new URL(`file://${dir.path}/`));
  t.same(written.map((p) => readFileSync(p, 'utf8')), Object.values(built).map(dashboardFile), 'the build writes one file per dashboard');
});

t.test('the vendored schemas come from the installed @grafana/schema', async (t) => {
  t.equal(readGrafanaSchemas().grafanaSchemaVersion, installedGrafanaSchemaVersion(), 'regenerate with npm run grafana:schema after an upgrade');
});

t.test("every dashboard is valid against Grafana's dashboard schema and every panel against its plugin's options", async (t) => {
  const { schemas } = readGrafanaSchemas();
  const ajv = new Ajv({ allErrors: true });
  const validators = new Map<string, ValidateFunction>(Object.entries(schemas).map(([name, schema]) => [name, ajv.compile(schema)]));
  const check = (name: string, value: unknown, what: string): void => {
    const validate = validators.get(name)!;
    t.ok(validate(value), `${what} is a valid ${name}`, { errors: validate.errors?.slice(0, 5) });
  };
  t.ok(dashboards.size >= 5, 'fleet, brand, model, vehicle and ingestion dashboards');
  for (const [file, dashboard] of dashboards) {
    check('Dashboard', dashboard, file);
    for (const panel of panelsOf(dashboard)) {
      const plugin = PANEL_TYPES[panel.type];
      if (!plugin) {
        t.fail(`${file} panel ${panel.id}: panel type ${panel.type} has no vendored options schema`);
        continue;
      }
      check(plugin.options, panel.options, `${file} panel ${panel.id} options`);
      const custom = panel.fieldConfig?.defaults.custom;
      if (custom !== undefined) {
        if (plugin.custom) check(plugin.custom, custom, `${file} panel ${panel.id} fieldConfig.defaults.custom`);
        else t.fail(`${file} panel ${panel.id}: ${panel.type} has no custom field config`);
      }
    }
  }
  // the check can fail: a misspelt key is refused
  t.notOk(validators.get('Dashboard')!({ schemaVersion: 42, panels: [{ type: 'stat', titel: 'typo' }] }), 'an unknown panel key is refused');
  t.notOk(validators.get('StatOptions')!({ colorMode: 'none' }), 'incomplete stat options are refused');
});

t.test('uids are unique and stable, panel ids unique, and every panel inside the 24-column grid without overlap', async (t) => {
  const uids = [...dashboards.values()].map((d) => d.uid);
  t.equal(new Set(uids).size, uids.length, `unique dashboard uids: ${uids.join(', ')}`);
  for (const uid of uids) t.match(uid, /^[a-zA-Z0-9_-]{1,40}$/, 'a uid Grafana accepts (at most 40 characters)');
  for (const [file, dashboard] of dashboards) {
    const panels = panelsOf(dashboard);
    const ids = panels.map((p) => p.id);
    t.equal(new Set(ids).size, ids.length, `${file}: unique panel ids`);
    t.ok(ids.every((id) => Number.isInteger(id) && id! > 0), `${file}: positive integer ids`);
    for (const [i, p] of panels.entries()) {
      const g = p.gridPos;
      if (!g) {
        t.fail(`${file} panel ${p.id} has no gridPos`);
        continue;
      }
      t.ok(g.x >= 0 && g.y >= 0 && g.w >= 1 && g.h >= 1 && g.x + g.w <= 24, `${file} panel ${p.id} at ${JSON.stringify(g)} is inside the grid`);
      for (const q of panels.slice(i + 1)) {
        const h = q.gridPos!;
        const overlap = g.x < h.x + h.w && h.x < g.x + g.w && g.y < h.y + h.h && h.y < g.y + g.h;
        if (overlap) t.fail(`${file}: panels ${p.id} and ${q.id} overlap`);
      }
    }
  }
  t.throws(() => layout([[[text('a', ''), 16, 2], [text('b', ''), 12, 2]]]), /wider than 24 columns/, 'the layout refuses a row wider than the grid');
});

t.test('every datasource a dashboard names is provisioned, with the type the dashboard expects', async (t) => {
  t.equal(new Set(datasources.map((d) => d.uid)).size, datasources.length, 'unique datasource uids');
  const influx = datasources.find((d) => d.type === 'influxdb');
  t.match(influx?.jsonData, { version: 'InfluxQL', dbName: 'vehicle_cloud' }, 'InfluxDB in InfluxQL mode on the vehicle_cloud database');
  t.ok(datasources.some((d) => d.type === 'prometheus' && typeof d.jsonData?.timeInterval === 'string'), 'Prometheus, with its scrape interval as timeInterval');
  for (const [file, dashboard] of dashboards) {
    const refs = [
      ...panelsOf(dashboard).map((p) => ({ ref: p.datasource, where: `panel ${p.id}` })),
      ...queriesOf(dashboard).map((q) => ({ ref: q.datasource, where: q.where })),
      ...variablesOf(dashboard)
        .filter((v) => v.type === 'query')
        .map((v) => ({ ref: v.datasource, where: `variable ${v.name}` })),
    ];
    for (const { ref, where } of refs) {
      if (ref === undefined) continue;
      const provisioned = datasources.find((d) => d.uid === ref.uid);
      t.ok(provisioned && provisioned.type === ref.type, `${file} ${where}: datasource ${ref.uid} (${ref.type}) is provisioned`);
    }
  }
});

t.test('every $variable a query or link uses is defined before it is used; InfluxQL names its format, PromQL leaves it to the datasource', async (t) => {
  for (const [file, dashboard] of dashboards) {
    const variables = variablesOf(dashboard);
    const names = variables.map((v) => v.name);
    t.equal(new Set(names).size, names.length, `${file}: unique variable names`);
    variables.forEach((variable, index) => {
      if (typeof variable.query !== 'string' || variable.type === 'constant') return;
      for (const ref of referencesIn(variable.query)) {
        t.ok(names.slice(0, index).includes(ref.name), `${file}: variable ${variable.name} uses $${ref.name}, defined before it`);
        t.ok(ref.format === 'raw' || ref.format === 'regex', `${file}: variable ${variable.name} names the format of $${ref.name}`);
      }
    });
    for (const query of queriesOf(dashboard)) {
      t.not(query.text.trim(), '', `${query.where} has a query`);
      for (const ref of referencesIn(query.text)) {
        if (BUILTIN_VARIABLES.has(ref.name)) continue;
        t.ok(names.includes(ref.name), `${query.where}: $${ref.name} is defined`);
        if (query.datasource.type === 'prometheus') t.equal(ref.format, undefined, `${query.where}: $${ref.name} gets the Prometheus datasource's escaping`);
        else t.ok(ref.format === 'raw' || ref.format === 'regex', `${query.where}: $${ref.name} names its format`);
      }
    }
    const links = panelsOf(dashboard)
      .flatMap((p) => p.fieldConfig?.overrides ?? [])
      .flatMap((o) => o.properties.filter((p) => p.id === 'links').flatMap((p) => p.value as Array<{ url: string }>));
    for (const { url } of links) {
      const uid = /^\/d\/([^/]+)\//.exec(url)?.[1];
      t.ok([...dashboards.values()].some((d) => d.uid === uid), `${file}: link ${url} opens a provisioned dashboard`);
      for (const ref of referencesIn(url)) {
        t.ok(BUILTIN_VARIABLES.has(ref.name) || names.includes(ref.name), `${file}: link variable $${ref.name} is defined`);
        if (ref.name !== '__url_time_range') t.equal(ref.format, 'percentencode', `${file}: $${ref.name} is percent-encoded in a URL`);
      }
    }
  }
});

t.test('rollup panels read only the rollups, and only the vehicle dashboard reads raw points', async (t) => {
  for (const [file, dashboard] of dashboards) {
    for (const query of queriesOf(dashboard).filter((q) => q.datasource.type === 'influxdb')) {
      const raw = /"telemetry"/.test(query.text);
      if (dashboard.uid === 'vc-vehicle') t.ok(!raw || /"vin" =~/.test(query.text), `${query.where}: raw points only of the chosen vehicle`);
      else t.notOk(raw, `${query.where} does not read raw points`);
      if (/"cockpit_series"/.test(query.text)) {
        const fields = [...query.text.matchAll(/(\w+)\("(\w+)"\)/g)];
        t.ok(fields.length > 0 && fields.every(([, fn]) => fn === 'sum'), `${query.where}: rollup parts are aggregated with sum()`);
        t.ok(/\$\{rollup_rp:raw\}/.test(query.text), `${query.where}: in the rollup retention policy`);
        if (query.panel.type === 'timeseries') t.equal(query.panel.interval, '1m', `${query.where}: never a bucket finer than the rollup minute`);
      }
    }
    const texts = variablesOf(dashboard).map((v) => String(v.query ?? ''));
    for (const q of texts.filter((x) => /"telemetry"/.test(x))) t.equal(dashboard.uid, 'vc-vehicle', `${file}: a variable over raw points (${q}) only on the vehicle dashboard`);
  }
});

t.test('variables and intervals are substituted as Grafana substitutes them', async (t) => {
  const vars = [
    { name: 'brand', type: 'query' as const },
    { name: 'rp', type: 'constant' as const, query: 'autogen' },
    { name: 'instance', type: 'query' as const, multi: true, includeAll: true, allValue: '.*' },
  ];
  t.equal(interpolate('"brand" =~ /^${brand:regex}$/ FROM "${rp:raw}".x', vars, { brand: 'A.B/C (1)' }), '"brand" =~ /^A\\.B\\/C \\(1\\)$/ FROM "autogen".x');
  t.equal(interpolate('[[brand:raw]] $timeFilter', vars, { brand: 'x' }, { timeFilter: 'time >= 1ms' }), 'x time >= 1ms');
  t.equal(interpolate('${instance:regex}', vars, { instance: ['a:1', 'b.2'] }), '(a:1|b\\.2)');
  t.equal(interpolate('${instance:regex}', vars, { instance: '$__all' }), '.*', 'a custom all value is not escaped');
  t.throws(() => interpolate('$brand', vars, { brand: 'x' }), /name its format/);
  t.equal(interpolate('{instance=~"$instance"}', vars, { instance: ['127.0.0.1:3000'] }, {}, 'promql'), '{instance=~"127\\\\.0\\\\.0\\\\.1:3000"}', 'PromQL: a regex escape inside a string');
  t.equal(interpolate('{x="$brand"}', vars, { brand: "a\\b'c" }, {}, 'promql'), "{x=\"a\\\\b\\\\'c\"}");
  t.throws(() => interpolate('${brand:text}', vars, { brand: 'x' }), /not supported/);
  t.throws(() => interpolate('${brand:regex}', vars, {}), /no value/);
  t.equal(roundInterval(21_600), 20_000);
  t.equal(formatInterval(panelInterval(0, 6 * 3_600_000, 1_000, '1m')), '1m', '6 h on 1000 px is 20 s, raised to the 1 m minimum');
  t.equal(formatInterval(panelInterval(0, 40 * 60_000, 8)), '5m');
  t.equal(formatInterval(panelInterval(0, 7 * 86_400_000, 1_000)), '10m');
  t.equal(formatInterval(500), '500ms');
});
