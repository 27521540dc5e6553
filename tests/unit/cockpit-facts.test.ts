// Per-vehicle facts (packing, merging, decoding) and how a window is covered by segments.
import t from 'tap';
import { basePacked, currentParts, decodeFacts, FactsMerge, mergeFacts, packFacts, unpackFacts, VinNumbers, type VehicleFacts } from '../../services/cockpit/facts.ts';
import { planCover, planSeries } from '../../services/cockpit/periods.ts';
import { chunksOf, stampedNs } from '../../services/store/influx/cockpit-tables.ts';
import { FACT_TIERS, SERIES_PIECE_MS, TIER_SPAN_MS } from '../../services/store/cockpit-tables.ts';

const M = 60_000;
const H = 3_600_000;
const D = 24 * H;

t.test('packed facts round-trip, merge and skip what they did not write', async (t) => {
  const facts = new Map<string, VehicleFacts>([
    ['LNBSCB3F5JW100001', { odoMin: 10_000.123456789, odoMax: 10_012.1, charging: true, faults: false }],
    ['odd,vin;"\\%', { charging: false, faults: true }],
    ['LNBSCB3F5JW100002', { odoMin: 0.1 + 0.2, odoMax: 1e21, charging: true, faults: true }],
  ]);
  const packed = packFacts(facts);
  t.notMatch(packed, /["\\]/, 'no character that line protocol would need to escape');
  const back = new Map<string, VehicleFacts>();
  unpackFacts(packed, back);
  t.strictSame(back, facts, 'every number and flag comes back exactly, an odd VIN too');

  unpackFacts('LNBSCB3F5JW100001,9000,10000,0;LNBSCB3F5JW100002,,2e21,0', back);
  t.strictSame(back.get('LNBSCB3F5JW100001'), { odoMin: 9000, odoMax: 10_012.1, charging: true, faults: false }, 'merging takes the min, the max and any flag');
  t.strictSame(back.get('LNBSCB3F5JW100002'), { odoMin: 0.1 + 0.2, odoMax: 2e21, charging: true, faults: true }, 'an unknown odometer leaves the known one');
  unpackFacts('', back);
  unpackFacts('garbage;%E0%A4%A,1,2,0;,1,2,0;X,1,2,notaflag', back);
  t.equal(back.size, 3, 'malformed entries are skipped');
  t.equal(packFacts(new Map()), '', 'no vehicles: an empty string');

  const into = new Map<string, VehicleFacts>();
  t.equal(mergeFacts(into, 'A', { odoMin: 1, odoMax: 2, charging: false, faults: false }), true, 'a new vehicle changes the map');
  t.equal(mergeFacts(into, 'A', { odoMin: 1.5, odoMax: 2, charging: false, faults: false }), false, 'facts inside the known ones change nothing');
  t.equal(mergeFacts(into, 'A', { odoMin: 1.5, odoMax: 3, charging: false, faults: false }), true, 'a new odometer high does');
  t.equal(mergeFacts(into, 'A', { charging: false, faults: true }), true, 'so does a first fault');
});

t.test('decoded facts merge per vehicle across segments and total up', async (t) => {
  const numbers = new VinNumbers();
  const a = decodeFacts(['A,10,12,1;B,5,5,0', 'A,9,11,0'], numbers);
  t.strictSame([...a.ids], [0, 1], 'a vehicle in two parts is one slot');
  t.strictSame([...a.odoMin], [9, 5]);
  t.strictSame([...a.odoMax], [12, 5]);
  t.strictSame([...a.flags], [1, 0]);
  const b = decodeFacts(['C,,,2;B,4,8,0'], numbers);
  const merge = new FactsMerge();
  merge.reset(numbers.size);
  merge.add(a);
  merge.add(b);
  t.strictSame(merge.totals(), { activeVehicles: 3, distanceKm: 3 + 4, chargingVehicles: 1, faultVehicles: 1 }, 'C has no odometer: active, no distance');
  merge.reset(numbers.size);
  merge.add(b);
  t.strictSame(merge.totals(), { activeVehicles: 2, distanceKm: 4, chargingVehicles: 0, faultVehicles: 1 }, 'a reset forgets the last merge');
});

t.test('a packed string over 64 KB is split at entry boundaries, and joins back', async (t) => {
  const facts = new Map<string, VehicleFacts>();
  for (let i = 0; i < 5_000; i++) facts.set(`LNBSCB3F5JW${String(i).padStart(6, '0')}`, { odoMin: i, odoMax: i + 0.25, charging: false, faults: i % 3 === 0 });
  const packed = packFacts(facts);
  const chunks = chunksOf(packed);
  t.ok(chunks.length >= 3, `${chunks.length} chunks`);
  t.ok(chunks.every((c) => c.length <= 60_000 && !c.startsWith(';') && !c.endsWith(';')), 'each fits a string field and holds whole entries');
  t.equal(chunks.join(';'), packed);
  t.strictSame(chunksOf('x'), ['x']);
});

t.test('covering a window with segments', async (t) => {
  for (let i = 1; i < FACT_TIERS.length; i++) t.equal(TIER_SPAN_MS[FACT_TIERS[i]!] % TIER_SPAN_MS[FACT_TIERS[i - 1]!], 0, `${FACT_TIERS[i]} is a multiple of ${FACT_TIERS[i - 1]}`);
  const d0 = 1_795_000_000_000 - (1_795_000_000_000 % D);
  const all = () => true;
  t.strictSame(planCover(d0 + 3 * M, d0 + 7 * M, all), [{ tier: 'minute', lo: d0 + 3 * M, hi: d0 + 7 * M }], 'no whole 10 minutes inside: minutes only');
  t.strictSame(planCover(d0 + 3 * M, d0 + 23 * M, all), [
    { tier: 'minute', lo: d0 + 3 * M, hi: d0 + 10 * M },
    { tier: '10min', lo: d0 + 10 * M, hi: d0 + 20 * M },
    { tier: 'minute', lo: d0 + 20 * M, hi: d0 + 23 * M },
  ], 'a whole 10 minutes inside');
  const parts = planCover(d0 + 37 * M, d0 + 24 * H + 37 * M, all);
  t.strictSame(parts, [
    { tier: 'minute', lo: d0 + 37 * M, hi: d0 + 40 * M },
    { tier: '10min', lo: d0 + 40 * M, hi: d0 + H },
    { tier: 'hour', lo: d0 + H, hi: d0 + D },
    { tier: '10min', lo: d0 + D, hi: d0 + D + 30 * M },
    { tier: 'minute', lo: d0 + D + 30 * M, hi: d0 + D + 37 * M },
  ], '24 h not on a day: minutes, 10 minutes and hours');
  const segments = parts.reduce((n, p) => n + (p.hi - p.lo) / TIER_SPAN_MS[p.tier], 0);
  t.equal(segments, 3 + 2 + 23 + 3 + 7, 'about 40 segments per model for 24 h');
  const week = planCover(d0 + 37 * M, d0 + 7 * D + 37 * M, all);
  t.ok(week.some((p) => p.tier === 'day'), 'a week uses days');
  t.ok(week.reduce((n, p) => n + (p.hi - p.lo) / TIER_SPAN_MS[p.tier], 0) < 60, 'and fewer than 60 segments');
  // only sealed segments are used: one hour is not, so its 10 minutes (all sealed) stand in for it
  const without = planCover(d0, d0 + 3 * H, (tier, start) => !(tier === 'hour' && start === d0 + H));
  t.strictSame(without, [
    { tier: 'hour', lo: d0, hi: d0 + H },
    { tier: '10min', lo: d0 + H, hi: d0 + 2 * H },
    { tier: 'hour', lo: d0 + 2 * H, hi: d0 + 3 * H },
  ]);
  t.strictSame(planCover(d0, d0 + 2 * H, () => false), [{ tier: 'minute', lo: d0, hi: d0 + 2 * H }], 'nothing sealed: minutes');
});

t.test('a series is read per bucket from the largest current sealed pieces inside it, minutes elsewhere', async (t) => {
  const d0 = 1_795_000_000_000 - (1_795_000_000_000 % D);
  const all = () => true;
  const rows = (parts: ReturnType<typeof planSeries>) => parts.reduce((n, p) => n + (p.hi - p.lo) / (p.tier === 'minute' ? M : SERIES_PIECE_MS[p.tier]), 0);
  // the cockpit's default 24 h: 288 buckets of 5 minutes, each one half of sealed 10 minutes
  const day = planSeries(d0 + 35 * M, d0 + D + 35 * M, 5 * M, all);
  t.strictSame(day, [{ tier: '10min', lo: d0 + 35 * M, hi: d0 + D + 35 * M }], '5-minute buckets: halves of 10 minutes, one range');
  t.equal(rows(day), 288, 'a row per model and bucket, not per minute (1,440)');
  // a week in hours: whole hours (a day's sums do not fit in an hour's bucket)
  const week = planSeries(d0, d0 + 7 * D, H, all);
  t.strictSame(week, [{ tier: 'hour', lo: d0, hi: d0 + 7 * D }]);
  t.strictSame(planSeries(d0, d0 + 2 * D, D, all), [{ tier: 'day', lo: d0, hi: d0 + 2 * D }], 'days in day buckets');
  // buckets not on 5 minutes: minutes at their edges
  t.strictSame(planSeries(d0 + 3 * M, d0 + 33 * M, 30 * M, all), [
    { tier: 'minute', lo: d0 + 3 * M, hi: d0 + 5 * M },
    { tier: '10min', lo: d0 + 5 * M, hi: d0 + 30 * M },
    { tier: 'minute', lo: d0 + 30 * M, hi: d0 + 33 * M },
  ]);
  // a bucket narrower than a piece, or pieces not current: minutes
  t.strictSame(planSeries(d0, d0 + 4 * M, 2 * M, all), [{ tier: 'minute', lo: d0, hi: d0 + 4 * M }]);
  const stale = planSeries(d0, d0 + 2 * H, H, (tier, start) => !(tier === 'hour' && start === d0 + H) && !(tier === '10min' && start === d0 + H + 20 * M));
  t.strictSame(stale, [
    { tier: 'hour', lo: d0, hi: d0 + H },
    { tier: '10min', lo: d0 + H, hi: d0 + H + 20 * M },
    { tier: 'minute', lo: d0 + H + 20 * M, hi: d0 + H + 30 * M },
    { tier: '10min', lo: d0 + H + 30 * M, hi: d0 + 2 * H },
  ], 'an hour whose sums are stale: its 10 minutes, and the minutes of the stale 10 minutes');
  t.strictSame(planSeries(d0, d0 + H, 15 * M, () => false), [{ tier: 'minute', lo: d0, hi: d0 + H }], 'nothing current: minutes');
});

t.test('a base part holds its whole segment: the parts below it no longer count, and readers that ignore bases read it', async (t) => {
  const part = (start: number, part: number, packed: string, model = 'E-Cross') => ({ tier: 'minute' as const, start, brand: 'Voltra', model, part, packed });
  const parts = [
    part(0, 2, 'B,1,2,0'),
    part(0, 0, 'A,1,2,0'),
    part(0, 1, basePacked('C,5,6,1')),
    part(M, 0, 'D,1,1,0'),
    part(M, 1, basePacked('')),
    part(0, 0, 'E,1,1,0', 'E-City'),
    part(0, 3, 'F,1,1,0'),
  ];
  const current = currentParts(parts);
  t.strictSame(current.filter((p) => p.start === 0 && p.model === 'E-Cross').map((p) => p.part), [1, 2, 3], 'from the last base on, in part order');
  t.strictSame(current.filter((p) => p.start === M).map((p) => p.part), [1], 'an empty base empties the segment');
  t.strictSame(current.filter((p) => p.model === 'E-City').map((p) => p.part), [0], 'per (brand, model): another model keeps its parts');
  const back = new Map<string, VehicleFacts>();
  for (const p of current) unpackFacts(p.packed, back);
  t.strictSame([...back.keys()].sort(), ['B', 'C', 'E', 'F'], 'a base is read as the entries it holds');
  const odd = new Map<string, VehicleFacts>([[';odd', { charging: false, faults: false }]]);
  t.notOk(packFacts(odd).startsWith(';'), 'no packed entry starts like a base');
});

t.test('marks and sealed sums written many times: later stamps are later points, within the segment, never the same one', async (t) => {
  const start = 1_795_000_200_000;
  t.equal(stampedNs(start, start, 10 * M), `${start}000000`);
  t.equal(stampedNs(start, start + 1, 10 * M), `${start}000001`, 'a stamp 1 ms later is 1 ns later');
  t.equal(BigInt(stampedNs(start, start + 8 * D, 5 * M)), BigInt(start) * 1_000_000n + BigInt(8 * D), 'a week of revisions later: 0.69 s of nanoseconds after the start');
  t.ok(BigInt(stampedNs(start, start + 8 * D, 5 * M)) < BigInt(start + 1000) * 1_000_000n, 'inside its first second');
  t.equal(stampedNs(start, start - 5, 10 * M), `${start}000000`, 'a stamp before the start: at the start');
});
