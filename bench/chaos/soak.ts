// The soak: a steady rate through MQTT for a bounded time (10 minutes; quick: about one), the service's RSS, heap,
// event-loop lag, active handles and open fds sampled every few seconds, their least-squares slopes per minute after a
// warm-up judged against stated bounds, every acked sample checked by per-vehicle seq, and the fds and handles checked
// back at their idle baseline once the vehicles have gone.
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { metricTotals, parsePrometheusSamples, processUsage } from '../../simulators/loadtest/observe.ts';
import { loadTestOptions } from '../../simulators/loadtest/options.ts';
import { runLoadTest } from '../../simulators/loadtest/runner.ts';
import { waitFor } from '../../tooling/system.ts';
import { deploymentMissing, startDeployment, type Deployment, type DeploymentKind } from './deployment.ts';
import type { SoakResult } from './types.ts';

export interface SoakOptions {
  quick: boolean;
  log: (line: string) => void;
  /** default: 'embedded' */
  deployment?: DeploymentKind;
  /** override the run's length (ms) */
  durationMs?: number;
}

/**
 * "Flat": no slope (per minute, least squares over the samples after the warm-up) rising faster than its bound. Memory
 * and heap may wander with garbage collection and caches, so their bounds are a little above zero; fds and handles are
 * counts that a steady load keeps steady. Memory is judged as RSS less the V8 heap pages committed but holding no live
 * object (`liveMiB`): V8 shrinks its heaps a minute or two after start and then grows them back in steps of 10-30 MiB
 * while the objects in them stay the same (docs/chaos.md#soak), which in a 10-minute window reads as a slope without
 * anything leaking. The raw RSS slope is reported beside it.
 */
export const FLAT_BOUNDS = {
  liveMiBPerMin: 2,
  heapMiBPerMin: 1,
  eventLoopLagMsPerMin: 1,
  handlesPerMin: 1,
  fdsPerMin: 1,
} as const;

export interface Reading {
  /** ms since the load started */
  t: number;
  rssMiB: number;
  /** V8 heap in use: the main thread's and the store writer thread's (when it has one) */
  heapMiB: number;
  /** RSS less what V8 has committed to its heaps without live objects in it (both threads) */
  liveMiB: number;
  eventLoopLagMs: number;
  handles: number;
  fds: number;
  /** of `fds` (and of `handles`), the HTTP connections to the API port */
  httpSockets: number;
  /** the service's outgoing connections by remote port */
  peers?: Map<number, number>;
  /** what the embedded store's DuckDB holds in memory (vc_store_memory_bytes, all tags); NaN without it. Reported, not judged */
  storeMiB: number;
  /** where the RSS is, reported, not judged: the main thread's V8 heap committed, V8's external memory (buffers), and the
   * store writer thread's heap committed and its young generation (vc_thread_heap_bytes); NaN when absent */
  heapCommittedMiB: number;
  externalMiB: number;
  writerHeapMiB: number;
  writerYoungMiB: number;
  writerHeapUsedMiB: number;
}

export interface SoakRun {
  result: SoakResult;
  readings: Reading[];
  /** fds and handles of the idle service before the vehicles connected, and once they had gone (HTTP keep-alive connections to the API left out) */
  baseline: { fds: number; handles: number };
  after: { fds: number; handles: number };
}

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** TCP sockets of `pid` by inode, from /proc/PID/net/tcp{,6}: their local and remote ports. */
async function socketPorts(pid: number): Promise<Map<string, { local: number; remote: number }>> {
  const ports = new Map<string, { local: number; remote: number }>();
  for (const file of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9) ports.set(f[9]!, { local: parseInt(f[1]!.split(':').at(-1)!, 16), remote: parseInt(f[2]!.split(':').at(-1)!, 16) });
    }
  }
  return ports;
}

/**
 * Open fds of `pid`, and how many of them are idle HTTP keep-alive connections to its API port: those belong to the
 * callers (this run's own client keeps a few until the server's 72 s keep-alive ends), not to what the load held.
 */
async function openFds(pid: number, httpPort: number): Promise<{ fds: number; httpSockets: number; peers: Map<number, number> }> {
  const entries = await readdir(`/proc/${pid}/fd`);
  const ports = await socketPorts(pid);
  let httpSockets = 0;
  // outgoing connections by the port they go to (the broker, InfluxDB): named when fds are not back at idle
  const peers = new Map<number, number>();
  await Promise.all(
    entries.map(async (fd) => {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      const socket = inode === undefined ? undefined : ports.get(inode);
      if (socket?.local === httpPort) httpSockets += 1;
      else if (socket && socket.remote !== 0) peers.set(socket.remote, (peers.get(socket.remote) ?? 0) + 1);
    }),
  );
  return { fds: entries.length, httpSockets, peers };
}

async function read(d: Deployment, t: number): Promise<Reading> {
  const [usage, open, text] = await Promise.all([processUsage(d.service.pid), openFds(d.service.pid, Number(new URL(d.service.apiUrl).port)), fetch(`${d.service.apiUrl}/metrics`).then((r) => r.text())]);
  const samples = parsePrometheusSamples(text);
  const m = metricTotals(samples);
  const labelled = (name: string, labels: Record<string, string>): number =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? Number.NaN;
  const need = (name: string): number => {
    const v = m.get(name);
    if (v === undefined) throw new Error(`/metrics has no ${name}`);
    return v;
  };
  const mib = (bytes: number): number => bytes / 1024 ** 2;
  const rssMiB = mib(usage?.rssBytes ?? NaN);
  const heapUsedMiB = mib(need('nodejs_heap_size_used_bytes'));
  const heapCommittedMiB = mib(m.get('nodejs_heap_size_total_bytes') ?? Number.NaN);
  const writerHeapMiB = mib(labelled('vc_thread_heap_bytes', { thread: 'writer', kind: 'committed' }));
  const writerHeapUsedMiB = mib(labelled('vc_thread_heap_bytes', { thread: 'writer', kind: 'used' }));
  const writer = Number.isFinite(writerHeapMiB) && Number.isFinite(writerHeapUsedMiB);
  // with InfluxDB the store writer has its own thread; a scrape its figures missed (it did not answer in time) tells
  // nothing of the heap in use or of live memory, and is left out of those two slopes rather than read as a drop
  const partial = d.kind !== 'embedded' && !writer;
  return {
    t,
    rssMiB,
    heapMiB: partial ? Number.NaN : heapUsedMiB + (writer ? writerHeapUsedMiB : 0),
    liveMiB: partial ? Number.NaN : rssMiB - Math.max(0, heapCommittedMiB - heapUsedMiB) - (writer ? Math.max(0, writerHeapMiB - writerHeapUsedMiB) : 0),
    // prom-client's mean lag since the previous scrape (its delay monitor is reset at every scrape; NaN, left out of
    // the Prometheus text, when no delay was sampled in between)
    eventLoopLagMs: (m.get('nodejs_eventloop_lag_mean_seconds') ?? Number.NaN) * 1000,
    handles: need('vc_active_resources'),
    fds: open.fds,
    httpSockets: open.httpSockets,
    peers: open.peers,
    storeMiB: (m.get('vc_store_memory_bytes') ?? Number.NaN) / 1024 ** 2,
    heapCommittedMiB,
    externalMiB: mib(m.get('nodejs_external_memory_bytes') ?? Number.NaN),
    writerHeapMiB,
    writerYoungMiB: mib(labelled('vc_thread_heap_bytes', { thread: 'writer', kind: 'young' })),
    writerHeapUsedMiB,
  };
}

const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;

export async function soak(options: SoakOptions): Promise<SoakRun> {
  const kind = options.deployment ?? 'embedded';
  const missing = deploymentMissing(kind);
  if (missing) throw new Error(`soak on ${kind}: ${missing}`);
  const durationMs = options.durationMs ?? (options.quick ? 60_000 : 600_000);
  const everyMs = options.quick ? 2_000 : 5_000;
  // the first minute (quick: 15 s) fills caches, the spool's first segment and the JIT: left out of the slopes
  const warmMs = options.quick ? 15_000 : 60_000;
  const vehicles = 200;
  const rate = 500;
  const log = (line: string): void => options.log(`[soak ${kind}] ${line}`);
  const d = await startDeployment(kind);
  try {
    // the idle service's own fds and handles, before any vehicle connects
    const idle = await read(d, 0);
    const peersText = (r: Reading): string => [...(r.peers ?? [])].map(([port, n]) => `${n} to :${port}`).join(', ') || 'none';
    const held = (r: Reading) => ({ fds: r.fds - r.httpSockets, handles: r.handles - r.httpSockets });
    const baseline = held(idle);
    log(`${vehicles} vehicles, one MQTT login each, ${rate} samples/s QoS 1 for ${durationMs / 1000} s, sampled every ${everyMs / 1000} s; idle: ${baseline.fds} fds, ${baseline.handles} handles`);
    const readings: Reading[] = [];
    let startedAt = 0;
    let sampling = true;
    let samplingError: unknown;
    let sampler: Promise<void> | undefined;
    const report = await runLoadTest(
      loadTestOptions({
        api: d.service.apiUrl,
        broker: d.brokerUrl,
        token: d.adminToken,
        vehicles,
        connections: vehicles,
        mqttAuth: 'vehicle',
        qos: 1,
        schedule: { kind: 'fixed', rate },
        durationMs,
        seed: 1_500,
        brand: 'Soak',
        model: 'Steady',
        probesPerSecond: 0,
        servicePids: [d.service.pid],
      }),
      {
        onPhase: (phase) => {
          // readings cover the steady load only: from the first publish to the last
          if (phase === 'draining') sampling = false;
          if (phase !== 'publishing') return;
          startedAt = Date.now();
          sampler = (async () => {
            while (sampling) {
              const next = Date.now() + everyMs;
              try {
                readings.push({ ...(await read(d, Date.now() - startedAt)), peers: undefined });
              } catch (err) {
                samplingError ??= err;
              }
              await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
            }
          })();
        },
      },
    );
    sampling = false;
    await sampler;
    const notes: string[] = [...report.verdict.notes, ...(report.verification?.examples ?? [])];
    if (samplingError) notes.push(`a reading failed: ${samplingError instanceof Error ? samplingError.message : String(samplingError)}`);

    // the vehicles have gone: the service must let go of what they held
    let after = { fds: Number.NaN, handles: Number.NaN };
    let last: Reading | undefined;
    try {
      after = await waitFor(
        'fds and handles back at the idle baseline',
        async () => {
          last = await read(d, Date.now() - startedAt);
          after = held(last);
          return after.fds <= baseline.fds && after.handles <= baseline.handles ? after : undefined;
        },
        60_000,
        500,
      );
    } catch {
      notes.push(`after the run: ${after.fds} fds (idle ${baseline.fds}), ${after.handles} handles (idle ${baseline.handles}); outgoing connections ${last ? peersText(last) : '?'} (idle: ${peersText(idle)})`);
    }

    const steady = readings.filter((r) => r.t >= warmMs);
    const per = (key: keyof Pick<Reading, 'rssMiB' | 'liveMiB' | 'heapMiB' | 'eventLoopLagMs' | 'handles' | 'fds'>): number => round(slope(steady.filter((r) => Number.isFinite(r[key])).map((r) => [r.t / 60_000, r[key]] as const)));
    const slopes = { rssMiBPerMin: per('rssMiB'), liveMiBPerMin: per('liveMiB'), heapMiBPerMin: per('heapMiB'), eventLoopLagMsPerMin: per('eventLoopLagMs'), handlesPerMin: per('handles'), fdsPerMin: per('fds') };
    // a leak grows: a falling reading (the connection burst settling) is reported, not held against flatness
    const over = (Object.keys(FLAT_BOUNDS) as Array<keyof typeof FLAT_BOUNDS>).filter((k) => slopes[k] > FLAT_BOUNDS[k]);
    for (const k of Object.keys(FLAT_BOUNDS) as Array<keyof typeof FLAT_BOUNDS>) if (slopes[k] < -FLAT_BOUNDS[k]) notes.push(`${k} ${slopes[k]} fell faster than its bound of ${FLAT_BOUNDS[k]} (no leak)`);
    for (const k of over) notes.push(`${k} ${slopes[k]} is over its bound of ${FLAT_BOUNDS[k]}`);
    if (steady.length < 5) notes.push(`only ${steady.length} readings after the warm-up: slopes are rough`);
    // where the RSS went: V8's heaps as committed (they grow and shrink with GC sizing, bounded by V8's limits) and
    // the rest (native: DuckDB, buffers, code, stacks), which a native leak would grow
    const v8 = (r: Reading): number => r.heapCommittedMiB + (Number.isFinite(r.writerHeapMiB) ? r.writerHeapMiB : 0);
    // (a reading without the writer thread's heap, liveMiB NaN, would count that heap as native)
    const split = steady.filter((r) => Number.isFinite(r.liveMiB) && Number.isFinite(r.heapCommittedMiB));
    if (split.length >= 5) {
      const heaps = round(slope(split.map((r) => [r.t / 60_000, v8(r)] as const)));
      const rest = round(slope(split.map((r) => [r.t / 60_000, r.rssMiB - v8(r)] as const)));
      notes.push(`of the RSS slope: V8 heaps committed ${heaps} MiB/min${split.some((r) => Number.isFinite(r.writerHeapMiB)) ? ' (both threads)' : ''}, the rest (native) ${rest} MiB/min`);
    }
    const pick = (r: Reading | undefined) => ({ rssMiB: round(r?.rssMiB ?? NaN, 1), liveMiB: round(r?.liveMiB ?? NaN, 1), heapMiB: round(r?.heapMiB ?? NaN, 1), eventLoopLagMs: round(r?.eventLoopLagMs ?? NaN, 2), handles: r?.handles ?? NaN, fds: r?.fds ?? NaN });
    const v = report.verification;
    const result: SoakResult = {
      durationS: durationMs / 1000,
      ratePerS: rate,
      acked: v?.expected ?? report.totals.acked,
      lost: v?.lost ?? Math.max(0, report.totals.acked - report.totals.stored),
      duplicated: v?.duplicates ?? 0,
      slopes,
      first: pick(steady[0]),
      last: pick(steady[steady.length - 1]),
      flat: over.length === 0 && steady.length >= 5,
      notes,
    };
    log(`acked ${result.acked}, lost ${result.lost}, duplicated ${result.duplicated}; slopes/min: RSS ${slopes.rssMiBPerMin} MiB (live ${slopes.liveMiBPerMin}), heap ${slopes.heapMiBPerMin} MiB, lag ${slopes.eventLoopLagMsPerMin} ms, handles ${slopes.handlesPerMin}, fds ${slopes.fdsPerMin}; ${result.flat ? 'flat' : 'NOT flat'}`);
    return { result, readings, baseline, after };
  } finally {
    await d.stop();
  }
}

export async function run(options: SoakOptions): Promise<SoakResult> {
  return (await soak(options)).result;
}

// `npx tsx bench/chaos/soak.ts [--quick] [--deployment embedded|mosquitto+influx] [--minutes N] [--readings FILE]`:
// this part alone; --readings writes every reading (JSON) to look at the shape behind a slope
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, deployment: { type: 'string' }, readings: { type: 'string' }, minutes: { type: 'string' } } });
  const r = await soak({ quick: values.quick ?? false, deployment: values.deployment as DeploymentKind | undefined, durationMs: values.minutes === undefined ? undefined : Number(values.minutes) * 60_000, log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`) });
  console.log(JSON.stringify({ ...r.result, baseline: r.baseline, after: r.after, readings: r.readings.length }, null, 2));
  if (values.readings) await writeFile(values.readings, JSON.stringify(r.readings, null, 1));
}
