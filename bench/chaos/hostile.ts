// Hostile input, tried as an attacker would, against MQTT ingest, HTTP ingest, the query API and every static path of
// a real service (spawned, so a crash is the process dying). Every input has its documented answer: an HTTP error
// `{statusCode, code, message}` with the code of docs/api.md, a 200 with what was accepted, or a dead letter with the
// reason of docs/contract.md. Per class: inputs tried, answered right, wrong, 5xx, crashes. Around the run: samples
// accepted before it are all still stored after it, and no tenant sees another's vehicles or samples.
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { MAX_BATCH_SAMPLES, MAX_PAYLOAD_BYTES, telemetryTopic } from '../../services/contract/telemetry.ts';
import { waitFor } from '../../tooling/system.ts';
import { DEPLOYMENTS, deploymentMissing, startDeployment, type Deployment, type DeploymentKind } from './deployment.ts';
import type { HostileResult } from './types.ts';

export interface HostileOptions {
  /** the same set of inputs either way: all of them take about a minute per deployment */
  quick: boolean;
  log: (line: string) => void;
  /** default: both */
  deployments?: readonly DeploymentKind[];
}

type Surface = 'MQTT ingest' | 'HTTP ingest' | 'query API' | 'static paths';

/** What one input got, judged against its documented answer. */
interface Verdict {
  right: boolean;
  serverError: boolean;
  /** what came back, for a wrong answer */
  got: string;
}

interface Case {
  class: string;
  surface: Surface;
  name: string;
  run: () => Promise<Verdict>;
}

interface Vehicle {
  vin: string;
  password: string;
  brand: string;
}

interface Context {
  d: Deployment;
  api: string;
  admin: string;
  /** tenant A sees brand A only, tenant B brand B only */
  tenantA: string;
  tenantB: string;
  revoked: string;
  deleted: string;
  a: Vehicle;
  b: Vehicle;
  /** a vehicle of brand A kept for MQTT publishes that may get its connection closed */
  a2: Vehicle;
  brandA: string;
  brandB: string;
  /** brand with line-protocol and InfluxQL metacharacters the name rule allows: comma, space, apostrophe, slash */
  brandMeta: string;
  meta: Vehicle;
  /** samples accepted before the hostile inputs: vin -> seqs */
  accepted: Map<string, Set<number>>;
  seqs: Map<string, number>;
  /** ts range of every sample this run sent */
  from: number;
  /** seqs published under the other vehicle's topic through Mosquitto (which must drop them) */
  foreignSeqs: number[];
}

interface HttpAnswer {
  status: number;
  body: unknown;
  text: string;
}

const SHAPE = ['code', 'message', 'statusCode'];
const INGEST_SHAPE = ['code', 'message', 'rejections', 'statusCode'];

async function http(ctx: Context, path: string, init: { method?: string; token?: string | null; headers?: Record<string, string>; body?: string | Buffer; basic?: Vehicle } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.basic) headers.authorization = `Basic ${Buffer.from(`${init.basic.vin}:${init.basic.password}`).toString('base64')}`;
  else if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ctx.admin}`;
  if (init.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  const r = await fetch(`${ctx.api}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body, signal: AbortSignal.timeout(30_000) });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: judged as such
  }
  return { status: r.status, body, text };
}

/** An error answer: exactly `{statusCode, code, message}` (ingest may add `rejections`), with this status and code. */
function isError(a: HttpAnswer, status: number, code: string): Verdict {
  const b = a.body as Record<string, unknown> | null;
  const keys = b && typeof b === 'object' ? Object.keys(b).sort() : [];
  const shapeOk = JSON.stringify(keys) === JSON.stringify(SHAPE) || JSON.stringify(keys) === JSON.stringify(INGEST_SHAPE);
  const right = a.status === status && shapeOk && b?.statusCode === status && b?.code === code && typeof b?.message === 'string' && (b.message as string).length > 0;
  return { right, serverError: a.status >= 500, got: `${a.status} ${a.text.slice(0, 160)}` };
}

const verdict = (right: boolean, a: HttpAnswer | undefined, got?: string): Verdict => ({ right, serverError: (a?.status ?? 0) >= 500, got: got ?? (a ? `${a.status} ${a.text.slice(0, 160)}` : '') });

/** Raw bytes on a fresh connection (`end`: then stop writing); everything answered before the server closed. */
function rawHttp(ctx: Context, request: string | Buffer, end = false): Promise<string> {
  const url = new URL(ctx.api);
  return new Promise((resolve) => {
    const socket = tcpConnect(Number(url.port), url.hostname, () => (end ? socket.end(request) : socket.write(request)));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

function rawAnswer(answer: string): HttpAnswer {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
  const text = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // judged as not JSON
  }
  return { status, body, text: answer.slice(0, 200) };
}

function nextSeq(ctx: Context, vin: string): number {
  const seq = ctx.seqs.get(vin) ?? 0;
  ctx.seqs.set(vin, seq + 1);
  return seq;
}

/** A valid sample of `vin` with a fresh seq and ts. */
function sample(ctx: Context, vin: string, signals: Record<string, unknown> = { 'Vehicle.Speed': 42 }): { vin: string; ts: number; seq: number; signals: Record<string, unknown> } {
  const seq = nextSeq(ctx, vin);
  return { vin, ts: ctx.from + seq, seq, signals };
}

async function connectVehicle(ctx: Context, v: Vehicle, clientId = v.vin, extra: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(ctx.d.brokerUrl, { clientId, username: v.vin, password: v.password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 20_000, ...extra });
}

/** A QoS 1 publish that settles however the broker answers: PUBACK, an error, the connection closed, or 15 s of silence. */
function publishBounded(client: MqttClient, topic: string, payload: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.removeListener('close', done);
      resolve();
    };
    const timer = setTimeout(done, 15_000);
    client.once('close', done);
    client.publish(topic, payload, { qos: 1 }, () => done());
  });
}

async function deadLetters(ctx: Context, vin: string, reason: string): Promise<number> {
  const a = await http(ctx, `/api/v1/dead-letters?vin=${vin}&reason=${reason}&limit=1000`);
  return ((a.body as { items?: unknown[] }).items ?? []).length;
}

/** Publish `payload` as vehicle `v` on its own topic (or `topic`); the documented answer is a dead letter with `reason`. */
async function mqttDeadLetter(ctx: Context, v: Vehicle, payload: string | Buffer, reason: string, topic = telemetryTopic(v.vin)): Promise<Verdict> {
  const before = await deadLetters(ctx, v.vin, reason);
  const client = await connectVehicle(ctx, v);
  try {
    await publishBounded(client, topic, payload);
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
  try {
    await waitFor(`a ${reason} dead letter of ${v.vin}`, async () => ((await deadLetters(ctx, v.vin, reason)) > before ? true : undefined), 30_000, 100);
    return { right: true, serverError: false, got: '' };
  } catch {
    return { right: false, serverError: false, got: `no ${reason} dead letter within 30 s` };
  }
}

async function storedSeqs(ctx: Context, vin: string, token = ctx.admin): Promise<{ status: number; seqs: number[] }> {
  const seqs: number[] = [];
  let cursor: string | undefined;
  for (;;) {
    const a = await http(ctx, `/api/v1/vehicles/${vin}/telemetry?from=${ctx.from - 1}&to=${Date.now() + 60_000}&limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token });
    if (a.status !== 200) return { status: a.status, seqs };
    const body = a.body as { samples: Array<{ seq: number }>; nextCursor: string | null };
    seqs.push(...body.samples.map((s) => s.seq));
    if (!body.nextCursor) return { status: 200, seqs };
    cursor = body.nextCursor;
  }
}

const INJECTIONS = [
  "' OR '1'='1",
  '" OR ""="',
  "1; DROP MEASUREMENT telemetry",
  "x' ; DROP DATABASE vehicle_cloud; --",
  '1) OR (1=1',
  "/.*/",
  "x' OR vin =~ /.*/ --",
  '1 UNION SELECT * FROM tenants',
  '$(id)',
  '%00',
];

/** A telemetry body nested `depth` levels deep. */
const nestedArrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

function cases(ctx: Context): Case[] {
  const list: Case[] = [];
  const add = (cls: string, surface: Surface, name: string, run: () => Promise<Verdict>): void => void list.push({ class: cls, surface, name, run });
  const ingest = (body: string | Buffer, init: Parameters<typeof http>[2] = {}) => http(ctx, '/api/v1/telemetry', { body, ...init });
  /** A sample whose DTC list is `text`, sent over HTTP; once accepted, the value read back through the API. */
  const dtcReadBack = async (text: string): Promise<{ r: HttpAnswer; value: unknown }> => {
    const s = sample(ctx, A, { 'Vehicle.OBD.DTCList': text });
    const r = await ingest(JSON.stringify(s));
    if (r.status !== 200) return { r, value: undefined };
    ctx.accepted.get(A)?.add(s.seq);
    const back = await waitFor('the sample', async () => {
      const t = await http(ctx, `/api/v1/vehicles/${A}/telemetry?from=${s.ts}&to=${s.ts + 1}`);
      return ((t.body as { samples?: Array<{ signals: Record<string, unknown> }> }).samples ?? [])[0];
    }, 30_000, 100).catch(() => undefined);
    return { r, value: back?.signals['Vehicle.OBD.DTCList'] };
  };
  const acceptedWhole = async (body: object, accepted: number, vin: string, seqs: number[]): Promise<Verdict> => {
    const a = await ingest(JSON.stringify(body));
    const b = a.body as { accepted?: number; rejected?: number };
    const right = a.status === 200 && b.accepted === accepted && b.rejected === 0;
    if (right) for (const seq of seqs) ctx.accepted.get(vin)?.add(seq);
    return verdict(right, a);
  };
  const { a, b, a2 } = ctx;
  const A = a.vin;

  // --- malformed JSON
  for (const [name, body] of [
    ['an unterminated object', '{"vin":'],
    ['not JSON', 'hello'],
    ['an empty body', ''],
    ['a trailing comma', `{"vin":"${A}","ts":1,"seq":1,"signals":{},}`],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
    ['single quotes', `{'vin':'${A}'}`],
  ] as const) {
    add('malformed JSON', 'HTTP ingest', name, async () => isError(await ingest(body), 400, 'INVALID_JSON'));
    if (name !== 'an empty body') add('malformed JSON', 'MQTT ingest', name, () => mqttDeadLetter(ctx, a, body, 'malformed_json'));
  }
  for (const [name, body, code] of [
    ['JSON null', 'null', 'INVALID_MESSAGE'],
    ['a JSON array', '[]', 'INVALID_MESSAGE'],
    ['a JSON string', '"telemetry"', 'INVALID_MESSAGE'],
    ['an object without vin', '{"ts":1,"seq":1,"signals":{"Vehicle.Speed":1}}', 'INVALID_VIN'],
    ['samples that is not an array', `{"vin":"${A}","samples":{"ts":1}}`, 'INVALID_MESSAGE'],
  ] as const) {
    add('malformed JSON', 'HTTP ingest', name, async () => isError(await ingest(body), 400, code));
    add('malformed JSON', 'MQTT ingest', name, () => mqttDeadLetter(ctx, a, body, code.toLowerCase()));
  }
  for (const path of ['/api/v1/vehicles', '/api/v1/vehicles/batch', '/api/v1/tenants']) {
    add('malformed JSON', 'query API', `${path}: not JSON`, async () => isError(await http(ctx, path, { body: '{"brand":' }), 400, 'INVALID_JSON'));
  }

  // --- deeply nested JSON
  // 40,000 levels of objects is 240 KB, under the 256 KiB limit (over it, the size is refused first)
  for (const depth of [33, 1_000, 40_000]) {
    add('deeply nested JSON', 'HTTP ingest', `arrays ${depth} deep`, async () => isError(await ingest(nestedArrays(depth)), 400, 'INVALID_JSON'));
    add('deeply nested JSON', 'HTTP ingest', `objects ${depth} deep`, async () => isError(await ingest(nestedObjects(depth)), 400, 'INVALID_JSON'));
    add('deeply nested JSON', 'query API', `POST /api/v1/vehicles, arrays ${depth} deep`, async () => isError(await http(ctx, '/api/v1/vehicles', { body: nestedArrays(depth) }), 400, 'INVALID_JSON'));
    add('deeply nested JSON', 'query API', `POST /api/v1/tenants, objects ${depth} deep`, async () => isError(await http(ctx, '/api/v1/tenants', { body: nestedObjects(depth) }), 400, 'INVALID_JSON'));
    add('deeply nested JSON', 'MQTT ingest', `objects ${depth} deep`, () => mqttDeadLetter(ctx, a, nestedObjects(depth), 'malformed_json'));
    // a signal value nested deep inside an otherwise valid message
    const deepSignal = `{"vin":"${A}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.Speed":${nestedArrays(depth)}}}`;
    add('deeply nested JSON', 'MQTT ingest', `a signal value ${depth} deep`, () => mqttDeadLetter(ctx, a, deepSignal, depth + 4 > 32 ? 'malformed_json' : 'invalid_sample'));
  }

  // --- huge payloads and batches
  const hugeSignal = (bytes: number): string => JSON.stringify({ vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.OBD.DTCList': 'P'.repeat(bytes) } });
  add('huge payloads and batches', 'HTTP ingest', 'a body 1 byte over 256 KiB', async () => isError(await ingest(hugeSignal(MAX_PAYLOAD_BYTES)), 413, 'PAYLOAD_TOO_LARGE'));
  // announced, not sent: the service answers from the Content-Length before reading a byte of it
  add('huge payloads and batches', 'HTTP ingest', 'a 16 MiB body announced', async () =>
    isError(rawAnswer(await rawHttp(ctx, `POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.admin}\r\nContent-Type: application/json\r\nContent-Length: ${16 * 1024 * 1024}\r\n\r\n{"vin":`)), 413, 'PAYLOAD_TOO_LARGE'),
  );
  const batch = (n: number): string => JSON.stringify({ vin: A, samples: Array.from({ length: n }, (_, i) => ({ ts: Date.now() - i, seq: i, signals: { 'Vehicle.Speed': 1 } })) });
  add('huge payloads and batches', 'HTTP ingest', `a batch of ${MAX_BATCH_SAMPLES + 1} samples`, async () => isError(await ingest(batch(MAX_BATCH_SAMPLES + 1)), 413, 'BATCH_TOO_LARGE'));
  add('huge payloads and batches', 'HTTP ingest', 'an empty batch', async () => isError(await ingest(JSON.stringify({ vin: A, samples: [] })), 400, 'INVALID_MESSAGE'));
  add('huge payloads and batches', 'MQTT ingest', 'a payload 1 byte over 256 KiB', () => mqttDeadLetter(ctx, a, hugeSignal(MAX_PAYLOAD_BYTES), 'payload_too_large'));
  add('huge payloads and batches', 'MQTT ingest', 'a 4 MiB payload', () => mqttDeadLetter(ctx, a, hugeSignal(4 * 1024 * 1024), 'payload_too_large'));
  add('huge payloads and batches', 'MQTT ingest', `a batch of ${MAX_BATCH_SAMPLES + 1} samples`, () => mqttDeadLetter(ctx, a, batch(MAX_BATCH_SAMPLES + 1), 'batch_too_large'));
  add('huge payloads and batches', 'query API', 'POST /api/v1/vehicles/batch with 1,001 vehicles', async () =>
    isError(await http(ctx, '/api/v1/vehicles/batch', { body: JSON.stringify({ vehicles: Array.from({ length: 1_001 }, (_, i) => ({ vin: `HUGE0${String(i).padStart(12, '0')}`, brand: ctx.brandA, model: 'X' })) }) }), 400, 'VALIDATION_FAILED'),
  );
  // announced, a few bytes sent: a client still sending 2 MiB when the 413 comes can see its upload cut and lose the
  // answer (fetch failed once at a load average of 3), which says nothing about the service
  add('huge payloads and batches', 'query API', 'POST /api/v1/tenants with a 2 MiB body announced', async () =>
    isError(rawAnswer(await rawHttp(ctx, `POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.admin}\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n{"name":"`)), 413, 'PAYLOAD_TOO_LARGE'),
  );

  // --- NaN, Infinity, -0
  for (const [name, token] of [['a NaN literal', 'NaN'], ['an Infinity literal', 'Infinity'], ['a -Infinity literal', '-Infinity']] as const) {
    // firmware JSON encoders print these: the sample is refused for its value, the message is read (docs/contract.md)
    add('NaN/Infinity/-0', 'HTTP ingest', name, async () => isError(await ingest(`{"vin":"${A}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.Speed":${token}}}`), 422, 'NON_FINITE_VALUE'));
    add('NaN/Infinity/-0', 'MQTT ingest', name, () => mqttDeadLetter(ctx, a, `{"vin":"${A}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.Speed":${token}}}`, 'non_finite_value'));
  }
  add('NaN/Infinity/-0', 'HTTP ingest', '1e999 (Infinity once parsed)', async () => isError(await ingest(`{"vin":"${A}","ts":${Date.now()},"seq":${nextSeq(ctx, A)},"signals":{"Vehicle.Speed":1e999}}`), 422, 'NON_FINITE_VALUE'));
  add('NaN/Infinity/-0', 'HTTP ingest', '-1e999 as ts', async () => isError(await ingest(`{"vin":"${A}","ts":-1e999,"seq":${nextSeq(ctx, A)},"signals":{"Vehicle.Speed":1}}`), 422, 'INVALID_SAMPLE'));
  add('NaN/Infinity/-0', 'MQTT ingest', '1e999 (Infinity once parsed)', () => mqttDeadLetter(ctx, a, `{"vin":"${A}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.Speed":1e999}}`, 'non_finite_value'));
  add('NaN/Infinity/-0', 'HTTP ingest', '-0 is a valid speed', async () => {
    const s = sample(ctx, A, { 'Vehicle.Speed': -0 });
    return acceptedWhole(JSON.parse(JSON.stringify(s).replace('"Vehicle.Speed":0', '"Vehicle.Speed":-0')) as object, 1, A, [s.seq]);
  });
  add('NaN/Infinity/-0', 'HTTP ingest', '-0 as seq is seq 0 of another vehicle ts', async () => {
    const s = sample(ctx, A);
    const body = `{"vin":"${A}","ts":${s.ts},"seq":${s.seq},"signals":{"Vehicle.Speed":-0.0}}`;
    const r = await ingest(body);
    const ok = r.status === 200 && (r.body as { accepted?: number }).accepted === 1;
    if (ok) ctx.accepted.get(A)?.add(s.seq);
    return verdict(ok, r);
  });
  add('NaN/Infinity/-0', 'HTTP ingest', 'a fraction as seq', async () => isError(await ingest(JSON.stringify({ vin: A, ts: Date.now(), seq: 1.5, signals: { 'Vehicle.Speed': 1 } })), 422, 'INVALID_SAMPLE'));
  add('NaN/Infinity/-0', 'HTTP ingest', 'a negative seq', async () => isError(await ingest(JSON.stringify({ vin: A, ts: Date.now(), seq: -1, signals: { 'Vehicle.Speed': 1 } })), 422, 'INVALID_SAMPLE'));
  add('NaN/Infinity/-0', 'HTTP ingest', 'a ts far in the future', async () => isError(await ingest(JSON.stringify({ vin: A, ts: 8.64e15, seq: nextSeq(ctx, A), signals: { 'Vehicle.Speed': 1 } })), 422, 'TS_OUT_OF_RANGE'));
  add('NaN/Infinity/-0', 'HTTP ingest', 'a ts past 2^53 (not a safe whole number)', async () => isError(await ingest(`{"vin":"${A}","ts":90071992547409930,"seq":1,"signals":{"Vehicle.Speed":1}}`), 422, 'INVALID_SAMPLE'));

  // --- strings where numbers belong
  for (const [name, body, reason] of [
    ['a signal as a string', { vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': '63.2' } }, 'invalid_signal_type'],
    ['ts as a string', { vin: A, ts: String(Date.now()), seq: 1, signals: { 'Vehicle.Speed': 1 } }, 'invalid_sample'],
    ['seq as a string', { vin: A, ts: Date.now(), seq: '1', signals: { 'Vehicle.Speed': 1 } }, 'invalid_sample'],
    ['a boolean signal as "true"', { vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': 'true' } }, 'invalid_signal_type'],
    ['a number where a string belongs', { vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.OBD.DTCList': 12 } }, 'invalid_signal_type'],
    ['null as a value', { vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': null } }, 'invalid_sample'],
    ['an object as a value', { vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': { $gt: 0 } } }, 'invalid_sample'],
  ] as const) {
    add('strings for numbers', 'HTTP ingest', name, async () => isError(await ingest(JSON.stringify(body)), 422, reason.toUpperCase()));
    add('strings for numbers', 'MQTT ingest', name, () => mqttDeadLetter(ctx, a, JSON.stringify(body), reason));
  }
  add('strings for numbers', 'HTTP ingest', 'vin as a number', async () => isError(await ingest(JSON.stringify({ vin: 12345678901234567, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': 1 } })), 400, 'INVALID_VIN'));
  add('strings for numbers', 'query API', 'limit=ten', async () => isError(await http(ctx, `/api/v1/vehicles?limit=ten`), 400, 'VALIDATION_FAILED'));
  add('strings for numbers', 'query API', 'from=yesterday', async () => isError(await http(ctx, `/api/v1/vehicles/${A}/telemetry?from=yesterday`), 400, 'VALIDATION_FAILED'));

  // --- Unicode and control characters
  for (const [name, vin] of [
    ['a VIN with a Cyrillic letter', 'LNBSCB3F5JW12345' + '\u0410'],
    ['a VIN with a NUL', 'LNBSCB3F5JW12345\u0000'],
    ['a VIN with a zero-width space', 'LNBSCB3F5JW1234\u200b5'],
    ['a VIN in full-width digits', 'ＬＮＢＳＣＢ３Ｆ５ＪＷ１２３４５６'],
  ] as const) {
    add('unicode and control characters', 'HTTP ingest', name, async () => isError(await ingest(JSON.stringify({ vin, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': 1 } })), 400, 'INVALID_VIN'));
    add('unicode and control characters', 'query API', `GET /vehicles/{${name}}`, async () => isError(await http(ctx, `/api/v1/vehicles/${encodeURIComponent(vin)}`), 400, 'VALIDATION_FAILED'));
  }
  add('unicode and control characters', 'HTTP ingest', 'a signal name with a NUL', async () => isError(await ingest(JSON.stringify({ vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed\u0000': 1 } })), 422, 'UNKNOWN_SIGNAL'));
  add('unicode and control characters', 'MQTT ingest', 'a signal name with a right-to-left override', () => mqttDeadLetter(ctx, a, JSON.stringify({ vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.\u202eSpeed': 1 } }), 'unknown_signal'));
  const controlText = 'P0301,\u0000\u0001\u001b[31m\u2028\u2029\ud83d\ude97\ud800';
  add('unicode and control characters', 'HTTP ingest', 'control characters, emoji and a lone surrogate in a string signal: stored as sent', async () => {
    const { r, value } = await dtcReadBack(controlText);
    if (r.status !== 200) return verdict(false, r);
    // JSON.stringify turns a lone surrogate into \ud800; what comes back is the same string or its replacement character
    return verdict(value === controlText || value === controlText.replace('\ud800', '\ufffd'), r, `read back ${JSON.stringify(value)}`);
  });
  add('unicode and control characters', 'query API', 'a brand name with control characters', async () => isError(await http(ctx, '/api/v1/vehicles', { body: JSON.stringify({ vin: 'UNCDE000000000001', brand: 'Volt\u0000ra', model: 'X' }) }), 400, 'VALIDATION_FAILED'));

  // --- line-protocol metacharacters in VIN, brand, model and tenant names
  // the name rule (docs/api.md) allows comma, space, apostrophe and slash, and refuses = " \\ newline and the rest
  for (const [meta, allowed] of [
    ['A,B', true],
    ['A B', true],
    ["A'B", true],
    ['A=B', false],
    ['A"B', false],
    ['A\nB', false],
    ['A\\B', false],
    ['A B=C,D', false],
  ] as const) {
    const name = JSON.stringify(meta);
    const vin = `LNBSCB3F5JW1${meta.padEnd(5, '0').slice(0, 5)}`;
    add('line-protocol metacharacters', 'HTTP ingest', `VIN ${JSON.stringify(vin)}`, async () => isError(await ingest(JSON.stringify({ vin, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': 1 } })), 400, 'INVALID_VIN'));
    add('line-protocol metacharacters', 'MQTT ingest', `VIN ${JSON.stringify(vin)} in the message`, () => mqttDeadLetter(ctx, a, JSON.stringify({ vin, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': 1 } }), 'invalid_vin'));
    const n = list.length;
    const vinFor = (k: number): string => `MTCHR${String(n).padStart(8, '0')}000${k}`;
    const expectRegistration = async (r: HttpAnswer): Promise<Verdict> => (allowed ? verdict(r.status === 201, r) : isError(r, 400, 'VALIDATION_FAILED'));
    add('line-protocol metacharacters', 'query API', `brand ${name} at registration (${allowed ? 'allowed' : 'refused'})`, async () => expectRegistration(await http(ctx, '/api/v1/vehicles', { body: JSON.stringify({ vin: vinFor(1), brand: meta, model: 'X' }) })));
    add('line-protocol metacharacters', 'query API', `model ${name} at registration (${allowed ? 'allowed' : 'refused'})`, async () => expectRegistration(await http(ctx, '/api/v1/vehicles', { body: JSON.stringify({ vin: vinFor(2), brand: `Meta ${n}`, model: meta }) })));
    add('line-protocol metacharacters', 'query API', `tenant name ${name} (${allowed ? 'allowed' : 'refused'})`, async () => expectRegistration(await http(ctx, '/api/v1/tenants', { body: JSON.stringify({ name: `${meta} ${n}`, brands: [`Meta ${n}`] }) })));
  }
  if (ctx.d.kind === 'embedded') {
    // the admin login publishes anywhere on the embedded broker: a topic that is no vehicle's is refused by reason
    add('line-protocol metacharacters', 'MQTT ingest', 'a topic VIN with a comma and an equals sign', () => adminPublishRejected(ctx, 'vehicles/LNBSCB3F5,W1=3456/telemetry', JSON.stringify({ vin: A, ts: Date.now(), seq: 1, signals: { 'Vehicle.Speed': 1 } }), 'vin_mismatch'));
  }
  add('line-protocol metacharacters', 'HTTP ingest', "a brand with comma, space, apostrophe and slash (the name rule allows them): stored and counted under its exact name", async () => {
    const s = sample(ctx, ctx.meta.vin, { 'Vehicle.Speed': 77 });
    const r = await ingest(JSON.stringify(s));
    if (r.status !== 200) return verdict(false, r);
    ctx.accepted.get(ctx.meta.vin)?.add(s.seq);
    const cockpit = await waitFor('the brand cockpit to count it', async () => {
      const c = await http(ctx, `/api/v1/brands/${encodeURIComponent(ctx.brandMeta)}/cockpit?from=${ctx.from}&to=${Date.now() + 60_000}`);
      return c.status === 200 && (c.body as { kpis: { samples: number } }).kpis.samples >= 1 ? c : undefined;
    }, 30_000, 200).catch(() => undefined);
    const brands = await http(ctx, '/api/v1/brands');
    const listed = ((brands.body as { brands?: Array<{ brand: string }> }).brands ?? []).some((x) => x.brand === ctx.brandMeta);
    return verdict(cockpit !== undefined && listed, cockpit ?? brands, `cockpit ${cockpit ? 'counted it' : 'did not count it'}, brand ${listed ? '' : 'not '}listed`);
  });
  add('line-protocol metacharacters', 'HTTP ingest', 'a string signal full of line-protocol metacharacters: stored as sent', async () => {
    const text = 'P0301, P0420=x "q" \\ \n\r\t,a=b c';
    const { r, value } = await dtcReadBack(text);
    if (r.status !== 200) return verdict(false, r);
    return verdict(value === text, r, `read back ${JSON.stringify(value)}`);
  });

  // --- InfluxQL and SQL injection in every query parameter
  for (const inj of INJECTIONS) {
    const q = encodeURIComponent(inj);
    const label = JSON.stringify(inj);
    const now = Date.now();
    const range = `from=${now - 3_600_000}&to=${now}`;
    for (const [name, path, status, code] of [
      ['telemetry from', `/api/v1/vehicles/${A}/telemetry?from=${q}`, 400, 'VALIDATION_FAILED'],
      ['telemetry to', `/api/v1/vehicles/${A}/telemetry?to=${q}`, 400, 'VALIDATION_FAILED'],
      ['telemetry signals', `/api/v1/vehicles/${A}/telemetry?signals=${q}`, 400, 'VALIDATION_FAILED'],
      ['telemetry interval', `/api/v1/vehicles/${A}/telemetry?interval=${q}`, 400, 'VALIDATION_FAILED'],
      ['telemetry limit', `/api/v1/vehicles/${A}/telemetry?limit=${q}`, 400, 'VALIDATION_FAILED'],
      ['telemetry cursor', `/api/v1/vehicles/${A}/telemetry?cursor=${q}`, 400, 'INVALID_RANGE'],
      ['CSV signals', `/api/v1/vehicles/${A}/telemetry.csv?signals=${q}`, 400, 'VALIDATION_FAILED'],
      ['vehicle path', `/api/v1/vehicles/${q}`, 400, 'VALIDATION_FAILED'],
      ['vehicle telemetry path', `/api/v1/vehicles/${q}/telemetry`, 400, 'VALIDATION_FAILED'],
      ['brand cockpit path', `/api/v1/brands/${q}/cockpit`, 404, 'BRAND_NOT_FOUND'],
      ['brand models path', `/api/v1/brands/${q}/models`, 404, 'BRAND_NOT_FOUND'],
      ['model cockpit path', `/api/v1/brands/${encodeURIComponent(ctx.brandA)}/models/${q}/cockpit`, 404, 'MODEL_NOT_FOUND'],
      ['brand cockpit interval', `/api/v1/brands/${encodeURIComponent(ctx.brandA)}/cockpit?interval=${q}`, 400, 'VALIDATION_FAILED'],
      ['fleet cockpit from', `/api/v1/fleet/cockpit?from=${q}`, 400, 'VALIDATION_FAILED'],
      ['vehicles online', `/api/v1/vehicles?online=${q}`, 400, 'VALIDATION_FAILED'],
      ['vehicles cursor', `/api/v1/vehicles?cursor=${q}`, 400, 'INVALID_RANGE'],
      ['fleet vehicles status', `/api/v1/fleet/vehicles?status=${q}`, 400, 'VALIDATION_FAILED'],
      ['fleet vehicles sort', `/api/v1/fleet/vehicles?sort=${q}`, 400, 'VALIDATION_FAILED'],
      ['fleet vehicles order', `/api/v1/fleet/vehicles?order=${q}`, 400, 'VALIDATION_FAILED'],
      ['stored samples from', `/api/v1/telemetry?from=${q}&to=${now}`, 400, 'VALIDATION_FAILED'],
      ['dead letters reason', `/api/v1/dead-letters?reason=${q}`, 400, 'VALIDATION_FAILED'],
      ['dead letters vin', `/api/v1/dead-letters?vin=${q}`, 400, 'VALIDATION_FAILED'],
      ['faults from', `/api/v1/faults?from=${q}`, 400, 'VALIDATION_FAILED'],
      ['tenant id path', `/api/v1/tenants/${q}`, 404, 'TENANT_NOT_FOUND'],
    ] as const) {
      add('InfluxQL and SQL injection', 'query API', `${name} = ${label}`, async () => isError(await http(ctx, path), status, code));
    }
    // filters that match by equality: an injected value is just a name nothing has
    for (const [name, path, key] of [
      ['vehicles brand', `/api/v1/vehicles?brand=${q}`, 'items'],
      ['vehicles model', `/api/v1/vehicles?model=${q}`, 'items'],
      ['fleet vehicles q', `/api/v1/fleet/vehicles?q=${q}`, 'items'],
      ['positions brand', `/api/v1/positions?brand=${q}`, 'positions'],
    ] as const) {
      add('InfluxQL and SQL injection', 'query API', `${name} = ${label}`, async () => {
        const r = await http(ctx, path);
        // q is a VIN fragment: longer than a VIN is refused by its schema
        if (key === 'items' && name === 'fleet vehicles q' && inj.length > 17) return isError(r, 400, 'VALIDATION_FAILED');
        if (r.status === 404) return isError(r, 404, 'BRAND_NOT_FOUND');
        const items = (r.body as Record<string, unknown[]>)[key];
        return verdict(r.status === 200 && Array.isArray(items) && items.length === 0, r);
      });
    }
    add('InfluxQL and SQL injection', 'query API', `stored samples window with ${label} as a tenant token`, async () => isError(await http(ctx, `/api/v1/telemetry?${range}`, { token: inj }), 401, 'UNAUTHORIZED'));
    add('InfluxQL and SQL injection', 'query API', `registration with ${label} as the brand`, async () => isError(await http(ctx, '/api/v1/vehicles', { body: JSON.stringify({ vin: 'NJCTX000000000001', brand: inj, model: 'X' }) }), 400, 'VALIDATION_FAILED'));
    add('InfluxQL and SQL injection', 'HTTP ingest', `${label} as a signal name`, async () => isError(await ingest(JSON.stringify({ vin: A, ts: Date.now(), seq: 1, signals: { [inj]: 1 } })), 422, 'UNKNOWN_SIGNAL'));
  }

  // --- path traversal on every static path
  for (const path of [
    '/assets/../../../../etc/passwd',
    '/assets/..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/assets/%2e%2e/%2e%2e/package.json',
    '/assets/..%5c..%5cpackage.json',
    '/assets/%252e%252e%252fpackage.json',
    '/assets/....//....//package.json',
    '/assets/index.js%00.png',
    '/assets/.env',
    '/assets/',
    '/docs/static/../../../../etc/passwd',
    '/docs/static/..%2f..%2f..%2fpackage.json',
    '/docs/..%2f..%2fpackage.json',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/..%2f..%2fservices%2fserver.ts',
    '/api/v1/..%2f..%2fpackage.json',
    '/api/v1/exports/..%2f..%2fpackage.json',
  ]) {
    add('path traversal', 'static paths', path, async () => {
      const r = await rawAnswer(await rawHttp(ctx, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      const leaked = /root:x:0:0|"name": "vehicle-cloud"|import .* from/.test(r.text + JSON.stringify(r.body));
      if (leaked) return verdict(false, r, `leaked file content: ${r.text.slice(0, 120)}`);
      const code = path.startsWith('/api/v1/exports/') ? 'EXPORT_NOT_FOUND' : 'ROUTE_NOT_FOUND';
      if (r.status === 400) return isError(r, 400, 'VALIDATION_FAILED');
      return isError(r, 404, code);
    });
  }
  for (const path of ['/', '/docs', '/docs/json', '/healthz', '/readyz', '/metrics']) {
    add('path traversal', 'static paths', `${path} still answers`, async () => {
      const r = await http(ctx, path, { token: null });
      return verdict(r.status === 200, r);
    });
  }

  // --- oversized headers and query strings
  add('oversized headers and query strings', 'static paths', 'a 20 KiB header', async () => isError(rawAnswer(await rawHttp(ctx, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`)), 431, 'HEADERS_TOO_LARGE'));
  add('oversized headers and query strings', 'static paths', '4,000 small headers', async () => isError(rawAnswer(await rawHttp(ctx, `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 4_000 }, (_, i) => `X-${i}: y`).join('\r\n')}\r\n\r\n`)), 431, 'HEADERS_TOO_LARGE'));
  add('oversized headers and query strings', 'query API', 'a 20 KiB query string on the live stream', async () => isError(rawAnswer(await rawHttp(ctx, `GET /api/v1/live?vin=${'A'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.admin}\r\n\r\n`)), 431, 'HEADERS_TOO_LARGE'));
  add('oversized headers and query strings', 'query API', 'a 20 KiB query string on telemetry', async () => isError(rawAnswer(await rawHttp(ctx, `GET /api/v1/vehicles/${A}/telemetry?signals=${'Vehicle.Speed,'.repeat(1_500)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.admin}\r\n\r\n`)), 431, 'HEADERS_TOO_LARGE'));
  add('oversized headers and query strings', 'query API', 'a 12 KiB query string (under the limit) of unknown signals', async () => isError(await http(ctx, `/api/v1/vehicles/${A}/telemetry?signals=${'Vehicle.Nope,'.repeat(900)}`), 400, 'VALIDATION_FAILED'));
  add('oversized headers and query strings', 'HTTP ingest', 'a 15 KiB Authorization header', async () => isError(await ingest(JSON.stringify(sample(ctx, A)), { token: 'x'.repeat(15_000) }), 401, 'UNAUTHORIZED'));
  add('oversized headers and query strings', 'static paths', 'a NUL in a header', async () => isError(rawAnswer(await rawHttp(ctx, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n')), 400, 'BAD_REQUEST'));
  add('oversized headers and query strings', 'static paths', 'not HTTP at all', async () => isError(rawAnswer(await rawHttp(ctx, 'NOT HTTP AT ALL\r\n\r\n')), 400, 'BAD_REQUEST'));
  // the sender stops writing before the announced length: Node's parser refuses the request
  add('oversized headers and query strings', 'HTTP ingest', 'a body shorter than its Content-Length', async () => isError(rawAnswer(await rawHttp(ctx, `POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ctx.admin}\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{}`, true)), 400, 'BAD_REQUEST'));
  add('oversized headers and query strings', 'HTTP ingest', 'a body that is not application/json', async () => isError(await ingest(JSON.stringify(sample(ctx, A)), { headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'));

  // --- wrong, revoked and other tenants' tokens
  for (const [name, token] of [
    ['no token', null],
    ['a wrong token', 'not-a-token-at-all-0000000000000000'],
    ['a revoked tenant token', ctx.revoked],
    ["a deleted tenant's token", ctx.deleted],
    ['the admin token with one character changed', ctx.admin.slice(0, -1) + (ctx.admin.endsWith('0') ? '1' : '0')],
    ['an empty bearer', ''],
  ] as const) {
    for (const path of ['/api/v1/vehicles', `/api/v1/vehicles/${A}/telemetry`, '/api/v1/fleet/cockpit', '/api/v1/tenants', '/api/v1/live']) {
      add('wrong, revoked and foreign tokens', 'query API', `${name} on ${path}`, async () => isError(await http(ctx, path, { token }), 401, 'UNAUTHORIZED'));
    }
    add('wrong, revoked and foreign tokens', 'HTTP ingest', `${name} on ingest`, async () => isError(await ingest(JSON.stringify(sample(ctx, A)), { token }), 401, 'UNAUTHORIZED'));
  }
  add('wrong, revoked and foreign tokens', 'query API', 'the admin token in the query string', async () => isError(await http(ctx, `/api/v1/vehicles?token=${ctx.admin}`, { token: null }), 401, 'UNAUTHORIZED'));
  add('wrong, revoked and foreign tokens', 'query API', "a vehicle's Basic credentials on a query route", async () => isError(await http(ctx, '/api/v1/vehicles', { basic: a }), 401, 'UNAUTHORIZED'));
  add('wrong, revoked and foreign tokens', 'HTTP ingest', 'a vehicle with a wrong password', async () => isError(await ingest(JSON.stringify(sample(ctx, A)), { basic: { ...a, password: 'wrong' } }), 401, 'UNAUTHORIZED'));
  for (const [name, path, code] of [
    ["another brand's vehicle", `/api/v1/vehicles/${b.vin}`, 'VEHICLE_NOT_FOUND'],
    ["another brand's telemetry", `/api/v1/vehicles/${b.vin}/telemetry`, 'VEHICLE_NOT_FOUND'],
    ["another brand's CSV", `/api/v1/vehicles/${b.vin}/telemetry.csv`, 'VEHICLE_NOT_FOUND'],
    ["another brand's cockpit", `/api/v1/brands/${encodeURIComponent(ctx.brandB)}/cockpit`, 'BRAND_NOT_FOUND'],
    ["another brand's models", `/api/v1/brands/${encodeURIComponent(ctx.brandB)}/models`, 'BRAND_NOT_FOUND'],
    ["another brand's live stream", `/api/v1/live?brand=${encodeURIComponent(ctx.brandB)}`, 'BRAND_NOT_FOUND'],
    ["another brand's vehicle's live stream", `/api/v1/live?vin=${b.vin}`, 'VEHICLE_NOT_FOUND'],
    ["another brand's vehicle's dead letters", `/api/v1/dead-letters?vin=${b.vin}`, 'VEHICLE_NOT_FOUND'],
  ] as const) {
    add('wrong, revoked and foreign tokens', 'query API', `tenant A: ${name}`, async () => isError(await http(ctx, path, { token: ctx.tenantA }), 404, code));
  }
  add('wrong, revoked and foreign tokens', 'query API', 'tenant A: an admin route', async () => isError(await http(ctx, '/api/v1/tenants', { token: ctx.tenantA }), 403, 'FORBIDDEN'));
  add('wrong, revoked and foreign tokens', 'query API', "tenant A: registering a vehicle of tenant B's brand", async () => isError(await http(ctx, '/api/v1/vehicles', { token: ctx.tenantA, body: JSON.stringify({ vin: 'FRGN0000000000001', brand: ctx.brandB, model: 'X' }) }), 404, 'BRAND_NOT_FOUND'));
  add('wrong, revoked and foreign tokens', 'HTTP ingest', "tenant A posting for tenant B's vehicle", async () => isError(await ingest(JSON.stringify(sample(ctx, b.vin)), { token: ctx.tenantA }), 404, 'VEHICLE_NOT_FOUND'));
  add('wrong, revoked and foreign tokens', 'HTTP ingest', 'a vehicle posting under another VIN', async () => isError(await ingest(JSON.stringify(sample(ctx, b.vin)), { basic: a }), 403, 'UNAUTHORIZED_PUBLISHER'));
  add('wrong, revoked and foreign tokens', 'query API', 'tenant A sees only its own vehicles, samples and brands', async () => {
    const [vehicles, samples, brands, fleet] = await Promise.all([
      http(ctx, '/api/v1/vehicles?limit=1000', { token: ctx.tenantA }),
      http(ctx, `/api/v1/telemetry?from=${ctx.from - 1}&to=${Date.now() + 60_000}&limit=100000`, { token: ctx.tenantA }),
      http(ctx, '/api/v1/brands', { token: ctx.tenantA }),
      http(ctx, '/api/v1/fleet/vehicles?limit=500', { token: ctx.tenantA }),
    ]);
    const own = new Set([a.vin, a2.vin]);
    const vins = [
      ...((vehicles.body as { items?: Array<{ vin: string }> }).items ?? []).map((v) => v.vin),
      ...((samples.body as { samples?: Array<{ vin: string }> }).samples ?? []).map((s) => s.vin),
      ...((fleet.body as { items?: Array<{ vin: string }> }).items ?? []).map((v) => v.vin),
    ];
    const foreignVins = vins.filter((v) => !own.has(v));
    const foreignBrands = ((brands.body as { brands?: Array<{ brand: string }> }).brands ?? []).map((x) => x.brand).filter((x) => x !== ctx.brandA);
    const ok = [vehicles, samples, brands, fleet].every((r) => r.status === 200) && vins.length > 0 && foreignVins.length === 0 && foreignBrands.length === 0;
    return verdict(ok, vehicles, `foreign VINs ${foreignVins.slice(0, 3).join(',')}, foreign brands ${foreignBrands.join(',')}`);
  });

  // --- a vehicle publishing under another VIN or subscribing to others' topics (MQTT)
  add('publishing or subscribing as another vehicle', 'MQTT ingest', "publishing on another vehicle's topic", async () => {
    const s = sample(ctx, b.vin);
    if (ctx.d.kind === 'embedded') return mqttDeadLetter(ctx, a2, JSON.stringify(s), 'unauthorized_publisher', telemetryTopic(b.vin));
    // Mosquitto's ACL drops it before the service sees it: nothing of it is stored (checked at the end)
    const client = await connectVehicle(ctx, a2);
    await publishBounded(client, telemetryTopic(b.vin), JSON.stringify(s));
    await client.endAsync(true).catch(() => undefined);
    ctx.foreignSeqs.push(s.seq);
    return { right: true, serverError: false, got: '' };
  });
  add('publishing or subscribing as another vehicle', 'MQTT ingest', "its own topic but another vehicle's VIN in the message", () => mqttDeadLetter(ctx, a, JSON.stringify(sample(ctx, b.vin)), 'vin_mismatch'));
  add('publishing or subscribing as another vehicle', 'MQTT ingest', "logging in as itself with another vehicle's VIN as client id", async () => {
    const refused = await connectVehicle(ctx, a, b.vin).then(
      async (c) => {
        await c.endAsync(true);
        return false;
      },
      () => true,
    );
    return { right: refused, serverError: false, got: refused ? '' : 'connected' };
  });
  add('publishing or subscribing as another vehicle', 'MQTT ingest', "logging in with another vehicle's password", async () => {
    const refused = await connectVehicle(ctx, { ...a, password: b.password }).then(
      async (c) => {
        await c.endAsync(true);
        return false;
      },
      () => true,
    );
    return { right: refused, serverError: false, got: refused ? '' : 'connected' };
  });
  for (const topic of [`vehicles/${b.vin}/telemetry`, 'vehicles/+/telemetry', '#', 'vehicles/#', '$SYS/#', '$CONTROL/dynamic-security/#', `$share/g/vehicles/${b.vin}/telemetry`]) {
    add('publishing or subscribing as another vehicle', 'MQTT ingest', `subscribing to ${topic}`, async () => {
      const client = await connectVehicle(ctx, a);
      try {
        const granted = await client.subscribeAsync(topic, { qos: 1 }).then((g) => g.map((x) => x.qos), () => [128]);
        return { right: granted.length === 1 && granted[0] === 128, serverError: false, got: `granted ${JSON.stringify(granted)}` };
      } finally {
        await client.endAsync(true).catch(() => undefined);
      }
    });
  }
  return list;
}

/** The embedded broker's admin login publishes anywhere: the documented answer to a bad topic is a dead letter by reason. */
async function adminPublishRejected(ctx: Context, topic: string, payload: string, reason: string): Promise<Verdict> {
  const count = async (): Promise<number> => ((await http(ctx, `/api/v1/dead-letters?reason=${reason}&limit=1000`)).body as { items?: unknown[] }).items?.length ?? 0;
  const before = await count();
  const client = await mqtt.connectAsync(ctx.d.brokerUrl, { clientId: `hostile-${randomBytes(4).toString('hex')}`, username: 'admin', password: ctx.admin, protocolVersion: 4, reconnectPeriod: 0 });
  await publishBounded(client, topic, payload);
  await client.endAsync(true).catch(() => undefined);
  try {
    await waitFor(`a ${reason} dead letter`, async () => ((await count()) > before ? true : undefined), 30_000, 100);
    return { right: true, serverError: false, got: '' };
  } catch {
    return { right: false, serverError: false, got: `no ${reason} dead letter within 30 s` };
  }
}

async function setUp(d: Deployment): Promise<Context & { foreignSeqs: number[] }> {
  const tag = randomBytes(3).toString('hex').toUpperCase().replace(/[IOQ]/g, '7');
  const ctx = {
    d,
    api: d.service.apiUrl,
    admin: d.adminToken,
    brandA: 'Aurora',
    brandB: 'Borealis',
    brandMeta: "Rock, Paper's (EU)/Co",
    accepted: new Map<string, Set<number>>(),
    seqs: new Map<string, number>(),
    from: Date.now() - 600_000,
    foreignSeqs: [] as number[],
  } as Context & { foreignSeqs: number[] };
  const register = async (vin: string, brand: string): Promise<Vehicle> => {
    const r = await http(ctx, '/api/v1/vehicles', { body: JSON.stringify({ vin, brand, model: 'Hostile One' }) });
    if (r.status !== 201) throw new Error(`registering ${vin}: ${r.status} ${r.text}`);
    ctx.accepted.set(vin, new Set());
    return { vin, brand, password: (r.body as { mqtt: { password: string } }).mqtt.password };
  };
  const vin = (n: number): string => `HST${tag.padEnd(6, '0').slice(0, 6)}${String(n).padStart(8, '0')}`;
  ctx.a = await register(vin(1), ctx.brandA);
  ctx.a2 = await register(vin(2), ctx.brandA);
  ctx.b = await register(vin(3), ctx.brandB);
  ctx.meta = await register(vin(4), ctx.brandMeta);
  const tenant = async (name: string, brands: string[]): Promise<{ id: string; token: string; tokenId: string }> => {
    const r = await http(ctx, '/api/v1/tenants', { body: JSON.stringify({ name, brands }) });
    if (r.status !== 201) throw new Error(`creating tenant ${name}: ${r.status} ${r.text}`);
    return r.body as { id: string; token: string; tokenId: string };
  };
  ctx.tenantA = (await tenant('Aurora Motors', [ctx.brandA])).token;
  ctx.tenantB = (await tenant('Borealis Cars', [ctx.brandB])).token;
  const revoked = await tenant('Revoked Ltd', [ctx.brandA]);
  if ((await http(ctx, `/api/v1/tenants/${revoked.id}/tokens/${revoked.tokenId}`, { method: 'DELETE' })).status !== 204) throw new Error('revoking a token failed');
  ctx.revoked = revoked.token;
  const deleted = await tenant('Deleted Ltd', [ctx.brandA]);
  if ((await http(ctx, `/api/v1/tenants/${deleted.id}`, { method: 'DELETE' })).status !== 204) throw new Error('deleting a tenant failed');
  ctx.deleted = deleted.token;

  // accepted before the hostile inputs: over HTTP (a batch per vehicle) and over MQTT (each vehicle, QoS 1)
  for (const v of [ctx.a, ctx.a2, ctx.b, ctx.meta]) {
    const samples = Array.from({ length: 20 }, () => {
      const s = sample(ctx, v.vin);
      return { ts: s.ts, seq: s.seq, signals: s.signals };
    });
    const r = await http(ctx, '/api/v1/telemetry', { body: JSON.stringify({ vin: v.vin, samples }) });
    if (r.status !== 200 || (r.body as { accepted: number }).accepted !== samples.length) throw new Error(`baseline ingest of ${v.vin}: ${r.status} ${r.text}`);
    for (const s of samples) ctx.accepted.get(v.vin)!.add(s.seq);
    const client = await connectVehicle(ctx, v);
    for (let i = 0; i < 10; i++) {
      const s = sample(ctx, v.vin);
      await client.publishAsync(telemetryTopic(v.vin), JSON.stringify(s), { qos: 1 });
      ctx.accepted.get(v.vin)!.add(s.seq);
    }
    await client.endAsync();
  }
  return ctx;
}

async function hostileOn(kind: DeploymentKind, o: HostileOptions): Promise<HostileResult[]> {
  const log = (line: string): void => o.log(`[hostile ${kind}] ${line}`);
  const d = await startDeployment(kind, { VC_RATE_LIMIT: '0', VC_RATE_LIMIT_INGEST: '0' });
  try {
    const ctx = await setUp(d);
    const all = cases(ctx);
    log(`${all.length} inputs`);
    const rows = new Map<string, HostileResult>();
    const rowOf = (c: Case): HostileResult => {
      const key = `${c.class}\u0000${c.surface}`;
      if (!rows.has(key)) rows.set(key, { class: c.class, surface: c.surface, tried: 0, right: 0, wrong: 0, serverErrors: 0, crashes: 0, examples: [] });
      return rows.get(key)!;
    };
    const dead = (): boolean => d.service.child.exitCode !== null || d.service.child.signalCode !== null;
    let currentClass = '';
    for (const c of all) {
      const row = rowOf(c);
      row.tried += 1;
      if (c.class !== currentClass) log(`${(currentClass = c.class)}`);
      if (dead()) {
        row.crashes += 1;
        continue;
      }
      let v: Verdict;
      let timer: NodeJS.Timeout | undefined;
      try {
        // one input never stalls the run: past this bound it counts as wrong
        v = await Promise.race([c.run(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 120 s')), 120_000)))]);
      } catch (err) {
        v = { right: false, serverError: false, got: `error: ${err instanceof Error ? err.message : String(err)}` };
      } finally {
        clearTimeout(timer);
      }
      if (dead()) {
        row.crashes += 1;
        if (row.examples.length < 5) row.examples.push(`${c.name}: the service died (${d.service.logTail()})`);
        continue;
      }
      if (v.right) row.right += 1;
      else {
        log(`  WRONG ${c.surface}: ${c.name}: ${v.got.slice(0, 300)}`);
        row.wrong += 1;
        if (row.examples.length < 5) row.examples.push(`${c.name}: ${v.got}`);
      }
      if (v.serverError) row.serverErrors += 1;
    }

    // nothing accepted is lost; nothing sent under another vehicle's VIN is stored
    const kept: HostileResult = { class: 'nothing accepted is lost', surface: 'HTTP ingest', tried: 0, right: 0, wrong: 0, serverErrors: 0, crashes: 0, examples: [] };
    for (const [vin, seqs] of ctx.accepted) {
      kept.tried += 1;
      if (dead()) {
        kept.crashes += 1;
        continue;
      }
      const stored = await waitFor(`${vin}'s accepted samples`, async () => {
        const s = await storedSeqs(ctx, vin);
        return [...seqs].every((seq) => s.seqs.includes(seq)) ? s : undefined;
      }, 60_000, 250).catch(async () => storedSeqs(ctx, vin));
      const missing = [...seqs].filter((seq) => !stored.seqs.includes(seq));
      const doubled = stored.seqs.length - new Set(stored.seqs).size;
      const foreign = vin === ctx.b.vin ? ctx.foreignSeqs.filter((seq) => stored.seqs.includes(seq)) : [];
      if (missing.length === 0 && doubled === 0 && foreign.length === 0) kept.right += 1;
      else {
        kept.wrong += 1;
        kept.examples.push(`${vin}: ${missing.length} of ${seqs.size} accepted samples missing, ${doubled} doubled, ${foreign.length} stored from another vehicle's login`);
      }
    }
    const results = [...rows.values(), kept];
    const wrong = results.reduce((n, r) => n + r.wrong, 0);
    log(`${all.length + kept.tried} checks: ${wrong} wrong, ${results.reduce((n, r) => n + r.serverErrors, 0)} 5xx, ${results.reduce((n, r) => n + r.crashes, 0)} crashes`);
    return results;
  } finally {
    await d.stop();
  }
}

export async function run(options: HostileOptions): Promise<HostileResult[]> {
  const results: HostileResult[] = [];
  for (const kind of options.deployments ?? DEPLOYMENTS) {
    const missing = deploymentMissing(kind);
    if (missing) throw new Error(`hostile input on ${kind}: ${missing}`);
    const rows = await hostileOn(kind, options);
    results.push(...rows.map((r) => ({ ...r, surface: `${r.surface} (${kind})` })));
  }
  return results;
}

// `npx tsx bench/chaos/hostile.ts [--deployment embedded|mosquitto+influx]`: this part alone
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, deployment: { type: 'string', multiple: true } } });
  const results = await run({ quick: values.quick ?? false, deployments: values.deployment as DeploymentKind[] | undefined, log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`) });
  console.log(JSON.stringify(results, null, 2));
}
