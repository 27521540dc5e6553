// The spool's files: numbered segments of JSON lines, appended to at the end of the last one and rolled over when
// full, so that stored records go by deleting whole files. Opening cuts a torn last record (the process died inside
// a write). The log also makes what it wrote durable per the fsync mode, since the file descriptors are its own
// (a rolled-over segment is synced before it is closed). A position (segment, offset) names a place in the files.
import { closeSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readdirSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SpoolPosition {
  segment: number;
  offset: number;
}

export type SpoolFsync = 'always' | 'interval' | 'never';

export interface SegmentLogOptions {
  dir: string;
  /** A segment is rolled over once the next write would make it larger than this. */
  segmentBytes: number;
  /**
   * `always`: fdatasync before each append returns (survives power loss, slow). `interval`: every `fsyncMs`, on
   * the threadpool (an appended record survives a process crash at once and an OS crash after at most fsyncMs).
   * `never`: the OS decides.
   */
  fsync: SpoolFsync;
  fsyncMs: number;
}

const SEGMENT_SUFFIX = '.spool';
/** Bytes read from a segment at a time (recovery and the reader). */
export const READ_CHUNK = 1 << 20;

export const segmentName = (n: number): string => `${String(n).padStart(10, '0')}${SEGMENT_SUFFIX}`;
export const isBefore = (a: SpoolPosition, b: SpoolPosition): boolean => a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset);

export class SegmentLog {
  readonly dir: string;
  /** the first segment kept (the checkpoint's, or the oldest file when there is no checkpoint) */
  readonly first: number;
  private readonly options: SegmentLogOptions;
  private segment: number;
  private fd: number;
  private offset: number;
  /** sizes of the segments kept, the one written to included */
  private readonly sizes = new Map<number, number>();
  private readonly fsyncTimer: NodeJS.Timeout | undefined;
  /** written since the last sync (interval mode) */
  private dirty = false;
  /** the background fdatasync in flight (interval mode): it never blocks ingestion */
  private syncing: Promise<void> | undefined;
  /** fds of rolled-over segments, closed once a background sync has made them durable */
  private retired: number[] = [];

  /** Open the segments from `from` on (all when undefined), deleting older ones and cutting a torn tail. */
  constructor(options: SegmentLogOptions, from: number | undefined) {
    this.options = options;
    this.dir = options.dir;
    const segments = this.listSegments();
    for (const n of segments) {
      if (from !== undefined && n < from) unlinkSync(this.pathOf(n));
    }
    const live = segments.filter((n) => from === undefined || n >= from);
    this.segment = live.at(-1) ?? from ?? 1;
    this.first = live[0] ?? this.segment;
    for (const n of live) this.sizes.set(n, recoverSegment(this.pathOf(n)));
    this.fd = openSync(this.pathOf(this.segment), 'a');
    this.offset = fstatSync(this.fd).size;
    this.sizes.set(this.segment, this.offset);
    if (options.fsync === 'interval') {
      this.fsyncTimer = setInterval(() => this.syncInBackground(), options.fsyncMs);
      this.fsyncTimer.unref();
    }
  }

  /** Where the files end now. */
  get end(): SpoolPosition {
    return { segment: this.segment, offset: this.offset };
  }

  /** Size of a kept segment (0 for one already deleted). */
  sizeOf(segment: number): number {
    return this.sizes.get(segment) ?? 0;
  }

  /**
   * Write `data` (whole records) at the end, in the current segment or, when it would not fit, a new one (a
   * segment may then exceed its size: data never straddles two). Returns once it is durable per the fsync mode.
   * When the disk refuses, what part of it reached the file is cut again, so a segment always ends on a whole record.
   */
  append(data: Buffer): void {
    let written = 0;
    try {
      if (this.offset > 0 && this.offset + data.length > this.options.segmentBytes) this.roll();
      while (written < data.length) written += writeSync(this.fd, data, written, data.length - written);
      if (this.options.fsync === 'always') fdatasyncSync(this.fd);
    } catch (err) {
      if (written > 0) {
        try {
          ftruncateSync(this.fd, this.offset);
        } catch {
          // recovery cuts a torn tail at the next start
        }
      }
      throw err;
    }
    if (this.options.fsync === 'interval') this.dirty = true;
    this.offset += data.length;
    this.sizes.set(this.segment, this.offset);
  }

  /** Everything in the segments before `segment` is stored: delete them. */
  dropBefore(segment: number): void {
    for (const n of this.sizes.keys()) {
      if (n >= segment) continue;
      this.sizes.delete(n);
      try {
        unlinkSync(this.pathOf(n));
      } catch {
        // already gone
      }
    }
  }

  /** Sync what was written (unless fsync is `never`) and close every file; closing waits for a sync in flight. */
  close(): void {
    if (this.options.fsync !== 'never') {
      for (const fd of this.retired) fdatasyncSync(fd);
      if (this.dirty) fdatasyncSync(this.fd);
      this.dirty = false;
    }
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    const fds = [this.fd, ...this.retired];
    this.retired = [];
    this.closeAfterSync(fds);
  }

  private roll(): void {
    // open the next segment first: if that fails, the current one is still there to write to
    const next = openSync(this.pathOf(this.segment + 1), 'a');
    // interval: the finished segment is synced (then closed) by the next background sync
    if (this.dirty) this.retired.push(this.fd);
    else this.closeAfterSync([this.fd]);
    this.dirty = false;
    this.fd = next;
    this.segment += 1;
    this.offset = 0;
    this.sizes.set(this.segment, 0);
  }

  /** fdatasync what was written, on the threadpool; one at a time, so a slow disk skips intervals, not the loop. */
  private syncInBackground(): void {
    if (this.syncing || (!this.dirty && this.retired.length === 0)) return;
    const retired = this.retired;
    this.retired = [];
    const fds = this.dirty ? [...retired, this.fd] : retired;
    this.dirty = false;
    const syncOne = (fd: number): Promise<void> => new Promise((resolve) => fdatasync(fd, () => resolve()));
    this.syncing = Promise.all(fds.map(syncOne)).then(() => {
      for (const fd of retired) closeSync(fd);
      this.syncing = undefined;
    });
  }

  /** An fd the background sync still works on is closed when it is done with it. */
  private closeAfterSync(fds: number[]): void {
    if (this.syncing) void this.syncing.then(() => fds.forEach((fd) => closeSync(fd)));
    else fds.forEach((fd) => closeSync(fd));
  }

  private pathOf(segment: number): string {
    return join(this.dir, segmentName(segment));
  }

  private listSegments(): number[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(SEGMENT_SUFFIX))
      .map((f) => Number.parseInt(f, 10))
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => a - b);
  }
}

/**
 * Cut a torn last record (the process died inside a write): it was never acknowledged, so dropping it loses
 * nothing that a publisher was told is safe. Returns the segment's size afterwards.
 */
function recoverSegment(path: string): number {
  const fd = openSync(path, 'r+');
  try {
    const size = fstatSync(fd).size;
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
    if (size > 0) ftruncateSync(fd, 0);
    return 0;
  } finally {
    closeSync(fd);
  }
}
