import t from 'tap';
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Spool } from '../../services/spool/spool.ts';
import { tempDir, type TapTest } from '../helpers/system.ts';

async function withSpool(t: TapTest, fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await tempDir('spool');
  t.teardown(dir.remove);
  await fn(dir.path);
}

t.test('records come back in order and are forgotten only after commit', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    for (let i = 0; i < 100; i++) spool.append({ i });
    const first = spool.read<{ i: number }>(200);
    t.ok(first.records.length > 0 && first.records.length < 100, 'a read is bounded by bytes');
    t.equal(first.records[0]?.i, 0);
    spool.close();
    // nothing committed: everything is replayed after a restart
    const again = Spool.open({ dir, fsync: 'never' });
    const all = again.read<{ i: number }>();
    t.same(all.records.map((r) => r.i), Array.from({ length: 100 }, (_, i) => i));
    again.commit(all.end);
    t.equal(again.pendingBytes, 0);
    again.close();
    const empty = Spool.open({ dir, fsync: 'never' });
    t.equal(empty.hasUnread(), false, 'committed records are not replayed');
    empty.close();
  }));

t.test('a torn last record (crash inside a write) is cut at recovery', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    spool.append({ ok: 1 });
    spool.close();
    const segment = readdirSync(dir).find((f) => f.endsWith('.spool'))!;
    appendFileSync(join(dir, segment), '{"ok":2,"half');
    const reopened = Spool.open({ dir, fsync: 'never' });
    t.same(reopened.read().records, [{ ok: 1 }]);
    reopened.append({ ok: 3 });
    t.same(reopened.read().records, [{ ok: 3 }]);
    reopened.close();
  }));

t.test('segments roll over and are deleted once committed', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'always', segmentBytes: 1024 });
    const payload = 'x'.repeat(200);
    for (let i = 0; i < 50; i++) spool.append({ i, payload });
    t.ok(readdirSync(dir).filter((f) => f.endsWith('.spool')).length > 5, 'several segments');
    const seen: number[] = [];
    while (spool.hasUnread()) {
      const batch = spool.read<{ i: number }>(1500);
      seen.push(...batch.records.map((r) => r.i));
      spool.commit(batch.end);
    }
    t.same(seen, Array.from({ length: 50 }, (_, i) => i));
    t.ok(readdirSync(dir).filter((f) => f.endsWith('.spool')).length <= 1, 'finished segments are gone');
    t.equal(spool.pendingBytes, 0);
    spool.close();
  }));

t.test('a record larger than a read chunk is read whole', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    const big = 'y'.repeat(3 * 1024 * 1024);
    spool.append({ big });
    spool.append({ small: true });
    const batch = spool.read<{ big?: string; small?: boolean }>(1);
    t.equal(batch.records.length, 1);
    t.equal(batch.records[0]?.big?.length, big.length);
    t.same(spool.read().records, [{ small: true }]);
    spool.close();
  }));

t.test('a full spool pushes back until the store catches up', (t) =>
  withSpool(t, async (dir) => {
    const spool = Spool.open({ dir, fsync: 'never', maxBytes: 100 });
    spool.append({ fill: 'z'.repeat(120) });
    t.equal(spool.hasRoom, false);
    let released = false;
    const waiting = spool.waitForRoom().then(() => {
      released = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    t.equal(released, false, 'still held while nothing is committed');
    const batch = spool.read();
    spool.commit(batch.end);
    await waiting;
    t.equal(released, true);
    t.ok(statSync(dir).isDirectory());
    spool.close();
  }));

t.test('rewind replays what was read but not committed', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    spool.append({ a: 1 });
    spool.read();
    t.equal(spool.hasUnread(), false);
    spool.rewind();
    t.same(spool.read().records, [{ a: 1 }]);
    spool.close();
    t.throws(() => spool.append({ late: true }), /closed/);
  }));
