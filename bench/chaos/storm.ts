// The reconnect storm: thousands of vehicles, each on its own MQTT connection with its own credentials, publish QoS 1
// at a steady rate through the load tester; then every connection is lost at once (the embedded broker's vehicle
// sockets cut by the kernel, `ss -K`; Mosquitto restarted) and all come back together. Per deployment: how long
// until all are connected and publishing again, the CONNACK latency, the service's CPU and RSS, and every acked
// sample checked by per-vehicle seq.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { parseArgs, promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { CpuMeter, processUsage } from '../../simulators/loadtest/observe.ts';
import { loadTestOptions } from '../../simulators/loadtest/options.ts';
import { runLoadTest, type LoadTestReport } from '../../simulators/loadtest/runner.ts';
import { DEPLOYMENTS, deploymentMissing, startDeployment, type Deployment, type DeploymentKind } from './deployment.ts';
import type { FaultResult } from './types.ts';

export interface StormOptions {
  quick: boolean;
  log: (line: string) => void;
  /** default: 10,000 (quick: 300) */
  vehicles?: number;
  /** default: both */
  deployments?: readonly DeploymentKind[];
}

interface StormShape {
  vehicles: number;
  /** samples per second over the whole fleet */
  rate: number;
  /** publishing before the outage */
  warmMs: number;
  /** the whole publishing window (the outage falls in it) */
  durationMs: number;
  publishers: number;
}

function shape(o: StormOptions): StormShape {
  const vehicles = o.vehicles ?? (o.quick ? 300 : 10_000);
  // each vehicle sends every 4 s: the fleet's rate grows with it, and a vehicle is never silent long after it is back
  const rate = Math.max(1, Math.round(vehicles / 4));
  return o.quick
    ? { vehicles, rate, warmMs: 4_000, durationMs: 20_000, publishers: 1 }
    : { vehicles, rate, warmMs: 20_000, durationMs: 120_000, publishers: 2 };
}

/** fds a process may open (soft limit), from /proc/self/limits; children inherit it. */
export async function openFileLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  return !m || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/** Local ports the kernel hands to outgoing connections (ip_local_port_range). */
export async function ephemeralPorts(): Promise<number> {
  const [low, high] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
  return high! - low! + 1;
}

/**
 * The most connections this machine lets one storm hold, and what limits it: the process that accepts them (the
 * service, or Mosquitto) needs one fd each plus its own files; the publishers split them; every connection takes one
 * loopback ephemeral port on the client side (twice over during a reconnect, as the old socket may linger).
 */
export async function stormCeiling(): Promise<{ connections: number; why: string }> {
  const fds = await openFileLimit();
  const ports = await ephemeralPorts();
  // the service keeps a few hundred fds of its own (store files, spool, HTTP)
  const byFds = fds - 500;
  const byPorts = Math.floor(ports / 2);
  return byFds <= byPorts
    ? { connections: byFds, why: `open files: ulimit -n ${fds}, less ~500 the service holds besides its connections` }
    : { connections: byPorts, why: `ephemeral ports: ${ports} in ip_local_port_range, two per connection while it reconnects` };
}

interface UsageReading {
  at: number;
  serviceCpuPercent?: number;
  serviceRss?: number;
  brokerCpuPercent?: number;
  brokerRss?: number;
}

/** CPU and RSS of the service (and Mosquitto, whose PID changes when restarted) from /proc, every `everyMs`. */
function startUsageSampler(d: Deployment, everyMs: number): { stop: () => Promise<UsageReading[]> } {
  const readings: UsageReading[] = [];
  const meters = new Map<number, CpuMeter>();
  const percent = (pid: number, cpuSeconds: number): number | undefined => {
    if (!meters.has(pid)) meters.set(pid, new CpuMeter());
    return meters.get(pid)!.update(cpuSeconds);
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      const brokerPid = d.broker?.pid;
      const [svc, broker] = await Promise.all([processUsage(d.service.pid), brokerPid && brokerPid > 0 ? processUsage(brokerPid) : undefined]);
      readings.push({
        at: Date.now(),
        serviceCpuPercent: svc ? percent(d.service.pid, svc.cpuSeconds) : undefined,
        serviceRss: svc?.rssBytes,
        brokerCpuPercent: broker && brokerPid ? percent(brokerPid, broker.cpuSeconds) : undefined,
        brokerRss: broker?.rssBytes,
      });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return readings;
    },
  };
}

/** Cut every established TCP connection to 127.0.0.1:`port` at once (the kernel resets both ends; needs CAP_NET_ADMIN). */
export async function cutConnections(port: number): Promise<number> {
  const { stdout } = await promisify(execFile)('ss', ['-K', '-t', '-n', 'state', 'established', 'dst', '127.0.0.1', 'dport', '=', `:${port}`]);
  // ss prints the sockets it closed under a header line
  return stdout.split('\n').filter((l) => /127\.0\.0\.1:\d+/.test(l)).length;
}

const round = (x: number): number => Math.round(x * 10) / 10;
const mib = (bytes: number): number => round(bytes / 1024 ** 2);

async function stormOn(kind: DeploymentKind, o: StormOptions, s: StormShape, seed: number): Promise<FaultResult> {
  const log = (line: string): void => o.log(`[storm ${kind}] ${line}`);
  const notes: string[] = [];
  const d = await startDeployment(kind);
  try {
    log(`${s.vehicles} vehicles, one MQTT connection and login each, ${s.rate} samples/s QoS 1 for ${s.durationMs / 1000} s; outage after ${s.warmMs / 1000} s`);
    let publishingAt = 0;
    let markPublishing: () => void = () => undefined;
    const publishing = new Promise<void>((resolve) => (markPublishing = resolve));
    let sampler: ReturnType<typeof startUsageSampler> | undefined;
    const runPromise = runLoadTest(
      loadTestOptions({
        api: d.service.apiUrl,
        broker: d.brokerUrl,
        token: d.adminToken,
        vehicles: s.vehicles,
        connections: s.vehicles,
        publishers: s.publishers,
        mqttAuth: 'vehicle',
        qos: 1,
        schedule: { kind: 'fixed', rate: s.rate },
        durationMs: s.durationMs,
        seed,
        brand: 'Storm',
        model: 'Reconnect',
        probesPerSecond: 0,
        servicePids: [d.service.pid],
        drainTimeoutMs: 300_000,
        keepUpMs: 300_000,
      }),
      {
        onPhase: (phase) => {
          if (phase === 'connecting') log('registered; connecting');
          if (phase === 'publishing') {
            publishingAt = Date.now();
            sampler = startUsageSampler(d, 500);
            markPublishing();
          }
          if (phase === 'verifying') log('reading every vehicle back');
        },
      },
    );
    runPromise.catch(() => markPublishing());
    await Promise.race([publishing, runPromise]);
    await new Promise((r) => setTimeout(r, Math.max(0, publishingAt + s.warmMs - Date.now())));
    const outageStart = Date.now();
    if (kind === 'embedded') {
      const cut = await cutConnections(Number(new URL(d.brokerUrl).port));
      log(`cut ${cut} connections at once`);
      if (cut < s.vehicles) notes.push(`cut ${cut} of ${s.vehicles} connections (the others were not established at that moment)`);
    } else {
      await d.broker!.restart();
      log(`Mosquitto restarted in ${Date.now() - outageStart} ms`);
    }
    const outageEnd = Date.now();
    let report: LoadTestReport;
    let readings: UsageReading[] = [];
    try {
      report = await runPromise;
    } finally {
      readings = (await sampler?.stop()) ?? [];
    }
    const r = report.reconnection;
    const v = report.verification;
    const allBack = r.connections === s.vehicles && r.resumed === s.vehicles;
    if (r.connections < s.vehicles) notes.push(`${s.vehicles - r.connections} connection(s) never came back before publishing ended`);
    else if (r.resumed < s.vehicles) notes.push(`${s.vehicles - r.resumed} connection(s) came back but had no PUBACK before publishing ended`);
    const stormEnd = r.lastResumedAt ?? r.lastConnackAt ?? outageEnd;
    const window = readings.filter((x) => x.at >= outageStart && x.at <= stormEnd + 1_000);
    const peak = (xs: Array<number | undefined>): number | undefined => {
      const ok = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
      return ok.length > 0 ? Math.max(...ok) : undefined;
    };
    const mean = (xs: Array<number | undefined>): number | undefined => {
      const ok = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
      return ok.length > 0 ? ok.reduce((a, b) => a + b, 0) / ok.length : undefined;
    };
    const rssPeak = peak([...readings.map((x) => x.serviceRss), report.service.rssPeakBytes ?? undefined]);
    const extra: Record<string, number | string> = {
      vehicles: s.vehicles,
      ratePerS: s.rate,
      outageMs: outageEnd - outageStart,
      reconnected: r.connections,
      publishingAgain: r.resumed,
    };
    const put = (key: string, value: number | null | undefined): void => {
      if (value !== null && value !== undefined && Number.isFinite(value)) extra[key] = round(value);
    };
    put('allConnectedMs', r.lastConnackAt !== null && r.connections === s.vehicles ? r.lastConnackAt - outageEnd : null);
    put('allPublishingMs', allBack && r.lastResumedAt !== null ? r.lastResumedAt - outageEnd : null);
    put('connackP50Ms', r.connackP50Ms);
    put('connackP99Ms', r.connackP99Ms);
    put('connackMaxMs', r.connackMaxMs);
    put('serviceCpuPeakPercent', peak(window.map((x) => x.serviceCpuPercent)));
    put('serviceCpuMeanPercent', mean(window.map((x) => x.serviceCpuPercent)));
    put('serviceCpuRunPercent', report.service.cpuPercent);
    if (kind !== 'embedded') {
      put('brokerCpuPeakPercent', peak(window.map((x) => x.brokerCpuPercent)));
      const brokerRss = peak(readings.map((x) => x.brokerRss));
      put('brokerPeakRssMiB', brokerRss === undefined ? undefined : mib(brokerRss));
    }
    notes.push(...report.verdict.notes, ...(v?.examples ?? []));
    if (report.totals.unconfirmed > 0) notes.push(`${report.totals.unconfirmed} sample(s) sent without a PUBACK (not counted as acked; ${v?.unconfirmedStored ?? 0} of them stored anyway)`);
    const result: FaultResult = {
      fault: `reconnect storm: ${s.vehicles.toLocaleString('en-US')} vehicles, ${kind === 'embedded' ? 'all connections cut at once' : 'Mosquitto (dynsec) restarted'}`,
      deployment: kind,
      acked: v ? v.expected : report.totals.acked,
      stored: v?.found ?? report.totals.stored,
      lost: v?.lost ?? Math.max(0, report.totals.acked - report.totals.stored),
      duplicated: v?.duplicates ?? 0,
      cockpitExact: null,
      recoveryMs: allBack && r.lastResumedAt !== null ? r.lastResumedAt - outageEnd : null,
      peakRssMiB: rssPeak === undefined ? null : mib(rssPeak),
      extra,
      notes,
    };
    log(
      `back: ${r.connections}/${s.vehicles} connected, ${r.resumed} publishing; all connected ${extra.allConnectedMs ?? 'n/a'} ms, all publishing ${extra.allPublishingMs ?? 'n/a'} ms after the outage; CONNACK p50 ${extra.connackP50Ms ?? 'n/a'} ms p99 ${extra.connackP99Ms ?? 'n/a'} ms; acked ${result.acked}, stored ${result.stored}, lost ${result.lost}, duplicated ${result.duplicated}`,
    );
    return result;
  } catch (err) {
    // what the service said (warnings and up) explains a failed registration: the broker's part is not in the 503
    throw new Error(`${err instanceof Error ? err.message : String(err)} (service log: ${d.service.logTail() || 'empty'})`, { cause: err });
  } finally {
    await d.stop();
  }
}

export async function run(options: StormOptions): Promise<FaultResult[]> {
  const ceiling = await stormCeiling();
  const wanted = shape(options);
  const results: FaultResult[] = [];
  let vehicles = wanted.vehicles;
  const limitNote: string[] = [];
  if (vehicles > ceiling.connections) {
    limitNote.push(`asked for ${vehicles} vehicles; this machine holds at most ${ceiling.connections} connections (${ceiling.why}), so ran ${ceiling.connections}`);
    vehicles = ceiling.connections;
  }
  let seed = 1_400;
  for (const kind of options.deployments ?? DEPLOYMENTS) {
    seed += 1;
    const missing = deploymentMissing(kind);
    if (missing) throw new Error(`reconnect storm on ${kind}: ${missing}`);
    const result = await stormOn(kind, options, { ...wanted, vehicles, rate: Math.max(1, Math.round(vehicles / 4)) }, seed);
    result.notes.unshift(...limitNote);
    results.push(result);
  }
  return results;
}

// `npx tsx bench/chaos/storm.ts [--quick] [--vehicles N] [--deployment embedded|mosquitto+influx]`: this part alone
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, vehicles: { type: 'string' }, deployment: { type: 'string', multiple: true } } });
  const results = await run({
    quick: values.quick ?? false,
    vehicles: values.vehicles === undefined ? undefined : Number(values.vehicles),
    deployments: values.deployment as DeploymentKind[] | undefined,
    log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`),
  });
  console.log(JSON.stringify(results, null, 2));
}
