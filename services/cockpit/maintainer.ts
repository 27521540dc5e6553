// Keeps the cockpit tables (services/store/cockpit-tables.ts) up to date as samples are stored. The store writer
// reports every confirmed batch (track), and its spool checkpoint moves past the batch only once what the batch
// changed is written, except the per-vehicle facts of minutes still open, which are written at most every
// `factsFlushMs` when their vehicles send several samples in that time, else once the minute is over (and recounted
// from the raw samples after a restart). What it writes per second grows with the
// (brand, model) groups and minutes that changed, not with the vehicles: a whole minute's facts are a few packed
// parts per model, series sums one row per model and minute.
//
// Two strategies:
//   incremental (the store's only writer, the default): minutes are counted in memory (book.ts) and written from
//     there. A vehicle whose samples in a minute the store held before this process saw them (a restart, late data
//     for a minute that left memory) is recounted from the raw samples; late data for a minute whose other samples
//     were written earlier goes in an added part, so nothing is read back. 10-minute, hour and day segments are
//     sealed from memory once over, or derived from finer segments in the store when this process did not see all
//     of their data; late data for a sealed segment is added to it as a part, and its seal's revision changes.
//   recompute (several writers share the store, e.g. ingest workers on a $share subscription): no process sees
//     every sample, so every changed (brand, model, minute) is recounted from the raw samples, in rounds, and once
//     more `settleMs` later; segments are derived from finer ones in the store.
import type { Logger } from 'pino';
import type { ServiceMetrics } from '../observability/metrics.ts';
import {
  contiguousRanges,
  MAX_PART,
  MINUTE_MS,
  SEALED_TIERS,
  segmentKey,
  TIER_SPAN_MS,
  type CockpitTables,
  type FactsPart,
  type FactTier,
  SERIES_PIECE_MS,
  type SealedSums,
  type SealedTier,
  type SealMark,
  type SegmentRef,
  type SeriesPart,
} from '../store/cockpit-tables.ts';
import type { CockpitSums, RollupKey, RollupRow, StoredSample } from '../store/telemetry-store.ts';
import { EMPTY_SUMS, emptyRow, factsOf, groupKey, MinuteGroup, noSums, OffsetSet, sameRow, sumsDifference, type VehicleMinute } from './book.ts';
import { basePacked, currentParts, mergeFacts, packFacts, stampParts, unpackFacts, type VehicleFacts } from './facts.ts';
import { minuteOf, planCover, planSeries, startOf } from './periods.ts';
import { WrittenMinutes } from './written.ts';

export type RollupStrategy = 'incremental' | 'recompute';

export interface CockpitMaintainerOptions {
  tables: CockpitTables;
  logger: Logger;
  metrics: ServiceMetrics;
  strategy: RollupStrategy;
  /** how often changed series sums are written, and rounds run (ms); default 1000 */
  flushMs?: number;
  /** how often the per-vehicle facts of open minutes are written at most (ms); default 15000 */
  factsFlushMs?: number;
  /** how long after its end a minute stays in memory (ms); default 3 min */
  retainMs?: number;
  /** how long after its end a 10-minute, hour or day segment is sealed (ms); default 4 min, more than retainMs */
  sealAfterMs?: number;
  /** how long a minute that was late stays in memory after its last sample (ms); default 10 s */
  lateIdleMs?: number;
  /** recompute: recount every changed minute once more this long after (ms) */
  settleMs?: number;
  /** more vehicles than this to check in one recent minute: the store is asked for the whole minute once; default 200 */
  wholeMinuteCheck?: number;
  /**
   * what memory holds of minutes that are over and of periods not sealed yet, at most, counted in vehicle-minutes and
   * per-vehicle facts (a few hundred bytes each); default 400,000. Beyond it the least recently touched written groups
   * leave memory at once (later data for them goes in a part of its own) and the periods above them are derived from
   * the store when sealed: a week of history uploaded by thousands of vehicles touches every minute of the week for
   * as long as the upload lasts, and would be held whole.
   */
  memoryKeys?: number;
  now?: () => number;
}

const MIN_ROUND_GAP_MS = 100;
/**
 * The bits of which vehicles this process counted in each minute (written.ts), at most: 16 MiB is a week of minutes
 * for 2,000 vehicles, or 22 hours for 100,000; older minutes are asked of the store again.
 */
const WRITTEN_BYTES = 16 * 1024 ** 2;
/** How far back seal marks are loaded and sealing catches up after a restart. */
const SEAL_HORIZON_MS = 8 * 24 * 3_600_000;
/**
 * More vehicles than this in one recent minute to check (live traffic after a restart): ask which vehicles the store
 * holds for the whole minute once, and remember it while the minute is held. Older minutes (late data) are checked
 * per vehicle-minute.
 */
const WHOLE_MINUTE_CHECK = 200;
const RECENT_MS = 10 * MINUTE_MS;
/** Minutes recounted from the raw samples after a restart: facts of open minutes may not have been written. */
const RECOVER_MINUTES = 6;
/** How long a round spends at most summing stale sealed series again (ms). */
const REFRESH_MS = 250;
/**
 * A group of late data (not counted whole in memory) is written once it has had no sample for this long, or
 * factsFlushMs after it changed: a day of history uploaded by many vehicles touches each (brand, model, minute) many
 * times, and writing it every round would write about as much as the telemetry.
 */
const LATE_QUIET_MS = 2_000;
/**
 * The facts of an open minute are written before its end (every factsFlushMs) only once its group counted this many
 * samples per vehicle since they were last written: rewriting a minute's facts costs per vehicle, so 100,000 cars at
 * 0.1 Hz (fewer samples per minute than vehicles, nearly) would otherwise write their facts about as often as samples.
 * Slower vehicles' facts are written when the minute is over; what is written stays a fraction of what is counted.
 */
const EARLY_FACTS_SAMPLES_PER_VEHICLE = 4;
/**
 * However few its samples, an open minute's facts wait at most this many factsFlushMs (60 s by default: a minute of
 * wall time is over before, but one stamped ahead by a vehicle's clock is not).
 */
const STALE_FACTS_FLUSHES = 4;
/** A minute whose data arrives this long after its end is late data, counted whole or not. */
const LATE_AFTER_MS = 5_000;
/** Default of `memoryKeys`. */
const MEMORY_KEYS = 400_000; // VC_ROLLUP_MEMORY_KEYS

interface Waiter {
  resolve: () => void;
  /** groups of late data the batch went to, and the version each must be written up to */
  late: Array<{ group: MinuteGroup; version: number }>;
}

/** Facts of one segment being gathered: of a period not sealed yet, or added to a sealed one. */
interface SegmentFacts {
  ref: SegmentRef;
  facts: Map<string, VehicleFacts>;
  /** added parts: the part number (allocated before the first write) */
  part?: number;
  dirty: boolean;
  touchedAt: number;
  /** added parts: changes merged so far (a write is shed only if none came while it was under way) */
  version?: number;
}

/** A period of a sealed tier not sealed yet: the facts this process saw of it, per (brand, model). */
interface OpenPeriod {
  /** this process saw every sample of it: seal from memory; else derive from the store */
  complete: boolean;
  models: Map<string, SegmentFacts>;
}

export class CockpitMaintainer {
  private readonly tables: CockpitTables;
  private readonly flushMs: number;
  private readonly factsFlushMs: number;
  private readonly retainMs: number;
  private readonly sealAfterMs: number;
  private readonly lateIdleMs: number;
  private readonly now: () => number;
  private readonly incremental: boolean;

  /** minute -> (brand, model) -> group */
  private readonly minutes = new Map<number, Map<string, MinuteGroup>>();
  /** per minute checked whole: the vehicles the store held samples of before this process counted any */
  private readonly preexisting = new Map<number, Set<string>>();
  /** per minute, the vehicles this process counted: whether the store holds some of a minute after the horizon */
  private readonly written = new WrittenMinutes(WRITTEN_BYTES);
  /** minutes from here on held no sample in the store when this process started (undefined: not asked yet) */
  private horizon: number | undefined;
  /** minutes before this left memory (a vehicle-minute not in memory after it may have been written) */
  private floor = Number.NEGATIVE_INFINITY;
  private readonly open = new Map<SealedTier, Map<number, OpenPeriod>>(SEALED_TIERS.map((t) => [t, new Map()]));
  /** parts added to sealed segments, by segmentKey */
  private readonly added = new Map<string, SegmentFacts>();
  /** seal marks known: tier -> start -> rev */
  private readonly marks = new Map<SealedTier, Map<number, number>>(SEALED_TIERS.map((t) => [t, new Map()]));
  private marksLoaded: { lo: number; hi: number } | undefined;
  /** per tier, the next period start to seal in order (the sole writer seals every period after the last mark) */
  private readonly sealFrom = new Map<SealedTier, number>();
  /** periods touched that are not sealed yet (recompute strategy; and late data before sealFrom) */
  private readonly touched = new Map<SealedTier, Set<number>>(SEALED_TIERS.map((t) => [t, new Set()]));
  private readonly revs = new Map<string, SealMark>();
  /** `${tier}:${start}` of seals whose write was tried and did not succeed */
  private readonly sealTried = new Set<string>();
  /** sealed segments whose sealed series sums are not of their revision, by `${tier}:${start}`, with the last change */
  private readonly staleSums = new Map<string, { tier: SealedTier; start: number; at: number }>();
  /** when late data last changed a sealed segment (sums are made again only once it has stopped: refreshSums) */
  private lateWrittenAt = Number.NEGATIVE_INFINITY;
  /** the group the last counted sample went to */
  private lastCounted: MinuteGroup | undefined;
  /** batches prepared so far, and how many of them were tracked (or given up) when the last was: one is on its way between */
  private prepared = 0;
  private trackedUpTo = 0;
  private recovered = false;
  /** recompute: groups to recount once more at a time */
  private readonly settling: Array<{ at: number; groups: Array<{ minute: number; brand: string; model: string }> }> = [];

  private waiters: Waiter[] = [];
  /** parts a round assembled whose write did not succeed: written again, as they are, first */
  private unsent: { series: SeriesPart[]; facts: FactsPart[] } | undefined;
  /** the next round's timer (none while a round it started runs), and when it fires (Date.now() ms) */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastRoundAt = 0;
  private failures = 0;

  constructor(private readonly options: CockpitMaintainerOptions) {
    this.tables = options.tables;
    this.flushMs = options.flushMs ?? 1000;
    this.factsFlushMs = options.factsFlushMs ?? 15_000;
    this.retainMs = options.retainMs ?? 3 * MINUTE_MS;
    this.sealAfterMs = Math.max(options.sealAfterMs ?? 4 * MINUTE_MS, this.retainMs + MINUTE_MS);
    this.lateIdleMs = options.lateIdleMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.incremental = options.strategy === 'incremental';
  }

  get strategy(): RollupStrategy {
    return this.options.strategy;
  }

  /** Groups with something not written yet (a gauge in /metrics). */
  get pendingKeys(): number {
    let n = 0;
    for (const groups of this.minutes.values()) for (const g of groups.values()) if (g.dirty) n += 1;
    for (const s of this.added.values()) if (s.dirty) n += 1;
    if (this.unsent) n += this.unsent.series.length + this.unsent.facts.length;
    return n;
  }

  /** Vehicle-minutes held in memory. */
  get memoryKeys(): number {
    let n = 0;
    for (const groups of this.minutes.values()) for (const g of groups.values()) n += g.vehicles.size;
    return n;
  }

  start(): void {
    this.schedule(this.flushMs);
  }

  /**
   * Before the writer stores these samples (called again when a write is retried): admit their vehicle-minutes,
   * learning from the store which of them it already holds samples of. Incremental only; throws when the store
   * cannot answer.
   */
  async prepare(samples: readonly StoredSample[]): Promise<void> {
    if (!this.incremental) return;
    const now = this.now();
    const seq = ++this.prepared;
    if (this.horizon === undefined) {
      const newest = await this.tables.newestSample();
      this.horizon = newest === undefined ? Number.NEGATIVE_INFINITY : minuteOf(newest) + MINUTE_MS;
    }
    // counting needs to know which segments are sealed (their late data is added to them)
    await this.loadMarks(now);
    const fresh = Math.max(this.horizon, this.floor);
    const unknown = new Map<string, StoredSample>();
    for (const sample of samples) {
      const minute = minuteOf(sample.ts);
      const group = this.minutes.get(minute)?.get(groupKey(sample.brand, sample.model));
      if (group) {
        group.touchedAt = now;
        group.preparedSeq = seq;
      }
      if (group?.vehicles.has(sample.vin)) continue;
      if (minute >= fresh) {
        this.admit(sample, minute, false, now);
        continue;
      }
      const known = this.preexisting.get(minute);
      if (known) this.admit(sample, minute, known.has(sample.vin), now);
      // the only writer: the store holds samples of a minute after the horizon only if this process counted them
      else if (this.written.knows(minute, this.horizon)) this.admit(sample, minute, this.written.has(sample.vin, minute), now);
      else unknown.set(`${sample.vin}\u0000${minute}`, sample);
    }
    if (unknown.size === 0) return;
    // the vehicles of a minute with many of them are asked for the whole minute once (remembered while it is held)
    const perMinute = new Map<number, number>();
    for (const s of unknown.values()) perMinute.set(minuteOf(s.ts), (perMinute.get(minuteOf(s.ts)) ?? 0) + 1);
    const whole = (minute: number): boolean => (perMinute.get(minute) ?? 0) > (this.options.wholeMinuteCheck ?? WHOLE_MINUTE_CHECK) && minute >= now - RECENT_MS;
    const keys: RollupKey[] = [];
    for (const s of unknown.values()) {
      const minute = minuteOf(s.ts);
      if (!whole(minute)) keys.push({ vin: s.vin, bucket: minute });
    }
    const wholeMinutes = [...perMinute.keys()].filter(whole);
    const stored = new Set((await this.tables.keysWithSamples(keys)).map((k) => `${k.vin}\u0000${k.bucket}`));
    for (const minute of wholeMinutes) {
      const rows = await this.tables.rowsFromRaw([{ lo: minute, hi: minute + MINUTE_MS }]);
      this.preexisting.set(minute, new Set(rows.map((r) => r.vin)));
    }
    for (const [key, s] of unknown) {
      const minute = minuteOf(s.ts);
      const known = this.preexisting.get(minute);
      this.admit(s, minute, known ? known.has(s.vin) : stored.has(key), now);
    }
  }

  /** Start counting a vehicle-minute; `held`: the store holds samples of it this process did not count. */
  private admit(sample: StoredSample, minute: number, held: boolean, now: number): void {
    let groups = this.minutes.get(minute);
    if (!groups) this.minutes.set(minute, (groups = new Map()));
    const key = groupKey(sample.brand, sample.model);
    let group = groups.get(key);
    if (!group) {
      const whole = this.horizon !== undefined && minute >= Math.max(this.horizon, this.floor);
      groups.set(key, (group = new MinuteGroup(minute, sample.brand, sample.model, whole ? 'whole' : 'added')));
    }
    group.touchedAt = now;
    group.preparedSeq = this.prepared;
    if (group.vehicles.has(sample.vin)) return;
    group.vehicles.set(sample.vin, { row: emptyRow(sample.vin, minute, sample.brand, sample.model), offsets: new OffsetSet(), recount: held, duplicate: false });
    this.written.add(sample.vin, minute);
    // once written, the store holds samples of it: the minute's list of vehicles the store held stays true
    this.preexisting.get(minute)?.add(sample.vin);
    // an added part must not count again what another part holds: recount the whole (brand, model, minute)
    if (held && group.mode === 'added') group.toRecount();
    if (held) group.seriesDirty = group.factsDirty = true;
  }

  /** Count these stored samples; resolves once what they changed is written (see the file comment for the exception). */
  track(samples: readonly StoredSample[]): Promise<void> {
    const now = this.now();
    // the store writer prepares, stores and tracks one batch at a time: every batch prepared so far is tracked (or was given up)
    this.trackedUpTo = this.prepared;
    const late = new Set<MinuteGroup>();
    for (const sample of samples) {
      const minute = minuteOf(sample.ts);
      if (!this.incremental) {
        this.touch(minute, sample.brand, sample.model, now);
        continue;
      }
      const group = this.count(sample, minute, now);
      if (this.isLate(group, now)) late.add(group);
    }
    return new Promise((resolve) => this.waiters.push({ resolve, late: [...late].map((group) => ({ group, version: group.version })) }));
  }

  /** Late data: its writes wait for it to be quiet, and the spool checkpoint waits for those writes. */
  private isLate(g: MinuteGroup, now: number): boolean {
    return this.incremental && (g.mode !== 'whole' || g.minute + MINUTE_MS + LATE_AFTER_MS <= now);
  }

  private count(sample: StoredSample, minute: number, now: number): MinuteGroup {
    // samples of one batch mostly share a group: no key string per sample for them
    let group = this.lastCounted;
    if (!group || group.minute !== minute || group.brand !== sample.brand || group.model !== sample.model) {
      group = this.minutes.get(minute)?.get(groupKey(sample.brand, sample.model));
    }
    if (!group?.vehicles.has(sample.vin)) {
      // admitted before the write, then left memory while it was written: only the store knows now
      this.admit(sample, minute, true, now);
      group = this.minutes.get(minute)!.get(groupKey(sample.brand, sample.model))!;
    }
    this.lastCounted = group;
    group.touchedAt = now;
    const { counted, facts } = group.count(sample);
    if (!group.dirty) group.dirtySince = now;
    group.version += 1;
    if (!counted) group.skipped += 1;
    else group.countedSinceFacts += 1;
    group.seriesDirty = true;
    if (!counted || facts) group.factsDirty = true;
    return group;
  }

  /** recompute strategy: the group is recounted in the next round. */
  private touch(minute: number, brand: string, model: string, now: number, settling = false): void {
    let groups = this.minutes.get(minute);
    if (!groups) this.minutes.set(minute, (groups = new Map()));
    const key = groupKey(brand, model);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = new MinuteGroup(minute, brand, model, 'recount')));
    group.touchedAt = now;
    group.version += 1;
    group.seriesDirty = group.factsDirty = true;
    // a recount of new samples is done once more settleMs later; that second recount is not repeated
    if (!settling && this.options.settleMs !== undefined) group.settleDue = true;
    for (const tier of SEALED_TIERS) this.touched.get(tier)!.add(startOf(tier, minute));
  }

  private isSealed(tier: SealedTier, start: number): boolean {
    return this.marks.get(tier)!.has(start);
  }

  private addToSealed(ref: SegmentRef, vin: string, facts: VehicleFacts, now: number): void {
    const key = segmentKey(ref);
    let segment = this.added.get(key);
    if (!segment) this.added.set(key, (segment = { ref, facts: new Map(), dirty: false, touchedAt: now }));
    segment.touchedAt = now;
    if (mergeFacts(segment.facts, vin, facts)) {
      segment.dirty = true;
      segment.version = (segment.version ?? 0) + 1;
    }
  }

  /**
   * Late data that was written leaves memory: a late group keeps its series sums (what it writes next is counted on
   * from them) but not its vehicles, whose facts are in the store. An added part of a sealed segment likewise forgets
   * what it wrote. So a (brand, model, minute) that a history upload by thousands of vehicles touches for minutes on end
   * holds what came since the last write, not every vehicle so far. Not while anything was
   * counted since the write was assembled, nor while a batch admitted to it is on its way to the store; a vehicle
   * shed and seen again in the same minute (a batch cut inside its minute, a redelivery) has its group recounted.
   */
  private shed(groups: ReadonlyArray<{ g: MinuteGroup; version: number }>, added: ReadonlyArray<{ s: SegmentFacts; version: number }>): void {
    for (const { g, version } of groups) {
      if (g.mode !== 'added' || g.dirty || g.version !== version || g.preparedSeq > this.trackedUpTo) continue;
      g.shedSums = g.sums();
      g.vehicles.clear();
      // what the periods above gathered misses these vehicles: derived from the store when sealed
      this.forgetAbove(g.minute);
      if (this.lastCounted === g) this.lastCounted = undefined;
    }
    for (const { s, version } of added) {
      if (s.dirty || (s.version ?? 0) !== version) continue;
      s.facts.clear();
    }
  }

  /**
   * The writer has caught up: write what changed without waiting out the period (which bounds the rows written
   * under load, not the latency of an idle service), but no sooner than 100 ms after the last round. Incremental
   * only: a recompute round reads raw samples, which is what the period is there to bound.
   */
  flushSoon(): void {
    if (!this.incremental) return;
    if (this.stopped || this.running || this.failures > 0 || this.pendingKeys === 0) return;
    this.schedule(Math.max(0, this.lastRoundAt + MIN_ROUND_GAP_MS - this.now()));
  }

  /** Run a round now; with `everything`, the facts of open minutes are written too. Resolves when it is over. */
  async flush(everything = false): Promise<void> {
    // callers that waited for the same round go one after the other: two rounds at once would write, evict and
    // number parts over each other
    while (this.running) await this.running.catch(() => undefined);
    const round = (this.running = this.round(everything));
    try {
      await round;
    } finally {
      if (this.running === round) this.running = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.failures === 0) await this.flush(true).catch(() => undefined);
    else if (this.running) await this.running.catch(() => undefined);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    // one timer, the soonest asked for: flushSoon between a round's end and its rescheduling must not start a second
    // chain of rounds
    const at = Date.now() + delay;
    if (this.timer) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().then(
        () => this.schedule(this.flushMs),
        () => this.schedule(Math.min(5_000, this.flushMs * 2 ** Math.min(this.failures, 5))),
      );
    }, delay);
    this.timer.unref();
  }

  private async round(everything: boolean): Promise<void> {
    const now = this.now();
    this.lastRoundAt = now;
    // the waiters of before this round: resolved once their groups are written (late ones may wait for later rounds)
    const waiters = this.waiters;
    this.waiters = [];
    const started = process.hrtime.bigint();
    try {
      // a batch of parts a round assembled is written as it is until the store takes it: its part numbers are used, and
      // a failed write may have landed (nothing is written twice with other values)
      if (this.unsent && this.unsent.series.length + this.unsent.facts.length > 0) await this.tables.write({ ...this.unsent, facts: stampParts(this.unsent.facts) });
      this.unsent = undefined;
      await this.loadMarks(now);
      if (this.incremental) await this.recover(now);
      else this.settle(now);
      const series: SeriesPart[] = [];
      const facts: FactsPart[] = [];
      const shed: Array<{ g: MinuteGroup; version: number }> = [];
      const shedAdded: Array<{ s: SegmentFacts; version: number }> = [];
      // unsent from the moment groups count what they assemble as written, whatever fails after
      this.unsent = { series, facts };
      await this.writeGroups(now, everything, series, facts, shed);
      await this.writeAdded(facts, now, shedAdded);
      stampParts(facts);
      if (series.length > 0 || facts.length > 0) await this.tables.write(this.unsent);
      this.unsent = undefined;
      this.shed(shed, shedAdded);
      // seal after the parts are in: a period is derived from the finer segments in the store
      const unsealed = await this.seal(now);
      await this.refreshSums(now);
      this.options.metrics.rollupSealBacklog.set(unsealed + this.staleSums.size);
      const marks = [...this.revs.values()];
      if (marks.length > 0) {
        await this.tables.write({ seals: marks });
        for (const mark of marks) if (this.revs.get(`${mark.tier}:${mark.start}`) === mark) this.revs.delete(`${mark.tier}:${mark.start}`);
      }
      this.evict(now);
    } catch (err) {
      // the writer holds its checkpoint until a round succeeds
      this.waiters = waiters.concat(this.waiters);
      this.failures += 1;
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.options.logger.warn({ event: 'rollup_write_failed', failures: this.failures, err: err instanceof Error ? err.message : String(err) }, 'cockpit rollup write failed; retrying');
      }
      this.options.metrics.rollupPendingKeys.set(this.pendingKeys);
      throw err;
    }
    this.failures = 0;
    this.options.metrics.rollupRoundSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.options.metrics.rollupPendingKeys.set(this.pendingKeys);
    this.options.metrics.rollupMemoryKeys.set(this.held);
    const waiting: Waiter[] = [];
    for (const w of waiters) {
      if (w.late.every(({ group, version }) => group.writtenVersion >= version)) w.resolve();
      else waiting.push(w);
    }
    this.waiters = waiting.concat(this.waiters);
  }

  /** Seal marks of the last days, once; then kept up to date by this process (and re-read by a recompute writer). */
  private async loadMarks(now: number): Promise<void> {
    if (this.incremental && this.marksLoaded) return;
    if (!this.incremental && this.touchedNothing()) return;
    const lo = this.incremental ? now - SEAL_HORIZON_MS : Math.min(...[...this.touched.values()].flatMap((s) => [...s]), now);
    const hi = now + TIER_SPAN_MS.day;
    for (const mark of await this.tables.readSeals(startOf('day', lo), hi)) {
      this.marks.get(mark.tier)!.set(mark.start, mark.rev);
      // the sole writer makes sums of another revision (or none: a store of before them) again
      const key = `${mark.tier}:${mark.start}`;
      if (this.incremental && mark.series !== mark.rev && !this.staleSums.has(key)) this.staleSums.set(key, { tier: mark.tier, start: mark.start, at: 0 });
    }
    this.marksLoaded = { lo: startOf('day', lo), hi };
    if (!this.incremental) return;
    for (const tier of SEALED_TIERS) {
      const starts = [...this.marks.get(tier)!.keys()];
      if (starts.length > 0) this.sealFrom.set(tier, Math.max(...starts) + TIER_SPAN_MS[tier]);
    }
  }

  private touchedNothing(): boolean {
    for (const set of this.touched.values()) if (set.size > 0) return false;
    return true;
  }

  /**
   * After a restart (the first round of an incremental writer): the facts of the minutes that were open may not
   * have been written, so the last minutes before the newest stored sample are recounted from the raw samples.
   */
  private async recover(now: number): Promise<void> {
    if (this.recovered) return;
    if (this.horizon === undefined) {
      const newest = await this.tables.newestSample();
      this.horizon = newest === undefined ? Number.NEGATIVE_INFINITY : minuteOf(newest) + MINUTE_MS;
    }
    this.recovered = true;
    if (!Number.isFinite(this.horizon)) return;
    const hi = this.horizon;
    const lo = hi - (RECOVER_MINUTES + 1) * MINUTE_MS;
    const rows = await this.tables.rowsFromRaw([{ lo, hi }]);
    for (const row of rows) {
      let groups = this.minutes.get(row.bucket);
      if (!groups) this.minutes.set(row.bucket, (groups = new Map()));
      const key = groupKey(row.brand, row.model);
      let group = groups.get(key);
      if (!group) groups.set(key, (group = new MinuteGroup(row.bucket, row.brand, row.model, 'recount')));
      if (group.mode !== 'recount') group.toRecount();
      group.touchedAt = now;
      group.seriesDirty = group.factsDirty = true;
      if (!group.vehicles.has(row.vin)) group.vehicles.set(row.vin, { row, offsets: new OffsetSet(), recount: true, duplicate: false });
    }
  }

  /** recompute strategy: groups due for their settle pass are recounted again. */
  private settle(now: number): void {
    while (this.settling.length > 0 && this.settling[0]!.at <= now) {
      for (const g of this.settling.shift()!.groups) this.touch(g.minute, g.brand, g.model, now, true);
    }
  }

  private openPeriod(tier: SealedTier, start: number, complete: boolean): OpenPeriod {
    const periods = this.open.get(tier)!;
    let period = periods.get(start);
    if (!period) {
      period = { complete: complete && this.horizon !== undefined && start >= this.horizon, models: new Map() };
      periods.set(start, period);
    } else if (!complete) {
      // derived from the store when sealed: what it gathered is of no more use
      period.complete = false;
      period.models.clear();
    }
    return period;
  }

  /** Series and facts parts of the groups that changed; recounts from the raw samples first where needed. */
  private async writeGroups(now: number, everything: boolean, series: SeriesPart[], facts: FactsPart[], shed: Array<{ g: MinuteGroup; version: number }>): Promise<void> {
    const dirty: MinuteGroup[] = [];
    for (const groups of this.minutes.values()) for (const g of groups.values()) if (g.dirty) dirty.push(g);
    if (dirty.length === 0) return;
    // a whole group's series every round, its facts once its minute is over or every factsFlushMs; a group of late
    // data (or recounted) all of it once it is quiet or factsFlushMs after it changed; with several writers, every round
    const late = (g: MinuteGroup): boolean => this.isLate(g, now);
    // over the memory budget, late data is written now, so that it can leave memory (keepWithinBudget)
    const overBudget = this.held > this.memoryBudget;
    const lateDue = (g: MinuteGroup): boolean => everything || overBudget || now - g.touchedAt >= LATE_QUIET_MS || now - g.dirtySince >= this.factsFlushMs;
    // facts cost per vehicle: written early only when many samples came since; once the minute is over, at once, then
    // (samples still on their way) again only once quiet, as late data is
    const many = (g: MinuteGroup): boolean => g.countedSinceFacts >= EARLY_FACTS_SAMPLES_PER_VEHICLE * g.vehicles.size;
    const factsDue = (g: MinuteGroup): boolean => {
      if (everything) return true;
      const end = g.minute + MINUTE_MS;
      // (a minute still to come, from a vehicle whose clock is ahead, waits at most STALE_FACTS_FLUSHES periods)
      if (end > now) return (now - g.factsWrittenAt >= this.factsFlushMs && many(g)) || (g.dirtySince > 0 && now - g.dirtySince >= STALE_FACTS_FLUSHES * this.factsFlushMs);
      return g.factsWrittenAt < end || many(g) || now - g.touchedAt >= LATE_QUIET_MS || now - g.dirtySince >= this.factsFlushMs;
    };
    const due = dirty.filter((g) => !late(g) || lateDue(g));
    const recount = new Set(due.filter((g) => g.mode === 'recount'));
    const vehicles = due.filter((g) => g.mode !== 'recount').flatMap((g) => [...g.vehicles.values()].filter((v) => v.recount).map((v) => ({ g, v })));
    // samples tracked from here until the flags below are cleared may be missing from what is written: one left to a
    // vehicle's recount is in the store, maybe not in a read already under way, and a recount overwrites what memory
    // counted. Such a group is written as of now and stays dirty for the next round that is due. (What memory counts
    // meanwhile, with nothing read, is in the sums written.)
    const versions = new Map(due.map((g) => [g, g.version]));
    const skipped = new Map(due.map((g) => [g, g.skipped]));
    const reads = new Set<MinuteGroup>([...recount, ...vehicles.map(({ g }) => g)]);
    await this.recount([...recount], vehicles, { versions, trackedUpTo: this.trackedUpTo }, now);
    const ref = (g: MinuteGroup): SegmentRef => ({ tier: 'minute', start: g.minute, brand: g.brand, model: g.model });
    // a redelivered sample with other values made an added group a recount (valuesChanged): recounted next round
    const writing = due.filter((g) => g.mode !== 'recount' || recount.has(g));
    // the sole writer numbers each write of a group anew, and learns where a group's numbers start once; several
    // writers write part 0 of a recount and empty the parts above it
    const ask = (this.incremental ? writing.filter((g) => g.next === undefined) : [...recount]).map(ref);
    const last = ask.length > 0 ? await this.tables.lastParts(ask) : new Map<string, number>();
    // a recount makes the store's series parts add up to it: the sole writer adds the difference to what they hold
    if (this.incremental) await this.readStored(writing.filter((g) => g.mode === 'recount' && !g.storedKnown));
    for (const g of writing) {
      const writesFacts = g.factsDirty && (late(g) || g.mode === 'recount' || factsDue(g));
      let part = 0;
      let used = false;
      if (this.incremental) {
        if (g.next === undefined) g.next = this.nextPart(last.get(segmentKey(ref(g))));
        part = g.next;
        const total = g.sums();
        const delta = sumsDifference(total, g.written);
        if (!noSums(delta)) {
          series.push({ minute: g.minute, brand: g.brand, model: g.model, part, sums: delta });
          used = true;
        }
        g.written = total;
        g.storedKnown = true;
      } else {
        series.push({ minute: g.minute, brand: g.brand, model: g.model, part, sums: g.sums() });
      }
      if (writesFacts) {
        // a recount's facts are all there is: a base part; else those of the vehicles whose facts changed since
        const base = g.mode === 'recount' || g.factsBase;
        const groupFacts = this.groupFacts(g, base ? undefined : g.changed);
        if (base || groupFacts.size > 0) {
          facts.push({ tier: 'minute', start: g.minute, brand: g.brand, model: g.model, part, packed: base ? basePacked(packFacts(groupFacts)) : packFacts(groupFacts) });
          used = true;
        }
        g.changed.clear();
        g.factsBase = false;
        // a segment sealed already gets what the group adds as a part of its own (written with this round)
        for (const tier of SEALED_TIERS) {
          const start = startOf(tier, g.minute);
          if (!this.isSealed(tier, start)) continue;
          for (const [vin, f] of groupFacts) this.addToSealed({ tier, start, brand: g.brand, model: g.model }, vin, f, now);
        }
      }
      if (this.incremental && used) g.next = part + 1;
      if (!this.incremental && g.mode === 'recount') {
        // part 0 now holds all of it: empty every other part of the segment
        const upTo = last.get(segmentKey(ref(g))) ?? 0;
        for (let p = 1; p <= upTo; p++) {
          series.push({ minute: g.minute, brand: g.brand, model: g.model, part: p, sums: { ...EMPTY_SUMS } });
          facts.push({ tier: 'minute', start: g.minute, brand: g.brand, model: g.model, part: p, packed: '' });
        }
        if (g.settleDue) {
          g.settleDue = false;
          this.scheduleSettle(g, now);
        }
      }
      this.bumpSealedAbove(g.minute, now);
      const read = versions.get(g)!;
      const raced = reads.has(g) ? g.version !== read : g.skipped !== skipped.get(g);
      g.seriesDirty = false;
      if (writesFacts) {
        g.factsDirty = false;
        g.factsWrittenAt = now;
        g.countedSinceFacts = 0;
      }
      if (!g.factsDirty) {
        g.writtenVersion = raced ? read : g.version;
        g.dirtySince = 0;
      }
      // late data, all of it written: its vehicles may leave memory once the write is done
      if (writesFacts && !raced && g.mode === 'added' && late(g)) shed.push({ g, version: g.version });
      if (raced) {
        g.seriesDirty = g.factsDirty = true;
        g.dirtySince = now;
      }
    }
  }

  /** A recount group's series as the store holds them: what all of its minute's series parts add up to. */
  private async readStored(groups: readonly MinuteGroup[]): Promise<void> {
    if (groups.length === 0) return;
    const ranges = contiguousRanges(groups.map((g) => g.minute), MINUTE_MS).map((r) => ({ tier: 'minute' as const, ...r }));
    const stored = new Map<string, CockpitSums>();
    for (const { t, brand, model, ...sums } of await this.tables.seriesBuckets({ from: ranges[0]!.lo, intervalMs: MINUTE_MS, ranges }, true)) stored.set(`${t}\u0000${brand}\u0000${model}`, sums);
    for (const g of groups) {
      g.written = stored.get(`${g.minute}\u0000${g.brand}\u0000${g.model}`) ?? { ...EMPTY_SUMS };
      g.storedKnown = true;
    }
  }

  private scheduleSettle(g: MinuteGroup, now: number): void {
    const at = now + (this.options.settleMs ?? 0);
    const last = this.settling[this.settling.length - 1];
    const entry = { minute: g.minute, brand: g.brand, model: g.model };
    if (last && last.at === at) last.groups.push(entry);
    else this.settling.push({ at, groups: [entry] });
  }

  /** The next free part number after `last` (0 when the segment has none). */
  private nextPart(last: number | undefined): number {
    if (last === undefined) return 0;
    if (last >= MAX_PART) throw new Error(`cockpit tables: a segment has ${MAX_PART} parts; it needs a recount`);
    return last + 1;
  }

  /** Facts of a group's vehicles (of these only, when given). */
  private groupFacts(g: MinuteGroup, only?: ReadonlySet<string>): Map<string, VehicleFacts> {
    const facts = new Map<string, VehicleFacts>();
    if (only) {
      for (const vin of only) {
        const v = g.vehicles.get(vin);
        if (v && v.row.samples > 0) facts.set(vin, factsOf(v.row));
      }
      return facts;
    }
    for (const [vin, v] of g.vehicles) if (v.row.samples > 0) facts.set(vin, factsOf(v.row));
    return facts;
  }

  /** Recount groups (whole) and vehicles (of groups counted in memory) from the raw samples. */
  private async recount(
    groups: readonly MinuteGroup[],
    vehicles: ReadonlyArray<{ g: MinuteGroup; v: VehicleMinute }>,
    /** when the raw samples are read: each group's version, and the batches tracked */
    readAt: { versions: ReadonlyMap<MinuteGroup, number>; trackedUpTo: number },
    now: number,
  ): Promise<void> {
    const ranges: Array<{ lo: number; hi: number; models?: Array<{ brand: string; model: string }>; vins?: string[] }> = [];
    const byMinute = new Map<number, MinuteGroup[]>();
    for (const g of groups) byMinute.set(g.minute, [...(byMinute.get(g.minute) ?? []), g]);
    for (const [minute, list] of byMinute) ranges.push({ lo: minute, hi: minute + MINUTE_MS, models: list.map((g) => ({ brand: g.brand, model: g.model })) });
    const vinsByMinute = new Map<number, string[]>();
    for (const { g, v } of vehicles) vinsByMinute.set(g.minute, [...(vinsByMinute.get(g.minute) ?? []), v.row.vin]);
    for (const [minute, vins] of vinsByMinute) ranges.push({ lo: minute, hi: minute + MINUTE_MS, vins });
    if (ranges.length === 0) return;
    const rows = await this.tables.rowsFromRaw(ranges);
    const rowOf = new Map<string, RollupRow>(rows.map((r) => [`${r.bucket}\u0000${r.vin}`, r]));
    for (const g of groups) {
      for (const [vin, v] of g.vehicles) {
        const row = rowOf.get(`${g.minute}\u0000${vin}`);
        if (row) v.row = row;
      }
      for (const row of rows) {
        if (row.bucket !== g.minute || row.brand !== g.brand || row.model !== g.model || g.vehicles.has(row.vin)) continue;
        g.vehicles.set(row.vin, { row, offsets: new OffsetSet(), recount: true, duplicate: false });
      }
      for (const v of g.vehicles.values()) v.recount = true;
      // what this process saw of the group's periods is not all there is; sealed ones are derived again
      for (const tier of SEALED_TIERS) {
        const start = startOf(tier, g.minute);
        if (this.isSealed(tier, start)) this.touched.get(tier)!.add(start);
        else this.openPeriod(tier, start, false);
      }
    }
    for (const { g, v } of vehicles) {
      const row = rowOf.get(`${g.minute}\u0000${v.row.vin}`) ?? emptyRow(v.row.vin, g.minute, g.brand, g.model);
      g.changed.add(v.row.vin);
      if (v.duplicate) {
        // a redelivered sample: the vehicle's samples are all counted in memory, so the recount tells whether it changed anything
        const changed = !sameRow(row, v.row);
        v.row = row;
        if (changed) this.valuesChanged(g);
        // counted in memory again only if the read holds exactly the samples tracked: none was on its way to the store
        // (it may or may not be in the read, and would be counted when tracked) nor tracked meanwhile (not counted,
        // and may not be in it); else the vehicle is recounted again
        if (g.version !== readAt.versions.get(g) || g.preparedSeq > readAt.trackedUpTo) continue;
        v.recount = false;
        v.duplicate = false;
      } else {
        v.row = row;
      }
    }
  }

  /**
   * A sample was replaced by one with other values: facts gathered in memory or added to sealed segments may be stale,
   * and the group's parts may hold facts it no longer has. A whole group writes a base part of its vehicles; an added
   * one does not hold every vehicle of the minute, and is recounted.
   */
  private valuesChanged(g: MinuteGroup): void {
    for (const tier of SEALED_TIERS) {
      const start = startOf(tier, g.minute);
      if (this.isSealed(tier, start)) this.touched.get(tier)!.add(start);
      else this.openPeriod(tier, start, false);
    }
    g.factsDirty = true;
    if (g.mode === 'whole') g.factsBase = true;
    else if (g.mode === 'added') g.toRecount();
  }

  /** Added parts of sealed segments: allocate their numbers, then write the dirty ones, each a new part. */
  private async writeAdded(facts: FactsPart[], now: number, shed: Array<{ s: SegmentFacts; version: number }>): Promise<void> {
    const dirty = [...this.added.values()].filter((s) => s.dirty);
    if (dirty.length === 0) return;
    const unnumbered = dirty.filter((s) => s.part === undefined);
    const last = unnumbered.length > 0 ? await this.tables.lastParts(unnumbered.map((s) => s.ref)) : new Map<string, number>();
    for (const s of unnumbered) s.part = this.nextPart(last.get(segmentKey(s.ref)));
    for (const s of dirty) {
      facts.push({ ...s.ref, part: s.part!, packed: packFacts(s.facts) });
      s.part = this.nextPart(s.part);
      this.bump(s.ref.tier as SealedTier, s.ref.start, now);
      this.lateWrittenAt = now;
      s.dirty = false;
      shed.push({ s, version: s.version ?? 0 });
    }
  }

  /** A minute's segment changed: the sealed segments above it change revision (readers drop what they cached). */
  private bumpSealedAbove(minute: number, now: number): void {
    for (const tier of SEALED_TIERS) {
      const start = startOf(tier, minute);
      if (!this.isSealed(tier, start)) continue;
      this.bump(tier, start, now);
      this.lateWrittenAt = now;
    }
  }

  /**
   * The clock, or the segment's revision + 1 if that is later: a new revision of its mark, or the stamp of its sealed
   * sums. So the sole writer never writes a mark or sums twice with other values (a store may keep every write and
   * read the greatest), and several writers' writes of a segment keep the order of their clocks: a counter shared by
   * all segments ran ahead of the clock by one a segment sealed, and a writer that had sealed many won over a later one.
   */
  private nextRev(tier: SealedTier, start: number, now: number): number {
    return Math.max(now, (this.marks.get(tier)!.get(start) ?? 0) + 1);
  }

  /** A new revision of a sealed segment; its sealed series sums are current when `sums` says they were just written. */
  private bump(tier: SealedTier, start: number, now: number, sums = false): void {
    if (sums) return this.sumsCurrent(tier, start, now);
    const rev = this.nextRev(tier, start, now);
    this.marks.get(tier)!.set(start, rev);
    this.revs.set(`${tier}:${start}`, { tier, start, rev });
    this.staleSums.set(`${tier}:${start}`, { tier, start, at: now });
  }

  /** The sealed sums of a segment were just written: a new revision whose mark says they are of it. */
  private sumsCurrent(tier: SealedTier, start: number, now: number): void {
    const rev = this.nextRev(tier, start, now);
    this.marks.get(tier)!.set(start, rev);
    this.revs.set(`${tier}:${start}`, { tier, start, rev, series: rev });
    this.staleSums.delete(`${tier}:${start}`);
  }

  /**
   * Seal every period that is due: from memory when this process saw all of it, else derived from the store. Returns
   * how many are left (waiting for minutes still in memory).
   */
  private async seal(now: number): Promise<number> {
    // what is left to seal, per tier, counted down as this round seals (a round after a day of history seals for a while)
    const left = new Map(SEALED_TIERS.map((tier) => [tier, this.dueStarts(tier, now).length]));
    const unsealed = (): number => [...left.values()].reduce((n, k) => n + k, 0);
    const report = (): void => this.options.metrics.rollupSealBacklog.set(unsealed() + this.staleSums.size);
    report();
    for (const tier of SEALED_TIERS) {
      const span = TIER_SPAN_MS[tier];
      // asked again: samples tracked while the finer tiers were sealed may have touched this one
      const starts = this.dueStarts(tier, now);
      left.set(tier, starts.length);
      report();
      let waiting = false;
      for (const start of starts) {
        const resealing = this.isSealed(tier, start);
        // a first seal waits for the minutes still in memory (their facts may change); sealing goes in time order
        if (!resealing && (waiting || this.holdsMinutesIn(start, start + span))) {
          waiting = true;
          continue;
        }
        const period = this.open.get(tier)!.get(start);
        // a seal whose write failed may have landed: it is derived again, above what is there
        const key = `${tier}:${start}`;
        const parts = period?.complete && !resealing && !this.sealTried.has(key) ? this.fromMemory(tier, start, period) : await this.derive(tier, start);
        // the sole writer sums the series when the segment is left alone (refreshSums): a history upload seals and
        // touches the same periods again and again, and summing a day's minutes each time slowed its catch-up
        const sums = this.incremental ? [] : await this.sealedSums(tier, start, now);
        this.sealTried.add(key);
        await this.tables.write({ facts: stampParts(parts), sealedSeries: sums });
        this.sealTried.delete(key);
        this.bump(tier, start, now, !this.incremental);
        this.open.get(tier)!.delete(start);
        this.touched.get(tier)!.delete(start);
        if (this.incremental && !resealing) this.sealFrom.set(tier, Math.max(this.sealFrom.get(tier) ?? start + span, start + span));
        left.set(tier, left.get(tier)! - 1);
        report();
      }
    }
    return unsealed();
  }

  /**
   * Sealed segments whose sealed series sums are stale (late data changed them) are summed again once no late data
   * has been written for `lateIdleMs`, finer tiers first (coarser ones are summed from them), for at most REFRESH_MS a
   * round. While a history upload lasts, late data is written every round: summing then would read the same minutes
   * again and again, and a slow round makes every segment look left alone (seen: rounds of 5 s and more, the memory
   * bound overrun six times, on InfluxDB). The mark keeps its revision (the facts did not change); until then a
   * reader adds up their minutes. The sole writer only:
   * with several, another may give the segment a new revision between the sums and the mark, which would then take it
   * back (they seal again what they touch, sums included).
   */
  private async refreshSums(now: number): Promise<void> {
    if (!this.incremental || now - this.lateWrittenAt < this.lateIdleMs) return;
    const started = performance.now();
    const due = [...this.staleSums.values()]
      .filter((x) => now - x.at >= this.lateIdleMs && this.isSealed(x.tier, x.start))
      .sort((a, b) => SEALED_TIERS.indexOf(a.tier) - SEALED_TIERS.indexOf(b.tier) || a.start - b.start);
    for (const { tier, start } of due) {
      if (performance.now() - started > REFRESH_MS) break;
      await this.tables.write({ sealedSeries: await this.sealedSums(tier, start, now) });
      this.sumsCurrent(tier, start, now);
    }
  }

  /**
   * A sealed segment's series sums per piece and (brand, model), from the store: from the sealed sums of finer
   * segments where they are current, minutes elsewhere, stamped anew: the latest sums of a piece are its sums. A
   * (brand, model) the segment had and the store no longer has is written as zeros.
   */
  private async sealedSums(tier: SealedTier, start: number, now: number): Promise<SealedSums[]> {
    const stamp = this.nextRev(tier, start, now);
    const span = TIER_SPAN_MS[tier];
    const piece = SERIES_PIECE_MS[tier];
    const ranges = planSeries(start, start + span, piece, (t, s) => TIER_SPAN_MS[t] < span && this.isSealed(t, s) && !this.staleSums.has(`${t}:${s}`));
    const out = new Map<string, SealedSums>();
    for (const b of await this.tables.seriesBuckets({ from: start, intervalMs: piece, ranges }, true)) {
      const { t, brand = '', model = '', ...sums } = b;
      out.set(`${t}\u0000${brand}\u0000${model}`, { tier, start: t, brand, model, sums, stamp });
    }
    for (const b of await this.tables.seriesBuckets({ from: start, intervalMs: piece, ranges: [{ tier, lo: start, hi: start + span }] }, true)) {
      const key = `${b.t}\u0000${b.brand}\u0000${b.model}`;
      if (!out.has(key)) out.set(key, { tier, start: b.t, brand: b.brand ?? '', model: b.model ?? '', sums: { ...EMPTY_SUMS }, stamp });
    }
    return [...out.values()];
  }

  /** The periods of a tier due to be sealed (or resealed) now, in time order. */
  private dueStarts(tier: SealedTier, now: number): number[] {
    const span = TIER_SPAN_MS[tier];
    const due = Math.floor((now - this.sealAfterMs) / span) * span - span;
    const starts = new Set<number>();
    if (this.incremental) {
      const first = this.sealFrom.get(tier) ?? this.firstSeen(tier);
      if (first !== undefined) for (let s = Math.max(first, startOf(tier, now - SEAL_HORIZON_MS)); s <= due; s += span) starts.add(s);
      for (const s of this.open.get(tier)!.keys()) if (s <= due) starts.add(s);
    }
    for (const s of this.touched.get(tier)!) if (s <= due) starts.add(s);
    return [...starts].sort((a, b) => a - b);
  }

  /** The first period of a tier this process counted something in (where an incremental writer starts sealing). */
  private firstSeen(tier: SealedTier): number | undefined {
    let first: number | undefined;
    for (const start of this.open.get(tier)!.keys()) if (first === undefined || start < first) first = start;
    return first;
  }

  /** Some minute in [lo, hi) is still in memory (its facts may still change). */
  private holdsMinutesIn(lo: number, hi: number): boolean {
    for (const minute of this.minutes.keys()) if (minute >= lo && minute < hi) return true;
    return false;
  }

  /** A period this process saw whole, sealed as part 0 of its segment (nothing is there before a first seal). */
  private fromMemory(tier: SealedTier, start: number, period: OpenPeriod): FactsPart[] {
    return [...period.models.values()].map((s) => ({ tier, start, brand: s.ref.brand, model: s.ref.model, part: 0, packed: basePacked(packFacts(s.facts)) }));
  }

  /**
   * A segment's facts from the finer segments in the store that cover it (sealed ones where they are, minutes
   * elsewhere), as base parts numbered above what the segment holds (a reseal, a seal written before): nothing is
   * written twice, and a (brand, model) the segment had and the finer ones no longer have gets an empty base.
   */
  private async derive(tier: SealedTier, start: number): Promise<FactsPart[]> {
    const span = TIER_SPAN_MS[tier];
    const cover = planCover(start, start + span, (t, s) => t !== tier && TIER_SPAN_MS[t] < span && this.isSealed(t, s));
    const read = await this.tables.readFacts([...cover, { tier, lo: start, hi: start + 1 }], {});
    const byModel = new Map<string, SegmentFacts>();
    // the greatest part number the segment holds, per (brand, model)
    const held = new Map<string, { brand: string; model: string; last: number }>();
    for (const part of read) {
      if (part.tier !== tier) continue;
      const key = groupKey(part.brand, part.model);
      held.set(key, { brand: part.brand, model: part.model, last: Math.max(part.part, held.get(key)?.last ?? 0) });
    }
    for (const part of currentParts(read.filter((p) => p.tier !== tier))) {
      const key = groupKey(part.brand, part.model);
      let s = byModel.get(key);
      if (!s) byModel.set(key, (s = { ref: { tier, start, brand: part.brand, model: part.model }, facts: new Map(), dirty: false, touchedAt: 0 }));
      unpackFacts(part.packed, s.facts);
    }
    const parts: FactsPart[] = [...byModel].map(([key, s]) => ({ tier, start, brand: s.ref.brand, model: s.ref.model, part: this.nextPart(held.get(key)?.last), packed: basePacked(packFacts(s.facts)) }));
    for (const [key, h] of held) if (!byModel.has(key)) parts.push({ tier, start, brand: h.brand, model: h.model, part: this.nextPart(h.last), packed: basePacked('') });
    // parts added in memory for this segment are in the base now; one still to be written numbers itself anew
    for (const [key, s] of this.added) {
      if (s.ref.tier !== tier || s.ref.start !== start) continue;
      if (s.dirty) s.part = undefined;
      else this.added.delete(key);
    }
    return parts;
  }

  /** Minutes that are over leave memory, their facts merged into the open periods above them. */
  private evict(now: number): void {
    this.lastCounted = undefined;
    const floor = minuteOf(now - this.retainMs) - MINUTE_MS;
    if (floor > this.floor) this.floor = floor;
    this.written.forgetBefore(minuteOf(now - SEAL_HORIZON_MS));
    for (const [minute, groups] of this.minutes) {
      for (const [key, g] of groups) {
        if (g.dirty) continue;
        const old = minute < this.floor;
        const idle = now - g.touchedAt >= (g.mode === 'whole' ? 0 : this.lateIdleMs);
        if (!(old && idle)) continue;
        if (this.incremental) this.mergeUp(g);
        groups.delete(key);
      }
      if (groups.size === 0) {
        this.minutes.delete(minute);
        this.preexisting.delete(minute);
      }
    }
    for (const [key, s] of this.added) if (!s.dirty && now - s.touchedAt >= this.lateIdleMs) this.added.delete(key);
    this.keepWithinBudget();
  }

  private get memoryBudget(): number {
    return this.options.memoryKeys ?? MEMORY_KEYS;
  }

  /** What `memoryKeys` bounds: vehicle-minutes in memory and the facts gathered for periods not sealed yet. */
  private get held(): number {
    return this.memoryKeys + this.openFacts;
  }

  /** Per-vehicle facts held for periods not sealed yet. */
  private get openFacts(): number {
    let n = 0;
    for (const periods of this.open.values()) for (const period of periods.values()) for (const s of period.models.values()) n += s.facts.size;
    return n;
  }

  /**
   * Over `memoryKeys`: written groups of minutes that are over leave memory, least recently touched first (not one a
   * batch on its way to the store was admitted to), and the periods above them forget what they gathered (they are
   * derived from the store when sealed); then, if still over, so do the oldest periods.
   */
  private keepWithinBudget(): void {
    const budget = this.memoryBudget;
    let held = this.held;
    if (held <= budget) return;
    const candidates: MinuteGroup[] = [];
    for (const [minute, groups] of this.minutes) {
      if (minute >= this.floor) continue;
      // (a group whose vehicles were shed holds next to nothing: it stays, and the minute with it, until idle)
      for (const g of groups.values()) if (!g.dirty && g.vehicles.size > 0 && g.preparedSeq <= this.trackedUpTo) candidates.push(g);
    }
    candidates.sort((a, b) => a.touchedAt - b.touchedAt);
    for (const g of candidates) {
      if (held <= budget) break;
      held -= g.vehicles.size + this.forgetAbove(g.minute);
      const groups = this.minutes.get(g.minute)!;
      groups.delete(groupKey(g.brand, g.model));
      if (groups.size === 0) {
        this.minutes.delete(g.minute);
        this.preexisting.delete(g.minute);
      }
    }
    if (held <= budget) return;
    const periods = SEALED_TIERS.flatMap((tier) => [...this.open.get(tier)!.keys()].map((start) => ({ tier, start }))).sort((a, b) => a.start - b.start);
    for (const { tier, start } of periods) {
      if (held <= budget) break;
      held -= this.forget(tier, start);
    }
  }

  /** The open periods above a minute are to be derived from the store (forget); returns how many facts they dropped. */
  private forgetAbove(minute: number): number {
    let n = 0;
    for (const tier of SEALED_TIERS) {
      const start = startOf(tier, minute);
      if (!this.isSealed(tier, start)) n += this.forget(tier, start);
    }
    return n;
  }

  /** An open period is to be derived from the store: what it gathered in memory is dropped; returns how many facts. */
  private forget(tier: SealedTier, start: number): number {
    let n = 0;
    for (const s of this.open.get(tier)!.get(start)?.models.values() ?? []) n += s.facts.size;
    this.openPeriod(tier, start, false);
    return n;
  }

  /** A group leaving memory: its vehicles' facts into the open (not sealed) periods above it. */
  private mergeUp(g: MinuteGroup): void {
    for (const tier of SEALED_TIERS) {
      const start = startOf(tier, g.minute);
      if (this.isSealed(tier, start)) continue;
      const period = this.openPeriod(tier, start, true);
      if (g.mode !== 'whole' && g.mode !== 'added') period.complete = false;
      // a period derived from the store needs nothing gathered
      if (!period.complete) continue;
      const key = groupKey(g.brand, g.model);
      let s = period.models.get(key);
      if (!s) period.models.set(key, (s = { ref: { tier, start, brand: g.brand, model: g.model }, facts: new Map(), dirty: false, touchedAt: 0 }));
      for (const [vin, v] of g.vehicles) if (v.row.samples > 0) mergeFacts(s.facts, vin, factsOf(v.row));
    }
  }
}

export type { FactTier };
