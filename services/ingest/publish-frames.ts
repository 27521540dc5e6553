// MQTT framing for the ingest session's hot path (MQTT 3.1.1 and 5, OASIS specs section 2 and 3.3): split what
// the broker sends into packets, and decode a QoS 1 PUBLISH (topic, packet id, payload) straight from the bytes.
// Everything else (CONNACK, SUBACK, PINGRESP, QoS 0/2, a PUBLISH with a topic alias) is left to MQTT.js, which
// keeps the session; this only spares MQTT.js's per-message machinery the one packet that comes by the thousand.

export interface Frame {
  /** packet type (the high nibble of the first byte) */
  type: number;
  /** the low nibble: DUP, QoS and RETAIN for a PUBLISH */
  flags: number;
  start: number;
  /** where the variable header begins */
  body: number;
  end: number;
}

export const PUBLISH = 3;
const MAX_REMAINING_LENGTH_BYTES = 4;

/** A frame header the spec forbids (a remaining length of more than four bytes). */
export class MalformedPacket extends Error {
  override readonly name = 'MalformedPacket';
}

/** The next complete packet of `buf` from `at`, or undefined when its bytes have not all arrived. */
export function nextFrame(buf: Buffer, at: number): Frame | undefined {
  if (buf.length - at < 2) return undefined;
  let length = 0;
  let multiplier = 1;
  let pos = at + 1;
  for (let i = 0; ; i++) {
    if (i === MAX_REMAINING_LENGTH_BYTES) throw new MalformedPacket('remaining length longer than 4 bytes');
    if (pos >= buf.length) return undefined;
    const byte = buf[pos++]!;
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) break;
    multiplier *= 128;
  }
  const end = pos + length;
  if (end > buf.length) return undefined;
  const first = buf[at]!;
  return { type: first >> 4, flags: first & 0x0f, start: at, body: pos, end };
}

export interface QoS1Publish {
  topic: string;
  packetId: number;
  payload: Buffer;
}

/** A variable byte integer (MQTT 5 property length) at `pos`: its value and the position after it. */
function variableInt(buf: Buffer, pos: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < MAX_REMAINING_LENGTH_BYTES && pos < end; i++) {
    const byte = buf[pos++]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { value, next: pos };
    multiplier *= 128;
  }
  return undefined;
}

/**
 * A QoS 1 PUBLISH with its topic spelled out, decoded; undefined for any other packet (or one this decoder
 * does not take: it is then MQTT.js's to handle or refuse). The payload is a view into `buf`.
 */
export function qos1Publish(buf: Buffer, frame: Frame, protocolVersion: 4 | 5): QoS1Publish | undefined {
  if (frame.type !== PUBLISH || ((frame.flags >> 1) & 0x03) !== 1) return undefined;
  let pos = frame.body;
  if (frame.end - pos < 2) return undefined;
  const topicLength = buf.readUInt16BE(pos);
  pos += 2;
  // an empty topic is a topic alias (MQTT 5): only MQTT.js keeps the alias table
  if (topicLength === 0 || pos + topicLength + 2 > frame.end) return undefined;
  const topic = buf.toString('utf8', pos, pos + topicLength);
  pos += topicLength;
  const packetId = buf.readUInt16BE(pos);
  pos += 2;
  if (protocolVersion === 5) {
    const properties = variableInt(buf, pos, frame.end);
    if (!properties || properties.next + properties.value > frame.end) return undefined;
    pos = properties.next + properties.value;
  }
  return { topic, packetId, payload: buf.subarray(pos, frame.end) };
}

/** PUBACK for a packet id: the short form, which both 3.1.1 and 5 read as success. */
export function puback(packetId: number): Buffer {
  return Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff]);
}
