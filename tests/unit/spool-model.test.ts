// The spool against a model of it (after Vector's disk buffer tests/model): random sequences of appends, group
// commits, reads, commits, rewinds, clean restarts and crashes (a torn write of the group in flight included), on
// small segments that roll over often, read by the spool itself or by a follower. After every action the spool
// must agree with a few arrays: what is acknowledged is read back in order, exactly once past the checkpoint,
// after any restart; nothing committed comes back; the byte counts and the push-back match. Seeded, so a failure
// is replayed by its seed and path (printed by fast-check).
import t from 'tap';
import fc from 'fast-check';
import { appendFileSync, cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpoolFollower } from '../../services/spool/follower.ts';
import { SharedSpoolEnd } from '../../services/spool/shared-end.ts';
import { Spool, type SpoolFsync, type SpoolPosition, type SpoolSource } from '../../services/spool/spool.ts';
import { tempDir } from '../../tooling/system.ts';

interface TestRecord {
  id: number;
  pad: string;
}

type Action =
  | { kind: 'append'; pads: number[]; withLine: boolean }
  | { kind: 'flush' }
  | { kind: 'durable' }
  | { kind: 'turn' }
  | { kind: 'read'; maxBytes: number }
  | { kind: 'commit'; pick: number }
  | { kind: 'rewind' }
  | { kind: 'restart' }
  | { kind: 'crash'; torn: number };

interface Setup {
  segmentBytes: number;
  memoryBytes: number;
  maxBytes: number;
  fsync: SpoolFsync;
  reader: 'spool' | 'follower';
}

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), pads: fc.array(fc.nat(200), { minLength: 1, maxLength: 4 }), withLine: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'durable' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'turn' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('read' as const), maxBytes: fc.integer({ min: 1, max: 3_000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'rewind' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), torn: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

const setup: fc.Arbitrary<Setup> = fc.record({
  segmentBytes: fc.constantFrom(256, 1_024, 8_192),
  memoryBytes: fc.constantFrom(0, 700, 2_000, 32 * 1024 ** 2),
  maxBytes: fc.constantFrom(1_500, 1024 ** 3),
  fsync: fc.constantFrom<SpoolFsync>('never', 'never', 'never', 'interval', 'interval', 'always'),
  reader: fc.constantFrom<'spool' | 'follower'>('spool', 'follower'),
});

const lineOf = (record: TestRecord): string => `${JSON.stringify(record)}\n`;
const sizeOf = (record: TestRecord): number => Buffer.byteLength(lineOf(record));
const sum = (records: readonly TestRecord[]): number => records.reduce((n, r) => n + sizeOf(r), 0);
const ids = (records: readonly TestRecord[]): number[] => records.map((r) => r.id);

/** What the spool must hold, as plain arrays: written records past the checkpoint, the cursor, the group. */
class Model {
  /** written records not yet committed, oldest first */
  log: TestRecord[] = [];
  /** how many of `log` the reader has read since the last commit or rewind */
  cursor = 0;
  /** appended, not yet written (not acknowledged) */
  group: TestRecord[] = [];
  /** ends of batches read since the last rewind, with how many records of `log` lie before each */
  readEnds: Array<{ end: SpoolPosition; count: number }> = [];

  written(): void {
    this.log.push(...this.group);
    this.group = [];
  }

  committed(count: number): void {
    this.log = this.log.slice(count);
    this.cursor -= count;
    this.readEnds = this.readEnds.filter((r) => r.count > count).map((r) => ({ ...r, count: r.count - count }));
  }

  reopened(survivors: TestRecord[]): void {
    this.log.push(...survivors);
    this.group = [];
    this.cursor = 0;
    this.readEnds = [];
  }
}

/** The spool (and its follower) under test, opened on `dir`. */
class System {
  spool: Spool;
  follower: SpoolFollower | undefined;

  constructor(
    readonly dir: string,
    readonly options: Setup,
  ) {
    this.spool = Spool.open({ dir, segmentBytes: options.segmentBytes, memoryBytes: options.memoryBytes, maxBytes: options.maxBytes, fsync: options.fsync, fsyncMs: 1 });
    if (options.reader === 'follower') {
      const owner = this.spool;
      const end = new SharedSpoolEnd(owner.writePosition);
      owner.followedBy((position) => end.publish(position));
      const follower = new SpoolFollower({ dir, checkpoint: owner.checkpointPosition, end: end.buffer, onCommit: (p) => owner.commit(p) });
      this.follower = follower;
    }
  }

  get reader(): SpoolSource {
    return this.follower ?? this.spool;
  }

  close(): void {
    this.follower?.close();
    this.spool.close();
  }
}

/**
 * A crash: the files as they are now, plus a prefix of the group in flight (the process died inside its write),
 * copied to `into`; the old spool is then closed (what it writes afterwards lands in the old directory only).
 * Returns the records of the group that reached the copy whole (never acknowledged, so replaying them is allowed).
 */
function crash(system: System, model: Model, torn: number, into: string): TestRecord[] {
  cpSync(system.dir, into, { recursive: true });
  const text = model.group.map(lineOf).join('');
  const cut = Math.floor(torn * Buffer.byteLength(text));
  const survivors: TestRecord[] = [];
  if (cut > 0) {
    const prefix = Buffer.from(text).subarray(0, cut);
    // the group goes where the spool would write it: the current segment, or the next one when it would not fit
    const at = system.spool.writePosition;
    const name = (n: number): string => `${String(n).padStart(10, '0')}.spool`;
    if (at.offset > 0 && at.offset + Buffer.byteLength(text) > system.options.segmentBytes) writeFileSync(join(into, name(at.segment + 1)), prefix);
    else appendFileSync(join(into, name(at.segment)), prefix);
    let whole = 0;
    for (const record of model.group) {
      whole += sizeOf(record);
      if (whole <= cut) survivors.push(record);
    }
  }
  system.close();
  return survivors;
}

async function run(root: string, options: Setup, actions: Action[]): Promise<void> {
  let generation = 0;
  const nextDir = (): string => join(root, `g${generation++}`);
  let system = new System(nextDir(), options);
  const model = new Model();
  let nextId = 0;
  const check = (after: string): void => {
    const unflushed = sum(model.group);
    const unstored = sum(model.log);
    const where = `after ${after}`;
    if (system.spool.unflushedRecords !== model.group.length) throw new Error(`${where}: unflushedRecords ${system.spool.unflushedRecords}, model ${model.group.length}`);
    if (system.spool.pendingBytes !== unstored + unflushed) throw new Error(`${where}: pendingBytes ${system.spool.pendingBytes}, model ${unstored + unflushed}`);
    if (system.follower && system.follower.pendingBytes !== unstored) throw new Error(`${where}: follower pendingBytes ${system.follower.pendingBytes}, model ${unstored}`);
    if (system.spool.hasRoom !== unstored + unflushed < options.maxBytes) throw new Error(`${where}: hasRoom ${system.spool.hasRoom}`);
    if (system.reader.hasUnread() !== model.cursor < model.log.length) throw new Error(`${where}: hasUnread ${system.reader.hasUnread()}, model ${model.cursor}/${model.log.length}`);
  };
  try {
    for (const [step, a] of actions.entries()) {
      switch (a.kind) {
        case 'append':
          for (const pad of a.pads) {
            const record = { id: nextId++, pad: 'x'.repeat(pad) };
            system.spool.append(record, a.withLine ? JSON.stringify(record) : undefined);
            model.group.push(record);
          }
          break;
        case 'flush':
          system.spool.flush();
          model.written();
          break;
        case 'durable':
          await system.spool.durable();
          model.written();
          break;
        case 'turn':
          // the group an append scheduled is written on the next turn, whether anyone waits or not
          await new Promise((r) => setImmediate(r));
          model.written();
          break;
        case 'read': {
          const batch = system.reader.read<TestRecord>(a.maxBytes);
          const expected = model.log.slice(model.cursor, model.cursor + batch.records.length);
          if (model.cursor < model.log.length && batch.records.length === 0) throw new Error(`step ${step}: read nothing with ${model.log.length - model.cursor} unread`);
          if (JSON.stringify(ids(batch.records)) !== JSON.stringify(ids(expected))) throw new Error(`step ${step}: read ${ids(batch.records)}, model ${ids(expected)}`);
          if (batch.records.some((r, i) => r.pad !== expected[i]!.pad)) throw new Error(`step ${step}: a record came back changed`);
          if (batch.bytes !== sum(expected)) throw new Error(`step ${step}: batch bytes ${batch.bytes}, model ${sum(expected)}`);
          if (batch.records.length > 1 && batch.bytes - sizeOf(expected.at(-1)!) >= a.maxBytes) throw new Error(`step ${step}: read past maxBytes`);
          model.cursor += batch.records.length;
          if (batch.records.length > 0) model.readEnds.push({ end: batch.end, count: model.cursor });
          break;
        }
        case 'commit': {
          const target = model.readEnds[a.pick % Math.max(1, model.readEnds.length)];
          if (!target) break;
          system.reader.commit(target.end);
          model.committed(target.count);
          break;
        }
        case 'rewind':
          system.reader.rewind();
          model.cursor = 0;
          model.readEnds = [];
          break;
        case 'restart':
          // a clean stop writes the group (nobody was told it is durable, but keeping it is harmless)
          system.close();
          model.written();
          system = new System(system.dir, options);
          model.reopened([]);
          break;
        case 'crash': {
          const dir = nextDir();
          const survivors = crash(system, model, a.torn, dir);
          model.group = [];
          system = new System(dir, options);
          model.reopened(survivors);
          break;
        }
      }
      check(`step ${step} (${a.kind})`);
    }
    // in the end, everything acknowledged and not committed is there, once and in order, after a restart
    system.close();
    model.written();
    system = new System(system.dir, options);
    const seen: TestRecord[] = [];
    while (system.reader.hasUnread()) seen.push(...system.reader.read<TestRecord>(4_096).records);
    if (JSON.stringify(ids(seen)) !== JSON.stringify(ids(model.log))) throw new Error(`after the last restart: read ${ids(seen)}, model ${ids(model.log)}`);
  } finally {
    system.close();
  }
}

t.test('the spool agrees with its model under random appends, group commits, reads, commits, rewinds, restarts and crashes', async (t) => {
  const root = await tempDir('spool-model');
  t.teardown(root.remove);
  let runs = 0;
  let actionsRun = 0;
  const seed = Number(process.env.VC_SPOOL_MODEL_SEED ?? 20_260_611);
  const numRuns = Number(process.env.VC_SPOOL_MODEL_RUNS ?? 300);
  await fc.assert(
    fc.asyncProperty(setup, fc.array(action, { minLength: 1, maxLength: 150, size: 'max' }), async (options, actions) => {
      const dir = join(root.path, `run${runs++}`);
      actionsRun += actions.length;
      try {
        await run(dir, options, actions);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { seed, numRuns },
  );
  t.equal(runs, numRuns, `${runs} sequences of ${actionsRun} actions in all, seed ${seed}`);
  t.same(readdirSync(root.path), [], 'every run cleaned up after itself');
});
