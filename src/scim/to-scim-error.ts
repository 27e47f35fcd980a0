import { AppError } from '../errors'
import { ScimFilterError } from './filter'
import { ScimError } from './scim-error'

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
])

/**
 * Whether the database is unreachable or refusing work for now (connection failures, shutdown,
 * too many connections, out of resources): the provider should retry, so 503 — never a 404 that
 * would make it think the user is gone.
 */
export function isUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true
    if (/^(08|53|57P)/.test(code)) return true
  }
  const message = (err as { message?: unknown }).message
  return (
    typeof message === 'string' &&
    /Connection terminated|connection timeout|Cannot use a pool after calling end|PGlite is closed/i.test(
      message,
    )
  )
}

/** Body-parser failures (express.json) carry a type; these are the client's fault. */
function parserError(err: unknown): ScimError | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err)) return undefined
  const type = (err as { type: unknown }).type
  if (type === 'entity.parse.failed')
    return new ScimError(400, 'invalidSyntax', 'request body is not valid JSON')
  if (type === 'entity.too.large') return new ScimError(413, undefined, 'request body is too large')
  if (type === 'encoding.unsupported' || type === 'charset.unsupported')
    return new ScimError(415, undefined, 'request body encoding is not supported: send UTF-8 JSON')
  if (type === 'request.aborted') return new ScimError(400, 'invalidSyntax', 'request body was cut off')
  return undefined
}

/** Any error of a SCIM request as the SCIM error it is; undefined for a server fault (500, logged). */
export function toScimError(err: unknown): ScimError | undefined {
  if (err instanceof ScimError) return err
  if (err instanceof ScimFilterError) return new ScimError(400, err.scimType, err.message)
  if (err instanceof AppError) {
    const details = (err.details ?? {}) as { uniqueness?: unknown; precondition?: unknown }
    switch (err.kind) {
      case 'invalid':
        return new ScimError(400, 'invalidValue', err.message)
      case 'not-found':
        return new ScimError(404, undefined, err.message)
      case 'conflict':
        if (details.precondition) return new ScimError(412, undefined, err.message)
        return new ScimError(409, details.uniqueness ? 'uniqueness' : undefined, err.message)
      case 'forbidden':
        return new ScimError(403, undefined, err.message)
      case 'unauthorized':
        return new ScimError(401, undefined, err.message)
      case 'unavailable':
        return new ScimError(503, undefined, err.message)
    }
  }
  const parser = parserError(err)
  if (parser) return parser
  if (isUnavailable(err))
    return new ScimError(503, undefined, 'the directory store is unavailable; retry later')
  // Two pushes that crossed (deadlock, serialisation failure): nothing was written, a retry succeeds.
  const code = (err as { code?: unknown } | null)?.code
  if (code === '40001' || code === '40P01')
    return new ScimError(503, undefined, 'a concurrent change touched the same people; retry the request')
  return undefined
}
