// The spool: an append-only, segmented log on local disk that makes "acked means durable" cheap. Ingestion
// appends a record (one JSON line) before acknowledging; the writer reads records in order, stores them, and
// only then advances the checkpoint. After a crash, everything past the checkpoint is replayed (stores are
// idempotent on (vin, ts), so replays are harmless). Same idea as Vector's disk buffer or Fluent Bit's
// filesystem storage.
import {
  closeSync,
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

export class Spool {
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
  private readFd: { segment: number; fd: number } | undefined;
  private pending = 0;
  private roomWaiters: Array<() => void> = [];
  private dataWaiters: Array<() => void> = [];
  private fsyncTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  private closed = false;

  private constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 ** 2;
    this.fsyncMode = options.fsync ?? 'interval';
    mkdirSync(this.dir, { recursive: true });
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
      this.fsyncTimer = setInterval(() => this.sync(), options.fsyncMs ?? 1000);
      this.fsyncTimer.unref();
    }
  }

  static open(options: SpoolOptions): Spool {
    return new Spool(options);
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

  /** Durably (per the fsync mode) append one record. Synchronous so that the caller acks only afterwards. */
  append(record: unknown): void {
    if (this.closed) throw new Error('spool is closed');
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    if (this.writeOffset > 0 && this.writeOffset + line.length > this.segmentBytes) this.roll();
    let written = 0;
    while (written < line.length) written += writeSync(this.writeFd, line, written, line.length - written);
    this.writeOffset += line.length;
    this.segmentSizes.set(this.writeSegment, this.writeOffset);
    this.pending += line.length;
    if (this.fsyncMode === 'always') fdatasyncSync(this.writeFd);
    else this.dirty = true;
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
    const records: T[] = [];
    let bytes = 0;
    while (bytes < maxBytes && this.hasUnread()) {
      const { segment, offset } = this.readCursor;
      const size = this.segmentSizes.get(segment) ?? 0;
      if (offset >= size) {
        // this segment is finished (writes moved on): continue with the next one
        this.readCursor = { segment: segment + 1, offset: 0 };
        continue;
      }
      const fd = this.readFdFor(segment);
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
        this.readCursor = { segment, offset: offset + whole.length + 1 };
        continue;
      }
      while (nl >= 0 && nl < got && bytes < maxBytes) {
        records.push(JSON.parse(chunk.toString('utf8', start, nl)) as T);
        bytes += nl + 1 - start;
        start = nl + 1;
        nl = chunk.indexOf(0x0a, start);
      }
      this.readCursor = { segment, offset: offset + start };
    }
    return { records, end: { ...this.readCursor }, bytes };
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
      if (this.readFd?.segment === n) {
        closeSync(this.readFd.fd);
        this.readFd = undefined;
      }
      this.segmentSizes.delete(n);
      try {
        unlinkSync(join(this.dir, segmentName(n)));
      } catch {
        // already gone
      }
    }
    this.pending = this.bytesAfter(this.checkpoint);
    if (this.hasRoom) {
      const waiters = this.roomWaiters;
      this.roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Forget what was read but not committed: the next read starts at the checkpoint again. */
  rewind(): void {
    this.readCursor = { ...this.checkpoint };
  }

  sync(): void {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    fdatasyncSync(this.writeFd);
  }

  close(): void {
    if (this.closed) return;
    this.sync();
    this.closed = true;
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    closeSync(this.writeFd);
    if (this.readFd) closeSync(this.readFd.fd);
    for (const wake of [...this.roomWaiters, ...this.dataWaiters]) wake();
    this.roomWaiters = [];
    this.dataWaiters = [];
  }

  private roll(): void {
    this.sync();
    closeSync(this.writeFd);
    this.writeSegment += 1;
    this.writeFd = openSync(join(this.dir, segmentName(this.writeSegment)), 'a');
    this.writeOffset = 0;
    this.segmentSizes.set(this.writeSegment, 0);
  }

  private readFdFor(segment: number): number {
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
