// The store writer's batching against a real spool and a real embedded store: with no backlog, samples arriving a
// few at a time wait up to VC_STORE_FLUSH_MS to be written together (one store transaction per flush, not one per
// sample); a backlog is written at once, in batches of VC_STORE_BATCH_BYTES.
import t from 'tap';
import { createLogger } from '../../services/observability/logger.ts';
import { ServiceMetrics } from '../../services/observability/metrics.ts';
import { wireWriter, type WriterSettings } from '../../services/ingest/writer-host.ts';
import type { SpoolRecord } from '../../services/ingest/pipeline.ts';
import { Spool } from '../../services/spool/spool.ts';
import { EmbeddedStore } from '../../services/store/duckdb/store.ts';
import type { StoredSample } from '../../services/store/telemetry-store.ts';
import { tempDir, waitFor } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

const logger = createLogger('silent');

async function setup(t: TapTest, settings: Partial<WriterSettings>) {
  const dir = await tempDir('store-writer');
  const store = await EmbeddedStore.open({ dir: `${dir.path}/store`, logger });
  await store.init();
  const spool = Spool.open({ dir: `${dir.path}/spool`, fsync: 'never' });
  const writes: number[] = [];
  const writeSamples = store.writeSamples.bind(store);
  store.writeSamples = (samples: readonly StoredSample[]) => {
    writes.push(samples.length);
    return writeSamples(samples);
  };
  const metrics = new ServiceMetrics({ processMetrics: false });
  const { writer, rollups } = wireWriter({
    spool,
    store,
    metrics,
    logger,
    settings: { strategy: 'incremental', batchBytes: 4 * 1024 ** 2, flushMs: 0, retryMinMs: 50, retryMaxMs: 500, rollupFlushMs: 1_000, rollupFactsFlushMs: 15_000, ...settings },
  });
  t.teardown(async () => {
    await writer.stop();
    await rollups.stop();
    spool.close();
    await store.close();
    await dir.remove();
  });
  return { spool, writer, writes, metrics, store };
}

const vin = 'LNBSCB3F5JW123456';
const record = (ts: number, seq: number): SpoolRecord => ({ k: 's', at: Date.now(), vin, brand: 'Voltra', model: 'E-Cross', samples: [{ ts, seq, signals: { 'Vehicle.Speed': 40 } }] });

t.test('with no backlog, a few samples a second are written together once per flush interval', async (t) => {
  const { spool, writer, writes } = await setup(t, { flushMs: 800 });
  const base = Date.now();
  // 30 samples at ~15 a second, appended one at a time as ingestion would
  for (let i = 0; i < 30; i++) {
    spool.append(record(base + i * 10, i));
    spool.flush();
    await new Promise((r) => setTimeout(r, 66));
  }
  t.ok(await writer.drained(15_000), 'every sample stored');
  t.equal(writes.reduce((a, b) => a + b, 0), 30, 'each sample written once');
  // about 2 s of arrivals at one write per 0.8 s: never one write per sample
  t.ok(writes.length <= 6, `${writes.length} store writes for 30 samples (${writes.join(', ')})`);
});

t.test('the flush interval counts from the previous batch: a write as long as the interval is followed by the next at once', async (t) => {
  const { spool, writer, store } = await setup(t, { flushMs: 1_500 });
  // every write takes the flush interval; samples keep arriving meanwhile
  const spans: Array<{ start: number; end: number }> = [];
  const writeSamples = store.writeSamples.bind(store);
  store.writeSamples = async (samples: readonly StoredSample[]) => {
    const start = Date.now();
    await new Promise((r) => setTimeout(r, 1_500));
    await writeSamples(samples);
    spans.push({ start, end: Date.now() });
  };
  const base = Date.now();
  let seq = 0;
  const arrivals = setInterval(() => {
    spool.append(record(base + seq * 10, seq));
    seq += 1;
    spool.flush();
  }, 50);
  await waitFor('three writes', async () => (spans.length >= 3 ? true : undefined), 60_000);
  clearInterval(arrivals);
  t.ok(await writer.drained(30_000));
  // counted from the end of the write, each gap would be the whole 1.5 s interval
  for (let i = 1; i < 3; i++) {
    const gap = spans[i]!.start - spans[i - 1]!.end;
    t.ok(gap < 750, `write ${i + 1} started ${gap} ms after write ${i} ended`);
  }
});

t.test('without a flush interval, each sample arriving alone is its own write', async (t) => {
  const { spool, writer, writes } = await setup(t, { flushMs: 0 });
  const base = Date.now();
  for (let i = 0; i < 10; i++) {
    spool.append(record(base + i * 10, i));
    spool.flush();
    await waitFor('the sample written', async () => (writes.length > i ? true : undefined));
  }
  t.ok(await writer.drained(15_000));
  t.equal(writes.length, 10, 'ten writes');
});

t.test('a backlog is written at once, in batches of the batch size, whatever the flush interval', async (t) => {
  const base = Date.now();
  // spooled before the writer starts, as after a store outage
  const { spool, writer, writes } = await setup(t, { flushMs: 60_000, batchBytes: 64 * 1024 });
  for (let i = 0; i < 3_000; i++) spool.append(record(base - 3_000 * 10 + i * 10, i));
  spool.flush();
  t.ok(await writer.drained(30_000), 'drained well before the 60 s flush interval');
  t.equal(writes.reduce((a, b) => a + b, 0), 3_000);
  t.ok(writes.length >= 3, `several batches of at most 64 KiB of spool (${writes.length})`);
});
