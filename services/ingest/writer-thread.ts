// The store writer in its own thread (for a store it can open: InfluxDB): the SpoolWriter and the rollups, reading the
// ingest thread's spool through its files (SpoolFollower) and writing to the store. The ingest thread keeps
// everything that acknowledges (MQTT, validation, the spool itself); this thread only stores, and tells it which
// spool position is stored so that it can checkpoint. See WriterThread for the other side.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../observability/logger.ts';
import { ServiceMetrics } from '../observability/metrics.ts';
import { SpoolFollower } from '../spool/follower.ts';
import type { SpoolPosition } from '../spool/spool.ts';
import { openTelemetryStore, type StoreSettings } from '../store/open.ts';
import { wireWriter, type WriterSettings } from './writer-host.ts';

export interface WriterThreadData {
  spoolDir: string;
  checkpoint: SpoolPosition;
  /** where the spool's files end, published by the ingest thread after every write (SharedSpoolEnd) */
  end: SharedArrayBuffer;
  /** the store to open here: one openableInAnyThread (services/store/open.ts) */
  store: StoreSettings;
  logLevel: string;
  settings: WriterSettings;
}

export type ToWriterThread = { type: 'stop'; drainMs: number } | { type: 'metrics'; id: number } | { type: 'flush'; id: number };

export type FromWriterThread =
  | { type: 'commit'; position: SpoolPosition }
  | { type: 'status'; storeHealthy: boolean; lastStoreError?: string; samplesRefused: number }
  | { type: 'metrics'; id: number; snapshot: Awaited<ReturnType<ServiceMetrics['registry']['getMetricsAsJSON']>> }
  | { type: 'flushed'; id: number; ok: boolean }
  | { type: 'stopped' };

const STATUS_MS = 200;

if (parentPort) {
  const port = parentPort;
  const data = workerData as WriterThreadData;
  const post = (message: FromWriterThread): void => port.postMessage(message);
  const logger = createLogger(data.logLevel, 'vehicle-cloud');
  const metrics = new ServiceMetrics({ processMetrics: false, thread: 'writer' });
  const store = await openTelemetryStore(data.store, logger);
  const follower = new SpoolFollower({
    dir: data.spoolDir,
    checkpoint: data.checkpoint,
    end: data.end,
    onCommit: (position) => post({ type: 'commit', position }),
  });
  const wired = wireWriter({ spool: follower, store, metrics, logger, settings: data.settings });
  const { writer } = wired;
  let lastStatus = '';
  const status = (): void => {
    const message: FromWriterThread = { type: 'status', storeHealthy: writer.storeHealthy, lastStoreError: writer.lastStoreError, samplesRefused: writer.samplesRefused };
    const key = JSON.stringify(message);
    if (key !== lastStatus) post(message);
    lastStatus = key;
  };
  const statusTimer = setInterval(status, STATUS_MS);
  port.on('message', (message: ToWriterThread) => {
    switch (message.type) {
      case 'metrics':
        void metrics.registry.getMetricsAsJSON().then((snapshot) => post({ type: 'metrics', id: message.id, snapshot }));
        break;
      case 'flush':
        wired.flushRollups().then(
          () => post({ type: 'flushed', id: message.id, ok: true }),
          () => post({ type: 'flushed', id: message.id, ok: false }),
        );
        break;
      case 'stop':
        void (async () => {
          await wired.stop(message.drainMs);
          clearInterval(statusTimer);
          status();
          follower.close();
          await store.close();
          post({ type: 'stopped' });
          port.close();
        })();
        break;
    }
  });
}
