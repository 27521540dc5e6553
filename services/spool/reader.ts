// The store writer's side of the spool: a cursor from the checkpoint up to where the files end, reading records
// (JSON lines) in order, and a commit that moves the checkpoint. The same reader serves the Spool in the ingest
// thread and the SpoolFollower in the writer's thread; in the ingest thread, records this process just wrote are
// also kept in memory (up to a bound) and handed over from there, so the file is read back only after a restart
// or when the writer fell behind by more than that bound (Fluent Bit keeps its chunks "up" in memory the same way).
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { READ_CHUNK, isBefore, segmentName, type SpoolPosition } from './segment-log.ts';

/** What the store writer reads the spool through: the Spool itself, or a SpoolFollower in another thread. */
export interface SpoolSource {
  /** bytes written but not yet committed as stored */
  readonly pendingBytes: number;
  hasUnread(): boolean;
  waitForData(timeoutMs: number): Promise<void>;
  read<T = unknown>(maxBytes?: number): SpoolBatch<T>;
  commit(position: SpoolPosition): void;
  rewind(): void;
}

export interface SpoolBatch<T> {
  records: T[];
  /** Position just past the last record: commit it once the records are stored. */
  end: SpoolPosition;
  bytes: number;
}

/** A written record the reader may take from memory: the record appended, and its size in the file. */
export interface WrittenRecord {
  record: unknown;
  bytes: number;
}

export interface SpoolReaderOptions {
  dir: string;
  /** the checkpoint: reading starts here */
  from: SpoolPosition;
  /** where the files end now */
  end: SpoolPosition;
  /** Everything before `position` is stored: keep it (may throw, then nothing moves). */
  onCommit: (position: SpoolPosition) => void;
  /** The final size of a finished segment, when the caller knows it; otherwise its file's (read once). */
  sizeOf?: (segment: number) => number;
  /** Written records kept in memory for the reader, in spool bytes (0: always read the file). */
  memoryBytes?: number;
}

export class SpoolReader implements SpoolSource {
  private cursor: SpoolPosition;
  private committed: SpoolPosition;
  private limit: SpoolPosition;
  /** bytes between `committed` and `limit` */
  private unstored: number;
  private readonly files: SegmentFiles;
  private readonly memory: MemoryTail;
  private readonly sizeOf: (segment: number) => number;
  /** sizes of finished segments read from their files (no sizeOf given) */
  private readonly fileSizes = new Map<number, number>();
  private readonly onCommit: (position: SpoolPosition) => void;
  private dataWaiters: Array<() => void> = [];
  private closed = false;

  constructor(options: SpoolReaderOptions) {
    this.cursor = { ...options.from };
    this.committed = { ...options.from };
    this.limit = { ...options.end };
    this.onCommit = options.onCommit;
    this.sizeOf = options.sizeOf ?? ((segment) => this.fileSize(options.dir, segment));
    this.files = new SegmentFiles(options.dir, this.sizeOf);
    this.memory = new MemoryTail(options.memoryBytes ?? 0);
    this.unstored = this.bytesBetween(this.committed, this.limit);
  }

  /** Everything before this is stored. */
  get checkpoint(): SpoolPosition {
    return { ...this.committed };
  }

  get pendingBytes(): number {
    return this.unstored;
  }

  /** The files now end at `end`; `written` are the records just written before it, for the memory tail. */
  advance(end: SpoolPosition, written?: readonly WrittenRecord[], writtenBytes = 0): void {
    if (!isBefore(this.limit, end)) return;
    if (written) this.memory.offer(written, writtenBytes, end, !this.hasUnread());
    this.unstored += this.bytesBetween(this.limit, end);
    this.limit = { ...end };
    const waiters = this.dataWaiters;
    this.dataWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Keep no more records in memory (another thread reads the files). */
  stopKeeping(): void {
    this.memory.resize(0);
  }

  hasUnread(): boolean {
    return isBefore(this.settledCursor(), this.limit);
  }

  /** Resolves when records past the read cursor exist, or after `timeoutMs`. */
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

  /**
   * Read the next records after the cursor (at most about `maxBytes`, at least one record) and move the cursor
   * past them. Nothing is forgotten until `commit`.
   */
  read<T = unknown>(maxBytes = 4 * 1024 ** 2): SpoolBatch<T> {
    const batch = this.memory.take<T>(maxBytes) ?? this.files.read<T>(this.settledCursor(), this.limit, maxBytes);
    this.cursor = batch.end;
    return batch;
  }

  /** Everything before `position` is stored: checkpoint it (onCommit) and let go of the files before it. */
  commit(position: SpoolPosition): boolean {
    // after close the records are replayed at the next start anyway (stores are idempotent)
    if (this.closed || !isBefore(this.committed, position)) return false;
    this.onCommit({ ...position });
    this.unstored -= this.bytesBetween(this.committed, position);
    for (let n = this.committed.segment; n < position.segment; n++) {
      this.files.forget(n);
      this.fileSizes.delete(n);
    }
    this.committed = { ...position };
    return true;
  }

  /** Forget what was read but not committed: the next read starts at the checkpoint again. */
  rewind(): void {
    this.cursor = { ...this.committed };
    // what was read is no longer in memory: read everything from the file again
    this.memory.clear();
  }

  close(): void {
    this.closed = true;
    this.files.close();
    for (const wake of this.dataWaiters.splice(0)) wake();
  }

  /** The cursor, moved past the ends of finished segments (so a reader at the end of one has nothing unread). */
  private settledCursor(): SpoolPosition {
    while (this.cursor.segment < this.limit.segment && this.cursor.offset >= this.sizeOf(this.cursor.segment)) {
      this.cursor = { segment: this.cursor.segment + 1, offset: 0 };
    }
    return this.cursor;
  }

  private bytesBetween(from: SpoolPosition, to: SpoolPosition): number {
    if (from.segment === to.segment) return to.offset - from.offset;
    let total = this.sizeOf(from.segment) - from.offset + to.offset;
    for (let n = from.segment + 1; n < to.segment; n++) total += this.sizeOf(n);
    return total;
  }

  /** Only asked for segments before the one written to: their files no longer change. */
  private fileSize(dir: string, segment: number): number {
    let size = this.fileSizes.get(segment);
    if (size === undefined) {
      size = statSync(join(dir, segmentName(segment)), { throwIfNoEntry: false })?.size ?? 0;
      this.fileSizes.set(segment, size);
    }
    return size;
  }
}

/** A written record kept in memory, with where it ends in the files. */
interface MemoryRecord extends WrittenRecord {
  segment: number;
  end: number;
}

/**
 * Records just written, not yet read: a contiguous run that starts at the read cursor (a group is kept only when it
 * continues the run, or when the reader has read everything before it). A record leaves when read (a rewind reads
 * the file again), so the bound counts what waits for the writer.
 */
class MemoryTail {
  private entries: Array<MemoryRecord | undefined> = [];
  private head = 0;
  private used = 0;
  /** a group was left out: later ones are too, until the run is read (they are read from the file) */
  private gap = false;

  constructor(private max: number) {}

  offer(group: readonly WrittenRecord[], bytes: number, end: SpoolPosition, readerCaughtUp: boolean): void {
    const empty = this.head === this.entries.length;
    if (empty ? !readerCaughtUp : this.gap) return;
    if (this.used + bytes > this.max) {
      this.gap = !empty;
      return;
    }
    // a group never straddles segments: it ends at `end`, in the same segment
    let offset = end.offset - bytes;
    for (const { record, bytes } of group) {
      offset += bytes;
      this.entries.push({ record, bytes, segment: end.segment, end: offset });
    }
    this.used += bytes;
  }

  /** The next records, up to about `maxBytes` (at least one), or undefined when none is kept. */
  take<T>(maxBytes: number): SpoolBatch<T> | undefined {
    if (this.head === this.entries.length) return undefined;
    const records: T[] = [];
    let bytes = 0;
    let last: MemoryRecord | undefined;
    while (this.head < this.entries.length && (records.length === 0 || bytes < maxBytes)) {
      last = this.entries[this.head]!;
      // let go of the record now: the writer holds it while it is stored, memory must not hold it longer
      this.entries[this.head++] = undefined;
      records.push(last.record as T);
      bytes += last.bytes;
    }
    this.used -= bytes;
    if (this.head === this.entries.length) this.clear();
    else if (this.head > 4096 && this.head * 2 > this.entries.length) {
      // a reader that stays a little behind: drop the spent slots now and then
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return { records, end: { segment: last!.segment, offset: last!.end }, bytes };
  }

  resize(max: number): void {
    this.max = max;
    this.clear();
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.used = 0;
    this.gap = false;
  }
}

/** Reads records from the segment files, from a position up to a limit, keeping the file being read open. */
class SegmentFiles {
  private open: { segment: number; fd: number } | undefined;
  /** reused for every read: a new megabyte each time costs page faults in the read call (measured: twice the time) */
  private chunk = Buffer.alloc(0);

  constructor(
    private readonly dir: string,
    private readonly sizeOf: (segment: number) => number,
  ) {}

  /** At least one record (when there is one before `limit`), then more up to about `maxBytes`. */
  read<T>(from: SpoolPosition, limit: SpoolPosition, maxBytes: number): SpoolBatch<T> {
    const records: T[] = [];
    let bytes = 0;
    let cursor = { ...from };
    while (bytes < maxBytes && isBefore(cursor, limit)) {
      const { segment, offset } = cursor;
      const size = segment === limit.segment ? limit.offset : this.sizeOf(segment);
      if (offset >= size) {
        // this segment is finished (writes moved on): continue with the next one
        cursor = { segment: segment + 1, offset: 0 };
        continue;
      }
      const fd = this.fdFor(segment);
      const want = Math.min(size - offset, Math.max(READ_CHUNK, maxBytes - bytes));
      if (this.chunk.length < want) this.chunk = Buffer.allocUnsafe(want);
      const chunk = this.chunk.subarray(0, readSync(fd, this.chunk, 0, want, offset));
      let start = 0;
      let nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        // a record longer than the chunk: read it whole
        const whole = this.readLine(fd, offset, size);
        records.push(JSON.parse(whole.toString('utf8')) as T);
        bytes += whole.length + 1;
        cursor = { segment, offset: offset + whole.length + 1 };
        continue;
      }
      while (nl >= 0 && bytes < maxBytes) {
        records.push(JSON.parse(chunk.toString('utf8', start, nl)) as T);
        bytes += nl + 1 - start;
        start = nl + 1;
        nl = chunk.indexOf(0x0a, start);
      }
      cursor = { segment, offset: offset + start };
    }
    return { records, end: cursor, bytes };
  }

  /** Close the file of a segment that is gone (committed). */
  forget(segment: number): void {
    if (this.open?.segment !== segment) return;
    closeSync(this.open.fd);
    this.open = undefined;
  }

  close(): void {
    if (this.open) closeSync(this.open.fd);
    this.open = undefined;
  }

  private fdFor(segment: number): number {
    if (this.open?.segment === segment) return this.open.fd;
    if (this.open) closeSync(this.open.fd);
    const fd = openSync(join(this.dir, segmentName(segment)), 'r');
    this.open = { segment, fd };
    return fd;
  }

  private readLine(fd: number, offset: number, size: number): Buffer {
    const parts: Buffer[] = [];
    let at = offset;
    while (at < size) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - at));
      const got = readSync(fd, chunk, 0, chunk.length, at);
      const nl = chunk.subarray(0, got).indexOf(0x0a);
      if (nl >= 0) {
        parts.push(chunk.subarray(0, nl));
        break;
      }
      parts.push(chunk.subarray(0, got));
      at += got;
    }
    return Buffer.concat(parts);
  }
}
