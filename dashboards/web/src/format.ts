// How numbers and times read on the page.
const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const one = new Intl.NumberFormat('en', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : integer.format(n));
export const fmt1 = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : one.format(n));
export const fmtPct = (share: number | null | undefined): string => (share === null || share === undefined ? '–' : `${one.format(share * 100)} %`);
export const fmtTime = (ms: number | null | undefined): string => (ms ? new Date(ms).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'medium' }) : '–');

export function fmtAge(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${one.format(n / 1024)} KiB`;
  return `${one.format(n / 1024 ** 2)} MiB`;
}
