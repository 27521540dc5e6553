// Web cockpit benchmark (issue 12): the cockpit in Debian's Chromium against a service holding 2,000 vehicles and
// a day of data, loaded through the real HTTP ingest path (POST /api/v1/telemetry, batches of a vehicle's samples).
// Measures, with a cold browser cache each time: navigation -> KPI tiles filled, navigation -> every vehicle drawn
// on the map, and the JavaScript the first page loads (gzipped bytes on the wire). Then 10,000 vehicles move at
// 1 Hz (MQTT, QoS 1) while the map page records its frame intervals and long tasks.
//   npm run bench:web -- [--vehicles 2000] [--every 300] [--movers 10000] [--move-seconds 20] [--runs 5] [--screenshot PNG] [--json]
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import pLimit from 'p-limit';
import type { Browser } from 'playwright-core';
import { buildWebBundle } from '../dashboards/web/build.ts';
import { answerOf, createApiClient } from '../services/api/client/client.ts';
import { telemetryTopic } from '../services/contract/telemetry.ts';
import { FLEET_CATALOG } from '../simulators/fleet/catalog.ts';
import { CITIES } from '../simulators/fleet/cities.ts';
import { fleetVin } from '../simulators/fleet/vehicle-model.ts';
import { launchChromium } from '../tooling/chromium.ts';
import { startLocalService } from '../tooling/local-service.ts';
import { markdownTable } from '../tooling/table.ts';

const { values } = parseArgs({
  options: {
    vehicles: { type: 'string', default: '2000' },
    every: { type: 'string', default: '300' },
    movers: { type: 'string', default: '10000' },
    'move-seconds': { type: 'string', default: '20' },
    runs: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    /** also save a picture of the overview over the loaded day (the README's) */
    screenshot: { type: 'string' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const VEHICLES = Number(values.vehicles);
const EVERY_MS = Number(values.every) * 1000;
const MOVERS = Math.max(VEHICLES, Number(values.movers));
const MOVE_S = Number(values['move-seconds']);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);
const ADMIN = 'bench-web-admin-token-0123456789';
const DAY_MS = 24 * 3_600_000;
/** Samples per POST: ~330 bytes each, under the 256 KiB body limit. */
const BATCH = 500;

const log = (line: string): void => {
  if (!values.json) process.stderr.write(`${line}\n`);
};
const live = (line: string): void => {
  if (!values.json && process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(90)}`);
};
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

interface BenchVehicle {
  vin: string;
  brand: string;
  model: string;
  lat: number;
  lon: number;
  /** radius of its circular drive, degrees */
  r: number;
}

function planVehicles(count: number): BenchVehicle[] {
  return Array.from({ length: count }, (_, i) => {
    const spec = FLEET_CATALOG[i % FLEET_CATALOG.length]!;
    const city = CITIES[i % CITIES.length]!;
    const angle = (i * 2.399963) % (2 * Math.PI);
    const d = ((city.radiusKm * 0.8) / 111) * Math.sqrt(((i * 7919) % 1000) / 1000);
    return { vin: fleetVin(spec, spec.years[1], 4242, i), brand: spec.brand, model: spec.model, lat: city.centre.lat + d * Math.sin(angle), lon: city.centre.lon + d * Math.cos(angle), r: 0.01 + (i % 7) * 0.002 };
  });
}

/** A vehicle's sample k minutes (or steps) into its day: driving in a circle, battery draining and charging. */
function sampleOf(v: BenchVehicle, i: number, k: number, ts: number, seq: number) {
  const phase = (k + i) / 30;
  const speed = Math.max(0, Math.round(45 + 45 * Math.sin(phase)));
  return {
    ts,
    seq,
    signals: {
      'Vehicle.Speed': speed,
      'Vehicle.CurrentLocation.Latitude': v.lat + v.r * Math.sin(phase / 4),
      'Vehicle.CurrentLocation.Longitude': v.lon + v.r * Math.cos(phase / 4),
      'Vehicle.TraveledDistance': 10_000 + i + k * 0.4,
      'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 20 + ((k * 0.05 + i) % 75),
      'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': speed === 0 && i % 3 === 0,
      'Vehicle.ADAS.ActiveAutonomyLevel': speed > 60 ? 2 : 0,
      'Vehicle.OBD.Status.MILStatus': i % 97 === 0,
    },
  };
}

const service = await startLocalService({ adminToken: ADMIN }, 'warn');
const base = service.apiUrl;
const api = createApiClient({ baseUrl: base, token: ADMIN, timeoutMs: 120_000 });

let browser: Browser | undefined;
try {
  const fleet = planVehicles(MOVERS);
  const historic = fleet.slice(0, VEHICLES);
  log(`registering ${MOVERS} vehicles through POST /api/v1/vehicles`);
  const registerStarted = performance.now();
  let registered = 0;
  await pLimit(16).map(fleet, async (v) => {
    answerOf('POST /api/v1/vehicles', await api.POST('/api/v1/vehicles', { body: { vin: v.vin, brand: v.brand, model: v.model } }));
    live(`registered ${++registered} of ${MOVERS}`);
  });
  const registerSeconds = round((performance.now() - registerStarted) / 1000);
  log(`\nregistered ${MOVERS} vehicles in ${registerSeconds} s`);

  // a day of history for the first VEHICLES, through HTTP ingest in batches of a vehicle's samples (under the 256 KiB body limit)
  const end = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
  const start = end - DAY_MS + 5 * 60_000;
  const perVehicle = Math.floor((end - start) / EVERY_MS);
  const loadStarted = performance.now();
  let posted = 0;
  log(`loading ${VEHICLES} vehicles x ${perVehicle} samples (one per ${EVERY_MS / 1000} s over a day) through POST /api/v1/telemetry`);
  // time-major, as a fleet would send it: every vehicle's first stretch of the day, then the next
  const batches = Array.from({ length: Math.ceil(perVehicle / BATCH) }, (_, b) =>
    historic.map((v, i) => ({ v, i, from: b * BATCH, to: Math.min(perVehicle, (b + 1) * BATCH) })),
  ).flat();
  await pLimit(CONCURRENCY).map(batches, async ({ v, i, from, to }) => {
    const samples = [];
    for (let k = from; k < to; k++) samples.push(sampleOf(v, i, k, start + k * EVERY_MS + (i % 1000), k));
    const answer = answerOf('POST /api/v1/telemetry', await api.POST('/api/v1/telemetry', { body: { vin: v.vin, samples } }));
    posted += answer.accepted;
    live(`ingested ${posted.toLocaleString('en')} samples, ${Math.round(posted / ((performance.now() - loadStarted) / 1000)).toLocaleString('en')}/s`);
  });
  const ingestS = (performance.now() - loadStarted) / 1000;
  // stored and rolled up: nothing pending in the spool or the rollups
  for (;;) {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const pending = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? '1');
    if (pending('vc_spool_pending_bytes') === 0 && pending('vc_rollup_pending_keys') === 0) break;
    live(`waiting for the store: ${pending('vc_spool_pending_bytes')} spool bytes, ${pending('vc_rollup_pending_keys')} rollup keys pending`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const load = { registerSeconds, samples: posted, ingestSeconds: round(ingestS), storedSeconds: round((performance.now() - loadStarted) / 1000), samplesPerSecond: Math.round(posted / ingestS) };
  log(`\nloaded ${posted} samples: ${load.ingestSeconds} s to ingest, ${load.storedSeconds} s until stored and rolled up`);

  const bundle = await buildWebBundle();
  // the service bundles the page on its first request: not part of what is measured
  await fetch(`${base}/`);
  browser = await launchChromium();

  /** One cold page load (fresh context, empty cache), signed in through the demo-style link. */
  async function coldLoad(hash: string, ready: string): Promise<{ ms: number; jsGzipBytes: number; jsFiles: number; dataGzipBytes: number }> {
    const context = await browser!.newContext({ viewport: { width: 1360, height: 900 } });
    // signed in before the page's scripts run, so that the measured load is the first one (nothing cached)
    await context.addInitScript(`sessionStorage.setItem('vehicle-cloud.token', ${JSON.stringify(ADMIN)})`);
    const page = await context.newPage();
    await page.goto(`${base}/${hash}`);
    // checked on every animation frame, in the page: the time is the page's own clock, not when the test noticed
    // (a function, not a string: the page's Content-Security-Policy forbids eval)
    const found = (selector: string): number => {
      const page = globalThis as unknown as { document: { querySelector(s: string): unknown }; performance: { now(): number } };
      return page.document.querySelector(selector) ? page.performance.now() : 0;
    };
    const ms = (await (await page.waitForFunction(found, ready, { polling: 'raf', timeout: 60_000 })).jsonValue()) as number;
    const resources = (await page.evaluate("performance.getEntriesByType('resource').map((e) => ({ name: e.name, bytes: e.encodedBodySize, type: e.initiatorType }))")) as Array<{ name: string; bytes: number }>;
    const js = resources.filter((r) => r.name.endsWith('.js'));
    const data = resources.filter((r) => r.name.endsWith('.json'));
    await context.close();
    return { ms, jsGzipBytes: js.reduce((s, r) => s + r.bytes, 0), jsFiles: js.length, dataGzipBytes: data.reduce((s, r) => s + r.bytes, 0) };
  }

  const summary = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { median: round(quantile(sorted, 0.5)), max: round(sorted[sorted.length - 1]!), runs: xs.map((x) => round(x)) };
  };
  log(`timing ${RUNS} cold loads of the overview and of the map`);
  const loadAtTimings = round(loadavg()[0]!, 2);
  const kpiRuns = [];
  const mapRuns = [];
  for (let i = 0; i < RUNS; i++) {
    kpiRuns.push(await coldLoad('#/?range=24h', '[data-kpi="samples"] .tile-value'));
    mapRuns.push(await coldLoad('#/map', `.fleet-map[data-draws]`));
  }

  if (values.screenshot) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript(`sessionStorage.setItem('vehicle-cloud.token', ${JSON.stringify(ADMIN)})`);
    const page = await context.newPage();
    await page.goto(`${base}/#/?range=24h`);
    await page.waitForSelector('.chart-canvas[data-ready]');
    await page.waitForTimeout(500);
    await page.screenshot({ path: values.screenshot });
    await context.close();
    log(`saved ${values.screenshot}`);
  }

  // 10,000 vehicles move at 1 Hz while the map page measures frames
  log(`moving ${MOVERS} vehicles at 1 Hz for ${MOVE_S} s with the map open`);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/#token=${ADMIN}`);
  await page.waitForSelector('h1');
  await page.goto(`${base}/#/map`);
  await page.waitForSelector('.fleet-map[data-draws]');
  const client = await mqtt.connectAsync(service.mqttUrl, { protocolVersion: 4, clientId: 'bench-web-mover', username: 'admin', password: ADMIN, reconnectPeriod: 0 });
  const moveStart = Date.now();
  let published = 0;
  let acked = 0;
  let slices = 0;
  const mover = setInterval(() => {
    // one sample per vehicle per second, spread over the second in 20 slices; a late timer catches up
    const due = Math.floor((Date.now() - moveStart) / 50);
    for (; slices < due; slices++) {
      const slice = slices % 20;
      const k = Math.floor(slices / 20) + 2000;
      for (let i = slice; i < fleet.length; i += 20) {
        const v = fleet[i]!;
        const s = sampleOf(v, i, k * 5, Date.now(), 100_000 + k);
        published += 1;
        client.publish(telemetryTopic(v.vin), JSON.stringify({ vin: v.vin, ...s }), { qos: 1 }, (err) => void (err ? undefined : (acked += 1)));
      }
    }
  }, 50);
  await new Promise((r) => setTimeout(r, 3_000));
  // in the page: every animation frame's interval and every long task, for MOVE_S seconds
  const frames = (await page.evaluate(`new Promise((resolve) => {
    const intervals = []; const longTasks = [];
    const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); });
    try { observer.observe({ type: 'longtask' }); } catch {}
    const el = document.querySelector('.fleet-map');
    const draws0 = Number(el.dataset.draws);
    let last = performance.now();
    const end = last + ${MOVE_S * 1000};
    const t0 = performance.now();
    const measured = (name) => performance.getEntriesByName(name).filter((e) => e.startTime >= t0).map((e) => e.duration);
    const step = (now) => {
      intervals.push(now - last); last = now;
      if (now < end) requestAnimationFrame(step);
      else { observer.disconnect(); resolve({ intervals, longTasks, draws: Number(el.dataset.draws) - draws0, frames: Number(document.querySelector('.frames').dataset.frames), drawMs: measured('vc:draw-vehicles'), frameMs: measured('vc:positions-frame') }); }
    };
    requestAnimationFrame(step);
  })`)) as { intervals: number[]; longTasks: number[]; draws: number; frames: number; drawMs: number[]; frameMs: number[] };
  clearInterval(mover);
  const moveSeconds = (Date.now() - moveStart) / 1000;
  const drainUntil = Date.now() + 10_000;
  while (acked < published && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 100));
  await client.endAsync();
  await context.close();
  const sorted = [...frames.intervals].sort((a, b) => a - b);
  const spread = (xs: number[]) => {
    const o = [...xs].sort((a, b) => a - b);
    return { p50: round(quantile(o, 0.5)), max: round(o[o.length - 1] ?? Number.NaN), count: o.length };
  };
  const moving = {
    vehicles: MOVERS,
    seconds: MOVE_S,
    samplesPublished: published,
    samplesAcked: acked,
    /** what the publisher managed, of MOVERS per second asked */
    publishedPerSecond: Math.round(published / moveSeconds),
    streamFrames: frames.frames,
    redraws: frames.draws,
    animationFrames: frames.intervals.length,
    frameMs: { p50: round(quantile(sorted, 0.5)), p99: round(quantile(sorted, 0.99)), max: round(sorted[sorted.length - 1] ?? Number.NaN) },
    framesOver50ms: frames.intervals.filter((x) => x > 50).length,
    longTasks: frames.longTasks.length,
    longestTaskMs: round(Math.max(0, ...frames.longTasks)),
    /** the page's own work on the main thread (User Timing): drawing every vehicle, applying a frame of the stream */
    drawVehiclesMs: spread(frames.drawMs),
    applyFrameMs: spread(frames.frameMs),
  };

  const assets = [...bundle.assets.values()].map((a) => ({ path: a.path.replace(/-[A-Z0-9]{8}\./, '.'), bytes: a.body.length, gzipBytes: a.gzip.length })).sort((a, b) => b.gzipBytes - a.gzipBytes);
  const report = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, node ${process.version}, chromium ${browser.version()}`,
    /** the machine is shared: its 1-minute load average when the measurements ended */
    loadAverage: { atTimings: loadAtTimings, atEnd: round(loadavg()[0]!, 2) },
    command: `npm run bench:web -- --vehicles ${VEHICLES} --every ${EVERY_MS / 1000} --movers ${MOVERS} --move-seconds ${MOVE_S} --runs ${RUNS}`,
    vehicles: VEHICLES,
    everyS: EVERY_MS / 1000,
    load,
    kpiTilesMs: summary(kpiRuns.map((r) => r.ms)),
    mapDrawnMs: summary(mapRuns.map((r) => r.ms)),
    firstPageJsGzipBytes: kpiRuns[0]!.jsGzipBytes,
    firstPageJsFiles: kpiRuns[0]!.jsFiles,
    mapPageJsGzipBytes: mapRuns[0]!.jsGzipBytes,
    mapPageDataGzipBytes: mapRuns[0]!.dataGzipBytes,
    moving,
    bundleBuildMs: round(bundle.buildMs),
    assets,
  };
  const kb = (b: number) => `${round(b / 1024)} KB`;
  const table = markdownTable([
    ['measure', 'result', 'aim'],
    [`navigation -> KPI tiles filled (overview, 24 h, cold cache), median / max of ${RUNS}`, `${report.kpiTilesMs.median} / ${report.kpiTilesMs.max} ms`, '< 1000 ms'],
    [`navigation -> ${VEHICLES.toLocaleString('en')} vehicles drawn on the map (cold cache), median / max of ${RUNS}`, `${report.mapDrawnMs.median} / ${report.mapDrawnMs.max} ms`, ''],
    [`JS the first page loads (gzipped, ${report.firstPageJsFiles} files)`, kb(report.firstPageJsGzipBytes), '<= 150 KB'],
    ['JS the map page loads (gzipped); its basemap data', `${kb(report.mapPageJsGzipBytes)}; ${kb(report.mapPageDataGzipBytes)}`, ''],
    [`map page while ${MOVERS.toLocaleString('en')} vehicles move at 1 Hz (${moving.publishedPerSecond.toLocaleString('en')} samples/s published): frame interval p50 / p99 / max`, `${moving.frameMs.p50} / ${moving.frameMs.p99} / ${moving.frameMs.max} ms`, 'no frame > 50 ms'],
    ['frames over 50 ms; long tasks (longest)', `${moving.framesOver50ms} of ${moving.animationFrames}; ${moving.longTasks} (${moving.longestTaskMs} ms)`, '0'],
    ['position stream frames received; vehicle layer redraws', `${moving.streamFrames}; ${moving.redraws} in ${MOVE_S} s`, '~1 per second'],
    [`the page's own main-thread work per redraw of ${MOVERS.toLocaleString('en')} vehicles, p50 / max; per applied frame`, `${moving.drawVehiclesMs.p50} / ${moving.drawVehiclesMs.max} ms; ${moving.applyFrameMs.p50} / ${moving.applyFrameMs.max} ms`, ''],
  ]).join('\n');
  const md = `# Web cockpit benchmark\n\n${report.date}, ${report.machine}.\nCommand: \`${report.command}\`\n\nData: ${VEHICLES.toLocaleString('en')} vehicles, a day at one sample per ${EVERY_MS / 1000} s (${posted.toLocaleString('en')} samples) loaded through POST /api/v1/telemetry in ${load.ingestSeconds} s (${load.samplesPerSecond.toLocaleString('en')} samples/s; stored and rolled up after ${load.storedSeconds} s), embedded store. The machine's 1-minute load average was ${report.loadAverage.atTimings} when the page loads were timed and ${report.loadAverage.atEnd} at the end (2 cores, shared with other work). Then ${MOVERS.toLocaleString('en')} vehicles publish over MQTT (QoS 1) once a second (${moving.samplesPublished.toLocaleString('en')} published, ${moving.samplesAcked.toLocaleString('en')} acknowledged) while the map page runs in headless Chromium on the same 2 cores.\n\n${table}\n\nAssets (gzipped): ${assets.map((a) => `${a.path} ${kb(a.gzipBytes)}`).join(', ')}.\n`;
  await mkdir(values.out!, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  await writeFile(join(values.out!, `web-cockpit-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(values.out!, 'web-cockpit-latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(values.out!, 'web-cockpit-latest.md'), md);
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`\n${table}\n`);
} finally {
  await browser?.close();
  await service.cleanup();
}
