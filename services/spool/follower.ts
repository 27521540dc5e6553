// A reader of a spool another thread writes: the store writer's thread follows the ingest thread's spool through
// its files, reading where they end from memory the owner publishes it in after each write (SharedSpoolEnd), and
// hands back the positions it stored (the owner checkpoints them and deletes finished segments). Reading the files
// here, rather than passing records between threads, costs one JSON.parse a record and nothing on the ingest thread.
// It is the spool's own reader, with the sizes of finished segments taken from their files.
import { SpoolReader } from './reader.ts';
import type { SpoolPosition } from './segment-log.ts';
import { SharedSpoolEnd } from './shared-end.ts';

export interface SpoolFollowerOptions {
  dir: string;
  /** the owner's checkpoint when this reader starts: reading starts here */
  checkpoint: SpoolPosition;
  /** where the owner's files end: it publishes every write there */
  end: SharedArrayBuffer;
  /** a position this reader stored everything before: the owner checkpoints it */
  onCommit: (position: SpoolPosition) => void;
}

export class SpoolFollower extends SpoolReader {
  private readonly shared: SharedSpoolEnd;
  private seen: number;

  constructor(options: SpoolFollowerOptions) {
    const shared = new SharedSpoolEnd(options.end);
    const { end, stamp } = shared.read();
    super({ dir: options.dir, from: options.checkpoint, end, onCommit: options.onCommit });
    this.shared = shared;
    this.seen = stamp;
  }

  override get pendingBytes(): number {
    this.catchUp();
    return super.pendingBytes;
  }

  override hasUnread(): boolean {
    this.catchUp();
    return super.hasUnread();
  }

  /** Resolves when records past the read cursor exist (the owner published past them), or after `timeoutMs`. */
  override async waitForData(timeoutMs: number): Promise<void> {
    if (this.hasUnread()) return;
    // woken by close() too: the reader's own waiters
    await Promise.race([this.shared.waitPast(this.seen, timeoutMs), super.waitForData(timeoutMs)]);
    this.catchUp();
  }

  /** Take the end the owner published last, if it is new. */
  private catchUp(): void {
    if (this.shared.stamp === this.seen) return;
    const { end, stamp } = this.shared.read();
    this.seen = stamp;
    this.advance(end);
  }
}
