// Per-vehicle facts: what a cockpit cannot sum across vehicles (is the vehicle active, its odometer range, did it
// charge, did it report a fault). They merge without regard to order or repetition (union, min, max, or), so facts
// of one vehicle written twice, or by two writers, count once. Stored packed per (brand, model, segment) as one
// string: `entry;entry;...`, each entry `vin,odoMin,odoMax,flags` (odometer empty when unknown; flags 1 charging,
// 2 fault). Numbers are written with String(), which round-trips a double exactly. A VIN that is not a plain ISO 3779
// VIN is percent-encoded, so `,` `;` `"` and `\` never appear raw.
import { VIN_PATTERN } from '../contract/telemetry.ts';
import { segmentKey, type SegmentRef } from '../store/cockpit-tables.ts';

export interface VehicleFacts {
  odoMin?: number;
  odoMax?: number;
  charging: boolean;
  faults: boolean;
}

export const CHARGING_FLAG = 1;
export const FAULT_FLAG = 2;

/** Merge one vehicle's facts into a map of them; true when that changed the map. */
export function mergeFacts(into: Map<string, VehicleFacts>, vin: string, facts: VehicleFacts): boolean {
  const have = into.get(vin);
  if (!have) {
    into.set(vin, { ...facts });
    return true;
  }
  let changed = false;
  if (facts.odoMin !== undefined && (have.odoMin === undefined || facts.odoMin < have.odoMin)) {
    have.odoMin = facts.odoMin;
    changed = true;
  }
  if (facts.odoMax !== undefined && (have.odoMax === undefined || facts.odoMax > have.odoMax)) {
    have.odoMax = facts.odoMax;
    changed = true;
  }
  if (facts.charging && !have.charging) {
    have.charging = true;
    changed = true;
  }
  if (facts.faults && !have.faults) {
    have.faults = true;
    changed = true;
  }
  return changed;
}

const vinText = (vin: string): string => (VIN_PATTERN.test(vin) ? vin : encodeURIComponent(vin));

/** The packed string of some vehicles' facts, vehicles in VIN order ('' for none). */
export function packFacts(facts: ReadonlyMap<string, VehicleFacts>): string {
  const vins = [...facts.keys()].sort();
  let out = '';
  for (const vin of vins) {
    const f = facts.get(vin)!;
    if (out !== '') out += ';';
    out += `${vinText(vin)},${f.odoMin ?? ''},${f.odoMax ?? ''},${(f.charging ? CHARGING_FLAG : 0) | (f.faults ? FAULT_FLAG : 0)}`;
  }
  return out;
}

/** Visit every well-formed entry of a packed string (malformed ones, not written by packFacts, are skipped). */
export function eachPackedEntry(packed: string, visit: (vin: string, odoMin: number | undefined, odoMax: number | undefined, flags: number) => void): void {
  let at = 0;
  const length = packed.length;
  while (at < length) {
    let end = packed.indexOf(';', at);
    if (end < 0) end = length;
    const c1 = packed.indexOf(',', at);
    const c2 = c1 < 0 || c1 > end ? -1 : packed.indexOf(',', c1 + 1);
    const c3 = c2 < 0 || c2 > end ? -1 : packed.indexOf(',', c2 + 1);
    if (c3 >= 0 && c3 < end) {
      let vin: string | undefined = packed.slice(at, c1);
      if (vin.includes('%')) {
        try {
          vin = decodeURIComponent(vin);
        } catch {
          vin = undefined;
        }
      }
      const flags = Number(packed.slice(c3 + 1, end));
      if (vin !== undefined && vin !== '' && Number.isInteger(flags)) {
        const lo = c2 > c1 + 1 ? Number(packed.slice(c1 + 1, c2)) : undefined;
        const hi = c3 > c2 + 1 ? Number(packed.slice(c2 + 1, c3)) : undefined;
        visit(vin, lo !== undefined && Number.isFinite(lo) ? lo : undefined, hi !== undefined && Number.isFinite(hi) ? hi : undefined, flags);
      }
    }
    at = end + 1;
  }
}

/**
 * A part whose packed string starts with ';' is a base: it holds every fact of its segment, so the parts numbered
 * below it are of no more use (a recount). No entry starts with ';' (a VIN holding one is percent-encoded), so a reader
 * that does not know of bases still reads the entries of one.
 */
export const BASE_MARK = ';';

/** The packed string of a base part. */
export const basePacked = (packed: string): string => BASE_MARK + packed;

/** Parts by segmentKey, in the order given. */
export function partsBySegment<T extends SegmentRef>(parts: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const p of parts) {
    const key = segmentKey(p);
    const list = out.get(key);
    if (list) list.push(p);
    else out.set(key, [p]);
  }
  return out;
}

/**
 * The parts of some segments that count: per (tier, start, brand, model) those from its last base on (every part when
 * it has none), in part order.
 */
export function currentParts<T extends SegmentRef & { part: number; packed: string }>(parts: readonly T[]): T[] {
  const out: T[] = [];
  for (const list of partsBySegment(parts).values()) {
    if (list.length > 1) list.sort((a, b) => a.part - b.part);
    let from = 0;
    for (let i = list.length - 1; i > 0; i--) {
      if (list[i]!.packed.startsWith(BASE_MARK)) {
        from = i;
        break;
      }
    }
    for (let i = from; i < list.length; i++) out.push(list[i]!);
  }
  return out;
}

let lastStamp = 0;

/**
 * A stamp for a write of facts parts (FactsPart.stamp): ms since the epoch, greater than any this thread gave before,
 * so that a part written again is told from what a reader kept of it. Not the engine's clock (a test's clock stands still).
 */
export function nextStamp(): number {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return lastStamp;
}

/** Give the parts that have none one stamp (a write retried as it was keeps the stamps of its first attempt). */
export function stampParts<T extends { stamp?: number }>(parts: T[]): T[] {
  let stamp: number | undefined;
  for (const p of parts) if (p.stamp === undefined) p.stamp = stamp ??= nextStamp();
  return parts;
}

/** Merge a packed string into a map of facts. */
export function unpackFacts(packed: string, into: Map<string, VehicleFacts>): void {
  eachPackedEntry(packed, (vin, odoMin, odoMax, flags) => {
    const facts: VehicleFacts = { charging: (flags & CHARGING_FLAG) !== 0, faults: (flags & FAULT_FLAG) !== 0 };
    if (odoMin !== undefined) facts.odoMin = odoMin;
    if (odoMax !== undefined) facts.odoMax = odoMax;
    mergeFacts(into, vin, facts);
  });
}

/** Vehicles numbered once per process, so decoded facts are arrays of numbers instead of maps of strings. */
export class VinNumbers {
  private readonly ids = new Map<string, number>();

  get size(): number {
    return this.ids.size;
  }

  of(vin: string): number {
    let id = this.ids.get(vin);
    if (id === undefined) this.ids.set(vin, (id = this.ids.size));
    return id;
  }
}

/** The facts of one (brand, model) in one segment, decoded: parallel arrays, one slot per vehicle. */
export interface DecodedFacts {
  ids: Int32Array;
  /** NaN when unknown */
  odoMin: Float64Array;
  odoMax: Float64Array;
  flags: Uint8Array;
}

/** Decode some packed parts of one (brand, model, segment) into one set of arrays (a vehicle in several parts merged). */
export function decodeFacts(parts: readonly string[], numbers: VinNumbers): DecodedFacts {
  const slot = new Map<number, number>();
  const ids: number[] = [];
  const odoMin: number[] = [];
  const odoMax: number[] = [];
  const flags: number[] = [];
  for (const packed of parts) {
    eachPackedEntry(packed, (vin, lo, hi, f) => {
      const id = numbers.of(vin);
      const at = slot.get(id);
      if (at === undefined) {
        slot.set(id, ids.length);
        ids.push(id);
        odoMin.push(lo ?? Number.NaN);
        odoMax.push(hi ?? Number.NaN);
        flags.push(f);
        return;
      }
      if (lo !== undefined && !(lo >= odoMin[at]!)) odoMin[at] = lo;
      if (hi !== undefined && !(hi <= odoMax[at]!)) odoMax[at] = hi;
      flags[at] = flags[at]! | f;
    });
  }
  return { ids: Int32Array.from(ids), odoMin: Float64Array.from(odoMin), odoMax: Float64Array.from(odoMax), flags: Uint8Array.from(flags) };
}

/** Bytes a decoded set holds (for the cache's bound). */
export const decodedBytes = (facts: DecodedFacts): number => facts.ids.length * 21 + 64;

/** Facts of many segments merged per vehicle, then totalled: what a cockpit question asks of them. */
export class FactsMerge {
  private seen: Uint32Array = new Uint32Array(0);
  private odoMin: Float64Array = new Float64Array(0);
  private odoMax: Float64Array = new Float64Array(0);
  private flags: Uint8Array = new Uint8Array(0);
  private touched: number[] = [];
  private generation = 0;

  /** Start a new merge for vehicles numbered below `vehicles`. */
  reset(vehicles: number): void {
    if (this.seen.length < vehicles) {
      const size = Math.max(vehicles, this.seen.length * 2, 1024);
      this.seen = new Uint32Array(size);
      this.odoMin = new Float64Array(size);
      this.odoMax = new Float64Array(size);
      this.flags = new Uint8Array(size);
      this.generation = 0;
    }
    this.generation += 1;
    this.touched = [];
  }

  add(facts: DecodedFacts): void {
    const { ids, odoMin, odoMax, flags } = facts;
    const g = this.generation;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (this.seen[id] !== g) {
        this.seen[id] = g;
        this.touched.push(id);
        this.odoMin[id] = odoMin[i]!;
        this.odoMax[id] = odoMax[i]!;
        this.flags[id] = flags[i]!;
        continue;
      }
      const lo = odoMin[i]!;
      const hi = odoMax[i]!;
      if (lo < this.odoMin[id]! || Number.isNaN(this.odoMin[id]!)) this.odoMin[id] = lo;
      if (hi > this.odoMax[id]! || Number.isNaN(this.odoMax[id]!)) this.odoMax[id] = hi;
      this.flags[id] = this.flags[id]! | flags[i]!;
    }
  }

  /**
   * Several decoded sets as one (a vehicle in several merged), for vehicles numbered below `vehicles`, in this merge's
   * arrays: it runs to its end without yielding, so one FactsMerge serves a reader's questions and these alike (a new
   * one per call allocated 21 bytes per vehicle known: 2 GB once 47,000 open segments of 2,000 vehicles had each merged).
   */
  merged(sets: readonly DecodedFacts[], vehicles: number): DecodedFacts {
    this.reset(vehicles);
    for (const set of sets) this.add(set);
    return this.decoded();
  }

  /** The merged vehicles as one decoded set. */
  decoded(): DecodedFacts {
    const ids = Int32Array.from(this.touched);
    const out: DecodedFacts = { ids, odoMin: new Float64Array(ids.length), odoMax: new Float64Array(ids.length), flags: new Uint8Array(ids.length) };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      out.odoMin[i] = this.odoMin[id]!;
      out.odoMax[i] = this.odoMax[id]!;
      out.flags[i] = this.flags[id]!;
    }
    return out;
  }

  /** Active vehicles, the sum of their odometer spans, and how many charged or reported a fault. */
  totals(): { activeVehicles: number; distanceKm: number; chargingVehicles: number; faultVehicles: number } {
    let distanceKm = 0;
    let chargingVehicles = 0;
    let faultVehicles = 0;
    for (const id of this.touched) {
      const span = this.odoMax[id]! - this.odoMin[id]!;
      if (!Number.isNaN(span)) distanceKm += span;
      if ((this.flags[id]! & CHARGING_FLAG) !== 0) chargingVehicles += 1;
      if ((this.flags[id]! & FAULT_FLAG) !== 0) faultVehicles += 1;
    }
    return { activeVehicles: this.touched.length, distanceKm, chargingVehicles, faultVehicles };
  }
}
