// A reader of a spool another thread writes: the store writer's thread follows the ingest thread's spool through
// its files, told by the owner where the file ends after each write, and hands back the positions it stored
// (the owner checkpoints them and deletes finished segments). Reading the file here, rather than passing records
// between threads, costs one JSON.parse a record and nothing on the ingest thread.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { isBefore, SegmentReader, segmentName, type SpoolBatch, type SpoolPosition, type SpoolSource } from './spool.ts';

export interface SpoolFollowerOptions {
  dir: string;
  /** the owner's checkpoint when this reader starts: reading starts here */
  checkpoint: SpoolPosition;
  /** where the owner's file ended when this reader started */
  written: SpoolPosition;
  /** a position this reader stored everything before: the owner checkpoints it */
  onCommit: (position: SpoolPosition) => void;
}

export class SpoolFollower implements SpoolSource {
  private cursor: SpoolPosition;
  private committed: SpoolPosition;
  private limit: SpoolPosition;
  private readonly files: SegmentReader;
  /** sizes of finished segments (final once the owner has moved on to a later one) */
  private readonly sizes = new Map<number, number>();
  private dataWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly options: SpoolFollowerOptions) {
    this.cursor = { ...options.checkpoint };
    this.committed = { ...options.checkpoint };
    this.limit = { ...options.written };
    this.files = new SegmentReader(options.dir, (segment) => this.sizeOf(segment));
  }

  /** The owner's file now ends at `position`. */
  advance(position: SpoolPosition): void {
    if (!isBefore(this.limit, position)) return;
    this.limit = { ...position };
    const waiters = this.dataWaiters;
    this.dataWaiters = [];
    for (const wake of waiters) wake();
  }

  get pendingBytes(): number {
    const from = this.committed;
    if (from.segment === this.limit.segment) return Math.max(0, this.limit.offset - from.offset);
    let total = Math.max(0, this.sizeOf(from.segment) - from.offset) + this.limit.offset;
    for (let n = from.segment + 1; n < this.limit.segment; n++) total += this.sizeOf(n);
    return total;
  }

  hasUnread(): boolean {
    return isBefore(this.cursor, this.limit);
  }

  waitForData(timeoutMs: number): Promise<void> {
    if (this.hasUnread() || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.dataWaiters.push(done);
    });
  }

  read<T = unknown>(maxBytes = 4 * 1024 ** 2): SpoolBatch<T> {
    const batch = this.files.read<T>(this.cursor, this.limit, maxBytes);
    this.cursor = batch.end;
    return batch;
  }

  commit(position: SpoolPosition): void {
    if (!isBefore(this.committed, position)) return;
    for (let n = this.committed.segment; n < position.segment; n++) {
      this.files.forget(n);
      this.sizes.delete(n);
    }
    this.committed = { ...position };
    this.options.onCommit({ ...position });
  }

  rewind(): void {
    this.cursor = { ...this.committed };
  }

  close(): void {
    this.closed = true;
    this.files.close();
    for (const wake of this.dataWaiters.splice(0)) wake();
  }

  private sizeOf(segment: number): number {
    let size = this.sizes.get(segment);
    if (size === undefined) {
      // only asked for segments before the owner's current one: their files no longer change
      size = statSync(join(this.options.dir, segmentName(segment))).size;
      this.sizes.set(segment, size);
    }
    return size;
  }
}
