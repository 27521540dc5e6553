// The Grafana "Ingestion health" dashboard over Prometheus: every metric a panel names is exported by a running
// service's /metrics, and every PromQL query, with `$instance` and `$__rate_interval` substituted as Grafana
// substitutes them, is answered with data by a real Prometheus scraping that service with the deployed
// prometheus.yml (deploy/prometheus/prometheus.yml, which promtool accepts), bearer token file included: the deployed
// service asks for VC_METRICS_TOKEN, so this one does too.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parser } from '@prometheus-io/lezer-promql';
import t from 'tap';
import { parse } from 'yaml';
import { telemetryTopic } from '../../services/contract/telemetry.ts';
import { ALL, builtinsFor, interpolate, loadDashboards, queriesOf, variablesOf, type PanelQuery } from '../helpers/grafana.ts';
import { prometheusMissing, PROMTOOL_BINARY, startPrometheus, type PromResult } from '../../tooling/prometheus.ts';
import { apiClient, connectMqtt, publishQos1, registerVehicles, testVin } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { ROOT, waitFor } from '../../tooling/system.ts';

const PROMETHEUS_YML = `${ROOT}deploy/prometheus/prometheus.yml`;
const SCRAPE = '1s';
const METRICS_TOKEN = 'metrics-token-of-this-test';

interface ScrapeConfig {
  metrics_path?: string;
  authorization?: { type?: string; credentials_file?: string };
  static_configs: Array<{ targets: string[] }>;
}

/** The deployed prometheus.yml with its token file (which only the container has) replaced by one holding `token`. */
function deployedWithToken(token: string): { config: { global?: Record<string, unknown>; scrape_configs: ScrapeConfig[] }; file: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vc-prometheus-yml-'));
  const tokenFile = join(dir, 'metrics-token');
  writeFileSync(tokenFile, `${token}\n`);
  const deployed = parse(readFileSync(PROMETHEUS_YML, 'utf8')) as { global?: Record<string, unknown>; scrape_configs: ScrapeConfig[] };
  const config = { ...deployed, scrape_configs: deployed.scrape_configs.map((c) => ({ ...c, authorization: { ...c.authorization, credentials_file: tokenFile } })) };
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, JSON.stringify(config));
  return { config, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const prometheusQueries = (): PanelQuery[] => [...loadDashboards().values()].flatMap((d) => queriesOf(d).filter((q) => q.datasource.type === 'prometheus'));

/** Metric names a PromQL expression selects (its vector selectors), and whether Prometheus's own grammar parses it. */
function selectedMetrics(expr: string): { names: string[]; parses: boolean } {
  const names: string[] = [];
  let parses = true;
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) parses = false;
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.push(expr.slice(id.from, id.to));
      }
    },
  });
  return { names, parses };
}

/** Series names in Prometheus text, histogram series included. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

const finite = (r: PromResult): boolean => [...(r.values ?? []), ...(r.value ? [r.value] : [])].some(([, v]) => Number.isFinite(Number(v)));

const missing = prometheusMissing();

t.test('the deployed prometheus.yml is valid for promtool and scrapes the service at /metrics with its token', { skip: missing }, async (t) => {
  const config = parse(readFileSync(PROMETHEUS_YML, 'utf8')) as { scrape_configs: ScrapeConfig[] };
  t.same(config.scrape_configs.map((c) => c.metrics_path ?? '/metrics'), ['/metrics']);
  t.same(config.scrape_configs[0]?.static_configs[0]?.targets, ['vehicle-cloud:3000'], 'the compose service, on its API port');
  t.equal(config.scrape_configs[0]?.authorization?.type, 'Bearer', 'as the bearer of VC_METRICS_TOKEN');
  t.match(config.scrape_configs[0]?.authorization?.credentials_file, /^\/run\/vc-secrets\//, 'read from the secrets docker-compose mounts');
  // promtool checks that the token file exists: the container's path is given one here
  const copy = deployedWithToken(METRICS_TOKEN);
  t.teardown(copy.cleanup);
  const { stdout } = await promisify(execFile)(PROMTOOL_BINARY!, ['check', 'config', copy.file]);
  t.match(stdout, /SUCCESS/);
});

t.test('the ingestion dashboard over a Prometheus scraping a running service', { skip: missing }, async (t) => {
  const service = await startLocalService({ metricsToken: METRICS_TOKEN });
  t.teardown(service.cleanup);
  const api = apiClient(service.apiUrl, service.adminToken.token);
  const vins = [testVin(1, 'PRM'), testVin(2, 'PRM')];
  await registerVehicles(api, vins, 'Aurora', 'A1');
  const mqtt = await connectMqtt(service.mqttUrl, { clientId: 'grafana-prom', username: 'admin', password: service.adminToken.token });
  t.teardown(() => mqtt.endAsync());

  // traffic while Prometheus scrapes: MQTT and HTTP samples, and a dead letter (an unregistered VIN) every round
  let seq = 0;
  let sending = true;
  const traffic = (async () => {
    while (sending) {
      seq += 1;
      for (const vin of vins) await publishQos1(mqtt, telemetryTopic(vin), JSON.stringify({ vin, ts: Date.now(), seq, signals: { 'Vehicle.Speed': seq % 100 } }));
      await api.post('/api/v1/telemetry', { vin: vins[0], ts: Date.now() + 1, seq: 100_000 + seq, signals: { 'Vehicle.Speed': 1 } });
      const stranger = testVin(99, 'PRM');
      await publishQos1(mqtt, telemetryTopic(stranger), JSON.stringify({ vin: stranger, ts: Date.now(), seq, signals: {} }));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  t.teardown(async () => {
    sending = false;
    await traffic;
  });

  t.test('every metric a panel names is exported by /metrics', async (t) => {
    await waitFor('a dead letter counted', async () => ((await api.get<string>('/metrics', METRICS_TOKEN)).body.includes('vc_ingest_rejects_total{') ? true : undefined));
    const exported = exportedNames(String((await api.get<string>('/metrics', METRICS_TOKEN)).body));
    const queries = prometheusQueries();
    t.ok(queries.length >= 20, `${queries.length} PromQL queries`);
    for (const q of queries) {
      const variables = [...loadDashboards().values()].find((d) => d.uid === q.dashboard)!;
      const expr = interpolate(q.text, variablesOf(variables), { instance: ALL }, builtinsFor(q.panel, { from: 0, to: 3_600_000, maxDataPoints: 1000, datasourceInterval: SCRAPE }), 'promql');
      const { names, parses } = selectedMetrics(expr);
      t.ok(parses, `${q.where} parses as PromQL: ${expr}`);
      t.ok(names.length > 0, `${q.where} selects metrics`);
      for (const name of names) t.ok(exported.has(name), `${q.where}: ${name} is exported`);
    }
  });

  t.test('every query is answered with data by Prometheus, for all instances and for this one', async (t) => {
    const port = new URL(service.apiUrl).port;
    const copy = deployedWithToken(METRICS_TOKEN);
    t.teardown(copy.cleanup);
    const deployed = copy.config;
    // the deployed file, scraping this service every second
    const config = {
      ...deployed,
      global: { ...deployed.global, scrape_interval: SCRAPE, evaluation_interval: SCRAPE },
      scrape_configs: deployed.scrape_configs.map((c) => ({ ...c, static_configs: [{ targets: [`127.0.0.1:${port}`] }] })),
    };
    const prometheus = await startPrometheus(config);
    t.teardown(prometheus.stop);
    await waitFor('six scrapes of the service', async () => {
      const [r] = await prometheus.query('count_over_time(up{job="vehicle-cloud"}[1m])');
      return Number(r?.value?.[1]) >= 6 && (await prometheus.query('up{job="vehicle-cloud"} == 1')).length === 1 ? true : undefined;
    }, 30_000, 250);

    const ingestion = [...loadDashboards().values()].find((d) => d.uid === 'vc-ingestion')!;
    const variables = variablesOf(ingestion);
    const instanceVariable = variables.find((v) => v.name === 'instance')!;
    const selector = /^label_values\((\w+), (\w+)\)$/.exec(String(instanceVariable.query));
    t.ok(selector, `the instance variable is a label_values() query: ${instanceVariable.query}`);
    const instances = await prometheus.labelValues(selector![2]!, selector![1]!);
    t.same(instances, [`127.0.0.1:${port}`], 'the instance variable offers this service');

    const end = Date.now() / 1000;
    const start = end - 20;
    const context = { from: start * 1000, to: end * 1000, maxDataPoints: 1000, datasourceInterval: SCRAPE };
    // All (the custom all value .*), and this one instance: its dots escaped inside the PromQL string
    for (const instance of [ALL, [instances[0]!]]) {
      for (const q of queriesOf(ingestion).filter((q) => q.datasource.type === 'prometheus')) {
        const builtins = builtinsFor(q.panel, context);
        const expr = interpolate(q.text, variables, { instance }, builtins, 'promql');
        const result = q.instant ? await prometheus.query(expr, end) : await prometheus.queryRange(expr, start, end, Number(builtins.__interval_ms) / 1000);
        t.ok(result.length > 0 && result.some(finite), `${q.where} (instance ${instance === ALL ? 'All' : String(instance)}): data`, { expr, result: result.slice(0, 2) });
      }
    }
  });
});
