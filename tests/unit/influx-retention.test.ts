// Retention settings of the InfluxDB store: InfluxQL duration literals, the shard group durations InfluxDB 1.x
// would pick, and the CREATE/ALTER statements that bring a database's policies to the settings (run against a real
// influxd in tests/store/influx-retention.test.ts).
import t from 'tap';
import {
  durationLiteral,
  parseRetention,
  parseShownDuration,
  planPolicies,
  policyWishes,
  retentionProblem,
  shardGroupMs,
  shownPolicies,
  type PolicyState,
} from '../../services/store/influx-retention.ts';

const H = 3_600_000;
const D = 24 * H;
const id = (name: string): string => `"${name}"`;

t.test('InfluxQL duration literals, combined units and inf are read; anything else is not a duration', (t) => {
  t.equal(parseRetention('30d'), 30 * D);
  t.equal(parseRetention('4w'), 28 * D);
  t.equal(parseRetention('720h'), 30 * D);
  t.equal(parseRetention('1h30m'), 1.5 * H);
  t.equal(parseRetention(' 90m '), 1.5 * H, 'surrounding blanks are ignored');
  t.equal(parseRetention('3600000ms'), H);
  t.equal(parseRetention('3600000000000ns'), H);
  t.equal(parseRetention('inf'), Number.POSITIVE_INFINITY);
  t.equal(parseRetention('INF'), Number.POSITIVE_INFINITY);
  for (const bad of ['', '30', 'd', '30 d', '1.5h', '-1h', '30days', '1y', 'infinite', '1h 30m']) t.equal(parseRetention(bad), undefined, JSON.stringify(bad));
  t.end();
});

t.test('a retention is at least the minimum (or inf), with a message that says what is expected', (t) => {
  t.equal(retentionProblem('1h', H), undefined);
  t.equal(retentionProblem('inf', H), undefined);
  t.equal(retentionProblem('59m', H), 'at least 1h, or inf');
  t.equal(retentionProblem('7d', 8 * D), 'at least 8d, or inf');
  t.equal(retentionProblem('thirty days', H), 'an InfluxQL duration such as 30d, 4w, 720h, or inf');
  t.throws(() => policyWishes({ raw: '30m' }), /retention "30m": at least 1h/, 'the store refuses what the config refuses');
  t.throws(() => policyWishes({ rollups: '1d' }), /retention "1d": at least 8d/);
  t.end();
});

t.test('durations as SHOW RETENTION POLICIES prints them; 0s is infinite', (t) => {
  t.equal(parseShownDuration('720h0m0s'), 30 * D);
  t.equal(parseShownDuration('1h30m0s'), 1.5 * H);
  t.equal(parseShownDuration('0s'), Number.POSITIVE_INFINITY);
  t.equal(parseShownDuration('1.5s'), 1500);
  t.equal(parseShownDuration('garbage'), undefined);
  t.end();
});

t.test('shard groups as InfluxDB 1.x picks them: 1h below 2 days, 1d below 180 days, 7d above and for inf', (t) => {
  t.equal(shardGroupMs(H), H);
  t.equal(shardGroupMs(2 * D - 1), H);
  t.equal(shardGroupMs(2 * D), D);
  t.equal(shardGroupMs(30 * D), D);
  t.equal(shardGroupMs(180 * D), 7 * D);
  t.equal(shardGroupMs(Number.POSITIVE_INFINITY), 7 * D);
  t.end();
});

t.test('literals are written in the largest whole unit', (t) => {
  t.equal(durationLiteral(Number.POSITIVE_INFINITY), 'INF');
  t.equal(durationLiteral(14 * D), '2w');
  t.equal(durationLiteral(30 * D), '30d');
  t.equal(durationLiteral(1.5 * H), '90m');
  t.equal(durationLiteral(H + 1000), '3601s');
  t.equal(durationLiteral(H + 1), '3600001ms');
  t.end();
});

t.test('planning: missing policies are created, differing ones altered, matching ones kept', (t) => {
  const autogen: PolicyState = { name: 'autogen', durationMs: Number.POSITIVE_INFINITY, shardMs: 7 * D, isDefault: true };
  const fresh = planPolicies('vc', [autogen], policyWishes({ raw: '30d' }), id);
  t.same(
    fresh.map((c) => [c.action, c.statement]),
    [
      ['create', 'CREATE RETENTION POLICY "vc_rollups" ON "vc" DURATION INF REPLICATION 1 SHARD DURATION 1w'],
      ['create', 'CREATE RETENTION POLICY "vc_raw" ON "vc" DURATION 30d REPLICATION 1 SHARD DURATION 1d DEFAULT'],
    ],
    'rollups infinite by default; raw with the shard groups InfluxDB would pick, and the default policy',
  );
  t.equal(fresh[1]!.alter, 'ALTER RETENTION POLICY "vc_raw" ON "vc" DURATION 30d SHARD DURATION 1d DEFAULT', 'the ALTER to run when another process created it first');

  const existing: PolicyState[] = [
    { ...autogen, isDefault: false },
    { name: 'vc_raw', durationMs: D, shardMs: H, isDefault: true },
    { name: 'vc_rollups', durationMs: 400 * D, shardMs: 7 * D, isDefault: false },
  ];
  t.same(
    planPolicies('vc', existing, policyWishes({ raw: '1h' }), id).map((c) => [c.policy, c.action, c.statement]),
    [
      ['vc_rollups', 'keep', undefined],
      ['vc_raw', 'alter', 'ALTER RETENTION POLICY "vc_raw" ON "vc" DURATION 1h SHARD DURATION 1h DEFAULT'],
    ],
    'an unset rollups retention leaves an existing policy as it is (set by hand, say); a changed raw one is altered',
  );
  t.same(
    planPolicies('vc', existing, policyWishes({ raw: '24h', rollups: 'inf' }), id).map((c) => [c.policy, c.action, c.statement]),
    [
      ['vc_rollups', 'alter', 'ALTER RETENTION POLICY "vc_rollups" ON "vc" DURATION INF SHARD DURATION 1w'],
      ['vc_raw', 'keep', undefined],
    ],
  );
  t.same(
    planPolicies('vc', [{ ...existing[1]!, isDefault: false }, existing[2]!], policyWishes({ raw: '1d' }), id).map((c) => c.statement),
    [undefined, 'ALTER RETENTION POLICY "vc_raw" ON "vc" DURATION 1d SHARD DURATION 1h DEFAULT'],
    'the raw policy is made the default again when it no longer is',
  );
  t.same(planPolicies('vc', existing, policyWishes({}), id).map((c) => c.policy), ['vc_rollups'], 'no raw retention: the raw policy is not touched');
  t.end();
});

t.test('SHOW RETENTION POLICIES rows, by column name', (t) => {
  const rows = shownPolicies({
    series: [{ columns: ['name', 'duration', 'shardGroupDuration', 'replicaN', 'default'], values: [['autogen', '0s', '168h0m0s', 1, true], ['vc_raw', '720h0m0s', '24h0m0s', 1, false]] }],
  });
  t.same(rows, [
    { name: 'autogen', durationMs: Number.POSITIVE_INFINITY, shardMs: 7 * D, isDefault: true },
    { name: 'vc_raw', durationMs: 30 * D, shardMs: D, isDefault: false },
  ]);
  t.same(shownPolicies(undefined), []);
  t.end();
});
