// `npm run simulate -- [flags]`: run a simulated fleet against a vehicle-cloud service and print a summary.
// Progress goes to stderr, the summary (or --json) to stdout; no token or vehicle password is ever printed.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FLEET_CATALOG, type CatalogModel } from './catalog.ts';
import { CITIES, citiesByName } from './cities.ts';
import { parseDuration, parseRate, unitFlag, UnitError } from '../units.ts';
import { redactUrl } from '../../services/observability/redact.ts';
import { ADMIN_TOKEN_FILE, findAdminToken } from '../../tooling/admin-token.ts';
import { textTable } from '../../tooling/table.ts';
import { runCli, type CliIo } from '../../tooling/cli.ts';
import { FleetError, runFleet, type FleetErrorCode, type FleetGroupReport, type FleetOptions, type FleetProgress, type FleetSummary } from './fleet.ts';

/** Samples per second one simulated vehicle sends at most (the fleet's own limit). */
const MAX_VEHICLE_RATE = 1000;
const NON_TTY_PROGRESS_EVERY_MS = 5_000;

export const USAGE = `Usage: npm run simulate -- [options]

Simulate connected cars: register each vehicle with the vehicle-cloud API, then publish telemetry
(vehicles/{vin}/telemetry, QoS 1) with its own MQTT credentials until --duration passes or Ctrl-C.

Options:
  --api URL           API base URL (env VC_API_URL; default http://127.0.0.1:3000)
  --broker URL        MQTT broker (env VC_MQTT_URL; default mqtt://127.0.0.1:\${VC_MQTT_PORT:-1883})
  --token T           admin token (env VC_ADMIN_TOKEN; else \${VC_DATA_DIR:-./data}/admin-token)
  --vehicles N        number of vehicles (default 10)
  --rate R            samples per second offered by the whole fleet, e.g. 50 or 2.5k (default: 1 per vehicle);
                      each vehicle sends R / N per second, at most 1000
  --duration D        how long to publish: 30s, 2m, 1h, or seconds; 0 = until Ctrl-C or SIGTERM (default 60s)
  --seed K            fleet seed: vehicles, models, cities and driving follow from it (default 1)
  --fresh-vins        new, unregistered VINs for this run even with --seed
  --cities LIST       comma-separated cities to spread the fleet over (default all:
                      ${CITIES.map((c) => c.name).join(', ')})
  --no-gaps           no tunnels, dead zones or underground car parks (every sample sent at once)
  --batch-every N     also make every Nth message of a vehicle a store-and-forward batch
  --batch-size N      samples per store-and-forward batch (default 20)
  --max-in-flight N   unacknowledged QoS 1 messages per vehicle before ticks are skipped (default 32)
  --list-models       print the simulated brands and models, then exit
  --json              print only the summary (or the model list) as JSON on stdout
  -h, --help          this help

VINs: with --seed the VINs are a function of the seed, so a second run against the same service is
refused (409: a vehicle's MQTT password is shown only when it is registered). Without --seed, or with
--fresh-vins, each run adds a random component to the VINs (the vehicles and their driving stay the same).

Exit status: 0 done, 1 the fleet could not run (API, token, broker), 2 bad usage,
3 done but some messages were never acknowledged.`;


class UsageError extends Error {}

const FLAGS = {
  api: { type: 'string' },
  broker: { type: 'string' },
  token: { type: 'string' },
  vehicles: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  seed: { type: 'string' },
  'fresh-vins': { type: 'boolean' },
  cities: { type: 'string' },
  'no-gaps': { type: 'boolean' },
  'batch-every': { type: 'string' },
  'batch-size': { type: 'string' },
  'max-in-flight': { type: 'string' },
  'list-models': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type ParsedFlags = ReturnType<typeof parseArgs<{ options: typeof FLAGS; strict: true }>>['values'];

function numberFlag(values: ParsedFlags, name: keyof ParsedFlags, fallback: number, check: (n: number) => boolean, what: string): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} must be ${what}, got ${String(raw)}`);
  return n;
}

const wholeAtLeast = (min: number) => (n: number) => Number.isInteger(n) && n >= min;

export interface CliPlan {
  options: FleetOptions;
  /** samples per second offered by the whole fleet (--rate); options.rate is per vehicle */
  rate: number;
  json: boolean;
  /** A per-run VIN salt is in use. */
  freshVins: boolean;
}

/** Flags and environment to fleet options; throws UsageError (or UnitError for a rate or duration) on bad input. */
export function planFromArgs(argv: string[], env: NodeJS.ProcessEnv, cwd: string): CliPlan | 'help' | 'list-models' | 'list-models-json' {
  let values: ParsedFlags;
  try {
    values = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return 'help';
  if (values['list-models']) return values.json ? 'list-models-json' : 'list-models';

  const api = values.api ?? env.VC_API_URL ?? 'http://127.0.0.1:3000';
  const broker = values.broker ?? env.VC_MQTT_URL ?? `mqtt://127.0.0.1:${env.VC_MQTT_PORT ?? 1883}`;
  for (const [name, url] of [['api', api], ['broker', broker]] as const) if (!URL.canParse(url)) throw new UsageError(`--${name} is not a URL: ${url.slice(0, 100)}`);
  const token = findAdminToken(values.token, env, cwd);
  if (!token) {
    throw new UsageError(
      `no admin token: pass --token, set VC_ADMIN_TOKEN, or start the service once so that it writes ${join(env.VC_DATA_DIR ?? './data', ADMIN_TOKEN_FILE)}`,
    );
  }
  const seedGiven = values.seed !== undefined;
  const freshVins = !seedGiven || values['fresh-vins'] === true;
  const batchEvery = values['batch-every'] === undefined ? undefined : numberFlag(values, 'batch-every', 0, wholeAtLeast(1), 'a whole number >= 1');
  let cities: FleetOptions['cities'];
  if (values.cities !== undefined) {
    try {
      cities = citiesByName(values.cities.split(',').map((name) => name.trim()).filter(Boolean));
    } catch (err) {
      throw new UsageError(`--cities: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (cities.length === 0) throw new UsageError('--cities names no city');
  }
  const vehicles = numberFlag(values, 'vehicles', 10, (n) => wholeAtLeast(1)(n) && n <= 1_000_000, 'a whole number from 1 to 1,000,000');
  const rate = values.rate === undefined ? vehicles : unitFlag('rate', values.rate, parseRate);
  if (rate / vehicles > MAX_VEHICLE_RATE) {
    throw new UsageError(`--rate ${values.rate} over ${vehicles} vehicles is ${rate / vehicles} samples per second each, over the ${MAX_VEHICLE_RATE} a vehicle sends: add vehicles`);
  }
  return {
    json: values.json === true,
    freshVins,
    rate,
    options: {
      api,
      broker,
      token,
      vehicles,
      rate: rate / vehicles,
      durationS: values.duration === undefined ? 60 : unitFlag('duration', values.duration, parseDuration) / 1000,
      seed: numberFlag(values, 'seed', 1, Number.isSafeInteger, 'a whole number'),
      ...(freshVins ? { vinSalt: randomBytes(6).toString('hex') } : {}),
      ...(batchEvery !== undefined ? { batchEvery } : {}),
      ...(cities ? { cities } : {}),
      ...(values['no-gaps'] ? { gaps: false } : {}),
      batchSize: numberFlag(values, 'batch-size', 20, (n) => wholeAtLeast(1)(n) && n <= 1000, 'a whole number from 1 to 1000'),
      maxInFlight: numberFlag(values, 'max-in-flight', 32, (n) => wholeAtLeast(1)(n) && n <= 65_535, 'a whole number from 1 to 65535'),
    },
  };
}

const HINTS: Partial<Record<FleetErrorCode, string>> = {
  vin_conflict: 'these VINs come from a previous run with the same --seed: add --fresh-vins, pick another --seed, or omit --seed',
  unauthorized: 'check --token / VC_ADMIN_TOKEN against the service (its token is in its data dir, admin-token)',
  api_unreachable: 'is the service running? (npm start) or pass --api',
  broker_unreachable: 'is the broker running and reachable? or pass --broker',
  broker_refused: 'the broker does not accept the credentials the API issued: is the service using this broker?',
};

export async function main(argv: string[], io: CliIo): Promise<number> {
  let plan: ReturnType<typeof planFromArgs>;
  try {
    plan = planFromArgs(argv, io.env, io.cwd ?? process.cwd());
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof UnitError)) throw err;
    io.stderr.write(`simulate: ${err.message}\n(see --help)\n`);
    return 2;
  }
  if (plan === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (plan === 'list-models' || plan === 'list-models-json') {
    io.stdout.write(plan === 'list-models-json' ? `${JSON.stringify(modelList(), null, 2)}\n` : modelTable());
    return 0;
  }

  const progress = progressPrinter(io.stderr);
  const { options } = plan;
  io.stderr.write(
    `simulate: ${options.vehicles} vehicles, ${plan.rate} samples/s (${options.rate} per vehicle) ${options.durationS > 0 ? `for ${options.durationS} s` : 'until Ctrl-C'}, ` +
      `seed ${options.seed}${plan.freshVins ? ' (fresh VINs)' : ''}, API ${redactUrl(options.api)}, broker ${redactUrl(options.broker)}\n`,
  );
  let summary: FleetSummary;
  try {
    summary = await runFleet(options, { onProgress: progress.update, ...(io.signal ? { signal: io.signal } : {}) });
  } catch (err) {
    progress.clear();
    if (err instanceof FleetError) {
      const hint = HINTS[err.code];
      io.stderr.write(`simulate: ${err.message}${hint ? `\n  hint: ${hint}` : ''}\n`);
      return 1;
    }
    io.stderr.write(`simulate: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  progress.clear();
  if (plan.json) {
    const { perVehicle: _perVehicle, ...aggregate } = summary;
    io.stdout.write(`${JSON.stringify({ ...aggregate, seed: options.seed, freshVins: plan.freshVins, rate: plan.rate, ratePerVehicle: options.rate }, null, 2)}\n`);
  } else {
    io.stdout.write(summaryTable(summary, plan));
  }
  return summary.unacked > 0 ? 3 : 0;
}

// --- output ------------------------------------------------------------------------------------------------

function modelList(): Array<Record<string, unknown>> {
  return FLEET_CATALOG.map((m) => ({
    brand: m.brand,
    model: m.model,
    powertrain: m.powertrain,
    years: `${m.years[0]}-${m.years[1]}`,
    topSpeedKmh: m.topSpeedKmh,
    adasLevel2: m.adasLevel2,
    ...(m.battery ? { battery: m.battery } : {}),
    ...(m.tank ? { tank: m.tank } : {}),
  }));
}

/** Aligned columns, as the CLI prints every table. */
const table = (rows: string[][]): string => `${textTable(rows).join('\n')}\n`;

function consumption(m: CatalogModel): string {
  const parts = [m.battery ? `${m.battery.kwhPer100Km} kWh` : '', m.tank ? `${m.tank.litresPer100Km} l` : ''];
  return `${parts.filter(Boolean).join(' or ')} /100 km`;
}

function modelTable(): string {
  const rows = [['brand', 'model', 'powertrain', 'years', 'battery', 'charging', 'tank', 'consumption', 'top speed', 'ADAS']];
  for (const m of FLEET_CATALOG) {
    rows.push([
      m.brand,
      m.model,
      m.powertrain,
      `${m.years[0]}-${m.years[1]}`,
      m.battery ? `${m.battery.kwh} kWh` : '-',
      m.battery ? `AC ${m.battery.acKw} kW${m.battery.dcKw ? `, DC ${m.battery.dcKw} kW` : ''}` : '-',
      m.tank ? `${m.tank.litres} l` : '-',
      consumption(m),
      `${m.topSpeedKmh} km/h`,
      m.adasLevel2 ? 'L2' : 'L1',
    ]);
  }
  const cities = CITIES.map((c) => `${c.name} (${c.radiusKm} km)`).join(', ');
  return `${table(rows)}\n${FLEET_CATALOG.length} models of ${new Set(FLEET_CATALOG.map((m) => m.brand)).size} brands; cities: ${cities}\n`;
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const fmtRate = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

function summaryTable(s: FleetSummary, plan: CliPlan): string {
  const rows = [
    ['vehicles', `${fmt(s.vehicles)} (${fmt(s.registered)} registered, ${fmt(s.connected)} connected)`],
    ['seed', `${plan.options.seed}${plan.freshVins ? ' (fresh VINs)' : ''}`],
    ['messages published', fmt(s.messagesPublished)],
    ['messages acked', fmt(s.messagesAcked)],
    ['samples published', fmt(s.samplesPublished)],
    ['samples acked', fmt(s.samplesAcked)],
    ['msgs/s (acked)', fmtRate(s.msgsPerSecond)],
    ['samples/s (acked)', fmtRate(s.samplesPerSecond)],
    ['batches (store-and-forward)', fmt(s.batchesPublished)],
    ['connectivity gaps', fmt(s.connectivityGaps)],
    ['samples dropped by vehicles', fmt(s.samplesDropped)],
    ['skipped ticks', fmt(s.skippedTicks)],
    ['reconnects', fmt(s.reconnects)],
    ['errors', fmt(s.errors)],
    ['unacked at exit', fmt(s.unacked)],
    ['duration', `${s.durationS.toFixed(1)} s${s.interrupted ? ' (interrupted)' : ''}`],
    ['simulator CPU', `${s.cpuPercent.toFixed(1)} % of one core while publishing`],
    ['simulator memory', `${fmt(s.maxRssMiB)} MiB peak RSS`],
  ];
  let out = `fleet simulation summary\n${table(rows.map(([k, v]) => [`  ${k}`, v ?? '']))}`;
  out += `\n${groupTable('brand', s.byBrand)}\n${groupTable('city', s.byCity)}`;
  if (s.errorMessages.length > 0) {
    out += 'errors:\n' + s.errorMessages.map((e) => `  ${e.count} x ${e.message}\n`).join('');
  }
  return out;
}

function groupTable(what: string, groups: readonly FleetGroupReport[]): string {
  const rows = [[`  ${what}`, 'vehicles', 'samples acked', 'km driven']];
  for (const g of groups) rows.push([`  ${g.name}`, fmt(g.vehicles), fmt(g.samplesAcked), g.distanceKm.toFixed(1)]);
  return table(rows);
}

function progressLine(p: FleetProgress): string {
  const parts = [
    p.phase.padEnd(11),
    `${p.elapsedS.toFixed(0)}s`,
    `registered ${fmt(p.registered)}/${fmt(p.vehicles)}`,
    `connected ${fmt(p.connected)}`,
    `published ${fmt(p.messagesPublished)}`,
    `acked ${fmt(p.messagesAcked)}`,
    `in flight ${fmt(p.inFlight)}`,
    `${fmtRate(p.msgsPerSecond)} msg/s`,
  ];
  if (p.offline > 0) parts.push(`offline ${fmt(p.offline)} (${fmt(p.buffered)} buffered)`);
  if (p.batchesPublished > 0) parts.push(`batches ${fmt(p.batchesPublished)}`);
  if (p.skippedTicks > 0) parts.push(`skipped ${fmt(p.skippedTicks)}`);
  if (p.reconnects > 0) parts.push(`reconnects ${fmt(p.reconnects)}`);
  parts.push(`errors ${fmt(p.errors)}`);
  return parts.join('  ');
}

/** One refreshed line on a terminal; a plain line every 5 s otherwise (logs, CI). */
function progressPrinter(stderr: CliIo['stderr']): { update: (p: FleetProgress) => void; clear: () => void } {
  const tty = stderr.isTTY === true;
  let shown = false;
  let lastPrinted = 0;
  return {
    update(p) {
      if (p.phase === 'done') return;
      if (tty) {
        // Cut to the terminal width: a wrapped line could not be rewritten in place.
        stderr.write(`\r\x1b[2K${progressLine(p).slice(0, Math.max(20, (stderr.columns ?? 200) - 1))}`);
        shown = true;
      } else if (Date.now() - lastPrinted >= NON_TTY_PROGRESS_EVERY_MS) {
        lastPrinted = Date.now();
        stderr.write(`${progressLine(p)}\n`);
      }
    },
    clear() {
      if (shown) stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}

// --- entry point -------------------------------------------------------------------------------------------

runCli(import.meta.url, 'simulate', 'stopping, waiting up to 5 s for outstanding PUBACKs', main);
