// Where a spool's files end, in memory shared by the thread that writes the spool and a thread that follows it
// (the store writer's). The owner publishes the end after every write for about a tenth of a microsecond; the
// follower reads it when it looks for work and sleeps on it (Atomics.waitAsync) when there is none. A postMessage per
// write cost the ingest thread far more (a structured clone, and a wake-up of the other thread each time, though the
// writer mostly sleeps on its own flush timer and has no use for it).
//
// Two slots and a version: the owner writes the slot the version does not point at, then moves the version to it, so
// a reader never sees half of a position; one that raced a write reads again.
import type { SpoolPosition } from './segment-log.ts';

const VERSION_BYTES = 8;
const SLOTS = 2;

export class SharedSpoolEnd {
  /** [version]; the version's parity names the slot holding the current end */
  private readonly version: Int32Array;
  /** [segment, offset] per slot */
  private readonly slots: BigInt64Array;

  /** A new shared end at `initial` (the owner), or the view of one made elsewhere (`buffer`, the follower). */
  constructor(from: SpoolPosition | SharedArrayBuffer) {
    const buffer = from instanceof SharedArrayBuffer ? from : new SharedArrayBuffer(VERSION_BYTES + SLOTS * 2 * 8);
    this.version = new Int32Array(buffer, 0, 1);
    this.slots = new BigInt64Array(buffer, VERSION_BYTES, SLOTS * 2);
    if (!(from instanceof SharedArrayBuffer)) this.write(0, from);
  }

  /** Hand this to the other thread (workerData): it is shared, not copied. */
  get buffer(): SharedArrayBuffer {
    return this.version.buffer as SharedArrayBuffer;
  }

  /** Changes with every publish (compare for equality only: it wraps). */
  get stamp(): number {
    return Atomics.load(this.version, 0);
  }

  /** The owner: the files end at `end` now. Wakes a follower sleeping in `waitPast`. */
  publish(end: SpoolPosition): void {
    const next = (Atomics.load(this.version, 0) + 1) | 0;
    this.write(next & 1, end);
    Atomics.store(this.version, 0, next);
    Atomics.notify(this.version, 0);
  }

  /** The end last published, and the stamp it was published under. */
  read(): { end: SpoolPosition; stamp: number } {
    for (;;) {
      const stamp = Atomics.load(this.version, 0);
      const slot = (stamp & 1) * 2;
      const segment = Number(Atomics.load(this.slots, slot));
      const offset = Number(Atomics.load(this.slots, slot + 1));
      // unchanged: the owner did not write this slot while it was read (it writes only the other one before moving)
      if (Atomics.load(this.version, 0) === stamp) return { end: { segment, offset }, stamp };
    }
  }

  /** Resolves once something was published after `stamp`, or after `timeoutMs`. */
  async waitPast(stamp: number, timeoutMs: number): Promise<void> {
    const wait = Atomics.waitAsync(this.version, 0, stamp, timeoutMs);
    if (!wait.async) return;
    // a pending waitAsync does not keep Node's event loop alive; a timer does, until the wait is over: one due at the
    // timeout could fire before V8 resolves the timed-out wait (seen under load), and the loop would end with it pending
    const alive = setTimeout(() => undefined, 0x7fffffff);
    try {
      await wait.value;
    } finally {
      clearTimeout(alive);
    }
  }

  private write(slot: number, end: SpoolPosition): void {
    Atomics.store(this.slots, slot * 2, BigInt(end.segment));
    Atomics.store(this.slots, slot * 2 + 1, BigInt(end.offset));
  }
}
