// The checkpoint: the position before which everything is stored, in checkpoint.json beside the segments. It is
// replaced whole (written aside, then renamed over), so a crash leaves the old one or the new one, never half.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpoolPosition } from './segment-log.ts';

const CHECKPOINT = 'checkpoint.json';

/** The checkpoint kept in `dir`, or undefined when nothing was ever stored (or the file is unreadable). */
export function readCheckpoint(dir: string): SpoolPosition | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, CHECKPOINT), 'utf8')) as SpoolPosition;
    if (Number.isInteger(parsed.segment) && Number.isInteger(parsed.offset)) return parsed;
  } catch {
    // no checkpoint yet: reading starts at the first segment
  }
  return undefined;
}

export function writeCheckpoint(dir: string, position: SpoolPosition): void {
  const tmp = join(dir, `${CHECKPOINT}.tmp`);
  writeFileSync(tmp, JSON.stringify(position));
  renameSync(tmp, join(dir, CHECKPOINT));
}
