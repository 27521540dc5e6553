// The registry's cache over the vehicles repository (a real DuckDB metadata file): another process's registration is
// picked up by a refresh, and a refresh that finds nothing new reads no vehicle (at 100,000 vehicles a full read cost
// about a second of the ingest thread every 10 s).
import t from 'tap';
import { VehicleRegistry } from '../../services/registry/registry.ts';
import { openMetadataStore } from '../../services/store/metadata.ts';
import type { VehicleRepository } from '../../services/store/vehicles.ts';
import { tempDir } from '../../tooling/system.ts';

t.test('refresh reads the vehicles only when the database holds some this cache lacks', async (t) => {
  const dir = await tempDir('registry');
  t.teardown(() => dir.remove());
  const metadata = await openMetadataStore({ dir: dir.path });
  t.teardown(() => metadata.close());
  let lists = 0;
  // the real repository, with its full reads counted
  const counted: VehicleRepository = {
    insert: (v) => metadata.vehicles.insert(v),
    insertMany: (vs) => metadata.vehicles.insertMany(vs),
    get: (vin) => metadata.vehicles.get(vin),
    count: () => metadata.vehicles.count(),
    list: () => ((lists += 1), metadata.vehicles.list()),
  };
  const here = new VehicleRegistry(counted);
  const elsewhere = new VehicleRegistry(metadata.vehicles);
  t.equal(await here.load(), 0);
  await here.registerMany([{ vin: 'WVWZZZ1KZAW000001', brand: 'Voltra', model: 'E-City' }]);
  const before = lists;
  await here.refresh();
  t.equal(lists, before, 'its own registration: nothing new, no read');
  const first = here.all();
  t.equal(here.all(), first, 'all() is the same array while nothing changes');

  await elsewhere.registerMany([
    { vin: 'WVWZZZ1KZAW000003', brand: 'Voltra', model: 'E-City' },
    { vin: 'WVWZZZ1KZAW000002', brand: 'Nordwind', model: 'Fjord' },
  ]);
  t.equal(here.peek('WVWZZZ1KZAW000002'), undefined, 'not known here before a refresh');
  await here.refresh();
  t.equal(lists, before + 1, 'another process registered some: one read');
  t.strictSame(
    here.all().map((v) => v.vin),
    ['WVWZZZ1KZAW000001', 'WVWZZZ1KZAW000002', 'WVWZZZ1KZAW000003'],
    'VIN ascending, the new ones included',
  );
  t.not(here.all(), first, 'a new array once the cache changed');
  await here.refresh();
  t.equal(lists, before + 1, 'caught up: no read');

  // a lookup that goes to the database adds to the cache; a refresh after it still finds nothing new
  await elsewhere.registerMany([{ vin: 'WVWZZZ1KZAW000004', brand: 'Voltra', model: 'E-City' }]);
  t.equal((await here.get('WVWZZZ1KZAW000004'))?.brand, 'Voltra');
  await here.refresh();
  t.equal(lists, before + 1, 'the looked-up vehicle counts as known');
  t.equal(here.all().length, 4);
});
