// What the only writer knows it counted: a bit per (vehicle, minute), within a budget (services/cockpit/written.ts).
import t from 'tap';
import { WrittenMinutes } from '../../services/cockpit/written.ts';

const MINUTE = 60_000;
const vin = (i: number): string => `LNBSCB3F5JW${String(100_000 + i)}`;

t.test('a bit per vehicle and minute: exact for every vehicle, also those added after a minute was sized', async (t) => {
  const written = new WrittenMinutes(1024 ** 2);
  const m = 100 * MINUTE;
  written.add(vin(0), m);
  // more vehicles than the minute's set was sized for: it grows
  for (let i = 1; i < 100; i += 3) written.add(vin(i), m);
  for (let i = 0; i < 100; i++) t.equal(written.has(vin(i), m), i === 0 || i % 3 === 1, `vehicle ${i}`);
  t.equal(written.has(vin(1), m + MINUTE), false, 'another minute');
  t.equal(written.has(vin(500), m), false, 'a vehicle never seen');
  t.equal(written.size, 8, '34 vehicles: two 32-bit words');
});

t.test('knows only minutes after the horizon, and not those forgotten', async (t) => {
  const written = new WrittenMinutes(1024 ** 2);
  t.equal(written.knows(5 * MINUTE, undefined), false, 'horizon not known yet');
  t.equal(written.knows(5 * MINUTE, 6 * MINUTE), false, 'before the horizon');
  t.equal(written.knows(6 * MINUTE, 6 * MINUTE), true, 'at it');
  t.equal(written.knows(-1e15, Number.NEGATIVE_INFINITY), true, 'an empty store: every minute');
  written.add(vin(1), 10 * MINUTE);
  written.add(vin(1), 20 * MINUTE);
  written.forgetBefore(15 * MINUTE);
  t.equal(written.knows(10 * MINUTE, Number.NEGATIVE_INFINITY), false, 'forgotten');
  t.equal(written.knows(20 * MINUTE, Number.NEGATIVE_INFINITY), true);
  t.equal(written.has(vin(1), 20 * MINUTE), true);
  written.add(vin(2), 10 * MINUTE);
  t.equal(written.has(vin(2), 10 * MINUTE), false, 'nothing is kept of a forgotten minute');
});

t.test('over its budget it forgets the oldest minutes, and says so', async (t) => {
  // 40 vehicles: 8 bytes a minute; a budget of 400 bytes holds 50 minutes
  const written = new WrittenMinutes(400);
  for (let i = 0; i < 40; i++) written.add(vin(i), 0);
  for (let m = 1; m < 80; m++) written.add(vin(m % 40), m * MINUTE);
  t.ok(written.size <= 400, `within the budget (${written.size} bytes)`);
  t.equal(written.knows(0, Number.NEGATIVE_INFINITY), false, 'the oldest minutes are forgotten');
  t.equal(written.knows(79 * MINUTE, Number.NEGATIVE_INFINITY), true, 'the newest known');
  t.equal(written.has(vin(79 % 40), 79 * MINUTE), true);
  let first = 0;
  while (!written.knows(first * MINUTE, Number.NEGATIVE_INFINITY)) first++;
  for (let m = first; m < 80; m++) t.equal(written.has(vin(m % 40), m * MINUTE), true, `minute ${m} still whole`);
});
