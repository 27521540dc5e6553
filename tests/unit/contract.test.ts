import t from 'tap';
import {
  jsonTooDeep,
  decodeTelemetry,
  MAX_BATCH_SAMPLES,
  replaceNonFiniteTokens,
  TelemetryMessageSchema,
  telemetryTopic,
  validateTelemetry,
  VIN_PATTERN,
  vinFromTopic,
} from '../../services/contract/telemetry.ts';
import { SIGNAL_CATALOG, SIGNALS, checkSignal, circularMean, type SignalSpec } from '../../services/contract/signals.ts';
import { Prng } from '../../simulators/fleet/prng.ts';

const VIN = 'LNBSCB3F5JW123456';
const NOW = 1_795_000_000_000;
const topic = telemetryTopic(VIN);
const sample = (seq: number, signals: Record<string, unknown> = { 'Vehicle.Speed': 63.2 }) => ({ ts: NOW - 1000 + seq, seq, signals });

t.test('VINs follow ISO 3779: 17 characters, no I, O or Q', async (t) => {
  t.ok(VIN_PATTERN.test(VIN));
  for (const bad of ['LNBSCB3F5JW12345', 'LNBSCB3F5JW1234567', 'LNBSCB3F5JW12345I', 'LNBSCB3F5JW12345O', 'LNBSCB3F5JW12345Q', 'lnbscb3f5jw123456']) {
    t.notOk(VIN_PATTERN.test(bad), bad);
  }
  t.equal(vinFromTopic(topic), VIN);
  t.equal(vinFromTopic('vehicles/x/y/telemetry'), undefined);
  for (const topic of ['vehicles//telemetry', 'vehicles/telemetry', `vehicles/${VIN}/telemetry/more`, `xvehicles/${VIN}/telemetry`, `vehicles/${VIN}/telemetryx`]) {
    t.equal(vinFromTopic(topic), undefined, topic);
  }
});

t.test('a single sample is accepted', async (t) => {
  const result = decodeTelemetry(topic, JSON.stringify({ vin: VIN, ...sample(42) }), NOW);
  t.ok(result.ok);
  if (result.ok) t.same(result.samples, [sample(42)]);
});

t.test('a batch keeps its valid samples and rejects the others with reasons', async (t) => {
  const payload = `{"vin":"${VIN}","samples":[
    ${JSON.stringify(sample(1))},
    ${JSON.stringify(sample(2, { 'Vehicle.Unknown': 1 }))},
    {"ts":${NOW},"seq":3,"signals":{"Vehicle.Speed":NaN}},
    ${JSON.stringify(sample(4, { 'Vehicle.Speed': 'fast' }))},
    ${JSON.stringify(sample(5, { 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 140 }))},
    ${JSON.stringify({ ts: NOW - 365 * 86_400_000, seq: 6, signals: { 'Vehicle.Speed': 1 } })},
    ${JSON.stringify({ ts: NOW, seq: -1, signals: { 'Vehicle.Speed': 1 } })},
    ${JSON.stringify(sample(8, {}))},
    ${JSON.stringify(sample(9, { 'Vehicle.ADAS.ActiveAutonomyLevel': 2.5 }))},
    ${JSON.stringify(sample(10, { 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging': true, 'Vehicle.OBD.DTCList': 'P0420' }))}
  ]}`;
  const result = decodeTelemetry(topic, payload, NOW);
  t.ok(result.ok);
  if (!result.ok) return;
  t.same(result.samples.map((s) => s.seq), [1, 10]);
  t.same(
    result.rejected.map((r) => [r.index, r.reason]),
    [
      [1, 'unknown_signal'],
      [2, 'non_finite_value'],
      [3, 'invalid_signal_type'],
      [4, 'out_of_range_value'],
      [5, 'ts_out_of_range'],
      [6, 'invalid_sample'],
      [7, 'empty_signals'],
      [8, 'out_of_range_value'],
    ],
  );
});

t.test('signals that are not plain values are refused with zod\'s message, those that are by the catalog', async (t) => {
  // the decoder parses ts and seq alone when the signals are a plain object of numbers, booleans and strings, and the
  // whole sample otherwise: each way refuses with the same reasons and details
  const refusal = (s: Record<string, unknown>): unknown => {
    const result = decodeTelemetry(topic, JSON.stringify({ vin: VIN, samples: [s] }), NOW);
    return result.ok ? result.rejected.map((r) => [r.reason, r.detail]) : result.reason;
  };
  t.same(refusal({ ...sample(1), signals: { 'Vehicle.Speed': null } }), [['invalid_sample', 'signals.Vehicle.Speed: Invalid input']]);
  t.same(refusal({ ...sample(1), signals: { 'Vehicle.Speed': { v: 1 } } }), [['invalid_sample', 'signals.Vehicle.Speed: Invalid input']]);
  t.same(refusal({ ...sample(1), signals: 'fast' }), [['invalid_sample', 'signals: Invalid input: expected record, received string']]);
  t.same(refusal({ ...sample(1), signals: [1] }), [['invalid_sample', 'signals: Invalid input: expected record, received array']]);
  t.same(refusal({ ...sample(1), seq: 1.5 }), [['invalid_sample', 'seq: Invalid input: expected int, received number']], 'plain signals, a wrong seq');
  t.same(refusal({ ...sample(1), seq: 1.5, signals: { 'Vehicle.Speed': null } }), [['invalid_sample', 'seq: Invalid input: expected int, received number']], 'the first problem, as before');
  t.same(refusal({ ...sample(1), signals: { 'Vehicle.Speed': true } }), [['invalid_signal_type', 'Vehicle.Speed: wrong type for this signal: a number is expected, got a boolean']]);
  const accepted = decodeTelemetry(topic, JSON.stringify({ vin: VIN, samples: [{ ...sample(7), extra: 1 }] }), NOW);
  t.same(accepted.ok && accepted.samples, [sample(7)], 'an accepted sample holds ts, seq and signals only');
});

t.test('whole-message problems reject the message with one reason', async (t) => {
  const cases: Array<[string, string | Buffer, string?]> = [
    ['malformed_json', '{"vin": '],
    ['malformed_json', Buffer.from([0xff, 0xfe, 0x00])],
    ['invalid_vin', JSON.stringify({ vin: 'SHORT', ...sample(1) })],
    ['vin_mismatch', JSON.stringify({ vin: 'WVWZZZ1JZXW000001', ...sample(1) })],
    ['invalid_message', '[1,2,3]'],
    ['invalid_message', JSON.stringify({ vin: VIN, samples: 'nope' })],
    ['invalid_message', JSON.stringify({ vin: VIN, samples: [] })],
    ['batch_too_large', JSON.stringify({ vin: VIN, samples: Array.from({ length: MAX_BATCH_SAMPLES + 1 }, (_, i) => ({ ts: NOW, seq: i, signals: { 'Vehicle.Speed': 1 } })) })],
    ['payload_too_large', Buffer.alloc(1024 * 1024, 0x20)],
    ['invalid_topic', JSON.stringify({ vin: VIN, ...sample(1) }), 'cars/LNBSCB3F5JW123456/telemetry'],
  ];
  for (const [reason, payload, otherTopic] of cases) {
    const result = decodeTelemetry(otherTopic ?? topic, payload, NOW);
    t.notOk(result.ok, reason);
    if (!result.ok) t.equal(result.reason, reason, `${reason}: ${result.detail}`);
  }
});

t.test('timestamps are accepted from now - 7 days to now + 5 minutes', async (t) => {
  const at = (ts: number) => decodeTelemetry(topic, JSON.stringify({ vin: VIN, ts, seq: 0, signals: { 'Vehicle.Speed': 1 } }), NOW);
  const accepted = (ts: number) => {
    const r = at(ts);
    return r.ok && r.samples.length === 1;
  };
  t.ok(accepted(NOW - 7 * 86_400_000));
  t.notOk(accepted(NOW - 7 * 86_400_000 - 1));
  t.ok(accepted(NOW + 5 * 60_000));
  t.notOk(accepted(NOW + 5 * 60_000 + 1));
});

t.test('NaN and Infinity tokens are replaced only outside strings', async (t) => {
  t.equal(replaceNonFiniteTokens('{"a":1}'), undefined);
  const repaired = replaceNonFiniteTokens('{"NaN":"Infinity","x":-Infinity,"y":[NaN]}');
  t.ok(repaired);
  const parsed = JSON.parse(repaired!) as Record<string, unknown>;
  t.equal(parsed.NaN, 'Infinity');
  t.type(parsed.x, 'string');
  t.not(parsed.x, '-Infinity');
});

t.test('every catalog signal has a type, and range checks follow the catalog', async (t) => {
  t.ok(SIGNAL_CATALOG.length >= 15);
  for (const s of SIGNAL_CATALOG) {
    const value = s.type === 'number' ? (s.min ?? 0) : s.type === 'boolean' ? true : '';
    t.equal(checkSignal(s.path, value), undefined, s.path);
  }
  t.equal(checkSignal('Vehicle.Speed', Number.POSITIVE_INFINITY), 'non_finite_value');
  t.equal(checkSignal('Vehicle.OBD.DTCList', 'x'.repeat(300)), 'out_of_range_value');
  t.equal(checkSignal('Vehicle.Powertrain.TractionBattery.Charging.IsCharging', 1), 'invalid_signal_type');
});

/** A value for a catalog signal: valid most of the time, else just out of range, of the wrong type or not whole. */
function randomValue(rng: Prng, spec: SignalSpec): unknown {
  const roll = rng.next();
  if (spec.type === 'boolean') return roll < 0.9 ? rng.chance(0.5) : 1;
  if (spec.type === 'string') return roll < 0.8 ? 'P0420' : roll < 0.9 ? 'x'.repeat((spec.maxLength ?? 0) + 1) : 7;
  const [min, max] = [spec.min ?? -1e6, spec.max ?? 1e6];
  if (roll < 0.75) return spec.integer ? rng.int(min, max) : rng.between(min, max);
  if (roll < 0.85) return rng.chance(0.5) ? min - 0.5 : max + 0.5;
  if (roll < 0.95) return spec.integer ? min + 0.5 : String(min);
  return rng.pick([min, max]);
}

function randomSample(rng: Prng, seq: number): Record<string, unknown> {
  const signals: Record<string, unknown> = {};
  for (const spec of SIGNAL_CATALOG) if (rng.chance(0.2)) signals[spec.path] = randomValue(rng, spec);
  if (rng.chance(0.05)) signals['Vehicle.NotInTheCatalog'] = 1;
  return { ts: NOW - rng.int(0, 3_600_000), seq: rng.chance(0.03) ? -1 : seq, signals };
}

t.test('the documented message schema accepts exactly the messages the decoder accepts whole', async (t) => {
  const rng = new Prng(13);
  let accepted = 0;
  for (let i = 0; i < 2000; i++) {
    const message = rng.chance(0.5)
      ? { vin: VIN, ...randomSample(rng, i) }
      : { vin: VIN, samples: Array.from({ length: rng.int(0, 4) }, (_, j) => randomSample(rng, j)) };
    const decoded = validateTelemetry(message, undefined, NOW);
    const decoderAcceptsWhole = decoded.ok && decoded.rejected.length === 0;
    const schemaAccepts = TelemetryMessageSchema.safeParse(message).success;
    if (schemaAccepts !== decoderAcceptsWhole) {
      t.fail(`schema and decoder disagree on ${JSON.stringify(message)}: ${JSON.stringify(decoded)}`);
      return;
    }
    if (schemaAccepts) accepted++;
  }
  t.ok(accepted > 200 && accepted < 1800, `both kinds were tried (${accepted} of 2000 accepted)`);
});

t.test('angles average to their mean direction, in the range of their signal', async (t) => {
  const mean = (path: string, degrees: number[]) =>
    circularMean(SIGNALS.get(path)!, degrees.reduce((sum, d) => sum + Math.sin((d * Math.PI) / 180), 0), degrees.reduce((sum, d) => sum + Math.cos((d * Math.PI) / 180), 0));
  t.same(SIGNAL_CATALOG.filter((s) => s.circular).map((s) => s.path), ['Vehicle.CurrentLocation.Longitude', 'Vehicle.CurrentLocation.Heading'], 'the catalog\'s angles that wrap');
  t.equal(mean('Vehicle.CurrentLocation.Heading', [350, 10]), 0);
  t.equal(mean('Vehicle.CurrentLocation.Heading', [359, 358]), 358.5, 'a heading stays in [0, 360)');
  t.equal(mean('Vehicle.CurrentLocation.Heading', [90]), 90);
  t.equal(mean('Vehicle.CurrentLocation.Longitude', [-170, -160]), -165, 'a longitude stays in [-180, 180)');
  t.equal(mean('Vehicle.CurrentLocation.Longitude', [179, -179]), -180);
});

t.test('a refused value is named with what was expected: the range, the whole number, the length or the type', async (t) => {
  const detail = (signals: Record<string, unknown>) => {
    const result = decodeTelemetry(topic, JSON.stringify({ vin: VIN, ...sample(1, signals) }), NOW);
    return result.ok ? result.rejected.map((r) => `${r.reason}: ${r.detail}`) : [];
  };
  t.same(detail({ 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current': 140 }), [
    'out_of_range_value: Vehicle.Powertrain.TractionBattery.StateOfCharge.Current: 140 is outside the range [0, 100] percent',
  ]);
  t.same(detail({ 'Vehicle.Speed': -300 }), ['out_of_range_value: Vehicle.Speed: -300 is outside the range [-250, 500] km/h']);
  t.same(detail({ 'Vehicle.ADAS.ActiveAutonomyLevel': 2.5 }), ['out_of_range_value: Vehicle.ADAS.ActiveAutonomyLevel: 2.5 is not a whole number in [0, 5]']);
  t.same(detail({ 'Vehicle.OBD.DTCList': 'P'.repeat(300) }), ['out_of_range_value: Vehicle.OBD.DTCList: a string of 300 characters, longer than the 256 allowed']);
  t.same(detail({ 'Vehicle.Speed': 'fast' }), ['invalid_signal_type: Vehicle.Speed: wrong type for this signal: a number is expected, got a string']);
});

t.test('JSON nested deeper than 32 levels is malformed, however it nests, and strings do not count', async (t) => {
  const vin = 'LNBSCB3F5JW123456';
  const deep = decodeTelemetry(`vehicles/${vin}/telemetry`, `{"vin":"${vin}","samples":${'['.repeat(40)}${']'.repeat(40)}}`);
  t.match(deep, { ok: false, reason: 'malformed_json', detail: /deeper than 32 levels/ });
  t.equal(jsonTooDeep('['.repeat(33) + ']'.repeat(33)), true);
  t.equal(jsonTooDeep('['.repeat(32) + ']'.repeat(32)), false, '32 levels are allowed');
  t.equal(jsonTooDeep(`{"a":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`), false, 'brackets inside strings, escaped quotes included, are text');
  t.equal(jsonTooDeep(`["\\\\"${'['.repeat(40)}${']'.repeat(40)}]`), true, 'a string ending in an escaped backslash ends at its quote');
  t.equal(jsonTooDeep(`["\\\\\\"${'['.repeat(40)}"]`), false, 'a quote after an odd run of backslashes is text');
  const ok = decodeTelemetry(`vehicles/${vin}/telemetry`, `{"vin":"${vin}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.OBD.DTCList":"[[[{{{"}}`);
  t.match(ok, { ok: true }, 'a message with brackets in a string value is taken');
});

t.test('the depth check skips strings as a char-by-char scan does, over random brackets, quotes and backslashes', async (t) => {
  // the scan it replaced, kept here as the reference: inside a string a backslash escapes the next character
  const reference = (text: string, max: number): boolean => {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '[' || c === '{') {
        if (++depth > max) return true;
      } else if (c === ']' || c === '}') depth--;
    }
    return false;
  };
  const prng = new Prng(15);
  const random = (n: number): number => prng.int(0, n - 1);
  const alphabet = ['[', '{', ']', '}', '"', '\\', 'a', ','];
  let deep = 0;
  for (let round = 0; round < 20_000; round++) {
    const text = Array.from({ length: 1 + random(60) }, () => alphabet[random(alphabet.length)]).join('');
    const max = random(12);
    const want = reference(text, max);
    if (want) deep += 1;
    if (jsonTooDeep(text, max) !== want) {
      t.fail(`jsonTooDeep(${JSON.stringify(text)}, ${max}) should be ${want}`);
      return;
    }
  }
  t.ok(deep > 2_000 && deep < 18_000, `both answers were exercised (${deep} of 20,000 too deep)`);
});

t.test('a __proto__ key among the signals rejects the sample as an unknown signal', async (t) => {
  const vin = 'LNBSCB3F5JW123456';
  const result = decodeTelemetry(`vehicles/${vin}/telemetry`, `{"vin":"${vin}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.Speed":5,"__proto__":{"x":1}}}`);
  t.match(result, { ok: true, samples: [], rejected: [{ reason: 'unknown_signal', detail: /__proto__/ }] });
});

t.test('bytes that are not UTF-8 are malformed_json; the same text as a string decodes', async (t) => {
  const vin = 'LNBSCB3F5JW123456';
  const bytes = Buffer.concat([Buffer.from(`{"vin":"${vin}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.OBD.DTCList":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
  t.match(decodeTelemetry(telemetryTopic(vin), bytes), { ok: false, reason: 'malformed_json', detail: 'payload is not valid UTF-8' });
  t.match(decodeTelemetry(telemetryTopic(vin), Buffer.from(`{"vin":"${vin}","ts":${Date.now()},"seq":1,"signals":{"Vehicle.OBD.DTCList":"Å"}}`)), { ok: true });
});

t.test('a number literal too large for a double (1e999) is non_finite_value, like a bare Infinity token', async (t) => {
  const vin = 'LNBSCB3F5JW123456';
  const ts = Date.now();
  for (const literal of ['1e999', '-1e999', 'Infinity']) {
    const decoded = decodeTelemetry(telemetryTopic(vin), `{"vin":"${vin}","samples":[{"ts":${ts},"seq":1,"signals":{"Vehicle.Speed":${literal}}},{"ts":${ts + 1},"seq":2,"signals":{"Vehicle.Speed":3}}]}`);
    t.match(decoded, { ok: true, rejected: [{ index: 0, reason: 'non_finite_value' }] }, literal);
    t.equal(decoded.ok && decoded.samples.length, 1, `${literal}: the other sample is kept`);
  }
  t.match(decodeTelemetry(telemetryTopic(vin), `{"vin":"${vin}","ts":${ts},"seq":1,"signals":{"Vehicle.Nope":1e999}}`), { ok: true, rejected: [{ reason: 'unknown_signal' }] }, 'an unknown signal is unknown first');
});
