import { Router, type Request } from 'express'
import { z } from 'zod'
import type { DB } from '../db/schema'
import type { OrgStore } from '../org/org-store'
import type { Kysely } from 'kysely'
import {
  createAdmin,
  disableAdmin,
  enableAdmin,
  getAdmin,
  isActiveGlobalAdmin,
  listAdmins,
  newAdminBody,
  resetCredentials,
} from './admin-accounts'
import type { ApprovalService } from './approvals/approval-service'
import { sendOutcome } from './approvals/outcome'
import type { Authorizer } from './authz/authorizer'
import { effectivePermissions } from './authz/effective-permissions'
import { authorize, principalOf } from './authz/route-rule'
import { GLOBAL_ADMIN } from './authz/roles'
import { createGrant, getGrant, grantInput, revokeGrant } from './grants'
import type { SecurityPolicyStore } from './security-policy'
import { adminActor, parseWith } from './request-actor'
import { forbidden, notFound } from '../errors'

const patchBody = z.object({ disabled: z.boolean() }).strict()
const resetBody = z
  .object({
    password: z.string().max(1024).optional(),
    /** Clears TOTP and recovery codes: they enrol again at their next sign-in. */
    twoFactor: z.boolean().optional(),
  })
  .strict()
const grantBody = grantInput.omit({ adminId: true })
const global = () => ({ type: 'global' as const })

export interface AdminsRouteDeps {
  store: OrgStore
  approvals: ApprovalService
  policy: SecurityPolicyStore
}

/** `/admins`: accounts, their grants (with expiry and history) and effective permissions. */
export function adminsRoutes(deps: AdminsRouteDeps): Router {
  const { store, approvals } = deps
  const db: Kysely<DB> = store.db
  const router = Router()
  const authorizer = (req: Request) => req.app.locals.authorizer as Authorizer

  router.get(
    '/',
    authorize({ kind: 'permission', action: 'admin.read', resource: global }),
    async (_req, res) => {
      res.json({ items: await listAdmins(db) })
    },
  )
  router.post(
    '/',
    authorize({ kind: 'permission', action: 'admin.manage', resource: global }),
    async (req, res) => {
      const body = parseWith(newAdminBody, req.body, 'admin')
      const created = await store.write(adminActor(req, res), (w) => createAdmin(w, body))
      res.status(201).location(`${req.baseUrl}/${created.id}`).json(created)
    },
  )
  router.get(
    '/:id',
    authorize({ kind: 'permission', action: 'admin.read', resource: global }),
    async (req, res) => {
      res.json(await getAdmin(db, String(req.params.id)))
    },
  )
  router.patch(
    '/:id',
    authorize({ kind: 'permission', action: 'admin.manage', resource: global }),
    async (req, res) => {
      const body = parseWith(patchBody, req.body, 'admin patch')
      const id = String(req.params.id)
      const target = await getAdmin(db, id)
      const actor = adminActor(req, res)
      if (!body.disabled) {
        res.json(await store.write(actor, (w) => enableAdmin(w, id)))
        return
      }
      if (id === principalOf(res).adminId)
        throw forbidden('you cannot disable your own account; ask another admin')
      // Disabling a global admin takes away global admin: the same second pair of eyes as revoking it.
      if (isActiveGlobalAdmin(target)) {
        const outcome = await approvals.perform(principalOf(res), actor, 'grant.revoke-global-admin', {
          disableAdminId: id,
        })
        sendOutcome(res, outcome, (result) => res.json(result))
        return
      }
      res.json(await store.write(actor, (w) => disableAdmin(w, id)))
    },
  )

  // Another admin's lost password or phone, or a lockout: reset by someone who may manage admins.
  router.post(
    '/:id/credentials/reset',
    authorize({ kind: 'permission', action: 'admin.manage', resource: global }),
    async (req, res) => {
      const body = parseWith(resetBody, req.body, 'credentials reset')
      const id = String(req.params.id)
      if (id === principalOf(res).adminId) {
        throw forbidden('reset your own credentials through /auth (or ask another admin)')
      }
      res.json(
        await store.write(adminActor(req, res), (w) => resetCredentials(w, id, { ...body, unlock: true })),
      )
    },
  )
  router.get(
    '/:id/grants',
    authorize({ kind: 'permission', action: 'admin.read', resource: global }),
    async (req, res) => {
      res.json({ items: (await getAdmin(db, String(req.params.id))).grants })
    },
  )
  router.post(
    '/:id/grants',
    authorize({ kind: 'permission', action: 'admin.manage', resource: global }),
    async (req, res) => {
      const input = { ...parseWith(grantBody, req.body, 'grant'), adminId: String(req.params.id) }
      const parsed = parseWith(grantInput, input, 'grant')
      const policy = await deps.policy.get()
      const hours = parsed.expiresAt ? (new Date(parsed.expiresAt).getTime() - Date.now()) / 3_600_000 : 0
      const operation =
        parsed.role === GLOBAL_ADMIN
          ? 'grant.global-admin'
          : hours > policy.grants.maxTemporaryHours
            ? 'grant.long-temporary'
            : undefined
      const actor = adminActor(req, res)
      if (!operation) {
        const created = await store.write(actor, (w) =>
          createGrant(w, parsed, actor.name ?? String(actor.id)),
        )
        res.status(201).json(created)
        return
      }
      const outcome = await approvals.perform(principalOf(res), actor, operation, parsed)
      sendOutcome(res, outcome, (result) => res.status(201).json(result))
    },
  )
  router.delete(
    '/:id/grants/:grantId',
    authorize({ kind: 'permission', action: 'admin.manage', resource: global }),
    async (req, res) => {
      const grant = await getGrant(db, String(req.params.grantId))
      if (grant.adminId !== String(req.params.id)) {
        throw notFound(`grant ${req.params.grantId} does not belong to admin ${req.params.id}`)
      }
      const actor = adminActor(req, res)
      if (grant.role === GLOBAL_ADMIN && grant.scope.kind === 'global' && grant.status === 'active') {
        const outcome = await approvals.perform(principalOf(res), actor, 'grant.revoke-global-admin', {
          grantId: grant.id,
        })
        sendOutcome(res, outcome, (result) => res.json(result))
        return
      }
      res.json(await store.write(actor, (w) => revokeGrant(w, grant.id, actor.name ?? String(actor.id))))
    },
  )
  router.get(
    '/:id/effective-permissions',
    authorize({ kind: 'permission', action: 'authz.simulate', resource: global }),
    async (req, res) => {
      res.json(await effectivePermissions(db, authorizer(req), String(req.params.id)))
    },
  )
  return router
}
