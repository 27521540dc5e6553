// Loss and duplicates by seq, per vehicle: every acknowledged seq must be stored exactly once. Totals alone would
// hide a lost sample behind a duplicated one.
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

export function verifyBySeq(outcomes: readonly VehicleOutcome[], stored: ReadonlyMap<string, readonly number[]>): Verification {
  const v: Verification = { vehicles: outcomes.length, expected: 0, found: 0, lost: 0, duplicates: 0, unexpected: 0, unconfirmedStored: 0, vehiclesWithLoss: 0, examples: [] };
  const example = (text: string): void => {
    if (v.examples.length < MAX_EXAMPLES) v.examples.push(text);
  };
  for (const outcome of outcomes) {
    const unconfirmed = new Set(outcome.unconfirmed);
    const counts = new Uint32Array(outcome.published);
    let unexpected = 0;
    for (const seq of stored.get(outcome.vin) ?? []) {
      if (Number.isInteger(seq) && seq >= 0 && seq < outcome.published) counts[seq]! += 1;
      else unexpected += 1;
    }
    let lost = 0;
    let duplicates = 0;
    const lostSeqs: number[] = [];
    for (let seq = 0; seq < outcome.published; seq++) {
      const n = counts[seq]!;
      if (n > 1) duplicates += n - 1;
      if (unconfirmed.has(seq)) {
        if (n > 0) v.unconfirmedStored += 1;
        continue;
      }
      v.expected += 1;
      if (n === 0) {
        lost += 1;
        if (lostSeqs.length < 5) lostSeqs.push(seq);
      } else v.found += 1;
    }
    v.lost += lost;
    v.duplicates += duplicates;
    v.unexpected += unexpected;
    if (lost > 0) {
      v.vehiclesWithLoss += 1;
      example(`${outcome.vin}: ${lost} acknowledged sample(s) missing, e.g. seq ${lostSeqs.join(', ')}`);
    }
    if (duplicates > 0) example(`${outcome.vin}: ${duplicates} duplicate(s)`);
    if (unexpected > 0) example(`${outcome.vin}: ${unexpected} stored seq(s) never published in this run`);
  }
  return v;
}
