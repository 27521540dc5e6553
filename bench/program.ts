// What the benchmark programs share: their I/O, whole-number flags, results files, and how each runs as an
// `npm run` script (exit code once done, and no helper process left to keep a finished run alive).
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration, unitFlag } from '../simulators/units.ts';

export interface ProgramIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

type Flags = NonNullable<ParseArgsConfig['options']>;
const COMMON_FLAGS = { out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;
export type FlagValues<F extends Flags> = ReturnType<typeof parseArgs<{ args: string[]; options: F & typeof COMMON_FLAGS; strict: true }>>['values'];

/**
 * A program's options from its flags (and --out, --json, --help): `build` turns the values into options and throws on
 * a bad one. Answers an exit code instead when the program is done already: 0 after --help, 2 for bad usage.
 */
export function programOptions<const F extends Flags, T>(argv: string[], io: ProgramIo, usage: string, flags: F, build: (values: FlagValues<F>) => T): { options: T; json: boolean } | number {
  try {
    const values = parseArgs({ args: argv, options: { ...flags, ...COMMON_FLAGS }, strict: true }).values as FlagValues<F> & { help?: boolean; json?: boolean };
    if (values.help) {
      io.stdout.write(`${usage}\n`);
      return 0;
    }
    return { options: build(values), json: values.json === true };
  } catch (err) {
    io.stderr.write(`${err instanceof Error ? err.message : String(err)}\n(--help for the options)\n`);
    return 2;
  }
}

/** A whole-number flag within bounds; undefined when not given. */
export function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag} wants a whole number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return n;
}

/** A duration flag as every CLI reads it (10s, 1m, or seconds), in whole seconds within bounds; undefined when not given. */
export function wholeSeconds(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const s = unitFlag(flag, value, parseDuration) / 1000;
  if (!Number.isInteger(s) || s < min || s > max) throw new Error(`--${flag} wants whole seconds in [${min}, ${max}] (e.g. 10s, 1m), got ${JSON.stringify(value)}`);
  return s;
}

/** Run `main` when `moduleUrl` is the script node was started with. */
export function runAsProgram(moduleUrl: string, main: (argv: string[], io: ProgramIo) => Promise<number>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  // interrupted (Ctrl-C, kill): leave through process.exit, so that the servers the run started (influxd, mosquitto,
  // postgres, the service: tooling/*.ts) are stopped by their exit hooks; a signal's default action skips those hooks
  // and left them running (seen after a benchmark was stopped with kill -INT)
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) process.once(signal, () => process.exit(code));
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
      // helpers that ignore SIGTERM must not keep a finished run alive
      setTimeout(() => process.exit(code), 2_000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  /** of the whole machine, other users included: read every number with it */
  loadAverage: number[];
}

export function machineInfo(): MachineInfo {
  return { cpus: availableParallelism(), cpuModel: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, loadAverage: loadavg() };
}

/**
 * A run's results in `dir`: `<timestamped>.json`, and `<latest>.json` with `<latest>.md` replaced by the newest run.
 * `timestamped` and `latest` are file names without extension.
 */
export async function writeResults(dir: string, names: { timestamped: string; latest: string }, result: object, markdown: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  await writeFile(join(dir, `${names.timestamped}.json`), json);
  await writeFile(join(dir, `${names.latest}.json`), json);
  await writeFile(join(dir, `${names.latest}.md`), markdown);
}

/** An ISO time as part of a file name. */
export const fileStamp = (iso: string): string => iso.replace(/[:.]/g, '-');
