// The benchmark's results as markdown (bench/results/latest.md, linked from the README) and as the table printed at
// the end of a run: one summary row per fleet shape (what issue 15 asks: the naive bridge against vehicle-cloud on
// InfluxDB, its latency at half the bridge's rate, embedded against InfluxDB, the cockpit tables' writes beside the
// telemetry's), then every system's row at each shape.
import { megabytes, writeVolume, type WriteVolume } from '../simulators/loadtest/index.ts';
import { markdownTable, textTable } from '../tooling/table.ts';
import type { BenchResult, ShapeResult, SystemResult } from './run.ts';
import type { SystemKey } from './systems.ts';

const int = (n: number | null | undefined): string => (n === null || n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const pct = (n: number | null | undefined): string => (n === null || n === undefined ? '-' : `${Math.round(n)}%`);
const latency = (s: SystemResult): string => {
  if (s.p99LatencyMs === null) return 'n/a';
  const what = s.key === 'broker' ? ' (to subscriber)' : s.key === 'storage' ? ' (write ack)' : '';
  return `${int(s.p99LatencyMs)} ms at ${int(s.latencyRate)}/s${what}`;
};
const ratio = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));
const share = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`);
const perRow = (bytes: number, rows: number): string => (rows > 0 ? `${Math.round(bytes / rows)}` : '-');

/** "rows 0.6% / bytes 0.2% (telemetry 312 B/row, cockpit 96 B/row)", or "-" when the service does not count its writes. */
export function writesCell(volume: WriteVolume | undefined): string {
  if (!volume) return '-';
  return `rows ${share(volume.rowsRatio)} / bytes ${share(volume.bytesRatio)} (telemetry ${perRow(volume.telemetry.bytes, volume.telemetry.rows)} B/row, cockpit ${perRow(volume.rollups.bytes, volume.rollups.rows)} B/row)`;
}

const system = (shape: ShapeResult, key: SystemKey): SystemResult | undefined => shape.systems.find((s) => s.key === key);

/** The head-to-head check at one shape in one sentence, or undefined when it did not run. */
export function headToHeadLine(shape: ShapeResult): string | undefined {
  const duel = shape.headToHead;
  if (!duel) return undefined;
  const failed = duel.steps.filter((s) => !s.step.ok).map((s) => `${s.system}: ${s.step.notes[0] ?? 'failed'}`);
  return `At ${int(shape.vehicles)} vehicles, the naive bridge's max zero-loss rate (${int(duel.rate)}/s), offered in turn on fresh servers: vehicle-cloud (InfluxDB) passed **${duel.passed['vc-influx'] ?? 0} of ${duel.rounds}**, the naive bridge ${duel.passed.naive ?? 0} of ${duel.rounds}${failed.length > 0 ? ` (${failed.join('; ')})` : ''}.`;
}

/** One row per shape: the numbers the issue's done-when asks for. */
export function summaryRows(result: BenchResult): string[][] {
  const header = [
    'vehicles',
    'naive bridge, max zero-loss (c)',
    'vehicle-cloud (InfluxDB), max zero-loss (d)',
    'd ÷ c',
    'head to head at c (d / c passed)',
    'd p99 publish→queryable',
    'embedded, max zero-loss (e)',
    'e ÷ d',
    'cockpit ÷ telemetry writes, d',
    'cockpit ÷ telemetry writes, e',
  ];
  const rows = result.shapes.map((shape) => {
    const d = system(shape, 'vc-influx');
    const duel = shape.headToHead;
    return [
      int(shape.vehicles),
      system(shape, 'naive') ? `${int(system(shape, 'naive')!.maxZeroLossRate)}/s` : '-',
      d ? `${int(d.maxZeroLossRate)}/s` : '-',
      ratio(shape.ratios.vcInfluxOverNaive),
      duel ? `${duel.passed['vc-influx'] ?? 0} / ${duel.passed.naive ?? 0} of ${duel.rounds}` : '-',
      d ? latency(d) : '-',
      system(shape, 'vc-embedded') ? `${int(system(shape, 'vc-embedded')!.maxZeroLossRate)}/s` : '-',
      ratio(shape.ratios.embeddedOverInflux),
      writesCell(writeVolume(d?.storeWrites ?? undefined)),
      writesCell(writeVolume(system(shape, 'vc-embedded')?.storeWrites ?? undefined)),
    ];
  });
  return [header, ...rows];
}

export function tableRows(shape: ShapeResult): string[][] {
  const header = [
    'system',
    'max zero-loss rate (samples/s, QoS 1)',
    'loss-free, drain unbounded',
    'p99 publish→queryable',
    'CPU (system, % of a core)',
    'RSS',
    'publishers / Mosquitto / influxd CPU',
    'machine CPU',
    'cockpit ÷ telemetry writes',
    'what limits it',
  ];
  const rows = shape.systems.map((s) => [
    s.title,
    `${s.quick && s.maxZeroLossRate > 0 ? '≥ ' : ''}${int(s.maxZeroLossRate)}`,
    s.lossFreeRate === null ? '-' : `${int(s.lossFreeRate)} (drain ${s.lossFreeDrainMs === null ? 'n/a' : `${(s.lossFreeDrainMs / 1000).toFixed(1)} s`})`,
    latency(s),
    pct(s.cpuPercent),
    megabytes(s.rssBytes),
    `${pct(s.publishersCpuPercent)} / ${pct(s.mosquittoCpuPercent)} / ${pct(s.influxdCpuPercent)}`,
    pct(s.machineCpuPercent),
    writesCell(writeVolume(s.storeWrites ?? undefined)),
    s.limitedBy,
  ]);
  return [header, ...rows];
}


export function markdown(result: BenchResult): string {
  const o = result.options;
  return [
    `# vehicle-cloud ingest benchmark${result.quick ? ' (quick smoke run: one modest step per system, not a search)' : ''}`,
    '',
    `Measured ${result.startedAt} on ${result.machine.cpus} x ${result.machine.cpuModel}, Node ${result.machine.node}, load average at start ${result.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}.`,
    `Command: \`${result.command}\` (${Math.round(result.durationS)} s). At each shape the vehicles are multiplexed over ${o.connections} MQTT connections from ${o.publishers} publisher processes, QoS 1, one sample per message, ${o.stepS} s steps; the same total rate means fewer samples per vehicle as the fleet grows.`,
    '',
    '## Per fleet shape',
    '',
    ...markdownTable(summaryRows(result)),
    '',
    ...result.shapes.flatMap((shape) => (headToHeadLine(shape) ? [`- ${headToHeadLine(shape)}`] : [])),
    `- vehicle-cloud (InfluxDB) / min(broker ceiling, storage ceiling) at ${int(result.shapes[0]?.vehicles)} vehicles: **${ratio(result.vcInfluxOverCeiling)}** (aim: 0.8)`,
    '',
    ...result.shapes.flatMap((shape) => [
      `## ${int(shape.vehicles)} vehicles`,
      '',
      ...markdownTable(tableRows(shape)),
      '',
      `vehicle-cloud (InfluxDB) / naive bridge: **${ratio(shape.ratios.vcInfluxOverNaive)}** (required: >= 1); embedded / InfluxDB: ${ratio(shape.ratios.embeddedOverInflux)} (required: >= 1); 2 workers ($share) / 1 worker: ${ratio(shape.ratios.sharedOverSingle)}`,
      '',
    ]),
    'A rate is zero-loss when every PUBACKed sample was read back exactly once per vehicle by seq and the system kept up',
    '(the publishers sent the offered rate, and what was acknowledged was stored, and the backlog (spool and rollups for vehicle-cloud) drained, within max(2 s, 10% of the step) after publishing stopped).',
    '"Loss-free, drain unbounded": the highest rate tried at which every acknowledged sample was stored exactly once, however long the backlog took to drain.',
    "p99 publish→queryable is measured at half the naive bridge's max zero-loss rate of the same shape (the same load for every system; at half its own max for a system that does not sustain it, and for the ceilings).",
    'CPU and RSS are at the max zero-loss step (when no step passed, at the loss-free one); CPU is % of one core while publishing; "machine CPU" counts every process on the machine, other users included.',
    'Cockpit ÷ telemetry writes: rows and bytes the service wrote to its cockpit tables (`cockpit_*`) over those it wrote to `telemetry`, over all the steps of a system, from its `vc_store_rows_written_total` and `vc_store_bytes_written_total` ("-": the service does not report them).',
    `Raw steps: \`bench/results/${result.file}\`.`,
    '',
  ].join('\n');
}

/** The console's columns: a dashed rule under the header, cells cut at 60 characters. */
const aligned = (rows: string[][]): string[] => textTable(rows, { rule: true, maxWidth: 60 });

export function consoleTable(result: BenchResult): string {
  return [
    ...result.shapes.flatMap((shape) => [
      `${int(shape.vehicles)} vehicles`,
      ...aligned(tableRows(shape)),
      `vehicle-cloud (InfluxDB) / naive bridge: ${ratio(shape.ratios.vcInfluxOverNaive)}   embedded / InfluxDB: ${ratio(shape.ratios.embeddedOverInflux)}   2 workers / 1: ${ratio(shape.ratios.sharedOverSingle)}`,
      ...(headToHeadLine(shape) ? [headToHeadLine(shape)!.replace(/\*\*/g, '')] : []),
      '',
    ]),
    'per shape',
    ...aligned(summaryRows(result)),
    `vehicle-cloud (InfluxDB) / min(ceilings): ${ratio(result.vcInfluxOverCeiling)}`,
    '',
  ].join('\n');
}
