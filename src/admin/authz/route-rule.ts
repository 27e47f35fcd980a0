import type { Request, RequestHandler, Response } from 'express'
import { AppError } from '../../errors'
import type { Permission } from './permissions'
import type { AdminPrincipal } from './principal'

/** What an admin action is checked against. */
export type ResourceRef =
  | { type: 'global' }
  | { type: 'source'; id: string }
  /** id null: the top of the tree (e.g. creating a top-level department). */
  | { type: 'department'; id: string | null }
  | { type: 'person'; id: string }
  | { type: 'plan'; id: string }

export type ResourceResolver = (req: Request, res: Response) => ResourceRef | Promise<ResourceRef>

/**
 * How a route is authorised. Every admin route declares one (the route matrix test fails on a
 * route without): there is no default, so a new route is closed until someone decides.
 */
export type RouteRule =
  /** Reachable without signing in (sign-in itself). */
  | { kind: 'public'; why: string }
  /** Any signed-in admin, acting on their own account (2FA enrolment, sign-out, own tokens). */
  | { kind: 'self' }
  /** The action on one resource. */
  | { kind: 'permission'; action: Permission; resource: ResourceResolver }
  /**
   * A listing: allowed to anyone holding the action somewhere; what they reach (everything, or
   * some department subtrees or sources) is in `res.locals.reach` and the handler filters by it.
   */
  | { kind: 'collection'; action: Permission }

/** Where a collection route's caller may look. */
export interface Reach {
  all: boolean
  departmentIds: string[]
  sourceIds: string[]
}

/** The check itself, done by the authorizer the app puts in `app.locals.authorizer`. */
export interface RouteAuthorizer {
  enforce(principal: AdminPrincipal, rule: RouteRule, req: Request, res: Response): Promise<void>
}

export type AuthorizeHandler = RequestHandler & { readonly rule: RouteRule }

export function authorize(rule: RouteRule): AuthorizeHandler {
  const handler: RequestHandler = async (req, res, next) => {
    if (rule.kind === 'public') return next()
    const principal = res.locals.admin as AdminPrincipal | undefined
    if (!principal) throw new AppError('unauthorized', 'not signed in')
    const authorizer = req.app.locals.authorizer as RouteAuthorizer | undefined
    if (!authorizer) throw new Error('authorize: app.locals.authorizer is not set')
    await authorizer.enforce(principal, rule, req, res)
    next()
  }
  return Object.assign(handler, { rule })
}

/** The signed-in admin of this request. */
export function principalOf(res: Response): AdminPrincipal {
  const principal = res.locals.admin as AdminPrincipal | undefined
  if (!principal) throw new AppError('unauthorized', 'not signed in')
  return principal
}

/** The reach a collection rule computed for this request. */
export function reachOf(res: Response): Reach {
  const reach = res.locals.reach as Reach | undefined
  if (!reach) throw new Error('reachOf: the route has no collection rule')
  return reach
}
