// What the load tester reads about the processes it measures: Prometheus text from /metrics, and CPU time and
// resident memory from /proc/<pid> (Linux), both summed over several processes when asked.
import { readFile } from 'node:fs/promises';

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample line of Prometheus text, with its labels (label values unescaped). */
export function parsePrometheusSamples(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

/** Metric name -> value, summed over label sets (`vc_ingest_rejects_total{reason=..}` -> one total) and sources. */
export function metricTotals(samples: Iterable<PrometheusSample>): Map<string, number> {
  const values = new Map<string, number>();
  for (const { name, value } of samples) values.set(name, (values.get(name) ?? 0) + value);
  return values;
}

export function parsePrometheus(text: string): Map<string, number> {
  return metricTotals(parsePrometheusSamples(text));
}

export interface ProcessUsage {
  /** user + system CPU time since the process started */
  cpuSeconds: number;
  rssBytes: number;
}

/** Linux clock ticks per second (USER_HZ), 100 on every mainstream kernel build. */
const CLOCK_TICKS = 100;

/** CPU time and RSS of a process from /proc; undefined when it is gone or /proc is not there. */
export async function processUsage(pid: number): Promise<ProcessUsage | undefined> {
  try {
    const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
    // the command name may hold spaces and parentheses: fields are counted after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const rssKiB = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime) || !Number.isFinite(rssKiB)) return undefined;
    return { cpuSeconds: (utime + stime) / CLOCK_TICKS, rssBytes: rssKiB * 1024 };
  } catch {
    return undefined;
  }
}

/** Summed usage of several processes (those gone are left out). */
export async function processesUsage(pids: readonly number[]): Promise<ProcessUsage | undefined> {
  const usages = (await Promise.all(pids.map(processUsage))).filter((u): u is ProcessUsage => u !== undefined);
  if (usages.length === 0) return undefined;
  return usages.reduce((a, b) => ({ cpuSeconds: a.cpuSeconds + b.cpuSeconds, rssBytes: a.rssBytes + b.rssBytes }));
}

/**
 * CPU seconds used so far by a set of processes, counting one that has exited with its last reading: a sum over the
 * ones still alive would drop when one ends and read as negative CPU.
 */
export class ProcessCpuTotal {
  private readonly last = new Map<number, number>();

  async read(pids: readonly number[]): Promise<number | undefined> {
    await Promise.all(
      pids.map(async (pid) => {
        const usage = await processUsage(pid);
        if (usage) this.last.set(pid, usage.cpuSeconds);
      }),
    );
    return this.last.size > 0 ? [...this.last.values()].reduce((a, b) => a + b, 0) : undefined;
  }
}

/** Tracks CPU use between samples of one or more processes, as a percentage of one core. */
export class CpuMeter {
  private last: { at: number; cpuSeconds: number } | undefined;
  private first: { at: number; cpuSeconds: number } | undefined;

  /** Feed a cumulative CPU-seconds reading; returns % of one core since the previous reading. */
  update(cpuSeconds: number, at = performance.now()): number | undefined {
    const previous = this.last;
    this.last = { at, cpuSeconds };
    this.first ??= this.last;
    if (!previous || at <= previous.at) return undefined;
    return (100 * (cpuSeconds - previous.cpuSeconds)) / ((at - previous.at) / 1000);
  }

  /** % of one core since the first reading. */
  average(): number | undefined {
    if (!this.first || !this.last || this.last.at <= this.first.at) return undefined;
    return (100 * (this.last.cpuSeconds - this.first.cpuSeconds)) / ((this.last.at - this.first.at) / 1000);
  }

  /** CPU seconds since the first reading. */
  used(): number | undefined {
    return this.first && this.last ? this.last.cpuSeconds - this.first.cpuSeconds : undefined;
  }
}
