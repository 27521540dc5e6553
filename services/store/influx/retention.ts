// Retention policies of the InfluxDB store. The cockpit answers whole-minute windows from its own tables alone
// (services/cockpit/reader.ts), so raw points may expire long before them: raw telemetry and dead letters go to
// `vc_raw` when a raw retention is configured (else to the database's default policy, left as it is), the cockpit
// tables always to `vc_rollups`, so that dashboards name one policy whatever the configuration. Both are created or
// altered at start with InfluxDB 1.x statements; a shard group duration is always given, as InfluxDB would pick it
// for the retention, because ALTER RETENTION POLICY otherwise keeps the old one.
import { StoreAccessError, type StoreLogger } from '../telemetry-store.ts';
import { identifier } from './lines.ts';

export const RAW_POLICY = 'vc_raw';
export const ROLLUPS_POLICY = 'vc_rollups';

/** influxd's answer to a statement only an admin may run. */
export const ADMIN_ONLY = /requires admin privilege/;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** InfluxDB 1.x refuses a shorter retention. */
export const MIN_RETENTION_MS = HOUR_MS;
/** Samples are accepted up to 7 days late, and their day's facts segment starts up to a day before them. */
export const MIN_ROLLUPS_RETENTION_MS = 8 * DAY_MS;
/** How late a sample may be (docs/contract.md, Limits): raw points younger than this may still be rewritten. */
export const ACCEPTED_LATE_MS = 7 * DAY_MS;

const UNIT_MS: Record<string, number> = { ns: 1e-6, u: 1e-3, µ: 1e-3, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS };
const TERM = /(\d+(?:\.\d+)?)(ns|us|µs|u|µ|ms|s|m|h|d|w)/y;

function sumOfTerms(text: string, fractions: boolean): number | undefined {
  if (text === '') return undefined;
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < text.length) {
    const at = TERM.lastIndex;
    const match = TERM.exec(text);
    if (!match || match.index !== at) return undefined;
    if (!fractions && match[1]!.includes('.')) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
  }
  return total;
}

/** Milliseconds of an InfluxQL duration literal (`30d`, `4w`, `720h`, `1h30m`), Infinity for `inf`; undefined when it is not one. */
export function parseRetention(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^inf$/i.test(trimmed)) return Number.POSITIVE_INFINITY;
  return sumOfTerms(trimmed, false);
}

/** Milliseconds of a duration as SHOW RETENTION POLICIES prints it (Go: `720h0m0s`; `0s` is infinite). */
export function parseShownDuration(text: string): number | undefined {
  const ms = sumOfTerms(text, true);
  return ms === 0 ? Number.POSITIVE_INFINITY : ms;
}

/** The shard group duration InfluxDB 1.x picks for a retention: 1h below 2 days, 1d below 180 days, else 7d. */
export function shardGroupMs(retentionMs: number): number {
  if (retentionMs >= 180 * DAY_MS) return 7 * DAY_MS;
  if (retentionMs >= 2 * DAY_MS) return DAY_MS;
  return HOUR_MS;
}

/** An InfluxQL duration literal: INF, or the largest unit that divides it. */
export function durationLiteral(ms: number): string {
  if (!Number.isFinite(ms)) return 'INF';
  for (const [unit, size] of [['w', 7 * DAY_MS], ['d', DAY_MS], ['h', HOUR_MS], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms)}ms`;
}

/** What is wrong with a retention setting, or undefined when it is usable (for the config and the store). */
export function retentionProblem(text: string, minimumMs: number): string | undefined {
  const ms = parseRetention(text);
  if (ms === undefined) return 'an InfluxQL duration such as 30d, 4w, 720h, or inf';
  if (ms < minimumMs) return `at least ${durationLiteral(minimumMs)}, or inf`;
  return undefined;
}

export interface RetentionSettings {
  /** retention of raw telemetry and dead letters in `vc_raw`; unset: the database's default policy, as it is */
  raw?: string;
  /** retention of the cockpit tables in `vc_rollups`; unset: created as INF when missing, else left as it is */
  rollups?: string;
}

/** A retention policy as SHOW RETENTION POLICIES shows it. */
export interface PolicyState {
  name: string;
  durationMs: number;
  shardMs: number;
  isDefault: boolean;
}

/** A policy the store needs; `durationMs` undefined: keep an existing one as it is, create a missing one as INF. */
interface PolicyWish {
  name: string;
  durationMs: number | undefined;
  makeDefault: boolean;
}

export interface PolicyChange {
  policy: string;
  action: 'create' | 'alter' | 'keep';
  duration: string;
  shardDuration: string;
  isDefault: boolean;
  /** the statement to run, unless kept */
  statement?: string;
  /** the ALTER to run instead when a concurrent start created the policy first */
  alter?: string;
}

/** What the store's settings ask for. */
export function policyWishes(settings: RetentionSettings): PolicyWish[] {
  const wishes: PolicyWish[] = [{ name: ROLLUPS_POLICY, durationMs: settings.rollups === undefined ? undefined : checked(settings.rollups, MIN_ROLLUPS_RETENTION_MS), makeDefault: false }];
  if (settings.raw !== undefined) wishes.push({ name: RAW_POLICY, durationMs: checked(settings.raw, MIN_RETENTION_MS), makeDefault: true });
  return wishes;
}

function checked(text: string, minimumMs: number): number {
  const problem = retentionProblem(text, minimumMs);
  if (problem !== undefined) throw new RangeError(`retention ${JSON.stringify(text)}: ${problem}`);
  return parseRetention(text)!;
}

/** The CREATE or ALTER statements that bring the shown policies to the wished ones (the raw policy last: it becomes the default). */
export function planPolicies(database: string, shown: readonly PolicyState[], wishes: readonly PolicyWish[], identifier: (name: string) => string): PolicyChange[] {
  return wishes.map((wish) => {
    const current = shown.find((p) => p.name === wish.name);
    const durationMs = wish.durationMs ?? current?.durationMs ?? Number.POSITIVE_INFINITY;
    const shardMs = wish.durationMs === undefined && current ? current.shardMs : shardGroupMs(durationMs);
    const isDefault = wish.makeDefault || (current?.isDefault ?? false);
    const clauses = `DURATION ${durationLiteral(durationMs)} SHARD DURATION ${durationLiteral(shardMs)}${wish.makeDefault ? ' DEFAULT' : ''}`;
    const on = `${identifier(wish.name)} ON ${identifier(database)}`;
    const alter = `ALTER RETENTION POLICY ${on} ${clauses}`;
    const change = { policy: wish.name, duration: durationLiteral(durationMs), shardDuration: durationLiteral(shardMs), isDefault };
    if (!current) return { ...change, action: 'create', statement: `CREATE RETENTION POLICY ${on} ${clauses.replace(' SHARD', ' REPLICATION 1 SHARD')}`, alter };
    const same = current.durationMs === durationMs && current.shardMs === shardMs && current.isDefault === isDefault;
    return same ? { ...change, action: 'keep' } : { ...change, action: 'alter', statement: alter };
  });
}

interface ShownRows {
  series?: Array<{ columns?: string[]; values?: ReadonlyArray<readonly unknown[]> }>;
}

/** The rows of SHOW RETENTION POLICIES. */
export function shownPolicies(result: ShownRows | undefined): PolicyState[] {
  const series = result?.series?.[0];
  const columns = series?.columns ?? [];
  const at = (row: readonly unknown[], name: string): unknown => row[columns.indexOf(name)];
  return (series?.values ?? []).map((row) => ({
    name: String(at(row, 'name')),
    durationMs: parseShownDuration(String(at(row, 'duration'))) ?? Number.NaN,
    shardMs: parseShownDuration(String(at(row, 'shardGroupDuration'))) ?? Number.NaN,
    isDefault: at(row, 'default') === true,
  }));
}

/** What the retention setup needs of the InfluxDB client. */
export interface RetentionAccess {
  query(statements: readonly string[]): Promise<ShownRows[]>;
}

/**
 * Create or alter the store's policies, then warn about data the service will not read: shards in a policy it does
 * not write to, and cockpit tables of an earlier version outside `vc_rollups` (README: Retention).
 */
export async function ensureRetention(influx: RetentionAccess, database: string, settings: RetentionSettings, logger: StoreLogger | undefined): Promise<PolicyChange[]> {
  const show = `SHOW RETENTION POLICIES ON ${identifier(database)}`;
  const changes = planPolicies(database, shownPolicies((await influx.query([show]))[0]), policyWishes(settings), identifier);
  for (const change of changes) {
    if (change.statement === undefined) continue;
    try {
      await influx.query([change.statement]);
    } catch (err) {
      if (ADMIN_ONLY.test(String(err))) {
        // a user that is no admin (the least privilege a service needs): an admin makes the policies as configured
        const todo = changes.flatMap((c) => (c.statement === undefined ? [] : [`${c.statement};`])).join(' ');
        throw new StoreAccessError(`${(err as Error).message}; the retention policies differ from VC_INFLUX_RETENTION_RAW/VC_INFLUX_RETENTION_ROLLUPS and only an InfluxDB admin may change them: run ${todo}`, { cause: err });
      }
      // another process created it between our SHOW and CREATE: make it what this one was told
      if (change.action !== 'create' || !/already exists/.test(String(err)) || change.alter === undefined) throw err;
      await influx.query([change.alter]);
    }
  }
  logger?.info(
    { event: 'influx_retention', policies: changes.map(({ policy, action, duration, shardDuration, isDefault }) => ({ policy, action, duration, shardDuration, default: isDefault })) },
    'influx retention policies ready',
  );
  const rawMs = settings.raw === undefined ? undefined : parseRetention(settings.raw);
  if (rawMs !== undefined && rawMs < ACCEPTED_LATE_MS + DAY_MS) {
    logger?.warn(
      { event: 'influx_retention_short', policy: RAW_POLICY, duration: durationLiteral(rawMs) },
      'raw retention is shorter than 8 days: samples accepted up to 7 days late but older than it are refused by InfluxDB (dead letters store_rejected)',
    );
  }
  await warnAboutUnreadData(influx, database, settings, logger);
  return changes;
}

async function warnAboutUnreadData(influx: RetentionAccess, database: string, settings: RetentionSettings, logger: StoreLogger | undefined): Promise<void> {
  const policies = shownPolicies((await influx.query([`SHOW RETENTION POLICIES ON ${identifier(database)}`]))[0]);
  const rawPolicy = settings.raw !== undefined ? RAW_POLICY : policies.find((p) => p.isDefault)?.name;
  let shards: ShownRows | undefined;
  try {
    [shards] = await influx.query(['SHOW SHARDS']);
  } catch (err) {
    // SHOW SHARDS is for admins: a service user that is none skips this advice, which is all it is for
    if (ADMIN_ONLY.test(String(err))) return;
    throw err;
  }
  const withShards = new Set<string>();
  for (const series of shards?.series ?? []) {
    const columns = series.columns ?? [];
    for (const row of series.values ?? []) if (row[columns.indexOf('database')] === database) withShards.add(String(row[columns.indexOf('retention_policy')]));
  }
  const others = policies.map((p) => p.name).filter((name) => name !== ROLLUPS_POLICY);
  const sealed = others.length > 0 ? await influx.query(others.map((name) => `SELECT last("rev") FROM ${identifier(name)}."cockpit_seals"`)) : [];
  const unread = others.filter((name, i) => (name !== rawPolicy && withShards.has(name)) || (sealed[i]?.series?.length ?? 0) > 0);
  if (unread.length > 0) {
    logger?.warn(
      { event: 'influx_data_not_read', database, policies: unread, rawPolicy: rawPolicy ?? null, rollupsPolicy: ROLLUPS_POLICY },
      'these retention policies hold data this service does not read (telemetry or cockpit tables written before their policies were set): see README, Retention',
    );
  }
}
