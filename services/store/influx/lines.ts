// The InfluxDB backend's escaping, in one place for every adapter: InfluxQL identifiers and string literals, the tag
// values InfluxDB 1.x stores, and line protocol. Lines are built with @influxdata/influxdb-client's escaping: its
// Point for the few lines of the cockpit tables and dead letters, and by hand from precomputed catalog keys for
// telemetry (the hot path), held to Point's output by tests/unit/influx-lines.test.ts.
import { escape, type Point } from '@influxdata/influxdb-client';
import { SIGNAL_CATALOG, type SignalSpec } from '../../contract/signals.ts';
import type { TelemetrySample } from '../../contract/telemetry.ts';
import { storableValue } from '../telemetry.ts';

export const TELEMETRY_MEASUREMENT = 'telemetry';

const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * The tag value InfluxDB 1.x stores for `value`; filter tags through it too. Line protocol has no newline, CR or tab
 * in a tag (Point writes them as `\n`, `\r`, `\t`, which 1.x keeps as two characters), and cannot end a tag with a
 * backslash (it would escape the separator after it): trailing ones become U+FF3C FULLWIDTH REVERSE SOLIDUS.
 */
export function tagValue(value: string): string {
  return value
    .replace(/[\n\r\t]/g, (c) => CONTROL_ESCAPES[c] ?? c)
    .replace(/\\+$/, (run) => '\uff3c'.repeat(run.length));
}

/** An InfluxQL quoted identifier. */
export function identifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** An InfluxQL string literal: the scanner knows the escapes \\ \' \" \n and rejects a raw newline. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** The InfluxQL condition that a tag equals `value` as a line wrote it. */
export const tagIs = (tag: string, value: string): string => `${identifier(tag)} = ${literal(tagValue(value))}`;

/** A measurement as InfluxQL names it in a retention policy (undefined: the database's default policy). */
export function inPolicy(policy: string | undefined, measurement: string): string {
  return policy === undefined ? identifier(measurement) : `${identifier(policy)}.${identifier(measurement)}`;
}

/** The line of a point that has fields (every point here has at least one). */
export function lineOf(point: Point): string {
  const line = point.toLineProtocol();
  if (line === undefined) throw new Error('influx store bug: a point without fields');
  return line;
}

/** `,<escaped VSS path>=` and the catalog spec of every signal: the field keys of a telemetry line. */
const FIELD_KEYS: ReadonlyMap<string, { key: string; spec: SignalSpec }> = new Map(SIGNAL_CATALOG.map((spec) => [spec.path, { key: `,${escape.tag(spec.path)}=`, spec }]));

/** Measurement and tags of a vehicle's telemetry lines (tags in key order, as Point writes them). */
export function telemetryLinePrefix(vehicle: { vin: string; brand: string; model: string }): string {
  const tag = (value: string): string => escape.tag(tagValue(value));
  return `${escape.measurement(TELEMETRY_MEASUREMENT)},brand=${tag(vehicle.brand)},model=${tag(vehicle.model)},vin=${tag(vehicle.vin)}`;
}

/**
 * One telemetry line, as Point would write it: `seq` an integer, each signal a field of its catalog type (a number
 * always a float, even whole or the integer ADAS level, so a field's type never conflicts), time in ms. A value that
 * is not stored (storableValue) is left out and counted in `skipped.values`.
 */
export function telemetryLine(prefix: string, sample: TelemetrySample, skipped: { values: number }): string {
  let line = `${prefix} seq=${sample.seq}i`;
  const signals = sample.signals;
  for (const path in signals) {
    const field = FIELD_KEYS.get(path);
    const value = signals[path];
    if (field === undefined || !storableValue(field.spec, value)) skipped.values++;
    else if (typeof value === 'number') line += field.key + String(value);
    else if (typeof value === 'boolean') line += field.key + (value ? 'T' : 'F');
    else line += field.key + escape.quoted(value);
  }
  return `${line} ${Math.trunc(sample.ts)}`;
}
