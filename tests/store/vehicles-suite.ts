// The behaviour every VehicleRepository backend must have (DuckDB file, PostgreSQL), written against the interface
// only: tests/store/metadata-duckdb.test.ts and metadata-postgres.test.ts run it.
import type { VehicleRecord } from '../../services/store/vehicles.ts';
import { freshFixture, type MakeFixture, type TapTest } from './metadata-fixture.ts';
import { randomVin } from './store-fixture.ts';

export function vehicle(vin: string, extra: Partial<VehicleRecord> = {}): VehicleRecord {
  return { vin, brand: 'BYD', model: 'Seal', credentialHash: 'a'.repeat(64), createdAt: Date.now() - 60_000, ...extra };
}

export async function vehiclesSuite(t: TapTest, make: MakeFixture): Promise<void> {
  const open = async (tt: TapTest) => (await (await freshFixture(tt, make)).open()).vehicles;

  await t.test('insert registers a VIN once and never overwrites it', async (t) => {
    const vehicles = await open(t);
    const vin = randomVin();
    const first = vehicle(vin, { year: 2024, powertrain: 'bev' });
    t.equal(await vehicles.insert(first), true);
    t.equal(await vehicles.insert(vehicle(vin, { brand: 'Tesla', model: 'Model 3', credentialHash: 'b'.repeat(64) })), false);
    t.strictSame(await vehicles.get(vin), first, 'the first registration is kept whole');
  });

  await t.test('get round-trips a vehicle, and absent optional fields stay absent', async (t) => {
    const vehicles = await open(t);
    const full = vehicle(randomVin('LRW'), { brand: 'Tesla', model: 'Model Y', year: 2023, powertrain: 'bev', credentialHash: 'c0ffee'.repeat(10) + 'beef' });
    const bare = vehicle(randomVin('WBA'), { brand: 'BMW', model: 'iX3' });
    await vehicles.insert(full);
    await vehicles.insert(bare);
    t.strictSame(await vehicles.get(full.vin), full);
    const read = await vehicles.get(bare.vin);
    t.strictSame(read, bare);
    t.notOk(read && 'year' in read, 'no year key when none was given');
    t.notOk(read && 'powertrain' in read, 'no powertrain key when none was given');
    t.equal(await vehicles.get(randomVin('JTD')), undefined, 'an unknown VIN');
  });

  await t.test('list returns every vehicle, VIN ascending', async (t) => {
    const vehicles = await open(t);
    const all = ['WVW', 'LNB', '1FA', 'JTD', '5YJ'].map((wmi, i) => vehicle(randomVin(wmi), { year: 2020 + i }));
    for (const v of all) await vehicles.insert(v);
    const ascending = [...all].sort((a, b) => (a.vin < b.vin ? -1 : 1));
    t.strictSame(await vehicles.list(), ascending);
  });

  await t.test('insertMany registers a fleet in one call, answers the VINs it inserted, and overwrites none', async (t) => {
    const vehicles = await open(t);
    const taken = vehicle(randomVin('WVW'), { year: 2021 });
    await vehicles.insert(taken);
    const fleet = Array.from({ length: 1_200 }, (_, i) => vehicle(randomVin('LRW'), { model: `M${i % 3}`, ...(i % 2 ? { powertrain: 'phev' as const } : {}) }));
    const inserted = await vehicles.insertMany([...fleet, { ...taken, brand: 'Other' }, { ...fleet[0]!, model: 'Twice' }]);
    t.strictSame([...inserted].sort(), fleet.map((v) => v.vin).sort(), 'every new VIN, and neither the taken one nor a repeat');
    t.strictSame(await vehicles.get(taken.vin), taken, 'an existing vehicle is left whole');
    t.strictSame(await vehicles.get(fleet[0]!.vin), fleet[0], 'the first copy of a repeated VIN is the one kept');
    t.strictSame(await vehicles.get(fleet[1_199]!.vin), fleet[1_199]);
    t.equal((await vehicles.list()).length, 1_201);
    t.equal(await vehicles.count(), 1_201, 'count agrees with list');
    t.equal((await vehicles.insertMany(fleet)).size, 0, 'a second time inserts nothing');
    t.equal((await vehicles.insertMany([])).size, 0);
  });

  await t.test('hostile text is stored as data: quotes, backslashes and SQL round-trip and match nothing else', async (t) => {
    const vehicles = await open(t);
    const plain = vehicle('LNBSCB3F5JW000001');
    const hostileVin = "X\\' OR vin =~ /./ OR 'a'='a";
    const odd = vehicle(hostileVin, { brand: "O'Neil's \\ \"cars\"\n", model: "it's", year: 2024, powertrain: 'bev' });
    const injected = vehicle(randomVin('WBA'), { brand: `Rolls'); DELETE FROM vehicles; --`, model: `"Spectre" \\ 'EV'`, credentialHash: 'f'.repeat(64) });
    t.equal(await vehicles.insert(plain), true);
    t.equal(await vehicles.insert(odd), true);
    t.equal(await vehicles.insert(injected), true);
    t.equal(await vehicles.insert({ ...odd, brand: 'Other' }), false, 'a second insert of the VIN is refused');
    t.strictSame(await vehicles.get(hostileVin), odd, 'read back exactly, and only that vehicle');
    t.strictSame(await vehicles.get(injected.vin), injected);
    t.equal(await vehicles.get("LNBSCB3F5JW000001' OR '1'='1"), undefined);
    t.strictSame(await vehicles.list(), [plain, injected, odd].sort((a, b) => (a.vin < b.vin ? -1 : 1)), 'VIN ascending, the table intact');
  });

  await t.test('of concurrent inserts of one VIN exactly one wins, and it is the one stored', async (t) => {
    const fixture = await freshFixture(t, make);
    // two stores over one database where the backend allows it, as two processes would be
    const stores = fixture.shared ? [await fixture.open(), await fixture.open()] : [await fixture.open()];
    const vin = randomVin();
    const attempts = Array.from({ length: 10 }, (_, i) => vehicle(vin, { credentialHash: i.toString(16).repeat(64) }));
    const results = await Promise.all(attempts.map((v, i) => stores[i % stores.length]!.vehicles.insert(v)));
    t.equal(results.filter(Boolean).length, 1, 'one true, nine false');
    t.strictSame(await stores[0]!.vehicles.get(vin), attempts[results.indexOf(true)], 'the winner is what is stored');
  });

  await t.test('vehicles survive close and reopen, and the VIN stays taken', async (t) => {
    const fixture = await freshFixture(t, make);
    const first = await fixture.open();
    const registered = vehicle(randomVin(), { year: 2025, powertrain: 'phev' });
    await first.vehicles.insert(registered);
    await first.close();
    const again = await fixture.open();
    t.strictSame(await again.vehicles.get(registered.vin), registered);
    t.equal(await again.vehicles.insert(registered), false, 'the VIN is still taken');
  });
}
