import type { Logger } from 'pino'
import { ConnectorError } from '../../src/sync/connector'
import type { TokenSource } from './entra-auth'
import { graphError, type GraphErrorBody } from './entra-errors'

export interface RetryPolicy {
  /** Retries of a throttled (429, 503, 504) or failed-to-connect request before the run fails. */
  attempts: number
  /** Wait when Graph sends no Retry-After, doubled on each retry. */
  baseDelayMs: number
  /** The longest wait honoured; a longer Retry-After fails the request (the run retries later). */
  maxDelayMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 120_000 }

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted()
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason as Error)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Seconds (Graph's form) or an HTTP date. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/**
 * GETs against Graph: the bearer token, Graph's paging header, throttling honoured (Retry-After,
 * else exponential backoff) within bounds, one token renewal on 401, and errors that say what
 * was being read.
 */
export class GraphHttp {
  constructor(
    private readonly tokens: TokenSource,
    private readonly fetchImpl: typeof fetch,
    private readonly logger: Logger,
    private readonly pageSize: number,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  async get<T>(url: string, what: string, signal: AbortSignal, pageSize = this.pageSize): Promise<T> {
    let renewed = false
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted()
      const token = await this.tokens.token(renewed)
      let response: Response
      try {
        response = await this.fetchImpl(url, {
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            prefer: `odata.maxpagesize=${pageSize}`,
          },
          signal,
        })
      } catch (err) {
        if (signal.aborted) throw err
        if (attempt < this.retry.attempts) {
          await abortableDelay(this.retry.baseDelayMs * 2 ** attempt, signal)
          continue
        }
        throw new ConnectorError(
          'transient',
          `entra: ${what}: Graph unreachable after ${attempt} retries: ${(err as Error).message}`,
          { cause: err },
        )
      }
      if (response.ok) return (await response.json()) as T
      const body = (await response.json().catch(() => undefined)) as GraphErrorBody | undefined
      if (response.status === 401 && !renewed) {
        // A token revoked or expired early: one fresh token, then Graph's answer stands.
        renewed = true
        attempt--
        continue
      }
      const error = graphError(what, response.status, body)
      if (error.kind === 'throttled' || (error.kind === 'transient' && response.status >= 500)) {
        const wait =
          retryAfterMs(response.headers.get('retry-after')) ?? this.retry.baseDelayMs * 2 ** attempt
        if (attempt < this.retry.attempts && wait <= this.retry.maxDelayMs) {
          this.logger.warn(
            { status: response.status, waitMs: wait, attempt: attempt + 1, what },
            'graph: retrying',
          )
          await abortableDelay(wait, signal)
          continue
        }
        throw new ConnectorError(error.kind, `${error.message} (after ${attempt} retries)`, {
          retryAfterMs: wait,
        })
      }
      throw error
    }
  }
}
