// Group commit, as a database does it: appended records wait in memory as one group, written with one write call
// per event-loop turn (or when asked), because on this kind of machine a write call costs more than validating a
// message. Nobody may acknowledge a record before its group is written: those waiting are called back only then.
// It is also where ingestion is pushed back: unstored bytes past the bound hold acks until the writer catches up.
import type { SegmentLog } from './segment-log.ts';
import type { WrittenRecord } from './reader.ts';

export interface GroupCommitOptions {
  log: SegmentLog;
  /** Unstored bytes (written or not) at which ingestion is pushed back. */
  maxBytes: number;
  /** bytes written but not yet stored */
  unstoredBytes: () => number;
  /** A group was written (durable per the fsync mode): its records and their bytes. */
  onWritten: (group: readonly WrittenRecord[], bytes: number) => void;
  /** The disk refused a group (ENOSPC, EIO...): nothing of it was acknowledged. */
  onWriteError?: (err: Error) => void;
}

/** Largest group encoded into the buffer kept for writing (a larger one gets its own). */
const KEPT_BUFFER_BYTES = 1024 ** 2;

interface GroupRecord extends WrittenRecord {
  line: string;
}

export class GroupCommit {
  private group: GroupRecord[] = [];
  private groupBytes = 0;
  private durableWaiters: Array<(err?: Error) => void> = [];
  private roomWaiters: Array<() => void> = [];
  private flushScheduled = false;
  private closed = false;
  /** why the last write failed, until a write succeeds again */
  private failure: Error | undefined;
  /** a scheduled write failed since the last flush(): that flush's caller may not acknowledge what it ingested */
  private unreported: Error | undefined;
  /** the buffer groups are encoded into */
  private out = Buffer.alloc(0);

  constructor(private readonly options: GroupCommitOptions) {}

  /** Appended records not yet written (a write call away from durable). */
  get unflushedRecords(): number {
    return this.group.length;
  }

  /** Why the disk refused the last group, while no later one was written (undefined: the last write succeeded). */
  get lastWriteError(): Error | undefined {
    return this.failure;
  }

  /** Bytes appended but not yet stored, the group's included. */
  get pendingBytes(): number {
    return this.options.unstoredBytes() + this.groupBytes;
  }

  get hasRoom(): boolean {
    return this.pendingBytes < this.options.maxBytes;
  }

  /** Resolves once the unstored backlog is below the bound again. */
  waitForRoom(): Promise<void> {
    if (this.hasRoom || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** The writer stored something: wake those waiting for room when there is some now. */
  stored(): void {
    if (!this.hasRoom) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Add one record to the group (**not durable yet**), written on the next turn of the event loop at the latest.
   * `line` is how it is written (JSON without a newline), when the caller has it already.
   */
  append(record: unknown, line?: string): void {
    if (this.closed) throw new Error('spool is closed');
    // JSON.stringify escapes control characters, so a record is one line; its UTF-8 size counts against the bound.
    const text = `${line ?? JSON.stringify(record)}\n`;
    const bytes = Buffer.byteLength(text);
    this.group.push({ record, line: text, bytes });
    this.groupBytes += bytes;
    this.scheduleFlush();
  }

  /**
   * Write the group with one write call; its waiters are called back after it. When the disk refuses, the group is
   * dropped (none of it was acknowledged: brokers and HTTP clients send it again), and its waiters and the caller
   * get the error. The caller also gets the error of a scheduled write that failed since the last flush(): records
   * it appended may have been in that dropped group, and an empty group now would not tell it so.
   */
  flush(): void {
    const waiters = this.durableWaiters;
    this.durableWaiters = [];
    const earlier = this.unreported;
    this.unreported = undefined;
    if (this.group.length > 0) {
      try {
        this.writeGroup();
        this.failure = undefined;
      } catch (err) {
        const failure = err instanceof Error ? err : new Error(String(err));
        this.failure = failure;
        this.options.onWriteError?.(failure);
        for (const done of waiters) done(failure);
        throw failure;
      }
    }
    // waiters registered since that failure are for records appended after it: written now
    for (const done of waiters) done();
    if (earlier) throw earlier;
  }

  /** `done` once everything appended before this call is written (or with the error), by the turn's shared flush. */
  whenDurable(done: (err?: Error) => void): void {
    if (this.closed) {
      done(new Error('spool is closed'));
      return;
    }
    this.durableWaiters.push(done);
    this.scheduleFlush();
  }

  /** Write what is left (a clean stop) and refuse anything more. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } catch {
      // nothing in the group was acknowledged: the broker or the HTTP client sends it again
    }
    this.closed = true;
    for (const wake of this.roomWaiters.splice(0)) wake();
    for (const done of this.durableWaiters.splice(0)) done(new Error('spool is closed'));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.closed) return;
      try {
        this.flush();
      } catch (err) {
        // the waiters got the error; whoever calls flush() next hears of it too; the next append schedules a new flush
        this.unreported = err instanceof Error ? err : new Error(String(err));
      }
    });
  }

  private writeGroup(): void {
    if (this.closed) throw new Error('spool is closed');
    const { group, groupBytes } = this;
    this.group = [];
    this.groupBytes = 0;
    const text = group.length === 1 ? group[0]!.line : group.map((g) => g.line).join('');
    // encoded into a kept buffer when it fits: a new one for each group costs page faults in the write (measured)
    if (groupBytes > this.out.length && groupBytes <= KEPT_BUFFER_BYTES) this.out = Buffer.allocUnsafe(Math.min(KEPT_BUFFER_BYTES, Math.max(groupBytes, 2 * this.out.length)));
    const data = groupBytes <= this.out.length ? this.out.subarray(0, this.out.write(text)) : Buffer.from(text);
    // on failure the group is dropped: the log cut what of it reached the file
    this.options.log.append(data);
    this.options.onWritten(group, groupBytes);
  }
}
