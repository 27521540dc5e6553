// The stream between MQTT.js and the broker socket of the ingest session. MQTT.js handles one incoming packet
// at a time and writes each PUBACK as soon as our handler calls back, one write call per message. This stream
// holds outgoing bytes until the end of the event-loop turn, makes the spool group durable (one write for all
// messages of the turn), and only then passes every held PUBACK to the socket in one write. So a PUBACK still
// never leaves before its message is on local disk, at two write calls per turn instead of two per message.
// It also bounds what one turn reads from the broker: MQTT.js works through everything read in one go without
// yielding, and a backlog read at once would starve the store writer (and every timer) for as long as it takes.
// With `publish`, it takes QoS 1 PUBLISH packets itself (framing and PUBACKs in publish-frames.ts) and hands
// MQTT.js only the rest: measured, MQTT.js's per-message machinery was a third of the ingest thread's time.
// Keepalive: the broker's PINGRESP comes behind the PUBLISH packets it sent before it, and MQTT.js ends the
// connection when it has not read it 15 s after its PINGREQ. Behind a window of unacknowledged store-and-forward
// batches (1,000 of up to 256 KiB) at ingest speed, or while a publish waits for spool room (the socket is not read
// then), that is longer: under a week of history the connection dropped every 45 s or so, 18 times in one run, and
// the broker sent everything unacknowledged again each time. So each PINGREQ still goes to the broker (which sees the
// session alive), and MQTT.js is answered here when the connection showed it is alive since the last PINGREQ (bytes
// came from the broker) or when we are the ones not reading; the broker's own PINGRESP is dropped when it is read.
// A connection that died is still found: no bytes come, and the next PINGREQ waits for the broker's answer.
import { Duplex } from 'node:stream';
import { MalformedPacket, nextFrame, puback, qos1Publish } from './publish-frames.ts';

export interface DurableAckStreamOptions {
  /** Make everything ingested so far durable; throws when it could not (then nothing may be acknowledged). */
  commit: () => void;
  /** Called when `commit` threw: the connection is closed without sending the held PUBACKs. */
  onCommitFailed: (err: Error) => void;
  /** Bytes read from the broker per event-loop turn before the socket is paused until the next turn. */
  turnBytes?: number;
  /**
   * Take QoS 1 PUBLISH packets here: called with each one in order; its PUBACK is held (as above) once this
   * returned, or once its promise resolved (frames wait meanwhile, as MQTT.js would). A throw or a rejection
   * closes the connection without the PUBACK. The session must not announce a Topic Alias Maximum (MQTT.js
   * keeps no alias table for packets taken here; a broker sends no alias to a client that announced none).
   */
  publish?: (topic: string, payload: Buffer) => void | Promise<void>;
  /** Protocol of the session (PUBLISH has properties in 5) */
  protocolVersion?: 4 | 5;
}

const DEFAULT_TURN_BYTES = 128 * 1024;
const PINGREQ = 0xc0;
const PINGRESP = Buffer.from([0xd0, 0x00]);

export class DurableAckStream extends Duplex {
  private held: Buffer[] = [];
  private heldCallbacks: Array<(err?: Error | null) => void> = [];
  private flushScheduled = false;
  private readonly turnBudget: number;
  private readThisTurn = 0;
  private turnScheduled = false;
  /** MQTT.js wants more (its side of the pipe is not full) */
  private wanted = true;
  /** bytes from the broker not yet framed (hot path only) */
  private inbound: Buffer = Buffer.alloc(0);
  private inboundAt = 0;
  /** a publish whose ingestion is asynchronous: framing waits for it */
  private blocked = false;
  /** PINGRESPs given to MQTT.js here, whose answers from the broker are still to be read (and dropped) */
  private owedPingresps = 0;
  /** bytes came from the broker since MQTT.js's last PINGREQ */
  private heardSincePing = false;

  constructor(
    private readonly brokerSocket: Duplex,
    private readonly options: DurableAckStreamOptions,
  ) {
    super({ allowHalfOpen: false });
    this.turnBudget = options.turnBytes ?? DEFAULT_TURN_BYTES;
    brokerSocket.on('data', (chunk: Buffer) => {
      this.readThisTurn += chunk.length;
      this.heardSincePing = true;
      if (!this.turnScheduled) {
        this.turnScheduled = true;
        setImmediate(() => this.nextTurn());
      }
      if (this.options.publish) this.frame(chunk);
      else this.wanted = this.push(chunk);
      if (!this.wanted || this.blocked || this.readThisTurn >= this.turnBudget) brokerSocket.pause();
    });
    brokerSocket.on('end', () => this.push(null));
    brokerSocket.on('error', (err) => this.destroy(err));
    brokerSocket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.wanted = true;
    if (this.readThisTurn < this.turnBudget && !this.blocked) this.brokerSocket.resume();
  }

  private nextTurn(): void {
    this.turnScheduled = false;
    this.readThisTurn = 0;
    if (this.wanted && !this.blocked && !this.destroyed) this.brokerSocket.resume();
  }

  /** Frame what arrived: QoS 1 PUBLISH packets are ingested here, everything else goes to MQTT.js as it came. */
  private frame(chunk?: Buffer): void {
    if (chunk) {
      const rest = this.inbound.subarray(this.inboundAt);
      this.inbound = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      this.inboundAt = 0;
    }
    const publish = this.options.publish!;
    const version = this.options.protocolVersion ?? 4;
    while (!this.blocked && !this.destroyed) {
      let frame;
      try {
        frame = nextFrame(this.inbound, this.inboundAt);
      } catch (err) {
        if (!(err instanceof MalformedPacket)) throw err;
        this.destroy(err);
        return;
      }
      if (!frame) return;
      this.inboundAt = frame.end;
      const message = qos1Publish(this.inbound, frame, version);
      if (!message) {
        if (this.owedPingresps > 0 && isPingresp(this.inbound, frame)) this.owedPingresps -= 1;
        else this.wanted = this.push(this.inbound.subarray(frame.start, frame.end));
        continue;
      }
      let outcome: void | Promise<void>;
      try {
        outcome = publish(message.topic, message.payload);
      } catch (err) {
        // not durable, so no PUBACK: the broker sends it again after the reconnect
        this.destroy(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (outcome instanceof Promise) {
        this.blocked = true;
        this.brokerSocket.pause();
        outcome.then(
          () => {
            this.blocked = false;
            this.holdAck(message.packetId);
            this.frame();
            if (this.wanted && !this.blocked && this.readThisTurn < this.turnBudget && !this.destroyed) this.brokerSocket.resume();
          },
          (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
        );
        return;
      }
      this.holdAck(message.packetId);
    }
  }

  private holdAck(packetId: number): void {
    this.held.push(puback(packetId));
    this.scheduleFlush();
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
    // MQTT.js writes a PINGREQ as one 2-byte chunk; answered here only when we frame (else MQTT.js reads everything)
    if (this.options.publish && chunks.some((c) => c.length === 2 && c[0] === PINGREQ && c[1] === 0)) {
      if (this.blocked || this.heardSincePing) {
        this.owedPingresps += 1;
        setImmediate(() => {
          if (!this.destroyed) this.push(PINGRESP);
        });
      }
      this.heardSincePing = false;
    }
    this.held.push(...chunks);
    this.heldCallbacks.push(callback);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
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

const isPingresp = (buffer: Buffer, frame: { start: number; end: number }): boolean => frame.end - frame.start === 2 && buffer[frame.start] === PINGRESP[0] && buffer[frame.start + 1] === 0;
