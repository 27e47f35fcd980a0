import { randomUUID } from 'node:crypto'
import express, { type Request, type RequestHandler } from 'express'
import type { Logger } from '../logger'

declare module 'http' {
  interface IncomingMessage {
    /** The request id: the caller's X-Request-Id when it is a sane one, else a fresh uuid. */
    id: string
    /** A logger bound to this request (id, method, url, remote address). */
    log: Logger
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/
const PROBES = new Set(['/healthz', '/readyz', '/metrics'])

const BASE_LOGGER = Symbol('orgsync.requestLogging.base')
const CHILD_LOGGER = Symbol('orgsync.requestLogging.child')
type LoggedRequest = Request & { [BASE_LOGGER]?: Logger; [CHILD_LOGGER]?: Logger }

// `req.log`, on the prototype every express request shares: defining it on each request instead
// (Object.defineProperty with a getter) cost more than the rest of the logging together.
Object.defineProperty(express.request, 'log', {
  configurable: true,
  enumerable: false,
  get(this: LoggedRequest): Logger | undefined {
    const base = this[BASE_LOGGER]
    if (!base) return undefined
    return (this[CHILD_LOGGER] ??= base.child({
      req: {
        id: this.id,
        method: this.method,
        url: this.originalUrl,
        remoteAddress: this.socket.remoteAddress,
      },
    }))
  },
})

/**
 * Request ids and one compact log line per request (`request completed`, or `request errored` for a
 * 5xx) at info, warn (4xx) or error (5xx), with the request's id, method, url, remote address, its
 * status and response time; probes are not logged. No headers: helmet's alone would double each line.
 *
 * `req.log` is built only when something logs through it: binding the request to a child logger
 * serialises it, which a request whose line is below the log level (the common case in production, at
 * warn) should not pay for.
 */
export function requestLogging(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id']
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
    req.id = id
    res.setHeader('X-Request-Id', id)
    ;(req as LoggedRequest)[BASE_LOGGER] = logger
    if (!PROBES.has(req.path)) {
      const started = performance.now()
      res.once('close', () => {
        const status = res.statusCode
        const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info'
        if (!logger.isLevelEnabled(level)) return
        const responseTime = Math.round(performance.now() - started)
        const line = { res: { statusCode: status }, responseTime }
        if (!res.writableFinished) req.log[level](line, 'request aborted before the response was sent')
        else req.log[level](line, status >= 500 ? 'request errored' : 'request completed')
      })
    }
    next()
  }
}
