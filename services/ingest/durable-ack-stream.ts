// The stream between MQTT.js and the broker socket of the ingest session. MQTT.js handles one incoming packet
// at a time and writes each PUBACK as soon as our handler calls back, one write call per message. This stream
// holds outgoing bytes until the end of the event-loop turn, makes the spool group durable (one write for all
// messages of the turn), and only then passes every held PUBACK to the socket in one write. So a PUBACK still
// never leaves before its message is on local disk, at two write calls per turn instead of two per message.
// It also bounds what one turn reads from the broker: MQTT.js works through everything read in one go without
// yielding, and a backlog read at once would starve the store writer (and every timer) for as long as it takes.
import { Duplex } from 'node:stream';

export interface DurableAckStreamOptions {
  /** Make everything ingested so far durable; throws when it could not (then nothing may be acknowledged). */
  commit: () => void;
  /** Called when `commit` threw: the connection is closed without sending the held PUBACKs. */
  onCommitFailed: (err: Error) => void;
  /** Bytes read from the broker per event-loop turn before the socket is paused until the next turn. */
  turnBytes?: number;
}

const DEFAULT_TURN_BYTES = 128 * 1024;

export class DurableAckStream extends Duplex {
  private held: Buffer[] = [];
  private heldCallbacks: Array<(err?: Error | null) => void> = [];
  private flushScheduled = false;
  private readonly turnBudget: number;
  private readThisTurn = 0;
  private turnScheduled = false;
  /** MQTT.js wants more (its side of the pipe is not full) */
  private wanted = true;

  constructor(
    private readonly brokerSocket: Duplex,
    private readonly options: DurableAckStreamOptions,
  ) {
    super({ allowHalfOpen: false });
    this.turnBudget = options.turnBytes ?? DEFAULT_TURN_BYTES;
    brokerSocket.on('data', (chunk: Buffer) => {
      this.readThisTurn += chunk.length;
      if (!this.turnScheduled) {
        this.turnScheduled = true;
        setImmediate(() => this.nextTurn());
      }
      this.wanted = this.push(chunk);
      if (!this.wanted || this.readThisTurn >= this.turnBudget) brokerSocket.pause();
    });
    brokerSocket.on('end', () => this.push(null));
    brokerSocket.on('error', (err) => this.destroy(err));
    brokerSocket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.wanted = true;
    if (this.readThisTurn < this.turnBudget) this.brokerSocket.resume();
  }

  private nextTurn(): void {
    this.turnScheduled = false;
    this.readThisTurn = 0;
    if (this.wanted && !this.destroyed) this.brokerSocket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.hold([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    this.hold(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.flushHeld();
    this.brokerSocket.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // held PUBACKs are dropped: their messages are redelivered on the persistent session
    const callbacks = this.heldCallbacks;
    this.held = [];
    this.heldCallbacks = [];
    for (const cb of callbacks) cb(err ?? new Error('connection closed'));
    this.brokerSocket.destroy();
    callback(err);
  }

  private hold(chunks: Buffer[], callback: (err?: Error | null) => void): void {
    this.held.push(...chunks);
    this.heldCallbacks.push(callback);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushHeld();
    });
  }

  private flushHeld(): void {
    if (this.held.length === 0 || this.destroyed) return;
    try {
      this.options.commit();
    } catch (err) {
      const failure = err instanceof Error ? err : new Error(String(err));
      this.options.onCommitFailed(failure);
      this.destroy(failure);
      return;
    }
    const data = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    const callbacks = this.heldCallbacks;
    this.held = [];
    this.heldCallbacks = [];
    const done = (): void => {
      for (const cb of callbacks) cb();
    };
    // the socket's own buffer is the backpressure: MQTT.js waits for our callbacks before it writes more
    if (this.brokerSocket.write(data)) done();
    else this.brokerSocket.once('drain', done);
  }
}
