// GET /api/v1/ingest/health (admin): ingestion at a glance for the cockpit, from the service's own metrics:
// messages and samples per second, rejects per reason, spool depth and store lag, with a short history. Rates
// are differences of counters sampled every few seconds by this process (all its threads), since it started.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { MetricsSnapshot } from '../../observability/metrics.ts';
import type { ApiContext } from '../context.ts';
import { requireAdmin } from '../auth.ts';
import { ERROR_ANSWERS, jsonAnswer } from '../schemas.ts';
import { IngestHealthSchema } from '../fleet-status-schemas.ts';

export const HEALTH_SAMPLE_MS = 5_000;
/** Readings kept: ten minutes of history. */
const HISTORY = 120;

interface Reading {
  t: number;
  messages: number;
  samplesAccepted: number;
  samplesStored: number;
  rejects: Record<string, number>;
  spoolPendingBytes: number;
  storeLagSeconds: number;
}

const total = (snapshot: MetricsSnapshot, name: string): number =>
  snapshot.find((m) => m.name === name)?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;

function readingOf(snapshot: MetricsSnapshot, t: number): Reading {
  const rejects: Record<string, number> = {};
  for (const v of snapshot.find((m) => m.name === 'vc_ingest_rejects_total')?.values ?? []) {
    const reason = String(v.labels.reason ?? 'unknown');
    rejects[reason] = (rejects[reason] ?? 0) + v.value;
  }
  return {
    t,
    messages: total(snapshot, 'vc_ingest_messages_total'),
    samplesAccepted: total(snapshot, 'vc_ingest_samples_accepted_total'),
    samplesStored: total(snapshot, 'vc_store_samples_written_total'),
    rejects,
    spoolPendingBytes: total(snapshot, 'vc_spool_pending_bytes'),
    storeLagSeconds: total(snapshot, 'vc_store_lag_seconds'),
  };
}

const sumOf = (record: Record<string, number>): number => Object.values(record).reduce((a, b) => a + b, 0);
const perSecond = (later: number, earlier: number, ms: number): number => (ms > 0 ? Math.max(0, later - earlier) / (ms / 1000) : 0);


export const ingestHealthRoutes = (ctx: ApiContext): FastifyPluginAsyncZod => async (app) => {
  const readings: Reading[] = [readingOf(await ctx.metrics.snapshot(), Date.now())];
  const sample = async (): Promise<void> => {
    readings.push(readingOf(await ctx.metrics.snapshot(), Date.now()));
    if (readings.length > HISTORY + 1) readings.shift();
  };
  const timer = setInterval(() => void sample().catch(() => undefined), HEALTH_SAMPLE_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  app.get(
    '/api/v1/ingest/health',
    {
      onRequest: requireAdmin(ctx.resolvePrincipal),
      schema: { operationId: 'getIngestHealth', tags: ['operations'], summary: 'Admin: ingestion rates, rejects by reason, spool depth and store lag, with ten minutes of history', security: [{ bearer: [] }], response: { 200: jsonAnswer('ingestion now and over the last ten minutes', IngestHealthSchema), 401: ERROR_ANSWERS.unauthorized, 403: ERROR_ANSWERS.adminOnly, 429: ERROR_ANSWERS.rateLimited } },
    },
    async () => {
      const now = readingOf(await ctx.metrics.snapshot(), Date.now());
      const last = readings[readings.length - 1]!;
      // the last sample may be a moment old: measure against the one before when it is too close to be a rate
      const base = now.t - last.t >= 1000 || readings.length < 2 ? last : readings[readings.length - 2]!;
      const ms = now.t - base.t;
      const history = readings.slice(1).map((r, i) => {
        const prev = readings[i]!;
        const span = r.t - prev.t;
        return {
          t: r.t,
          messagesPerSecond: perSecond(r.messages, prev.messages, span),
          samplesPerSecond: perSecond(r.samplesAccepted, prev.samplesAccepted, span),
          rejectsPerSecond: perSecond(sumOf(r.rejects), sumOf(prev.rejects), span),
          storeLagSeconds: r.storeLagSeconds,
        };
      });
      const rejects = Object.entries(now.rejects)
        .map(([reason, count]) => ({ reason, total: count, perSecond: perSecond(count, base.rejects[reason] ?? 0, ms) }))
        .sort((a, b) => b.total - a.total);
      return {
        at: now.t,
        windowSeconds: ms / 1000,
        messagesPerSecond: perSecond(now.messages, base.messages, ms),
        samplesPerSecond: perSecond(now.samplesAccepted, base.samplesAccepted, ms),
        storedPerSecond: perSecond(now.samplesStored, base.samplesStored, ms),
        rejectsPerSecond: perSecond(sumOf(now.rejects), sumOf(base.rejects), ms),
        rejects,
        spoolPendingBytes: now.spoolPendingBytes,
        storeLagSeconds: now.storeLagSeconds,
        history,
      };
    },
  );
};
