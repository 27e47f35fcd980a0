import { ConnectorError } from '../../src/sync/connector'

/**
 * Turns what google-auth-library and the Directory client throw into ConnectorErrors an admin can act
 * on. Two families of failure arrive as Gaxios errors: the token endpoint's flat OAuth errors
 * (`{error, error_description}`) and the Directory API's (`{error: {code, message, errors}}`).
 * Errors are recognised by shape, not class: gaxios is installed in two versions, and its
 * error class is not the same in both.
 */

export interface ErrorContext {
  /** What was being done, for the message: "list users", "check: list groups". */
  what: string
  subject: string
  clientEmail: string
  clientId: string | undefined
  scopes: readonly string[]
}

interface HttpFailure {
  status: number
  data: unknown
  retryAfter: string | null
}

const QUOTA_REASONS = new Set(['userRateLimitExceeded', 'rateLimitExceeded', 'quotaExceeded'])

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
}

function httpFailure(err: unknown): HttpFailure | undefined {
  const response = record(record(err)?.response)
  if (!response || typeof response.status !== 'number') return undefined
  const headers = record(response.headers)
  const get = headers?.get
  const retryAfter = typeof get === 'function' ? (get.call(headers, 'retry-after') as string | null) : null
  return { status: response.status, data: response.data, retryAfter }
}

/** A Retry-After header (seconds or an HTTP date) in milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined
  const value = header.trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** The token endpoint's `{error, error_description}`, if that is what the body is. */
function tokenError(data: unknown): { error: string; description: string } | undefined {
  const body = record(data)
  if (!body || typeof body.error !== 'string') return undefined
  return {
    error: body.error,
    description: typeof body.error_description === 'string' ? body.error_description : '',
  }
}

/** The Directory API's error: its message and the first reason. */
function apiError(data: unknown): { message: string; reason: string | undefined } | undefined {
  const error = record(record(data)?.error)
  if (!error) return undefined
  const first = Array.isArray(error.errors) ? record(error.errors[0]) : undefined
  return {
    message: typeof error.message === 'string' ? error.message : '',
    reason: typeof first?.reason === 'string' ? first.reason : undefined,
  }
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = record(e)?.cause, depth++) {
    const code = record(e)?.code
    if (typeof code === 'string') return code
  }
  return undefined
}

function isNetworkFailure(err: unknown): boolean {
  const code = errorCode(err)
  if (code !== undefined && NETWORK_CODES.has(code)) return true
  // Node's fetch reports every connection failure as "fetch failed", with the reason as its cause.
  for (let e: unknown = err, depth = 0; e && depth < 4; e = record(e)?.cause, depth++) {
    if (e instanceof Error && /fetch failed|socket hang up|network/i.test(e.message)) return true
  }
  return false
}

/** The signing step failed: the private key is not one Node can read. */
function isKeyFailure(err: unknown): boolean {
  const code = errorCode(err)
  return (
    (code !== undefined && code.startsWith('ERR_OSSL')) ||
    (err instanceof Error && /DECODER routines|PEM|private key/i.test(err.message))
  )
}

function fromTokenEndpoint(
  status: number,
  token: { error: string; description: string },
  ctx: ErrorContext,
  retryAfter: string | null,
  cause: unknown,
): ConnectorError {
  const prefix = `google: ${ctx.what}`
  const said = `${token.error}${token.description ? `: ${token.description}` : ''}`
  if (token.error === 'unauthorized_client') {
    const client = ctx.clientId ?? `of ${ctx.clientEmail}`
    return new ConnectorError(
      'auth',
      `${prefix}: domain-wide delegation is not granted for scopes ${ctx.scopes.join(', ')} ` +
        `(Admin console → Security → API controls → Domain-wide delegation, client id ${client}) [${said}]`,
      { cause },
    )
  }
  if (token.error === 'invalid_grant') {
    if (/invalid email or user id/i.test(token.description)) {
      return new ConnectorError(
        'auth',
        `${prefix}: the subject ${ctx.subject} is not a user of this Workspace: set subject to the email ` +
          `of a Workspace admin [${said}]`,
        { cause },
      )
    }
    if (/signature|account not found|invalid_client|deleted/i.test(token.description)) {
      return new ConnectorError(
        'auth',
        `${prefix}: Google does not accept the service account key of ${ctx.clientEmail} (deleted, ` +
          `replaced or from another account): create a new JSON key and save it as serviceAccountKey [${said}]`,
        { cause },
      )
    }
    if (/iat|exp|timeframe|short-lived/i.test(token.description)) {
      return new ConnectorError(
        'auth',
        `${prefix}: Google refused the token request's times: check this server's clock [${said}]`,
        { cause },
      )
    }
    return new ConnectorError('auth', `${prefix}: the token request was refused [${said}]`, { cause })
  }
  if (token.error === 'invalid_client' || token.error === 'disabled_client') {
    return new ConnectorError(
      'auth',
      `${prefix}: the service account ${ctx.clientEmail} is disabled or deleted in Google Cloud [${said}]`,
      { cause },
    )
  }
  return fromStatus(status, `${prefix}: the token endpoint answered ${status} [${said}]`, retryAfter, cause)
}

/** By HTTP status alone, when nothing more specific applies. */
function fromStatus(
  status: number,
  message: string,
  retryAfter: string | null,
  cause: unknown,
): ConnectorError {
  if (status === 429)
    return new ConnectorError('throttled', message, { cause, retryAfterMs: retryAfterMs(retryAfter) })
  if (status >= 500 || status === 408)
    return new ConnectorError('transient', message, { cause, retryAfterMs: retryAfterMs(retryAfter) })
  if (status === 401) return new ConnectorError('auth', message, { cause })
  if (status === 403) return new ConnectorError('permission', message, { cause })
  return new ConnectorError('permanent', message, { cause })
}

function fromDirectory(failure: HttpFailure, ctx: ErrorContext, cause: unknown): ConnectorError {
  const { status, retryAfter } = failure
  const api = apiError(failure.data)
  const said = api ? `${status}${api.reason ? ` ${api.reason}` : ''}: ${api.message}` : `${status}`
  const prefix = `google: ${ctx.what}`
  if (status === 429 || (status === 403 && api?.reason !== undefined && QUOTA_REASONS.has(api.reason))) {
    const wait = retryAfterMs(retryAfter)
    const after = wait === undefined ? '' : `; Google asks to retry after ${Math.ceil(wait / 1000)} s`
    return new ConnectorError('throttled', `${prefix}: Directory API quota exceeded (${said})${after}`, {
      cause,
      retryAfterMs: wait,
    })
  }
  if (status === 403 && api?.reason === 'insufficientPermissions') {
    return new ConnectorError(
      'permission',
      `${prefix}: the access token lacks a scope this call needs; grant ${ctx.scopes.join(', ')} ` +
        `in the Admin console's domain-wide delegation (${said})`,
      { cause },
    )
  }
  if (status === 403) {
    return new ConnectorError(
      'permission',
      `${prefix}: ${ctx.subject} may not read the directory: the subject must be a Workspace admin ` +
        `with read access to users, organizational units and groups (${said})`,
      { cause },
    )
  }
  if (status === 401) {
    return new ConnectorError('auth', `${prefix}: the Directory API refused a fresh access token (${said})`, {
      cause,
    })
  }
  return fromStatus(status, `${prefix}: ${said}`, retryAfter, cause)
}

export function toConnectorError(err: unknown, ctx: ErrorContext): ConnectorError {
  if (err instanceof ConnectorError) return err
  const failure = httpFailure(err)
  if (failure) {
    const token = tokenError(failure.data)
    return token
      ? fromTokenEndpoint(failure.status, token, ctx, failure.retryAfter, err)
      : fromDirectory(failure, ctx, err)
  }
  if (isNetworkFailure(err)) {
    const reason = err instanceof Error ? err.message : String(err)
    return new ConnectorError('transient', `google: ${ctx.what}: Google could not be reached (${reason})`, {
      cause: err,
    })
  }
  if (isKeyFailure(err)) {
    return new ConnectorError(
      'invalid-config',
      `google: ${ctx.what}: the private_key of serviceAccountKey cannot sign requests (not a valid RSA ` +
        'private key): paste the JSON key file as Google Cloud made it',
      { cause: err },
    )
  }
  const reason = err instanceof Error ? err.message : String(err)
  return new ConnectorError('permanent', `google: ${ctx.what}: ${reason}`, { cause: err })
}

/** The HTTP status of a failure, if it was an answer (a 404 for a group gone since, a 401). */
export function httpStatusOf(err: unknown): number | undefined {
  return httpFailure(err)?.status
}

/** Whether the failure is the token endpoint's answer (its 401 is unauthorized_client, not a stale token). */
export function isTokenEndpointFailure(err: unknown): boolean {
  const failure = httpFailure(err)
  return failure !== undefined && tokenError(failure.data) !== undefined
}
