// Tables as the command-line tools print them: markdown for results files, and plain aligned columns for a console.

/** A header row and data rows as markdown table lines (pipes in cells escaped). */
export function markdownTable([header, ...rows]: string[][]): string[] {
  const line = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header!), line(header!.map(() => '---')), ...rows.map(line)];
}

export interface TextTableOptions {
  /** a dashed line under the first row, the header */
  rule?: boolean;
  /** a column is at most this wide: a longer cell is cut, ending in … */
  maxWidth?: number;
}

/** Rows as lines of left-aligned columns two spaces apart, without trailing blanks. */
export function textTable(rows: readonly (readonly string[])[], options: TextTableOptions = {}): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const max = options.maxWidth ?? Number.POSITIVE_INFINITY;
  const widths = Array.from({ length: columns }, (_, i) => Math.min(max, Math.max(...rows.map((r) => (r[i] ?? '').length))));
  const cell = (c: string, w: number): string => (c.length > w ? `${c.slice(0, w - 1)}…` : c.padEnd(w));
  const line = (cells: readonly string[]): string => widths.map((w, i) => cell(cells[i] ?? '', w)).join('  ').trimEnd();
  const lines = rows.map(line);
  if (options.rule && lines.length > 0) lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines;
}
