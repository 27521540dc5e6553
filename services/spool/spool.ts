// The spool: an append-only, segmented log on local disk that makes "acked means durable" cheap. Ingestion
// appends records (one JSON line each) to an in-memory group, and the group is written with one write call before
// any of its messages is acknowledged; the store writer reads records in order, stores them, and only then
// advances the checkpoint. After a crash, everything past the checkpoint is replayed (stores are idempotent on
// (vin, ts), so replays are harmless). Same idea as Vector's disk buffer or Fluent Bit's filesystem storage, and
// put together the same way, one job a file: segment-log.ts (the files, recovery, fsync), group-commit.ts (one
// write per turn, who may acknowledge, push-back), reader.ts (the writer's cursor and memory tail; follower.ts
// reuses it in the writer's thread), checkpoint.ts.
import { mkdirSync } from 'node:fs';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { GroupCommit } from './group-commit.ts';
import { SpoolReader, type SpoolBatch, type SpoolSource } from './reader.ts';
import { SegmentLog, type SpoolFsync, type SpoolPosition } from './segment-log.ts';

export type { SpoolBatch, SpoolSource } from './reader.ts';
export type { SpoolFsync, SpoolPosition } from './segment-log.ts';

export interface SpoolOptions {
  dir: string;
  /** Unstored bytes at which ingestion is pushed back (acks are held). */
  maxBytes?: number;
  /** A segment is rolled over once it is this large. */
  segmentBytes?: number;
  /** When written records reach the disk: see SegmentLogOptions. */
  fsync?: SpoolFsync;
  fsyncMs?: number;
  /** Written records kept in memory for the reader, in spool bytes (0: always read the file). */
  memoryBytes?: number;
  /** The disk refused a write (nothing of it was acknowledged): for a metric. */
  onWriteError?: (err: Error) => void;
}

export class Spool implements SpoolSource {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  private readonly log: SegmentLog;
  private readonly groups: GroupCommit;
  private readonly reader: SpoolReader;
  private follower: ((end: SpoolPosition) => void) | undefined;
  private closed = false;
  private readonly onWriteError: ((err: Error) => void) | undefined;
  /** why the last checkpoint could not be written, until one is */
  private checkpointError: Error | undefined;

  private constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 ** 2;
    this.onWriteError = options.onWriteError;
    mkdirSync(this.dir, { recursive: true });
    const checkpoint = readCheckpoint(this.dir);
    const log = new SegmentLog({ dir: this.dir, segmentBytes: this.segmentBytes, fsync: options.fsync ?? 'interval', fsyncMs: options.fsyncMs ?? 1000 }, checkpoint?.segment);
    this.log = log;
    this.reader = new SpoolReader({
      dir: this.dir,
      from: checkpoint ?? { segment: log.first, offset: 0 },
      end: log.end,
      sizeOf: (segment) => log.sizeOf(segment),
      onCommit: (position) => writeCheckpoint(this.dir, position),
      memoryBytes: options.memoryBytes ?? 32 * 1024 ** 2,
    });
    this.groups = new GroupCommit({
      log,
      maxBytes: this.maxBytes,
      unstoredBytes: () => this.reader.pendingBytes,
      onWriteError: options.onWriteError,
      onWritten: (group, bytes) => {
        const end = log.end;
        this.reader.advance(end, group, bytes);
        this.follower?.(end);
      },
    });
  }

  static open(options: SpoolOptions): Spool {
    return new Spool(options);
  }

  /**
   * Hand the reading to a follower in another thread (SpoolFollower): `listener` is told where the files end
   * after every write, records are no longer kept in memory, and this spool's own reader is not to be used.
   */
  followedBy(listener: (end: SpoolPosition) => void): void {
    this.follower = listener;
    this.reader.stopKeeping();
  }

  /** Where the files end now. */
  get writePosition(): SpoolPosition {
    return this.log.end;
  }

  /** Everything before this is stored. */
  get checkpointPosition(): SpoolPosition {
    return this.reader.checkpoint;
  }

  /** Bytes appended but not yet committed as stored. */
  get pendingBytes(): number {
    return this.groups.pendingBytes;
  }

  get hasRoom(): boolean {
    return this.groups.hasRoom;
  }

  /** Why the disk refused the last write (a group or the checkpoint), until one succeeds again (undefined: none failed). */
  get lastWriteError(): Error | undefined {
    return this.groups.lastWriteError ?? this.checkpointError;
  }

  /** Resolves once the unstored backlog is below the bound again. */
  waitForRoom(): Promise<void> {
    return this.groups.waitForRoom();
  }

  /**
   * Append one record to the current group. It is **not durable yet**: acknowledge it only after `flush()`
   * returned, or from a `whenDurable` callback. The group is flushed on the next turn of the event loop at the
   * latest, so nothing waits in memory for long.
   *
   * `line` is how the record is written (JSON without a newline), when the caller has it already: it must parse
   * to something the reader treats as `record`. The in-memory reader gets `record` itself; after a restart, what
   * `line` parses to.
   */
  append(record: unknown, line?: string): void {
    this.groups.append(record, line);
  }

  /** Appended records not yet written (a write call away from durable). */
  get unflushedRecords(): number {
    return this.groups.unflushedRecords;
  }

  /**
   * Make everything appended so far durable (per the fsync mode) with one write call: after it returns, those
   * records survive a crash of this process (and, with fsync `always`, of the machine). When the disk refuses,
   * the group is dropped, its `whenDurable` callers get the error, and so does the caller.
   */
  flush(): void {
    this.groups.flush();
  }

  /**
   * Group commit: `done` is called once everything appended before this call is durable (with an error when
   * the disk refused it), after a flush shared by every caller of this turn of the event loop.
   */
  whenDurable(done: (err?: Error) => void): void {
    this.groups.whenDurable(done);
  }

  /** Promise form of `whenDurable`. */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.whenDurable((err) => (err ? reject(err) : resolve())));
  }

  waitForData(timeoutMs: number): Promise<void> {
    return this.reader.waitForData(timeoutMs);
  }

  hasUnread(): boolean {
    return this.reader.hasUnread();
  }

  /** The next records after the read cursor (about `maxBytes`, at least one); nothing is forgotten until `commit`. */
  read<T = unknown>(maxBytes?: number): SpoolBatch<T> {
    return this.reader.read<T>(maxBytes);
  }

  /**
   * Everything before `position` is stored: checkpoint it and drop finished segments. When the disk refuses the
   * checkpoint (full), nothing moves: the records stay pending (replayed after a crash, harmlessly), the finished
   * segments stay, and the next commit, of a later position, tries again.
   */
  commit(position: SpoolPosition): void {
    try {
      if (!this.reader.commit(position)) return;
      this.checkpointError = undefined;
    } catch (err) {
      this.checkpointError = err instanceof Error ? err : new Error(String(err));
      this.onWriteError?.(this.checkpointError);
      return;
    }
    this.log.dropBefore(position.segment);
    this.groups.stored();
  }

  /** Forget what was read but not committed: the next read starts at the checkpoint again. */
  rewind(): void {
    this.reader.rewind();
  }

  close(): void {
    // unacknowledged records written now are harmless: replays are idempotent
    this.groups.close();
    if (this.closed) return;
    this.closed = true;
    this.log.close();
    this.reader.close();
  }
}
