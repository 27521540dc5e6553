// Where the spool ends, shared between the ingest thread and the store writer's thread: a reader in another thread
// never sees half of a position, whatever the owner writes meanwhile, and one sleeping in waitPast is woken by a publish.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { SharedSpoolEnd } from '../../services/spool/shared-end.ts';

// the reader thread, in plain JavaScript: the same two slots and version as SharedSpoolEnd (read() in a loop)
const READER = `
const { workerData, parentPort } = require('node:worker_threads');
const version = new Int32Array(workerData.buffer, 0, 1);
const slots = new BigInt64Array(workerData.buffer, 8, 4);
let reads = 0, torn = 0, last = -1, backwards = 0;
while (Atomics.load(version, 0) !== workerData.lastStamp) {
  const stamp = Atomics.load(version, 0);
  const slot = (stamp & 1) * 2;
  const segment = Number(Atomics.load(slots, slot));
  const offset = Number(Atomics.load(slots, slot + 1));
  if (Atomics.load(version, 0) !== stamp) continue;
  reads++;
  if (offset !== segment * 7) torn++;
  if (segment < last) backwards++;
  last = segment;
}
parentPort.postMessage({ reads, torn, backwards });
`;

t.test('a reader in another thread sees whole positions only, never going back, while the owner publishes a million', async (t) => {
  const end = new SharedSpoolEnd({ segment: 0, offset: 0 });
  const publishes = 1_000_000;
  const reader = new Worker(READER, { eval: true, workerData: { buffer: end.buffer, lastStamp: publishes } });
  await new Promise((resolve) => reader.once('online', resolve));
  for (let i = 1; i <= publishes; i++) end.publish({ segment: i, offset: i * 7 });
  const result = (await new Promise((resolve) => reader.once('message', resolve))) as { reads: number; torn: number; backwards: number };
  t.ok(result.reads > 0, `the reader read ${result.reads} positions while they changed`);
  t.equal(result.torn, 0, 'none of them half of one and half of another');
  t.equal(result.backwards, 0, 'never an older one after a newer');
  t.strictSame(end.read().end, { segment: publishes, offset: publishes * 7 });
});

t.test('waitPast: woken by a publish from another thread, at once when one came since the stamp, else after its timeout', async (t) => {
  const end = new SharedSpoolEnd({ segment: 4, offset: 100 });
  const { stamp } = end.read();
  // another thread publishes in 50 ms
  const owner = new Worker(
    `const { workerData } = require('node:worker_threads');
     const version = new Int32Array(workerData, 0, 1); const slots = new BigInt64Array(workerData, 8, 4);
     setTimeout(() => { const next = Atomics.load(version, 0) + 1; Atomics.store(slots, (next & 1) * 2, 4n); Atomics.store(slots, (next & 1) * 2 + 1, 250n); Atomics.store(version, 0, next); Atomics.notify(version, 0); }, 50);`,
    { eval: true, workerData: end.buffer },
  );
  t.teardown(() => owner.terminate());
  const started = performance.now();
  await end.waitPast(stamp, 30_000);
  t.ok(performance.now() - started < 20_000, 'woken by the publish, not by the 30 s timeout');
  t.strictSame(end.read().end, { segment: 4, offset: 250 });
  await end.waitPast(stamp, 30_000);
  t.pass('a stamp already passed returns at once');
  const { stamp: now } = end.read();
  const before = performance.now();
  await end.waitPast(now, 100);
  t.ok(performance.now() - before >= 90, 'nothing published: back after the timeout');
});
