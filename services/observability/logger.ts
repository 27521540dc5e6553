// One JSON line per event (pino), with secrets redacted wherever they might appear.
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'password',
  'token',
  '*.password',
  '*.token',
  'mqtt.password',
];

export function createLogger(level: string, name = 'vehicle-cloud'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
