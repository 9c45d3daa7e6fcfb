// The process logger: --log.level and --log.format (logfmt or json, as Prometheus exporters do),
// ISO-8601 UTC timestamps and level names in both, written synchronously so the last lines before an
// exit (a shutdown, a failed start) are never lost in a buffer or a worker thread.
import pino, { type DestinationStream, type Logger } from 'pino';
import { toLogfmt } from './logfmt.ts';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['logfmt', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * Defence in depth: error sentences are scrubbed where they are made (a URL's credentials, a
 * token), but a field with one of these names never reaches the log whatever logs it.
 */
const REDACT = [
  'password',
  'token',
  'authorization',
  '*.password',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
];

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; by default standard output, synchronously. */
  destination?: DestinationStream;
}

function logfmtLine(json: string): string {
  try {
    return `${toLogfmt(JSON.parse(json) as Record<string, unknown>)}\n`;
  } catch {
    return json;
  }
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '<redacted>' },
      // Every line pino writes, a child logger's too, passes here: one record, one logfmt line.
      hooks: options.format === 'logfmt' ? { streamWrite: logfmtLine } : {},
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
