// The reconnect storm, short: a few hundred vehicles, each on its own MQTT connection with its own login, lose
// their connections at once (embedded broker: cut by the kernel; Mosquitto with dynsec: restarted) and come back
// by themselves; every acknowledged sample is stored exactly once. Times are reported, never asserted.
import t from 'tap';
import { deploymentMissing, type DeploymentKind } from '../../bench/chaos/deployment.ts';
import { run, stormCeiling } from '../../bench/chaos/storm.ts';
import { IN_CI } from '../../tooling/system.ts';

const VEHICLES = 200;

t.test('this machine can hold the full storm: 10,000 connections fit the fd and port limits', async (t) => {
  const ceiling = await stormCeiling();
  t.ok(ceiling.connections > 0, ceiling.why);
  t.comment(`at most ${ceiling.connections} connections (${ceiling.why})`);
});

for (const kind of ['embedded', 'mosquitto+influx'] as DeploymentKind[]) {
  const missing = deploymentMissing(kind);
  if (missing && IN_CI) throw new Error(`${missing}: required in CI`);
  t.test(`reconnect storm on ${kind}: all ${VEHICLES} vehicles come back and publish, nothing acked is lost or doubled`, { skip: missing ?? false }, async (t) => {
    const lines: string[] = [];
    const [result] = await run({ quick: true, vehicles: VEHICLES, deployments: [kind], log: (line) => lines.push(line) });
    t.ok(result, 'one row for the deployment');
    if (!result) return;
    t.comment(lines.join('\n'));
    t.equal(result.deployment, kind);
    t.equal(result.extra?.vehicles, VEHICLES);
    t.equal(result.extra?.reconnected, VEHICLES, 'every connection came back');
    t.equal(result.extra?.publishingAgain, VEHICLES, 'every connection had a PUBACK after it came back');
    t.ok(result.acked > VEHICLES, `samples acknowledged: ${result.acked}`);
    t.equal(result.stored, result.acked, 'every acknowledged sample stored');
    t.equal(result.lost, 0);
    t.equal(result.duplicated, 0);
    t.type(result.extra?.connackP50Ms, 'number', 'CONNACK p50 reported');
    t.type(result.extra?.connackP99Ms, 'number', 'CONNACK p99 reported');
    t.type(result.extra?.allConnectedMs, 'number');
    t.type(result.recoveryMs, 'number', 'time until all publish again reported');
    t.ok(result.peakRssMiB !== null && result.peakRssMiB > 0, 'peak RSS read from /proc');
    t.type(result.extra?.serviceCpuPeakPercent, 'number');
    t.same(result.notes, [], 'nothing to note');
  });
}
