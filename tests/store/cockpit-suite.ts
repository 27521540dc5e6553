// The cockpit engine (services/cockpit) over a store's cockpit tables, held to the raw samples: every answer from
// the tables equals the answer counted straight from the raw samples, across late, duplicated, redelivered and
// changed samples, sealed and open segments, a restart, and several writers. Both stores run it
// (tests/store/embedded.test.ts, tests/store/influx.test.ts), and the tables' own behaviour first.
import { createLogger } from '../../services/observability/logger.ts';
import { ServiceMetrics } from '../../services/observability/metrics.ts';
import { CockpitMaintainer, type RollupStrategy } from '../../services/cockpit/maintainer.ts';
import { CockpitReader } from '../../services/cockpit/reader.ts';
import { basePacked, packFacts, unpackFacts, type VehicleFacts } from '../../services/cockpit/facts.ts';
import { EMPTY_SUMS, MINUTE_MS, segmentKey, TIER_SPAN_MS } from '../../services/store/cockpit-tables.ts';
import type { CockpitAggregates, CockpitWindow, StoredSample, TelemetryStore } from '../../services/store/telemetry-store.ts';
import type { SignalValue } from '../../services/contract/signals.ts';
import { randomVin, storedSample, type StoreFixture, type TapTest } from './store-fixture.ts';

const SPEED = 'Vehicle.Speed';
const ODO = 'Vehicle.TraveledDistance';
const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';
const CHARGING = 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging';
const ADAS = 'Vehicle.ADAS.ActiveAutonomyLevel';
const DTC = 'Vehicle.OBD.DTCList';
const MIL = 'Vehicle.OBD.Status.MILStatus';
const HOUR = 60 * MINUTE_MS;
const logger = createLogger('silent');

/** Equal up to floating-point summation order. */
const rounded = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 1e6) / 1e6 : v)));

export function engine(store: TelemetryStore, strategy: RollupStrategy = 'incremental', extra: Partial<ConstructorParameters<typeof CockpitMaintainer>[0]> = {}): CockpitMaintainer {
  // minutes that were late leave memory at once, so segments seal as soon as they are due
  return new CockpitMaintainer({ tables: store.cockpit, logger, metrics: new ServiceMetrics({ processMetrics: false }), strategy, settleMs: strategy === 'recompute' ? 0 : undefined, lateIdleMs: 0, ...extra });
}

/** What the store writer does with one batch: prepare, store, track; resolves once the batch's rollups are written. */
export async function writeBatch(store: TelemetryStore, rollups: CockpitMaintainer, batch: readonly StoredSample[]): Promise<void> {
  await rollups.prepare(batch);
  await store.writeSamples(batch);
  const stored = rollups.track(batch);
  await rollups.flush(true);
  await stored;
}

export async function cockpitSuite(t: TapTest, open: () => Promise<StoreFixture>): Promise<void> {
  const base = Date.now() - 40 * MINUTE_MS;

  async function fresh(t: TapTest): Promise<TelemetryStore> {
    const fixture = await open();
    t.teardown(() => fixture.cleanup());
    await fixture.store.init();
    return fixture.store;
  }

  /** The rollup answer and the raw answer of a question agree (numbers up to summation order). */
  async function agree(t: TapTest, reader: CockpitReader, store: TelemetryStore, window: CockpitWindow, what: string): Promise<CockpitAggregates> {
    const fromRollups = await reader.aggregates(window, 'rollup');
    const fromRaw = await store.cockpit.fromRaw(window);
    t.strictSame(rounded(fromRollups), rounded(fromRaw), what);
    return fromRaw;
  }

  await t.test('cockpit tables: parts add up, overwrite, and are read by scope; marks and last parts', async (t) => {
    const store = await fresh(t);
    const tables = store.cockpit;
    const minute = Math.floor(base / MINUTE_MS) * MINUTE_MS;
    const sums = (samples: number) => ({ samples, speedSum: samples * 10, speedCount: samples, socSum: 0, socCount: 0, adasCount: 1, adas2Count: 1 });
    const odd = { brand: 'Brand, with=commas', model: 'Mödel \\ "quoted"' };
    await tables.write({
      series: [
        { minute, brand: 'Voltra', model: 'E-Cross', part: 0, sums: sums(3) },
        { minute, brand: 'Voltra', model: 'E-Cross', part: 1, sums: sums(2) },
        { minute: minute + MINUTE_MS, brand: 'Voltra', model: 'E-City', part: 0, sums: sums(4) },
        { minute, ...odd, part: 0, sums: sums(1) },
      ],
    });
    const window = { from: minute, intervalMs: MINUTE_MS, ranges: [{ tier: 'minute' as const, lo: minute, hi: minute + 2 * MINUTE_MS }] };
    t.strictSame((await tables.seriesBuckets(window)).map((b) => [b.t - minute, b.samples]), [[0, 6], [MINUTE_MS, 4]], 'parts of a minute add up, per bucket');
    t.strictSame((await tables.seriesBuckets({ ...window, ...odd })).map((b) => b.samples), [1], 'an odd brand and model are their own scope');
    t.strictSame((await tables.seriesBuckets({ ...window, brands: ['Voltra'] })).map((b) => b.samples), [5, 4], 'a tenant\'s brands');
    await tables.write({ series: [{ minute, brand: 'Voltra', model: 'E-Cross', part: 1, sums: sums(0) }] });
    t.strictSame((await tables.seriesBuckets({ ...window, model: 'E-Cross' })).map((b) => b.samples), [3], 'a part written again overwrites it');

    const facts = (n: number, from = 0): string => {
      const map = new Map<string, VehicleFacts>();
      for (let i = from; i < from + n; i++) map.set(`LNBTEST0${String(i).padStart(9, '0')}`, { odoMin: i, odoMax: i + 0.5, charging: i % 2 === 0, faults: false });
      return packFacts(map);
    };
    // more than one string field of InfluxDB (64 KB) holds
    const big = facts(4000);
    t.ok(big.length > 100_000, 'a packed part over 100 KB');
    await tables.write({
      facts: [
        { tier: 'minute', start: minute, brand: 'Voltra', model: 'E-Cross', part: 0, packed: big },
        { tier: 'minute', start: minute, brand: 'Voltra', model: 'E-Cross', part: 3, packed: facts(2, 5000) },
        { tier: 'minute', start: minute, ...odd, part: 0, packed: facts(1, 7000) },
        { tier: '10min', start: Math.floor(minute / (10 * MINUTE_MS)) * 10 * MINUTE_MS, brand: 'Voltra', model: 'E-Cross', part: 0, packed: facts(1) },
      ],
    });
    const read = await tables.readFacts([{ tier: 'minute', lo: minute, hi: minute + MINUTE_MS }], { brand: 'Voltra' });
    t.strictSame(read.map((p) => p.part).sort(), [0, 3], 'both parts of the segment, nothing of other brands or tiers');
    const byStart = await tables.readFacts([{ tier: 'minute', lo: minute, hi: minute + 1 }], { brand: 'Voltra' });
    t.strictSame(byStart.map((p) => [p.start, p.part]).sort(), [[minute, 0], [minute, 3]], 'a range of segment starts holds every part of its segments');
    const back = new Map<string, VehicleFacts>();
    for (const p of read) unpackFacts(p.packed, back);
    t.equal(back.size, 4002, 'every vehicle of the big part comes back');
    t.strictSame(back.get('LNBTEST0000002999'), { odoMin: 2999, odoMax: 2999.5, charging: false, faults: false });
    t.equal((await tables.readFacts([{ tier: 'minute', lo: minute, hi: minute + MINUTE_MS }], odd))[0]?.packed, facts(1, 7000), 'an odd brand and model');
    await tables.write({ facts: [{ tier: 'minute', start: minute, brand: 'Voltra', model: 'E-Cross', part: 0, packed: facts(1) }] });
    const smaller = await tables.readFacts([{ tier: 'minute', lo: minute, hi: minute + MINUTE_MS }], { brand: 'Voltra', model: 'E-Cross' });
    t.strictSame(smaller.find((p) => p.part === 0)?.packed, facts(1), 'a part written again with less in it holds only that');
    await tables.write({ facts: [{ tier: 'minute', start: minute, brand: 'Voltra', model: 'E-Cross', part: 3, packed: '' }] });
    t.strictSame((await tables.readFacts([{ tier: 'minute', lo: minute, hi: minute + MINUTE_MS }], { model: 'E-Cross' })).filter((p) => p.packed !== '').map((p) => p.part), [0], 'an emptied part holds nothing');

    await tables.write({ series: [{ minute: minute + MINUTE_MS, brand: 'Voltra', model: 'E-City', part: 4, sums: sums(1) }] });
    const last = await tables.lastParts([
      { tier: 'minute', start: minute, brand: 'Voltra', model: 'E-Cross' },
      { tier: 'minute', start: minute, ...odd },
      { tier: 'minute', start: minute + MINUTE_MS, brand: 'Voltra', model: 'E-Cross' },
      { tier: 'minute', start: minute + MINUTE_MS, brand: 'Voltra', model: 'E-City' },
    ]);
    t.equal(last.get(segmentKey({ tier: 'minute', start: minute, brand: 'Voltra', model: 'E-Cross' })), 3, 'the last part number, emptied or not');
    t.equal(last.get(segmentKey({ tier: 'minute', start: minute, ...odd })), 0);
    t.equal(last.get(segmentKey({ tier: 'minute', start: minute + MINUTE_MS, brand: 'Voltra', model: 'E-City' })), 4, 'series parts count too (a minute\'s writes are numbered across both)');
    t.equal(last.size, 3, 'a segment without parts has none');

    const day = Math.floor(minute / TIER_SPAN_MS.day) * TIER_SPAN_MS.day;
    // revisions are times after the segment's start, and grow at every write of a mark
    await tables.write({ seals: [{ tier: 'hour', start: day, rev: day + 5 }, { tier: 'day', start: day, rev: day + 7 }] });
    await tables.write({ seals: [{ tier: 'hour', start: day, rev: day + 6 }] });
    t.strictSame((await tables.readSeals(day, day + 1)).sort((a, b) => a.tier.localeCompare(b.tier)), [{ tier: 'day', start: day, rev: day + 7 }, { tier: 'hour', start: day, rev: day + 6 }], 'the last mark written is the segment\'s');
    t.strictSame(await tables.readSeals(day + 1, day + 2), []);
    await tables.write({ seals: [{ tier: 'hour', start: day, rev: day + 8, series: day + 8 }] });
    await tables.write({ seals: [{ tier: 'hour', start: day, rev: day + 9 }] });
    t.strictSame(await tables.readSeals(day, day + 1).then((m) => m.filter((x) => x.tier === 'hour')), [{ tier: 'hour', start: day, rev: day + 9, series: day + 8 }], 'a mark written without the sums\' revision keeps the stored one');
    // a week of revisions later: still the segment's mark, not the next 10 minutes'
    await tables.write({ seals: [{ tier: 'day', start: day, rev: day + 8 * TIER_SPAN_MS.day, series: day + 8 * TIER_SPAN_MS.day }] });
    t.strictSame((await tables.readSeals(day, day + 1)).filter((x) => x.tier === 'day'), [{ tier: 'day', start: day, rev: day + 8 * TIER_SPAN_MS.day, series: day + 8 * TIER_SPAN_MS.day }]);
    t.strictSame(await tables.readSeals(day + 1, day + 20 * MINUTE_MS), [], 'only marks of segments starting in [lo, hi)');
    // of some tiers only: a 10-minute segment at the day's start beside its hour and its day
    await tables.write({ seals: [{ tier: '10min', start: day, rev: day + 3, series: day + 3 }, { tier: '10min', start: day + 10 * MINUTE_MS, rev: day + 10 * MINUTE_MS + 1 }] });
    const tiersOf = (marks: readonly { tier: string; start: number }[]): string[] => marks.map((m) => `${m.tier}@${(m.start - day) / MINUTE_MS}`).sort();
    t.strictSame(tiersOf(await tables.readSeals(day, day + HOUR)), ['10min@0', '10min@10', 'day@0', 'hour@0']);
    t.strictSame(tiersOf(await tables.readSeals(day, day + HOUR, ['hour', 'day'])), ['day@0', 'hour@0'], 'of the tiers asked for');
    t.strictSame((await tables.readSeals(day, day + HOUR, ['10min'])).sort((a, b) => a.start - b.start), [{ tier: '10min', start: day, rev: day + 3, series: day + 3 }, { tier: '10min', start: day + 10 * MINUTE_MS, rev: day + 10 * MINUTE_MS + 1 }], '10 minutes alone');
    t.strictSame(await tables.readSeals(day, day + HOUR, []), [], 'no tier, no mark');
  });

  /** Packed facts of vehicles `from`..`from + n - 1` (odometers i..i + 0.5, every third charging, every fifth a fault). */
  const someFacts = (n: number, from = 0, prefix = 'LNBOPEN0'): string => {
    const map = new Map<string, VehicleFacts>();
    for (let i = from; i < from + n; i++) map.set(`${prefix}${String(i).padStart(9, '0')}`, { odoMin: i, odoMax: i + 0.5, charging: i % 3 === 0, faults: i % 5 === 0 });
    return packFacts(map);
  };

  await t.test('cockpit tables: facts parts keep their write stamps; a read since a stamp, and the segments\' prints', async (t) => {
    const store = await fresh(t);
    const tables = store.cockpit;
    const m0 = Math.floor(base / (10 * MINUTE_MS)) * 10 * MINUTE_MS;
    const ranges = [{ tier: 'minute' as const, lo: m0, hi: m0 + 10 * MINUTE_MS }];
    await tables.write({
      facts: [
        { tier: 'minute', start: m0, brand: 'Voltra', model: 'E-Cross', part: 0, packed: someFacts(3), stamp: 1_000 },
        { tier: 'minute', start: m0, brand: 'Voltra', model: 'E-Cross', part: 1, packed: someFacts(2, 10), stamp: 2_000 },
        { tier: 'minute', start: m0 + MINUTE_MS, brand: 'Kaiyun', model: 'K5', part: 0, packed: someFacts(1, 20), stamp: 3_000 },
        // written as a store of before stamps holds it
        { tier: 'minute', start: m0 + 2 * MINUTE_MS, brand: 'Kaiyun', model: 'K5', part: 0, packed: someFacts(1, 30) },
      ],
    });
    const stamps = (parts: ReadonlyArray<{ start: number; part: number; stamp?: number }>): number[][] => parts.map((p) => [(p.start - m0) / MINUTE_MS, p.part, p.stamp ?? -1]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    t.strictSame(stamps(await tables.readFacts(ranges, {})), [[0, 0, 1_000], [0, 1, 2_000], [1, 0, 3_000], [2, 0, 0]], 'each part\'s stamp; 0 for one written without');
    t.strictSame(stamps(await tables.readFacts(ranges, {}, 2_000)), [[0, 1, 2_000], [1, 0, 3_000]], 'since a stamp: the parts stamped at or after it');
    t.strictSame(stamps(await tables.readFacts(ranges, { brand: 'Kaiyun' }, 1)), [[1, 0, 3_000]], 'in scope, and not a part without a stamp');
    const prints = async (scope = {}): Promise<number[][]> =>
      (await tables.factsPrints(ranges, scope)).map((p) => [(p.start - m0) / MINUTE_MS, p.parts, p.stampSum, p.stampMax, p.tier === 'minute' ? 1 : 0]).sort((a, b) => a[0]! - b[0]!);
    t.strictSame(await prints(), [[0, 2, 3_000, 2_000, 1], [1, 1, 3_000, 3_000, 1], [2, 1, 0, 0, 1]], 'per segment: its parts, the sum and the greatest of their stamps');
    t.strictSame(await prints({ brand: 'Voltra', model: 'E-Cross' }), [[0, 2, 3_000, 2_000, 1]], 'in scope');
    t.strictSame(await prints({ brands: [] }), [], 'no brand, no print');
    // a part written again (several writers recount it) takes its new stamp
    await tables.write({ facts: [{ tier: 'minute', start: m0, brand: 'Voltra', model: 'E-Cross', part: 0, packed: someFacts(1), stamp: 5_000 }] });
    t.strictSame((await prints({ model: 'E-Cross' }))[0], [0, 2, 7_000, 5_000, 1], 'a part written again: its stamp, not the old one');
    t.strictSame(stamps(await tables.readFacts(ranges, { model: 'E-Cross' }, 4_000)), [[0, 0, 5_000]]);
    t.strictSame(await tables.factsPrints([], {}), []);
  });

  await t.test('cockpit tables: facts and prints over several days: every segment on each side of a midnight', async (t) => {
    const store = await fresh(t);
    const tables = store.cockpit;
    const day = 24 * 60 * MINUTE_MS;
    const d0 = Math.floor(base / day) * day - 2 * day;
    // minutes just before and at each midnight, one in between; a 10-minute segment across the range too
    const starts = [d0 - MINUTE_MS, d0, d0 + day - MINUTE_MS, d0 + day, d0 + day + 7 * MINUTE_MS, d0 + 2 * day - MINUTE_MS, d0 + 2 * day];
    await tables.write({
      facts: [
        ...starts.map((start, i) => ({ tier: 'minute' as const, start, brand: 'Voltra', model: 'E-Cross', part: 0, packed: someFacts(1, 10 * i), stamp: 1_000 * (i + 1) })),
        { tier: '10min', start: d0 + day, brand: 'Voltra', model: 'E-Cross', part: 0, packed: someFacts(2), stamp: 9_000 },
      ],
    });
    const of = (parts: ReadonlyArray<{ tier: string; start: number }>): string[] => parts.map((p) => `${p.tier}:${(p.start - d0) / MINUTE_MS}`).sort();
    const all = [...starts.map((x) => `minute:${(x - d0) / MINUTE_MS}`), `10min:${day / MINUTE_MS}`].sort();
    const ranges = [{ tier: 'minute' as const, lo: d0 - 5 * MINUTE_MS, hi: d0 + 2 * day + MINUTE_MS }, { tier: '10min' as const, lo: d0 - day, hi: d0 + 2 * day }];
    t.strictSame(of(await tables.readFacts(ranges, {})), all, 'every part, whichever day it starts in');
    t.strictSame(of(await tables.factsPrints(ranges, {})), all, 'a print of each segment');
    t.strictSame(of(await tables.readFacts(ranges, {}, 6_000)), [`minute:${(2 * day - MINUTE_MS) / MINUTE_MS}`, `minute:${(2 * day) / MINUTE_MS}`, `10min:${day / MINUTE_MS}`].sort(), 'since a stamp, over the days');
    t.strictSame(of(await tables.readFacts([{ tier: 'minute', lo: d0, hi: d0 + 2 * day }], {})), all.filter((k) => k.startsWith('minute:') && k !== 'minute:-1' && k !== `minute:${(2 * day) / MINUTE_MS}`), 'from a midnight to a midnight: the minute before the first and the one at the last left out');
    t.strictSame(of(await tables.readFacts([{ tier: 'minute', lo: d0 + day - 5 * MINUTE_MS, hi: d0 + day + 10 * MINUTE_MS }], {})), [`minute:${(day - MINUTE_MS) / MINUTE_MS}`, `minute:${day / MINUTE_MS}`, `minute:${day / MINUTE_MS + 7}`].sort(), 'a quarter of an hour across a midnight');
    // the minutes' series in buckets of 7 minutes (a midnight cuts some): each bucket's samples added up whole
    await tables.write({ series: starts.map((minute, i) => ({ minute, brand: 'Voltra', model: 'E-Cross', part: 0, sums: { ...EMPTY_SUMS, samples: i + 1 } })) });
    const from = d0 - 5 * MINUTE_MS;
    const interval = 7 * MINUTE_MS;
    const expected = new Map<number, number>();
    starts.forEach((minute, i) => {
      const t = from + Math.floor((minute - from) / interval) * interval;
      expected.set(t, (expected.get(t) ?? 0) + i + 1);
    });
    const buckets = await tables.seriesBuckets({ from, intervalMs: interval, ranges: [{ tier: 'minute', lo: from, hi: d0 + 2 * day + MINUTE_MS }] });
    t.strictSame(buckets.map((b) => [b.t, b.samples]), [...expected].sort((a, b) => a[0] - b[0]), 'the series over the days, a bucket across a midnight summed whole');
    t.ok([...expected.keys()].some((t) => t < d0 + day && t + interval > d0 + day), 'a bucket spans a midnight');
  });

  await t.test('cockpit tables: the keys whose vehicle-minute holds a stored sample, of a few vehicles and of many', async (t) => {
    const store = await fresh(t);
    const m0 = Math.floor(base / MINUTE_MS) * MINUTE_MS - 30 * MINUTE_MS;
    // 80 vehicles (more than the store lists by VIN), each with samples in minutes 0 and 2 only; one VIN not plain
    const vins = Array.from({ length: 80 }, () => randomVin());
    vins[5] = "LNB'QUOTE'0000001";
    await store.writeSamples(vins.flatMap((vin, v) => [storedSample(vin, m0 + 59_999 - v, 1, { [SPEED]: v }), storedSample(vin, m0 + 2 * MINUTE_MS + v, 2, { [SPEED]: v })]));
    const keys = (of: readonly string[]) => of.flatMap((vin) => [0, 1, 2, 3].map((k) => ({ vin, bucket: m0 + k * MINUTE_MS })));
    const held = async (of: readonly string[]): Promise<string[]> => (await store.cockpit.keysWithSamples(keys(of))).map((k) => `${k.vin}@${(k.bucket - m0) / MINUTE_MS}`).sort();
    const expected = (of: readonly string[]): string[] => of.flatMap((vin) => [`${vin}@0`, `${vin}@2`]).sort();
    t.strictSame(await held(vins.slice(0, 3)), expected(vins.slice(0, 3)), 'a few vehicles');
    t.strictSame(await held([vins[5]!]), expected([vins[5]!]), 'a VIN with quotes in it');
    t.strictSame(await held(vins), expected(vins), 'many vehicles');
    t.strictSame(await held([randomVin(), randomVin()]), [], 'vehicles with no sample');
    t.strictSame(await store.cockpit.keysWithSamples([{ vin: vins[0]!, bucket: m0 + MINUTE_MS }]), [], 'a minute without its samples');
  });

  await t.test('segments not sealed yet: a reader keeps their facts, reads only parts added since, and answers as the parts say', async (t) => {
    const store = await fresh(t);
    const tables = store.cockpit;
    // (a reader reads up to 60 such segments at once by default, without their prints)
    const reader = new CockpitReader(tables, { directOpenSegments: 0 });
    const m0 = Math.floor(base / (10 * MINUTE_MS)) * 10 * MINUTE_MS;
    const window = { from: m0, to: m0 + 10 * MINUTE_MS, intervalMs: 10 * MINUTE_MS };
    // what the store holds, per segment and part: the answer is that of the parts from each segment's last base on
    const held = new Map<string, { brand: string; model: string; parts: Map<number, string> }>();
    let stamp = 10_000;
    const write = async (parts: ReadonlyArray<{ minute: number; brand: string; model: string; part: number; packed: string; stamp?: number | null }>): Promise<void> => {
      stamp += 1_000;
      await tables.write({ facts: parts.map((p) => ({ tier: 'minute' as const, start: m0 + p.minute * MINUTE_MS, brand: p.brand, model: p.model, part: p.part, packed: p.packed, ...(p.stamp === null ? {} : { stamp: p.stamp ?? stamp }) })) });
      for (const p of parts) {
        const key = `${p.minute}/${p.brand}/${p.model}`;
        if (!held.has(key)) held.set(key, { brand: p.brand, model: p.model, parts: new Map() });
        held.get(key)!.parts.set(p.part, p.packed);
      }
    };
    const expected = (scope: { brand?: string; model?: string } = {}): { activeVehicles: number; distanceKm: number; chargingVehicles: number; faultVehicles: number } => {
      const all = new Map<string, VehicleFacts>();
      for (const { brand, model, parts } of held.values()) {
        if ((scope.brand !== undefined && brand !== scope.brand) || (scope.model !== undefined && model !== scope.model)) continue;
        const numbers = [...parts.keys()].sort((a, b) => a - b);
        const from = Math.max(0, ...numbers.filter((n) => parts.get(n)!.startsWith(';')));
        for (const n of numbers) if (n >= from) unpackFacts(parts.get(n)!, all);
      }
      let distanceKm = 0;
      for (const f of all.values()) if (f.odoMin !== undefined && f.odoMax !== undefined) distanceKm += f.odoMax - f.odoMin;
      return { activeVehicles: all.size, distanceKm, chargingVehicles: [...all.values()].filter((f) => f.charging).length, faultVehicles: [...all.values()].filter((f) => f.faults).length };
    };
    const ask = async (what: string, scope: { brand?: string; model?: string } = {}): Promise<{ parts: number; cached: number }> => {
      const before = { ...reader.counts };
      const { totals } = await reader.aggregates({ ...window, ...scope }, 'rollup');
      t.strictSame(rounded({ activeVehicles: totals.activeVehicles, distanceKm: totals.distanceKm, chargingVehicles: totals.chargingVehicles, faultVehicles: totals.faultVehicles }), rounded(expected(scope)), what);
      return { parts: reader.counts.openParts - before.openParts, cached: reader.counts.openCached - before.openCached };
    };
    const X = { brand: 'Voltra', model: 'E-Cross' };
    const Y = { brand: 'Kaiyun', model: 'K5' };
    await write([
      { minute: 0, ...X, part: 0, packed: someFacts(4) },
      { minute: 0, ...X, part: 1, packed: someFacts(3, 2) },
      { minute: 1, ...Y, part: 0, packed: someFacts(5, 100) },
    ]);
    t.strictSame(await ask('first question: every part read'), { parts: 3, cached: 0 });
    t.strictSame(await ask('asked again: nothing read, both segments kept'), { parts: 0, cached: 2 });
    await write([{ minute: 0, ...X, part: 2, packed: someFacts(2, 50) }]);
    t.strictSame(await ask('a part added: only it is read'), { parts: 1, cached: 1 });
    t.equal((await ask('a model: its segment kept', X)).parts, 0);
    // several writers recount a minute: part 0 written again with less in it, the part above emptied
    await write([
      { minute: 0, ...X, part: 0, packed: someFacts(1) },
      { minute: 0, ...X, part: 1, packed: '' },
    ]);
    t.equal((await ask('a part written again: its segment read whole, the vehicles gone are gone')).cached, 1);
    await write([{ minute: 1, ...Y, part: 1, packed: basePacked(someFacts(2, 101)) }]);
    t.equal((await ask('a base added: the parts below it no longer count')).cached, 1);
    // a part that lands stamped before the segment's last one (another writer's clock, a write that was under way)
    await write([{ minute: 0, ...X, part: 5, packed: someFacts(2, 70), stamp: 10_500 }]);
    t.equal((await ask('a part stamped before the last one kept: read too')).cached, 1);
    // parts written before stamps were kept, then stamped ones beside them
    await write([{ minute: 2, ...Y, part: 0, packed: someFacts(3, 200), stamp: null }]);
    await ask('a part without a stamp');
    t.strictSame(await ask('kept too'), { parts: 0, cached: 3 });
    await write([{ minute: 2, ...Y, part: 0, packed: someFacts(1, 200) }]);
    await ask('the part without a stamp written again');
    await write([{ minute: 2, ...Y, part: 1, packed: someFacts(2, 300) }]);
    t.equal((await ask('and one added beside it')).parts, 1);
    await ask('a brand', { brand: 'Kaiyun' });
    // many additions to one kept segment: its decoded sets are merged now and then, the answer the same
    for (let i = 0; i < 8; i++) {
      await write([{ minute: 0, ...X, part: 10 + i, packed: someFacts(2, 400 + 3 * i) }]);
      await ask(`addition ${i + 1}`);
    }
    // a reader that keeps nothing, or reads these 10 minutes at once, answers the same
    const again = await new CockpitReader(tables, { cacheBytes: 0, directOpenSegments: 0 }).aggregates(window, 'rollup');
    t.strictSame(rounded(again.totals), rounded((await reader.aggregates(window, 'rollup')).totals), 'a reader that keeps nothing');
    const direct = new CockpitReader(tables);
    t.strictSame(rounded((await direct.aggregates(window, 'rollup')).totals), rounded(again.totals), 'a reader that reads them at once');
    t.equal(direct.counts.openCached, 0, 'and keeps none');
  });

  await t.test('cockpit tables: sealed series sums are read by tier range, bucket and scope, beside minute sums', async (t) => {
    const store = await fresh(t);
    const tables = store.cockpit;
    const hour = Math.floor(base / TIER_SPAN_MS.hour) * TIER_SPAN_MS.hour - 2 * TIER_SPAN_MS.hour;
    const sums = (samples: number) => ({ samples, speedSum: samples * 10, speedCount: samples, socSum: samples, socCount: samples, adasCount: 1, adas2Count: 0 });
    await tables.write({
      series: [
        { minute: hour + 10 * MINUTE_MS, brand: 'Voltra', model: 'E-Cross', part: 0, sums: sums(100) },
        { minute: hour + 61 * MINUTE_MS, brand: 'Voltra', model: 'E-Cross', part: 0, sums: sums(1) },
        { minute: hour + 61 * MINUTE_MS, brand: 'Voltra', model: 'E-Cross', part: 2, sums: sums(2) },
        { minute: hour + 66 * MINUTE_MS, brand: 'Aurel', model: 'A4', part: 0, sums: sums(4) },
      ],
      sealedSeries: [
        { tier: 'hour', start: hour, brand: 'Voltra', model: 'E-Cross', sums: sums(10), stamp: hour + 3 * TIER_SPAN_MS.hour },
        { tier: 'hour', start: hour, brand: 'Aurel', model: 'A4', sums: sums(20), stamp: hour + 3 * TIER_SPAN_MS.hour },
        { tier: '10min', start: hour + 60 * MINUTE_MS, brand: 'Voltra', model: 'E-Cross', sums: sums(3), stamp: hour + 3 * TIER_SPAN_MS.hour },
        { tier: '10min', start: hour + 65 * MINUTE_MS, brand: 'Aurel', model: 'A4', sums: sums(4), stamp: hour + 3 * TIER_SPAN_MS.hour },
        { tier: 'day', start: hour, brand: 'Voltra', model: 'E-Cross', sums: sums(1000), stamp: hour + 3 * TIER_SPAN_MS.hour },
      ],
    });
    const read = { from: hour, intervalMs: 30 * MINUTE_MS };
    const mixed = [
      { tier: 'hour' as const, lo: hour, hi: hour + TIER_SPAN_MS.hour },
      { tier: '10min' as const, lo: hour + 60 * MINUTE_MS, hi: hour + 65 * MINUTE_MS },
      { tier: 'minute' as const, lo: hour + 65 * MINUTE_MS, hi: hour + 70 * MINUTE_MS },
    ];
    t.strictSame((await tables.seriesBuckets({ ...read, ranges: mixed })).map((b) => [(b.t - hour) / MINUTE_MS, b.samples, b.speedSum]), [[0, 30, 300], [60, 7, 70]], 'each row in the bucket it starts in; only the tiers and ranges asked');
    t.strictSame(
      (await tables.seriesBuckets({ ...read, ranges: mixed }, true)).map((b) => [(b.t - hour) / MINUTE_MS, b.brand, b.model, b.samples]).sort((a, b) => String(a).localeCompare(String(b))),
      [[0, 'Aurel', 'A4', 20], [0, 'Voltra', 'E-Cross', 10], [60, 'Aurel', 'A4', 4], [60, 'Voltra', 'E-Cross', 3]].sort((a, b) => String(a).localeCompare(String(b))),
      'per (brand, model)',
    );
    t.strictSame((await tables.seriesBuckets({ ...read, brand: 'Aurel', ranges: mixed })).map((b) => b.samples), [20, 4], 'in scope');
    t.strictSame((await tables.seriesBuckets({ ...read, ranges: [{ tier: '10min', lo: hour, hi: hour + 2 * TIER_SPAN_MS.hour }] })).map((b) => b.samples), [7], 'both halves of 10 minutes');
    await tables.write({ sealedSeries: [{ tier: '10min', start: hour + 65 * MINUTE_MS, brand: 'Aurel', model: 'A4', sums: sums(0), stamp: hour + 3 * TIER_SPAN_MS.hour + 1 }] });
    t.strictSame((await tables.seriesBuckets({ ...read, ranges: [{ tier: '10min', lo: hour, hi: hour + 2 * TIER_SPAN_MS.hour }] })).map((b) => b.samples), [3], 'the sums written last (the greatest stamp) are the piece\'s');
    await tables.write({ sealedSeries: [{ tier: '10min', start: hour + 65 * MINUTE_MS, brand: 'Aurel', model: 'A4', sums: sums(6), stamp: hour + 8 * TIER_SPAN_MS.day }] });
    t.strictSame((await tables.seriesBuckets({ ...read, ranges: [{ tier: '10min', lo: hour, hi: hour + 2 * TIER_SPAN_MS.hour }] })).map((b) => b.samples), [9], 'a week later too');
    t.strictSame(await tables.seriesBuckets({ ...read, ranges: [] }), [], 'no range, no bucket');
  });

  await t.test('rollups counted in memory answer exactly what the raw samples answer, redeliveries counted once', async (t) => {
    const store = await fresh(t);
    const rollups = engine(store);
    const reader = new CockpitReader(store.cockpit);
    const from = Math.floor(base / MINUTE_MS) * MINUTE_MS - 10 * MINUTE_MS;
    const to = from + 20 * MINUTE_MS;
    const [a, b] = [randomVin(), randomVin()];
    const samples = [a, b].flatMap((vin, v) =>
      Array.from({ length: 30 }, (_, i) =>
        storedSample(vin, from + i * 37_000 + v, i, {
          [SPEED]: (i * 11 + v * 5) % 90,
          [ODO]: 500 + v * 100 + i * 0.3,
          [SOC]: 80 - i,
          [CHARGING]: v === 1 && i > 25,
          [ADAS]: i % 3,
          [MIL]: v === 0 && i === 4,
        }),
      ),
    );
    await writeBatch(store, rollups, samples);
    const window = { from, to, intervalMs: 5 * MINUTE_MS };
    const fromRaw = await agree(t, reader, store, window, 'rollups and raw samples agree');
    t.equal(fromRaw.totals.samples, 60);
    t.equal(fromRaw.totals.activeVehicles, 2);
    t.equal(fromRaw.totals.chargingVehicles, 1);
    t.equal(fromRaw.totals.faultVehicles, 1);
    t.ok(Math.abs(fromRaw.totals.distanceKm - 2 * 29 * 0.3) < 1e-9, 'distance: each vehicle\'s odometer span');
    t.equal(fromRaw.totals.adas2Count, 20);
    t.strictSame(fromRaw.series.map((x) => x.t), [0, 1, 2, 3].map((k) => from + k * 5 * MINUTE_MS));

    await writeBatch(store, rollups, samples.slice(0, 10));
    await agree(t, reader, store, window, 'redelivered samples change nothing');
    t.equal((await reader.aggregates(window, 'rollup')).totals.samples, 60);

    t.equal((await reader.aggregates({ ...window, brand: 'NIO' }, 'rollup')).totals.samples, 60);
    t.equal((await reader.aggregates({ ...window, brand: 'NIO', model: 'ET7' }, 'raw')).totals.samples, 60);
    t.equal((await reader.aggregates({ ...window, brand: 'Other' }, 'rollup')).totals.samples, 0);
    t.equal((await reader.aggregates({ ...window, brands: [] }, 'rollup')).totals.samples, 0);
    t.equal((await reader.aggregates({ ...window, brands: ['Other', 'NIO'] }, 'rollup')).totals.activeVehicles, 2);
    await rollups.stop();
  });

  await t.test('answers over hours equal the raw samples\' before and after late samples into sealed segments', async (t) => {
    const store = await fresh(t);
    const rollups = engine(store);
    const reader = new CockpitReader(store.cockpit);
    const h0 = Math.floor(base / HOUR) * HOUR - 5 * HOUR;
    const end = h0 + 4 * HOUR + 40 * MINUTE_MS;
    const fleet = [
      { vin: randomVin(), brand: 'Voltra', model: 'E-Cross' },
      { vin: randomVin(), brand: 'Voltra', model: 'E-City' },
      { vin: randomVin(), brand: 'Kaiyun', model: 'K5' },
    ];
    const sampleOf = (v: number, ts: number, seq: number, extra: Record<string, SignalValue> = {}): StoredSample => ({
      ...storedSample(fleet[v]!.vin, ts, seq, { [SPEED]: (seq * 7 + v * 13) % 110, [ODO]: 1_000 * (v + 1) + seq * 0.4, [SOC]: 90 - (seq % 60), [CHARGING]: v === 2 && seq % 50 < 3, [ADAS]: (seq + v) % 3, ...extra }),
      brand: fleet[v]!.brand,
      model: fleet[v]!.model,
    });
    // vehicle 1 is silent during the third hour
    const samples: StoredSample[] = [];
    for (let ts = h0, seq = 0; ts < end; ts += 97_000, seq++) {
      for (let v = 0; v < fleet.length; v++) if (!(v === 1 && ts >= h0 + 2 * HOUR && ts < h0 + 3 * HOUR)) samples.push(sampleOf(v, ts + v * 1_000, seq));
    }
    // in time order, a quarter of an hour at a time, as a running service would (these hours are long over: they seal)
    for (let at = h0; at < end; at += 15 * MINUTE_MS) await writeBatch(store, rollups, samples.filter((s) => s.ts >= at && s.ts < at + 15 * MINUTE_MS));
    const marks = await store.cockpit.readSeals(h0, end);
    t.ok(marks.some((m) => m.tier === 'hour') && marks.some((m) => m.tier === '10min'), 'hours and 10 minutes are sealed');
    const windows = [
      { from: h0 + 17 * MINUTE_MS, to: end, intervalMs: 5 * MINUTE_MS },
      { from: h0 + HOUR, to: h0 + 3 * HOUR, intervalMs: HOUR },
      { from: h0, to: h0 + 4 * HOUR + 30 * MINUTE_MS, intervalMs: 15 * MINUTE_MS },
      { from: h0 + 2 * HOUR + 10 * MINUTE_MS, to: h0 + 2 * HOUR + 50 * MINUTE_MS, intervalMs: 10 * MINUTE_MS },
      { from: h0 + 3 * MINUTE_MS, to: h0 + 3 * HOUR + 7 * MINUTE_MS, intervalMs: 2 * MINUTE_MS },
    ];
    const scopes = [{}, { brand: 'Voltra' }, { brand: 'Voltra', model: 'E-City' }, { brands: ['Kaiyun'] }];
    const all = async (when: string): Promise<void> => {
      for (const window of windows) for (const scope of scopes) await agree(t, reader, store, { ...window, ...scope }, `${when}: ${JSON.stringify(scope)} ${(window.from - h0) / MINUTE_MS}..${(window.to - h0) / MINUTE_MS} min`);
    };
    await all('in time order');
    t.ok(reader.counts.seriesRows.sealed > 0, 'the series of sealed segments is read from their sealed sums');
    const sumsRead = reader.counts.sumsRead;
    t.ok(sumsRead > 0, 'sealed sums read from the store');
    await all('asked again (sealed segments from the cache)');
    t.ok(reader.counts.segmentsCached > 0, 'sealed segments are kept between questions');
    t.equal(reader.counts.sumsRead, sumsRead, 'asked again, no sealed sums are read from the store: they are kept too');
    t.ok(reader.counts.sumsCached > 0);
    const whole = await reader.aggregates({ from: h0, to: end, intervalMs: 5 * MINUTE_MS }, 'rollup');
    t.equal(whole.totals.samples, samples.length, 'every sample counted once');
    t.equal(whole.totals.activeVehicles, 3);

    // late: a fault and a new odometer high for vehicle 0 in the second hour, vehicle 1 back in its silent hour,
    // and a redelivery of samples already counted
    const late = [
      sampleOf(0, h0 + HOUR + 30 * MINUTE_MS + 500, 10_000, { [ODO]: 5_000, [MIL]: true }),
      sampleOf(1, h0 + 2 * HOUR + 20 * MINUTE_MS + 500, 10_001),
      ...samples.slice(100, 110),
    ];
    await writeBatch(store, rollups, late);
    await all('after late samples');
    const second = await reader.aggregates({ from: h0 + HOUR, to: h0 + 2 * HOUR, intervalMs: HOUR }, 'rollup');
    t.equal(second.totals.faultVehicles, 1, 'the late fault counts');
    const silent = await reader.aggregates({ from: h0 + 2 * HOUR, to: h0 + 3 * HOUR, intervalMs: HOUR, brand: 'Voltra', model: 'E-City' }, 'rollup');
    t.equal(silent.totals.activeVehicles, 1, 'the vehicle is active in its once silent hour');
    t.equal((await reader.aggregates({ from: h0, to: end, intervalMs: 5 * MINUTE_MS }, 'rollup')).totals.samples, samples.length + 2, 'redeliveries counted once');

    // a late sample that changes the values of one already counted: the store keeps the last, so must the cockpit
    const changed = { ...samples[40]!, signals: { ...samples[40]!.signals, [SPEED]: 3, [ODO]: 0.5, [DTC]: 'P0301' } };
    await writeBatch(store, rollups, [changed]);
    await all('after a changed sample');
    await rollups.stop();
  });

  await t.test('late data makes sealed series sums stale: minutes are read meanwhile, exactly, until they are summed again', async (t) => {
    const store = await fresh(t);
    let clock = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const rollups = engine(store, 'incremental', { lateIdleMs: 30_000, now: () => clock });
    const reader = new CockpitReader(store.cockpit);
    const h0 = clock - 2 * HOUR;
    const fleet = [
      { vin: randomVin(), brand: 'Voltra', model: 'E-Cross' },
      { vin: randomVin(), brand: 'Kaiyun', model: 'K5' },
      // sends only late samples: they are added parts (a vehicle with samples in the minute is recounted, and its
      // periods sealed again at once)
      { vin: randomVin(), brand: 'Voltra', model: 'E-Cross' },
    ];
    const sampleOf = (v: number, ts: number, seq: number): StoredSample => ({ ...storedSample(fleet[v]!.vin, ts, seq, { [SPEED]: (seq * 3 + v) % 90, [ODO]: 100 + seq, [SOC]: 50 + (seq % 40) }), ...fleet[v]! });
    const samples: StoredSample[] = [];
    for (let ts = h0, seq = 0; ts < clock; ts += 45_000, seq++) for (let v = 0; v < 2; v++) samples.push(sampleOf(v, ts + v * 500, seq));
    await writeBatch(store, rollups, samples);
    // the late groups leave memory once left alone, then their periods seal (the last hour 4 minutes after its end)
    for (let i = 0; i < 4; i++) {
      clock += 4 * MINUTE_MS;
      await rollups.flush(true);
    }
    const windows = [
      { from: h0, to: h0 + 2 * HOUR, intervalMs: HOUR },
      { from: h0 + 5 * MINUTE_MS, to: h0 + 2 * HOUR, intervalMs: 5 * MINUTE_MS },
      { from: h0 + 7 * MINUTE_MS, to: h0 + 97 * MINUTE_MS, intervalMs: 30 * MINUTE_MS },
    ];
    const ask = async (when: string): Promise<{ minutes: number; sealed: number }> => {
      const before = { ...reader.counts.seriesRows };
      for (const window of windows) for (const scope of [{}, { brand: 'Kaiyun' }]) await agree(t, reader, store, { ...window, ...scope }, `${when}: ${JSON.stringify(scope)} ${(window.from - h0) / MINUTE_MS}..${(window.to - h0) / MINUTE_MS} min`);
      return { minutes: reader.counts.seriesRows.minutes - before.minutes, sealed: reader.counts.seriesRows.sealed - before.sealed };
    };
    const sealed = await ask('sealed');
    t.ok(sealed.sealed > 0, `sealed sums read (${sealed.sealed} pieces, ${sealed.minutes} minutes)`);
    // 7..97 min in 30-minute buckets: 3 minutes before the first 5 minutes of each bucket and 2 after the last
    t.equal(sealed.minutes, 2 * 3 * 5, 'minutes only at the edges of buckets that do not start on 5 minutes');
    // 10-minute buckets from :02 would cut the pieces into a range per bucket edge: the minutes are read instead
    const before = reader.counts.seriesRows.minutes;
    await agree(t, reader, store, { from: h0 + 2 * MINUTE_MS, to: h0 + 2 * HOUR + 2 * MINUTE_MS, intervalMs: 10 * MINUTE_MS }, 'buckets from :02');
    t.equal(reader.counts.seriesRows.minutes - before, 120, 'a plan of too many ranges reads the minutes');

    await writeBatch(store, rollups, [sampleOf(2, h0 + 42 * MINUTE_MS + 100, 9_001), sampleOf(2, h0 + 90 * MINUTE_MS + 100, 9_002)]);
    const stale = await ask('late data, sums stale');
    t.ok(stale.minutes > sealed.minutes, `the changed segments' minutes are read instead (${stale.minutes} minutes)`);
    clock += 31_000;
    await rollups.flush(true);
    const again = await ask('summed again');
    t.equal(again.minutes, sealed.minutes, 'once summed again, the sealed sums are read as before');
    t.equal((await reader.aggregates(windows[0]!, 'rollup')).totals.samples, samples.length + 2, 'every sample once');
    await rollups.stop();
  });

  await t.test('over days in hours the 10-minute marks are read only where hours and days leave minutes; answers stay exact', async (t) => {
    const store = await fresh(t);
    let clock = Math.floor(Date.now() / HOUR) * HOUR + 3 * MINUTE_MS;
    const rollups = engine(store, 'incremental', { lateIdleMs: 30_000, now: () => clock });
    // the reader's mark reads, recorded: [lo, hi, tiers]
    const reads: Array<{ lo: number; hi: number; tiers?: readonly string[] }> = [];
    const tables = Object.create(store.cockpit) as typeof store.cockpit;
    tables.readSeals = (lo, hi, tiers) => {
      reads.push({ lo, hi, ...(tiers ? { tiers } : {}) });
      return store.cockpit.readSeals(lo, hi, tiers);
    };
    const reader = new CockpitReader(tables);
    const day = TIER_SPAN_MS.day;
    const d0 = Math.floor(clock / day) * day - 3 * day;
    const fleet = [
      { vin: randomVin(), brand: 'Voltra', model: 'E-Cross' },
      { vin: randomVin(), brand: 'Kaiyun', model: 'K5' },
    ];
    const sampleOf = (v: number, ts: number, seq: number, extra: Record<string, SignalValue> = {}): StoredSample => ({ ...storedSample(fleet[v]!.vin, ts, seq, { [SPEED]: (seq * 3 + v) % 90, [ODO]: 100 + seq, [SOC]: 50 + (seq % 40), ...extra }), ...fleet[v]! });
    const samples: StoredSample[] = [];
    for (let ts = d0, seq = 0; ts < clock - 25 * MINUTE_MS; ts += 10 * MINUTE_MS, seq++) for (let v = 0; v < 2; v++) samples.push(sampleOf(v, ts + v * 500, seq));
    for (let at = d0; at < clock; at += 12 * HOUR) await writeBatch(store, rollups, samples.filter((x) => x.ts >= at && x.ts < at + 12 * HOUR));
    // the late groups leave memory, their periods seal, then (the sole writer, when left alone) their sums are made
    const summed = async (): Promise<boolean> => (await store.cockpit.readSeals(d0, clock)).every((m) => m.series === m.rev);
    for (let i = 0; i < 400 && !(i > 4 && (await summed())); i++) {
      clock += MINUTE_MS;
      await rollups.flush(true);
    }
    const next5 = Math.ceil(clock / (5 * MINUTE_MS)) * 5 * MINUTE_MS;
    const windows = [
      { from: next5 - 3 * day, to: next5, intervalMs: HOUR },
      // ends in the past whatever the hour (the current day's first hours hold no data, so they are not sealed)
      { from: d0 + 2 * HOUR, to: d0 + 2 * day + 14 * HOUR, intervalMs: 3 * HOUR },
      { from: d0, to: next5, intervalMs: day },
    ].map((w) => ({ ...w, from: Math.floor(w.from / HOUR) * HOUR }));
    /** Every window in every scope, against the raw samples; the minutes of 10-minute marks read besides the window's last hours. */
    const ask = async (when: string): Promise<number> => {
      reads.length = 0;
      for (const window of windows) for (const scope of [{}, { brand: 'Kaiyun' }]) await agree(t, reader, store, { ...window, ...scope }, `${when}: ${JSON.stringify(scope)} ${(window.from - d0) / HOUR}..${(window.to - d0) / HOUR} h`);
      t.ok(reads.every((r) => r.tiers !== undefined), `${when}: no window reads every tier's marks`);
      let minutes = 0;
      const ends = new Set(windows.map((w) => w.to));
      for (const r of reads) if (r.tiers?.includes('10min') && !ends.has(r.hi)) minutes += (r.hi - r.lo) / MINUTE_MS;
      return minutes;
    };
    const sealed = await ask('sealed');
    const marks = await store.cockpit.readSeals(d0, next5);
    t.ok(marks.some((m) => m.tier === 'day') && marks.some((m) => m.tier === 'hour'), 'days and hours are sealed');
    t.ok(await summed(), 'and their sums made');
    t.equal(sealed, 0, 'over sealed days and hours 10-minute marks are read only in the windows\' last hours');
    // a late sample in the middle of the second day: its hour's sums are stale (until summed again), so the question
    // reads that hour's 10 minutes
    const lateAt = d0 + day + 13 * HOUR + 22 * MINUTE_MS;
    await writeBatch(store, rollups, [sampleOf(0, lateAt, 9_001, { [ODO]: 9_000, [MIL]: true })]);
    const stale = await ask('late data, sums stale');
    t.ok(reads.some((r) => r.tiers?.includes('10min') && r.lo <= lateAt && r.hi > lateAt), 'the stale hour\'s 10-minute marks are read');
    t.ok(stale > sealed, `more 10-minute marks read (${stale} minutes)`);
    clock += 31_000;
    await rollups.flush(true);
    await ask('summed again');
    t.equal((await reader.aggregates({ from: d0, to: next5, intervalMs: HOUR }, 'rollup')).totals.samples, samples.length + 1, 'every sample once');
    // two days or less, or buckets off the hour: every tier at once, as before
    reads.length = 0;
    await agree(t, reader, store, { from: next5 - 2 * day, to: next5, intervalMs: 5 * MINUTE_MS }, 'two days in 5 minutes');
    await agree(t, reader, store, { from: d0 + 5 * MINUTE_MS, to: next5, intervalMs: HOUR }, '3 days from :05');
    t.strictSame(reads.map((r) => r.tiers), [undefined, undefined], 'every tier\'s marks in one read');
    await rollups.stop();
  });

  await t.test('hostile brand and model names, out of order, duplicates inside a batch, a sample rewritten with other values', async (t) => {
    const store = await fresh(t);
    const rollups = engine(store);
    const reader = new CockpitReader(store.cockpit);
    const from = Math.floor(base / MINUTE_MS) * MINUTE_MS - 5 * MINUTE_MS;
    const [a, b] = [randomVin(), randomVin()];
    const odd = (vin: string, ts: number, seq: number, signals: Record<string, SignalValue>): StoredSample => ({ ...storedSample(vin, ts, seq, signals), brand: 'Brand, with=commas', model: 'Mödel \\ "quoted"' });
    const samples = [a, b].flatMap((vin, v) =>
      Array.from({ length: 40 }, (_, i) =>
        odd(vin, from + i * 9_000 + v * 7, i, { [SPEED]: (i * 13 + v) % 120, [ODO]: 900 + v * 50 + i * 0.25, [SOC]: 70 - i / 2, [CHARGING]: i % 7 === 0, [ADAS]: i % 4, [MIL]: v === 1 && i === 3, [DTC]: i === 11 ? 'P0420' : '' }),
      ),
    );
    const shuffled = [...samples].reverse();
    for (const batch of [shuffled.slice(0, 30), [...shuffled.slice(30, 60), ...shuffled.slice(0, 5)], shuffled.slice(60)]) await writeBatch(store, rollups, batch);
    const window = { from, to: from + 8 * MINUTE_MS, intervalMs: MINUTE_MS };
    t.equal((await agree(t, reader, store, window, 'memory counts equal the raw samples')).totals.samples, 80, 'each sample counted once');
    await agree(t, reader, store, { ...window, brand: 'Brand, with=commas', model: 'Mödel \\ "quoted"' }, 'scoped by the odd names');
    const changed = { ...samples[0]!, signals: { ...samples[0]!.signals, [SPEED]: 5, [CHARGING]: true } };
    await writeBatch(store, rollups, [changed]);
    const after = await agree(t, reader, store, window, 'a sample written again with other values: the store keeps the last, and so does the cockpit');
    t.equal(after.totals.samples, 80);
    await rollups.stop();
  });

  await t.test('after a restart, what the last process had not written is recounted, and late data for old minutes is added', async (t) => {
    const store = await fresh(t);
    const reader = new CockpitReader(store.cockpit);
    const now = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const vins = [randomVin(), randomVin(), randomVin()];
    const live = (offset: number) => vins.map((vin, v) => storedSample(vin, now - 2 * MINUTE_MS + offset + v, offset / 1000, { [SPEED]: v * 10 + offset / 1000, [ODO]: 100 * v + offset / 10_000, [CHARGING]: v === 2 }));
    // the first process, whose clock says the minute of its samples is still open, writes series each round but not
    // the facts of open minutes, then dies without stopping
    let firstClock = now - 2 * MINUTE_MS + 50_000;
    const first = engine(store, 'incremental', { factsFlushMs: 3_600_000, now: () => firstClock });
    for (const offset of [0, 20_000, 40_000, 70_000]) {
      firstClock = now - 2 * MINUTE_MS + offset + 10_000;
      const batch = live(offset);
      await first.prepare(batch);
      await store.writeSamples(batch);
      const done = first.track(batch);
      await first.flush();
      await done;
    }
    const window = { from: now - 10 * MINUTE_MS, to: now + MINUTE_MS, intervalMs: MINUTE_MS };
    const before = await reader.aggregates(window, 'rollup');
    t.equal(before.totals.samples, 12, 'series sums are written with every round');
    const second = engine(store);
    await writeBatch(store, second, live(80_000));
    await agree(t, reader, store, window, 'the second process recounted the open minutes of the first');
    // a late batch for minutes an hour ago: added as parts, no recount of those minutes needed
    const old = vins.map((vin, v) => storedSample(vin, now - HOUR + v * 1000, 1_000 + v, { [SPEED]: 42, [ODO]: 7 + v }));
    await writeBatch(store, second, old);
    await agree(t, reader, store, { from: now - 2 * HOUR, to: now + MINUTE_MS, intervalMs: 10 * MINUTE_MS }, 'late data in');
    await second.stop();
  });

  await t.test('several writers (recompute strategy): each recounts what it touched; duplicates across them count once', async (t) => {
    const store = await fresh(t);
    const reader = new CockpitReader(store.cockpit);
    const w1 = engine(store, 'recompute');
    const w2 = engine(store, 'recompute');
    const h0 = Math.floor(base / HOUR) * HOUR - 3 * HOUR;
    const vins = [randomVin(), randomVin(), randomVin(), randomVin()];
    const samples: StoredSample[] = [];
    for (let i = 0; i < 120; i++) for (const [v, vin] of vins.entries()) samples.push(storedSample(vin, h0 + i * 83_000 + v, i, { [SPEED]: (i + v * 3) % 100, [ODO]: 10 * v + i * 0.2, [ADAS]: (i + v) % 3, [CHARGING]: v === 3 && i > 100 }));
    // round robin between the two, every tenth sample to both (a redelivery that reached the other worker)
    for (let i = 0; i < samples.length; i += 40) {
      const chunk = samples.slice(i, i + 40);
      await Promise.all([
        writeBatch(store, w1, chunk.filter((_, k) => k % 2 === 0 || k % 10 === 1)),
        writeBatch(store, w2, chunk.filter((_, k) => k % 2 === 1 || k % 10 === 0)),
      ]);
    }
    // the settle pass of each: recounts again what it touched
    await w1.flush(true);
    await w2.flush(true);
    for (const window of [
      { from: h0, to: h0 + 3 * HOUR, intervalMs: 10 * MINUTE_MS },
      { from: h0 + 7 * MINUTE_MS, to: h0 + 2 * HOUR + 3 * MINUTE_MS, intervalMs: 5 * MINUTE_MS },
    ]) {
      const answer = await agree(t, reader, store, window, `two writers: ${(window.from - h0) / MINUTE_MS}..${(window.to - h0) / MINUTE_MS} min`);
      if (window.from === h0) t.equal(answer.totals.samples, samples.length);
    }
    await w1.stop();
    await w2.stop();
  });
}
