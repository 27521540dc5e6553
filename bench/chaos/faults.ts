// The fault scenarios of `npm run chaos` (docs/chaos.md) and of tests/integration/chaos-faults-*.test.ts (their short
// variants). Each: a fresh deployment, a fleet publishing at QoS 1 at a steady rate throughout, the fault, then the
// checks: every acked sample stored once (by seq), the cockpit equal to a recount from the raw samples, the service
// ready again without a hand restart. A note starting with `FAIL:` is a guarantee not met, as is a lost, duplicated
// or miscounted sample, or no recovery.
import { execFile } from 'node:child_process';
import { mkdir, open, readdir, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir, waitFor } from '../../tooling/system.ts';
import { checkCockpit, recovery, startDeployment, startFleet, verify, watchRss, type Deployment, type DeploymentKind, type DeploymentOptions, type Fleet, type FleetOptions } from './harness.ts';
import type { FaultResult } from './types.ts';

export interface FaultContext {
  deployment: Deployment;
  fleet: Fleet;
  quick: boolean;
  /** a stated time or memory bound exceeded is a failure (npm run chaos), or only a note (tests: no timed assertions) */
  bounds: boolean;
  log: (line: string) => void;
  notes: string[];
  extra: Record<string, number | string>;
  /** wait this long (the fault holds) */
  hold(ms: number): Promise<void>;
  /** the fault is over now (default: when inject returns): recovery is measured from here */
  ended(): void;
}

export interface FaultSpec {
  /** short name, for --only */
  name: string;
  /** what is done, the report's first column */
  fault: string;
  deployments: DeploymentKind[];
  deploymentOptions?: (kind: DeploymentKind, quick: boolean) => DeploymentOptions;
  fleet?: (quick: boolean) => Partial<FleetOptions>;
  /** do the fault while the fleet publishes */
  inject(ctx: FaultContext): Promise<void>;
  /** more checks once everything is stored */
  after?(ctx: FaultContext): Promise<void>;
}

/** The service's resident memory must stay under this in every scenario (a small spool, or the default 1 GiB one on disk). */
export const RSS_BOUND_MIB = 600;
/** A graceful stop (SIGTERM) must end within this: the writer drains for at most 5 s, then the files are closed. */
export const STOP_BOUND_MS = 10_000;

/** Steady publishing before a fault and after the recovery, in full runs. */
const STEADY_MS = 10_000;

const holdMs = (quick: boolean, full: number): number => (quick ? 3_000 : full);

async function sh(command: string, args: string[]): Promise<void> {
  await promisify(execFile)(command, args);
}

/** A link of the service (to the broker or to InfluxDB) through the proxy: stalled, restored, then cut, restored. */
function linkFault(name: string, fault: string, link: 'brokerProxy' | 'storeProxy'): FaultSpec {
  return {
    name,
    fault,
    deployments: ['mosquitto+influx'],
    deploymentOptions: () => ({ [link]: true }),
    async inject(ctx) {
      const proxy = ctx.deployment[link]!;
      proxy.stall();
      await ctx.hold(holdMs(ctx.quick, 30_000));
      proxy.restore();
      await ctx.fleet.ackedMore(3, 120_000);
      proxy.cut();
      await ctx.hold(holdMs(ctx.quick, 30_000));
      ctx.ended();
      proxy.restore();
    },
  };
}

/** Stop the service with `signal`, hold, and start it again on the same data dir. */
async function restartService(ctx: FaultContext, signal: NodeJS.Signals): Promise<void> {
  const stopped = await ctx.deployment.stopService(signal);
  ctx.extra.exitMs = stopped.exitMs;
  if (signal === 'SIGTERM') {
    if (stopped.code !== 0) ctx.notes.push(`FAIL: SIGTERM ended the service with ${stopped.signal ?? `code ${stopped.code}`}, not code 0`);
    if (stopped.exitMs > STOP_BOUND_MS) ctx.notes.push(`${ctx.bounds ? 'FAIL: ' : ''}the graceful stop took ${stopped.exitMs} ms (bound ${STOP_BOUND_MS} ms)`);
    const m = /"event":"service_stopped","spoolPendingBytes":(\d+)/.exec(stopped.output);
    if (!m) ctx.notes.push('FAIL: no service_stopped line in the log');
    else {
      ctx.extra.pendingAtExit = Number(m[1]);
      // with the store up, a graceful stop stores what it acked before it exits
      if (Number(m[1]) !== 0) ctx.notes.push(`FAIL: ${m[1]} spool bytes left unstored at a graceful stop with the store up`);
    }
  }
  await ctx.hold(holdMs(ctx.quick, 10_000));
  ctx.ended();
  await ctx.deployment.startService();
}

/** Bytes in the spool's segment files now (what it absorbed while the store was away, and what was stored since start). */
async function spoolFileBytes(dataDir: string): Promise<number> {
  const dir = join(dataDir, 'spool');
  let total = 0;
  for (const name of await readdir(dir)) if (name.endsWith('.spool')) total += (await stat(join(dir, name))).size;
  return total;
}

/** Wait until the spool is full (ingestion pushing back), noting how long it took. */
async function untilSpoolFull(ctx: FaultContext, timeoutMs: number): Promise<void> {
  const started = Date.now();
  await waitFor(
    'the spool to fill (push-back)',
    async () => {
      const r = await ctx.deployment.api.get<{ checks: Record<string, { ok: boolean }> }>('/readyz', 5_000);
      return r.body.checks?.spool?.ok === false ? true : undefined;
    },
    timeoutMs,
    200,
  );
  ctx.extra.spoolFullAfterMs = Date.now() - started;
}

/** Fill the filesystem holding `dir` to its last byte (ENOSPC for anyone writing there); returns the filler's path. */
async function fillDisk(dir: string): Promise<string> {
  const filler = join(dir, 'filler');
  const file = await open(filler, 'w');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (;;) {
      const free = await statfs(dir);
      const room = Number(free.bavail) * Number(free.bsize);
      if (room === 0) break;
      try {
        await file.write(chunk, 0, Math.min(chunk.length, room));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  } finally {
    await file.close();
  }
  return filler;
}

/** A tmpfs of `size` mounted at `<data dir>/spool`: the spool's own small disk (needs root and CAP_SYS_ADMIN). */
export function spoolOnSmallDisk(size: string): NonNullable<DeploymentOptions['prepareDataDir']> {
  return async (dataDir) => {
    const dir = join(dataDir, 'spool');
    await mkdir(dir, { recursive: true });
    await sh('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
    return async () => {
      await sh('umount', ['-l', dir]).catch(() => undefined);
    };
  };
}

/** Can this machine mount a tmpfs (root with CAP_SYS_ADMIN, as in our CI container)? */
export async function canMountTmpfs(): Promise<boolean> {
  const dir = await tempDir('mount-probe');
  try {
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir.path]);
    await sh('umount', [dir.path]);
    return true;
  } catch {
    return false;
  } finally {
    await dir.remove();
  }
}

export const FAULTS: FaultSpec[] = [
  {
    name: 'kill9',
    fault: 'kill -9 of the service, restart',
    deployments: ['embedded', 'mosquitto+influx'],
    inject: (ctx) => restartService(ctx, 'SIGKILL'),
  },
  {
    name: 'sigterm',
    fault: 'SIGTERM (graceful stop), restart; the embedded broker goes and comes with the service',
    deployments: ['embedded', 'mosquitto+influx'],
    inject: (ctx) => restartService(ctx, 'SIGTERM'),
  },
  {
    name: 'broker-restart',
    fault: 'Mosquitto restarted (persistence on)',
    deployments: ['mosquitto+influx'],
    async inject(ctx) {
      await ctx.deployment.mosquitto!.restart();
    },
  },
  {
    name: 'influx-down',
    fault: 'InfluxDB stopped, then started',
    deployments: ['mosquitto+influx'],
    async inject(ctx) {
      await ctx.deployment.influx!.down();
      const held = holdMs(ctx.quick, 60_000);
      ctx.extra.downS = held / 1000;
      await ctx.hold(held);
      ctx.extra.spoolFileKiB = Math.round((await spoolFileBytes(ctx.deployment.dataDir)) / 1024);
      ctx.ended();
      await ctx.deployment.influx!.up();
    },
  },
  {
    name: 'slow-store',
    fault: 'slow store (proxy: +200 ms, 8 KiB/s) until the spool is full',
    deployments: ['mosquitto+influx'],
    deploymentOptions: (_kind, quick) => ({ storeProxy: true, spoolMaxBytes: quick ? 32 * 1024 : 128 * 1024 }),
    async inject(ctx) {
      ctx.deployment.storeProxy!.pass({ latencyMs: 200, bytesPerSecond: 8 * 1024 });
      await untilSpoolFull(ctx, ctx.quick ? 60_000 : 180_000);
      await ctx.hold(holdMs(ctx.quick, 30_000));
      const backpressure = (await ctx.deployment.metrics()).get('vc_ingest_backpressure_total') ?? 0;
      ctx.extra.backpressure = backpressure;
      if (backpressure === 0) ctx.notes.push('FAIL: the spool filled but vc_ingest_backpressure_total stayed 0');
      ctx.ended();
      ctx.deployment.storeProxy!.restore();
    },
  },
  linkFault('broker-link', 'service-broker link stalled, restored, then cut, restored (proxy)', 'brokerProxy'),
  linkFault('store-link', 'service-InfluxDB link stalled, restored, then cut, restored (proxy)', 'storeProxy'),
  {
    name: 'disk-full',
    fault: "spool's disk full (tmpfs filled: ENOSPC), then space freed",
    deployments: ['embedded', 'mosquitto+influx'],
    deploymentOptions: () => ({ prepareDataDir: spoolOnSmallDisk('16m') }),
    async inject(ctx) {
      const dir = join(ctx.deployment.dataDir, 'spool');
      const filler = await fillDisk(dir);
      // acking stops with an error the operator sees: the metric, and /readyz
      await waitFor(
        'a refused spool write',
        async () => ((await ctx.deployment.metrics()).get('vc_spool_write_errors_total') ?? 0) > 0 ? true : undefined,
        60_000,
        200,
      ).catch(() => ctx.notes.push('FAIL: no vc_spool_write_errors_total after the disk filled'));
      // a small write can still land in the last page of a file on a full filesystem (durable, so acked): readiness
      // follows the last write, so it is watched until it shows the refusal
      await waitFor(
        '/readyz to name the full disk',
        async () => {
          const r = await ctx.deployment.api.get<{ checks: Record<string, { ok: boolean; detail?: string }> }>('/readyz', 5_000);
          if (r.status !== 503 || r.body.checks?.spool?.ok !== false) return undefined;
          ctx.extra.readyz = String(r.body.checks.spool.detail ?? '').slice(0, 80);
          return true;
        },
        30_000,
        100,
      ).catch(() => ctx.notes.push('FAIL: /readyz never named the full spool disk'));
      const before = ctx.fleet.acked();
      await ctx.hold(holdMs(ctx.quick, 30_000));
      // a PUBACK from Mosquitto means Mosquitto has it; the embedded broker acks only what still fit on the disk
      if (ctx.deployment.kind === 'embedded') ctx.extra.ackedWhileFull = ctx.fleet.acked() - before;
      ctx.extra.writeErrors = (await ctx.deployment.metrics()).get('vc_spool_write_errors_total') ?? 0;
      ctx.ended();
      await rm(filler);
    },
  },
  {
    name: 'clocks',
    fault: 'vehicle clocks 4 min ahead and 3 h behind the cloud',
    deployments: ['embedded', 'mosquitto+influx'],
    fleet: () => ({ clockSkewMs: (i) => [240_000, -3 * 3_600_000, 0][i % 3]! }),
    async inject(ctx) {
      await ctx.hold(holdMs(ctx.quick, 30_000));
    },
    async after(ctx) {
      // past the contract's window (now + 5 min): refused with its reason, never stored
      const vin = ctx.fleet.vehicles[0]!.vin;
      const r = await ctx.deployment.api.post<{ code?: string }>('/api/v1/telemetry', { vin, ts: Date.now() + 600_000, seq: 1e9, signals: { 'Vehicle.Speed': 1 } });
      if (r.status !== 422 || r.body.code !== 'TS_OUT_OF_RANGE') ctx.notes.push(`FAIL: a sample 10 min ahead answered ${r.status} ${JSON.stringify(r.body)}`);
    },
  },
  {
    name: 'late-batches',
    fault: 'store-and-forward batches of 50 arriving 2-6 h late, beside live vehicles',
    deployments: ['embedded', 'mosquitto+influx'],
    fleet: () => ({ batch: (i) => (i % 3 === 2 ? undefined : { size: 50, lateMs: (2 + (i % 5)) * 3_600_000 }) }),
    async inject(ctx) {
      await ctx.hold(holdMs(ctx.quick, 30_000));
    },
  },
];

export interface RunOptions {
  quick: boolean;
  log: (line: string) => void;
  /** a stated time or memory bound exceeded fails the row (default); tests pass false, as speed is never asserted there */
  bounds?: boolean;
}

/** One fault in one deployment, start to finish; never throws (a failure is a row with its note). */
export async function runFault(spec: FaultSpec, kind: DeploymentKind, options: RunOptions): Promise<FaultResult> {
  const { quick, log } = options;
  const bounds = options.bounds ?? true;
  const result: FaultResult = { fault: spec.fault, deployment: kind, acked: 0, stored: 0, lost: 0, duplicated: 0, cockpitExact: null, recoveryMs: null, peakRssMiB: null, extra: {}, notes: [] };
  let deployment: Deployment | undefined;
  let fleet: Fleet | undefined;
  let rss: ReturnType<typeof watchRss> | undefined;
  const started = Date.now();
  try {
    deployment = await startDeployment(kind, spec.deploymentOptions?.(kind, quick));
    const dep = deployment;
    fleet = await startFleet(dep, { vehicles: quick ? 6 : 10, ratePerVehicle: quick ? 10 : 20, ...spec.fleet?.(quick) });
    rss = watchRss(() => dep.service.pid);
    await fleet.ackedMore(5, 60_000);
    // steady publishing before the fault (full runs): the fault meets a spool and a store with data in them
    if (!quick) await new Promise((r) => setTimeout(r, STEADY_MS));
    let endedAt: number | undefined;
    const ctx: FaultContext = {
      deployment: dep,
      fleet,
      quick,
      bounds,
      log,
      notes: result.notes,
      extra: result.extra!,
      hold: (ms) => new Promise((r) => setTimeout(r, ms)),
      ended: () => void (endedAt ??= Date.now()),
    };
    log(`${spec.name} [${kind}]: fault`);
    await spec.inject(ctx);
    endedAt ??= Date.now();
    log(`${spec.name} [${kind}]: recovery`);
    result.recoveryMs = await recovery(dep, fleet, endedAt, quick ? 90_000 : 240_000);
    if (result.recoveryMs === null) result.notes.push('no recovery within the bound');
    // publishing goes on after the recovery before the fleet stops
    await fleet.ackedMore(5, 60_000).catch(() => result.notes.push('FAIL: acks did not resume'));
    if (!quick) await new Promise((r) => setTimeout(r, STEADY_MS));
    await fleet.stop();
    const activeFleet = fleet;
    let verdict = await verify(dep.api, activeFleet).catch(() => undefined);
    await waitFor('every acked sample stored', async () => {
      verdict = await verify(dep.api, activeFleet);
      return verdict.lost === 0 ? true : undefined;
    }, 120_000, 500).catch(() => undefined);
    if (!verdict) throw new Error('could not read the stored samples');
    result.acked = verdict.acked;
    result.stored = verdict.stored;
    result.lost = verdict.lost;
    result.duplicated = verdict.duplicated;
    if (verdict.lost > 0) result.notes.push(`lost e.g. ${verdict.lostExamples.join(', ')}`);
    const cockpit = await checkCockpit(dep.api, activeFleet, 60_000);
    result.cockpitExact = cockpit.exact;
    if (!cockpit.exact) result.notes.push(`cockpit: ${cockpit.diffs.join('; ')}`);
    await spec.after?.(ctx);
    const healthy = await waitFor('/readyz', async () => ((await dep.ready()) ? true : undefined), 30_000, 250).catch(() => false);
    result.extra!.healthy = healthy ? 'yes' : 'no';
    const peak = rss.peak();
    result.peakRssMiB = peak === null ? null : Math.round(peak);
    if (peak !== null && peak > RSS_BOUND_MIB) result.notes.push(`${bounds ? 'FAIL: ' : ''}peak RSS ${Math.round(peak)} MiB over the bound of ${RSS_BOUND_MIB} MiB`);
  } catch (err) {
    result.notes.push(`FAIL: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500));
    if (deployment) result.notes.push(`service log: ${deployment.service.logTail().slice(0, 500)}`);
  } finally {
    rss?.stop();
    await fleet?.stop(1_000).catch(() => undefined);
    await deployment?.close();
  }
  result.extra!.durationS = Math.round((Date.now() - started) / 1000);
  log(`${spec.name} [${kind}]: acked ${result.acked}, lost ${result.lost}, duplicated ${result.duplicated}, cockpit ${String(result.cockpitExact)}, recovery ${result.recoveryMs} ms${result.notes.length ? `; ${result.notes.join('; ')}` : ''}`);
  return result;
}

/** Did the row meet every guarantee? */
export function faultOk(r: FaultResult): boolean {
  return r.lost === 0 && r.duplicated === 0 && r.cockpitExact !== false && r.recoveryMs !== null && r.extra?.healthy !== 'no' && !r.notes.some((n) => n.startsWith('FAIL'));
}
