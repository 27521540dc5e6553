// The behaviour every dead-letter backend must have (DeadLetterRepository, services/store/dead-letters.ts), written
// against the interface only: the embedded (DuckDB) and the InfluxDB backends both run it (tests/store/embedded.test.ts,
// tests/store/influx.test.ts). Where the interface is silent, this suite decides: dead letters received in the same
// ms are all kept; their relative order is not specified.
import type { DeadLetter } from '../../services/store/dead-letters.ts';
import { openFresh, randomVin, reopenTest, type MakeStore, type TapTest } from './store-fixture.ts';

function deadLetter(receivedAt: number, extra: Partial<DeadLetter> = {}): DeadLetter {
  return {
    receivedAt,
    reason: 'malformed_json',
    detail: 'payload is not valid UTF-8 JSON',
    topic: 'vehicles/LNBSCB3F5JW123456/telemetry',
    raw: '{"vin":',
    ...extra,
  };
}

export async function deadLettersSuite(t: TapTest, makeStore: MakeStore): Promise<void> {
  const open = (tt: TapTest) => openFresh(tt, makeStore);

  await t.test('an empty write is a no-op', async (t) => {
    const { store } = await open(t);
    await store.writeDeadLetters([]);
    t.strictSame(await store.listDeadLetters({ limit: 10 }), []);
  });

  await t.test('dead letters list newest first, filtered by reason and vin, limited', async (t) => {
    const { store } = await open(t);
    const now = Date.now();
    const vin = randomVin();
    const letters: DeadLetter[] = [
      deadLetter(now - 5_000),
      deadLetter(now - 1_000, { reason: 'unregistered_vehicle', detail: 'VIN not registered', vin, topic: `vehicles/${vin}/telemetry`, raw: '{"vin":"x"}' }),
      deadLetter(now - 3_000, { reason: 'out_of_range_value', detail: 'Vehicle.Speed: outside the range', vin, topic: 'http' }),
      deadLetter(now - 2_000, { reason: 'unregistered_vehicle', detail: 'VIN not registered', vin: randomVin('WVW') }),
    ];
    await store.writeDeadLetters(letters.slice(0, 2));
    await store.writeDeadLetters(letters.slice(2));
    const all = await store.listDeadLetters({ limit: 100 });
    t.strictSame(all, [letters[1], letters[3], letters[2], letters[0]], 'newest first, every field kept');
    t.notOk(all[3] && 'vin' in all[3], 'no vin key when none was given');
    t.strictSame(await store.listDeadLetters({ limit: 2 }), [letters[1], letters[3]], 'limit keeps the newest');
    t.strictSame(await store.listDeadLetters({ reason: 'unregistered_vehicle', limit: 100 }), [letters[1], letters[3]], 'by reason');
    t.strictSame(await store.listDeadLetters({ vin, limit: 100 }), [letters[1], letters[2]], 'by vin');
    t.strictSame(await store.listDeadLetters({ vin, reason: 'out_of_range_value', limit: 100 }), [letters[2]], 'by vin and reason');
  });

  await t.test('two dead letters received in the same ms are both kept', async (t) => {
    const { store } = await open(t);
    const at = Date.now();
    const one = deadLetter(at, { raw: '{"first":1}' });
    const two = deadLetter(at, { raw: '{"second":2}' });
    await store.writeDeadLetters([one, two]);
    await store.writeDeadLetters([deadLetter(at, { raw: '{"third":3}' })]);
    const listed = await store.listDeadLetters({ limit: 10 });
    t.equal(listed.length, 3);
    t.strictSame(listed.map((l) => l.raw).sort(), ['{"first":1}', '{"second":2}', '{"third":3}']);
  });

  await reopenTest(t, makeStore, 'dead letters survive close and reopen', async (t, first, reopen) => {
    const vin = randomVin();
    const letter = deadLetter(Date.now(), { vin });
    await first.writeDeadLetters([letter]);
    await first.close();

    const store = await reopen();
    t.strictSame(await store.listDeadLetters({ vin, limit: 10 }), [letter]);
  });
}
