// Store micro benchmark (issue 16): writeSamples of realistic batches (a fleet reporting every second, ~15
// signals a sample), then querySamples and latest of single vehicles, on the embedded store and on an influxd
// started for the run. Wall time and CPU time: this process's (DuckDB's threads included) and influxd's, since on
// a shared machine the wall time is noisy and the CPU time less so.
//   npx tsx bench/store-micro.ts [--stores embedded,influx] [--vehicles 2000] [--batch 10000] [--batches 20] [--queries 200] [--json]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { configFrom } from '../services/config.ts';
import { createLogger } from '../services/observability/logger.ts';
import { createStore } from '../services/service.ts';
import type { StoredSample } from '../services/store/telemetry-store.ts';
import { startInfluxd, type Influxd } from '../tooling/influxd.ts';
import { tempDir } from '../tooling/system.ts';

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: 'embedded,influx' },
    vehicles: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '10000' },
    batches: { type: 'string', default: '20' },
    queries: { type: 'string', default: '200' },
    json: { type: 'boolean', default: false },
  },
});
const VEHICLES = Number(values.vehicles);
const BATCH = Number(values.batch);
const BATCHES = Number(values.batches);
const QUERIES = Number(values.queries);
const STORES = String(values.stores).split(',') as Array<'embedded' | 'influx'>;

const log = (line: string): void => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

const MODELS = [
  { brand: 'Voltra', model: 'E-Cross' },
  { brand: 'Nordwind', model: 'Fjord' },
  { brand: 'Kaiyun', model: 'K5' },
  { brand: 'Solenne', model: 'Aube' },
];

function vinOf(i: number): string {
  const alphabet = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
  let s = '';
  for (let x = i, k = 0; k < 6; k++, x = Math.floor(x / alphabet.length)) s = alphabet[x % alphabet.length] + s;
  return `BNCHS0000XX${s}`;
}

/** 15 signals of an electric car on the move (no fuel level, no exterior temperature), varying with time. */
function sampleOf(i: number, round: number, ts: number): StoredSample {
  const { brand, model } = MODELS[i % MODELS.length]!;
  const phase = (i * 7 + round) % 360;
  return {
    vin: vinOf(i),
    brand,
    model,
    ts,
    seq: round,
    signals: {
      'Vehicle.Speed': Math.round((60 + 40 * Math.sin(phase / 20)) * 10) / 10,
      'Vehicle.CurrentLocation.Latitude': 31.2 + (i % 100) / 1000 + round / 1e5,
      'Vehicle.CurrentLocation.Longitude': 121.4 + (i % 97) / 1000 + round / 1e5,
      'Vehicle.CurrentLocation.Heading': phase,
      'Vehicle.TraveledDistance': 10_000 + i + round * 0.02,
      'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 80 - round / 100,
      'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': false,
      'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure': 250,
      'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure': 251,
      'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure': 248,
      'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure': 249,
      'Vehicle.ADAS.ActiveAutonomyLevel': i % 3,
      'Vehicle.Cabin.HVAC.AmbientAirTemperature': 21.5,
      'Vehicle.OBD.DTCList': i % 50 === 0 ? 'P0420' : '',
      'Vehicle.OBD.Status.MILStatus': i % 50 === 0,
    },
  };
}

/** CPU ms of a process from /proc (utime + stime, in clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const ownCpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

interface Timed {
  wallMs: number[];
  cpuMs: number;
  serverCpuMs: number;
}

async function timed(count: number, server: Influxd | undefined, each: (k: number) => Promise<void>): Promise<Timed> {
  const wallMs: number[] = [];
  const cpu0 = ownCpuMs();
  const server0 = server ? processCpuMs(server.pid) : 0;
  for (let k = 0; k < count; k++) {
    const t0 = performance.now();
    await each(k);
    wallMs.push(performance.now() - t0);
  }
  return { wallMs, cpuMs: ownCpuMs() - cpu0, serverCpuMs: server ? processCpuMs(server.pid) - server0 : 0 };
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

async function run(kind: 'embedded' | 'influx'): Promise<Record<string, number | string>> {
  const dir = await tempDir('store-micro');
  const server = kind === 'influx' ? await startInfluxd() : undefined;
  const logger = createLogger('warn');
  const store = await createStore(configFrom({ dataDir: dir.path, influxUrl: server?.url, influxDb: 'bench' }), logger);
  try {
    await store.init();
    const perRound = VEHICLES;
    const rounds = Math.ceil((BATCH * BATCHES) / perRound);
    const base = Date.now() - 3_600_000;
    const all: StoredSample[] = [];
    for (let r = 0; r < rounds; r++) for (let i = 0; i < perRound; i++) all.push(sampleOf(i, r, base + r * 1000 + (i % 1000)));
    log(`${kind}: writing ${BATCHES} batches of ${BATCH} samples (${VEHICLES} vehicles, 15 signals each)`);
    const writes = await timed(BATCHES, server, (k) => store.writeSamples(all.slice(k * BATCH, (k + 1) * BATCH)));
    const samples = BATCH * BATCHES;
    const vins = Array.from({ length: QUERIES }, (_, q) => vinOf((q * 7919) % VEHICLES));
    const window = { from: base, to: base + rounds * 1000 + 1000 };
    const queries = await timed(QUERIES, server, async (q) => {
      const got = await store.querySamples({ vin: vins[q]!, ...window, limit: 10_000 });
      if (got.length !== rounds) throw new Error(`querySamples: ${got.length} samples, expected ${rounds}`);
    });
    const latests = await timed(QUERIES, server, async (q) => {
      const got = await store.latest(vins[q]!);
      if (got === undefined || Object.keys(got.signals).length !== 15) throw new Error('latest: not the 15 signals');
    });
    const result = {
      store: kind,
      samples,
      writeSamplesPerSec: Math.round(samples / (sum(writes.wallMs) / 1000)),
      writeBatchMedianMs: Math.round(median(writes.wallMs)),
      writeCpuUsPerSample: Math.round(((writes.cpuMs + writes.serverCpuMs) * 1000) / samples * 10) / 10,
      writeOwnCpuUsPerSample: Math.round((writes.cpuMs * 1000) / samples * 10) / 10,
      writeServerCpuUsPerSample: Math.round((writes.serverCpuMs * 1000) / samples * 10) / 10,
      querySamplesMedianMs: Math.round(median(queries.wallMs) * 10) / 10,
      querySamplesCpuMs: Math.round(((queries.cpuMs + queries.serverCpuMs) / QUERIES) * 10) / 10,
      latestMedianMs: Math.round(median(latests.wallMs) * 10) / 10,
      latestCpuMs: Math.round(((latests.cpuMs + latests.serverCpuMs) / QUERIES) * 10) / 10,
    };
    log(JSON.stringify(result));
    return result;
  } finally {
    await store.close();
    await server?.stop();
    await dir.remove();
  }
}

const results = [];
for (const kind of STORES) results.push(await run(kind));
if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`);
else console.table(results);
