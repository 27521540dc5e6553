// The load tester's side of its publisher processes: fork them (with this process's loader flags, so the
// TypeScript entry runs under tsx or the test loader alike), start them together, sum their progress, collect
// what each vehicle sent, and never leave one running.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromPublisher, PublisherConfig, PublisherProgress, Reconnection, ToPublisher, VehicleOutcome } from './protocol.ts';

const PUBLISHER_ENTRY = fileURLToPath(new URL('./publisher.ts', import.meta.url));
const READY_TIMEOUT_MS = 60_000;

export interface FleetOutcome {
  progress: PublisherProgress;
  vehicles: VehicleOutcome[];
  firstTs: number;
  lastTs: number;
  /** every reconnection after a lost connection, `connection` made unique across processes */
  reconnections: Reconnection[];
}

const zeroProgress = (): PublisherProgress => ({ published: 0, messages: 0, acked: 0, inflight: 0, behind: 0, errors: 0, reconnects: 0, connected: 0 });

function sum(progresses: readonly PublisherProgress[]): PublisherProgress {
  const total = zeroProgress();
  for (const p of progresses) for (const key of Object.keys(total) as Array<keyof PublisherProgress>) total[key] += p[key];
  return total;
}

interface Member {
  child: ChildProcess;
  progress: PublisherProgress;
  done?: FleetOutcome;
  exited: Promise<void>;
}

export class PublisherFleet {
  private constructor(
    private readonly members: Member[],
    private readonly outcome: Promise<FleetOutcome>,
  ) {}

  /** Fork one process per config and wait until every connection is up. */
  static async start(configs: readonly PublisherConfig[], onProbe: (vin: string, ts: number, sentAt: number) => void): Promise<PublisherFleet> {
    const members: Member[] = [];
    const readies: Array<Promise<void>> = [];
    const dones: Array<Promise<FleetOutcome>> = [];
    for (const config of configs) {
      const child = fork(PUBLISHER_ENTRY, [], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
      let stderr = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
      const member: Member = { child, progress: zeroProgress(), exited: new Promise((resolve) => child.once('close', () => resolve())) };
      members.push(member);
      let failed: (err: Error) => void = () => undefined;
      const failure = new Promise<never>((_, reject) => (failed = reject));
      failure.catch(() => undefined);
      // 'close' comes after the IPC channel is drained, so a last 'done' message is never mistaken for a crash
      child.once('close', (code, signal) => {
        if (!member.done) failed(new Error(`publisher ${config.index} exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      });
      readies.push(
        Promise.race([
          new Promise<void>((resolve) => child.on('message', (m: FromPublisher) => m.type === 'ready' && resolve())),
          failure,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`publisher ${config.index} not connected after ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS).unref()),
        ]),
      );
      dones.push(
        Promise.race([
          new Promise<FleetOutcome>((resolve) =>
            child.on('message', (m: FromPublisher) => {
              if (m.type === 'done') {
                member.done = {
                  progress: m.progress,
                  vehicles: m.vehicles,
                  firstTs: m.firstTs,
                  lastTs: m.lastTs,
                  reconnections: m.reconnections.map((r) => ({ ...r, connection: r.connection * configs.length + config.index })),
                };
                member.progress = m.progress;
                resolve(member.done);
              }
            }),
          ),
          failure,
        ]),
      );
      child.on('message', (m: FromPublisher) => {
        if (m.type === 'progress') member.progress = m.progress;
        else if (m.type === 'probe') onProbe(m.vin, m.ts, m.sentAt);
        else if (m.type === 'failed') failed(new Error(`publisher ${config.index}: ${m.error}`));
      });
      child.send({ type: 'start', config } satisfies ToPublisher);
    }
    const outcome = Promise.all(dones).then((all) => ({
      progress: sum(all.map((o) => o.progress)),
      vehicles: all.flatMap((o) => o.vehicles),
      firstTs: Math.min(...all.map((o) => o.firstTs)),
      lastTs: Math.max(...all.map((o) => o.lastTs)),
      reconnections: all.flatMap((o) => o.reconnections),
    }));
    outcome.catch(() => undefined);
    const fleet = new PublisherFleet(members, outcome);
    try {
      await Promise.all(readies);
    } catch (err) {
      await fleet.kill();
      throw err;
    }
    return fleet;
  }

  get pids(): number[] {
    return this.members.map((m) => m.child.pid).filter((pid): pid is number => pid !== undefined);
  }

  progress(): PublisherProgress {
    return sum(this.members.map((m) => m.progress));
  }

  /** Start publishing everywhere at `at` (wall clock). */
  go(at: number): void {
    for (const m of this.members) m.child.send({ type: 'go', at } satisfies ToPublisher);
  }

  /** Stop publishing early; the outcome still arrives. */
  stop(): void {
    for (const m of this.members) if (m.child.connected) m.child.send({ type: 'stop' } satisfies ToPublisher);
  }

  /** What every vehicle sent and got acknowledged, once all processes are done. */
  finished(): Promise<FleetOutcome> {
    return this.outcome;
  }

  async kill(): Promise<void> {
    for (const m of this.members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
    await Promise.all(this.members.map((m) => m.exited));
  }

  /** Wait for the processes to exit by themselves (they do after reporting), killing them after `graceMs`. */
  async close(graceMs = 5_000): Promise<void> {
    const timer = setTimeout(() => void this.kill(), graceMs);
    await Promise.all(this.members.map((m) => m.exited));
    clearTimeout(timer);
  }
}
