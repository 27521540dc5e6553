// `npm run loadtest -- [flags]`: load-test a running vehicle-cloud on this machine and print a summary table
// (or --json). Progress goes to stderr, the summary to stdout; no token or vehicle password is ever printed.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULTS,
  LIMITS,
  LoadTestOptionsError,
  loadTestOptions,
  optionProblems,
  parseDuration,
  parseRamp,
  parseRate,
  type LoadTestOptions,
  type MqttAuth,
  type RateSchedule,
} from './options.ts';
import { findAdminToken } from '../../tooling/admin-token.ts';
import { runCli, type CliIo } from '../../tooling/cli.ts';
import { liveLine, summaryTable } from './report.ts';
import { runLoadTest } from './runner.ts';

export const USAGE = `Usage: npm run loadtest -- [options]

Drive a running vehicle-cloud (embedded broker, or Mosquitto + InfluxDB) on this machine: register the run's
vehicles, publish their telemetry at a fixed rate or a ramp over several MQTT connections, and measure accepted
and stored samples per second (from /metrics), publish-to-queryable latency (p50/p95/p99), loss and duplicates
by seq (every vehicle read back through the API), and the service's CPU and RSS. Loopback hosts only.

Options:
  --api URL            API base URL (env VC_API_URL; default http://127.0.0.1:3000)
  --broker URL         MQTT broker (env VC_MQTT_URL; default mqtt://127.0.0.1:\${VC_MQTT_PORT:-1883})
  --token T            admin token (env VC_ADMIN_TOKEN; else \${VC_DATA_DIR:-./data}/admin-token)
  --vehicles N         vehicles (default ${DEFAULTS.vehicles}, at most ${LIMITS.vehicles})
  --connections N      MQTT connections the vehicles share (default min(${DEFAULTS.connections}, vehicles))
  --publishers N       publisher processes (default 1, 2 above 20k samples/s; at most ${LIMITS.publishers})
  --rate R             samples per second offered in total, e.g. 5000 or 5k (default ${DEFAULTS.rate})
  --ramp F:T:STEP      instead of --rate: from F to T samples/s in equal steps of STEP over --duration,
                       e.g. 1000:20000:5s
  --duration D         publishing time: 30s, 2m, 1h, or seconds (default ${DEFAULTS.durationS}s, at most ${LIMITS.durationMs / 60_000}m)
  --qos 0|1            MQTT QoS (default ${DEFAULTS.qos})
  --seed K             VINs and signal values follow from it; a repeated run reuses its vehicles (default ${DEFAULTS.seed})
  --batch N            samples per message: 1 = single samples, more = store-and-forward batches (default 1)
  --inflight N         unacknowledged messages per connection (default ${DEFAULTS.inflight})
  --mqtt-auth MODE     auto | admin | vehicle | none (default auto: the admin token on the embedded broker,
                       anonymous on an external one; vehicle = one connection per vehicle with its own password)
  --brand B --model M  what the run's vehicles are registered as (default ${DEFAULTS.brand} / ${DEFAULTS.model})
  --probes N           latency probes per second (default ${DEFAULTS.probesPerSecond}; 0 = none)
  --drain-timeout D    longest wait for the backlog after publishing (default ${DEFAULTS.drainTimeoutS}s)
  --keep-up D          the backlog must drain within this to count as kept up (default max(3s, duration/4))
  --no-verify          skip the read-back (no loss figures)
  --metrics URL        a /metrics endpoint to sum (repeat for several ingest workers; default API/metrics)
  --service-pid PID    read the service's CPU and RSS from /proc/PID (repeatable) instead of /metrics
  --json               print the report as JSON on stdout instead of the table
  --report FILE        also write the JSON report to FILE
  -h, --help           this help

Exit status: 0 zero loss and kept up, 1 the test could not run, 2 bad usage, 3 loss, duplicates or
did not keep up.`;


const FLAGS = {
  api: { type: 'string' },
  broker: { type: 'string' },
  token: { type: 'string' },
  vehicles: { type: 'string' },
  connections: { type: 'string' },
  publishers: { type: 'string' },
  rate: { type: 'string' },
  ramp: { type: 'string' },
  duration: { type: 'string' },
  qos: { type: 'string' },
  seed: { type: 'string' },
  batch: { type: 'string' },
  inflight: { type: 'string' },
  'mqtt-auth': { type: 'string' },
  brand: { type: 'string' },
  model: { type: 'string' },
  probes: { type: 'string' },
  'drain-timeout': { type: 'string' },
  'keep-up': { type: 'string' },
  'no-verify': { type: 'boolean' },
  metrics: { type: 'string', multiple: true },
  'service-pid': { type: 'string', multiple: true },
  json: { type: 'boolean' },
  report: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const NON_TTY_PROGRESS_EVERY_MS = 5_000;

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new LoadTestOptionsError(`--${name} wants a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Flags -> options; throws LoadTestOptionsError with every problem. */
export function optionsFromArgs(argv: string[], env: NodeJS.ProcessEnv, cwd: string): { options: LoadTestOptions; json: boolean; report?: string } {
  const { values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false });
  if (values.rate !== undefined && values.ramp !== undefined) throw new LoadTestOptionsError('--rate and --ramp exclude each other');
  const schedule: RateSchedule = values.ramp !== undefined ? parseRamp(values.ramp) : { kind: 'fixed', rate: values.rate !== undefined ? parseRate(values.rate) : DEFAULTS.rate };
  const token = findAdminToken(values.token, env, cwd);
  if (!token) throw new LoadTestOptionsError('no admin token: pass --token, set VC_ADMIN_TOKEN, or run where VC_DATA_DIR/admin-token is');
  const qos = integer(values.qos, 'qos');
  const auth = values['mqtt-auth'];
  if (auth !== undefined && !['auto', 'admin', 'vehicle', 'none'].includes(auth)) throw new LoadTestOptionsError(`--mqtt-auth is auto, admin, vehicle or none; got ${JSON.stringify(auth)}`);
  const pids = (values['service-pid'] ?? []).map((p) => integer(p, 'service-pid')!);
  const probes = values.probes === undefined ? undefined : Number(values.probes);
  if (probes !== undefined && !Number.isFinite(probes)) throw new LoadTestOptionsError(`--probes wants a number, got ${JSON.stringify(values.probes)}`);
  const options = loadTestOptions({
    api: values.api ?? env.VC_API_URL ?? 'http://127.0.0.1:3000',
    broker: values.broker ?? env.VC_MQTT_URL ?? `mqtt://127.0.0.1:${env.VC_MQTT_PORT || 1883}`,
    token,
    vehicles: integer(values.vehicles, 'vehicles'),
    connections: integer(values.connections, 'connections'),
    publishers: integer(values.publishers, 'publishers'),
    schedule,
    durationMs: values.duration !== undefined ? parseDuration(values.duration) : undefined,
    qos: qos as 0 | 1 | undefined,
    seed: integer(values.seed, 'seed'),
    batch: integer(values.batch, 'batch'),
    inflight: integer(values.inflight, 'inflight'),
    mqttAuth: auth as MqttAuth | undefined,
    brand: values.brand,
    model: values.model,
    probesPerSecond: probes,
    drainTimeoutMs: values['drain-timeout'] !== undefined ? parseDuration(values['drain-timeout']) : undefined,
    keepUpMs: values['keep-up'] !== undefined ? parseDuration(values['keep-up']) : undefined,
    verify: values['no-verify'] ? false : undefined,
    metricsUrls: values.metrics,
    servicePids: pids.length > 0 ? pids : undefined,
  });
  // --vehicles below the default connections: the default shrinks with it
  if (values.connections === undefined && options.mqttAuth === 'vehicle') options.connections = options.vehicles;
  const problems = optionProblems(options);
  if (problems.length > 0) throw new LoadTestOptionsError(problems.join('\n'));
  return { options, json: values.json === true, report: values.report };
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const cwd = io.cwd ?? process.cwd();
  let parsed;
  try {
    parsed = optionsFromArgs(argv, io.env, cwd);
  } catch (err) {
    io.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE.split('\n')[0]}  (--help for the options)\n`);
    return 2;
  }
  const tty = io.stderr.isTTY === true;
  let lastPrinted = 0;
  let lastLength = 0;
  const show = (line: string, force = false): void => {
    if (tty) {
      const width = Math.max(40, (io.stderr.columns ?? 160) - 1);
      const text = line.length > width ? `${line.slice(0, width - 1)}…` : line;
      io.stderr.write(`\r${text}${' '.repeat(Math.max(0, lastLength - text.length))}`);
      lastLength = text.length;
    } else if (force || Date.now() - lastPrinted >= NON_TTY_PROGRESS_EVERY_MS) {
      lastPrinted = Date.now();
      io.stderr.write(`${line}\n`);
    }
  };
  let report;
  try {
    report = await runLoadTest(parsed.options, {
      signal: io.signal,
      onPhase: (phase) => show(`[${phase}]`, true),
      onProgress: (progress) => show(liveLine(progress)),
    });
  } catch (err) {
    if (tty) io.stderr.write('\n');
    io.stderr.write(`load test failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (tty) io.stderr.write('\n');
  if (parsed.report) await writeFile(resolve(cwd, parsed.report), `${JSON.stringify(report, null, 2)}\n`);
  io.stdout.write(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : summaryTable(report));
  return report.verdict.ok ? 0 : 3;
}

runCli(import.meta.url, 'loadtest', 'stopping: draining and verifying what was sent', main);
