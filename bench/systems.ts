// The systems the benchmark compares, each opened on its own fresh servers (a leftover persistent session or a
// database still compacting would tax the next system), driven by the same load tester through a LoadTarget.
import pLimit from 'p-limit';
import { loadTestVins, processesUsage, serviceTarget, type LoadTarget, type MqttAuth } from '../simulators/loadtest/index.ts';
import { startInfluxd, type Influxd } from '../tooling/influxd.ts';
import { influxQuery } from '../tooling/influxql.ts';
import { startMosquitto, type MosquittoBroker } from '../tooling/mosquitto.ts';
import { startPostgres } from '../tooling/postgres.ts';
import { spawnFreshService, type ServiceProcess } from '../tooling/service.ts';
import { BENCH_ADMIN_TOKEN } from './infra.ts';
import { forkHelper, type RpcChild } from './rpc.ts';

export type SystemKey = 'broker' | 'storage' | 'naive' | 'vc-influx' | 'vc-embedded' | 'vc-shared';

export const SYSTEM_TITLES: Record<SystemKey, string> = {
  broker: '(a) broker ceiling: Mosquitto -> one MQTT.js subscriber counting',
  storage: '(b) storage ceiling: line-protocol batches -> influxd',
  naive: '(c) naive bridge: MQTT.js -> influxdb-client WriteApi (defaults)',
  'vc-influx': '(d) vehicle-cloud, Mosquitto + InfluxDB',
  'vc-embedded': '(e) vehicle-cloud, embedded (Aedes + DuckDB)',
  'vc-shared': '(f) 2 vehicle-cloud workers, Mosquitto $share + InfluxDB (+ PostgreSQL registry)',
};

export interface SystemUnderTest {
  key: SystemKey;
  target: LoadTarget;
  /** what the load tester connects to */
  api: string;
  broker: string;
  mqttAuth: MqttAuth;
  /** the processes of the system itself (CPU, RSS) */
  pids: number[];
  /** the servers around it, watched for the limits analysis */
  infra: Partial<Record<'mosquitto' | 'influxd', number>>;
  close(): Promise<void>;
}

export interface OpenOptions {
  influxdBinary?: string;
  vehicles: number;
  seed: number;
  /** register the vehicles at opening (default); false leaves it to the load test (e.g. to log each vehicle in) */
  register?: boolean;
}

/** API URL given to the load tester when the system has no API (the target answers instead); never contacted. */
const NO_API = 'http://127.0.0.1:9';
const BENCH_BRAND = 'Benchmark';
const BENCH_MODEL = 'Probe';

/** Stop everything started so far, in reverse, even when one stop fails. */
class Stack {
  private readonly closers: Array<() => Promise<void>> = [];
  push(close: () => Promise<void>): void {
    this.closers.push(close);
  }
  async close(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
  }
  /** Run `open`; on failure close what was opened and rethrow. */
  async guard<T>(open: () => Promise<T>): Promise<T> {
    try {
      return await open();
    } catch (err) {
      await this.close();
      throw err;
    }
  }
}

async function helperUsage(pid: number): Promise<{ cpuSeconds?: number; rssBytes?: number }> {
  const usage = await processesUsage([pid]);
  return { cpuSeconds: usage?.cpuSeconds, rssBytes: usage?.rssBytes };
}

async function broker(stack: Stack): Promise<MosquittoBroker> {
  const mosquitto = await startMosquitto();
  stack.push(() => mosquitto.stop());
  return mosquitto;
}

async function influx(stack: Stack, binary: string | undefined): Promise<Influxd> {
  const influxd = await startInfluxd(binary);
  stack.push(() => influxd.stop());
  return influxd;
}

/** Mosquitto and influxd one after the other, so that they never pick the same free port. */
async function brokerAndInflux(stack: Stack, binary: string | undefined): Promise<[MosquittoBroker, Influxd]> {
  const influxd = await influx(stack, binary);
  return [await broker(stack), influxd];
}

type VehicleCloudProcess = ServiceProcess & { mqttUrl: string };

async function vehicleCloud(stack: Stack, env: Record<string, string>): Promise<VehicleCloudProcess> {
  const service = await spawnFreshService({ VC_ADMIN_TOKEN: BENCH_ADMIN_TOKEN, ...env });
  stack.push(() => service.stop());
  return service;
}

/** Register the benchmark's vehicles once, before the steps (which then skip registration). */
async function register(target: LoadTarget, options: OpenOptions, service: VehicleCloudProcess): Promise<void> {
  if (options.register === false) return;
  try {
    await target.prepare(
      loadTestVins(options.seed, options.vehicles).map((vin) => ({ vin, brand: BENCH_BRAND, model: BENCH_MODEL })),
      false,
    );
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (service log: ${service.logTail() || 'empty'})`, { cause: err });
  }
}

/** Every stored (vin, seq) in [from, to), read straight from InfluxDB (not through the system's own read path), 1 s at a time. */
async function influxReadBack(url: string, database: string, from: number, to: number, record: (vin: string, seq: number) => void, onProgress?: (samples: number) => void): Promise<void> {
  const windows: number[] = [];
  for (let a = from; a < to; a += 1_000) windows.push(a);
  let read = 0;
  await pLimit(4).map(windows, async (a) => {
    const rows = await influxQuery(url, database, `SELECT "seq", "vin" FROM "telemetry" WHERE time >= ${a}ms AND time < ${Math.min(to, a + 1_000)}ms`);
    for (const row of rows) record(String(row[2]), Number(row[1]));
    onProgress?.((read += rows.length));
  });
}

export async function openBrokerCeiling(_options: OpenOptions): Promise<SystemUnderTest> {
  const stack = new Stack();
  return stack.guard(async () => {
    const mosquitto = await broker(stack);
    const subscriber = await forkHelper(new URL('./counting-subscriber.ts', import.meta.url));
    stack.push(() => subscriber.stop());
    await subscriber.call('connect', { url: mosquitto.url, clientId: 'bench-counting-subscriber' });
    const target: LoadTarget = {
      label: 'MQTT.js counting subscriber',
      describe: async () => ({ broker: 'external', store: 'none (counted in memory)' }),
      prepare: async () => new Map(),
      sample: async () => {
        const stats = await subscriber.call<{ samples: number }>('stats');
        return { accepted: stats.samples, stored: stats.samples, ...(await helperUsage(subscriber.pid)) };
      },
      queryable: (vin, ts) => subscriber.call<boolean>('seen', { vin, ts }),
      readBack: async (_vins, from, to, record) => {
        for (const [vin, seqs] of await subscriber.call<Array<[string, number[]]>>('readBack', { from, to })) for (const seq of seqs) record(vin, seq);
      },
    };
    return { key: 'broker', target, api: NO_API, broker: mosquitto.url, mqttAuth: 'none', pids: [subscriber.pid], infra: { mosquitto: mosquitto.pid }, close: () => stack.close() };
  });
}

export async function openNaiveBridge(options: OpenOptions): Promise<SystemUnderTest> {
  const stack = new Stack();
  return stack.guard(async () => {
    const [mosquitto, influxd] = await brokerAndInflux(stack, options.influxdBinary);
    const database = 'naive_bridge';
    // a user creates the database once by hand; the bridge itself only writes
    await influxQuery(influxd.url, undefined, `CREATE DATABASE "${database}"`);
    const bridge: RpcChild = await forkHelper(new URL('./naive-bridge.ts', import.meta.url));
    stack.push(() => bridge.stop());
    await bridge.call('connect', { mqttUrl: mosquitto.url, influxUrl: influxd.url, database, clientId: 'bench-naive-bridge' });
    const target: LoadTarget = {
      label: 'naive bridge (MQTT.js + WriteApi defaults)',
      describe: async () => ({ broker: 'external', store: 'influx' }),
      prepare: async () => new Map(),
      sample: async () => {
        const stats = await bridge.call<{ received: number; written: number }>('stats');
        return { accepted: stats.received, stored: stats.written, ...(await helperUsage(bridge.pid)) };
      },
      // WriteApi's defaults keep the last partial batch up to 60 s (flushInterval); the bench does not wait that out
      settle: async () => {
        await bridge.call('flushWhenIdle', undefined, 180_000);
      },
      queryable: async (vin, ts) => (await influxQuery(influxd.url, database, `SELECT "seq" FROM "telemetry" WHERE "vin" = '${vin}' AND time = ${ts}ms`)).length > 0,
      readBack: (_vins, from, to, record, onProgress) => influxReadBack(influxd.url, database, from, to, record, onProgress),
    };
    return {
      key: 'naive',
      target,
      api: NO_API,
      broker: mosquitto.url,
      mqttAuth: 'none',
      pids: [bridge.pid],
      infra: { mosquitto: mosquitto.pid, influxd: influxd.pid },
      close: () => stack.close(),
    };
  });
}

export async function openVehicleCloudInflux(options: OpenOptions): Promise<SystemUnderTest> {
  const stack = new Stack();
  return stack.guard(async () => {
    const [mosquitto, influxd] = await brokerAndInflux(stack, options.influxdBinary);
    const service = await vehicleCloud(stack, { VC_MQTT_URL: mosquitto.url, VC_INFLUX_URL: influxd.url, VC_INFLUX_DB: 'vehicle_cloud', VC_MQTT_CLIENT_ID: 'bench-vc-ingest' });
    const target = serviceTarget({ api: service.apiUrl, token: BENCH_ADMIN_TOKEN, servicePids: [service.pid] });
    await register(target, options, service);
    return {
      key: 'vc-influx',
      target,
      api: service.apiUrl,
      broker: mosquitto.url,
      mqttAuth: 'none',
      pids: [service.pid],
      infra: { mosquitto: mosquitto.pid, influxd: influxd.pid },
      close: () => stack.close(),
    };
  });
}

export async function openVehicleCloudEmbedded(options: OpenOptions): Promise<SystemUnderTest> {
  const stack = new Stack();
  return stack.guard(async () => {
    const service = await vehicleCloud(stack, {});
    const target = serviceTarget({ api: service.apiUrl, token: BENCH_ADMIN_TOKEN, servicePids: [service.pid] });
    await register(target, options, service);
    return { key: 'vc-embedded', target, api: service.apiUrl, broker: service.mqttUrl, mqttAuth: 'admin', pids: [service.pid], infra: {}, close: () => stack.close() };
  });
}

export async function openVehicleCloudShared(options: OpenOptions): Promise<SystemUnderTest> {
  const stack = new Stack();
  return stack.guard(async () => {
    // the two workers share one registry (a share group needs VC_DATABASE_URL); it starts while the others do
    const registry = startPostgres().then((postgres) => (stack.push(() => postgres.stop()), postgres));
    registry.catch(() => undefined); // awaited below; not an unhandled rejection if the broker fails first
    const [mosquitto, influxd] = await brokerAndInflux(stack, options.influxdBinary);
    const postgres = await registry;
    const common = { VC_MQTT_URL: mosquitto.url, VC_INFLUX_URL: influxd.url, VC_INFLUX_DB: 'vehicle_cloud', VC_MQTT_SHARE_GROUP: 'vehicle-cloud', VC_DATABASE_URL: await postgres.createDatabase() };
    // one after the other: both would otherwise race to create the database
    const a = await vehicleCloud(stack, { ...common, VC_MQTT_CLIENT_ID: 'bench-vc-worker-a' });
    const b = await vehicleCloud(stack, { ...common, VC_MQTT_CLIENT_ID: 'bench-vc-worker-b' });
    const target = serviceTarget({
      api: a.apiUrl,
      token: BENCH_ADMIN_TOKEN,
      metricsUrls: [`${a.apiUrl}/metrics`, `${b.apiUrl}/metrics`],
      servicePids: [a.pid, b.pid],
    });
    await register(target, options, a);
    return {
      key: 'vc-shared',
      target,
      api: a.apiUrl,
      broker: mosquitto.url,
      mqttAuth: 'none',
      pids: [a.pid, b.pid],
      infra: { mosquitto: mosquitto.pid, influxd: influxd.pid },
      close: () => stack.close(),
    };
  });
}

export const OPENERS: Record<Exclude<SystemKey, 'storage'>, (options: OpenOptions) => Promise<SystemUnderTest>> = {
  broker: openBrokerCeiling,
  naive: openNaiveBridge,
  'vc-influx': openVehicleCloudInflux,
  'vc-embedded': openVehicleCloudEmbedded,
  'vc-shared': openVehicleCloudShared,
};
