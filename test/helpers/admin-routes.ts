import type { Express, RequestHandler } from 'express'
import type { RouteRule } from '../../src/admin/authz/route-rule'

export interface MountedRoute {
  method: string
  /** Full path pattern, e.g. /api/v1/sources/:id/plans. */
  path: string
  /** The authorize rule among its handlers, if any. */
  rule: RouteRule | undefined
}

interface LayerLike {
  route?: { path: string; methods: Record<string, boolean>; stack: { handle: RequestHandler }[] }
  handle: { stack?: LayerLike[] } & Partial<{ rule: RouteRule }>
  rawPath?: string | string[]
}

/** Every route the express app serves, found by walking its router stack (Express 5 / router 2). */
export function mountedRoutes(app: Express): MountedRoute[] {
  const out: MountedRoute[] = []
  const walk = (stack: LayerLike[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const rule = layer.route.stack
          .map((l) => (l.handle as RequestHandler & { rule?: RouteRule }).rule)
          .find((r) => r !== undefined)
        for (const method of Object.keys(layer.route.methods)) {
          if (method === '_all') continue
          out.push({
            method: method.toUpperCase(),
            path: `${prefix}${layer.route.path}`.replace(/\/$/, '') || '/',
            rule,
          })
        }
      } else if (layer.handle.stack) {
        const raw = Array.isArray(layer.rawPath) ? layer.rawPath[0] : layer.rawPath
        walk(layer.handle.stack, `${prefix}${raw && raw !== '/' ? raw : ''}`)
      }
    }
  }
  walk((app as unknown as { router: { stack: LayerLike[] } }).router.stack, '')
  return out
}
