// The rollups of a store's only writer, kept in memory. This process writes every sample the store gets, so for
// a (vehicle, minute) key whose samples it has all seen, it can add each new one to the key's sums instead of
// asking the store to recompute them: exact, and no query per round. A key is held in one of two modes:
//   memory: the store held no sample of the key before this process wrote one (asked once, before the first
//           write), so the sums here are the key's whole rollup; a set of sample offsets tells a new sample
//           from a redelivered one, which changes nothing;
//   store:  the store held samples this process never saw (written before a restart, or late for a minute that
//           left memory), or one sample was written twice (its values may differ, and the store keeps the last):
//           the key's rollup is recomputed from the raw samples, as the recompute strategy does for every key.
// Keys leave memory some minutes after their bucket (a late sample then makes them `store` keys).
import { COCKPIT_SIGNALS } from '../contract/signals.ts';
import { ROLLUP_BUCKET_MS, type RollupKey, type RollupRow, type StoredSample } from '../store/telemetry-store.ts';

/** The sample offsets (ms into the bucket) of one key, sorted: 4 bytes a sample, appends when samples come in order. */
export class OffsetSet {
  private items = new Int32Array(8);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** false when the offset is there already */
  add(offset: number): boolean {
    const n = this.count;
    const items = this.items;
    if (n === 0 || offset > items[n - 1]!) {
      this.reserve();
      this.items[n] = offset;
      this.count = n + 1;
      return true;
    }
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    if (items[lo] === offset) return false;
    this.reserve();
    this.items.copyWithin(lo + 1, lo, n);
    this.items[lo] = offset;
    this.count = n + 1;
    return true;
  }

  private reserve(): void {
    if (this.count < this.items.length) return;
    const grown = new Int32Array(this.items.length * 2);
    grown.set(this.items);
    this.items = grown;
  }
}

type Entry = { mode: 'memory'; row: RollupRow; offsets: OffsetSet } | { mode: 'store' };

export const bucketOf = (ts: number): number => Math.floor(ts / ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS;
export const rollupKeyId = (key: RollupKey): string => `${key.vin}\u0000${key.bucket}`;

const SPEED = COCKPIT_SIGNALS.speed;
const SOC = COCKPIT_SIGNALS.soc;
const ODOMETER = COCKPIT_SIGNALS.odometer;
const CHARGING = COCKPIT_SIGNALS.charging;
const ADAS = COCKPIT_SIGNALS.adasLevel;
const MIL = COCKPIT_SIGNALS.mil;
const DTC = COCKPIT_SIGNALS.dtc;

/** Add one sample's cockpit ingredients to a row: the same rules as the stores' recompute (SQL and InfluxQL). */
export function addToRow(row: RollupRow, signals: StoredSample['signals']): void {
  row.samples += 1;
  const speed = signals[SPEED];
  if (typeof speed === 'number') {
    row.speedSum += speed;
    row.speedCount += 1;
  }
  const soc = signals[SOC];
  if (typeof soc === 'number') {
    row.socSum += soc;
    row.socCount += 1;
  }
  const odometer = signals[ODOMETER];
  if (typeof odometer === 'number') {
    if (row.odoMin === undefined || odometer < row.odoMin) row.odoMin = odometer;
    if (row.odoMax === undefined || odometer > row.odoMax) row.odoMax = odometer;
  }
  if (signals[CHARGING] === true) row.charging += 1;
  const adas = signals[ADAS];
  if (typeof adas === 'number') {
    row.adasCount += 1;
    if (adas >= 2) row.adas2 += 1;
  }
  const dtc = signals[DTC];
  if (signals[MIL] === true || (typeof dtc === 'string' && dtc !== '')) row.faults += 1;
}

export function emptyRow(vin: string, bucket: number, brand: string, model: string): RollupRow {
  return { vin, bucket, brand, model, samples: 0, speedSum: 0, speedCount: 0, socSum: 0, socCount: 0, charging: 0, adasCount: 0, adas2: 0, faults: 0 };
}

export class RollupBook {
  /** bucket -> vin -> entry: eviction drops whole buckets */
  private readonly buckets = new Map<number, Map<string, Entry>>();
  private held = 0;
  private memoryCount = 0;

  /** Keys held (either mode). */
  get size(): number {
    return this.held;
  }

  /** Keys whose rollup is kept in memory. */
  get memoryKeys(): number {
    return this.memoryCount;
  }

  private entry(key: RollupKey): Entry | undefined {
    return this.buckets.get(key.bucket)?.get(key.vin);
  }

  private set(key: RollupKey, entry: Entry): void {
    let vins = this.buckets.get(key.bucket);
    if (!vins) this.buckets.set(key.bucket, (vins = new Map()));
    const before = vins.get(key.vin);
    if (!before) this.held += 1;
    else if (before.mode === 'memory') this.memoryCount -= 1;
    if (entry.mode === 'memory') this.memoryCount += 1;
    vins.set(key.vin, entry);
  }

  /** The distinct keys of these samples that the book does not hold yet. */
  unknownKeys(samples: readonly StoredSample[]): RollupKey[] {
    const unknown = new Map<string, RollupKey>();
    for (const sample of samples) {
      const key = { vin: sample.vin, bucket: bucketOf(sample.ts) };
      if (this.entry(key) === undefined) unknown.set(rollupKeyId(key), key);
    }
    return [...unknown.values()];
  }

  /**
   * Take in keys not held before, given which of them the store already holds samples of (asked before this
   * process writes any sample of them): those are `store` keys, the others start empty in memory.
   */
  admit(keys: readonly RollupKey[], storedKeys: readonly RollupKey[]): void {
    const stored = new Set(storedKeys.map(rollupKeyId));
    for (const key of keys) {
      if (this.entry(key) !== undefined) continue;
      if (stored.has(rollupKeyId(key))) this.set(key, { mode: 'store' });
      else this.set(key, { mode: 'memory', row: emptyRow(key.vin, key.bucket, '', ''), offsets: new OffsetSet() });
    }
  }

  /**
   * Count a sample of bucket `bucket` the store has just confirmed. A key not admitted (it left memory
   * meanwhile) and a sample seen before turn the key into a `store` key.
   */
  apply(sample: StoredSample, bucket: number): void {
    const entry = this.buckets.get(bucket)?.get(sample.vin);
    if (entry?.mode === 'memory' && entry.offsets.add(sample.ts - bucket)) {
      if (entry.row.samples === 0) {
        entry.row.brand = sample.brand;
        entry.row.model = sample.model;
      }
      addToRow(entry.row, sample.signals);
    } else if (entry?.mode !== 'store') {
      this.set({ vin: sample.vin, bucket }, { mode: 'store' });
    }
  }

  /** The whole rollup of a memory key (a copy), or undefined for a `store` key (or one not held). */
  row(key: RollupKey): RollupRow | undefined {
    const entry = this.entry(key);
    return entry?.mode === 'memory' ? { ...entry.row } : undefined;
  }

  /** Forget the keys of buckets that started before `bucket`, except those `keep` has. */
  evictBefore(bucket: number, keep: { has(key: RollupKey): boolean }): number {
    let evicted = 0;
    for (const [at, vins] of this.buckets) {
      if (at >= bucket) continue;
      for (const [vin, entry] of vins) {
        if (keep.has({ vin, bucket: at })) continue;
        vins.delete(vin);
        this.held -= 1;
        if (entry.mode === 'memory') this.memoryCount -= 1;
        evicted += 1;
      }
      if (vins.size === 0) this.buckets.delete(at);
    }
    return evicted;
  }
}
