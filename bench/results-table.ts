// The benchmark's results as a markdown table (bench/results/latest.md, linked from the README) and as the
// table printed at the end of a run.
import { megabytes } from '../simulators/loadtest/index.ts';
import type { BenchResult, SystemResult } from './run.ts';

const int = (n: number | null | undefined): string => (n === null || n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const pct = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : `${Math.round(n)}%`);
const latency = (s: SystemResult): string => {
  if (s.p99LatencyMs === null) return 'n/a';
  const what = s.key === 'broker' ? ' (to subscriber)' : s.key === 'storage' ? ' (write ack)' : '';
  return `${int(s.p99LatencyMs)} ms at ${int(s.latencyRate)}/s${what}`;
};
const ratio = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));

/** The head-to-head check in one sentence, or undefined when it did not run. */
export function headToHeadLine(result: BenchResult): string | undefined {
  const duel = result.headToHead;
  if (!duel) return undefined;
  const failed = duel.steps.filter((s) => !s.step.ok).map((s) => `${s.system}: ${s.step.notes[0] ?? 'failed'}`);
  return `At the naive bridge's max zero-loss rate (${int(duel.rate)}/s), offered in turn on fresh servers: vehicle-cloud (InfluxDB) passed **${duel.passed['vc-influx'] ?? 0} of ${duel.rounds}**, the naive bridge ${duel.passed.naive ?? 0} of ${duel.rounds}${failed.length > 0 ? ` (${failed.join('; ')})` : ''}.`;
}

export function tableRows(result: BenchResult): string[][] {
  const header = ['system', 'max zero-loss rate (samples/s, QoS 1)', 'loss-free, drain unbounded', 'p99 publish→queryable at half rate', 'CPU (system, % of a core)', 'RSS', 'publishers / Mosquitto / influxd CPU', 'machine CPU', 'what limits it'];
  const rows = result.systems.map((s) => [
    s.title,
    `${s.quick && s.maxZeroLossRate > 0 ? '≥ ' : ''}${int(s.maxZeroLossRate)}`,
    s.lossFreeRate === null ? '-' : `${int(s.lossFreeRate)} (drain ${s.lossFreeDrainMs === null ? 'n/a' : `${(s.lossFreeDrainMs / 1000).toFixed(1)} s`})`,
    latency(s),
    pct(s.cpuPercent),
    megabytes(s.rssBytes),
    `${pct(s.publishersCpuPercent)} / ${pct(s.mosquittoCpuPercent)} / ${pct(s.influxdCpuPercent)}`,
    pct(s.machineCpuPercent),
    s.limitedBy,
  ]);
  return [header, ...rows];
}

export function markdown(result: BenchResult): string {
  const [header, ...rows] = tableRows(result);
  const line = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const r = result.ratios;
  return [
    `# vehicle-cloud ingest benchmark${result.quick ? ' (quick smoke run: one modest step per system, not a search)' : ''}`,
    '',
    `Measured ${result.startedAt} on ${result.machine.cpus} x ${result.machine.cpuModel}, Node ${result.machine.node}, load average at start ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}.`,
    `Command: \`${result.command}\` (${Math.round(result.durationS)} s). ${result.options.vehicles} vehicles over ${result.options.connections} MQTT connections from ${result.options.publishers} publisher processes, QoS 1, one sample per message, ${result.options.stepS} s steps.`,
    '',
    line(header!),
    line(header!.map(() => '---')),
    ...rows.map(line),
    '',
    'Ratios in this run:',
    '',
    `- vehicle-cloud (InfluxDB) / naive bridge: **${ratio(r.vcInfluxOverNaive)}** (required: >= 1)`,
    ...(headToHeadLine(result) ? [`- ${headToHeadLine(result)}`] : []),
    `- vehicle-cloud (InfluxDB) / min(broker ceiling, storage ceiling): **${ratio(r.vcInfluxOverCeiling)}** (aim: 0.8)`,
    `- vehicle-cloud embedded / vehicle-cloud (InfluxDB): ${ratio(r.embeddedOverInflux)}`,
    `- 2 workers ($share) / 1 worker: ${ratio(r.sharedOverSingle)}`,
    '',
    'A rate is zero-loss when every PUBACKed sample was read back exactly once per vehicle by seq and the system kept up',
    '(the publishers sent the offered rate, and what was acknowledged was stored, and the backlog (spool and rollups for vehicle-cloud) drained, within max(2 s, 10% of the step) after publishing stopped).',
    '"Loss-free, drain unbounded": the highest rate tried at which every acknowledged sample was stored exactly once, however long the backlog took to drain.',
    'CPU and RSS are at the max zero-loss step (when no step passed, at the loss-free one); CPU is % of one core while publishing; "machine CPU" counts every process on the machine, other users included.',
    `Raw steps: \`bench/results/${result.file}\`.`,
    '',
  ].join('\n');
}

export function consoleTable(result: BenchResult): string {
  const rows = tableRows(result);
  const widths = rows[0]!.map((_, i) => Math.min(60, Math.max(...rows.map((r) => r[i]!.length))));
  const fmt = (cells: string[]): string => cells.map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!))).join('  ');
  const r = result.ratios;
  return [
    fmt(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(fmt),
    '',
    `vehicle-cloud (InfluxDB) / naive bridge: ${ratio(r.vcInfluxOverNaive)}   / min(ceilings): ${ratio(r.vcInfluxOverCeiling)}   embedded / InfluxDB: ${ratio(r.embeddedOverInflux)}   2 workers / 1: ${ratio(r.sharedOverSingle)}`,
    ...(headToHeadLine(result) ? [headToHeadLine(result)!.replace(/\*\*/g, '')] : []),
    '',
  ].join('\n');
}
