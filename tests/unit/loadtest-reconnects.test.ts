// The load tester's account of connections that came back after being lost: a connection's latest reconnection
// decides whether it is publishing again; CONNACK latencies count every reconnection.
import t from 'tap';
import { reconnectionStats } from '../../simulators/loadtest/reconnects.ts';

t.test('no reconnection: zero counts and no figures', async (t) => {
  t.same(reconnectionStats([]), {
    reconnections: 0,
    connections: 0,
    resumed: 0,
    connackP50Ms: null,
    connackP99Ms: null,
    connackMaxMs: null,
    firstConnackAt: null,
    lastConnackAt: null,
    lastResumedAt: null,
  });
});

t.test("a connection counts as publishing again only if its latest reconnection had a PUBACK", async (t) => {
  const stats = reconnectionStats([
    { connection: 0, connackMs: 5, connackAt: 1_000, resumedAt: 1_010 },
    { connection: 1, connackMs: 40, connackAt: 1_050, resumedAt: 1_200 },
    // connection 2 came back, was lost again, came back and never published: not resumed
    { connection: 2, connackMs: 10, connackAt: 1_020, resumedAt: 1_030 },
    { connection: 2, connackMs: 900, connackAt: 2_000, resumedAt: 0 },
  ]);
  t.equal(stats.reconnections, 4);
  t.equal(stats.connections, 3);
  t.equal(stats.resumed, 2);
  t.equal(stats.connackP50Ms, 10);
  t.equal(stats.connackP99Ms, 900);
  t.equal(stats.connackMaxMs, 900);
  t.equal(stats.firstConnackAt, 1_000);
  t.equal(stats.lastConnackAt, 2_000);
  t.equal(stats.lastResumedAt, 1_200);
});
