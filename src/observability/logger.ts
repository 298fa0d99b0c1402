// pino logger: JSON lines, one per lifecycle event, with a dotted `event` field; per-message lines only at debug.
// Secrets never reach it: callers log ids, and the redact list below is a second net, not the first.
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths pino replaces with [REDACTED] wherever they appear. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'voipPassword',
  '*.voipPassword',
  'ha1',
  '*.ha1',
  'authorizationHa1',
  '*.authorizationHa1',
  'authorization',
  '*.authorization',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'cred',
  '*.cred',
  'prevCred',
  '*.prevCred',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'sipedge' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that writes nothing (CLI internals, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
