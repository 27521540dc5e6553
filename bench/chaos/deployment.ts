// The two deployments the reconnect storm, the soak and the hostile-input run drive, each as real processes on
// loopback with temp data: the service alone (embedded Aedes broker + embedded store), and the service behind
// Mosquitto 2 with dynamic security (one account per vehicle, made by the service) storing into InfluxDB.
import { randomBytes } from 'node:crypto';
import { type Influxd, startInfluxd } from '../../tooling/influxd.ts';
import { DYNSEC_PLUGIN, MOSQUITTO_BINARY, MOSQUITTO_CTRL_BINARY, type MosquittoBroker, startMosquitto } from '../../tooling/mosquitto.ts';
import { spawnFreshService, type ServiceProcess } from '../../tooling/service.ts';
import { findBinary } from '../../tooling/system.ts';

export type DeploymentKind = 'embedded' | 'mosquitto+influx';

export const DEPLOYMENTS: readonly DeploymentKind[] = ['embedded', 'mosquitto+influx'];

export interface Deployment {
  kind: DeploymentKind;
  service: ServiceProcess & { mqttUrl: string };
  /** where vehicles connect */
  brokerUrl: string;
  adminToken: string;
  /** Mosquitto, in the mosquitto+influx deployment */
  broker?: MosquittoBroker;
  influx?: Influxd;
  stop(): Promise<void>;
}

/** Why a deployment cannot run on this machine (a server binary missing), or undefined when it can. */
export function deploymentMissing(kind: DeploymentKind): string | undefined {
  if (kind === 'embedded') return undefined;
  if (!MOSQUITTO_BINARY || !MOSQUITTO_CTRL_BINARY || !DYNSEC_PLUGIN) return 'mosquitto with its dynamic security plugin not installed (apt-get install mosquitto)';
  if (!findBinary(['/usr/bin/influxd', 'influxd'])) return 'influxdb not installed (apt-get install influxdb)';
  return undefined;
}

export async function startDeployment(kind: DeploymentKind, env: Record<string, string> = {}): Promise<Deployment> {
  const adminToken = randomBytes(24).toString('hex');
  if (kind === 'embedded') {
    const service = await spawnFreshService({ VC_ADMIN_TOKEN: adminToken, ...env });
    return { kind, service, brokerUrl: service.mqttUrl, adminToken, stop: () => service.stop() };
  }
  const brokerAdmin = { username: 'vc-chaos-admin', password: randomBytes(16).toString('hex') };
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const influx = await startInfluxd();
    stops.push(() => influx.stop());
    const broker = await startMosquitto({ dynsec: brokerAdmin });
    stops.push(() => broker.stop());
    const service = await spawnFreshService({
      VC_ADMIN_TOKEN: adminToken,
      VC_MQTT_URL: broker.url,
      VC_MQTT_USERNAME: brokerAdmin.username,
      VC_MQTT_PASSWORD: brokerAdmin.password,
      VC_MQTT_DYNSEC: 'true',
      VC_MQTT_CLIENT_ID: 'vc-chaos-ingest',
      VC_INFLUX_URL: influx.url,
      VC_INFLUX_DB: 'vc_chaos',
      ...env,
    });
    stops.push(() => service.stop());
    return { kind, service, brokerUrl: broker.url, adminToken, broker, influx, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
