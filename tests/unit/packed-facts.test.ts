import t from 'tap';
import { BLOCK_MS, mergeFacts, packFacts, planCover, segmentSealed, TIER_SPANS_MS, unpackFacts, VEHICLES_PER_PART, type VehicleFacts } from '../../services/store/packed-facts.ts';

const M = 60_000;
const H = 3_600_000;

t.test('packed facts round-trip', async (t) => {
  const facts = new Map<string, VehicleFacts>([
    ['LNBSCB3F5JW100001', { odoMin: 10_000.123456789, odoMax: 10_012.1, charging: true, faults: false }],
    ['odd,vin;"\\%', { charging: false, faults: true }],
    ['LNBSCB3F5JW100002', { odoMin: 0.1 + 0.2, odoMax: 1e21, charging: true, faults: true }],
  ]);
  const parts = packFacts(facts);
  t.equal(parts.length, 1);
  t.notMatch(parts[0]!, /["\\]/, 'no character that line protocol would need to escape');
  const back = new Map<string, VehicleFacts>();
  unpackFacts(parts[0]!, back);
  t.strictSame(back, facts, 'every number and flag comes back exactly, an odd VIN too');

  unpackFacts('LNBSCB3F5JW100001,9000,10000,0;LNBSCB3F5JW100002,,2e21,0', back);
  t.strictSame(back.get('LNBSCB3F5JW100001'), { odoMin: 9000, odoMax: 10_012.1, charging: true, faults: false }, 'merging takes the min, the max and any flag');
  t.strictSame(back.get('LNBSCB3F5JW100002'), { odoMin: 0.1 + 0.2, odoMax: 2e21, charging: true, faults: true }, 'an unknown odometer leaves the known one');
  unpackFacts('', back);
  unpackFacts('garbage;%E0%A4%A,1,2,0', back);
  t.equal(back.size, 3, 'malformed entries are skipped');

  const many = new Map<string, VehicleFacts>();
  for (let i = 0; i < 2 * VEHICLES_PER_PART + 1; i++) mergeFacts(many, `V${String(i).padStart(16, '0')}`, { odoMin: i, odoMax: i + 1, charging: false, faults: false });
  const split = packFacts(many);
  t.equal(split.length, 3, 'a big model is split into parts');
  const all = new Map<string, VehicleFacts>();
  for (const part of split) unpackFacts(part, all);
  t.strictSame(all, many, 'the parts hold every vehicle once');
});

t.test('covering a window with segments', async (t) => {
  t.strictSame(TIER_SPANS_MS.slice(0, 5), [M, 5 * M, 15 * M, H, 2 * H]);
  for (let i = 1; i < TIER_SPANS_MS.length; i++) t.equal(TIER_SPANS_MS[i]! % TIER_SPANS_MS[i - 1]!, 0, `span ${i} is a multiple of the one below`);
  const h0 = 1_795_000_000_000 - (1_795_000_000_000 % (128 * H));
  const all = () => true;
  t.strictSame(planCover(h0 + 3 * M, h0 + 7 * M, all), [{ tier: 0, lo: h0 + 3 * M, hi: h0 + 7 * M }], 'no whole block inside: minutes only');
  t.strictSame(planCover(h0 + 3 * M, h0 + 13 * M, all), [
    { tier: 0, lo: h0 + 3 * M, hi: h0 + 5 * M },
    { tier: 1, lo: h0 + 5 * M, hi: h0 + 10 * M },
    { tier: 0, lo: h0 + 10 * M, hi: h0 + 13 * M },
  ], 'a whole block inside');
  const window = { from: h0 + 37 * M, to: h0 + 24 * H + 37 * M };
  const parts = planCover(window.from, window.to, all);
  t.strictSame(parts, [
    { tier: 0, lo: h0 + 37 * M, hi: h0 + 40 * M },
    { tier: 1, lo: h0 + 40 * M, hi: h0 + 45 * M },
    { tier: 2, lo: h0 + 45 * M, hi: h0 + H },
    { tier: 3, lo: h0 + H, hi: h0 + 2 * H },
    { tier: 4, lo: h0 + 2 * H, hi: h0 + 4 * H },
    { tier: 5, lo: h0 + 4 * H, hi: h0 + 8 * H },
    { tier: 6, lo: h0 + 8 * H, hi: h0 + 16 * H },
    { tier: 6, lo: h0 + 16 * H, hi: h0 + 24 * H },
    { tier: 2, lo: h0 + 24 * H, hi: h0 + 24 * H + 30 * M },
    { tier: 1, lo: h0 + 24 * H + 30 * M, hi: h0 + 24 * H + 35 * M },
    { tier: 0, lo: h0 + 24 * H + 35 * M, hi: h0 + 24 * H + 37 * M },
  ].reduce<typeof parts>((out, p) => {
    const last = out[out.length - 1];
    if (last && last.tier === p.tier && last.hi === p.lo) last.hi = p.hi;
    else out.push({ ...p });
    return out;
  }, []), 'the largest segments that fit, smaller ones toward the edges');
  t.ok(parts.length <= 11, 'a 24 h window needs few statements');

  const sealed = new Set<number>();
  for (let b = h0; b < h0 + 3 * H; b += BLOCK_MS) if (b !== h0 + H + 20 * M) sealed.add(b);
  const complete = (tier: number, start: number) => segmentSealed(tier, start, sealed);
  t.notOk(complete(3, h0 + H), 'an hour with an unsealed block is not complete');
  t.ok(complete(3, h0 + 2 * H));
  t.notOk(complete(2, h0 + H + 15 * M), 'nor is its quarter');
  t.ok(complete(2, h0 + H + 30 * M));
  t.ok(complete(0, h0 + 5 * H), 'minutes always are');
  const gappy = planCover(h0, h0 + 3 * H + 5 * M, complete);
  const covered = gappy.reduce((sum, p) => sum + (p.hi - p.lo), 0);
  t.equal(covered, 3 * H + 5 * M, 'the parts cover the window exactly');
  t.ok(gappy.every((p, i) => i === 0 || p.lo === gappy[i - 1]!.hi), 'in order, without gaps or overlaps');
  for (const p of gappy) for (let s = p.lo; s < p.hi; s += TIER_SPANS_MS[p.tier]!) t.ok(complete(p.tier, s), `segment ${p.tier}@${s - h0} is complete`);
  t.ok(gappy.some((p) => p.tier === 1 && p.hi === h0 + H + 20 * M), 'a block before the unsealed one');
  t.ok(gappy.some((p) => p.tier === 0 && p.lo === h0 + H + 20 * M && p.hi === h0 + H + 25 * M), 'the unsealed block from minutes');
});
