import pino, { type Logger } from 'pino'

/**
 * Secrets must never reach a log line: bearer tokens, cookies, passwords, connector credentials.
 * Censored by path wherever they appear in a logged object.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.secret',
  '*.clientSecret',
  '*.certificate',
  '*.bindPassword',
  '*.serviceAccountKey',
  '*.config.clientSecret',
  '*.config.certificate',
  '*.config.bindPassword',
  '*.config.serviceAccountKey',
]

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'orgsync' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  )
}

export type { Logger }
