// Telemetry in InfluxDB: a point per sample in the `telemetry` measurement (tags brand, model, vin; `seq` and a field
// per catalog signal), in the raw retention policy. Requests and escaping are the client's (client.ts, lines.ts).
import { circularMean, SIGNAL_CATALOG, type SignalSpec, type SignalValue } from '../../contract/signals.ts';
import type { TelemetrySample } from '../../contract/telemetry.ts';
import type { StoreLogger } from '../telemetry-store.ts';
import { NUMERIC_SIGNALS, queryWindow, requestedSignals, rowLimit, warnSkipped, type BucketQuery, type LatestSignals, type SampleBucket, type SampleQuery, type SampleRef, type SampleRefQuery, type SignalAggregate, type StoredSample, type TelemetryRepository } from '../telemetry.ts';
import { rowsOf, type InfluxClient, type Row } from './client.ts';
import { identifier, inPolicy, tagIs, telemetryLine, telemetryLinePrefix, TELEMETRY_MEASUREMENT } from './lines.ts';

/** A batch's telemetry chunks sent at once (see WriteTarget.concurrency). */
const TELEMETRY_WRITE_CONCURRENCY = 2;

export class InfluxTelemetry implements TelemetryRepository {
  /** `telemetry,brand=…,model=…,vin=…` per vehicle, escaped once */
  private readonly linePrefixes = new Map<string, { brand: string; model: string; prefix: string }>();
  /** the measurement as InfluxQL names it, in its policy */
  private readonly from: string;

  constructor(
    private readonly influx: InfluxClient,
    /** the raw retention policy (undefined: the database's default) */
    private readonly policy: string | undefined,
    private readonly logger?: StoreLogger,
  ) {
    this.from = inPolicy(policy, TELEMETRY_MEASUREMENT);
  }

  async writeSamples(samples: readonly StoredSample[]): Promise<void> {
    const lines: string[] = [];
    const skipped = { values: 0 };
    for (const sample of samples) lines.push(telemetryLine(this.linePrefix(sample), sample, skipped));
    warnSkipped(this.logger, skipped.values);
    await this.influx.write(lines, { precision: 'ms', table: 'telemetry', retentionPolicy: this.policy, concurrency: TELEMETRY_WRITE_CONCURRENCY });
  }

  async querySamples(query: SampleQuery): Promise<TelemetrySample[]> {
    const specs = requestedSignals(query.signals, SIGNAL_CATALOG);
    const { from, to } = queryWindow(query);
    const limit = rowLimit(query.limit);
    // LIMIT 0 would be "no limit" to InfluxQL
    if (specs.length === 0 || limit === 0 || from >= to) return [];
    const columns = ['seq', ...specs.map((s) => s.path)].map(identifier).join(', ');
    const select = async (start: number, condition: string, rows: number): Promise<Row[]> => {
      const [result] = await this.influx.query([
        `SELECT ${columns} FROM ${this.from} WHERE ${tagIs('vin', query.vin)} AND time >= ${start}ms AND time < ${to}ms${condition} ORDER BY time ASC LIMIT ${rows}`,
      ]);
      return rowsOf(result);
    };
    let rows: Row[];
    if (!query.signals?.length) rows = await select(from, '', limit);
    else {
      // Asked for some signals, only samples carrying one of them. InfluxQL says so with `f = f` ("field present", any
      // type), but influxd answers such a condition about ten times slower than a plain read (16 against 1.7 ms a
      // query at 100,000 vehicles, more under write load): one page is read plainly and kept where it carries one;
      // only when the page was full and left some samples out is the rest of the window asked with the condition.
      const carries = (row: Row): boolean => specs.some((_, i) => row[i + 2] !== null && row[i + 2] !== undefined);
      const page = await select(from, '', limit);
      rows = page.filter(carries);
      if (page.length === limit && rows.length < limit) {
        const carriesOne = ` AND (${specs.map((s) => `${identifier(s.path)} = ${identifier(s.path)}`).join(' OR ')})`;
        rows = rows.concat(await select(Number(page.at(-1)![0]) + 1, carriesOne, limit - rows.length));
      }
    }
    return rows.map((row) => {
      const signals: Record<string, SignalValue> = {};
      specs.forEach((spec, i) => {
        const value = signalValue(spec, row[i + 2]);
        if (value !== undefined) signals[spec.path] = value;
      });
      return { ts: Number(row[0]), seq: Number(row[1]), signals };
    });
  }

  async sampleRefs(query: SampleRefQuery): Promise<SampleRef[]> {
    const { from, to } = queryWindow(query);
    const limit = rowLimit(query.limit);
    // LIMIT 0 would be "no limit" to InfluxQL
    if (limit === 0 || from >= to || query.brands?.length === 0) return [];
    const brands = query.brands ? ` AND (${query.brands.map((b) => tagIs('brand', b)).join(' OR ')})` : '';
    const [result] = await this.influx.query([
      `SELECT "seq", "vin" FROM ${this.from} WHERE time >= ${from}ms AND time < ${to}ms${brands} ORDER BY time ASC LIMIT ${limit}`,
    ]);
    const refs = rowsOf(result).map((row) => ({ vin: String(row[2]), ts: Number(row[0]), seq: Number(row[1]) }));
    // influxd merges series by time only: samples of one ms come in no fixed order
    return refs.sort((a, b) => a.ts - b.ts || (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : 0));
  }

  async queryBuckets(query: BucketQuery): Promise<SampleBucket[]> {
    const specs = requestedSignals(query.signals, NUMERIC_SIGNALS);
    const { from, to } = queryWindow(query);
    const interval = query.intervalMs;
    if (from >= to) return [];
    // InfluxQL aligns buckets to the epoch plus an offset taken modulo the interval: this makes `from` a bucket start.
    const offset = ((from % interval) + interval) % interval;
    const window = `${tagIs('vin', query.vin)} AND time >= ${from}ms AND time < ${to}ms`;
    const groupBy = ` GROUP BY time(${interval}ms, ${offset}ms) fill(none)`;
    const aggregates = specs.flatMap((spec, i) => [
      `mean(${identifier(spec.path)}) AS "avg_${i}"`,
      `min(${identifier(spec.path)}) AS "min_${i}"`,
      `max(${identifier(spec.path)}) AS "max_${i}"`,
    ]);
    // An angle's mean is circular (see circularMean), from sums of sines and cosines. InfluxQL has no aggregate of a
    // transformation, so they are summed over a subquery of the raw points.
    const angles = specs.filter((spec) => spec.circular);
    const radians = (spec: SignalSpec) => `${identifier(spec.path)} * ${Math.PI / 180}`;
    const angleSums =
      `SELECT ${angles.flatMap((_, i) => [`sum("sin_${i}")`, `sum("cos_${i}")`]).join(', ')}` +
      ` FROM (SELECT ${angles.flatMap((spec, i) => [`sin(${radians(spec)}) AS "sin_${i}"`, `cos(${radians(spec)}) AS "cos_${i}"`]).join(', ')}` +
      ` FROM ${this.from} WHERE ${window}) WHERE time >= ${from}ms AND time < ${to}ms${groupBy}`;
    const [result, angleResult] = await this.influx.query([
      `SELECT ${['count("seq") AS "samples"', ...aggregates].join(', ')} FROM ${this.from} WHERE ${window}${groupBy}`,
      ...(angles.length > 0 ? [angleSums] : []),
    ]);
    const sums = new Map(rowsOf(angleResult).map((row) => [Number(row[0]), row]));
    const buckets: SampleBucket[] = [];
    for (const row of rowsOf(result)) {
      const samples = Number(row[1] ?? 0);
      if (samples === 0) continue;
      const signals: Record<string, SignalAggregate> = {};
      specs.forEach((spec, i) => {
        const [mean, min, max] = [row[2 + 3 * i], row[3 + 3 * i], row[4 + 3 * i]];
        if (typeof mean !== 'number' || typeof min !== 'number' || typeof max !== 'number') return;
        const angle = angles.indexOf(spec);
        const sum = sums.get(Number(row[0]));
        const avg = angle < 0 ? mean : circularMean(spec, Number(sum?.[1 + 2 * angle]), Number(sum?.[2 + 2 * angle]));
        signals[spec.path] = { avg, min, max };
      });
      buckets.push({ t: Number(row[0]), samples, signals });
    }
    return buckets;
  }

  async latest(vin: string): Promise<LatestSignals | undefined> {
    // One statement per field: last() of several fields in one statement would not report each one's time.
    const from = `FROM ${this.from} WHERE ${tagIs('vin', vin)}`;
    const [seqResult, ...signalResults] = await this.influx.query([
      `SELECT last("seq") ${from}`,
      ...SIGNAL_CATALOG.map((spec) => `SELECT last(${identifier(spec.path)}) ${from}`),
    ]);
    const lastRow = rowsOf(seqResult)[0];
    if (lastRow === undefined) return undefined;
    const signals: LatestSignals['signals'] = {};
    SIGNAL_CATALOG.forEach((spec, i) => {
      const row = rowsOf(signalResults[i])[0];
      const value = row === undefined ? undefined : signalValue(spec, row[1]);
      if (row !== undefined && value !== undefined) signals[spec.path] = { value, ts: Number(row[0]) };
    });
    return { lastTs: Number(lastRow[0]), signals };
  }

  private linePrefix(sample: StoredSample): string {
    const known = this.linePrefixes.get(sample.vin);
    if (known && known.brand === sample.brand && known.model === sample.model) return known.prefix;
    const prefix = telemetryLinePrefix(sample);
    this.linePrefixes.set(sample.vin, { brand: sample.brand, model: sample.model, prefix });
    return prefix;
  }
}

function signalValue(spec: SignalSpec, raw: unknown): SignalValue | undefined {
  if (raw === null || raw === undefined) return undefined;
  switch (spec.type) {
    case 'number':
      return spec.integer ? Math.round(Number(raw)) : Number(raw);
    case 'boolean':
      return raw === true || raw === 'true';
    default:
      return String(raw);
  }
}
