// Structured JSON logs (pino), one object per line on stdout. Credentials never
// reach them: request bodies and responses are not logged, and any field that
// could carry a token or a key is redacted wherever it appears.
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'authorization',
  'token',
  'secret',
  'key',
  'password',
  '*.authorization',
  '*.token',
  '*.secret',
  '*.key',
  '*.password',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'keygate' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** A logger that writes nothing (tests, tools). */
export const silentLogger: Logger = pino({ level: 'silent' });
