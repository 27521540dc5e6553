// What the cockpit engine keeps in memory about recent minutes: per (minute, brand, model) a group of the vehicles
// that sent samples in it, and per vehicle the minute's sums and facts with the sample offsets it counted, so a
// redelivered sample is told from a new one without asking the store. A store's only writer writes every group from
// here (no query per round); see maintainer.ts for when a group or a vehicle is recounted from the raw samples instead.
import { COCKPIT_SIGNALS } from '../contract/signals.ts';
import type { CockpitSums, RollupRow, StoredSample } from '../store/telemetry-store.ts';
import { EMPTY_SUMS } from '../store/cockpit-tables.ts';
import type { VehicleFacts } from './facts.ts';

/**
 * The sample offsets (ms into the minute) of one vehicle, sorted: 4 bytes a sample, appends when samples come in order.
 * The first is kept in a field: a vehicle sending every 10 s or slower, or history (a sample a minute or fewer), has
 * one sample in most of its minutes, and a typed array (with its backing store) per vehicle-minute is then an
 * allocation per sample for the garbage collector. A day of history caught up 107 s before and 89 s after this on
 * InfluxDB (docs/benchmarks.md, 2026-12-07; how much of it is the collector's was not measured).
 */
export class OffsetSet {
  private first = 0;
  /** every offset once there are two */
  private items: Int32Array | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** false when the offset is there already */
  add(offset: number): boolean {
    const n = this.count;
    if (n === 0) {
      this.first = offset;
      this.count = 1;
      return true;
    }
    let items = this.items;
    if (items === undefined) {
      if (offset === this.first) return false;
      items = this.items = new Int32Array(8);
      items[0] = this.first;
    }
    if (offset > items[n - 1]!) {
      this.reserve();
      this.items![n] = offset;
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
    this.items!.copyWithin(lo + 1, lo, n);
    this.items![lo] = offset;
    this.count = n + 1;
    return true;
  }

  private reserve(): void {
    const items = this.items!;
    if (this.count < items.length) return;
    const grown = new Int32Array(items.length * 2);
    grown.set(items);
    this.items = grown;
  }
}

const SPEED = COCKPIT_SIGNALS.speed;
const SOC = COCKPIT_SIGNALS.soc;
const ODOMETER = COCKPIT_SIGNALS.odometer;
const CHARGING = COCKPIT_SIGNALS.charging;
const ADAS = COCKPIT_SIGNALS.adasLevel;
const MIL = COCKPIT_SIGNALS.mil;
const DTC = COCKPIT_SIGNALS.dtc;

/** Add one sample's cockpit ingredients to a row: the same rules as the stores' recount from raw (SQL and InfluxQL). */
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

export { EMPTY_SUMS };

/** Add a row's sums into `into`. */
export function addSums(into: CockpitSums, row: RollupRow): void {
  into.samples += row.samples;
  into.speedSum += row.speedSum;
  into.speedCount += row.speedCount;
  into.socSum += row.socSum;
  into.socCount += row.socCount;
  into.adasCount += row.adasCount;
  into.adas2Count += row.adas2;
}

/** A row's per-vehicle facts. */
export function factsOf(row: RollupRow): VehicleFacts {
  const facts: VehicleFacts = { charging: row.charging > 0, faults: row.faults > 0 };
  if (row.odoMin !== undefined) facts.odoMin = row.odoMin;
  if (row.odoMax !== undefined) facts.odoMax = row.odoMax;
  return facts;
}

/** Two rows count the same (the check that a redelivered sample changed nothing). */
export const sameRow = (a: RollupRow, b: RollupRow): boolean =>
  a.samples === b.samples &&
  a.speedSum === b.speedSum &&
  a.speedCount === b.speedCount &&
  a.socSum === b.socSum &&
  a.socCount === b.socCount &&
  a.odoMin === b.odoMin &&
  a.odoMax === b.odoMax &&
  a.charging === b.charging &&
  a.adasCount === b.adasCount &&
  a.adas2 === b.adas2 &&
  a.faults === b.faults;

/** One vehicle in one minute: its counted row and sample offsets, or `recount` when only the store knows its samples. */
export interface VehicleMinute {
  row: RollupRow;
  offsets: OffsetSet;
  /** the store holds samples of it this process did not count (before a restart), or one sample came twice */
  recount: boolean;
  /** recount because of a sample that came twice: compare the recount with `row` to learn whether it changed */
  duplicate: boolean;
}

/**
 * How a group is written:
 *   whole    this process counted every sample of the (brand, model, minute): its writes are all there is;
 *   added    late data for a minute whose other samples were counted elsewhere or earlier: its writes add to them;
 *   recount  recounted from the raw samples (the store held samples of a vehicle of an added group, after a restart, or
 *            several processes write the store): a write makes the store's parts add up to the recount.
 * The sole writer never writes a part twice with other values (InfluxDB 1.x may keep the older value of a point written
 * again: influxdata/influxdb#24388): each write of a group is a new part, its series the sums counted since the last
 * write, its facts those of the vehicles whose facts changed since (or all of them in a base part: facts.ts). Several
 * writers each write part 0 of a recount and empty the others.
 */
export type GroupMode = 'whole' | 'added' | 'recount';

/** a - b, field by field */
export function sumsDifference(a: CockpitSums, b: CockpitSums): CockpitSums {
  return {
    samples: a.samples - b.samples,
    speedSum: a.speedSum - b.speedSum,
    speedCount: a.speedCount - b.speedCount,
    socSum: a.socSum - b.socSum,
    socCount: a.socCount - b.socCount,
    adasCount: a.adasCount - b.adasCount,
    adas2Count: a.adas2Count - b.adas2Count,
  };
}

export const noSums = (s: CockpitSums): boolean =>
  s.samples === 0 && s.speedSum === 0 && s.speedCount === 0 && s.socSum === 0 && s.socCount === 0 && s.adasCount === 0 && s.adas2Count === 0;

export class MinuteGroup {
  readonly vehicles = new Map<string, VehicleMinute>();
  /** the sole writer: the part number its next write uses (0 for a whole group; asked of the store for others) */
  next: number | undefined;
  /**
   * the sole writer: what the series parts it wrote for the group add up to; of a recount group, what all of the
   * minute's series parts in the store add up to (`storedKnown`: read, or written since)
   */
  written: CockpitSums = { ...EMPTY_SUMS };
  storedKnown = false;
  /** vehicles whose facts changed since the group's facts were last written */
  readonly changed = new Set<string>();
  /** the next facts write is a base part with every vehicle's facts (a redelivered sample changed one's values) */
  factsBase = false;
  /** sums of vehicles counted, written and then shed from memory (late data: see CockpitMaintainer.shed) */
  shedSums: CockpitSums | undefined;
  seriesDirty = false;
  factsDirty = false;
  /** when facts were last written (ms) */
  factsWrittenAt = 0;
  /** last time a sample of it was admitted or counted (ms) */
  touchedAt = 0;
  /** recompute strategy: recount it once more after the settle delay */
  settleDue = false;
  /** counted samples so far, and how many of them are written (series and facts) */
  version = 0;
  writtenVersion = 0;
  /** when it became dirty after it was last clean (ms; 0: clean) */
  dirtySince = 0;
  /** the last batch with samples of it that was prepared (the maintainer's batch numbers) */
  preparedSeq = 0;
  /** samples tracked but not counted here (left to a recount of their vehicle) */
  skipped = 0;
  /** samples counted since its facts were last written (an open minute's facts are rewritten early only when many) */
  countedSinceFacts = 0;

  constructor(
    readonly minute: number,
    readonly brand: string,
    readonly model: string,
    public mode: GroupMode,
  ) {
    this.next = mode === 'whole' ? 0 : undefined;
  }

  /** From now on recounted whole from the raw samples. */
  toRecount(): void {
    this.mode = 'recount';
    // the recount reads every sample of the group, those of shed vehicles too
    this.shedSums = undefined;
    this.storedKnown = false;
    this.seriesDirty = this.factsDirty = true;
  }

  get dirty(): boolean {
    return this.seriesDirty || this.factsDirty;
  }

  /** The group's sums: of every vehicle counted here. */
  sums(): CockpitSums {
    const sums = { ...(this.shedSums ?? EMPTY_SUMS) };
    for (const v of this.vehicles.values()) addSums(sums, v.row);
    return sums;
  }

  /** Count a sample the store confirmed. `facts` is whether the group's facts changed. */
  count(sample: StoredSample): { counted: boolean; facts: boolean } {
    const v = this.vehicles.get(sample.vin);
    if (!v) return { counted: false, facts: false };
    if (v.recount) {
      // kept so that, should the vehicle be counted in memory again after its recount, a redelivery is still told apart
      v.offsets.add(sample.ts - this.minute);
      return { counted: false, facts: false };
    }
    if (!v.offsets.add(sample.ts - this.minute)) {
      // the store kept the last copy, whose values may differ from the one counted: recount the vehicle
      v.recount = true;
      v.duplicate = true;
      return { counted: false, facts: false };
    }
    const before = v.row;
    const odoMin = before.odoMin;
    const odoMax = before.odoMax;
    const charging = before.charging;
    const faults = before.faults;
    const first = before.samples === 0;
    addToRow(before, sample.signals);
    const facts = first || odoMin !== before.odoMin || odoMax !== before.odoMax || (charging === 0) !== (before.charging === 0) || (faults === 0) !== (before.faults === 0);
    if (facts) this.changed.add(sample.vin);
    return { counted: true, facts };
  }
}

/** Keys made so far, per brand and model: asked per sample, and a string built anew would be hashed anew each time. */
const GROUP_KEYS = new Map<string, Map<string, string>>();
let groupKeysKept = 0;
const MAX_GROUP_KEYS = 100_000;

/** The key of a (brand, model): the same string each time (up to MAX_GROUP_KEYS pairs kept). */
export function groupKey(brand: string, model: string): string {
  let models = GROUP_KEYS.get(brand);
  const kept = models?.get(model);
  if (kept !== undefined) return kept;
  const key = `${brand}\u0000${model}`;
  if (groupKeysKept >= MAX_GROUP_KEYS) {
    GROUP_KEYS.clear();
    groupKeysKept = 0;
    models = undefined;
  }
  if (!models) GROUP_KEYS.set(brand, (models = new Map()));
  models.set(model, key);
  groupKeysKept += 1;
  return key;
}
