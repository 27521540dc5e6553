// The spool: an append-only, segmented log on local disk that makes "acked means durable" cheap. Ingestion
// appends records (one JSON line each) to an in-memory group, and the group is written with one write call
// (group commit) before any of its messages is acknowledged; the writer reads records in order, stores them,
// and only then advances the checkpoint. After a crash, everything past the checkpoint is replayed (stores are
// idempotent on (vin, ts), so replays are harmless). Same idea as Vector's disk buffer or Fluent Bit's
// filesystem storage; the group commit is a database's, since on this kind of machine a write call costs more
// than validating a message. Records written by this process are also kept in memory (up to a bound), and the
// writer takes them from there: the file is read back only after a restart or when the writer fell behind by
// more than that bound (Fluent Bit keeps its chunks both "up" in memory and on the filesystem the same way).
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface SpoolPosition {
  segment: number;
  offset: number;
}

export type SpoolFsync = 'always' | 'interval' | 'never';

export interface SpoolOptions {
  dir: string;
  /** Unstored bytes at which ingestion is pushed back (acks are held). */
  maxBytes?: number;
  /** A segment is rolled over once it is this large. */
  segmentBytes?: number;
  /**
   * `always`: fdatasync before each append returns (survives power loss, slow). `interval`: every `fsyncMs`
   * (an acked record survives a process crash at once and an OS crash after at most fsyncMs). `never`: the OS decides.
   */
  fsync?: SpoolFsync;
  fsyncMs?: number;
  /** Written records kept in memory for the reader, in spool bytes (0: always read the file). */
  memoryBytes?: number;
}

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

const SEGMENT_SUFFIX = '.spool';
const CHECKPOINT = 'checkpoint.json';
const READ_CHUNK = 1 << 20;

const segmentName = (n: number): string => `${String(n).padStart(10, '0')}${SEGMENT_SUFFIX}`;
const samePosition = (a: SpoolPosition, b: SpoolPosition): boolean => a.segment === b.segment && a.offset === b.offset;
const isBefore = (a: SpoolPosition, b: SpoolPosition): boolean => a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset);

/** A written record not yet read, kept in memory, with where it lies in the file (one segment). */
interface MemoryRecord {
  record: unknown;
  segment: number;
  start: number;
  end: number;
  bytes: number;
}

/** Positions and names of the spool's files, shared with readers in other threads (SpoolFollower). */
export { segmentName, samePosition, isBefore };

/**
 * Reads records (JSON lines) from a spool's segment files, from a cursor up to a limit: what the writer reads,
 * in this thread (Spool) or another (SpoolFollower). `sizeOf` gives the final size of a finished segment.
 */
export class SegmentReader {
  private readFd: { segment: number; fd: number } | undefined;

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
      const chunk = Buffer.allocUnsafe(want);
      const got = readSync(fd, chunk, 0, want, offset);
      let start = 0;
      let nl = chunk.indexOf(0x0a, start);
      if (nl < 0 || nl >= got) {
        // a record longer than the chunk: read it whole
        const whole = this.readLine(fd, offset, size);
        records.push(JSON.parse(whole.toString('utf8')) as T);
        bytes += whole.length + 1;
        cursor = { segment, offset: offset + whole.length + 1 };
        continue;
      }
      while (nl >= 0 && nl < got && bytes < maxBytes) {
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
    if (this.readFd?.segment !== segment) return;
    closeSync(this.readFd.fd);
    this.readFd = undefined;
  }

  close(): void {
    if (this.readFd) closeSync(this.readFd.fd);
    this.readFd = undefined;
  }

  private fdFor(segment: number): number {
    if (this.readFd?.segment === segment) return this.readFd.fd;
    if (this.readFd) closeSync(this.readFd.fd);
    const fd = openSync(join(this.dir, segmentName(segment)), 'r');
    this.readFd = { segment, fd };
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

export class Spool implements SpoolSource {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  private readonly fsyncMode: SpoolFsync;
  private writeSegment: number;
  private writeFd: number;
  private writeOffset: number;
  private readonly segmentSizes = new Map<number, number>();
  private checkpoint: SpoolPosition;
  private readCursor: SpoolPosition;
  private readonly files: SegmentReader;
  private pending = 0;
  private roomWaiters: Array<() => void> = [];
  private dataWaiters: Array<() => void> = [];
  private fsyncTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  /** the background fdatasync in flight (interval mode): it never blocks ingestion */
  private syncing: Promise<void> | undefined;
  /** fds of rolled-over segments, closed once a background sync has made them durable */
  private retired: number[] = [];
  private closed = false;
  /** appended lines not yet written: made durable by `flush`, before anything in them is acknowledged */
  private group: Array<{ record: unknown; line: string; bytes: number }> = [];
  private groupBytes = 0;
  /**
   * A contiguous run of written records not yet read, oldest first from `memoryHead`. A record leaves memory
   * when read (a rewind reads the file again), so the bound counts what waits for the writer.
   */
  private memory: MemoryRecord[] = [];
  private memoryHead = 0;
  private memoryUsed = 0;
  private memoryMax: number;
  private onWritten: ((end: SpoolPosition) => void) | undefined;
  private durableWaiters: Array<(err?: Error) => void> = [];
  private flushScheduled = false;

  private constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 ** 2;
    this.fsyncMode = options.fsync ?? 'interval';
    this.memoryMax = options.memoryBytes ?? 32 * 1024 ** 2;
    mkdirSync(this.dir, { recursive: true });
    this.files = new SegmentReader(this.dir, (n) => this.segmentSizes.get(n) ?? 0);
    this.checkpoint = this.loadCheckpoint();
    const segments = this.listSegments();
    for (const n of segments) {
      if (n < this.checkpoint.segment) unlinkSync(join(this.dir, segmentName(n)));
    }
    const live = segments.filter((n) => n >= this.checkpoint.segment);
    this.writeSegment = live.at(-1) ?? this.checkpoint.segment;
    for (const n of live) this.segmentSizes.set(n, this.recoverSegment(n));
    this.writeFd = openSync(join(this.dir, segmentName(this.writeSegment)), 'a');
    this.writeOffset = fstatSync(this.writeFd).size;
    this.segmentSizes.set(this.writeSegment, this.writeOffset);
    this.readCursor = { ...this.checkpoint };
    this.pending = this.bytesAfter(this.checkpoint);
    if (this.fsyncMode === 'interval') {
      this.fsyncTimer = setInterval(() => this.syncInBackground(), options.fsyncMs ?? 1000);
      this.fsyncTimer.unref();
    }
  }

  static open(options: SpoolOptions): Spool {
    return new Spool(options);
  }

  /**
   * Hand the reading to a follower in another thread (SpoolFollower): `listener` is told where the file ends
   * after every write, records are no longer kept in memory, and this spool's own reader is not to be used.
   */
  followedBy(listener: (end: SpoolPosition) => void): void {
    this.onWritten = listener;
    this.memoryMax = 0;
    this.memory = [];
    this.memoryHead = 0;
    this.memoryUsed = 0;
  }

  /** Where the file ends now. */
  get writePosition(): SpoolPosition {
    return { segment: this.writeSegment, offset: this.writeOffset };
  }

  /** Everything before this is stored. */
  get checkpointPosition(): SpoolPosition {
    return { ...this.checkpoint };
  }

  /** Bytes appended but not yet committed as stored. */
  get pendingBytes(): number {
    return this.pending;
  }

  get hasRoom(): boolean {
    return this.pending < this.maxBytes;
  }

  /** Resolves once the unstored backlog is below the bound again. */
  waitForRoom(): Promise<void> {
    if (this.hasRoom || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
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
    if (this.closed) throw new Error('spool is closed');
    // JSON.stringify escapes control characters, so a record is one line; its UTF-8 size counts against the bound.
    const text = `${line ?? JSON.stringify(record)}\n`;
    const bytes = Buffer.byteLength(text);
    this.group.push({ record, line: text, bytes });
    this.groupBytes += bytes;
    this.pending += bytes;
    this.scheduleFlush();
  }

  /** Appended records not yet written (a write call away from durable). */
  get unflushedRecords(): number {
    return this.group.length;
  }

  /**
   * Make everything appended so far durable (per the fsync mode) with one write call: after it returns, those
   * records survive a crash of this process (and, with fsync `always`, of the machine). When the disk refuses,
   * the group is dropped (none of it was acknowledged: brokers and HTTP clients send it again), its
   * `whenDurable` callers get the error, and so does the caller.
   */
  flush(): void {
    const waiters = this.durableWaiters;
    this.durableWaiters = [];
    if (this.group.length > 0) {
      try {
        this.writeGroup();
      } catch (err) {
        const failure = err instanceof Error ? err : new Error(String(err));
        for (const done of waiters) done(failure);
        throw failure;
      }
    }
    for (const done of waiters) done();
  }

  /**
   * Group commit: `done` is called once everything appended before this call is durable (with an error when
   * the disk refused it), after a flush shared by every caller of this turn of the event loop.
   */
  whenDurable(done: (err?: Error) => void): void {
    if (this.closed) {
      done(new Error('spool is closed'));
      return;
    }
    this.durableWaiters.push(done);
    this.scheduleFlush();
  }

  /** Promise form of `whenDurable`. */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.whenDurable((err) => (err ? reject(err) : resolve())));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.closed) return;
      try {
        this.flush();
      } catch {
        // the waiters got the error; the next append schedules a new flush
      }
    });
  }

  private writeGroup(): void {
    if (this.closed) throw new Error('spool is closed');
    const group = this.group;
    const data = Buffer.from(group.length === 1 ? group[0]!.line : group.map((g) => g.line).join(''));
    const dropGroup = (): void => {
      this.pending -= this.groupBytes;
      this.group = [];
      this.groupBytes = 0;
    };
    // A group never straddles segments: roll first when it would not fit (a segment may then exceed its size).
    let written = 0;
    try {
      if (this.writeOffset > 0 && this.writeOffset + data.length > this.segmentBytes) this.roll();
      while (written < data.length) written += writeSync(this.writeFd, data, written, data.length - written);
      if (this.fsyncMode === 'always') fdatasyncSync(this.writeFd);
    } catch (err) {
      // cut what part of the group reached the file, so the segment ends on a whole record again
      if (written > 0) {
        try {
          ftruncateSync(this.writeFd, this.writeOffset);
        } catch {
          // recoverSegment cuts a torn tail at the next start
        }
      }
      dropGroup();
      throw err;
    }
    if (this.fsyncMode !== 'always') this.dirty = true;
    this.remember(group, { segment: this.writeSegment, offset: this.writeOffset });
    this.writeOffset += data.length;
    this.segmentSizes.set(this.writeSegment, this.writeOffset);
    this.group = [];
    this.groupBytes = 0;
    this.onWritten?.({ segment: this.writeSegment, offset: this.writeOffset });
    const waiters = this.dataWaiters;
    this.dataWaiters = [];
    for (const wake of waiters) wake();
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

  hasUnread(): boolean {
    return this.readCursor.segment < this.writeSegment || this.readCursor.offset < this.writeOffset;
  }

  /**
   * Read the next records after the read cursor (at most about `maxBytes`, at least one record) and move the
   * cursor past them. Nothing is forgotten until `commit`.
   */
  read<T = unknown>(maxBytes = 4 * 1024 ** 2): SpoolBatch<T> {
    const fromMemory = this.readMemory<T>(maxBytes);
    if (fromMemory) return fromMemory;
    const batch = this.files.read<T>(this.readCursor, { segment: this.writeSegment, offset: this.writeOffset }, maxBytes);
    this.readCursor = batch.end;
    return batch;
  }

  /** Everything before `position` is stored: checkpoint it and drop finished segments. */
  commit(position: SpoolPosition): void {
    // after close the records are replayed at the next start anyway (stores are idempotent)
    if (this.closed) return;
    const before = this.checkpoint;
    if (position.segment < before.segment || (position.segment === before.segment && position.offset <= before.offset)) return;
    const tmp = join(this.dir, `${CHECKPOINT}.tmp`);
    writeFileSync(tmp, JSON.stringify(position));
    renameSync(tmp, join(this.dir, CHECKPOINT));
    this.checkpoint = { ...position };
    for (let n = before.segment; n < position.segment; n++) {
      this.files.forget(n);
      this.segmentSizes.delete(n);
      try {
        unlinkSync(join(this.dir, segmentName(n)));
      } catch {
        // already gone
      }
    }
    this.pending = this.bytesAfter(this.checkpoint) + this.groupBytes;
    if (this.hasRoom) {
      const waiters = this.roomWaiters;
      this.roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Forget what was read but not committed: the next read starts at the checkpoint again. */
  rewind(): void {
    this.readCursor = { ...this.checkpoint };
    // what was read is no longer in memory: read everything from the file again
    this.memory = [];
    this.memoryHead = 0;
    this.memoryUsed = 0;
  }

  /** fdatasync what was written, on the threadpool; one at a time, so a slow disk skips intervals, not the loop. */
  private syncInBackground(): void {
    if (this.syncing || this.closed || (!this.dirty && this.retired.length === 0)) return;
    const retired = this.retired;
    this.retired = [];
    const fds = this.dirty ? [...retired, this.writeFd] : retired;
    this.dirty = false;
    const syncOne = (fd: number): Promise<void> => new Promise((resolve) => fdatasync(fd, () => resolve()));
    this.syncing = Promise.all(fds.map(syncOne)).then(() => {
      for (const fd of retired) closeSync(fd);
      this.syncing = undefined;
    });
  }

  /** Everything written so far reaches the disk before this returns (shutdown). */
  private syncNow(): void {
    for (const fd of this.retired) {
      fdatasyncSync(fd);
    }
    if (this.dirty) fdatasyncSync(this.writeFd);
    this.dirty = false;
  }

  close(): void {
    if (this.closed) return;
    // unacknowledged records written now are harmless: replays are idempotent
    try {
      this.flush();
    } catch {
      // nothing in the group was acknowledged: the broker or the HTTP client sends it again
    }
    if (this.fsyncMode !== 'never') this.syncNow();
    this.closed = true;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    // an fd the background sync still works on is closed when it is done with it
    const fds = [this.writeFd, ...this.retired];
    this.retired = [];
    if (this.syncing) void this.syncing.then(() => fds.forEach((fd) => closeSync(fd)));
    else fds.forEach((fd) => closeSync(fd));
    this.files.close();
    for (const wake of [...this.roomWaiters, ...this.dataWaiters]) wake();
    this.roomWaiters = [];
    this.dataWaiters = [];
    for (const done of this.durableWaiters.splice(0)) done(new Error('spool is closed'));
  }

  /**
   * Keep a written group in memory for the reader when it continues the run already kept, or when the reader has
   * caught up with the file; otherwise (the bound is reached) the reader gets these records from the file.
   */
  private remember(group: ReadonlyArray<{ record: unknown; bytes: number }>, start: SpoolPosition): void {
    if (this.memoryMax <= 0) return;
    const last = this.memoryHead < this.memory.length ? this.memory.at(-1) : undefined;
    const contiguous = last ? this.continues({ segment: last.segment, offset: last.end }, start) : samePosition(this.normalizedCursor(), start);
    if (!contiguous || this.memoryUsed + this.groupBytes > this.memoryMax) return;
    let offset = start.offset;
    for (const { record, bytes } of group) {
      this.memory.push({ record, segment: start.segment, start: offset, end: offset + bytes, bytes });
      offset += bytes;
    }
    this.memoryUsed += this.groupBytes;
  }

  /** True when `start` is where the file goes on after `end` (the same offset, or the next segment after a roll). */
  private continues(end: SpoolPosition, start: SpoolPosition): boolean {
    if (samePosition(end, start)) return true;
    return start.offset === 0 && start.segment === end.segment + 1 && end.offset === this.segmentSizes.get(end.segment);
  }

  /** The read cursor, moved past the end of a finished segment to the start of the next one. */
  private normalizedCursor(): SpoolPosition {
    const { segment, offset } = this.readCursor;
    if (segment < this.writeSegment && offset >= (this.segmentSizes.get(segment) ?? 0)) this.readCursor = { segment: segment + 1, offset: 0 };
    return this.readCursor;
  }

  /** Records the reader can take from memory right now (a batch never mixes memory and file). */
  private readMemory<T>(maxBytes: number): SpoolBatch<T> | undefined {
    // drop what a file read went past
    const cursor = this.normalizedCursor();
    const startOf = (entry: MemoryRecord): SpoolPosition => ({ segment: entry.segment, offset: entry.start });
    while (this.memoryHead < this.memory.length && isBefore(startOf(this.memory[this.memoryHead]!), cursor)) this.takeMemory();
    const first = this.memory[this.memoryHead];
    if (!first || !samePosition(startOf(first), cursor)) return undefined;
    const records: T[] = [];
    let bytes = 0;
    while (this.memoryHead < this.memory.length && (records.length === 0 || bytes < maxBytes)) {
      const entry = this.takeMemory();
      records.push(entry.record as T);
      bytes += entry.bytes;
      this.readCursor = { segment: entry.segment, offset: entry.end };
    }
    if (this.memoryHead === this.memory.length) {
      this.memory = [];
      this.memoryHead = 0;
    } else if (this.memoryHead > 4096 && this.memoryHead * 2 > this.memory.length) {
      // a reader that stays a little behind: drop the spent slots now and then
      this.memory = this.memory.slice(this.memoryHead);
      this.memoryHead = 0;
    }
    return { records, end: { ...this.readCursor }, bytes };
  }

  private takeMemory(): MemoryRecord {
    const entry = this.memory[this.memoryHead]!;
    // let go of the record now: the writer holds it while it is stored, memory must not hold it longer
    this.memory[this.memoryHead++] = undefined as unknown as MemoryRecord;
    this.memoryUsed -= entry.bytes;
    return entry;
  }

  private roll(): void {
    // open the next segment first: if that fails, the current one is still there to write to
    const next = openSync(join(this.dir, segmentName(this.writeSegment + 1)), 'a');
    // interval: the finished segment is synced (then closed) by the next background sync
    if (this.fsyncMode === 'interval' && this.dirty) this.retired.push(this.writeFd);
    else if (this.syncing) {
      const fd = this.writeFd;
      void this.syncing.then(() => closeSync(fd));
    } else closeSync(this.writeFd);
    this.dirty = false;
    this.writeFd = next;
    this.writeSegment += 1;
    this.writeOffset = 0;
    this.segmentSizes.set(this.writeSegment, 0);
  }




  private bytesAfter(position: SpoolPosition): number {
    let total = 0;
    for (const [n, size] of this.segmentSizes) {
      if (n > position.segment) total += size;
      else if (n === position.segment) total += Math.max(0, size - position.offset);
    }
    return total;
  }

  private listSegments(): number[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(SEGMENT_SUFFIX))
      .map((f) => Number.parseInt(f, 10))
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => a - b);
  }

  private loadCheckpoint(): SpoolPosition {
    try {
      const parsed = JSON.parse(readFileSync(join(this.dir, CHECKPOINT), 'utf8')) as SpoolPosition;
      if (Number.isInteger(parsed.segment) && Number.isInteger(parsed.offset)) return parsed;
    } catch {
      // no checkpoint yet: start at the first segment
    }
    const first = this.listSegments()[0] ?? 1;
    return { segment: first, offset: 0 };
  }

  /**
   * Cut a torn last record (the process died inside a write): it was never acknowledged, so dropping it
   * loses nothing that a publisher was told is safe. Returns the segment's size afterwards.
   */
  private recoverSegment(n: number): number {
    const path = join(this.dir, segmentName(n));
    const fd = openSync(path, 'r+');
    try {
      const size = fstatSync(fd).size;
      if (size === 0) return 0;
      const tail = Buffer.allocUnsafe(Math.min(size, READ_CHUNK));
      let end = size;
      while (end > 0) {
        const from = Math.max(0, end - tail.length);
        const got = readSync(fd, tail, 0, end - from, from);
        const nl = tail.subarray(0, got).lastIndexOf(0x0a);
        if (nl >= 0) {
          const keep = from + nl + 1;
          if (keep !== size) ftruncateSync(fd, keep);
          return keep;
        }
        end = from;
      }
      ftruncateSync(fd, 0);
      return 0;
    } finally {
      closeSync(fd);
    }
  }
}
