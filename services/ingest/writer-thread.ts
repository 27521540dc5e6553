// The store writer in its own thread (InfluxDB mode): the SpoolWriter and the rollups, reading the ingest
// thread's spool through its files (SpoolFollower) and writing to InfluxDB over HTTP. The ingest thread keeps
// everything that acknowledges (MQTT, validation, the spool itself); this thread only stores, and tells it which
// spool position is stored so that it can checkpoint. See WriterThread for the other side.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../observability/logger.ts';
import { ServiceMetrics } from '../observability/metrics.ts';
import { SpoolFollower } from '../spool/follower.ts';
import type { SpoolPosition } from '../spool/spool.ts';
import { InfluxStore, type InfluxStoreOptions } from '../store/influx-store.ts';
import { wireWriter, type WriterSettings } from './writer-host.ts';

export interface WriterThreadData {
  spoolDir: string;
  checkpoint: SpoolPosition;
  written: SpoolPosition;
  influx: Omit<InfluxStoreOptions, 'logger'>;
  logLevel: string;
  settings: WriterSettings;
}

export type ToWriterThread = { type: 'written'; position: SpoolPosition } | { type: 'stop'; drainMs: number } | { type: 'metrics'; id: number } | { type: 'flush'; id: number };

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
  const metrics = new ServiceMetrics({ processMetrics: false });
  const store = new InfluxStore({ ...data.influx, logger });
  const follower = new SpoolFollower({
    dir: data.spoolDir,
    checkpoint: data.checkpoint,
    written: data.written,
    onCommit: (position) => post({ type: 'commit', position }),
  });
  const { writer, rollups } = wireWriter({ spool: follower, store, metrics, logger, settings: data.settings });
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
      case 'written':
        follower.advance(message.position);
        break;
      case 'metrics':
        void metrics.registry.getMetricsAsJSON().then((snapshot) => post({ type: 'metrics', id: message.id, snapshot }));
        break;
      case 'flush':
        rollups.flush(true).then(
          () => post({ type: 'flushed', id: message.id, ok: true }),
          () => post({ type: 'flushed', id: message.id, ok: false }),
        );
        break;
      case 'stop':
        void (async () => {
          await writer.stop(message.drainMs);
          await rollups.stop();
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
