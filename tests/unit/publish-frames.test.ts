// The ingest session's own MQTT framing, held to mqtt-packet (MQTT.js's packet library) as the reference: every
// packet it generates is split where it ends, a QoS 1 PUBLISH is decoded to the same topic, id and payload in
// 3.1.1 and 5 (properties included), and anything the hot path does not take is left alone.
import t from 'tap';
import mqttPacket from 'mqtt-packet';
import { MalformedPacket, nextFrame, puback, qos1Publish, type Frame } from '../../services/ingest/publish-frames.ts';

const generate = (packet: object, protocolVersion: 4 | 5): Buffer => mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion });

function frames(buf: Buffer): Frame[] {
  const found: Frame[] = [];
  for (let at = 0, frame = nextFrame(buf, at); frame; at = frame.end, frame = nextFrame(buf, at)) found.push(frame);
  return found;
}

const publish = (messageId: number, payload: Buffer | string, extra: object = {}) => ({
  cmd: 'publish',
  topic: 'vehicles/LNBSCB3F5JW123456/telemetry',
  payload,
  qos: 1,
  messageId,
  dup: false,
  retain: false,
  ...extra,
});

for (const version of [4, 5] as const) {
  t.test(`MQTT ${version === 4 ? '3.1.1' : '5'}: a QoS 1 PUBLISH decodes to what mqtt-packet encoded`, (t) => {
    const big = Buffer.alloc(300_000, 'x'); // a four-byte remaining length
    const packets = [
      generate(publish(1, '{"vin":"LNBSCB3F5JW123456"}'), version),
      generate(publish(65535, big, { dup: true, retain: true }), version),
      generate(publish(7, ''), version),
      ...(version === 5 ? [generate(publish(8, 'p', { properties: { payloadFormatIndicator: true, messageExpiryInterval: 60, userProperties: { a: 'b' }, subscriptionIdentifier: 300, contentType: 'application/json' } }), 5)] : []),
    ];
    const stream = Buffer.concat(packets);
    const found = frames(stream);
    t.equal(found.length, packets.length, 'one frame per packet');
    t.equal(found.at(-1)!.end, stream.length, 'frames cover the stream');
    const decoded = found.map((f) => qos1Publish(stream, f, version));
    t.strictSame(decoded.map((d) => d?.packetId), [1, 65535, 7, ...(version === 5 ? [8] : [])]);
    t.ok(decoded.every((d) => d?.topic === 'vehicles/LNBSCB3F5JW123456/telemetry'));
    t.equal(decoded[0]!.payload.toString(), '{"vin":"LNBSCB3F5JW123456"}');
    t.ok(decoded[1]!.payload.equals(big), 'a 300 kB payload, whole');
    t.equal(decoded[2]!.payload.length, 0);
    if (version === 5) t.equal(decoded[3]!.payload.toString(), 'p', 'properties skipped');
    t.end();
  });
}

t.test('a packet split anywhere waits for its remaining bytes', (t) => {
  const packet = generate(publish(42, 'hello world'), 5);
  for (let cut = 0; cut < packet.length; cut++) t.equal(nextFrame(packet.subarray(0, cut), 0), undefined, `${cut} of ${packet.length} bytes`);
  t.equal(nextFrame(packet, 0)?.end, packet.length);
  t.end();
});

t.test('anything but a QoS 1 PUBLISH with its topic is left to MQTT.js', (t) => {
  const others = [
    generate({ cmd: 'pingresp' }, 5),
    generate({ cmd: 'suback', messageId: 3, granted: [1] }, 5),
    generate({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: true }, 5),
    generate(publish(0, 'q0', { qos: 0, messageId: undefined }), 5),
    generate(publish(9, 'q2', { qos: 2 }), 5),
    // a topic alias with an empty topic: only MQTT.js keeps the alias table
    generate(publish(10, 'aliased', { topic: '', properties: { topicAlias: 1 } }), 5),
  ];
  for (const packet of others) {
    const [frame] = frames(packet);
    t.equal(frame?.end, packet.length, 'framed');
    t.equal(qos1Publish(packet, frame!, 5), undefined, `not taken: ${packet[0]!.toString(16)}`);
  }
  t.end();
});

t.test('a remaining length of more than four bytes is a malformed packet', (t) => {
  t.throws(() => nextFrame(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0), MalformedPacket);
  t.end();
});

t.test('PUBACK is the short form mqtt-packet reads as success', (t) => {
  for (const version of [4, 5] as const) {
    const parser = mqttPacket.parser({ protocolVersion: version });
    const seen: mqttPacket.Packet[] = [];
    parser.on('packet', (p) => seen.push(p));
    parser.parse(puback(513));
    t.equal(seen[0]?.cmd, 'puback');
    t.equal((seen[0] as mqttPacket.IPubackPacket).messageId, 513);
    t.notOk((seen[0] as mqttPacket.IPubackPacket).reasonCode, 'no failure code');
  }
  t.end();
});
