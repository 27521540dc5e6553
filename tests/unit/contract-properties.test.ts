// Properties of the telemetry decoder (docs/contract.md), over generated input: it never throws and answers only with
// known reasons; a valid message is accepted whole and decodes to exactly its samples; one sample spoiled in one way
// is rejected alone with the documented reason; the nesting and batch limits hold. Seeded, so a failure is replayed
// by its seed and path (printed by fast-check); VC_CONTRACT_PROPS_SEED and VC_CONTRACT_PROPS_RUNS change them.
import t from 'tap';
import fc from 'fast-check';
import { SIGNAL_CATALOG, type SignalSpec } from '../../services/contract/signals.ts';
import {
  decodeTelemetry,
  MAX_BATCH_SAMPLES,
  MAX_FUTURE_MS,
  MAX_JSON_DEPTH,
  MAX_PAST_MS,
  parseTelemetryJson,
  REJECT_REASONS,
  telemetryTopic,
  validateTelemetry,
  type DecodeResult,
  type RejectReason,
} from '../../services/contract/telemetry.ts';

const seed = Number(process.env.VC_CONTRACT_PROPS_SEED ?? 20_261_205);
const numRuns = Number(process.env.VC_CONTRACT_PROPS_RUNS ?? 300);
const NOW = 1_795_000_000_000;
const VIN_CHARS = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';

const vin = fc.string({ unit: fc.constantFrom(...VIN_CHARS), minLength: 17, maxLength: 17 });
const ts = fc.integer({ min: NOW - MAX_PAST_MS, max: NOW + MAX_FUTURE_MS });
const seq = fc.nat();

/** A value the catalog accepts for `spec`. */
function validValue(spec: SignalSpec): fc.Arbitrary<number | boolean | string> {
  switch (spec.type) {
    case 'boolean':
      return fc.boolean();
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 128 }).filter((s) => s.length <= (spec.maxLength ?? Infinity));
    case 'number':
      return spec.integer
        ? fc.integer({ min: spec.min ?? -1e9, max: spec.max ?? 1e9 })
        : fc.double({ min: spec.min ?? -1e300, max: spec.max ?? 1e300, noNaN: true, noDefaultInfinity: true });
  }
}

const validSignals: fc.Arbitrary<Record<string, number | boolean | string>> = fc
  .subarray([...SIGNAL_CATALOG], { minLength: 1 })
  .chain((specs) => fc.tuple(...specs.map(validValue)).map((values) => Object.fromEntries(specs.map((s, i) => [s.path, values[i]!]))));

interface Sample {
  ts: number;
  seq: number;
  signals: Record<string, number | boolean | string>;
}
const validSample: fc.Arbitrary<Sample> = fc.record({ ts, seq, signals: validSignals });

/** A valid message: one sample, or a batch of a few. */
const validMessage = fc.record({ vin, batch: fc.boolean(), samples: fc.array(validSample, { minLength: 1, maxLength: 5 }) }).map((m) => ({
  vin: m.vin,
  samples: m.batch ? m.samples : m.samples.slice(0, 1),
  batch: m.batch,
}));

/** JSON text of a value, -0 kept (JSON.stringify prints it as 0). */
const json = (value: unknown): string => (Object.is(value, -0) ? '-0' : JSON.stringify(value));

/** A sample's JSON text with raw JSON for some of its parts (a bare NaN, a `__proto__` key), `vin` first when single. */
function sampleText(sample: { ts: string; seq: string; signals: [string, string][] }, vinText?: string): string {
  const signals = `{${sample.signals.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  return `{${vinText === undefined ? '' : `"vin":${vinText},`}"ts":${sample.ts},"seq":${sample.seq},"signals":${signals}}`;
}
const rawOf = (s: Sample) => ({ ts: json(s.ts), seq: json(s.seq), signals: Object.entries(s.signals).map(([k, v]) => [k, json(v)] as [string, string]) });

function messageText(vinValue: string, batch: boolean, samples: ReturnType<typeof rawOf>[]): string {
  return batch ? `{"vin":${JSON.stringify(vinValue)},"samples":[${samples.map((s) => sampleText(s)).join(',')}]}` : sampleText(samples[0]!, JSON.stringify(vinValue));
}

/** Samples equal field for field, numbers by Object.is (so -0 is not 0). */
function sameSamples(got: readonly Sample[], want: readonly Sample[]): boolean {
  const same = (a: unknown, b: unknown) => Object.is(a, b);
  return (
    got.length === want.length &&
    got.every((g, i) => {
      const w = want[i]!;
      const keys = Object.keys(w.signals);
      return same(g.ts, w.ts) && same(g.seq, w.seq) && Object.keys(g.signals).length === keys.length && keys.every((k) => same(g.signals[k], w.signals[k]));
    })
  );
}

const KNOWN = new Set<string>(REJECT_REASONS);
function answersWithKnownReasons(result: DecodeResult): boolean {
  if (!result.ok) return KNOWN.has(result.reason) && typeof result.detail === 'string';
  return result.rejected.every((r) => KNOWN.has(r.reason) && typeof r.detail === 'string') && Array.isArray(result.samples);
}

const options = { seed, numRuns };

t.test('no input makes the decoder throw, and every answer has a known reason', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), fc.option(fc.string({ maxLength: 40 })), (bytes, topic) => {
      return answersWithKnownReasons(decodeTelemetry(topic ?? undefined, Buffer.from(bytes), NOW));
    }),
    options,
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 512 }), (text) => answersWithKnownReasons(decodeTelemetry(undefined, text, NOW))),
    options,
  );
  // any JSON value, as text and as the HTTP route's parsed body, and inside a message around a real VIN
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), vin, (value, v) => {
      const text = JSON.stringify(value);
      const wrapped = { vin: v, ...(typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { samples: value }) };
      return (
        answersWithKnownReasons(decodeTelemetry(undefined, text, NOW)) &&
        answersWithKnownReasons(validateTelemetry(value, undefined, NOW)) &&
        answersWithKnownReasons(validateTelemetry(wrapped, undefined, NOW)) &&
        answersWithKnownReasons(decodeTelemetry(telemetryTopic(v), JSON.stringify(wrapped), NOW))
      );
    }),
    options,
  );
  // a message whose samples are any JSON values
  fc.assert(
    fc.property(vin, fc.array(fc.jsonValue({ maxDepth: 4 }), { minLength: 1, maxLength: 5 }), (v, samples) => {
      const result = decodeTelemetry(undefined, JSON.stringify({ vin: v, samples }), NOW);
      return answersWithKnownReasons(result) && result.ok && result.samples.length + result.rejected.length === samples.length;
    }),
    options,
  );
  t.pass(`${numRuns} runs a property, seed ${seed}`);
});

t.test('a valid message is accepted whole and decodes to exactly its samples', async (t) => {
  fc.assert(
    fc.property(validMessage, fc.boolean(), (m, onTopic) => {
      const text = messageText(m.vin, m.batch, m.samples.map(rawOf));
      const result = decodeTelemetry(onTopic ? telemetryTopic(m.vin) : undefined, text, NOW);
      if (!result.ok || result.rejected.length > 0 || result.vin !== m.vin || result.json !== text) return false;
      if (!sameSamples(result.samples, m.samples)) return false;
      // what the HTTP route gets: the same message parsed
      const parsed = parseTelemetryJson(text);
      const again = validateTelemetry(parsed?.value, undefined, NOW);
      return again.ok && again.rejected.length === 0 && again.samples.length === m.samples.length;
    }),
    { ...options, numRuns: Math.min(numRuns, 200) },
  );
  t.pass(`${Math.min(numRuns, 200)} messages, seed ${seed}`);
});

/** One way of spoiling one sample, and the reason the contract gives for it. */
interface Spoil {
  what: string;
  reason: RejectReason;
  apply(sample: ReturnType<typeof rawOf>): ReturnType<typeof rawOf>;
}

const byType = (type: SignalSpec['type']) => SIGNAL_CATALOG.filter((s) => s.type === type);
const setSignal = (path: string, raw: string) => (s: ReturnType<typeof rawOf>) => ({ ...s, signals: [...s.signals.filter(([k]) => k !== path), [path, raw] as [string, string]] });

const spoil: fc.Arbitrary<Spoil> = fc.oneof(
  fc.tuple(fc.constantFrom(...SIGNAL_CATALOG), fc.constantFrom('NaN', 'Infinity', '-Infinity')).map(([spec, token]): Spoil => ({
    what: `${spec.path} = bare ${token}`,
    reason: 'non_finite_value',
    apply: setSignal(spec.path, token),
  })),
  fc.tuple(fc.constantFrom(...byType('number')), fc.string({ maxLength: 8 })).map(([spec, s]): Spoil => ({
    what: `${spec.path} = a string`,
    reason: 'invalid_signal_type',
    apply: setSignal(spec.path, JSON.stringify(s)),
  })),
  fc.tuple(fc.constantFrom(...byType('boolean')), fc.oneof(fc.integer(), fc.constantFrom('"true"', '0', '1')).map(String)).map(([spec, raw]): Spoil => ({
    what: `${spec.path} = ${raw}`,
    reason: 'invalid_signal_type',
    apply: setSignal(spec.path, raw),
  })),
  fc.tuple(fc.constantFrom(...byType('string')), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean())).map(([spec, v]): Spoil => ({
    what: `${spec.path} = ${json(v)}`,
    reason: 'invalid_signal_type',
    apply: setSignal(spec.path, json(v)),
  })),
  fc
    .tuple(
      fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'Vehicle', 'vehicle.speed', 'Vehicle.Speed '), fc.string({ maxLength: 20 })),
      // a value of a JSON type no signal has (null, an object) is invalid_sample first, as the doc orders them
      fc.oneof(fc.integer().map(String), fc.constantFrom('true', '"x"', 'NaN')),
    )
    .filter(([path]) => !SIGNAL_CATALOG.some((s) => s.path === path))
    .map(([path, raw]): Spoil => ({ what: `unknown signal ${JSON.stringify(path)} = ${raw}`, reason: 'unknown_signal', apply: setSignal(path, raw) })),
  fc
    .tuple(fc.constantFrom(...byType('number').filter((s) => s.max !== undefined || s.min !== undefined)), fc.boolean(), fc.double({ min: 1e-6, max: 1e12, noNaN: true }))
    .map(([spec, above, by]): Spoil => {
      const value = above ? (spec.max ?? 0) + by : (spec.min ?? 0) - by;
      return { what: `${spec.path} = ${value}`, reason: 'out_of_range_value', apply: setSignal(spec.path, json(value)) };
    }),
  fc.tuple(fc.constantFrom(...byType('number').filter((s) => s.integer)), fc.double({ min: 0.01, max: 4.99, noNaN: true })).filter(([, v]) => !Number.isInteger(v)).map(([spec, v]): Spoil => ({
    what: `${spec.path} = ${v} (not whole)`,
    reason: 'out_of_range_value',
    apply: setSignal(spec.path, json(v)),
  })),
  fc.tuple(fc.constantFrom(...byType('string')), fc.integer({ min: 1, max: 40 })).map(([spec, over]): Spoil => ({
    what: `${spec.path} over its length by ${over}`,
    reason: 'out_of_range_value',
    apply: setSignal(spec.path, JSON.stringify('P'.repeat((spec.maxLength ?? 0) + over))),
  })),
  fc.constantFrom(...SIGNAL_CATALOG).map((spec): Spoil => ({ what: `${spec.path} = null`, reason: 'invalid_sample', apply: setSignal(spec.path, 'null') })),
  fc.constantFrom(...SIGNAL_CATALOG).map((spec): Spoil => ({ what: `${spec.path} = [1]`, reason: 'invalid_sample', apply: setSignal(spec.path, '[1]') })),
  fc.constant<Spoil>({ what: 'no signals', reason: 'empty_signals', apply: (s) => ({ ...s, signals: [] }) }),
  fc.oneof(fc.integer({ min: 1, max: 1e9 }).map((d) => NOW - MAX_PAST_MS - d), fc.integer({ min: 1, max: 1e12 }).map((d) => NOW + MAX_FUTURE_MS + d)).map((bad): Spoil => ({
    what: `ts ${bad}`,
    reason: 'ts_out_of_range',
    apply: (s) => ({ ...s, ts: json(bad) }),
  })),
  fc.constantFrom('1795000000000.5', '"1795000000000"', 'null', 'NaN', 'true', '{}').map((raw): Spoil => ({
    what: `ts ${raw}`,
    // a bare NaN ts is tolerated as a token and then refused by the sample schema, as the string it becomes
    reason: 'invalid_sample',
    apply: (s) => ({ ...s, ts: raw }),
  })),
  fc.constantFrom('-1', '1.5', '"1"', 'null').map((raw): Spoil => ({ what: `seq ${raw}`, reason: 'invalid_sample', apply: (s) => ({ ...s, seq: raw }) })),
);

t.test('one sample spoiled in one way is rejected alone, with the documented reason', async (t) => {
  fc.assert(
    fc.property(validMessage, fc.nat(), spoil, (m, pick, how) => {
      const index = pick % m.samples.length;
      const raws = m.samples.map(rawOf);
      raws[index] = how.apply(raws[index]!);
      const result = decodeTelemetry(undefined, messageText(m.vin, m.batch, raws), NOW);
      if (!result.ok) throw new Error(`${how.what}: the whole message refused (${result.reason}: ${result.detail})`);
      const reasons = result.rejected.map((r) => `${r.index}:${r.reason}`);
      if (reasons.join() !== `${index}:${how.reason}`) throw new Error(`${how.what}: expected ${index}:${how.reason}, got [${reasons.join(', ')}]`);
      return sameSamples(result.samples, m.samples.filter((_, i) => i !== index));
    }),
    options,
  );
  t.pass(`${numRuns} spoiled messages, seed ${seed}`);
});

t.test('-0 is accepted and kept as -0 by every number signal whose range holds 0', async (t) => {
  const zeroOk = byType('number').filter((s) => (s.min ?? -Infinity) <= 0 && (s.max ?? Infinity) >= 0);
  t.ok(zeroOk.length > 0);
  fc.assert(
    fc.property(validMessage, fc.constantFrom(...zeroOk), (m, spec) => {
      const raws = m.samples.map(rawOf);
      raws[0] = setSignal(spec.path, '-0')(raws[0]!);
      const result = decodeTelemetry(undefined, messageText(m.vin, m.batch, raws), NOW);
      return result.ok && result.rejected.length === 0 && Object.is(result.samples[0]?.signals[spec.path], -0);
    }),
    { ...options, numRuns: Math.min(numRuns, 100) },
  );
  t.pass(`-0 accepted and kept, seed ${seed}`);
});

t.test(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is malformed_json, anywhere in the message`, async (t) => {
  fc.assert(
    fc.property(validMessage, fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{"a":'), fc.boolean(), (m, extra, open, inSignals) => {
      // the message is 2 levels deep around an extra key, 4 around a signal's value of a batch
      const around = inSignals ? (m.batch ? 4 : 2) : 1;
      const depth = MAX_JSON_DEPTH - around + extra;
      const close = open === '[' ? ']' : '}';
      const deep = `${open.repeat(depth)}1${close.repeat(depth)}`;
      const raws = m.samples.map(rawOf);
      const text = inSignals
        ? messageText(m.vin, m.batch, [setSignal('X', deep)(raws[0]!), ...raws.slice(1)])
        : `{"deep":${deep},${messageText(m.vin, m.batch, raws).slice(1)}`;
      const result = decodeTelemetry(undefined, text, NOW);
      if (result.ok || result.reason !== 'malformed_json') throw new Error(`depth ${depth + around}: ${result.ok ? 'accepted' : result.reason}`);
      const justUnder = `${open.repeat(MAX_JSON_DEPTH - around)}1${close.repeat(MAX_JSON_DEPTH - around)}`;
      const under = decodeTelemetry(undefined, `{"deep":${justUnder},${messageText(m.vin, m.batch, raws).slice(1)}`, NOW);
      return inSignals || (under.ok && under.rejected.length === 0);
    }),
    { ...options, numRuns: Math.min(numRuns, 100) },
  );
  t.pass(`nesting up to ${MAX_JSON_DEPTH + 3000} levels refused, seed ${seed}`);
});

t.test(`a batch of more than ${MAX_BATCH_SAMPLES} samples is batch_too_large, at ${MAX_BATCH_SAMPLES} it is accepted`, async (t) => {
  fc.assert(
    fc.property(vin, validSample, fc.integer({ min: 0, max: 20 }), (v, s, over) => {
      const small = { ts: s.ts, seq: s.seq, signals: { 'Vehicle.Speed': 1 } };
      const text = (n: number) => JSON.stringify({ vin: v, samples: Array.from({ length: n }, () => small) });
      const result = decodeTelemetry(undefined, text(MAX_BATCH_SAMPLES + 1 + over), NOW);
      const atLimit = decodeTelemetry(undefined, text(MAX_BATCH_SAMPLES), NOW);
      return !result.ok && result.reason === 'batch_too_large' && atLimit.ok && atLimit.samples.length === MAX_BATCH_SAMPLES;
    }),
    { ...options, numRuns: Math.min(numRuns, 20) },
  );
  t.pass(`batches over the limit refused, seed ${seed}`);
});
