// A reader of a spool another thread writes: the store writer's thread follows the ingest thread's spool through
// its files, told by the owner where the files end after each write, and hands back the positions it stored (the
// owner checkpoints them and deletes finished segments). Reading the files here, rather than passing records
// between threads, costs one JSON.parse a record and nothing on the ingest thread. It is the spool's own reader,
// with the sizes of finished segments taken from their files.
import { SpoolReader } from './reader.ts';
import type { SpoolPosition } from './segment-log.ts';

export interface SpoolFollowerOptions {
  dir: string;
  /** the owner's checkpoint when this reader starts: reading starts here */
  checkpoint: SpoolPosition;
  /** where the owner's files ended when this reader started */
  written: SpoolPosition;
  /** a position this reader stored everything before: the owner checkpoints it */
  onCommit: (position: SpoolPosition) => void;
}

export class SpoolFollower extends SpoolReader {
  constructor(options: SpoolFollowerOptions) {
    super({ dir: options.dir, from: options.checkpoint, end: options.written, onCommit: options.onCommit });
  }
}
