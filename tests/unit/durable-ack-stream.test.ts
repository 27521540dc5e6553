// The stream between MQTT.js and the broker socket: PUBACKs (any outgoing bytes) reach the socket only after the
// spool group was made durable, one write per event-loop turn; a failed commit sends nothing and closes the
// connection; and one turn reads a bounded amount, so a backlog cannot starve everything else.
import t from 'tap';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { DurableAckStream } from '../../services/ingest/durable-ack-stream.ts';
import { waitFor } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

/** A loopback TCP pair: `client` is what the stream wraps, `server` plays the broker. */
async function socketPair(t: TapTest): Promise<{ client: Socket; server: Socket }> {
  const listener: Server = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const server = await accepted;
  t.teardown(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { client, server };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('outgoing bytes leave only after commit, every write of a turn in one commit and one socket write', async (t) => {
  const { client, server } = await socketPair(t);
  const events: string[] = [];
  const stream = new DurableAckStream(client, { commit: () => events.push('commit'), onCommitFailed: () => events.push('failed') });
  const received: Buffer[] = [];
  server.on('data', (chunk: Buffer) => {
    received.push(chunk);
    events.push('received');
  });
  for (let i = 0; i < 50; i++) stream.write(Buffer.from([0x40, 0x02, 0, i]));
  t.strictSame(events, [], 'nothing committed or sent during the turn');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(events[0], 'commit', 'commit comes first');
  t.ok(events.filter((e) => e === 'commit').length <= 2, 'the turn\'s writes share a commit (the first write and the rest at most)');
  t.equal(Buffer.concat(received).length, 200, 'every byte arrived, in order');
  t.strictSame([...Buffer.concat(received)].filter((_, i) => i % 4 === 3), Array.from({ length: 50 }, (_, i) => i));
  stream.destroy();
});

t.test('a failed commit sends nothing and closes the connection', async (t) => {
  const { client, server } = await socketPair(t);
  let failure: Error | undefined;
  const stream = new DurableAckStream(client, {
    commit: () => {
      throw new Error('ENOSPC: no space left on device');
    },
    onCommitFailed: (err) => (failure = err),
  });
  stream.on('error', () => undefined);
  const received: Buffer[] = [];
  server.on('data', (chunk: Buffer) => received.push(chunk));
  const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  stream.write(Buffer.from([0x40, 0x02, 0, 1]));
  await serverClosed;
  t.match(failure?.message, /ENOSPC/);
  t.equal(Buffer.concat(received).length, 0, 'no PUBACK reached the broker');
  t.ok(stream.destroyed);
});

t.test('a backlog is read a bounded amount per turn, so other work runs in between', async (t) => {
  const { client, server } = await socketPair(t);
  const stream = new DurableAckStream(client, { commit: () => undefined, onCommitFailed: () => undefined, turnBytes: 16 * 1024 });
  const total = 1024 * 1024;
  let read = 0;
  let turns = 0;
  let readInTurn = 0;
  let maxInTurn = 0;
  const ticker = setInterval(() => undefined, 1);
  const counting = async (): Promise<void> => {
    while (read < total) {
      await turn();
      turns += 1;
      maxInTurn = Math.max(maxInTurn, readInTurn);
      readInTurn = 0;
    }
  };
  stream.on('data', (chunk: Buffer) => {
    read += chunk.length;
    readInTurn += chunk.length;
  });
  const done = counting();
  server.write(Buffer.alloc(total, 7));
  await done;
  clearInterval(ticker);
  t.equal(read, total, 'everything arrived');
  t.ok(turns > 10, `spread over ${turns} turns`);
  // a socket read is at most 64 KiB: the budget is checked between reads
  t.ok(maxInTurn <= 16 * 1024 + 64 * 1024, `at most one read past the budget per turn (max ${maxInTurn} bytes)`);
  stream.destroy();
});

t.test('QoS 1 PUBLISH packets are taken off the wire in order, acknowledged after the commit, the rest passed to MQTT.js', async (t) => {
  const { default: mqttPacket } = await import('mqtt-packet');
  const { client, server } = await socketPair(t);
  const taken: string[] = [];
  let commits = 0;
  let release: (() => void) | undefined;
  const stream = new DurableAckStream(client, {
    protocolVersion: 5,
    commit: () => {
      commits += 1;
    },
    onCommitFailed: () => undefined,
    publish: (topic, payload) => {
      taken.push(payload.toString());
      // message 3 needs an asynchronous step (an unknown VIN looked up): the ones after it wait
      if (payload.toString() === '3') return new Promise<void>((resolve) => (release = resolve));
    },
  });
  const passed: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => passed.push(chunk));
  const acks: number[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on('packet', (p) => acks.push((p as { messageId: number }).messageId));
  server.on('data', (chunk: Buffer) => parser.parse(chunk));
  const packet = (id: number): Buffer =>
    mqttPacket.generate({ cmd: 'publish', topic: 'vehicles/LNBSCB3F5JW123456/telemetry', payload: String(id), qos: 1, messageId: id, dup: false, retain: false }, { protocolVersion: 5 });
  const ping = mqttPacket.generate({ cmd: 'pingresp' }, { protocolVersion: 5 });
  const wire = Buffer.concat([packet(1), ping, packet(2), packet(3), packet(4), packet(5)]);
  // delivered in awkward pieces: a packet split over writes
  for (let at = 0; at < wire.length; at += 7) server.write(wire.subarray(at, at + 7));
  // wait for what must happen (on a loaded machine it takes its time), then a while longer for what must not
  await waitFor('messages 1-3 taken and 1-2 acknowledged', async () => (taken.length >= 3 && acks.length >= 2 ? true : undefined));
  await new Promise((r) => setTimeout(r, 100));
  t.strictSame(taken, ['1', '2', '3'], 'framing waits for the asynchronous one');
  t.strictSame(acks, [1, 2], 'acknowledged so far: what was ingested before it');
  t.ok(commits >= 1, 'after a commit');
  t.ok(Buffer.concat(passed).equals(ping), 'the PINGRESP went to MQTT.js, untouched');
  release!();
  await waitFor('every message acknowledged', async () => (acks.length >= 5 ? true : undefined));
  t.strictSame(taken, ['1', '2', '3', '4', '5']);
  t.strictSame(acks, [1, 2, 3, 4, 5], 'PUBACKs in the order of the PUBLISH packets');
  stream.destroy();
});

t.test('a PUBLISH the pipeline cannot take closes the connection without its PUBACK', async (t) => {
  const { default: mqttPacket } = await import('mqtt-packet');
  const { client, server } = await socketPair(t);
  const stream = new DurableAckStream(client, {
    protocolVersion: 4,
    commit: () => undefined,
    onCommitFailed: () => undefined,
    publish: () => {
      throw new Error('spool is closed');
    },
  });
  stream.on('error', () => undefined);
  const received: Buffer[] = [];
  server.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  server.write(mqttPacket.generate({ cmd: 'publish', topic: 't', payload: 'x', qos: 1, messageId: 1, dup: false, retain: false }, { protocolVersion: 4 }));
  await closed;
  t.equal(Buffer.concat(received).length, 0, 'no PUBACK');
});

t.test('keepalive: MQTT.js is answered here while we do not read or the broker was heard since its last PINGREQ; the broker\'s answers to those are dropped', async (t) => {
  const { default: mqttPacket } = await import('mqtt-packet');
  const { client, server } = await socketPair(t);
  let release: (() => void) | undefined;
  const stream = new DurableAckStream(client, {
    protocolVersion: 5,
    commit: () => undefined,
    onCommitFailed: () => undefined,
    // message 1 waits for spool room
    publish: (_topic, payload) => (payload.toString() === '1' ? new Promise<void>((resolve) => (release = resolve)) : undefined),
  });
  const passed: string[] = [];
  const fromBroker = mqttPacket.parser({ protocolVersion: 5 });
  fromBroker.on('packet', (p) => passed.push(p.cmd));
  stream.on('data', (chunk: Buffer) => fromBroker.parse(chunk));
  const toBroker: string[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on('packet', (p) => toBroker.push(p.cmd === 'puback' ? `puback ${(p as { messageId: number }).messageId}` : p.cmd));
  server.on('data', (chunk: Buffer) => parser.parse(chunk));
  const packet = (id: number): Buffer =>
    mqttPacket.generate({ cmd: 'publish', topic: 'vehicles/LNBSCB3F5JW123456/telemetry', payload: String(id), qos: 1, messageId: id, dup: false, retain: false }, { protocolVersion: 5 });
  const pingresp = mqttPacket.generate({ cmd: 'pingresp' }, { protocolVersion: 5 });
  // MQTT.js's keepalive: a PINGREQ, written as mqtt-packet writes it
  const ping = (): void => void mqttPacket.writeToStream({ cmd: 'pingreq' }, stream);
  const pings = (): number => toBroker.filter((c) => c === 'pingreq').length;
  server.write(packet(1));
  await waitFor('message 1 waiting', async () => (release ? true : undefined));
  ping();
  await waitFor('the PINGREQ at the broker and a PINGRESP at MQTT.js', async () => (pings() === 1 && passed.length === 1 ? true : undefined));
  t.strictSame(toBroker, ['pingreq'], 'the broker saw the PINGREQ, and no PUBACK yet');
  t.strictSame(passed, ['pingresp'], 'MQTT.js was answered while the socket is not read');
  // the broker's answer, behind the PUBLISH packets it sent before, is read after the wait
  server.write(Buffer.concat([pingresp, packet(2)]));
  await new Promise((r) => setTimeout(r, 100));
  t.strictSame(toBroker, ['pingreq'], 'nothing read past the waiting PUBLISH');
  release!();
  await waitFor('messages 1 and 2 acknowledged', async () => (toBroker.length >= 3 ? true : undefined));
  t.strictSame(toBroker, ['pingreq', 'puback 1', 'puback 2']);
  t.strictSame(passed, ['pingresp'], "the broker's PINGRESP to that PINGREQ was dropped: MQTT.js got one answer");
  // bytes came from the broker since: the connection is alive, MQTT.js is answered here again
  ping();
  await waitFor('the second PINGREQ answered', async () => (pings() === 2 && passed.length === 2 ? true : undefined));
  // nothing came since: this one waits for the broker
  ping();
  await waitFor('the third PINGREQ at the broker', async () => (pings() === 3 ? true : undefined));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(passed.length, 2, 'no answer made up for a connection not heard from since the last PINGREQ');
  server.write(pingresp);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(passed.length, 2, "the broker's answer to the second PINGREQ, answered here already, was dropped");
  server.write(pingresp);
  await waitFor("the broker's answer to the third at MQTT.js", async () => (passed.length === 3 ? true : undefined));
  t.strictSame(passed, ['pingresp', 'pingresp', 'pingresp']);
  stream.destroy();
});
