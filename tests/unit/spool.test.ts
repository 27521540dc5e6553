import t from 'tap';
import { appendFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spool } from '../../services/spool/spool.ts';
import { tempDir } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

async function withSpool(t: TapTest, fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await tempDir('spool');
  t.teardown(dir.remove);
  await fn(dir.path);
}

t.test('records come back in order and are forgotten only after commit', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    for (let i = 0; i < 100; i++) spool.append({ i });
    spool.flush();
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
    spool.flush();
    spool.close();
    const segment = readdirSync(dir).find((f) => f.endsWith('.spool'))!;
    appendFileSync(join(dir, segment), '{"ok":2,"half');
    const reopened = Spool.open({ dir, fsync: 'never' });
    t.same(reopened.read().records, [{ ok: 1 }]);
    reopened.append({ ok: 3 });
    reopened.flush();
    t.same(reopened.read().records, [{ ok: 3 }]);
    reopened.close();
  }));

t.test('a torn first record of a new segment (a crash inside the write that rolled over) leaves nothing unread', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never', segmentBytes: 64 });
    spool.append({ kept: 'x'.repeat(40) });
    spool.flush();
    spool.commit(spool.read().end);
    spool.close();
    // the process died inside the write that opened segment 2: a piece of its first record is all there is
    writeFileSync(join(dir, '0000000002.spool'), '{"torn":');
    const reopened = Spool.open({ dir, fsync: 'never', segmentBytes: 64 });
    t.equal(reopened.hasUnread(), false, 'nothing to read: the writer is not woken for an empty batch');
    t.equal(reopened.pendingBytes, 0);
    reopened.append({ next: true });
    reopened.flush();
    t.same(reopened.read().records, [{ next: true }]);
    reopened.close();
  }));

t.test('segments roll over and are deleted once committed', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'always', segmentBytes: 1024 });
    const payload = 'x'.repeat(200);
    for (let i = 0; i < 50; i++) {
      spool.append({ i, payload });
      spool.flush();
    }
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
    spool.flush();
    const batch = spool.read<{ big?: string; small?: boolean }>(1);
    t.equal(batch.records.length, 1);
    t.equal(batch.records[0]?.big?.length, big.length);
    t.same(spool.read().records, [{ small: true }]);
    spool.close();
  }));

t.test('after a restart, a record larger than a read chunk comes whole from the file, between small ones', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    const big = 'y'.repeat(3 * 1024 * 1024);
    spool.append({ small: 1 });
    spool.append({ big });
    spool.append({ small: 2 });
    spool.close();
    const reopened = Spool.open({ dir, fsync: 'never' });
    const seen: number[] = [];
    while (reopened.hasUnread()) seen.push(...reopened.read<{ big?: string; small?: number }>(1).records.map((r) => r.big?.length ?? r.small!));
    t.same(seen, [1, big.length, 2]);
    reopened.close();
  }));

t.test('a reader that stays behind gets every record kept in memory once, in order', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    const seen: number[] = [];
    let next = 0;
    // each round writes more than is read, so the records kept in memory pile up
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 6_000; i++) spool.append({ n: next++ });
      spool.flush();
      seen.push(...spool.read<{ n: number }>(50_000).records.map((r) => r.n));
    }
    while (spool.hasUnread()) seen.push(...spool.read<{ n: number }>(50_000).records.map((r) => r.n));
    t.same(seen, Array.from({ length: next }, (_, n) => n));
    spool.close();
  }));

t.test('a full spool pushes back until the store catches up', (t) =>
  withSpool(t, async (dir) => {
    const spool = Spool.open({ dir, fsync: 'never', maxBytes: 100 });
    spool.append({ fill: 'z'.repeat(120) });
    t.equal(spool.hasRoom, false, 'unflushed records count against the bound too');
    spool.flush();
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
    spool.flush();
    spool.read();
    t.equal(spool.hasUnread(), false);
    spool.rewind();
    t.same(spool.read().records, [{ a: 1 }]);
    spool.close();
    t.throws(() => spool.append({ late: true }), /closed/);
  }));

t.test('an appended record is invisible to the writer until its group is flushed, and a crash before that loses only it', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    spool.append({ acked: 1 });
    spool.flush();
    spool.append({ unacked: 2 });
    t.equal(spool.unflushedRecords, 1);
    t.same(spool.read().records, [{ acked: 1 }], 'the reader sees only written records');
    t.equal(spool.hasUnread(), false);
    // a crash now: the process dies without closing; a new process opens the same directory
    const afterCrash = Spool.open({ dir, fsync: 'never' });
    t.same(afterCrash.read().records, [{ acked: 1 }], 'the flushed record survived, the unflushed one (never acknowledged) is gone');
    afterCrash.close();
    spool.close();
  }));

t.test('whenDurable: every caller of one event-loop turn shares a single write, called back after it', (t) =>
  withSpool(t, async (dir) => {
    const spool = Spool.open({ dir, fsync: 'always' });
    const order: string[] = [];
    for (let i = 0; i < 20; i++) {
      spool.append({ i });
      spool.whenDurable((err) => {
        t.equal(err, undefined);
        // by the time anyone is called back, all twenty are on disk
        order.push(`${i}:${spool.unflushedRecords}`);
      });
    }
    t.equal(spool.unflushedRecords, 20, 'nothing is written while the turn lasts');
    t.same(order, []);
    await spool.durable();
    t.same(order, Array.from({ length: 20 }, (_, i) => `${i}:0`));
    const segment = readdirSync(dir).find((f) => f.endsWith('.spool'))!;
    t.equal(statSync(join(dir, segment)).size, spool.pendingBytes, 'one segment holds the group, every byte counted');
    t.equal(spool.read().records.length, 20);
    spool.close();
  }));

t.test('unflushed bytes stay counted when the writer commits, and close writes them', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    spool.append({ first: true });
    spool.flush();
    const batch = spool.read();
    spool.append({ second: true });
    const unflushed = spool.pendingBytes - batch.bytes;
    t.ok(unflushed > 0);
    spool.commit(batch.end);
    t.equal(spool.pendingBytes, unflushed, 'the group written later is still pending');
    spool.close();
    const reopened = Spool.open({ dir, fsync: 'never' });
    t.same(reopened.read().records, [{ second: true }], 'close flushed the group (replays are idempotent)');
    reopened.close();
  }));

t.test('close makes the group durable for those waiting; after close, whenDurable refuses', (t) =>
  withSpool(t, async (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    spool.append({ x: 1 });
    const pending = spool.durable();
    spool.close();
    await t.resolves(pending, 'close wrote the group, so its waiter may acknowledge');
    await t.rejects(spool.durable(), /closed/);
    const reopened = Spool.open({ dir, fsync: 'never' });
    t.same(reopened.read().records, [{ x: 1 }]);
    reopened.close();
  }));

t.test('an append is flushed on the next turn even when nobody waits for it', (t) =>
  withSpool(t, async (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    spool.append({ deadLetter: true });
    await new Promise((r) => setImmediate(r));
    t.equal(spool.unflushedRecords, 0);
    t.same(spool.read().records, [{ deadLetter: true }]);
    spool.close();
  }));

t.test('a group the disk refuses is dropped whole and its waiters hear so; the spool goes on afterwards', (t) =>
  withSpool(t, async (dir) => {
    const refusals: string[] = [];
    const spool = Spool.open({ dir, fsync: 'never', segmentBytes: 64, onWriteError: (err) => refusals.push(err.message) });
    spool.append({ kept: 'x'.repeat(40) });
    spool.flush();
    const before = spool.pendingBytes;
    // the next group needs a new segment, and the disk will not give it (a directory stands where its file goes)
    const nextSegment = join(dir, '0000000002.spool');
    mkdirSync(nextSegment);
    spool.append({ refused: 'y'.repeat(40) });
    const waiting = spool.durable();
    t.throws(() => spool.flush(), /EISDIR/);
    await t.rejects(waiting, /EISDIR/, 'nobody may acknowledge the refused group');
    t.equal(spool.unflushedRecords, 0);
    t.equal(spool.pendingBytes, before, 'the dropped group no longer counts');
    t.match(spool.lastWriteError?.message, /EISDIR/, 'the refusal is kept for readiness');
    t.equal(refusals.length, 1, 'and reported once, for the metric');
    rmSync(nextSegment, { recursive: true });
    spool.append({ later: true });
    await spool.durable();
    t.equal(spool.lastWriteError, undefined, 'a write that succeeds clears it');
    t.equal(refusals.length, 1);
    const seen: string[] = [];
    while (spool.hasUnread()) seen.push(...spool.read().records.map((r) => Object.keys(r as object)[0]!));
    t.same(seen, ['kept', 'later'], 'earlier records still readable, the refused one absent');
    spool.close();
  }));

t.test('a group refused in its scheduled write makes the next flush() throw: its caller may not acknowledge', (t) =>
  withSpool(t, async (dir) => {
    const spool = Spool.open({ dir, fsync: 'never', segmentBytes: 64 });
    spool.append({ kept: 'x'.repeat(40) });
    spool.flush();
    mkdirSync(join(dir, '0000000002.spool'));
    // as the MQTT ingest does: append now, flush (then PUBACK) at the end of the turn, after the spool's own write
    spool.append({ refused: 'y'.repeat(40) });
    await new Promise((r) => setImmediate(r));
    t.equal(spool.unflushedRecords, 0, 'the scheduled write ran and dropped the group');
    t.throws(() => spool.flush(), /EISDIR/, 'the empty flush that follows is no proof of durability');
    t.doesNotThrow(() => spool.flush(), 'told once');
    spool.close();
  }));

t.test('a checkpoint the disk refuses (full) neither throws nor moves anything; the next commit writes it', (t) =>
  withSpool(t, async (dir) => {
    const refusals: string[] = [];
    const spool = Spool.open({ dir, fsync: 'never', onWriteError: (err) => refusals.push(err.message) });
    spool.append({ first: true });
    await spool.durable();
    const batch = spool.read();
    // the checkpoint is written aside first: a directory there makes that write fail, as a full disk would
    const aside = join(dir, 'checkpoint.json.tmp');
    mkdirSync(aside);
    const pending = spool.pendingBytes;
    t.doesNotThrow(() => spool.commit(batch.end), 'the store writer is not brought down');
    t.equal(spool.pendingBytes, pending, 'still pending: replayed after a crash, harmlessly');
    t.match(spool.lastWriteError?.message, /EISDIR/, 'readiness sees it');
    t.equal(refusals.length, 1, 'the metric counts it');
    rmSync(aside, { recursive: true });
    spool.append({ second: true });
    await spool.durable();
    spool.commit(spool.read().end);
    t.equal(spool.pendingBytes, 0, 'the next commit covers both');
    t.equal(spool.lastWriteError, undefined);
    spool.close();
    const reopened = Spool.open({ dir, fsync: 'never' });
    t.equal(reopened.hasUnread(), false, 'nothing replayed after the checkpoint was written');
    reopened.close();
  }));

t.test('the writer gets the very records appended from memory, and what their lines parse to after a restart', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    const decoded = { k: 's', samples: [{ ts: 1, seq: 0 }] };
    spool.append(decoded, '{"k":"m","m":{"ts":1,"seq":0}}');
    spool.append({ plain: true });
    spool.flush();
    const batch = spool.read();
    t.equal(batch.records[0], decoded, 'the same object, not a parse of the file');
    t.same(batch.records[1], { plain: true });
    spool.close();
    const reopened = Spool.open({ dir, fsync: 'never' });
    t.same(reopened.read().records, [{ k: 'm', m: { ts: 1, seq: 0 } }, { plain: true }], 'the file holds the given line');
    reopened.close();
  }));

t.test('past the memory bound the reader goes on from the file, in order, losing and doubling nothing', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never', memoryBytes: 2_000, segmentBytes: 4_096 });
    let next = 0;
    const seen: number[] = [];
    // a writer that falls behind, catches up, and falls behind again, across segment roll-overs
    for (let round = 0; round < 6; round++) {
      const groups = round % 2 === 0 ? 30 : 2;
      for (let g = 0; g < groups; g++) {
        for (let r = 0; r < 5; r++) spool.append({ n: next++, pad: 'p'.repeat(20) });
        spool.flush();
      }
      while (spool.hasUnread()) {
        const batch = spool.read<{ n: number }>(700);
        seen.push(...batch.records.map((r) => r.n));
        spool.commit(batch.end);
      }
    }
    t.same(seen, Array.from({ length: next }, (_, i) => i));
    t.equal(spool.pendingBytes, 0);
    spool.close();
  }));

t.test('rewind gives the records read from memory again', (t) =>
  withSpool(t, (dir) => {
    const spool = Spool.open({ dir, fsync: 'never' });
    for (let i = 0; i < 3; i++) spool.append({ i });
    spool.flush();
    const first = spool.read<{ i: number }>();
    spool.commit({ ...first.end, offset: 0 });
    spool.rewind();
    t.same(spool.read<{ i: number }>().records.map((r) => r.i), [0, 1, 2]);
    spool.close();
  }));

t.test('interval fsync runs in the background: many roll-overs leave no file open after close', { skip: process.platform === 'linux' ? false : 'reads /proc/self/fd' }, (t) =>
  withSpool(t, async (dir) => {
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const spool = Spool.open({ dir, fsync: 'interval', fsyncMs: 5, segmentBytes: 512 });
    for (let i = 0; i < 200; i++) {
      spool.append({ i, pad: 'q'.repeat(60) });
      spool.flush();
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 8));
    }
    const seen: number[] = [];
    while (spool.hasUnread()) {
      const batch = spool.read<{ i: number }>(4096);
      seen.push(...batch.records.map((r) => r.i));
      spool.commit(batch.end);
    }
    t.same(seen, Array.from({ length: 200 }, (_, i) => i));
    spool.close();
    await new Promise((r) => setTimeout(r, 50));
    t.equal(openFds(), before, 'every segment file was closed');
    const reopened = Spool.open({ dir, fsync: 'never' });
    t.equal(reopened.hasUnread(), false);
    reopened.close();
  }));
