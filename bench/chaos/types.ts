// The rows of the chaos report (`npm run chaos`, docs/chaos.md): one per fault, per hostile-input class, and the soak.

/** One fault scenario against real processes, with QoS 1 publishers at a steady rate throughout. */
export interface FaultResult {
  /** what was done, e.g. 'kill -9 of the service' */
  fault: string;
  /** 'embedded' (embedded broker + store) or 'mosquitto+influx' */
  deployment: string;
  /** samples whose PUBACK (or HTTP 200) a publisher received */
  acked: number;
  /** acked samples found in the store, distinct by (vin, seq) */
  stored: number;
  /** acked samples missing from the store */
  lost: number;
  /** (vin, seq) pairs stored more than once */
  duplicated: number;
  /** the cockpit's rollups equal a recount from the raw samples (null: not checked) */
  cockpitExact: boolean | null;
  /** from the fault's end until the service is healthy and has stored everything acked */
  recoveryMs: number | null;
  /** the service's peak resident memory during the scenario */
  peakRssMiB: number | null;
  /** figures particular to the fault, e.g. { connackP50Ms: 12, connackP99Ms: 80 } */
  extra?: Record<string, number | string>;
  /** what the reader should know: a bound exceeded, an error seen */
  notes: string[];
}

/** One class of hostile input (malformed JSON, metacharacters, injection, traversal, tokens...). */
export interface HostileResult {
  class: string;
  /** MQTT ingest, HTTP ingest, query API, static paths */
  surface: string;
  tried: number;
  /** got the documented answer ({statusCode, code, message} with the stated code, or the stated dead letter) */
  right: number;
  wrong: number;
  serverErrors: number;
  crashes: number;
  /** up to a few examples of wrong answers */
  examples: string[];
}

/** A bounded run at a steady rate: per-minute slopes of least squares over samples taken every few seconds. */
export interface SoakResult {
  durationS: number;
  ratePerS: number;
  acked: number;
  lost: number;
  duplicated: number;
  /** per minute; `rssMiBPerMin` is reported, `liveMiBPerMin` (RSS less V8's committed heap holding no live object) judged */
  slopes: { rssMiBPerMin: number; liveMiBPerMin: number; heapMiBPerMin: number; eventLoopLagMsPerMin: number; handlesPerMin: number; fdsPerMin: number };
  /** first and last readings, for scale */
  first: { rssMiB: number; liveMiB: number; heapMiB: number; eventLoopLagMs: number; handles: number; fds: number };
  last: { rssMiB: number; liveMiB: number; heapMiB: number; eventLoopLagMs: number; handles: number; fds: number };
  /** every slope within its stated bound */
  flat: boolean;
  notes: string[];
}
