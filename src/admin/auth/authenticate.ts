import type { Request, RequestHandler, Response } from 'express'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema'
import { AppError } from '../../errors'
import { authenticateAdminToken, liveGrants } from '../admin-tokens'
import type { AdminPrincipal } from '../authz/principal'
import type { SecurityPolicyStore } from '../security-policy'
import { clearSessionCookie, csrfMatches, findSession, sessionCookie, touchSession } from './sessions'
import { sessionRestriction } from './two-factor-policy'

const BEARER = /^Bearer\s+(\S+)\s*$/i
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
export const CSRF_HEADER = 'X-CSRF-Token'

const SIGN_IN_AGAIN = 'sign in again at POST /api/v1/auth/sign-in'

/**
 * Who is calling: a bearer admin token (automation, the operator's bootstrap token) or a session
 * cookie from sign-in. When both arrive the bearer token wins (a script's explicit credential beats
 * a browser's ambient one). Sets `res.locals.admin`; what the admin may do is the route's authorize
 * rule's business.
 */
export function authenticateAdmin(db: Kysely<DB>, policy: SecurityPolicyStore): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization
    if (header) {
      res.locals.admin = await bearer(db, header)
      return next()
    }
    const cookie = sessionCookie(req)
    if (!cookie) {
      throw new AppError(
        'unauthorized',
        'missing bearer token or session: send Authorization: Bearer <admin token>, or sign in at POST /api/v1/auth/sign-in and send the orgsync_session cookie it sets',
      )
    }
    res.locals.admin = await session(db, policy, req, res, cookie)
    next()
  }
}

async function bearer(db: Kysely<DB>, header: string): Promise<AdminPrincipal> {
  const token = BEARER.exec(header)?.[1]
  if (!token) throw new AppError('unauthorized', 'Authorization header must be "Bearer <admin token>"')
  const principal = await authenticateAdminToken(db, token)
  if (!principal)
    throw new AppError('unauthorized', 'the bearer token is not valid (unknown, revoked or expired)')
  // Tokens are never restricted: 'env' and 'generated' are the operator's way in, and personal
  // ('api') tokens can only be created by an admin who is not restricted.
  return principal
}

async function session(
  db: Kysely<DB>,
  policyStore: SecurityPolicyStore,
  req: Request,
  res: Response,
  cookie: string,
): Promise<AdminPrincipal> {
  const policy = await policyStore.get()
  const found = await findSession(db, cookie, policy.signIn.idleMinutes)
  if (!found || found.ended) {
    clearSessionCookie(req, res)
    throw new AppError('unauthorized', `${found?.ended ?? 'the session is unknown'}: ${SIGN_IN_AGAIN}`)
  }
  // Cookies ride along with cross-site requests; a token the page got from sign-in does not.
  if (!SAFE_METHODS.has(req.method) && !csrfMatches(found, req.get(CSRF_HEADER))) {
    throw new AppError(
      'forbidden',
      `missing or wrong CSRF token: a request signed in with the session cookie must send the csrfToken from sign-in in the ${CSRF_HEADER} header`,
    )
  }
  const [grants] = await Promise.all([liveGrants(db, found.adminId), touchSession(db, found.id)])
  const restricted = sessionRestriction(policy, grants, {
    totpEnabled: found.totpEnabled,
    secondFactor: found.secondFactor,
  })
  return {
    adminId: found.adminId,
    name: found.adminName,
    via: 'session',
    sessionId: found.id,
    grants,
    ...(restricted ? { restricted } : {}),
  }
}
