// `npm run demo`: the service with its embedded broker and embedded store, plus a simulated fleet of 50
// vehicles publishing once a second, until Ctrl-C. Prints where the API is, what to try and the admin token (only when it is generated).
// It lives in tooling/, not services/: it drives the service with the fleet simulator (through its library entry
// point), and the service itself depends on neither.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { webBundle } from '../dashboards/web/build.ts';
import { adminTokenNotice, adminTokenShellRef } from '../services/api/auth.ts';
import { configFromEnv } from '../services/config.ts';
import { startService } from '../services/service.ts';
import { planFleet, runFleet, type FleetProgress } from '../simulators/fleet/index.ts';
import { parseDuration, parseRate, unitFlag, UnitError } from '../simulators/units.ts';

export const USAGE = `Usage: npm run demo -- [--vehicles 50] [--rate R] [--duration D] [--seed 1]
Starts vehicle-cloud (embedded MQTT broker + embedded store in VC_DATA_DIR, default ./data) and a simulated fleet.
  --rate R       samples per second of the whole fleet, e.g. 50 or 2.5k (default: 1 per vehicle)
  --duration D   how long the fleet publishes: 30s, 2m, 1h, or seconds (default 0: until Ctrl-C)`;

export interface DemoPlan {
  vehicles: number;
  /** samples per second per vehicle (the fleet's option); the --rate flag is the whole fleet's */
  ratePerVehicle: number;
  durationS: number;
  seed: number;
}

/** The demo's flags; a rate and a duration read as in every other CLI (../simulators/units.ts). */
export function demoPlan(argv: string[]): DemoPlan | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      vehicles: { type: 'string', default: '50' },
      rate: { type: 'string' },
      duration: { type: 'string', default: '0' },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const vehicles = Number(values.vehicles);
  const seed = Number(values.seed);
  if (!Number.isInteger(vehicles) || vehicles < 1) throw new UnitError(`--vehicles wants a whole number >= 1, got ${JSON.stringify(values.vehicles)}`);
  if (!Number.isSafeInteger(seed)) throw new UnitError(`--seed wants a whole number, got ${JSON.stringify(values.seed)}`);
  const rate = values.rate === undefined ? vehicles : unitFlag('rate', values.rate, parseRate);
  return { vehicles, ratePerVehicle: rate / vehicles, durationS: unitFlag('duration', values.duration, parseDuration) / 1000, seed };
}

async function main(plan: DemoPlan): Promise<void> {
  const { vehicles, ratePerVehicle: rate, durationS, seed } = plan;
  const config = configFromEnv(process.env, { logLevel: (process.env.VC_LOG_LEVEL as never) ?? 'warn' });
  const service = await startService(config);
  // A fresh salt per run: a demo re-run on the same data dir registers new VINs instead of hitting 409s.
  const vinSalt = Date.now().toString(36);
  const first = planFleet({ seed, vehicles: 1, vinSalt })[0]!;
  const token = service.adminToken.token;
  const bearer = `"Authorization: Bearer ${adminTokenShellRef(service.adminToken)}"`;
  // bundled now rather than on the first page load
  await webBundle();
  const out = process.stdout;
  out.write(`
vehicle-cloud demo
  Cockpit        ${service.apiUrl}/#token=${encodeURIComponent(token)}   (open this link: it signs you in)
  API            ${service.apiUrl}
  API docs       ${service.apiUrl}/docs
  MQTT broker    ${service.mqttUrl}
  admin token    ${adminTokenNotice(service.adminToken)}
  store          ${service.store.kind} (${service.store.kind === 'embedded' ? config.dataDir : config.influxUrl})
  fleet          ${vehicles} simulated vehicles, ${rate * vehicles} samples/s (${rate} each)${durationS > 0 ? `, for ${durationS} s` : ', until Ctrl-C'}

Try:
  curl -H ${bearer} ${service.apiUrl}/api/v1/vehicles/${first.vin}
  curl -H ${bearer} "${service.apiUrl}/api/v1/vehicles/${first.vin}/telemetry?signals=Vehicle.Speed,Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
  curl -H ${bearer} "${service.apiUrl}/api/v1/vehicles/${first.vin}/telemetry?interval=10s"
  curl -H ${bearer} "${service.apiUrl}/api/v1/vehicles?limit=5"
  curl ${service.apiUrl}/metrics

`);
  const abort = new AbortController();
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    abort.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const live = process.stderr.isTTY;
  let lastLine = 0;
  const onProgress = (p: FleetProgress): void => {
    const line = `[${p.phase}] ${p.elapsedS.toFixed(0)} s  vehicles ${p.connected}/${p.vehicles} connected  samples ${p.samplesAcked} acked  ${p.msgsPerSecond.toFixed(0)} msg/s  errors ${p.errors}`;
    if (live) process.stderr.write(`\r${line.padEnd(100)}`);
    else if (Date.now() - lastLine > 10_000) {
      lastLine = Date.now();
      process.stderr.write(`${line}\n`);
    }
  };
  try {
    const summary = await runFleet(
      { api: service.apiUrl, broker: service.mqttUrl, token, vehicles, rate, durationS, seed, vinSalt },
      { onProgress, signal: abort.signal },
    );
    if (live) process.stderr.write('\n');
    out.write(`fleet stopped: ${summary.samplesAcked} samples acknowledged by ${summary.vehicles} vehicles, ${summary.errors} errors\n`);
  } catch (err) {
    process.stderr.write(`\nfleet failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
  await service.stop();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let plan: DemoPlan | 'help';
  try {
    plan = demoPlan(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    process.exit(2);
  }
  if (plan === 'help') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  main(plan).catch((err: unknown) => {
    process.stderr.write(`demo failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof Error && /EADDRINUSE/.test(err.message)) {
      process.stderr.write('a port is taken: set VC_HTTP_PORT and VC_MQTT_PORT to free ones\n');
    }
    process.exit(1);
  });
}
