// The cockpit tables (../cockpit-tables.ts) in the embedded DuckDB file (store.ts): one table per kind, a row per part, keyed by
// segment and part number, written with INSERT OR REPLACE in one transaction per batch. Recounts from the raw
// samples and the raw cockpit are SQL over the `telemetry` table.
import type { DuckDBAppender, DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { COCKPIT_SIGNALS } from '../../contract/signals.ts';
import { MINUTE_MS, scopeTerms, SEALED_TIERS, segmentKey, totalOf, type CockpitAggregates, type CockpitScope, type CockpitSums, type CockpitTables, type CockpitWindow, type FactsPart, type FactsPrint, type FactsRange, type FactTier, type ModelRef, type RollupKey, type RollupRow, type SealedSums, type SealedTier, type SealMark, type SegmentRef, type SeriesBucket, type SeriesPart, type SeriesRead } from '../cockpit-tables.ts';
import type { StoreLogger } from '../telemetry-store.ts';
import { appendRows, columnsOf, dropTempTable, freshTempTable, identifier, rowsOf, toNumber, transaction, type DuckDbFile } from './connection.ts';
const SPEED = identifier(COCKPIT_SIGNALS.speed);
const SOC = identifier(COCKPIT_SIGNALS.soc);
const ODO = identifier(COCKPIT_SIGNALS.odometer);
const CHARGING = identifier(COCKPIT_SIGNALS.charging);
const ADAS = identifier(COCKPIT_SIGNALS.adasLevel);
const MIL = identifier(COCKPIT_SIGNALS.mil);
const DTC = identifier(COCKPIT_SIGNALS.dtc);
const FAULT = `(${MIL} OR coalesce(${DTC}, '') <> '')`;

/** The series sums' columns, of the minute parts and of the sealed pieces alike, in CockpitSums' order (appendSums, sumsOf). */
const SUMS = ['samples', 'speed_sum', 'speed_count', 'soc_sum', 'soc_count', 'adas_count', 'adas2'] as const;
const SUMS_COLUMNS = `${SUMS.map((c) => `${c} ${c.endsWith('_sum') ? 'DOUBLE' : 'BIGINT'} NOT NULL`).join(', ')},`;
const SUMS_UPDATE = SUMS.map((c) => `${c} = excluded.${c}`).join(', ');

const COCKPIT_DDL = [
  `CREATE TABLE IF NOT EXISTS cockpit_series (
  minute BIGINT NOT NULL,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  part INTEGER NOT NULL,
  ${SUMS_COLUMNS}
  PRIMARY KEY (minute, brand, model, part)
)`,
  `CREATE TABLE IF NOT EXISTS cockpit_facts (
  tier VARCHAR NOT NULL,
  start BIGINT NOT NULL,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  part INTEGER NOT NULL,
  vehicles VARCHAR NOT NULL,
  PRIMARY KEY (tier, start, brand, model, part)
)`,
  `CREATE TABLE IF NOT EXISTS cockpit_series_sealed (
  tier VARCHAR NOT NULL,
  start BIGINT NOT NULL,
  brand VARCHAR NOT NULL,
  model VARCHAR NOT NULL,
  ${SUMS_COLUMNS}
  PRIMARY KEY (tier, start, brand, model)
)`,
  'CREATE TABLE IF NOT EXISTS cockpit_seals (tier VARCHAR NOT NULL, start BIGINT NOT NULL, rev BIGINT NOT NULL, PRIMARY KEY (tier, start))',
  // the revision of the sealed series sums (a file of before them has none: every segment's sums are made again)
  'ALTER TABLE cockpit_seals ADD COLUMN IF NOT EXISTS series BIGINT',
  // a facts part's write stamp (a file of before them has none: read as 0)
  'ALTER TABLE cockpit_facts ADD COLUMN IF NOT EXISTS stamp BIGINT',
];

// Temp tables of the write connection, each created anew for its batch (freshTempTable says why): staging for a batch
// of parts (an appender cannot upsert) and the keys a lookup is about.
const SERIES_STAGE = 'AS SELECT * FROM cockpit_series LIMIT 0';
const FACTS_STAGE = 'AS SELECT * FROM cockpit_facts LIMIT 0';
const SEALED_STAGE = 'AS SELECT * FROM cockpit_series_sealed LIMIT 0';
const KEYS = '(vin VARCHAR, bucket BIGINT)';
const SEGMENTS = '(tier VARCHAR, start BIGINT, brand VARCHAR, model VARCHAR)';

/** Up to this many vehicles, keysWithSamples lists their VINs in the statement instead of joining a temp table of the keys. */
const MAX_LISTED_KEY_VINS = 64;

/** Tables of the cockpit engine before this one (derived data): dropped when found. */
const OLD_COCKPIT_TABLES = ['rollup_1m', 'rollup_bm_1m', 'rollup_1h', 'rollup_sealed'];

/** The facts parts of segments starting in some ranges, in scope: plain start ranges per tier, so DuckDB skips row groups by their zone maps. */
function factsWhere(ranges: readonly FactsRange[], scope: CockpitScope, params: Record<string, DuckDBValue>): string {
  return `(${ranges.map((r) => `(tier = '${r.tier}' AND start >= ${Math.trunc(r.lo)} AND start < ${Math.trunc(r.hi)})`).join(' OR ')})${scopeSql(scope, params)}`;
}

/** Scope conditions with bound parameters (names come from requests). */
function scopeSql(scope: CockpitScope, params: Record<string, DuckDBValue>): string {
  const terms = scopeTerms(scope);
  if (terms === undefined) return ' AND false';
  return terms
    .map(({ column, anyOf }, t) => {
      const names = anyOf.map((value, i) => {
        params[`${column}${t}_${i}`] = value;
        return `$${column}${t}_${i}`;
      });
      return names.length === 1 ? ` AND ${column} = ${names[0]}` : ` AND ${column} IN (${names.join(', ')})`;
    })
    .join('');
}

const SUMS_RAW = `count(*), sum(${SPEED}), count(${SPEED}), sum(${SOC}), count(${SOC}), count(${ADAS}), count(*) FILTER (WHERE ${ADAS} >= 2)`;
const FACTS_RAW = `max(${ODO}) AS odo_max, min(${ODO}) AS odo_min, count(*) FILTER (WHERE ${CHARGING}) AS charging, count(*) FILTER (WHERE ${FAULT}) AS faults`;
const VEHICLE_TOTALS = 'count(*), coalesce(sum(odo_max - odo_min), 0), count(*) FILTER (WHERE charging > 0), count(*) FILTER (WHERE faults > 0)';

function appendSums(appender: DuckDBAppender, sums: CockpitSums): void {
  appender.appendBigInt(BigInt(sums.samples));
  appender.appendDouble(sums.speedSum);
  appender.appendBigInt(BigInt(sums.speedCount));
  appender.appendDouble(sums.socSum);
  appender.appendBigInt(BigInt(sums.socCount));
  appender.appendBigInt(BigInt(sums.adasCount));
  appender.appendBigInt(BigInt(sums.adas2Count));
}

function sumsOf(row: readonly unknown[], at: number): CockpitSums {
  return {
    samples: toNumber(row[at]),
    speedSum: toNumber(row[at + 1]),
    speedCount: toNumber(row[at + 2]),
    socSum: toNumber(row[at + 3]),
    socCount: toNumber(row[at + 4]),
    adasCount: toNumber(row[at + 5]),
    adas2Count: toNumber(row[at + 6]),
  };
}

export class DuckDbCockpitTables implements CockpitTables {
  constructor(
    private readonly db: DuckDbFile,
    private readonly logger?: StoreLogger,
  ) {}

  /** The tables, in the store's init transaction; those of the former cockpit engine hold derived data nothing reads: dropped. */
  async createTables(db: DuckDBConnection): Promise<void> {
    for (const ddl of COCKPIT_DDL) await db.run(ddl);
    for (const table of OLD_COCKPIT_TABLES) {
      if ((await columnsOf(db, table)).size === 0) continue;
      await db.run(`DROP TABLE ${table}`);
      this.logger?.info({ table }, 'embedded store: dropped a table of the former cockpit engine');
    }
  }

  async write(batch: { series?: readonly SeriesPart[]; facts?: readonly FactsPart[]; sealedSeries?: readonly SealedSums[]; seals?: readonly SealMark[] }): Promise<void> {
    const series = batch.series ?? [];
    const facts = batch.facts ?? [];
    const sealed = batch.sealedSeries ?? [];
    const seals = batch.seals ?? [];
    if (series.length + facts.length + sealed.length + seals.length === 0) return;
    await this.db.write(async (db) => {
      // the staging tables are new for each batch (what a failed write left is of no interest)
      if (series.length > 0) await freshTempTable(db, 'cockpit_series_stage', SERIES_STAGE);
      if (facts.length > 0) await freshTempTable(db, 'cockpit_facts_stage', FACTS_STAGE);
      if (sealed.length > 0) await freshTempTable(db, 'cockpit_sealed_stage', SEALED_STAGE);
      if (series.length > 0) await appendRows(db, 'cockpit_series_stage', series, (appender, s) => {
        appender.appendBigInt(BigInt(s.minute));
        appender.appendVarchar(s.brand);
        appender.appendVarchar(s.model);
        appender.appendInteger(s.part);
        appendSums(appender, s.sums);
      });
      if (sealed.length > 0) await appendRows(db, 'cockpit_sealed_stage', sealed, (appender, s) => {
        appender.appendVarchar(s.tier);
        appender.appendBigInt(BigInt(s.start));
        appender.appendVarchar(s.brand);
        appender.appendVarchar(s.model);
        appendSums(appender, s.sums);
      });
      if (facts.length > 0) await appendRows(db, 'cockpit_facts_stage', facts, (appender, f) => {
        appender.appendVarchar(f.tier);
        appender.appendBigInt(BigInt(f.start));
        appender.appendVarchar(f.brand);
        appender.appendVarchar(f.model);
        appender.appendInteger(f.part);
        appender.appendVarchar(f.packed);
        appender.appendBigInt(BigInt(Math.trunc(f.stamp ?? 0)));
      });
      // the parts, then the marks that vouch for them, in one transaction; ON CONFLICT DO UPDATE costs DuckDB
      // about half of INSERT OR REPLACE (measured 5.5 vs 10.5 ms of CPU for 50 rows)
      await transaction(db, async () => {
        if (series.length > 0) {
          await db.run(`INSERT INTO cockpit_series SELECT * FROM cockpit_series_stage ON CONFLICT (minute, brand, model, part) DO UPDATE SET ${SUMS_UPDATE}`);
        }
        if (facts.length > 0) await db.run('INSERT INTO cockpit_facts SELECT * FROM cockpit_facts_stage ON CONFLICT (tier, start, brand, model, part) DO UPDATE SET vehicles = excluded.vehicles, stamp = excluded.stamp');
        if (sealed.length > 0) {
          await db.run(`INSERT INTO cockpit_series_sealed SELECT * FROM cockpit_sealed_stage ON CONFLICT (tier, start, brand, model) DO UPDATE SET ${SUMS_UPDATE}`);
        }
        if (seals.length > 0) {
          const values = seals.map((m) => `('${m.tier}', ${Math.trunc(m.start)}, ${Math.trunc(m.rev)}, ${m.series === undefined ? 'NULL' : Math.trunc(m.series)})`).join(', ');
          // a mark without the sums' revision keeps the one stored
          await db.run(`INSERT INTO cockpit_seals (tier, start, rev, series) VALUES ${values} ON CONFLICT (tier, start) DO UPDATE SET rev = excluded.rev, series = coalesce(excluded.series, cockpit_seals.series)`);
        }
      });
      // sizes as stored: 8 bytes a number, strings by their length
      if (series.length > 0) this.db.observe?.('cockpit_series', series.length, series.reduce((n, s) => n + 76 + s.brand.length + s.model.length, 0));
      if (facts.length > 0) this.db.observe?.('cockpit_facts', facts.length, facts.reduce((n, f) => n + f.packed.length + f.brand.length + f.model.length + 28, 0));
      if (sealed.length > 0) this.db.observe?.('cockpit_series_sealed', sealed.length, sealed.reduce((n, s) => n + 72 + s.tier.length + s.brand.length + s.model.length, 0));
      if (seals.length > 0) this.db.observe?.('cockpit_seals', seals.length, seals.length * 24);
    });
  }

  async seriesBuckets(read: SeriesRead, byModel = false): Promise<SeriesBucket[]> {
    const params: Record<string, DuckDBValue> = { from: BigInt(read.from), interval: BigInt(read.intervalMs) };
    const scope = scopeSql(read, params);
    const minutes = read.ranges.filter((r) => r.tier === 'minute');
    const sealed = read.ranges.filter((r) => r.tier !== 'minute');
    const within = (column: string, ranges: readonly FactsRange[], tier: boolean): string =>
      ranges.map((r) => `(${tier ? `tier = '${r.tier}' AND ` : ''}${column} >= ${Math.trunc(r.lo)} AND ${column} < ${Math.trunc(r.hi)})`).join(' OR ');
    const sums = SUMS.join(', ');
    const sources = [
      ...(minutes.length > 0 ? [`SELECT minute AS t, brand, model, ${sums} FROM cockpit_series WHERE (${within('minute', minutes, false)})${scope}`] : []),
      ...(sealed.length > 0 ? [`SELECT start AS t, brand, model, ${sums} FROM cockpit_series_sealed WHERE (${within('start', sealed, true)})${scope}`] : []),
    ];
    if (sources.length === 0) return [];
    const keys = byModel ? 'k, brand, model' : 'k';
    const rows = await this.db.read(
      `SELECT ${keys}, ${SUMS.map((c) => `sum(${c})`).join(', ')}
       FROM (SELECT (t - $from) // $interval AS k, * FROM (${sources.join(' UNION ALL ')})) GROUP BY ${keys} HAVING sum(samples) > 0 ORDER BY ${keys}`,
      params,
    );
    const at = byModel ? 3 : 1;
    return rows.map((row) => ({
      t: read.from + toNumber(row[0]) * read.intervalMs,
      ...(byModel ? { brand: String(row[1]), model: String(row[2]) } : {}),
      ...sumsOf(row, at),
    }));
  }

  async readFacts(ranges: readonly FactsRange[], scope: CockpitScope, since?: number): Promise<FactsPart[]> {
    if (ranges.length === 0) return [];
    const params: Record<string, DuckDBValue> = {};
    const where = factsWhere(ranges, scope, params);
    const newer = since === undefined ? '' : ` AND coalesce(stamp, 0) >= ${Math.trunc(since)}`;
    const [tier = [], start = [], brand = [], model = [], part = [], packed = [], stamp = []] = await this.db.readColumns(
      `SELECT tier, start::DOUBLE, brand, model, part, vehicles, coalesce(stamp, 0)::DOUBLE FROM cockpit_facts WHERE ${where}${newer}`,
      params,
    );
    return tier.map((t, i) => ({ tier: t as FactTier, start: start[i] as number, brand: brand[i] as string, model: model[i] as string, part: part[i] as number, packed: packed[i] as string, stamp: stamp[i] as number }));
  }

  async factsPrints(ranges: readonly FactsRange[], scope: CockpitScope): Promise<FactsPrint[]> {
    if (ranges.length === 0) return [];
    const params: Record<string, DuckDBValue> = {};
    const where = factsWhere(ranges, scope, params);
    // sums as DOUBLE: a segment's stamps add up far below 2^53 (the reader compares them with its own sum of them)
    const [tier = [], start = [], brand = [], model = [], parts = [], stampSum = [], stampMax = []] = await this.db.readColumns(
      `SELECT tier, start::DOUBLE, brand, model, count(*)::DOUBLE, sum(coalesce(stamp, 0))::DOUBLE, max(coalesce(stamp, 0))::DOUBLE FROM cockpit_facts WHERE ${where} GROUP BY tier, start, brand, model`,
      params,
    );
    return tier.map((t, i) => ({ tier: t as FactTier, start: start[i] as number, brand: brand[i] as string, model: model[i] as string, parts: parts[i] as number, stampSum: stampSum[i] as number, stampMax: stampMax[i] as number }));
  }

  async readSeals(lo: number, hi: number, tiers?: readonly SealedTier[]): Promise<SealMark[]> {
    // tiers are of a closed set (SEALED_TIERS): listed as literals
    const asked = tiers === undefined ? undefined : SEALED_TIERS.filter((t) => tiers.includes(t));
    if (asked?.length === 0) return [];
    const only = asked === undefined ? '' : ` AND tier IN (${asked.map((t) => `'${t}'`).join(', ')})`;
    const rows = await this.db.read(`SELECT tier, start, rev, series FROM cockpit_seals WHERE start >= $lo AND start < $hi${only}`, { lo: BigInt(lo), hi: BigInt(hi) });
    return rows.map((row) => ({ tier: String(row[0]) as SealMark['tier'], start: toNumber(row[1]), rev: toNumber(row[2]), ...(row[3] === null ? {} : { series: toNumber(row[3]) }) }));
  }

  async lastParts(segments: readonly SegmentRef[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (segments.length === 0) return out;
    const rows = await this.db.write(async (db) => {
      await freshTempTable(db, 'cockpit_segments', SEGMENTS);
      await appendRows(db, 'cockpit_segments', segments, (appender, s) => {
        appender.appendVarchar(s.tier);
        appender.appendBigInt(BigInt(s.start));
        appender.appendVarchar(s.brand);
        appender.appendVarchar(s.model);
      });
      try {
        return await rowsOf(
          db,
          `SELECT f.tier, f.start, f.brand, f.model, max(f.part) FROM
             (SELECT tier, start, brand, model, part FROM cockpit_facts
              UNION ALL SELECT 'minute' AS tier, minute AS start, brand, model, part FROM cockpit_series) f
           JOIN (SELECT DISTINCT * FROM cockpit_segments) s ON f.tier = s.tier AND f.start = s.start AND f.brand = s.brand AND f.model = s.model
           GROUP BY f.tier, f.start, f.brand, f.model`,
        );
      } finally {
        await dropTempTable(db, 'cockpit_segments').catch(() => undefined);
      }
    });
    for (const row of rows) out.set(segmentKey({ tier: String(row[0]) as FactTier, start: toNumber(row[1]), brand: String(row[2]), model: String(row[3]) }), toNumber(row[4]));
    return out;
  }

  async rowsFromRaw(ranges: ReadonlyArray<{ lo: number; hi: number; models?: readonly ModelRef[]; vins?: readonly string[] }>): Promise<RollupRow[]> {
    if (ranges.length === 0) return [];
    const params: Record<string, DuckDBValue> = {};
    let n = 0;
    const bind = (value: string): string => {
      params[`p${n}`] = value;
      return `$p${n++}`;
    };
    const conditions = ranges.map((r) => {
      let c = `(ts >= ${Math.trunc(r.lo)} AND ts < ${Math.trunc(r.hi)}`;
      if (r.models?.length) c += ` AND (${r.models.map((m) => `(brand = ${bind(m.brand)} AND model = ${bind(m.model)})`).join(' OR ')})`;
      if (r.vins?.length) c += ` AND vin IN (${r.vins.map(bind).join(', ')})`;
      return `${c})`;
    });
    const rows = await this.db.read(
      `SELECT vin, ts // ${MINUTE_MS} * ${MINUTE_MS} AS minute, any_value(brand), any_value(model),
         count(*), sum(${SPEED}), count(${SPEED}), sum(${SOC}), count(${SOC}), min(${ODO}), max(${ODO}),
         count(*) FILTER (WHERE ${CHARGING}), count(${ADAS}), count(*) FILTER (WHERE ${ADAS} >= 2), count(*) FILTER (WHERE ${FAULT})
       FROM telemetry WHERE ${conditions.join(' OR ')} GROUP BY vin, minute`,
      params,
    );
    return rows.map((row) => {
      const out: RollupRow = {
        vin: String(row[0]),
        bucket: toNumber(row[1]),
        brand: String(row[2]),
        model: String(row[3]),
        samples: toNumber(row[4]),
        speedSum: toNumber(row[5]),
        speedCount: toNumber(row[6]),
        socSum: toNumber(row[7]),
        socCount: toNumber(row[8]),
        charging: toNumber(row[11]),
        adasCount: toNumber(row[12]),
        adas2: toNumber(row[13]),
        faults: toNumber(row[14]),
      };
      if (row[9] !== null) out.odoMin = toNumber(row[9]);
      if (row[10] !== null) out.odoMax = toNumber(row[10]);
      return out;
    });
  }

  /** On the write connection, where the temp table lives. */
  async keysWithSamples(keys: readonly RollupKey[]): Promise<RollupKey[]> {
    if (keys.length === 0) return [];
    // the ts range lets DuckDB skip row groups by their zone maps
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const key of keys) {
      lo = Math.min(lo, key.bucket);
      hi = Math.max(hi, key.bucket + MINUTE_MS);
    }
    const vins = new Set(keys.map((k) => k.vin));
    if (vins.size <= MAX_LISTED_KEY_VINS) {
      // a batch of late data is a few vehicles' (a store-and-forward batch is one vehicle's hours): their VINs as
      // literals let DuckDB filter the scan itself, with no temp table to create (two to three times faster than the
      // join below over a day of 1,000 vehicles, measured apart: 25 against 55 ms for 27 VINs)
      const listed = [...vins].map((vin) => `'${vin.replaceAll("'", "''")}'`).join(', ');
      const wanted = new Set(keys.map((k) => `${k.vin}\u0000${k.bucket}`));
      const rows = await this.db.write((db) => rowsOf(db, `SELECT DISTINCT vin, ts // ${MINUTE_MS} * ${MINUTE_MS} FROM telemetry WHERE vin IN (${listed}) AND ts >= ${Math.trunc(lo)} AND ts < ${Math.trunc(hi)}`));
      return rows.map((row) => ({ vin: String(row[0]), bucket: toNumber(row[1]) })).filter((k) => wanted.has(`${k.vin}\u0000${k.bucket}`));
    }
    return this.db.write(async (db) => {
      await freshTempTable(db, 'cockpit_keys', KEYS);
      await appendRows(db, 'cockpit_keys', keys, (appender, key) => {
        appender.appendVarchar(key.vin);
        appender.appendBigInt(BigInt(key.bucket));
      });
      try {
        const rows = await rowsOf(
          db,
          `SELECT DISTINCT k.vin, k.bucket FROM cockpit_keys k
           JOIN telemetry t ON t.vin = k.vin AND t.ts >= k.bucket AND t.ts < k.bucket + ${MINUTE_MS}
           WHERE t.ts >= $lo AND t.ts < $hi`,
          { lo: BigInt(lo), hi: BigInt(hi) },
        );
        return rows.map((row) => ({ vin: String(row[0]), bucket: toNumber(row[1]) }));
      } finally {
        await dropTempTable(db, 'cockpit_keys').catch(() => undefined);
      }
    });
  }

  async newestSample(): Promise<number | undefined> {
    const [row] = await this.db.read('SELECT max(ts) FROM telemetry');
    return row?.[0] === null || row?.[0] === undefined ? undefined : toNumber(row[0]);
  }

  async fromRaw(window: CockpitWindow): Promise<CockpitAggregates> {
    const params: Record<string, DuckDBValue> = { from: BigInt(window.from), to: BigInt(window.to), interval: BigInt(window.intervalMs) };
    const scope = scopeSql(window, params);
    const where = `ts >= $from AND ts < $to${scope}`;
    const seriesRows = await this.db.read(`SELECT (ts - $from) // $interval AS k, ${SUMS_RAW} FROM telemetry WHERE ${where} GROUP BY k ORDER BY k`, params);
    // DuckDB refuses a bound parameter the statement does not use
    const { interval: _interval, ...windowParams } = params;
    const [vehicles] = await this.db.read(`SELECT ${VEHICLE_TOTALS} FROM (SELECT vin, ${FACTS_RAW} FROM telemetry WHERE ${where} GROUP BY vin)`, windowParams);
    const series = seriesRows.map((row) => ({ t: window.from + toNumber(row[0]) * window.intervalMs, ...sumsOf(row, 1) }));
    const v = vehicles ?? [];
    return { series, totals: { ...totalOf(series), activeVehicles: toNumber(v[0]), distanceKm: toNumber(v[1]), chargingVehicles: toNumber(v[2]), faultVehicles: toNumber(v[3]) } };
  }
}

