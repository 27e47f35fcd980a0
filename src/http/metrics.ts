import type { RequestHandler } from 'express'
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface HttpMetrics {
  readonly registry: Registry
  readonly middleware: RequestHandler
}

/** Process metrics plus request durations by method, route pattern (never raw ids) and status. */
export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const middleware: RequestHandler = (req, res, next) => {
    const end = duration.startTimer()
    res.on('finish', () => {
      const pattern: unknown = req.route?.path
      const base = typeof res.locals.routeBase === 'string' ? res.locals.routeBase : req.baseUrl
      const route =
        typeof pattern === 'string' ? `${base}${pattern === '/' && base ? '' : pattern}` : 'unmatched'
      end({ method: req.method, route, status_code: String(res.statusCode) })
    })
    next()
  }
  return { registry, middleware }
}

/**
 * Remembers the mount path of the router that handles a request: Express resets req.baseUrl when
 * an error leaves the router, and the route label must not lose it then.
 */
export const markRouteBase: RequestHandler = (req, res, next) => {
  res.locals.routeBase = req.baseUrl
  next()
}
