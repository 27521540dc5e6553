// The web cockpit in a real browser (Debian's Chromium through playwright-core) against a running service with a
// simulated fleet: sign-in by form and by the demo's link, drill-down by clicks and by deep links, numbers equal
// to the API's, live values and map markers moving, the CSV export, tenant scoping, and on every page no console
// error, no failed request, no request off the service and no token in a URL. Screenshots of every view go to
// tests/artifacts/screenshots.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { CockpitKpis } from '../../services/cockpit/answer.ts';
import { runFleet } from '../../simulators/fleet/fleet.ts';
import { planFleet } from '../../simulators/fleet/vehicle-model.ts';
import { browserMissing, launchChromium } from '../../tooling/chromium.ts';
import { screenshot, watchContext, type PageWatch } from '../helpers/browser.ts';
import { apiClient } from '../helpers/api.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { freePort, ROOT, tempDir, waitFor } from '../../tooling/system.ts';

const missing = browserMissing();
if (missing) {
  t.plan(0, missing);
  process.exit(0);
}

// a real browser over a live fleet takes minutes on two shared cores
t.setTimeout(600_000);
const FLEET = { vehicles: 24, seed: 12 };
const service = await startLocalService();
t.teardown(service.cleanup);
const admin = service.adminToken.token;
const api = apiClient(service.apiUrl, admin);
const fleetStop = new AbortController();
const fleetStart = Date.now();
const fleet = runFleet({ api: service.apiUrl, broker: service.mqttUrl, token: admin, vehicles: FLEET.vehicles, rate: 1, durationS: 0, seed: FLEET.seed, gaps: false }, { signal: fleetStop.signal });
t.teardown(async () => {
  fleetStop.abort();
  await fleet.catch(() => undefined);
});
const plan = planFleet({ seed: FLEET.seed, vehicles: FLEET.vehicles });
// the brand with most vehicles, and one of its models with a vehicle
const brandCounts = new Map<string, number>();
for (const v of plan) brandCounts.set(v.brand, (brandCounts.get(v.brand) ?? 0) + 1);
const brand = [...brandCounts].sort((a, b) => b[1] - a[1])[0]![0];
const vehicle = plan.find((v) => v.brand === brand)!;
const model = vehicle.model;

await waitFor('the fleet to publish', async () => {
  const list = await api.get<{ counts: { online: number } }>('/api/v1/fleet/vehicles');
  return list.status === 200 && list.body.counts.online === FLEET.vehicles ? true : undefined;
}, 60_000, 250);
const tenant = (await api.post<{ token: string }>('/api/v1/tenants', { name: `${brand} Group`, brands: [brand] })).body.token;

const browser: Browser = await launchChromium();
t.teardown(() => browser.close());
const views = (context: BrowserContext) => context.newPage();
/** What went wrong on the pages, less the errors a test caused on purpose. */
const problems = (watch: PageWatch, allowed: readonly RegExp[] = []) => watch.problems.filter((p) => !allowed.some((a) => a.test(p)));
const CLEAN = 'no console error, failed request, request off the service or token in a URL';

/** A context signed in through the link the demo prints (`/#token=`). */
/**
 * Wait until the map stands still: no zoom animating (Leaflet animates its first fit for 250 ms, from an animation
 * frame, and a screenshot taken meanwhile shows the vehicles off the basemap) and no frame drawn for 400 ms.
 */
async function mapSettled(page: Page): Promise<void> {
  const state = (): Promise<string> => page.evaluate("(() => { const m = document.querySelector('.fleet-map'); return `${m?.classList.contains('leaflet-zoom-anim')}/${m?.getAttribute('data-draws')}`; })()");
  await waitFor('the map to stand still', async () => {
    const before = await state();
    await new Promise((r) => setTimeout(r, 400));
    const after = await state();
    return before === after && !after.startsWith('true') ? true : undefined;
  }, 15_000, 50);
}

async function signedIn(token: string, viewport = { width: 1360, height: 900 }): Promise<{ context: BrowserContext; page: Page; watch: PageWatch }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const watch = watchContext(context, service.apiUrl, [token]);
  const page = await views(context);
  await page.goto(`${service.apiUrl}/#token=${encodeURIComponent(token)}`);
  await page.getByRole('heading', { level: 1, name: 'Fleet overview' }).waitFor();
  return { context, page, watch };
}

const tileText = (page: Page, kpi: string) => page.locator(`[data-kpi="${kpi}"] .tile-value`).innerText();
const int = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const one = new Intl.NumberFormat('en', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
/** The tile texts the page must show for these KPIs. */
const expectedTiles = (k: CockpitKpis): Record<string, string> => ({
  vehicles: int.format(k.vehicles),
  activeVehicles: int.format(k.activeVehicles),
  samples: int.format(k.samples),
  avgSpeed: k.avgSpeed === null ? '–' : `${one.format(k.avgSpeed)} km/h`,
  distanceKm: `${int.format(k.distanceKm)} km`,
  avgSoc: k.avgSoc === null ? '–' : `${one.format(k.avgSoc)} %`,
  charging: int.format(k.charging),
  adasShare: k.adasShare === null ? '–' : `${one.format(k.adasShare * 100)} %`,
  faults: int.format(k.faults),
});

t.test('sign-in through the form: a wrong token is refused, the right one opens the cockpit, sign-out forgets it', async (t) => {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const watch = watchContext(context, service.apiUrl, [admin]);
  const page = await views(context);
  await page.goto(service.apiUrl);
  const field = page.getByLabel('API token');
  t.equal(await field.getAttribute('type'), 'password');
  await field.fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
  t.equal(await page.getByText('no longer accepts').count(), 0, 'a wrong token typed in is not reported as a revoked one');
  await screenshot(page, '00-sign-in');
  await field.fill(admin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Fleet overview' }).waitFor();
  t.equal(await page.evaluate('Object.values(sessionStorage).length'), 1, 'the token is kept in sessionStorage');
  t.notMatch(page.url(), admin, 'and not in the address');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API token').waitFor();
  t.equal(await page.evaluate('Object.values(sessionStorage).length'), 0, 'signed out: forgotten');
  // the refused token answered 401 on purpose
  t.same(problems(watch, [/HTTP 401 for GET .*\/api\/v1\/me/, /console error .*status of 401/]), [], CLEAN);
});

t.test('the link `npm run demo` prints signs in at once and leaves no token in the address bar or history', async (t) => {
  const data = await tempDir('demo');
  t.teardown(data.remove);
  const [http, mqttPort] = [await freePort(), await freePort()];
  const demo = spawn(process.execPath, ['--import', './tests/loader/register.mjs', 'tooling/demo.ts', '--vehicles', '3'], {
    cwd: ROOT,
    env: { ...process.env, VC_DATA_DIR: data.path, VC_HTTP_PORT: String(http), VC_MQTT_PORT: String(mqttPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => demo.once('exit', r));
  t.teardown(async () => {
    if (demo.exitCode === null) demo.kill('SIGINT');
    await exited;
  });
  let out = '';
  demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const link = await waitFor('the demo to print its link', async () => /Cockpit\s+(\S+)/.exec(out)?.[1], 60_000, 100);
  t.match(link, new RegExp(`^http://127\\.0\\.0\\.1:${http}/#token=`));
  const token = decodeURIComponent(link.slice(link.indexOf('#token=') + 7));
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const watch = watchContext(context, link, [token]);
  const page = await views(context);
  await page.goto(link);
  await page.getByRole('heading', { level: 1, name: 'Fleet overview' }).waitFor();
  t.equal(new URL(page.url()).hash, '#/', 'the fragment is replaced');
  t.notOk(page.url().includes(token));
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Fleet overview' }).waitFor();
  t.pass('a reload stays signed in (sessionStorage)');
  await page.goBack();
  t.equal(page.url(), 'about:blank', 'the link replaced its own history entry: Back never shows the token');
  t.same(problems(watch), [], CLEAN);
});

t.test('fleet -> brand -> model -> vehicle by clicks, every number as the API gives it', async (t) => {
  const { context, page, watch } = await signedIn(admin);
  t.teardown(() => context.close());
  // a window wholly in the past, so that the page and the test read the same stored samples
  await waitFor('a minute of data', async () => (Date.now() - fleetStart > 20_000 ? true : undefined), 30_000, 500);
  const from = fleetStart - 60_000;
  const to = Date.now() - 5_000;
  await new Promise((r) => setTimeout(r, 3_000));
  const range = `range=custom&from=${from}&to=${to}`;
  const fleetCockpitKpis = (await api.get<{ kpis: CockpitKpis }>(`/api/v1/fleet/cockpit?from=${from}&to=${to}`)).body.kpis;
  await page.goto(`${service.apiUrl}/#/?${range}`);
  await page.locator('[data-kpi="samples"]').waitFor();
  for (const [kpi, text] of Object.entries(expectedTiles(fleetCockpitKpis))) t.equal(await tileText(page, kpi), text, `fleet ${kpi}`);
  await page.locator('.chart-canvas[data-ready]').first().waitFor();
  await screenshot(page, '01-overview');

  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Brands' }).click();
  await page.getByRole('heading', { level: 1, name: 'Brands and models' }).waitFor();
  t.match(page.url(), /#\/brands/);
  await page.goto(`${service.apiUrl}/#/brands?${range}`);
  const brandCockpitKpis = (await api.get<{ kpis: CockpitKpis }>(`/api/v1/brands/${brand}/cockpit?from=${from}&to=${to}`)).body.kpis;
  const row = page.locator(`tr[data-row="${brand}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allInnerTexts();
  const e = expectedTiles(brandCockpitKpis);
  t.same([cells[0], cells[2], cells[3]], [e.vehicles, e.activeVehicles, e.samples], 'the brand row shows the brand cockpit');
  t.equal(await page.locator('tr[data-row="totals"] td').first().innerText(), int.format(fleetCockpitKpis.vehicles), 'the totals row is the fleet');
  await row.getByRole('button', { name: `Show models of ${brand}` }).click();
  await page.locator(`tr[data-row="${brand}/${model}"]`).waitFor();
  await page.getByRole('button', { name: /^Samples/ }).click();
  t.equal(await page.locator('th[aria-sort="descending"]').innerText(), 'Samples ▼', 'a numeric column sorts, most first');
  await screenshot(page, '02-brands');

  await row.getByRole('link', { name: brand }).click();
  await page.getByRole('heading', { level: 1, name: brand }).waitFor();
  for (const [kpi, text] of Object.entries(expectedTiles(brandCockpitKpis))) t.equal(await tileText(page, kpi), text, `brand ${kpi}`);
  await screenshot(page, '03-brand');

  await page.locator(`tr[data-row="${model}"]`).getByRole('link', { name: model }).click();
  await page.getByRole('heading', { level: 1, name: `${brand} ${model}` }).waitFor();
  const modelCockpitKpis = (await api.get<{ kpis: CockpitKpis }>(`/api/v1/brands/${brand}/models/${encodeURIComponent(model)}/cockpit?from=${from}&to=${to}`)).body.kpis;
  await page.locator('[data-kpi="samples"]').waitFor();
  for (const [kpi, text] of Object.entries(expectedTiles(modelCockpitKpis))) t.equal(await tileText(page, kpi), text, `model ${kpi}`);
  const other = plan.find((v) => v.model !== model)!;
  await page.getByLabel('Compare with').selectOption(`${other.brand}/${other.model}`);
  await page.getByRole('table', { name: 'Model comparison' }).waitFor();
  t.match(page.url(), /compare=/, 'the comparison is in the deep link');
  await page.locator('.chart-canvas[data-ready]').first().waitFor();
  await screenshot(page, '04-model-compared');

  await page.getByRole('link', { name: 'Vehicles of this model' }).click();
  await page.getByRole('heading', { level: 1, name: 'Vehicles' }).waitFor();
  await page.locator(`tr[data-row="${vehicle.vin}"]`).getByRole('link').click();
  await page.getByRole('heading', { level: 1, name: new RegExp(`${brand} ${model}`) }).waitFor();
  t.match(page.url(), new RegExp(`#/vehicles/${vehicle.vin}`));
  await page.goBack();
  await page.getByRole('heading', { level: 1, name: 'Vehicles' }).waitFor();
  t.pass('the back button returns to the list');
  t.same(problems(watch), [], CLEAN);
});

t.test('deep links open each view directly; the vehicles list filters with counts and pages', async (t) => {
  const { context, page, watch } = await signedIn(admin);
  t.teardown(() => context.close());
  await page.goto(`${service.apiUrl}/#/brands/${brand}/models/${encodeURIComponent(model)}?range=1h`);
  await page.getByRole('heading', { level: 1, name: `${brand} ${model}` }).waitFor();
  t.equal(await page.getByRole('button', { name: '1h' }).getAttribute('aria-pressed'), 'true', 'the range comes from the link');
  await page.reload();
  await page.getByRole('heading', { level: 1, name: `${brand} ${model}` }).waitFor();

  await page.goto(`${service.apiUrl}/#/vehicles`);
  await page.locator('[data-filter="all"] .count').filter({ hasText: String(FLEET.vehicles) }).waitFor();
  const counts = (await api.get<{ counts: Record<string, number> }>('/api/v1/fleet/vehicles')).body.counts;
  for (const f of ['online', 'offline', 'charging', 'fault']) {
    const shown = Number(await page.locator(`[data-filter="${f}"] .count`).innerText());
    t.ok(Math.abs(shown - counts[f]!) <= 1, `${f}: ${shown} shown, ${counts[f]} in the API a moment later`);
  }
  await page.getByLabel('Search by VIN').fill(vehicle.vin.slice(-6).toLowerCase());
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator(`tr[data-row="${vehicle.vin}"]`).waitFor();
  t.equal(await page.locator('tbody tr').count(), 1, 'a VIN fragment finds its vehicle');
  t.match(page.url(), new RegExp(`q=${vehicle.vin.slice(-6)}`));
  await screenshot(page, '05-vehicles-search');
  await page.goto(`${service.apiUrl}/#/vehicles?sort=speed&order=desc`);
  await page.locator('th[aria-sort="descending"]').filter({ hasText: 'Speed' }).waitFor();
  await screenshot(page, '05-vehicles');
  t.same(problems(watch), [], CLEAN);
});

t.test('the vehicle page: its twin changes live, its charts and route draw, its CSV downloads and parses', async (t) => {
  const { context, page, watch } = await signedIn(admin);
  t.teardown(() => context.close());
  await page.goto(`${service.apiUrl}/#/vehicles/${vehicle.vin}`);
  await page.locator('[data-signal="Vehicle.Speed"] [data-value]').waitFor();
  const seen = await page.locator('[data-field="lastSeen"]').innerText();
  await waitFor('the live twin to move', async () => ((await page.locator('[data-field="lastSeen"]').innerText()) !== seen ? true : undefined), 10_000, 200);
  t.pass('last seen moves with the live stream');
  await page.locator('.chart-canvas[data-ready]').first().waitFor();
  await page.locator('.route-map[data-drawn]').waitFor();
  await screenshot(page, '06-vehicle');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  t.match(download.suggestedFilename(), new RegExp(`^${vehicle.vin}-.*\\.csv$`));
  const rows = parse(readFileSync((await download.path())!, 'utf8'), { columns: true }) as Array<Record<string, string>>;
  t.ok(rows.length > 5, `${rows.length} rows`);
  t.ok(rows.every((r) => /^\d{4}-\d\d-\d\dT/.test(r.time!) && Number(r.ts) > 0 && r['Vehicle.Speed'] !== undefined), 'each row a sample with its time and signals');
  t.ok(rows.every((r, i) => i === 0 || Number(r.ts) > Number(rows[i - 1]!.ts)), 'in time order');
  t.notOk(watch.urls.some((u) => u.includes('telemetry.csv')), 'the page downloads through a one-time link, not the token-guarded route');
  t.same(problems(watch), [], CLEAN);
});

t.test('the live map draws every vehicle and moves a selected one as positions stream in', async (t) => {
  const { context, page, watch } = await signedIn(admin);
  t.teardown(() => context.close());
  await page.goto(`${service.apiUrl}/#/map`);
  await page.locator(`.fleet-map[data-vehicles="${FLEET.vehicles}"]`).waitFor();
  const legend = await page.locator('.legend [data-state]').allInnerTexts();
  t.equal(legend.reduce((sum, l) => sum + Number(/\d+$/.exec(l.trim())?.[0] ?? 0), 0), FLEET.vehicles, 'the legend counts every vehicle');
  await page.locator('.frames:not([data-frames="0"])').waitFor({ timeout: 10_000 });
  await mapSettled(page);
  await screenshot(page, '07-map', false);
  await page.goto(`${service.apiUrl}/#/map?vin=${vehicle.vin}`);
  await page.reload();
  const position = page.locator('[data-position]');
  await position.waitFor();
  const before = await position.innerText();
  const frames = Number(await page.locator('.frames').getAttribute('data-frames'));
  await waitFor('a new frame', async () => (Number(await page.locator('.frames').getAttribute('data-frames')) > frames ? true : undefined), 10_000, 200);
  const moved = await waitFor('the selected vehicle to move or change state', async () => {
    const now = await position.innerText();
    return now !== before ? now : undefined;
  }, 60_000, 500).catch(() => undefined);
  // a parked or charging vehicle stands still: then another vehicle must have moved on the map
  t.ok(moved !== undefined || (await page.locator('.legend [data-state="driving"]').count()) > 0, 'positions change');
  await screenshot(page, '07-map-selected', false);
  t.same(problems(watch), [], CLEAN);
});

t.test('leaving the map while it zooms throws nothing (Leaflet ends a zoom from a timer that outlives the map)', async (t) => {
  const { context, page, watch } = await signedIn(admin);
  t.teardown(() => context.close());
  for (let i = 0; i < 3; i++) {
    await page.goto(`${service.apiUrl}/#/map`);
    await page.locator(`.fleet-map[data-vehicles="${FLEET.vehicles}"]`).waitFor();
    // a zoom animates for 250 ms; the view is left at once, as a click on another page would
    await page.locator('.leaflet-control-zoom-in').click();
    await page.goto(`${service.apiUrl}/#/brands`);
    await page.locator('tr[data-row="totals"]').waitFor();
    await page.waitForTimeout(400);
  }
  t.same(problems(watch), [], CLEAN);
});

t.test('the faults view and the admin\'s ingestion health and dead letters', async (t) => {
  const { context, page, watch } = await signedIn(admin);
  t.teardown(() => context.close());
  await page.getByRole('heading', { name: 'Ingestion health' }).waitFor();
  await page.locator('[data-kpi="messagesPerSecond"]').waitFor();
  await screenshot(page, '08-ingestion-health');
  await page.goto(`${service.apiUrl}/#/faults`);
  await page.getByRole('heading', { name: /Reporting a fault now/ }).waitFor();
  await page.getByRole('heading', { name: 'Recent dead letters' }).waitFor();
  const faults = (await api.get<{ models: unknown[] }>('/api/v1/faults')).body;
  await page.locator('section[aria-labelledby="models-title"] tbody tr').first().waitFor();
  t.equal(await page.locator('section[aria-labelledby="models-title"] tbody tr').count(), faults.models.length, 'a row per model');
  await screenshot(page, '09-faults');
  t.same(problems(watch), [], CLEAN);
});

t.test('a tenant sees only its brands, everywhere; another brand is not found', async (t) => {
  const { context, page, watch } = await signedIn(tenant);
  t.teardown(() => context.close());
  const own = plan.filter((v) => v.brand === brand).length;
  await page.locator('header.top .who').filter({ hasText: `${brand} Group` }).waitFor();
  t.equal(await tileText(page, 'vehicles'), int.format(own), 'the overview counts its vehicles only');
  t.notOk(await page.getByRole('heading', { name: 'Ingestion health' }).count(), 'no ingestion health for a tenant');
  await page.goto(`${service.apiUrl}/#/brands`);
  await page.locator('tr[data-row="totals"]').waitFor();
  t.same(await page.locator('tbody tr[data-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-row'))), [brand]);
  await page.goto(`${service.apiUrl}/#/vehicles`);
  await page.locator('[data-filter="all"] .count').filter({ hasText: String(own) }).waitFor();
  t.ok((await page.locator('tbody tr td:nth-child(2)').allInnerTexts()).every((b) => b === brand), 'only its vehicles in the list');
  await page.goto(`${service.apiUrl}/#/map`);
  await page.locator(`.fleet-map[data-vehicles="${own}"]`).waitFor();
  await mapSettled(page);
  await screenshot(page, '10-tenant-map', false);
  const foreign = plan.find((v) => v.brand !== brand)!;
  await page.goto(`${service.apiUrl}/#/brands/${foreign.brand}`);
  await page.getByRole('alert').filter({ hasText: 'BRAND_NOT_FOUND' }).first().waitFor();
  await page.goto(`${service.apiUrl}/#/vehicles/${foreign.vin}`);
  await page.getByRole('alert').filter({ hasText: 'VEHICLE_NOT_FOUND' }).first().waitFor();
  await screenshot(page, '11-tenant-not-found');
  t.same(problems(watch, [/HTTP 404 for GET .*\/api\/v1\/(brands|vehicles)\//, /console error .*status of 404/]), [], CLEAN);
});

t.test('on a phone: navigation, labels and the map still work', async (t) => {
  const { context, page, watch } = await signedIn(admin, { width: 390, height: 844 });
  t.teardown(() => context.close());
  await page.locator('[data-kpi="samples"]').waitFor();
  await screenshot(page, '12-phone-overview');
  const unlabelled = await page.evaluate("[...document.querySelectorAll('input, select')].filter((el) => !el.labels?.length && !el.getAttribute('aria-label')).length");
  t.equal(unlabelled, 0, 'every field has a label');
  await page.getByRole('link', { name: 'Map' }).click();
  await page.locator(`.fleet-map[data-vehicles="${FLEET.vehicles}"]`).waitFor();
  await mapSettled(page);
  await screenshot(page, '12-phone-map', false);
  t.same(problems(watch), [], CLEAN);
});
