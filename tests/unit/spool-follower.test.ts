// A reader in another thread (the store writer's) follows the ingest thread's spool through its files: reading where
// the file ends from the memory the owner publishes it in, it reads every record once and in order across segment
// roll-overs, and what it commits becomes the owner's checkpoint. Here owner and follower share a thread; all they
// share is the directory and that SharedSpoolEnd.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { SpoolFollower } from '../../services/spool/follower.ts';
import { SharedSpoolEnd } from '../../services/spool/shared-end.ts';
import { Spool, type SpoolPosition } from '../../services/spool/spool.ts';
import { tempDir } from '../../tooling/system.ts';

t.test('a follower reads what the owner wrote, in order, and its commits checkpoint the owner', async (t) => {
  const dir = await tempDir('follower');
  t.teardown(dir.remove);
  const owner = Spool.open({ dir: dir.path, fsync: 'never', segmentBytes: 1_024 });
  const end = new SharedSpoolEnd(owner.writePosition);
  owner.followedBy((position) => end.publish(position));
  const follower = new SpoolFollower({
    dir: dir.path,
    checkpoint: owner.checkpointPosition,
    end: end.buffer,
    onCommit: (position: SpoolPosition) => owner.commit(position),
  });
  t.equal(follower.hasUnread(), false);
  const waiting = follower.waitForData(5_000);
  owner.append({ n: 0, pad: 'x'.repeat(100) });
  owner.flush();
  await waiting;
  t.equal(follower.hasUnread(), true, 'woken by the owner\'s write');
  for (let n = 1; n < 60; n++) {
    owner.append({ n, pad: 'x'.repeat(100) });
    if (n % 3 === 0) owner.flush();
  }
  owner.flush();
  t.ok(readdirSync(dir.path).filter((f) => f.endsWith('.spool')).length > 3, 'several segments');
  t.equal(follower.pendingBytes, owner.pendingBytes, 'the follower counts what the owner counts');
  const seen: number[] = [];
  const first = follower.read<{ n: number }>(500);
  seen.push(...first.records.map((r) => r.n));
  follower.rewind();
  t.same(follower.read<{ n: number }>(500).records.map((r) => r.n), seen, 'rewind reads again from the last commit');
  follower.commit(first.end);
  while (follower.hasUnread()) {
    const batch = follower.read<{ n: number }>(700);
    seen.push(...batch.records.map((r) => r.n));
    follower.commit(batch.end);
  }
  t.same(seen, Array.from({ length: 60 }, (_, n) => n), 'every record once, in order, across roll-overs');
  t.equal(owner.pendingBytes, 0, 'the owner took every commit');
  t.equal(follower.pendingBytes, 0);
  t.ok(readdirSync(dir.path).filter((f) => f.endsWith('.spool')).length <= 1, 'finished segments deleted by the owner');
  follower.close();
  owner.close();

  // a new follower (the thread was started again) goes on from the checkpoint
  const reopened = Spool.open({ dir: dir.path, fsync: 'never' });
  reopened.append({ n: 60 });
  reopened.flush();
  const nextEnd = new SharedSpoolEnd(reopened.writePosition);
  reopened.followedBy((position) => nextEnd.publish(position));
  const next = new SpoolFollower({ dir: dir.path, checkpoint: reopened.checkpointPosition, end: nextEnd.buffer, onCommit: (p) => reopened.commit(p) });
  t.same(next.read<{ n: number }>().records, [{ n: 60 }]);
  next.close();
  reopened.close();
});
