// The cockpit engine's in-memory book: a vehicle-minute's sample offsets (told apart to recognise a redelivery) and
// the (brand, model) keys its groups are found by.
import fc from 'fast-check';
import t from 'tap';
import { groupKey, OffsetSet } from '../../services/cockpit/book.ts';

t.test('an offset set says whether an offset is new, in any order, as a Set does', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 59_999 }), { maxLength: 200 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 200 }), (offsets, repeats) => {
      // offsets and some of them again (the first, a repeat of the first, in and out of order)
      const asked = [...offsets, ...repeats.filter((i) => i < offsets.length).map((i) => offsets[i]!)];
      const set = new OffsetSet();
      const model = new Set<number>();
      for (const offset of asked) {
        if (set.add(offset) !== !model.has(offset)) return false;
        model.add(offset);
        if (set.size !== model.size) return false;
      }
      return true;
    }),
    { seed: 20261207, numRuns: 500 },
  );
  const one = new OffsetSet();
  t.equal(one.add(0), true, 'offset 0 is an offset');
  t.equal(one.add(0), false, 'and a repeat of it is told');
  t.equal(one.add(59_999), true);
  t.equal(one.add(0), false, 'also once there are two');
  t.equal(one.size, 2);
});

t.test('a group key is one string per (brand, model), and no two pairs share one', async (t) => {
  t.equal(groupKey('Voltra', 'E-Cross'), groupKey(['Vol', 'tra'].join(''), 'E-Cross'), 'the same pair, the same key');
  const keys = new Set<string>();
  for (let b = 0; b < 400; b++) for (let m = 0; m < 300; m++) keys.add(groupKey(`brand ${b}`, `model ${m}`));
  t.equal(keys.size, 120_000, 'distinct pairs, distinct keys, past the number kept');
  t.equal(groupKey('brand 3', 'model 7'), 'brand 3\u0000model 7');
});
