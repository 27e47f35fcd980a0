/**
 * Errors every layer may raise. The kind decides the HTTP status at the edge; the message is
 * written for an admin and carries the context (what, which id, why).
 */
export type ErrorKind = 'invalid' | 'not-found' | 'conflict' | 'forbidden' | 'unauthorized' | 'unavailable'

export class AppError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'AppError'
  }
}

export const invalid = (message: string, details?: unknown) => new AppError('invalid', message, details)
export const notFound = (message: string) => new AppError('not-found', message)
export const conflict = (message: string, details?: unknown) => new AppError('conflict', message, details)
export const forbidden = (message: string) => new AppError('forbidden', message)

/** SQLSTATE of a database error from pg or PGlite, if it is one. */
export function sqlState(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
  }
  return undefined
}

/** Constraint name of a database error, if any (to explain which rule a write broke). */
export function sqlConstraint(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'constraint' in err) {
    const c = (err as { constraint: unknown }).constraint
    if (typeof c === 'string') return c
  }
  return undefined
}
