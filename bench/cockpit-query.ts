// The cockpit benchmark (issues 4 and 15): a fleet of 6 brands (15 models) comes back from a dead zone and sends the
// history it buffered as MQTT store-and-forward batches, through the real ingest path of a running service (its
// embedded broker for the embedded store; Mosquitto for InfluxDB). Measured: how long the store took to catch up
// after the last batch was acknowledged (until the fleet cockpit counts every sample), then the latency of brand,
// model and fleet cockpits over 24 h and over 7 days on the caught-up store, through the HTTP API (the first, cold
// question apart from the repeated ones, whose window slides as a dashboard's does), and the same questions asked
// of the store's rollups and of its raw samples.
//   npm run bench:cockpit -- [--history] [--vehicles 2000] [--stores embedded,influx] [--json]
import { join, resolve } from 'node:path';
import { answerOf, createApiClient, type ApiClient } from '../services/api/client/client.ts';
import { CockpitReader } from '../services/cockpit/reader.ts';
import type { RunningService } from '../services/service.ts';
import type { CockpitWindow } from '../services/store/telemetry-store.ts';
import { metricTotals, percentile, readServiceMetrics, serviceTarget } from '../simulators/loadtest/index.ts';
import { startInfluxd, type Influxd } from '../tooling/influxd.ts';
import { startLocalService } from '../tooling/local-service.ts';
import { startMosquitto, type MosquittoBroker } from '../tooling/mosquitto.ts';
import { markdownTable } from '../tooling/table.ts';
import { WINDOW_STEP_MS } from '../dashboards/web/src/range.ts';
import { historyCount, type HistoryRange } from './history.ts';
import type { HistoryJob, HistoryProgress } from './history-publisher.ts';
import { ROOT } from './infra.ts';
import { fileStamp, machineInfo, programOptions, runAsProgram, wholeNumber, wholeSeconds, writeResults, type MachineInfo, type ProgramIo } from './program.ts';
import { forkHelper, type RpcChild } from './rpc.ts';

export const USAGE = `Usage: npm run bench:cockpit -- [options]

Loads a fleet's history through MQTT store-and-forward batches into a running service, per store, measures how
long the store takes to count every sample after the last batch was acknowledged, then cockpit query latencies.
Needs Debian's mosquitto and influxdb for the influx store.

Options:
  --history          only the catch-up check of issue 15: a day of history for 1,000 vehicles at one sample
                     per 30 s (2.88 M samples), counted by the cockpit within 60 s of the last acknowledgement?
  --stores LIST      embedded, influx (default both)
  --vehicles N       vehicles (default 2000; --history: 1000)
  --hours H          the recent history loaded at --every (default 24)
  --every S          seconds between samples of the recent history (default 30)
  --week-days D      days of history in all, the older ones at --week-every (default 7; 0: none; --history: 0)
  --week-every S     seconds between samples of the older days (default 300)
  --iterations N     questions per kind of cockpit (default 40; raw ones a quarter as many; --history: 0)
  --connections N    MQTT connections sending the history (default 4, over 2 processes)
  --catch-up-timeout D  longest wait for the store to count everything (default 900s)
  --window-step S    the questions' windows end on the next multiple of S seconds (default 300, as the web
                     cockpit's; 60: sliding by the minute, buckets not on 5 minutes read minutes)
  --out DIR          where results go (default bench/results)
  --json             print the result JSON instead of the tables
  -h, --help         this help

VC_LOG_LEVEL=warn (or info, debug) shows the service's own log; silent by default.`;

export type StoreKind = 'embedded' | 'influx';

export interface CockpitBenchOptions {
  stores: StoreKind[];
  vehicles: number;
  hours: number;
  everyS: number;
  weekDays: number;
  weekEveryS: number;
  iterations: number;
  connections: number;
  catchUpTimeoutMs: number;
  /** the questions' windows end on the next multiple of this (ms) */
  windowStepMs: number;
  /** the --history check: its verdict is printed against issue 15's 60 s */
  history: boolean;
  outDir: string;
}

export interface CatchUp {
  /** samples loaded and what /metrics and the fleet cockpit counted at the end of the wait */
  expected: number;
  stored: number;
  counted: number;
  /** ms from the last PUBACK until every sample was stored, and until the fleet cockpit counted them all (null: never) */
  storedAfterMs: number | null;
  countedAfterMs: number | null;
  /**
   * ms from the last PUBACK until the cockpit had sealed every period due (vc_rollup_seal_backlog 0 in two readings a
   * second apart, after everything was counted); null: not within the catch-up timeout. The questions are asked then:
   * until it, a question over unsealed periods reads their finer facts
   */
  sealedAfterMs?: number | null;
  /** ms from the last PUBACK until the wait ended (every sample counted and settled, the timeout, or a stuck count) */
  endedAfterMs: number;
  /** the most (vehicle, minute) rollup keys waiting, and spool bytes, seen while catching up */
  maxRollupPendingKeys: number | null;
  maxSpoolPendingBytes: number | null;
  rejects: number;
  /** what went wrong: samples rejected, or counted more than once */
  notes: string[];
  /** every ~2 s from the first publish: seconds since the last PUBACK (negative while publishing), stored and counted */
  timeline: Array<{ t: number; stored: number; counted: number; rollupPendingKeys: number | null; spoolPendingBytes: number | null; askMs?: number }>;
  /** how long the fleet cockpit question that counts took while the store caught up (every poll, failed ones too) */
  askMs?: LatencyStats;
  /** the slowest of those questions, ms */
  askMaxMs?: number;
  /**
   * those that failed (a dashboard refreshing would show an error, then ask again): how many, and the first error; the
   * wait goes on with the count of the last answer
   */
  askFailures?: number;
  askError?: string;
}

export interface LoadSummary {
  vehicles: number;
  samples: number;
  messages: number;
  /** from the first publish to the last PUBACK */
  publishSeconds: number;
  ackedPerSecond: number;
  windows: { from: number; to: number };
}

export interface LatencyStats {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface QueryRow {
  store: StoreKind;
  question: string;
  /** the first question of its kind on the caught-up store, ms */
  coldMs: number;
  api: LatencyStats;
  rollup: LatencyStats;
  raw: LatencyStats;
  /** raw questions that failed (e.g. timed out after the store's 30 s request timeout) */
  rawFailures: number;
  rawOverRollup: number | null;
}

export interface StoreRun {
  store: StoreKind;
  load: LoadSummary;
  catchUp: CatchUp;
  queries: QueryRow[];
  error?: string;
}

export interface CockpitBenchResult {
  tool: 'vehicle-cloud cockpit bench';
  date: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  options: Omit<CockpitBenchOptions, 'outDir'>;
  stores: StoreRun[];
}

export const BRANDS: Record<string, string[]> = {
  Voltra: ['E-Cross', 'E-City', 'Volt S'],
  Nordwind: ['Fjord', 'Skagen'],
  Kaiyun: ['K3', 'K5', 'K7'],
  Solenne: ['Aube', 'Zenith'],
  Ardent: ['Forge', 'Spark'],
  Meridia: ['Tide', 'Crest', 'Reef'],
};
const MODELS = Object.entries(BRANDS).flatMap(([brand, models]) => models.map((model) => ({ brand, model })));
const ADMIN = 'bench-cockpit-admin-token-0123456789';
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The older days start this long after the 7-day limit of the contract, so none is too old by the time it arrives. */
const WEEK_MARGIN_MS = HOUR_MS;
const PUBLISHERS = 2;
/** With every sample stored and no rollup key pending, a count that has not moved for this long is final. */
const STUCK_MS = 120_000;
/**
 * How often the fleet cockpit is asked during the catch-up, as a dashboard refreshing would: the service runs in this
 * process, and a question every 0.5 s took about a tenth of its time in a profile of the catch-up.
 */
const CATCH_UP_POLL_MS = 2_000;
/** Once every sample is counted: how long the count is watched further for an over-count (until all is settled). */
const OVERCOUNT_WATCH_MS = 30_000;
/** Issue 15: a day of history for 1,000 vehicles is counted within this long after the last acknowledgement. */
export const HISTORY_BOUND_MS = 60_000;

export function cockpitBenchOptions(input: Partial<CockpitBenchOptions> = {}): CockpitBenchOptions {
  const history = input.history ?? false;
  return {
    stores: ['embedded', 'influx'],
    vehicles: history ? 1_000 : 2_000,
    hours: 24,
    everyS: 30,
    weekDays: history ? 0 : 7,
    weekEveryS: 300,
    iterations: history ? 0 : 40,
    connections: 4,
    catchUpTimeoutMs: 900_000,
    windowStepMs: WINDOW_STEP_MS,
    outDir: join(ROOT, 'bench', 'results'),
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
    history,
  };
}

export function vinOf(i: number): string {
  const alphabet = '0123456789ABCDEFGHJKLMNPRSTUVWXYZ';
  let s = '';
  for (let x = i, k = 0; k < 6; k++, x = Math.floor(x / alphabet.length)) s = alphabet[x % alphabet.length] + s;
  return `BNCHC0000XX${s}`;
}

/** The history's time ranges, oldest first, ending at `end` (a whole minute). */
export function historyRanges(options: Pick<CockpitBenchOptions, 'hours' | 'everyS' | 'weekDays' | 'weekEveryS'>, end: number): HistoryRange[] {
  const recentFrom = end - options.hours * HOUR_MS;
  const ranges: HistoryRange[] = [];
  const olderFrom = end - options.weekDays * DAY_MS + WEEK_MARGIN_MS;
  if (options.weekDays > 0 && olderFrom < recentFrom) ranges.push({ from: olderFrom, to: recentFrom, everyMs: options.weekEveryS * 1000 });
  ranges.push({ from: recentFrom, to: end, everyMs: options.everyS * 1000 });
  return ranges;
}

const percentileOf = (sorted: number[], p: number): number | null => percentile(sorted, p);
function stats(ms: number[]): LatencyStats {
  const sorted = [...ms].sort((a, b) => a - b);
  const r = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);
  return { p50: r(percentileOf(sorted, 50)), p95: r(percentileOf(sorted, 95)), p99: r(percentileOf(sorted, 99)) };
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Servers {
  service: RunningService;
  /** how the history publishers log in */
  mqtt: { url: string; username?: string; password?: string };
  stop(): Promise<void>;
}

async function startServers(kind: StoreKind): Promise<Servers> {
  let influxd: Influxd | undefined;
  let mosquitto: MosquittoBroker | undefined;
  try {
    if (kind === 'influx') {
      influxd = await startInfluxd();
      mosquitto = await startMosquitto();
    }
    // the service's own log, silent unless VC_LOG_LEVEL asks for it (warn: what went wrong while it caught up)
    const logLevel = process.env.VC_LOG_LEVEL ?? 'silent';
    const service = await startLocalService(
      { adminToken: ADMIN, logLevel: logLevel as never, ...(influxd && mosquitto ? { influxUrl: influxd.url, influxDb: 'vc_bench', mqttUrl: mosquitto.url } : {}) },
      logLevel,
    );
    return {
      service,
      mqtt: mosquitto ? { url: mosquitto.url } : { url: service.mqttUrl, username: 'admin', password: ADMIN },
      stop: async () => {
        await service.cleanup();
        await mosquitto?.stop();
        await influxd?.stop();
      },
    };
  } catch (err) {
    await mosquitto?.stop();
    await influxd?.stop();
    throw err;
  }
}

interface ServiceCounters {
  stored: number;
  rejects: number;
  rollupPendingKeys: number | null;
  spoolPendingBytes: number | null;
  sealBacklog: number | null;
}

async function counters(service: RunningService): Promise<ServiceCounters> {
  const metrics = metricTotals(await readServiceMetrics(`${service.apiUrl}/metrics`));
  return {
    stored: metrics.get('vc_store_samples_written_total') ?? 0,
    rejects: metrics.get('vc_ingest_rejects_total') ?? 0,
    rollupPendingKeys: metrics.get('vc_rollup_pending_keys') ?? null,
    spoolPendingBytes: metrics.get('vc_spool_pending_bytes') ?? null,
    sealBacklog: metrics.get('vc_rollup_seal_backlog') ?? null,
  };
}

/** ms from the last PUBACK until vc_rollup_seal_backlog read 0 twice, a second apart (null: not by the deadline). */
async function sealed(service: RunningService, lastAckAt: number, deadline: number): Promise<number | null> {
  let zeroSince: number | undefined;
  for (;;) {
    const { sealBacklog } = await counters(service);
    const now = Date.now();
    if (sealBacklog === 0) {
      zeroSince ??= now;
      if (now - zeroSince >= 1_000) return zeroSince - lastAckAt;
    } else zeroSince = undefined;
    if (now > deadline) return null;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The service's typed API client, as the admin. */
const clientOf = (service: RunningService): ApiClient => createApiClient({ baseUrl: service.apiUrl, token: ADMIN, timeoutMs: 120_000 });


/** Samples the fleet cockpit counts in [from, to). */
async function countedSamples(client: ApiClient, from: number, to: number): Promise<number> {
  const answer = answerOf('fleet cockpit', await client.GET('/api/v1/fleet/cockpit', { params: { query: { from: String(from), to: String(to), interval: '1h' } } }));
  return answer.kpis.samples;
}

/** Send every vehicle's history from PUBLISHERS helper processes; answers when the last batch was acknowledged. */
async function loadHistory(
  servers: Servers,
  options: CockpitBenchOptions,
  ranges: HistoryRange[],
  onProgress: (acked: HistoryProgress) => void,
): Promise<{ load: LoadSummary; lastAckAt: number }> {
  const helpers: RpcChild[] = [];
  try {
    for (let p = 0; p < PUBLISHERS; p++) helpers.push(await forkHelper(new URL('./history-publisher.ts', import.meta.url)));
    const vehicles = Array.from({ length: options.vehicles }, (_, index) => ({ vin: vinOf(index), index }));
    const jobs = helpers.map((helper, p) => {
      const job: HistoryJob = {
        brokerUrl: servers.mqtt.url,
        username: servers.mqtt.username,
        password: servers.mqtt.password,
        clientIdPrefix: `bench-history-${p}`,
        connections: Math.max(1, Math.round(options.connections / PUBLISHERS)),
        inflight: 16,
        vehicles: vehicles.filter((v) => v.index % PUBLISHERS === p),
        ranges,
      };
      return helper.call<HistoryProgress>('publish', job, 3_600_000);
    });
    const ticker = setInterval(() => {
      void Promise.all(helpers.map((h) => h.call<HistoryProgress>('progress').catch(() => undefined))).then((all) => onProgress(sumProgress(all.filter((p): p is HistoryProgress => p !== undefined))));
    }, 2_000);
    let done: HistoryProgress[];
    try {
      done = await Promise.all(jobs);
    } finally {
      clearInterval(ticker);
    }
    const total = sumProgress(done);
    if (total.errors > 0 || total.ackedSamples !== total.samples) throw new Error(`${total.errors} publish errors; ${total.ackedSamples} of ${total.samples} samples acknowledged`);
    const lastAckAt = total.lastAckAt ?? Date.now();
    const publishSeconds = (lastAckAt - (total.firstSentAt ?? lastAckAt)) / 1000;
    return {
      lastAckAt,
      load: {
        vehicles: options.vehicles,
        samples: total.samples,
        messages: total.messages,
        publishSeconds,
        ackedPerSecond: Math.round(total.ackedSamples / Math.max(0.001, publishSeconds)),
        windows: { from: ranges[0]!.from, to: ranges.at(-1)!.to },
      },
    };
  } finally {
    await Promise.all(helpers.map((h) => h.stop()));
  }
}

function sumProgress(all: readonly HistoryProgress[]): HistoryProgress {
  const min = (xs: Array<number | null>): number | null => (xs.some((x) => x !== null) ? Math.min(...xs.filter((x): x is number => x !== null)) : null);
  const max = (xs: Array<number | null>): number | null => (xs.some((x) => x !== null) ? Math.max(...xs.filter((x): x is number => x !== null)) : null);
  return {
    messages: all.reduce((n, p) => n + p.messages, 0),
    samples: all.reduce((n, p) => n + p.samples, 0),
    ackedMessages: all.reduce((n, p) => n + p.ackedMessages, 0),
    ackedSamples: all.reduce((n, p) => n + p.ackedSamples, 0),
    errors: all.reduce((n, p) => n + p.errors, 0),
    firstSentAt: min(all.map((p) => p.firstSentAt)),
    lastAckAt: max(all.map((p) => p.lastAckAt)),
  };
}

/** Poll until the fleet cockpit counts `expected` samples over the loaded window (or the timeout). */
async function catchUp(service: RunningService, expected: number, base: ServiceCounters, window: { from: number; to: number }, lastAckAt: number, timeoutMs: number, log: (line: string) => void): Promise<CatchUp> {
  const result: CatchUp = { expected, stored: 0, counted: 0, storedAfterMs: null, countedAfterMs: null, endedAfterMs: 0, maxRollupPendingKeys: null, maxSpoolPendingBytes: null, rejects: 0, notes: [], timeline: [] };
  const deadline = lastAckAt + timeoutMs;
  let lastPoint = 0;
  // everything stored and nothing pending, yet the count does not move: waiting longer would not change it
  let settledSince: number | undefined;
  let settledCount = -1;
  const client = clientOf(service);
  const asks: number[] = [];
  for (;;) {
    let askMs = 0;
    let askFailed: string | undefined;
    const [c, counted] = await Promise.all([
      counters(service),
      (async () => {
        const started = performance.now();
        try {
          return await countedSamples(client, window.from, window.to);
        } catch (err) {
          askFailed = err instanceof Error ? err.message.split('\n')[0]! : String(err);
          return result.counted;
        } finally {
          askMs = performance.now() - started;
        }
      })(),
    ]);
    asks.push(askMs);
    if (askFailed !== undefined) {
      result.askFailures = (result.askFailures ?? 0) + 1;
      result.askError ??= askFailed;
      log(`    the fleet question failed after ${Math.round(askMs)} ms: ${askFailed}`);
    }
    const now = Date.now();
    result.stored = c.stored - base.stored;
    result.counted = counted;
    result.rejects = c.rejects - base.rejects;
    if (c.rollupPendingKeys !== null) result.maxRollupPendingKeys = Math.max(result.maxRollupPendingKeys ?? 0, c.rollupPendingKeys);
    if (c.spoolPendingBytes !== null) result.maxSpoolPendingBytes = Math.max(result.maxSpoolPendingBytes ?? 0, c.spoolPendingBytes);
    if (result.storedAfterMs === null && result.stored >= expected) result.storedAfterMs = now - lastAckAt;
    if (now - lastPoint >= 2_000) {
      lastPoint = now;
      result.timeline.push({ t: Math.round((now - lastAckAt) / 100) / 10, stored: result.stored, counted, rollupPendingKeys: c.rollupPendingKeys, spoolPendingBytes: c.spoolPendingBytes, askMs: Math.round(askMs) });
      log(`    ${((now - lastAckAt) / 1000).toFixed(0)} s after the last PUBACK: stored ${result.stored.toLocaleString('en-US')}, counted by the cockpit ${counted.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} (asked in ${Math.round(askMs)} ms); rollup keys pending ${c.rollupPendingKeys ?? '-'}, spool ${c.spoolPendingBytes ?? '-'} B`);
    }
    // (a failed question is no count: the last one stands, but the count is not settled by it)
    const settled = askFailed === undefined && result.stored >= expected && c.rollupPendingKeys === 0 && c.spoolPendingBytes === 0 && counted === settledCount;
    if (!settled) settledSince = undefined;
    else settledSince ??= now;
    settledCount = counted;
    const stuck = settledSince !== undefined && now - settledSince > STUCK_MS;
    if (result.countedAfterMs === null && counted === expected) result.countedAfterMs = now - lastAckAt;
    // a count that reached the total may still be off (some samples counted twice, others not yet): watch it until
    // everything is stored and written, then it must still be the total
    const watched = result.countedAfterMs !== null && (settled || now - lastAckAt - result.countedAfterMs > OVERCOUNT_WATCH_MS);
    if (watched || counted > expected || now > deadline || stuck) {
      if (counted !== expected) result.countedAfterMs = null;
      if (counted > expected) result.notes.push(`the cockpit counted ${counted} samples, ${counted - expected} more than were sent`);
      if (counted < expected) {
        // the raw samples of the same window tell a miscount from a sample the store lacks
        const raw = await service.store.cockpit.fromRaw({ ...window, intervalMs: HOUR_MS });
        result.notes.push(`the cockpit counted ${counted} of ${expected} samples${stuck ? `, unchanged for ${STUCK_MS / 1000} s with every sample stored and no rollup key pending` : ''}; the raw samples of the window: ${raw.totals.samples}`);
      }
      if (!settled && counted === expected) result.notes.push(`the count was not settled ${OVERCOUNT_WATCH_MS / 1000} s after it reached the total (rollup keys or spool bytes still pending)`);
      if (result.rejects > 0) result.notes.push(`${result.rejects} messages or samples rejected (dead letters)`);
      if (result.askFailures) result.notes.push(`${result.askFailures} of ${asks.length} fleet questions failed while it caught up (the first: ${result.askError})`);
      result.endedAfterMs = now - lastAckAt;
      result.askMs = stats(asks);
      result.askMaxMs = Math.round(Math.max(...asks) * 10) / 10;
      return result;
    }
    await delay(CATCH_UP_POLL_MS);
  }
}

interface Question {
  question: string;
  windowMs: number;
  intervalMs: number;
  interval: string;
  /** the i-th question through the API */
  ask: (client: ApiClient, i: number, query: { from: string; to: string; interval: string }) => Promise<unknown>;
  scope: (i: number) => { brand?: string; model?: string };
}

function questions(options: CockpitBenchOptions): Question[] {
  const brands = Object.keys(BRANDS);
  type Query = { from: string; to: string; interval: string };
  const kinds = [
    {
      name: 'brand',
      ask: async (client: ApiClient, i: number, query: Query) =>
        answerOf('brand cockpit', await client.GET('/api/v1/brands/{brand}/cockpit', { params: { path: { brand: brands[i % brands.length]! }, query } })),
      scope: (i: number) => ({ brand: brands[i % brands.length]! }),
    },
    {
      name: 'model',
      ask: async (client: ApiClient, i: number, query: Query) =>
        answerOf('model cockpit', await client.GET('/api/v1/brands/{brand}/models/{model}/cockpit', { params: { path: { ...MODELS[i % MODELS.length]! }, query } })),
      scope: (i: number) => ({ ...MODELS[i % MODELS.length]! }),
    },
    { name: 'fleet', ask: async (client: ApiClient, _i: number, query: Query) => answerOf('fleet cockpit', await client.GET('/api/v1/fleet/cockpit', { params: { query } })), scope: () => ({}) },
  ];
  const windows = [
    { label: `${options.hours} h / 5 min`, windowMs: options.hours * HOUR_MS, intervalMs: 5 * MINUTE_MS, interval: '5m' },
    ...(options.weekDays > 0 ? [{ label: `${options.weekDays} d / 1 h`, windowMs: options.weekDays * DAY_MS, intervalMs: HOUR_MS, interval: '1h' }] : []),
  ];
  return windows.flatMap((w) => kinds.map((k) => ({ question: `${k.name} cockpit ${w.label}`, windowMs: w.windowMs, intervalMs: w.intervalMs, interval: w.interval, ask: k.ask, scope: k.scope })));
}

/** A dashboard's window: ending at the next multiple of stepMs (the web cockpit's: 5 minutes), so it slides as time passes. */
const dashboardWindow = (windowMs: number, stepMs: number): { from: number; to: number } => {
  const to = Math.ceil(Date.now() / stepMs) * stepMs;
  return { from: to - windowMs, to };
};

async function askQuestions(service: RunningService, kind: StoreKind, options: CockpitBenchOptions, log: (line: string) => void): Promise<QueryRow[]> {
  const rows: QueryRow[] = [];
  // the store's rollups asked as the API asks them, through the cockpit engine's reader (its cache of sealed segments)
  const reader = new CockpitReader(service.store.cockpit);
  const client = clientOf(service);
  // the raw questions are asked after every rollup question: one the store's client gave up on (30 s) keeps influxd
  // busy for a while after, and would be timed into the rollup questions that follow it
  const rawLater: Array<{ row: QueryRow; windows: CockpitWindow[] }> = [];
  for (const q of questions(options)) {
    const apiMs: number[] = [];
    const rollup: number[] = [];
    const windows: CockpitWindow[] = [];
    let coldMs = 0;
    for (let i = 0; i < options.iterations; i++) {
      const { from, to } = dashboardWindow(q.windowMs, options.windowStepMs);
      const ms = await time(() => q.ask(client, i, { from: String(from), to: String(to), interval: q.interval }));
      if (i === 0) coldMs = Math.round(ms * 10) / 10;
      else apiMs.push(ms);
      const window = { from, to, intervalMs: q.intervalMs, ...q.scope(i) };
      rollup.push(await time(() => reader.aggregates(window, 'rollup')));
      // the raw question is slow: asked a quarter as often
      if (i % 4 === 0) windows.push(window);
    }
    const row: QueryRow = { store: kind, question: q.question, coldMs, api: stats(apiMs), rollup: stats(rollup), raw: stats([]), rawFailures: 0, rawOverRollup: null };
    rows.push(row);
    rawLater.push({ row, windows });
    log(`    ${q.question}: cold ${row.coldMs} ms, API p50 / p95 / p99 ${row.api.p50} / ${row.api.p95} / ${row.api.p99} ms`);
  }
  for (const { row, windows } of rawLater) {
    const raw: number[] = [];
    for (const window of windows) {
      try {
        raw.push(await time(() => service.store.cockpit.fromRaw(window)));
      } catch (err) {
        // one that fails is counted, not timed
        row.rawFailures += 1;
        log(`    ${kind} ${row.question}: a raw question failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    row.raw = stats(raw);
    if (row.raw.p50 !== null && row.rollup.p50 !== null) row.rawOverRollup = Math.round((row.raw.p50 / Math.max(0.1, row.rollup.p50)) * 10) / 10;
    log(`    ${row.question}: raw p50 ${row.raw.p50 ?? '-'} ms${row.rawFailures > 0 ? ` (${row.rawFailures} raw failed)` : ''}`);
  }
  return rows;
}

async function benchStore(kind: StoreKind, options: CockpitBenchOptions, log: (line: string) => void): Promise<StoreRun> {
  const servers = await startServers(kind);
  try {
    const { service } = servers;
    const fleet = Array.from({ length: options.vehicles }, (_, i) => ({ vin: vinOf(i), ...MODELS[i % MODELS.length]! }));
    await serviceTarget({ api: service.apiUrl, token: ADMIN }).prepare(fleet, false);
    const end = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const ranges = historyRanges(options, end);
    const expected = fleet.reduce((n, _, i) => n + historyCount(i, ranges), 0);
    log(`  ${kind}: ${options.vehicles.toLocaleString('en-US')} vehicles registered; sending ${expected.toLocaleString('en-US')} samples as store-and-forward batches`);
    const base = await counters(service);
    const { load, lastAckAt } = await loadHistory(servers, options, ranges, (p) =>
      log(`    sending: ${p.ackedSamples.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} samples acknowledged (${p.ackedMessages.toLocaleString('en-US')} messages)`),
    );
    log(`  ${kind}: the last batch acknowledged after ${load.publishSeconds.toFixed(1)} s (${load.ackedPerSecond.toLocaleString('en-US')} samples/s); waiting for the cockpit to count them all`);
    const caught = await catchUp(service, expected, base, load.windows, lastAckAt, options.catchUpTimeoutMs, log);
    log(`  ${kind}: ${caught.countedAfterMs === null ? `NOT every sample counted: ${caught.counted.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} when the wait ended ${(caught.endedAfterMs / 1000).toFixed(0)} s after the last PUBACK${caught.notes.length > 0 ? ` (${caught.notes.join('; ')})` : ''}` : `every sample counted ${(caught.countedAfterMs / 1000).toFixed(1)} s after the last PUBACK`}; the fleet question that counts took p50 / p95 ${caught.askMs?.p50 ?? '-'} / ${caught.askMs?.p95 ?? '-'} ms meanwhile`);
    if (caught.countedAfterMs !== null) {
      caught.sealedAfterMs = await sealed(service, lastAckAt, lastAckAt + options.catchUpTimeoutMs);
      log(`  ${kind}: ${caught.sealedAfterMs === null ? 'periods still unsealed when the catch-up timeout ended' : `every period due sealed ${(caught.sealedAfterMs / 1000).toFixed(1)} s after the last PUBACK`}`);
    }
    const queries = options.iterations > 0 ? await askQuestions(service, kind, options, log) : [];
    return { store: kind, load, catchUp: caught, queries };
  } finally {
    await servers.stop();
  }
}

export async function runCockpitBench(options: CockpitBenchOptions, log: (line: string) => void, command = 'npm run bench:cockpit'): Promise<CockpitBenchResult> {
  const started = new Date();
  const stores: StoreRun[] = [];
  for (const kind of options.stores) {
    log(`${kind} store`);
    try {
      stores.push(await benchStore(kind, options, log));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`  failed: ${message}`);
      const empty: CatchUp = { expected: 0, stored: 0, counted: 0, storedAfterMs: null, countedAfterMs: null, endedAfterMs: 0, maxRollupPendingKeys: null, maxSpoolPendingBytes: null, rejects: 0, notes: [], timeline: [] };
      stores.push({ store: kind, load: { vehicles: options.vehicles, samples: 0, messages: 0, publishSeconds: 0, ackedPerSecond: 0, windows: { from: 0, to: 0 } }, catchUp: empty, queries: [], error: message });
    }
  }
  const result: CockpitBenchResult = {
    tool: 'vehicle-cloud cockpit bench',
    date: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    command,
    machine: machineInfo(),
    options: { stores: options.stores, vehicles: options.vehicles, hours: options.hours, everyS: options.everyS, weekDays: options.weekDays, weekEveryS: options.weekEveryS, iterations: options.iterations, connections: options.connections, catchUpTimeoutMs: options.catchUpTimeoutMs, windowStepMs: options.windowStepMs, history: options.history },
    stores,
  };
  const name = options.history ? 'cockpit-history' : 'cockpit-query';
  await writeResults(options.outDir, { timestamped: `${name}-${fileStamp(result.date)}`, latest: `${name}-latest` }, result, cockpitMarkdown(result));
  return result;
}

const seconds = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const triple = (s: LatencyStats): string => `${s.p50 ?? '-'} / ${s.p95 ?? '-'} / ${s.p99 ?? '-'}`;

export function catchUpRows(result: CockpitBenchResult): string[][] {
  return [
    ['store', 'vehicles', 'samples (batches)', 'sent in (acknowledged/s)', 'stored after the last PUBACK', 'counted by the cockpit after the last PUBACK', 'the fleet question meanwhile p50 / p95 / max (ms)', 'periods sealed after the last PUBACK', 'max rollup keys pending', 'rejected'],
    ...result.stores.map((s) => [
      s.store,
      int(s.load.vehicles),
      s.error ? `failed: ${s.error.split('\n')[0]}` : `${int(s.load.samples)} (${int(s.load.messages)})`,
      `${s.load.publishSeconds.toFixed(1)} s (${int(s.load.ackedPerSecond)}/s)`,
      seconds(s.catchUp.storedAfterMs),
      `${seconds(s.catchUp.countedAfterMs)}${s.catchUp.countedAfterMs === null && !s.error ? ` (${int(s.catchUp.counted)} of ${int(s.catchUp.expected)})` : ''}${result.options.history && !s.error ? (s.catchUp.countedAfterMs !== null && s.catchUp.countedAfterMs <= HISTORY_BOUND_MS ? ' (within 60 s)' : ' (NOT within 60 s)') : ''}`,
      s.catchUp.askMs === undefined ? '-' : `${s.catchUp.askMs.p50 ?? '-'} / ${s.catchUp.askMs.p95 ?? '-'} / ${s.catchUp.askMaxMs ?? '-'}${s.catchUp.askFailures ? ` (${int(s.catchUp.askFailures)} failed)` : ''}`,
      s.catchUp.sealedAfterMs === undefined ? '-' : seconds(s.catchUp.sealedAfterMs),
      s.catchUp.maxRollupPendingKeys === null ? '-' : int(s.catchUp.maxRollupPendingKeys),
      int(s.catchUp.rejects),
    ]),
  ];
}

export function queryRows(result: CockpitBenchResult): string[][] {
  return [
    ['store', 'question', 'cold (first) ms', 'API p50 / p95 / p99 (ms)', 'store, rollups p50 / p95 / p99', 'store, raw points p50 / p95 / p99', 'raw ÷ rollup (p50)'],
    ...result.stores.flatMap((s) =>
      s.queries.map((r) => [
        r.store,
        r.question,
        String(r.coldMs),
        triple(r.api),
        triple(r.rollup),
        `${triple(r.raw)}${r.rawFailures > 0 ? ` (${r.rawFailures} failed)` : ''}`,
        r.rawOverRollup === null ? '-' : `${r.rawOverRollup}x`,
      ]),
    ),
  ];
}


export function cockpitMarkdown(result: CockpitBenchResult): string {
  const o = result.options;
  const history = o.weekDays > 0 ? `${o.hours} h at one sample per ${o.everyS} s, and the days before it (${o.weekDays} in all) at one per ${o.weekEveryS} s` : `${o.hours} h at one sample per ${o.everyS} s`;
  return [
    `# Cockpit benchmark${o.history ? ': a day of history sent as store-and-forward batches' : ''}`,
    '',
    `${result.date} on ${result.machine.cpus} x ${result.machine.cpuModel}, Node ${result.machine.node}, load average at start ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}.`,
    `Command: \`${result.command}\` (${Math.round(result.durationS)} s). ${int(o.vehicles)} vehicles of 6 brands (15 models), each sending ${history} as MQTT batches of at most 1,000 samples and 256 KiB, QoS 1, over ${o.connections} connections.`,
    '',
    '## Catching up',
    '',
    ...markdownTable(catchUpRows(result)),
    '',
    ...result.stores.flatMap((s) => s.catchUp.notes.map((note) => `- ${s.store}: ${note}`)),
    '',
    `"Counted by the cockpit": the fleet cockpit over the loaded window answers \`kpis.samples\` equal to every sample sent (polled every ${CATCH_UP_POLL_MS / 1000} s, as a dashboard refreshing would); timed from the last PUBACK the publishers received, then watched until everything is stored and written (at most ${OVERCOUNT_WATCH_MS / 1000} s more), when the count must still be the total. "Stored": the service's \`vc_store_samples_written_total\` reached it. "Periods sealed": the service's \`vc_rollup_seal_backlog\` read 0 (every 10 minutes, hour and day due is sealed), after which the questions below are asked; before it, a question over unsealed periods reads their finer facts.`,
    ...(o.history ? ['', `Issue 15: a day of history for 1,000 vehicles is fully counted by the cockpit within ${HISTORY_BOUND_MS / 1000} s after the last batch is acknowledged, on both stores.`] : []),
    ...(result.stores.some((s) => s.queries.length > 0)
      ? [
          '',
          '## Cockpit questions on the caught-up store',
          '',
          ...markdownTable(queryRows(result)),
          '',
          `${o.iterations} questions of each kind through the HTTP API: the first (cold) apart, then the others, each over a window ending at the next multiple of ${o.windowStepMs / MINUTE_MS} minute${o.windowStepMs === MINUTE_MS ? '' : 's'} (sliding as time passes, as a dashboard's does${o.windowStepMs === WINDOW_STEP_MS ? ': the web cockpit\'s windows' : ''}), rotating over the 6 brands and 15 models. The same windows asked of the store's rollups and, once every rollup question was asked, of its raw samples (a quarter of them), in the same process.`,
        ]
      : []),
    '',
  ].join('\n');
}

export async function main(argv: string[], io: ProgramIo): Promise<number> {
  const flags = {
    history: { type: 'boolean' },
    stores: { type: 'string' },
    vehicles: { type: 'string' },
    hours: { type: 'string' },
    every: { type: 'string' },
    'week-days': { type: 'string' },
    'week-every': { type: 'string' },
    iterations: { type: 'string' },
    connections: { type: 'string' },
    'catch-up-timeout': { type: 'string' },
    'window-step': { type: 'string' },
  } as const;
  const parsed = programOptions(argv, io, USAGE, flags, (values) => {
    const stores = values.stores?.split(',').map((s) => s.trim());
    for (const s of stores ?? []) if (s !== 'embedded' && s !== 'influx') throw new Error(`--stores: embedded or influx, got ${JSON.stringify(s)}`);
    const options = cockpitBenchOptions({
      history: values.history,
      stores: stores as StoreKind[] | undefined,
      vehicles: wholeNumber('vehicles', values.vehicles, 1, 100_000),
      hours: wholeNumber('hours', values.hours, 1, 144),
      everyS: wholeNumber('every', values.every, 1, 3_600),
      weekDays: wholeNumber('week-days', values['week-days'], 0, 7),
      weekEveryS: wholeNumber('week-every', values['week-every'], 1, 86_400),
      iterations: wholeNumber('iterations', values.iterations, 0, 10_000),
      connections: wholeNumber('connections', values.connections, 1, 64),
      catchUpTimeoutMs: values['catch-up-timeout'] === undefined ? undefined : 1000 * wholeSeconds('catch-up-timeout', values['catch-up-timeout'], 1, 7_200)!,
      windowStepMs: values['window-step'] === undefined ? undefined : 1000 * wholeSeconds('window-step', values['window-step'], 60, 86_400)!,
      outDir: values.out ? resolve(values.out) : undefined,
    });
    if (options.windowStepMs % MINUTE_MS !== 0) throw new Error('--window-step: whole minutes (the cockpit answers whole-minute windows from its rollups)');
    if (options.weekDays > 0 && options.weekDays * 24 <= options.hours) throw new Error('--week-days must reach beyond --hours (or be 0)');
    return options;
  });
  if (typeof parsed === 'number') return parsed;
  const { options, json } = parsed;
  const command = `npm run bench:cockpit${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const result = await runCockpitBench(options, (line) => io.stderr.write(`${line}\n`), command);
  io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `\n${cockpitMarkdown(result)}`);
  const failed = result.stores.some((s) => s.error || s.catchUp.countedAfterMs === null || s.catchUp.notes.length > 0);
  return failed ? 1 : 0;
}

runAsProgram(import.meta.url, main);
