// How a load test reads to a person: the live line while it runs and the summary table at the end.
import type { LiveProgress, LoadTestReport } from './runner.ts';
import { textTable } from '../../tooling/table.ts';
import { describeWriteVolume, writeVolume } from './store-writes.ts';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const rate = (n: number | null): string => (n === null ? 'n/a' : `${int(n)}/s`);
const ms = (n: number | null): string => (n === null ? 'n/a' : n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);
export const megabytes = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? 'n/a' : `${(bytes / 1024 ** 2).toFixed(bytes < 10 * 1024 ** 2 ? 1 : 0)} MB`);
const percent = (n: number | null): string => (n === null ? 'n/a' : `${Math.round(n)}%`);

export function liveLine(p: LiveProgress): string {
  if (p.phase === 'registering') return `[registering] ${int(p.registeredVehicles ?? 0)}/${int(p.vehicles)} vehicles`;
  if (p.phase === 'verifying') return `[verifying] read back ${int(p.readBackSamples ?? 0)} stored samples of ${int(p.acked)} acknowledged`;
  if (p.phase !== 'publishing' && p.phase !== 'draining') return `[${p.phase}]`;
  return [
    `[${p.phase}] ${p.elapsedS.toFixed(0)}s`,
    `offered ${rate(p.offeredRate)}`,
    `published ${rate(p.publishedRate)}`,
    `acked ${rate(p.ackedRate)}`,
    `accepted ${rate(p.acceptedRate)}`,
    `stored ${rate(p.storedRate)}`,
    `backlog ${megabytes(p.backlogBytes)}`,
    `behind ${int(p.behind)}`,
    `svc ${percent(p.serviceCpuPercent)} ${megabytes(p.serviceRssBytes)}`,
    `pub ${percent(p.publisherCpuPercent)}`,
    `p99 ${ms(p.latencyP99Ms)}`,
  ].join('  ');
}

export function summaryRows(r: LoadTestReport): Array<[string, string]> {
  const o = r.options;
  const v = r.verification;
  const l = r.latency;
  return [
    ['target', `${r.target.label} (${r.target.broker} broker${r.target.store ? `, store ${r.target.store}` : ''})`],
    ['load', `${o.schedule} for ${o.durationS} s, ${int(o.vehicles)} vehicles over ${int(o.connections)} connections (${o.mqttAuth === 'none' ? 'anonymous' : o.mqttAuth} login), ${o.publishers} publisher process(es), QoS ${o.qos}, ${o.batch} sample(s)/message`],
    ['offered / published', `${int(r.totals.offered)} / ${int(r.totals.published)} samples (${rate(r.rates.published)}), ${int(r.totals.behind)} behind`],
    ['acknowledged', `${int(r.totals.acked)} (${rate(r.rates.acked)}), ${int(r.totals.unconfirmed)} unconfirmed, ${int(r.totals.publishErrors)} errors, ${int(r.totals.reconnects)} reconnects`],
    ['accepted (/metrics)', `${rate(r.rates.accepted)} average, ${rate(r.rates.acceptedPeak)} peak second`],
    ['stored', `${rate(r.rates.stored)} while publishing; ${r.drain.drained ? `backlog drained ${ms(r.drain.ms)} after the end (bound ${ms(r.drain.boundMs)})` : 'backlog did NOT drain'}`],
    ['publish -> queryable', l.found > 0 ? `p50 ${ms(l.p50Ms)}  p95 ${ms(l.p95Ms)}  p99 ${ms(l.p99Ms)}  max ${ms(l.maxMs)}  (${l.found} probes, ${l.timedOut} timed out)` : `no probe answered (${l.probes} started)`],
    ...(r.reconnection.connections > 0
      ? [['reconnections', `${int(r.reconnection.connections)} connection(s) came back (${int(r.reconnection.resumed)} publishing again), CONNACK p50 ${ms(r.reconnection.connackP50Ms)} p99 ${ms(r.reconnection.connackP99Ms)} max ${ms(r.reconnection.connackMaxMs)}`] as [string, string]]
      : []),
    ['loss by seq', v ? `${int(v.lost)} lost, ${int(v.duplicates)} duplicated, ${int(v.unexpected)} unexpected of ${int(v.expected)} acknowledged (${int(v.vehicles)} vehicles read back)` : 'not verified'],
    ['service CPU / RSS', `${percent(r.service.cpuPercent)} of one core, ${megabytes(r.service.rssPeakBytes)} peak RSS`],
    ['store writes', describeWriteVolume(writeVolume(r.storeWrites ?? undefined))],
    ['publishers CPU', `${percent(r.publishers.cpuPercent)} of one core (${r.publishers.pids} process(es))`],
    ['verdict', `${r.verdict.ok ? 'OK' : 'FAILED'}: ${r.verdict.zeroLoss === null ? 'loss not verified' : r.verdict.zeroLoss ? 'zero loss' : 'LOSS OR DUPLICATES'}, ${r.verdict.keptUp ? 'kept up' : 'did NOT keep up'}`],
    ...r.verdict.notes.map((note): [string, string] => ['note', note]),
    ...(v?.examples ?? []).map((e): [string, string] => ['problem', e]),
  ];
}

export function summaryTable(r: LoadTestReport): string {
  const lines = textTable(summaryRows(r).map(([k, value]) => [`  ${k}`, value]));
  return `vehicle-cloud load test\n${lines.join('\n')}\n`;
}
