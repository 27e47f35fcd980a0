import { Router, type Request, type Response } from 'express'
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import type { SecretBox } from '../../crypto/secret-box'
import type { DB } from '../../db/schema'
import { AppError, invalid, notFound } from '../../errors'
import type { Actor } from '../../org/actor'
import type { OrgStore } from '../../org/org-store'
import { authorize, principalOf } from '../authz/route-rule'
import type { AdminPrincipal } from '../authz/principal'
import { parseWith } from '../request-actor'
import type { SecurityPolicyStore } from '../security-policy'
import { PASSWORD_MAX } from './password'
import { PersonalTokenService } from './personal-tokens'
import { clearSessionCookie, setSessionCookie } from './sessions'
import { requestContext, SIGN_IN_FAILED, SignInService } from './sign-in'
import { TwoFactorService } from './two-factor'

export interface AuthRouteDeps {
  db: Kysely<DB>
  store: OrgStore
  box: SecretBox
  policy: SecurityPolicyStore
}

const password = z
  .string()
  .min(1)
  .max(PASSWORD_MAX * 4)
const code = z.string().trim().min(1).max(64)

const signInBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    password,
    code: code.optional(),
    recoveryCode: code.optional(),
  })
  .strict()
const enrolBody = z.object({ password }).strict()
const codeBody = z.object({ code }).strict()
const disableBody = z.object({ password, code }).strict()
const tokenBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    expiresInDays: z.number().int().min(1).max(365).default(90),
  })
  .strict()
const tokenId = z.uuid()

/** Answers that carry secrets (or set a session) must never be kept by a cache or the browser's history. */
const noStore = (res: Response) => res.setHeader('Cache-Control', 'no-store')

/** The admin acting through this request, with address and client for the audit trail. */
function actorOf(req: Request, principal: AdminPrincipal): Actor {
  const ctx = requestContext(req)
  return { type: 'admin', id: principal.adminId, name: principal.name, ...ctx }
}

/** Sign-in (public: mounted before authentication) and the signed-in admin's own account. */
export function authRoutes(deps: AuthRouteDeps): { public: Router; self: Router } {
  const signIn = new SignInService(deps)
  const twoFactor = new TwoFactorService(deps)
  const tokens = new PersonalTokenService(deps)

  const open = Router()
  open.post('/sign-in', authorize({ kind: 'public', why: 'sign-in' }), async (req, res) => {
    noStore(res)
    const body = parseWith(signInBody, req.body, 'sign-in')
    const result = await signIn.signIn(body, requestContext(req))
    if (result.kind === 'throttled') {
      res
        .status(429)
        .setHeader('Retry-After', String(result.retryAfterSeconds))
        .json({
          error: {
            code: 'throttled',
            message: `too many failed sign-ins from this address: try again in ${result.retryAfterSeconds} seconds`,
            ...(req.id === undefined ? {} : { requestId: String(req.id) }),
          },
        })
      return
    }
    if (result.kind === 'failed') throw new AppError('unauthorized', SIGN_IN_FAILED)
    setSessionCookie(req, res, result.session.token, result.session.expiresAt)
    res.json({
      admin: result.admin,
      csrfToken: result.session.csrfToken,
      expiresAt: result.session.expiresAt,
      secondFactor: result.secondFactor,
      ...(result.restricted ? { restricted: result.restricted } : {}),
      ...(result.recoveryCodesLeft === undefined ? {} : { recoveryCodesLeft: result.recoveryCodesLeft }),
    })
  })

  const self = Router()
  self.post('/sign-out', authorize({ kind: 'self' }), async (req, res) => {
    const principal = principalOf(res)
    if (principal.via !== 'session' || !principal.sessionId) {
      throw invalid(
        'sign-out ends a cookie session, and this request used a bearer token: revoke a personal token with DELETE /api/v1/auth/tokens/<id>',
      )
    }
    const sessionId = principal.sessionId
    await deps.store.write(actorOf(req, principal), async (w) => {
      await w.transaction
        .updateTable('admin_sessions')
        .set({ revoked_at: sql<Date>`now()` })
        .where('id', '=', sessionId)
        .where('revoked_at', 'is', null)
        .execute()
      await w.audit({
        action: 'auth.sign-out',
        targetType: 'admin',
        targetId: principal.adminId,
        after: { sessionId },
      })
    })
    clearSessionCookie(req, res)
    res.status(204).end()
  })

  self.get('/me', authorize({ kind: 'self' }), async (_req, res) => {
    const principal = principalOf(res)
    const [state, session] = await Promise.all([
      twoFactor.state(principal),
      principal.sessionId
        ? deps.db
            .selectFrom('admin_sessions')
            .select(['id', 'second_factor', 'created_at', 'expires_at'])
            .where('id', '=', principal.sessionId)
            .executeTakeFirst()
        : undefined,
    ])
    noStore(res)
    res.json({
      admin: { id: principal.adminId, name: principal.name },
      via: principal.via,
      ...(principal.tokenId ? { tokenId: principal.tokenId } : {}),
      ...(session
        ? {
            session: {
              id: session.id,
              secondFactor: session.second_factor,
              createdAt: session.created_at,
              expiresAt: session.expires_at,
            },
          }
        : {}),
      grants: principal.grants,
      twoFactor: state,
      ...(principal.restricted ? { restricted: principal.restricted } : {}),
    })
  })

  self.post('/2fa/enrol', authorize({ kind: 'self' }), async (req, res) => {
    const principal = principalOf(res)
    const body = parseWith(enrolBody, req.body, '2FA enrolment')
    noStore(res)
    res.json(await twoFactor.enrol(principal, body.password, actorOf(req, principal)))
  })

  self.post('/2fa/confirm', authorize({ kind: 'self' }), async (req, res) => {
    const principal = principalOf(res)
    const body = parseWith(codeBody, req.body, '2FA confirmation')
    noStore(res)
    res.json(await twoFactor.confirm(principal, body.code, actorOf(req, principal)))
  })

  self.post('/2fa/recovery-codes', authorize({ kind: 'self' }), async (req, res) => {
    const principal = principalOf(res)
    const body = parseWith(codeBody, req.body, 'recovery codes request')
    noStore(res)
    res.json({
      recoveryCodes: await twoFactor.regenerateRecoveryCodes(principal, body.code, actorOf(req, principal)),
    })
  })

  self.delete('/2fa', authorize({ kind: 'self' }), async (req, res) => {
    const principal = principalOf(res)
    const body = parseWith(disableBody, req.body, '2FA removal')
    await twoFactor.disable(principal, body.password, body.code, actorOf(req, principal))
    res.status(204).end()
  })

  self.get('/tokens', authorize({ kind: 'self' }), async (_req, res) => {
    res.json({ items: await tokens.list(principalOf(res)) })
  })

  self.post('/tokens', authorize({ kind: 'self' }), async (req, res) => {
    const principal = principalOf(res)
    const body = parseWith(tokenBody, req.body, 'token')
    const created = await tokens.create(principal, body, actorOf(req, principal))
    noStore(res)
    res.status(201).location(`${req.baseUrl}/tokens/${created.id}`).json(created)
  })

  self.delete('/tokens/:id', authorize({ kind: 'self' }), async (req, res) => {
    const principal = principalOf(res)
    const id = String(req.params.id)
    if (!tokenId.safeParse(id).success) throw notFound(`you have no token ${id}`)
    await tokens.revoke(principal, id, actorOf(req, principal))
    res.status(204).end()
  })

  return { public: open, self }
}
