import type { RequestHandler } from 'express'
import type { Kysely } from 'kysely'
import { GLOBAL_ADMIN, authenticateAdminToken } from '../admin/admin-tokens'
import type { DB } from '../db/schema'
import { AppError } from '../errors'

const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * Bearer admin tokens. Roles beyond global admin arrive with the admin issue; until then every
 * admin endpoint requires a live global-admin grant.
 */
export function requireAdmin(db: Kysely<DB>): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization
    if (!header)
      throw new AppError('unauthorized', 'missing bearer token: send Authorization: Bearer <admin token>')
    const token = BEARER.exec(header)?.[1]
    if (!token) throw new AppError('unauthorized', 'Authorization header must be "Bearer <admin token>"')
    const principal = await authenticateAdminToken(db, token)
    if (!principal)
      throw new AppError('unauthorized', 'the bearer token is not valid (unknown, revoked or expired)')
    if (!principal.grants.some((g) => g.role === GLOBAL_ADMIN && g.scopeDepartmentId === null)) {
      throw new AppError('forbidden', `admin "${principal.name}" has no global-admin grant`)
    }
    res.locals.admin = principal
    next()
  }
}
