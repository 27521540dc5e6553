// Dead letters as a repository: rejected messages and samples kept with their reason for operators. Both backends
// (influx/dead-letters.ts, duckdb/dead-letters.ts) implement it; conformance suite: tests/store/dead-letters-suite.ts.
import type { RejectReason } from '../contract/telemetry.ts';

/** A rejected message or sample, kept with its reason for operators. */
export interface DeadLetter {
  /** arrival time, ms since the epoch */
  receivedAt: number;
  reason: RejectReason;
  detail: string;
  /** where it came from: an MQTT topic, or `http` */
  topic: string;
  vin?: string;
  /** capped copy of the payload (or of the rejected sample) */
  raw: string;
}

export interface DeadLetterQuery {
  reason?: RejectReason;
  vin?: string;
  /** newest first, at most this many */
  limit: number;
}

export interface DeadLetterRepository {
  /** Store letters; resolves once the store has durably accepted all of them. Letters of the same ms are all kept. */
  writeDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
  /** Newest first, filtered by reason and vin; the order of letters received in the same ms is not specified. */
  listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]>;
}

