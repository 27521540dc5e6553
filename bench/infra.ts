// What a benchmark run needs around the servers it starts for itself (tooling/: Mosquitto and influxd on loopback,
// free ports, temp dirs, max_queued_messages 0; vehicle-cloud as a child process exactly as `npm start` runs it): the
// admin token it gives the service, and the whole machine's CPU counters.
import { readFile } from 'node:fs/promises';

export { ROOT } from '../tooling/system.ts';
export { influxdOrSkip, type Influxd } from '../tooling/influxd.ts';
export { startMosquitto, MOSQUITTO_BINARY, type MosquittoBroker } from '../tooling/mosquitto.ts';

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-not-secret-0123456789';

/** Whole-machine CPU counters (all cores), to tell our processes' load from everyone else's. */
export async function machineCpu(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}
