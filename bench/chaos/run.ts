// `npm run chaos -- [--quick] [--only a,b]`: every fault of bench/chaos/faults.ts in each deployment it applies to,
// then (when their files are there) the reconnect storm, the hostile-input classes and the soak. Prints one table
// and writes bench/results/chaos-<timestamp>.json, chaos-latest.json and chaos-latest.md (quick: chaos-quick-latest).
// Exit code 1 when any row lost, duplicated or miscounted a sample, or missed a guarantee (docs/chaos.md).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { markdownTable, textTable } from '../../tooling/table.ts';
import { ROOT } from '../../tooling/system.ts';
import { fileStamp, machineInfo, runAsProgram, writeResults, type MachineInfo, type ProgramIo } from '../program.ts';
import { FAULTS, faultOk, runFault, RSS_BOUND_MIB, STOP_BOUND_MS } from './faults.ts';
import type { FaultResult, HostileResult, SoakResult } from './types.ts';

export const USAGE = `Usage: npm run chaos -- [options]

Runs every fault (kill -9, SIGTERM, broker restart, InfluxDB down 60 s, slow store, broker and store links stalled
and cut, spool disk full, skewed clocks, late batches) against real processes in both deployments (embedded;
Mosquitto + InfluxDB), with QoS 1 publishers throughout, and checks every acked sample is stored once and the
cockpit equals a recount. Then bench/chaos/storm.ts, hostile.ts and soak.ts when present. About 20 minutes;
--quick about 5.

Options:
  --quick            short variants (faults held 3 s)
  --only LIST        names to run, e.g. --only kill9,disk-full,storm (faults: ${FAULTS.map((f) => f.name).join(', ')};
                     others: storm, hostile, soak)
  --out DIR          where results go (default bench/results)
  -h, --help         this help`;

export interface ChaosReport {
  date: string;
  quick: boolean;
  machine: MachineInfo;
  /** load average at the end of the run */
  loadAverageAfter: number[];
  durationS: number;
  faults: FaultResult[];
  hostile: HostileResult[] | null;
  soak: SoakResult | null;
  /** every row met its guarantees */
  ok: boolean;
}

type Runner<T> = (options: { quick: boolean; log: (line: string) => void }) => Promise<T>;

/** A runner another module provides (storm.ts, hostile.ts, soak.ts), or undefined while it is not written. */
async function optionalRunner<T>(name: string): Promise<Runner<T> | undefined> {
  const path = join(ROOT, 'bench', 'chaos', `${name}.ts`);
  if (!existsSync(path)) return undefined;
  const module = (await import(pathToFileURL(path).href)) as { run?: Runner<T> };
  return module.run;
}

const int = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
const secs = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

export function faultRows(faults: readonly FaultResult[]): string[][] {
  return [
    ['fault', 'deployment', 'acked', 'stored', 'lost', 'duplicated', 'cockpit = recount', 'recovery', 'peak RSS', 'result', 'notes'],
    ...faults.map((r) => [
      r.fault,
      r.deployment,
      int(r.acked),
      int(r.stored),
      int(r.lost),
      int(r.duplicated),
      r.cockpitExact === null ? '-' : r.cockpitExact ? 'yes' : 'NO',
      secs(r.recoveryMs),
      r.peakRssMiB === null ? '-' : `${r.peakRssMiB} MiB`,
      faultOk(r) ? 'ok' : 'FAILED',
      [...Object.entries(r.extra ?? {}).filter(([k]) => k !== 'healthy' && k !== 'durationS').map(([k, v]) => `${k} ${v}`), ...r.notes].join('; '),
    ]),
  ];
}

export function hostileRows(hostile: readonly HostileResult[]): string[][] {
  return [
    ['class', 'surface', 'tried', 'right', 'wrong', '5xx', 'crashes', 'examples'],
    ...hostile.map((h) => [h.class, h.surface, int(h.tried), int(h.right), int(h.wrong), int(h.serverErrors), int(h.crashes), h.examples.slice(0, 3).join('; ')]),
  ];
}

export function soakRows(soak: SoakResult): string[][] {
  const s = soak.slopes;
  return [
    ['soak', 'rate', 'acked', 'lost', 'dup', 'RSS MiB/min (not judged)', 'live MiB/min', 'heap MiB/min', 'lag ms/min', 'handles/min', 'fds/min', 'flat'],
    [`${soak.durationS} s`, `${soak.ratePerS}/s`, int(soak.acked), int(soak.lost), int(soak.duplicated), s.rssMiBPerMin.toFixed(2), s.liveMiBPerMin.toFixed(2), s.heapMiBPerMin.toFixed(2), s.eventLoopLagMsPerMin.toFixed(2), s.handlesPerMin.toFixed(2), s.fdsPerMin.toFixed(2), soak.flat ? 'yes' : 'NO'],
  ];
}

export function chaosMarkdown(report: ChaosReport): string {
  const lines = [
    `# Chaos run ${report.date}${report.quick ? ' (quick)' : ''}`,
    '',
    `${report.machine.cpus} cores (${report.machine.cpuModel}), Node ${report.machine.node}; load average ${report.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')} at the start, ${report.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')} at the end; ${Math.round(report.durationS / 60)} min. Bounds: peak RSS ${RSS_BOUND_MIB} MiB, graceful stop ${STOP_BOUND_MS / 1000} s.`,
    '',
    ...markdownTable(faultRows(report.faults)),
  ];
  if (report.hostile) lines.push('', ...markdownTable(hostileRows(report.hostile)));
  if (report.soak) lines.push('', ...markdownTable(soakRows(report.soak)), ...(report.soak.notes.length ? ['', ...report.soak.notes.map((n) => `- ${n}`)] : []));
  lines.push('', report.ok ? 'Every row met its guarantees.' : '**At least one row FAILED** (see its notes).', '');
  return lines.join('\n');
}

export interface ChaosOptions {
  quick: boolean;
  only: string[] | undefined;
  outDir: string;
}

export function parseChaosArgs(argv: string[]): ChaosOptions | { help: true } | { error: string } {
  const options: ChaosOptions = { quick: false, only: undefined, outDir: join(ROOT, 'bench', 'results') };
  const known = new Set([...FAULTS.map((f) => f.name), 'storm', 'hostile', 'soak']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { help: true };
    else if (arg === '--quick') options.quick = true;
    else if (arg === '--only' || arg === '--out') {
      const value = argv[++i];
      if (!value) return { error: `${arg} needs a value` };
      if (arg === '--out') options.outDir = value;
      else {
        options.only = value.split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = options.only.filter((n) => !known.has(n));
        if (unknown.length) return { error: `unknown name(s) for --only: ${unknown.join(', ')} (known: ${[...known].join(', ')})` };
      }
    } else return { error: `unknown option ${arg}` };
  }
  return options;
}

export async function runChaos(options: ChaosOptions, log: (line: string) => void): Promise<ChaosReport> {
  const started = new Date();
  const machine = machineInfo();
  const wanted = (name: string): boolean => options.only === undefined || options.only.includes(name);
  const faults: FaultResult[] = [];
  for (const spec of FAULTS) {
    if (!wanted(spec.name)) continue;
    for (const kind of spec.deployments) faults.push(await runFault(spec, kind, { quick: options.quick, log }));
  }
  const runnerOptions = { quick: options.quick, log };
  let hostile: HostileResult[] | null = null;
  let soak: SoakResult | null = null;
  if (wanted('storm')) {
    const storm = await optionalRunner<FaultResult[]>('storm');
    if (storm) faults.push(...(await storm(runnerOptions)));
  }
  if (wanted('hostile')) {
    const run = await optionalRunner<HostileResult[]>('hostile');
    if (run) hostile = await run(runnerOptions);
  }
  if (wanted('soak')) {
    const run = await optionalRunner<SoakResult>('soak');
    if (run) soak = await run(runnerOptions);
  }
  const ok =
    faults.every(faultOk) &&
    (hostile ?? []).every((h) => h.wrong === 0 && h.serverErrors === 0 && h.crashes === 0) &&
    (soak === null || (soak.flat && soak.lost === 0 && soak.duplicated === 0));
  const report: ChaosReport = {
    date: started.toISOString(),
    quick: options.quick,
    machine,
    loadAverageAfter: machineInfo().loadAverage,
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    faults,
    hostile,
    soak,
    ok,
  };
  const latest = options.quick ? 'chaos-quick-latest' : 'chaos-latest';
  await writeResults(options.outDir, { timestamped: `chaos-${fileStamp(report.date)}${options.quick ? '-quick' : ''}`, latest }, report, chaosMarkdown(report));
  return report;
}

export async function main(argv: string[], io: ProgramIo): Promise<number> {
  const parsed = parseChaosArgs(argv);
  if ('help' in parsed) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if ('error' in parsed) {
    io.stderr.write(`${parsed.error}\n\n${USAGE}\n`);
    return 2;
  }
  const report = await runChaos(parsed, (line) => io.stderr.write(`${line}\n`));
  const tables = [textTable(faultRows(report.faults), { rule: true, maxWidth: 60 })];
  if (report.hostile) tables.push(textTable(hostileRows(report.hostile), { rule: true, maxWidth: 60 }));
  if (report.soak) tables.push(textTable(soakRows(report.soak), { rule: true }));
  io.stdout.write(`\n${tables.map((t) => t.join('\n')).join('\n\n')}\n\n${report.ok ? 'every row met its guarantees' : 'FAILED: see the rows marked FAILED'}\nwritten: ${join(parsed.outDir, parsed.quick ? 'chaos-quick-latest' : 'chaos-latest')}.{json,md}\n`);
  return report.ok ? 0 : 1;
}

runAsProgram(import.meta.url, main);
