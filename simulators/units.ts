// How every CLI (simulator, load tester, demo, bench) reads a rate and a duration, so that the same flag means the
// same thing everywhere: `--rate` is the samples per second offered in total (`500`, `5k`, `1.5k`), and a duration
// is `500ms`, `30s`, `2m`, `1h` (the `ms` package) or a bare number of seconds.
import ms from 'ms';

/** A rate or a duration that cannot be read; the message says what would be. */
export class UnitError extends Error {
  override readonly name = 'UnitError';
}

/** `5000`, `5k`, `1.5k`, `0.5` (optionally with `/s`) -> samples per second, > 0. */
export function parseRate(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kK]?)\s*(?:\/s)?\s*$/.exec(text);
  const rate = match ? Number(match[1]) * (match[2] ? 1000 : 1) : Number.NaN;
  if (!(rate > 0)) throw new UnitError(`not a rate: ${JSON.stringify(text)} (samples per second in total, e.g. 50, 5000 or 5k)`);
  return rate;
}

/** `500ms`, `30s`, `2m`, `1h`, `1.5h`, or a bare number of seconds -> milliseconds, >= 0. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const value = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) * 1000 : trimmed === '' ? undefined : ms(trimmed as ms.StringValue);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new UnitError(`not a duration: ${JSON.stringify(text)} (e.g. 30s, 2m, 1h, or 30 for seconds)`);
  }
  return Math.round(value);
}

/** A flag's value through one of the parsers above; a refusal names the flag. */
export function unitFlag<T>(name: string, value: string, parse: (text: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    throw err instanceof UnitError ? new UnitError(`--${name}: ${err.message}`) : err;
  }
}
