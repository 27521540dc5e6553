// A throwaway Prometheus (Debian's `prometheus` package) on a free loopback port with its TSDB in a temp dir, scraping
// the targets a test gives it, for tests of the Grafana dashboards' PromQL. Stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { findBinary, freePort, missingServer, tempDir, terminate, waitFor } from './system.ts';

export const PROMETHEUS_BINARY = findBinary(['/usr/bin/prometheus', 'prometheus']);
export const PROMTOOL_BINARY = findBinary(['/usr/bin/promtool', 'promtool']);

/** Why a suite needing Prometheus cannot run (throws in CI), or undefined. */
export function prometheusMissing(): string | undefined {
  return missingServer('prometheus', PROMETHEUS_BINARY && PROMTOOL_BINARY);
}

export interface PrometheusServer {
  url: string;
  readonly pid: number;
  /** an instant query; throws on an error answer */
  query(expr: string, time?: number): Promise<PromResult[]>;
  /** a range query (what a time series panel sends); throws on an error answer */
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<PromResult[]>;
  /** GET /api/v1/label/<label>/values?match[]=<selector> (Grafana's label_values(selector, label)) */
  labelValues(label: string, match: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface PromResult {
  metric: Record<string, string>;
  value?: [number, string];
  values?: Array<[number, string]>;
}

/** Start Prometheus with `config` (a prometheus.yml as an object). */
export async function startPrometheus(config: object): Promise<PrometheusServer> {
  if (!PROMETHEUS_BINARY) throw new Error('prometheus not installed (apt-get install prometheus)');
  const dir = await tempDir('prometheus');
  const configFile = join(dir.path, 'prometheus.yml');
  await writeFile(configFile, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn(
    PROMETHEUS_BINARY,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir.path, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (log = (log + chunk).slice(-4_000)));
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    await terminate(child, 5_000);
    process.removeListener('exit', killOnExit);
    await dir.remove();
  };
  try {
    await waitFor(`prometheus on ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
      return (await fetch(`${url}/-/ready`)).ok ? true : undefined;
    }, 30_000, 100);
  } catch (err) {
    await stop();
    throw err;
  }

  const api = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const response = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? response.status} (${JSON.stringify(params)})`);
    return body.data;
  };
  return {
    url,
    get pid() {
      return child.pid ?? -1;
    },
    query: async (expr, time = Date.now() / 1000) => (await api<{ result: PromResult[] }>('/api/v1/query', { query: expr, time: String(time) })).result,
    queryRange: async (expr, start, end, step) =>
      (await api<{ result: PromResult[] }>('/api/v1/query_range', { query: expr, start: String(start), end: String(end), step: String(step) })).result,
    labelValues: (label, match) => api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match }),
    stop,
  };
}
