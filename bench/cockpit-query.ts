// Cockpit query benchmark (issue 4): a fleet of 6 brands with a day of history at one sample per 10 s is
// loaded into each store; then brand, model and fleet cockpits over 24 h at 5-minute buckets are asked through
// the HTTP API (answered from rollups) and the same questions are asked of the raw points, in the same run.
//   npm run bench:cockpit -- [--vehicles 2000] [--hours 24] [--every 10] [--iterations 40] [--stores embedded,influx] [--json]
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configFrom } from '../services/config.ts';
import { createLogger } from '../services/observability/logger.ts';
import { startService } from '../services/service.ts';
import { EmbeddedStore } from '../services/store/duckdb/store.ts';
import { InfluxStore } from '../services/store/influx/store.ts';
import { CockpitMaintainer } from '../services/cockpit/maintainer.ts';
import { CockpitReader } from '../services/cockpit/reader.ts';
import { ServiceMetrics } from '../services/observability/metrics.ts';
import { MINUTE_MS as ROLLUP_BUCKET_MS } from '../services/store/cockpit-tables.ts';
import type { StoredSample, TelemetryStore } from '../services/store/telemetry-store.ts';
import { metadataDir, openMetadataStore } from '../services/store/metadata.ts';
import type { VehicleRepository } from '../services/store/vehicles.ts';
import { startInfluxd } from '../tests/helpers/influxd.ts';
import { tempDir } from '../tests/helpers/system.ts';

const { values } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '2000' },
    hours: { type: 'string', default: '24' },
    every: { type: 'string', default: '10' },
    iterations: { type: 'string', default: '40' },
    stores: { type: 'string', default: 'embedded,influx' },
    json: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
  },
});
const VEHICLES = Number(values.vehicles);
const HOURS = Number(values.hours);
const EVERY_MS = Number(values.every) * 1000;
const ITERATIONS = Number(values.iterations);
const STORES = String(values.stores).split(',') as Array<'embedded' | 'influx'>;
const ADMIN = 'bench-cockpit-admin-token-0123456789';

const BRANDS: Record<string, string[]> = {
  Voltra: ['E-Cross', 'E-City', 'Volt S'],
  Nordwind: ['Fjord', 'Skagen'],
  Kaiyun: ['K3', 'K5', 'K7'],
  Solenne: ['Aube', 'Zenith'],
  Ardent: ['Forge', 'Spark'],
  Meridia: ['Tide', 'Crest', 'Reef'],
};
const MODELS = Object.entries(BRANDS).flatMap(([brand, models]) => models.map((model) => ({ brand, model })));

const log = (line: string): void => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

function vinOf(i: number): string {
  const alphabet = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
  let s = '';
  for (let x = i, k = 0; k < 6; k++, x = Math.floor(x / alphabet.length)) s = alphabet[x % alphabet.length] + s;
  return `BNCHC0000XX${s}`;
}

async function load(store: TelemetryStore, vehicles: VehicleRepository, end: number): Promise<{ samples: number; seconds: number }> {
  const started = Date.now();
  await store.init();
  const fleet = Array.from({ length: VEHICLES }, (_, i) => ({ vin: vinOf(i), ...MODELS[i % MODELS.length]! }));
  for (const v of fleet) await vehicles.insert({ vin: v.vin, brand: v.brand, model: v.model, credentialHash: '0'.repeat(64), createdAt: end });
  const start = end - HOURS * 3_600_000;
  const stepsPerChunk = Math.max(1, Math.floor(50_000 / VEHICLES));
  let written = 0;
  let lastLog = 0;
  // as the service does (the store's only writer): rollups counted in memory by the cockpit engine
  const rollups = new CockpitMaintainer({ tables: store.cockpit, logger: createLogger('silent'), metrics: new ServiceMetrics({ processMetrics: false }), strategy: 'incremental', lateIdleMs: 0 });
  for (let t0 = start; t0 < end; t0 += stepsPerChunk * EVERY_MS) {
    const batch: StoredSample[] = [];
    for (let step = 0; step < stepsPerChunk && t0 + step * EVERY_MS < end; step++) {
      const t = t0 + step * EVERY_MS;
      fleet.forEach((v, i) => {
        const ts = t + (i % EVERY_MS);
        if (ts >= end) return;
        const k = Math.floor((ts - start) / EVERY_MS);
        const speed = Math.max(0, 50 + 40 * Math.sin((k + i) / 30));
        batch.push({
          vin: v.vin,
          brand: v.brand,
          model: v.model,
          ts,
          seq: k,
          signals: {
            'Vehicle.Speed': Math.round(speed * 10) / 10,
            'Vehicle.TraveledDistance': 10_000 + i + k * 0.1,
            'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 20 + ((k + i) % 800) / 10,
            'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': (k + i) % 800 > 760,
            'Vehicle.ADAS.ActiveAutonomyLevel': (k + i) % 4 === 0 ? 2 : 0,
            'Vehicle.OBD.Status.MILStatus': (k + i) % 5000 === 0,
          },
        });
      });
    }
    await rollups.prepare(batch);
    await store.writeSamples(batch);
    const stored = rollups.track(batch);
    await rollups.flush();
    await stored;
    written += batch.length;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`  ${store.kind}: ${written} samples loaded (${Math.round(written / ((Date.now() - started) / 1000))}/s)`);
    }
  }
  await rollups.stop();
  return { samples: written, seconds: (Date.now() - started) / 1000 };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
function stats(ms: number[]): { p50: number | null; p95: number | null; p99: number | null } {
  if (ms.length === 0) return { p50: null, p95: null, p99: null };
  const sorted = [...ms].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50: r(percentile(sorted, 50)), p95: r(percentile(sorted, 95)), p99: r(percentile(sorted, 99)) };
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Row {
  store: string;
  question: string;
  api: ReturnType<typeof stats>;
  rollup: ReturnType<typeof stats>;
  raw: ReturnType<typeof stats>;
  /** raw questions that failed (e.g. timed out after the store's 30 s request timeout) */
  rawFailures: number;
  rawOverRollup: number | null;
}

async function benchStore(kind: 'embedded' | 'influx'): Promise<{ rows: Row[]; load: { samples: number; seconds: number } }> {
  const data = await tempDir(`bench-${kind}`);
  const influx = kind === 'influx' ? await startInfluxd() : undefined;
  try {
    const end = Math.floor(Date.now() / ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS;
    const loader: TelemetryStore =
      kind === 'influx' ? new InfluxStore({ url: influx!.url, database: 'vc_bench' }) : await EmbeddedStore.open({ dir: join(data.path, 'store') });
    log(`${kind}: loading ${VEHICLES} vehicles x ${HOURS} h at one sample per ${EVERY_MS / 1000} s`);
    const metadata = await openMetadataStore({ dir: metadataDir(data.path) });
    const loaded = await load(loader, metadata.vehicles, end);
    await metadata.close();
    await loader.close();
    const config = configFrom({ host: '127.0.0.1', httpPort: 0, mqttPort: 0, dataDir: data.path, adminToken: ADMIN, logLevel: 'silent', influxUrl: influx?.url, influxDb: 'vc_bench' });
    const service = await startService(config, { logger: createLogger('silent') });
    try {
      const reader = new CockpitReader(service.store.cockpit);
      const from = end - 24 * 3_600_000;
      const window = { from, to: end, intervalMs: 5 * 60_000 };
      const questions: Array<{ question: string; path: (i: number) => string; scope: (i: number) => { brand?: string; model?: string } }> = [
        { question: 'brand cockpit 24 h / 5 min', path: (i) => `/api/v1/brands/${encodeURIComponent(Object.keys(BRANDS)[i % 6]!)}/cockpit`, scope: (i) => ({ brand: Object.keys(BRANDS)[i % 6]! }) },
        {
          question: 'model cockpit 24 h / 5 min',
          path: (i) => `/api/v1/brands/${encodeURIComponent(MODELS[i % MODELS.length]!.brand)}/models/${encodeURIComponent(MODELS[i % MODELS.length]!.model)}/cockpit`,
          scope: (i) => ({ ...MODELS[i % MODELS.length]! }),
        },
        { question: 'fleet cockpit 24 h / 5 min', path: () => '/api/v1/fleet/cockpit', scope: () => ({}) },
      ];
      const rows: Row[] = [];
      for (const q of questions) {
        const api: number[] = [];
        const rollup: number[] = [];
        const raw: number[] = [];
        let rawFailures = 0;
        for (let i = 0; i < ITERATIONS; i++) {
          api.push(
            await time(async () => {
              const r = await fetch(`${service.apiUrl}${q.path(i)}?from=${from}&to=${end}&interval=5m`, { headers: { authorization: `Bearer ${ADMIN}` } });
              if (!r.ok) throw new Error(`${q.path(i)}: ${r.status} ${await r.text()}`);
              await r.json();
            }),
          );
          rollup.push(await time(() => reader.aggregates({ ...window, ...q.scope(i) }, 'rollup')));
          // the raw question is slow: ask it a quarter as often; one that fails is counted, not timed
          if (i % 4 === 0) {
            try {
              raw.push(await time(() => service.store.cockpit.fromRaw({ ...window, ...q.scope(i) })));
            } catch (err) {
              rawFailures += 1;
              log(`  ${kind} ${q.question}: a raw question failed: ${err instanceof Error ? err.message : String(err)}`);
            }
          }
        }
        const row: Row = { store: kind, question: q.question, api: stats(api), rollup: stats(rollup), raw: stats(raw), rawFailures, rawOverRollup: null };
        if (row.raw.p50 !== null && row.rollup.p50 !== null) row.rawOverRollup = Math.round((row.raw.p50 / Math.max(0.1, row.rollup.p50)) * 10) / 10;
        rows.push(row);
        log(`  ${kind} ${q.question}: API p95 ${row.api.p95} ms, raw p50 ${row.raw.p50 ?? '-'} ms${rawFailures > 0 ? ` (${rawFailures} raw failed)` : ''}`);
      }
      return { rows, load: loaded };
    } finally {
      await service.stop();
    }
  } finally {
    await influx?.stop();
    await data.remove();
  }
}

const report: { date: string; machine: string; vehicles: number; hours: number; everyS: number; iterations: number; results: Row[]; loads: Record<string, unknown> } = {
  date: new Date().toISOString(),
  machine: `${process.platform} ${process.arch}, node ${process.version}`,
  vehicles: VEHICLES,
  hours: HOURS,
  everyS: EVERY_MS / 1000,
  iterations: ITERATIONS,
  results: [],
  loads: {},
};
for (const kind of STORES) {
  const { rows, load: loaded } = await benchStore(kind);
  report.results.push(...rows);
  report.loads[kind] = loaded;
}
const table = [
  '| store | question | API p50 / p95 / p99 (ms) | store, rollups p50 / p95 / p99 | store, raw points p50 / p95 / p99 | raw ÷ rollup (p50) |',
  '|---|---|---|---|---|---|',
  ...report.results.map((r) => `| ${r.store} | ${r.question} | ${r.api.p50} / ${r.api.p95} / ${r.api.p99} | ${r.rollup.p50} / ${r.rollup.p95} / ${r.rollup.p99} | ${r.raw.p50 ?? '-'} / ${r.raw.p95 ?? '-'} / ${r.raw.p99 ?? '-'}${r.rawFailures > 0 ? ` (${r.rawFailures} failed)` : ''} | ${r.rawOverRollup === null ? '-' : `${r.rawOverRollup}x`} |`),
].join('\n');
await mkdir(values.out!, { recursive: true });
const stamp = report.date.replace(/[:.]/g, '-');
await writeFile(join(values.out!, `cockpit-query-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(values.out!, 'cockpit-query-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(
  join(values.out!, 'cockpit-query-latest.md'),
  `# Cockpit query benchmark\n\n${report.date}, ${report.machine}; ${VEHICLES} vehicles of 6 brands (15 models), ${HOURS} h at one sample per ${EVERY_MS / 1000} s; ${ITERATIONS} questions each (raw: a quarter as many).\nCommand: \`npm run bench:cockpit -- --vehicles ${VEHICLES} --hours ${HOURS} --every ${EVERY_MS / 1000} --iterations ${ITERATIONS}\`\n\n${table}\n\nLoad: ${JSON.stringify(report.loads)}\n`,
);
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
else process.stdout.write(`\n${table}\n`);
