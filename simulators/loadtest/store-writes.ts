// What the service wrote to its store, per table, from its /metrics (vc_store_rows_written_total{table} and
// vc_store_bytes_written_total{table}): the telemetry itself, dead letters, and the cockpit tables (`cockpit_*`)
// whose volume must stay a small fraction of the telemetry's at any fleet shape. A service without these metrics
// reports nothing, and reports show "-".
import type { PrometheusSample } from './observe.ts';

export interface TableWrites {
  rows: number;
  bytes: number;
}

/** table -> rows and bytes written since the service started */
export type StoreWrites = Record<string, TableWrites>;

export interface WriteVolume {
  telemetry: TableWrites;
  /** every cockpit_* table together */
  rollups: TableWrites;
  /** rollup rows per telemetry row, and rollup bytes per telemetry byte (null when no telemetry was written) */
  rowsRatio: number | null;
  bytesRatio: number | null;
}

const ROWS = 'vc_store_rows_written_total';
const BYTES = 'vc_store_bytes_written_total';
const ROLLUP_TABLE = /^cockpit_/;

/** The per-table counters in `samples` (summed over workers), or undefined when the service has none. */
export function storeWritesOf(samples: readonly PrometheusSample[]): StoreWrites | undefined {
  let writes: StoreWrites | undefined;
  for (const { name, labels, value } of samples) {
    if (name !== ROWS && name !== BYTES) continue;
    writes ??= {};
    const table = (writes[labels.table ?? ''] ??= { rows: 0, bytes: 0 });
    if (name === ROWS) table.rows += value;
    else table.bytes += value;
  }
  return writes;
}

/** What was written between two readings (undefined when the later has no counters; none earlier means none written yet). */
export function storeWritesBetween(before: StoreWrites | undefined, after: StoreWrites | undefined): StoreWrites | undefined {
  if (!after) return undefined;
  before ??= {};
  const delta: StoreWrites = {};
  for (const [table, w] of Object.entries(after)) delta[table] = { rows: w.rows - (before[table]?.rows ?? 0), bytes: w.bytes - (before[table]?.bytes ?? 0) };
  return delta;
}

/** Sum of several deltas (the steps of one system), undefined when none has counters. */
export function addStoreWrites(all: ReadonlyArray<StoreWrites | undefined | null>): StoreWrites | undefined {
  let total: StoreWrites | undefined;
  for (const writes of all) {
    if (!writes) continue;
    total ??= {};
    for (const [table, w] of Object.entries(writes)) {
      const t = (total[table] ??= { rows: 0, bytes: 0 });
      t.rows += w.rows;
      t.bytes += w.bytes;
    }
  }
  return total;
}

/** The telemetry's writes beside the cockpit tables'. */
export function writeVolume(writes: StoreWrites | undefined): WriteVolume | undefined {
  if (!writes) return undefined;
  const telemetry = writes.telemetry ?? { rows: 0, bytes: 0 };
  const rollups = { rows: 0, bytes: 0 };
  for (const [table, w] of Object.entries(writes)) {
    if (!ROLLUP_TABLE.test(table)) continue;
    rollups.rows += w.rows;
    rollups.bytes += w.bytes;
  }
  const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);
  return { telemetry, rollups, rowsRatio: ratio(rollups.rows, telemetry.rows), bytesRatio: ratio(rollups.bytes, telemetry.bytes) };
}

const percent = (x: number | null): string => (x === null ? '-' : `${x < 0.1 ? (100 * x).toFixed(1) : Math.round(100 * x)}%`);
const perRow = (w: TableWrites): string => (w.rows > 0 ? `${Math.round(w.bytes / w.rows)} B/row` : '-');

/** One line for a report: "telemetry 200,000 rows (312 B/row); cockpit 1,200 rows (96 B/row): rows 0.6%, bytes 0.2%". */
export function describeWriteVolume(volume: WriteVolume | undefined): string {
  if (!volume) return '- (the service reports no vc_store_rows_written_total)';
  const int = (n: number): string => Math.round(n).toLocaleString('en-US');
  return `telemetry ${int(volume.telemetry.rows)} rows (${perRow(volume.telemetry)}), cockpit tables ${int(volume.rollups.rows)} rows (${perRow(volume.rollups)}): rollup/telemetry rows ${percent(volume.rowsRatio)}, bytes ${percent(volume.bytesRatio)}`;
}
