// Never show credentials embedded in a URL (a broker's, a database's). The service's logs keep the user and mask the
// password (`redact`); the command-line tools' messages and reports drop both (`redactUrl`). One home for both: the
// service needs it, and services/ imports nothing from tooling/.

export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** A URL without user and password (nor a bare trailing slash), for messages and reports. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(invalid URL)';
  }
}
