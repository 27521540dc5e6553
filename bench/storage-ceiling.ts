// (b) The storage ceiling: what influxd itself takes when fed line-protocol batches directly over keep-alive HTTP
// (the shape vehicle-cloud writes: tags vin/brand/model, the load tester's signals and seq, ms precision), with
// a few requests in flight. Every point is then counted per vehicle with InfluxQL.
import http from 'node:http';
import { loadSample, percentile, processUsage, vehicleTrack } from '../simulators/loadtest/index.ts';
import { influxQuery } from '../tooling/influxql.ts';
import { startInfluxd } from '../tooling/influxd.ts';

export interface StorageRun {
  /** points influxd confirmed (204) */
  points: number;
  seconds: number;
  rate: number;
  errors: number;
  /** per-vehicle counts matched what was confirmed */
  zeroLoss: boolean;
  lost: number;
  /** round trip of one write request (the data is queryable once it answers) */
  p99Ms: number | null;
  influxdCpuPercent: number | null;
  influxdRssBytes: number | null;
  writerCpuPercent: number;
}

export interface StorageCeiling {
  saturated: StorageRun;
  halfRate: StorageRun;
}

const DATABASE = 'storage_ceiling';
const HOUR_MS = 3_600_000;

const escapeTag = (s: string): string => s.replace(/[,= \\]/g, (c) => `\\${c}`);
const escapeKey = (s: string): string => s.replace(/[,= \\]/g, (c) => `\\${c}`);

class LineSource {
  private next = 0;
  private readonly seq: Int32Array;
  private readonly tracks;
  private readonly prefix: string[];
  constructor(
    private readonly vins: readonly string[],
    seed: number,
    /** first ts; sources get hours apart so that their points never overwrite each other */
    readonly base: number,
  ) {
    this.seq = new Int32Array(vins.length);
    this.tracks = vins.map((_, i) => vehicleTrack(seed, i));
    this.prefix = vins.map((vin) => `telemetry,brand=Benchmark,model=Probe,vin=${escapeTag(vin)} `);
  }

  /** `n` lines, vehicles round-robin, each vehicle's ts one ms apart: every point is a new (vin, ts). */
  lines(n: number): string {
    const out: string[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const v = this.next;
      this.next = (this.next + 1) % this.vins.length;
      const seq = this.seq[v]!++;
      const sample = loadSample(this.tracks[v]!, seq, this.base + seq);
      let fields = `seq=${seq}i`;
      for (const [path, value] of Object.entries(sample.signals)) fields += `,${escapeKey(path)}=${String(value)}`;
      out[k] = `${this.prefix[v]}${fields} ${sample.ts}`;
    }
    return out.join('\n');
  }

  expected(): Map<string, number> {
    return new Map(this.vins.map((vin, i) => [vin, this.seq[i]!]));
  }

  /** forget lines that were not confirmed (so expected() counts only confirmed ones) */
  unsend(body: string): void {
    for (const line of body.split('\n')) {
      const vin = /,vin=([^ ]+) /.exec(line)?.[1];
      const i = vin ? this.vins.indexOf(vin) : -1;
      if (i >= 0) this.seq[i]! -= 1;
    }
  }
}

function post(agent: http.Agent, url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function writeFor(
  influxUrl: string,
  source: LineSource,
  durationMs: number,
  options: { concurrency: number; batchLines: number; rate?: number },
  influxdPid: number,
): Promise<Omit<StorageRun, 'zeroLoss' | 'lost'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const url = new URL(`/write?db=${DATABASE}&precision=ms`, influxUrl);
  const latencies: number[] = [];
  let points = 0;
  let errors = 0;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const influx0 = await processUsage(influxdPid);
  let rssPeak = influx0?.rssBytes ?? null;
  const deadline = started + durationMs;
  const write = async (body: string, lines: number): Promise<void> => {
    const t0 = performance.now();
    try {
      const status = await post(agent, url, body);
      if (status === 204) {
        points += lines;
        latencies.push(performance.now() - t0);
        return;
      }
    } catch {
      // counted below
    }
    errors += 1;
    source.unsend(body);
  };
  if (options.rate === undefined) {
    // saturation: every lane writes back to back
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < deadline) await write(source.lines(options.batchLines), options.batchLines);
      }),
    );
  } else {
    // paced: a batch every 50 ms, as a steady ingest would send them
    const every = 50;
    const perBatch = Math.max(1, Math.round((options.rate * every) / 1000));
    const inFlight = new Set<Promise<void>>();
    for (let at = started; at < deadline; at += every) {
      await new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));
      const p = write(source.lines(perBatch), perBatch).finally(() => inFlight.delete(p));
      inFlight.add(p);
      const usage = await processUsage(influxdPid);
      if (usage) rssPeak = Math.max(rssPeak ?? 0, usage.rssBytes);
    }
    await Promise.all(inFlight);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const influx1 = await processUsage(influxdPid);
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    points,
    seconds,
    rate: Math.round(points / seconds),
    errors,
    p99Ms: percentile(sorted, 99),
    influxdCpuPercent: influx0 && influx1 ? Math.round((100 * (influx1.cpuSeconds - influx0.cpuSeconds)) / seconds) : null,
    influxdRssBytes: influx1 ? Math.max(rssPeak ?? 0, influx1.rssBytes) : rssPeak,
    writerCpuPercent: Math.round((100 * (cpu.user + cpu.system)) / 1e6 / seconds),
  };
}

async function verify(influxUrl: string, source: LineSource): Promise<{ zeroLoss: boolean; lost: number }> {
  const rows = await influxQuery(influxUrl, DATABASE, `SELECT count("seq") FROM "telemetry" WHERE time >= ${source.base}ms AND time < ${source.base + HOUR_MS}ms GROUP BY "vin"`);
  const stored = new Map(rows.map((r) => [String(r.at(-1)), Number(r[1])]));
  let lost = 0;
  let wrong = 0;
  for (const [vin, expected] of source.expected()) {
    const n = stored.get(vin) ?? 0;
    if (n < expected) lost += expected - n;
    if (n !== expected) wrong += 1;
  }
  return { zeroLoss: wrong === 0, lost };
}

/** Saturate a fresh influxd for `durationMs`, verify, then write at half the rate reached for the latency. */
export async function storageCeiling(options: {
  influxdBinary?: string;
  vins: readonly string[];
  seed: number;
  durationMs: number;
  concurrency?: number;
  batchLines?: number;
}): Promise<StorageCeiling> {
  const influxd = await startInfluxd(options.influxdBinary);
  try {
    await influxQuery(influxd.url, undefined, `CREATE DATABASE "${DATABASE}"`);
    const concurrency = options.concurrency ?? 4;
    const batchLines = options.batchLines ?? 5_000;
    const now = Date.now();
    const warm = new LineSource(options.vins, options.seed + 1, now - 4 * HOUR_MS);
    await writeFor(influxd.url, warm, Math.min(1_000, options.durationMs), { concurrency, batchLines }, influxd.pid);
    const saturatedSource = new LineSource(options.vins, options.seed, now - 3 * HOUR_MS);
    const saturatedWrite = await writeFor(influxd.url, saturatedSource, options.durationMs, { concurrency, batchLines }, influxd.pid);
    const saturated = { ...saturatedWrite, ...(await verify(influxd.url, saturatedSource)) };
    await influxQuery(influxd.url, undefined, `DROP DATABASE "${DATABASE}"`);
    await influxQuery(influxd.url, undefined, `CREATE DATABASE "${DATABASE}"`);
    const halfSource = new LineSource(options.vins, options.seed + 2, now - 2 * HOUR_MS);
    const halfWrite = await writeFor(influxd.url, halfSource, options.durationMs, { concurrency, batchLines, rate: saturated.rate / 2 }, influxd.pid);
    const halfRate = { ...halfWrite, ...(await verify(influxd.url, halfSource)) };
    return { saturated, halfRate };
  } finally {
    await influxd.stop();
  }
}
