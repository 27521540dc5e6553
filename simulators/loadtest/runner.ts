// One load test: register the run's vehicles, publish on the offered schedule from forked publisher processes,
// sample the target once a second (accepted, stored, backlog, CPU, RSS), probe publish-to-queryable latency,
// wait for the backlog to drain, read every vehicle back and compare seqs with what was acknowledged.
import { redactUrl } from '../../services/observability/redact.ts';
import { LatencyProber, type LatencyStats } from './latency.ts';
import { CpuMeter, ProcessCpuTotal } from './observe.ts';
import {
  assertValidOptions,
  describeSchedule,
  loadTestVins,
  rateAt,
  samplesDue,
  type LoadTestOptions,
  type MqttAuth,
  type Qos,
} from './options.ts';
import type { PublisherConfig, PublisherConnection, PublisherProgress } from './protocol.ts';
import { PublisherFleet, type FleetOutcome } from './publishers.ts';
import { reconnectionStats, type ReconnectionStats } from './reconnects.ts';
import { storeWritesBetween, type StoreWrites } from './store-writes.ts';
import { serviceTarget, type LoadTarget, type TargetDescription, type TargetSample } from './target.ts';
import { SeqLedger, type Verification } from './verify.ts';

export type LoadTestPhase = 'checking' | 'registering' | 'connecting' | 'publishing' | 'draining' | 'verifying' | 'done';

export interface LiveProgress {
  phase: LoadTestPhase;
  elapsedS: number;
  offeredRate: number;
  publishedRate: number;
  ackedRate: number;
  acceptedRate: number | null;
  storedRate: number;
  published: number;
  acked: number;
  /** accepted and stored since the run started (target counters) */
  accepted: number | null;
  stored: number;
  behind: number;
  inflight: number;
  backlogBytes: number | null;
  serviceCpuPercent: number | null;
  serviceRssBytes: number | null;
  publisherCpuPercent: number | null;
  latencyP99Ms: number | null;
  /** vehicles registered so far while registering */
  registeredVehicles?: number;
  /** stored samples read back so far while verifying */
  readBackSamples?: number;
  vehicles: number;
}

export interface TimelinePoint {
  /** seconds since publishing started */
  t: number;
  offered: number;
  published: number;
  acked: number;
  accepted: number | null;
  stored: number;
  backlogBytes: number | null;
  serviceCpuPercent: number | null;
  serviceRssBytes: number | null;
  publisherCpuPercent: number | null;
}

export interface LoadTestReport {
  tool: 'vehicle-cloud loadtest';
  startedAt: string;
  finishedAt: string;
  target: { label: string } & TargetDescription;
  options: {
    api: string;
    broker: string;
    vehicles: number;
    connections: number;
    publishers: number;
    schedule: string;
    durationS: number;
    qos: Qos;
    seed: number;
    batch: number;
    inflight: number;
    mqttAuth: Exclude<MqttAuth, 'auto'>;
  };
  totals: {
    offered: number;
    published: number;
    messages: number;
    acked: number;
    unconfirmed: number;
    accepted: number | null;
    stored: number;
    behind: number;
    publishErrors: number;
    reconnects: number;
  };
  /** per second, over the publishing window */
  rates: { offered: number; published: number; acked: number; accepted: number | null; acceptedPeak: number | null; stored: number };
  drain: { drained: boolean; ms: number | null; boundMs: number };
  latency: LatencyStats;
  /** connections that came back after being lost (all zero when none was) */
  reconnection: ReconnectionStats;
  verification: Verification | null;
  service: { cpuPercent: number | null; cpuSeconds: number | null; rssPeakBytes: number | null; rssEndBytes: number | null };
  /** rows and bytes the service wrote per store table from the start to the end of the test (null: not reported) */
  storeWrites: StoreWrites | null;
  publishers: { cpuPercent: number | null; pids: number };
  timeline: TimelinePoint[];
  verdict: {
    /** every acknowledged sample stored exactly once (null: not verified) */
    zeroLoss: boolean | null;
    /** the offered rate was published and the backlog drained within the bound */
    keptUp: boolean;
    ok: boolean;
    notes: string[];
  };
}

export interface LoadTestHooks {
  /** the system under test; default: the vehicle-cloud service at options.api */
  target?: LoadTarget;
  onProgress?: (progress: LiveProgress) => void;
  onPhase?: (phase: LoadTestPhase) => void;
  /** abort: stop publishing at once, then drain, verify and report as usual */
  signal?: AbortSignal;
  /** how often the target is sampled (ms) */
  sampleEveryMs?: number;
}

/** Share of the offered samples the publishers may fail to send before the step counts as not kept up. */
const BEHIND_TOLERANCE = 0.02;
/** With no stored progress for this long (and no backlog), waiting for the drain is pointless: samples are gone. */
const DRAIN_STALL_MS = 5_000;
const ACK_TIMEOUT_MS = 30_000;

function resolveAuth(requested: MqttAuth, description: TargetDescription): Exclude<MqttAuth, 'auto'> {
  if (requested !== 'auto') return requested;
  // the embedded broker wants credentials; the admin token may publish for every vehicle over few connections
  return description.broker === 'embedded' ? 'admin' : 'none';
}

function connectionsFor(o: LoadTestOptions, auth: Exclude<MqttAuth, 'auto'>, vins: readonly string[], passwords: ReadonlyMap<string, string>, runTag: string): PublisherConnection[] {
  if (auth === 'vehicle') return vins.map((vin) => ({ clientId: vin, username: vin, password: passwords.get(vin) }));
  return Array.from({ length: o.connections }, (_, i) => ({
    clientId: `lt-${runTag}-${i}`,
    ...(auth === 'admin' ? { username: 'admin', password: o.token } : {}),
  }));
}

/**
 * Spread connections and the offered rate over the publisher processes: connection c goes to process c % P and
 * vehicle i over connection i % C, so a vehicle's samples stay in order on one connection.
 */
function publisherConfigs(o: LoadTestOptions, vins: readonly string[], connections: readonly PublisherConnection[]): PublisherConfig[] {
  const configs: PublisherConfig[] = [];
  const probeEveryMs = o.probesPerSecond > 0 ? Math.round((1000 * o.publishers) / o.probesPerSecond) : 0;
  for (let p = 0; p < o.publishers; p++) {
    const local = connections.map((_, c) => c).filter((c) => c % o.publishers === p);
    // inside a publisher, its k-th vehicle goes over its connection k % local.length: interleave per connection
    const perConnection = local.map((c) => {
      const list: number[] = [];
      for (let i = c; i < vins.length; i += connections.length) list.push(i);
      return list;
    });
    const vehicleIndex: number[] = [];
    for (let k = 0; perConnection.some((list) => k < list.length); k++) for (const list of perConnection) if (k < list.length) vehicleIndex.push(list[k]!);
    const share = vehicleIndex.length / vins.length;
    const schedule = o.schedule.kind === 'fixed' ? { kind: 'fixed' as const, rate: o.schedule.rate * share } : { ...o.schedule, from: o.schedule.from * share, to: o.schedule.to * share };
    configs.push({
      index: p,
      brokerUrl: o.broker,
      qos: o.qos,
      connections: local.map((c) => connections[c]!),
      vins: vehicleIndex.map((i) => vins[i]!),
      vehicleIndex,
      schedule,
      durationMs: o.durationMs,
      batch: o.batch,
      inflight: o.inflight,
      seed: o.seed,
      probeEveryMs,
      ackTimeoutMs: ACK_TIMEOUT_MS,
    });
  }
  return configs;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runLoadTest(options: LoadTestOptions, hooks: LoadTestHooks = {}): Promise<LoadTestReport> {
  assertValidOptions(options);
  const o = options;
  const target =
    hooks.target ??
    serviceTarget({ api: o.api, token: o.token, metricsUrls: o.metricsUrls, servicePids: o.servicePids, metricsToken: process.env.VC_METRICS_TOKEN || undefined });
  const startedAt = new Date();
  const sampleEveryMs = hooks.sampleEveryMs ?? 1_000;
  const notes: string[] = [];
  let phase: LoadTestPhase = 'checking';
  const enter = (p: LoadTestPhase): void => {
    phase = p;
    hooks.onPhase?.(p);
  };

  enter('checking');
  const description = await target.describe();
  const auth = resolveAuth(o.mqttAuth, description);
  const vins = loadTestVins(o.seed, o.vehicles);
  let passwords = new Map<string, string>();
  if (o.register) {
    enter('registering');
    passwords = await target.prepare(
      vins.map((vin) => ({ vin, brand: o.brand, model: o.model })),
      auth === 'vehicle',
      (done) => hooks.onProgress?.({ ...idleProgress(o.vehicles), phase: 'registering', registeredVehicles: done }),
    );
  }

  enter('connecting');
  const runTag = Date.now().toString(36).slice(-6);
  const prober = new LatencyProber({ queryable: (vin, ts) => target.queryable(vin, ts), pollMs: o.probePollMs, timeoutMs: o.probeTimeoutMs });
  const fleet = await PublisherFleet.start(publisherConfigs(o, vins, connectionsFor(o, auth, vins, passwords, runTag)), (vin, ts, sentAt) => prober.probe(vin, ts, sentAt));
  const onAbort = (): void => fleet.stop();
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const base = await target.sample();
    const serviceCpu = new CpuMeter();
    const publisherCpu = new CpuMeter();
    const publisherCpuTotal = new ProcessCpuTotal();
    if (base.cpuSeconds !== undefined) serviceCpu.update(base.cpuSeconds);
    const goAt = Date.now() + 250;
    fleet.go(goAt);
    if (hooks.signal?.aborted) fleet.stop();
    enter('publishing');

    const timeline: TimelinePoint[] = [];
    let latest: TargetSample = base;
    let rssPeak = base.rssBytes ?? null;
    let previous: { at: number; progress: PublisherProgress; sample: TargetSample } = { at: goAt, progress: fleet.progress(), sample: base };
    let readBackSamples: number | undefined;
    let sampling = true;
    let publishingEndedAt: number | undefined;
    let samplingError: unknown;

    const emit = (point: TimelinePoint | undefined): void => {
      if (!hooks.onProgress) return;
      const progress = fleet.progress();
      hooks.onProgress({
        phase,
        elapsedS: Math.max(0, (Date.now() - goAt) / 1000),
        offeredRate: point?.offered ?? 0,
        publishedRate: point?.published ?? 0,
        ackedRate: point?.acked ?? 0,
        acceptedRate: point?.accepted ?? null,
        storedRate: point?.stored ?? 0,
        published: progress.published,
        acked: progress.acked,
        accepted: latest.accepted !== undefined && base.accepted !== undefined ? latest.accepted - base.accepted : null,
        stored: latest.stored - base.stored,
        behind: progress.behind,
        inflight: progress.inflight,
        backlogBytes: latest.backlogBytes ?? null,
        serviceCpuPercent: point?.serviceCpuPercent ?? null,
        serviceRssBytes: latest.rssBytes ?? null,
        publisherCpuPercent: point?.publisherCpuPercent ?? null,
        latencyP99Ms: prober.recentP99(),
        readBackSamples,
        vehicles: o.vehicles,
      });
    };

    const sampleOnce = async (): Promise<void> => {
      const [sample, publisherSeconds] = await Promise.all([target.sample(), publisherCpuTotal.read(fleet.pids)]);
      const at = Date.now();
      const progress = fleet.progress();
      const seconds = Math.max(0.001, (at - previous.at) / 1000);
      latest = sample;
      if (sample.rssBytes !== undefined) rssPeak = Math.max(rssPeak ?? 0, sample.rssBytes);
      const point: TimelinePoint = {
        t: Math.round((at - goAt) / 100) / 10,
        offered: publishingEndedAt === undefined ? Math.round(rateAt(o.schedule, at - goAt, o.durationMs)) : 0,
        published: Math.round((progress.published - previous.progress.published) / seconds),
        acked: Math.round((progress.acked - previous.progress.acked) / seconds),
        accepted: sample.accepted !== undefined && previous.sample.accepted !== undefined ? Math.round((sample.accepted - previous.sample.accepted) / seconds) : null,
        stored: Math.round((sample.stored - previous.sample.stored) / seconds),
        backlogBytes: sample.backlogBytes ?? null,
        serviceCpuPercent: sample.cpuSeconds !== undefined ? round1(serviceCpu.update(sample.cpuSeconds) ?? NaN) : null,
        serviceRssBytes: sample.rssBytes ?? null,
        publisherCpuPercent: publisherSeconds !== undefined ? round1(publisherCpu.update(publisherSeconds) ?? NaN) : null,
      };
      timeline.push(point);
      previous = { at, progress, sample };
      emit(point);
    };

    const sampler = (async () => {
      while (sampling) {
        const next = Date.now() + sampleEveryMs;
        try {
          await sampleOnce();
        } catch (err) {
          samplingError ??= err;
        }
        await delay(Math.max(0, next - Date.now()));
      }
    })();

    let outcome: FleetOutcome;
    try {
      outcome = await fleet.finished();
    } catch (err) {
      sampling = false;
      await sampler;
      throw err;
    }
    publishingEndedAt = Math.min(Date.now(), goAt + o.durationMs);
    const publishedFor = Math.max(0.001, (publishingEndedAt - goAt) / 1000);
    const atPublishEnd = latest;
    const serviceCpuPercent = serviceCpu.average();
    const serviceCpuSeconds = serviceCpu.used();
    const publisherCpuPercent = publisherCpu.average();

    enter('draining');
    await target.settle?.();
    const acked = outcome.progress.acked;
    const drainDeadline = Date.now() + o.drainTimeoutMs;
    let drained = false;
    let lastStored = -1;
    let lastProgressAt = Date.now();
    for (;;) {
      let s: TargetSample;
      try {
        s = await target.sample();
      } catch (err) {
        samplingError ??= err;
        await delay(250);
        if (Date.now() > drainDeadline) break;
        continue;
      }
      latest = s;
      const stored = s.stored - base.stored;
      if (stored >= acked && (s.backlogBytes ?? 0) === 0) {
        drained = true;
        break;
      }
      if (stored !== lastStored) {
        lastStored = stored;
        lastProgressAt = Date.now();
      } else if ((s.backlogBytes ?? 0) === 0 && Date.now() - lastProgressAt > DRAIN_STALL_MS) break;
      if (Date.now() > drainDeadline) break;
      await delay(100);
    }
    const drainMs = drained ? Math.max(0, Date.now() - publishingEndedAt) : null;
    if (!drained) notes.push(`stored ${latest.stored - base.stored} of ${acked} acknowledged samples, backlog ${latest.backlogBytes ?? 'unknown'} B, after waiting ${Math.round((Date.now() - publishingEndedAt) / 1000)} s`);
    const latency = await prober.finish(Math.max(2_000, Math.min(o.probeTimeoutMs, 10_000)));
    sampling = false;
    await sampler;
    await fleet.close();

    let verification: Verification | null = null;
    if (o.verify) {
      enter('verifying');
      readBackSamples = 0;
      const ticker = setInterval(() => emit(undefined), 1_000);
      try {
        const ledger = new SeqLedger(outcome.vehicles);
        // nothing published (stopped before the start): nothing to read back
        if (outcome.progress.published > 0) await target.readBack(vins, outcome.firstTs, outcome.lastTs + 1, (vin, seq) => ledger.record(vin, seq), (n) => (readBackSamples = n));
        verification = ledger.result();
      } finally {
        clearInterval(ticker);
      }
    }
    enter('done');

    const offered = Math.round(samplesDue(o.schedule, o.durationMs, o.durationMs));
    const accepted = atPublishEnd.accepted !== undefined && base.accepted !== undefined ? atPublishEnd.accepted - base.accepted : null;
    const acceptedRates = timeline.filter((p) => p.t <= publishedFor + 0.5 && p.accepted !== null).map((p) => p.accepted!);
    const unconfirmed = outcome.vehicles.reduce((n, v) => n + v.unconfirmed.length, 0);
    const behindOk = outcome.progress.behind <= BEHIND_TOLERANCE * offered && outcome.progress.published >= (1 - BEHIND_TOLERANCE) * offered;
    if (!behindOk && !hooks.signal?.aborted) notes.push(`published ${outcome.progress.published} of ${offered} offered samples: windows full (the target held acks) or the publishers were short of CPU`);
    if (hooks.signal?.aborted) notes.push('stopped early (interrupted)');
    if (samplingError) notes.push(`sampling the target failed at least once: ${samplingError instanceof Error ? samplingError.message : String(samplingError)}`);
    if (latency.timedOut > 0) notes.push(`${latency.timedOut} latency probe(s) not queryable within ${o.probeTimeoutMs / 1000} s`);
    const keptUp = behindOk && drained && drainMs !== null && drainMs <= o.keepUpMs;
    const zeroLoss = verification ? verification.lost === 0 && verification.duplicates === 0 && verification.unexpected === 0 : null;
    const finalTotals = await target.sample().catch(() => latest);
    return {
      tool: 'vehicle-cloud loadtest',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      target: { label: target.label, ...description },
      options: {
        api: redactUrl(o.api),
        broker: redactUrl(o.broker),
        vehicles: o.vehicles,
        connections: auth === 'vehicle' ? o.vehicles : o.connections,
        publishers: o.publishers,
        schedule: describeSchedule(o.schedule),
        durationS: o.durationMs / 1000,
        qos: o.qos,
        seed: o.seed,
        batch: o.batch,
        inflight: o.inflight,
        mqttAuth: auth,
      },
      totals: {
        offered,
        published: outcome.progress.published,
        messages: outcome.progress.messages,
        acked,
        unconfirmed,
        accepted: finalTotals.accepted !== undefined && base.accepted !== undefined ? finalTotals.accepted - base.accepted : null,
        stored: finalTotals.stored - base.stored,
        behind: outcome.progress.behind,
        publishErrors: outcome.progress.errors,
        reconnects: outcome.progress.reconnects,
      },
      rates: {
        offered: Math.round(offered / (o.durationMs / 1000)),
        published: Math.round(outcome.progress.published / publishedFor),
        acked: Math.round(acked / publishedFor),
        accepted: accepted === null ? null : Math.round(accepted / publishedFor),
        acceptedPeak: acceptedRates.length > 0 ? Math.max(...acceptedRates) : null,
        stored: Math.round((atPublishEnd.stored - base.stored) / publishedFor),
      },
      drain: { drained, ms: drainMs, boundMs: o.keepUpMs },
      latency,
      reconnection: reconnectionStats(outcome.reconnections),
      verification,
      service: {
        cpuPercent: serviceCpuPercent === undefined ? null : round1(serviceCpuPercent),
        cpuSeconds: serviceCpuSeconds === undefined ? null : round1(serviceCpuSeconds),
        rssPeakBytes: rssPeak,
        rssEndBytes: latest.rssBytes ?? null,
      },
      storeWrites: storeWritesBetween(base.writes, finalTotals.writes) ?? null,
      publishers: { cpuPercent: publisherCpuPercent === undefined ? null : round1(publisherCpuPercent), pids: fleet.pids.length },
      timeline,
      verdict: { zeroLoss, keptUp, ok: keptUp && zeroLoss !== false, notes },
    };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await fleet.kill();
  }
}

/** Progress before anything was published. */
function idleProgress(vehicles: number): LiveProgress {
  return {
    phase: 'checking',
    elapsedS: 0,
    offeredRate: 0,
    publishedRate: 0,
    ackedRate: 0,
    acceptedRate: null,
    storedRate: 0,
    published: 0,
    acked: 0,
    accepted: null,
    stored: 0,
    behind: 0,
    inflight: 0,
    backlogBytes: null,
    serviceCpuPercent: null,
    serviceRssBytes: null,
    publisherCpuPercent: null,
    latencyP99Ms: null,
    vehicles,
  };
}

function round1(x: number): number | null {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : null;
}
