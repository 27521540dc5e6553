// How publisher connections came back after they were lost (a broker restart, a cut network): how many, how fast
// the broker answered their CONNECT, and when the last of them was publishing again (its first PUBACK).
import { percentile } from './latency.ts';
import type { Reconnection } from './protocol.ts';

export interface ReconnectionStats {
  /** reconnections after a lost connection (one connection may reconnect more than once) */
  reconnections: number;
  /** distinct connections that reconnected */
  connections: number;
  /** of those, the connections whose latest reconnection was followed by a PUBACK */
  resumed: number;
  /** CONNECT written -> CONNACK received, over every reconnection */
  connackP50Ms: number | null;
  connackP99Ms: number | null;
  connackMaxMs: number | null;
  /** wall clock of the first and the last CONNACK of a reconnection */
  firstConnackAt: number | null;
  lastConnackAt: number | null;
  /** wall clock when the last connection to come back had its first PUBACK (null: none resumed) */
  lastResumedAt: number | null;
}

export function reconnectionStats(records: readonly Reconnection[]): ReconnectionStats {
  const latest = new Map<number, Reconnection>();
  for (const r of records) {
    const seen = latest.get(r.connection);
    if (!seen || r.connackAt >= seen.connackAt) latest.set(r.connection, r);
  }
  const connack = records.map((r) => r.connackMs).sort((a, b) => a - b);
  const connackAt = records.map((r) => r.connackAt);
  const resumed = [...latest.values()].filter((r) => r.resumedAt > 0);
  return {
    reconnections: records.length,
    connections: latest.size,
    resumed: resumed.length,
    connackP50Ms: percentile(connack, 50),
    connackP99Ms: percentile(connack, 99),
    connackMaxMs: connack.length > 0 ? connack[connack.length - 1]! : null,
    firstConnackAt: connackAt.length > 0 ? Math.min(...connackAt) : null,
    lastConnackAt: connackAt.length > 0 ? Math.max(...connackAt) : null,
    lastResumedAt: resumed.length > 0 ? Math.max(...resumed.map((r) => r.resumedAt)) : null,
  };
}
