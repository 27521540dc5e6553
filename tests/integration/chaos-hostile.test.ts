// Every class of hostile input against MQTT ingest, HTTP ingest, the query API and the static paths of a spawned
// service, on both deployments: every input gets its documented answer, no 5xx, the service never dies, what was
// accepted before is all still stored and no tenant sees another's vehicles or samples.
import t from 'tap';
import { deploymentMissing, type DeploymentKind } from '../../bench/chaos/deployment.ts';
import { run } from '../../bench/chaos/hostile.ts';
import { IN_CI } from '../../tooling/system.ts';

for (const kind of ['embedded', 'mosquitto+influx'] as DeploymentKind[]) {
  const missing = deploymentMissing(kind);
  if (missing && IN_CI) throw new Error(`${missing}: required in CI`);
  t.test(`hostile input on ${kind}: all documented answers, no 5xx, no crash`, { skip: missing ?? false }, async (t) => {
    t.setTimeout(900_000);
    const lines: string[] = [];
    const rows = await run({ quick: true, deployments: [kind], log: (line) => lines.push(line) });
    t.comment(lines.join('\n'));
    const classes = new Set(rows.map((r) => r.class));
    for (const expected of [
      'malformed JSON',
      'deeply nested JSON',
      'huge payloads and batches',
      'NaN/Infinity/-0',
      'strings for numbers',
      'unicode and control characters',
      'line-protocol metacharacters',
      'InfluxQL and SQL injection',
      'path traversal',
      'oversized headers and query strings',
      'wrong, revoked and foreign tokens',
      'publishing or subscribing as another vehicle',
      'nothing accepted is lost',
    ]) {
      t.ok(classes.has(expected), `class tried: ${expected}`);
    }
    for (const r of rows) {
      t.ok(r.tried > 0, `${r.class} / ${r.surface}: ${r.tried} tried`);
      t.equal(r.wrong, 0, `${r.class} / ${r.surface}: none wrong${r.examples.length ? `: ${r.examples.join(' | ')}` : ''}`);
      t.equal(r.serverErrors, 0, `${r.class} / ${r.surface}: no 5xx`);
      t.equal(r.crashes, 0, `${r.class} / ${r.surface}: no crash`);
      t.equal(r.right, r.tried);
    }
  });
}
