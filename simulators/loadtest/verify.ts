// Loss and duplicates by seq, per vehicle: every acknowledged seq must be stored exactly once. Totals alone would
// hide a lost sample behind a duplicated one. Stored samples are counted as they are read (one byte per published
// sample), so checking 100,000 vehicles needs memory for the samples sent, not for what was read back.
import type { VehicleOutcome } from './protocol.ts';

export interface Verification {
  vehicles: number;
  /** acknowledged samples (the ones the system promised to keep) */
  expected: number;
  /** distinct acknowledged seqs found */
  found: number;
  /** acknowledged but not stored */
  lost: number;
  /** stored more than once (extra copies) */
  duplicates: number;
  /** stored seqs that were never published in this run */
  unexpected: number;
  /** sent without an acknowledgement, and stored anyway (allowed: at-least-once) */
  unconfirmedStored: number;
  vehiclesWithLoss: number;
  /** a few concrete problems, for the report */
  examples: string[];
}

const MAX_EXAMPLES = 10;
/** A copy count saturates here: 255 copies of one sample are as wrong as 256. */
const MAX_COUNT = 255;

/** Counts the stored copies of every published seq of a run's vehicles; stored samples of other vehicles are ignored. */
export class SeqLedger {
  private readonly index = new Map<string, number>();
  private readonly counts: Uint8Array[];
  private readonly unexpected: Uint32Array;
  /** stored samples of this run's vehicles recorded so far */
  recorded = 0;

  constructor(private readonly outcomes: readonly VehicleOutcome[]) {
    outcomes.forEach((o, i) => this.index.set(o.vin, i));
    this.counts = outcomes.map((o) => new Uint8Array(o.published));
    this.unexpected = new Uint32Array(outcomes.length);
  }

  /** One stored sample of `vin` with this seq (a vehicle outside the run is no concern of this check). */
  record(vin: string, seq: number): void {
    const i = this.index.get(vin);
    if (i === undefined) return;
    this.recorded += 1;
    const counts = this.counts[i]!;
    if (Number.isInteger(seq) && seq >= 0 && seq < counts.length) {
      if (counts[seq]! < MAX_COUNT) counts[seq]! += 1;
    } else this.unexpected[i]! += 1;
  }

  result(): Verification {
    const v: Verification = { vehicles: this.outcomes.length, expected: 0, found: 0, lost: 0, duplicates: 0, unexpected: 0, unconfirmedStored: 0, vehiclesWithLoss: 0, examples: [] };
    const example = (text: string): void => {
      if (v.examples.length < MAX_EXAMPLES) v.examples.push(text);
    };
    this.outcomes.forEach((outcome, i) => {
      const counts = this.counts[i]!;
      const unconfirmed = outcome.unconfirmed.length > 0 ? new Set(outcome.unconfirmed) : undefined;
      let lost = 0;
      let duplicates = 0;
      const lostSeqs: number[] = [];
      for (let seq = 0; seq < counts.length; seq++) {
        const n = counts[seq]!;
        if (n > 1) duplicates += n - 1;
        if (unconfirmed?.has(seq)) {
          if (n > 0) v.unconfirmedStored += 1;
          continue;
        }
        v.expected += 1;
        if (n === 0) {
          lost += 1;
          if (lostSeqs.length < 5) lostSeqs.push(seq);
        } else v.found += 1;
      }
      const unexpected = this.unexpected[i]!;
      v.lost += lost;
      v.duplicates += duplicates;
      v.unexpected += unexpected;
      if (lost > 0) {
        v.vehiclesWithLoss += 1;
        example(`${outcome.vin}: ${lost} acknowledged sample(s) missing, e.g. seq ${lostSeqs.join(', ')}`);
      }
      if (duplicates > 0) example(`${outcome.vin}: ${duplicates} duplicate(s)`);
      if (unexpected > 0) example(`${outcome.vin}: ${unexpected} stored seq(s) never published in this run`);
    });
    return v;
  }
}

/** The check over stored seqs already gathered per vehicle. */
export function verifyBySeq(outcomes: readonly VehicleOutcome[], stored: ReadonlyMap<string, readonly number[]>): Verification {
  const ledger = new SeqLedger(outcomes);
  for (const [vin, seqs] of stored) for (const seq of seqs) ledger.record(vin, seq);
  return ledger.result();
}
