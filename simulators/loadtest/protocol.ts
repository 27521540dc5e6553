// The messages between the load tester and its publisher processes (Node IPC, structured clone).
import type { Qos, RateSchedule } from './options.ts';

export interface PublisherConnection {
  clientId: string;
  username?: string;
  password?: string;
}

export interface PublisherConfig {
  /** index of this publisher process, for client ids and messages */
  index: number;
  brokerUrl: string;
  qos: Qos;
  connections: PublisherConnection[];
  /** the vehicles this process publishes for; vehicle i goes over connection i % connections.length */
  vins: string[];
  /** each vin's index in the whole run, so that signal values depend only on the seed and the vehicle */
  vehicleIndex: number[];
  /** this process's share of the offered rate */
  schedule: RateSchedule;
  durationMs: number;
  batch: number;
  inflight: number;
  seed: number;
  /** mark one published sample as a latency probe at most this often (0: never) */
  probeEveryMs: number;
  /** how long to wait for outstanding acks after publishing */
  ackTimeoutMs: number;
}

export type ToPublisher =
  | { type: 'start'; config: PublisherConfig }
  /** start publishing at this wall-clock time (all processes together) */
  | { type: 'go'; at: number }
  /** stop publishing now (Ctrl-C), then report as usual */
  | { type: 'stop' };

export interface PublisherProgress {
  /** samples handed to MQTT.js */
  published: number;
  messages: number;
  /** samples whose message was acknowledged (QoS 1 PUBACK; QoS 0: written to the socket) */
  acked: number;
  inflight: number;
  /** samples the schedule offered that could not be sent yet (windows full or the process too slow) */
  behind: number;
  errors: number;
  reconnects: number;
  /** connections up now (CONNACK received, not closed since) */
  connected: number;
}

/** One reconnection of a publisher connection after it was lost (the first connect is not one). */
export interface Reconnection {
  /** the connection's index within its publisher process */
  connection: number;
  /** CONNECT written -> CONNACK received, ms */
  connackMs: number;
  /** wall clock of the CONNACK */
  connackAt: number;
  /** wall clock of the first PUBACK after that CONNACK (0: none came) */
  resumedAt: number;
}

export interface VehicleOutcome {
  vin: string;
  /** seqs 0 .. published-1 were sent */
  published: number;
  /** sent but never acknowledged (publish error, or still unacknowledged at the end) */
  unconfirmed: number[];
}

export type FromPublisher =
  | { type: 'ready' }
  | { type: 'progress'; progress: PublisherProgress }
  | { type: 'probe'; vin: string; ts: number; sentAt: number }
  | { type: 'done'; progress: PublisherProgress; vehicles: VehicleOutcome[]; firstTs: number; lastTs: number; reconnections: Reconnection[] }
  | { type: 'failed'; error: string };
