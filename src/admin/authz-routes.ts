import { Router, type Request } from 'express'
import type { Kysely } from 'kysely'
import { z } from 'zod'
import type { DB } from '../db/schema'
import { getAdmin } from './admin-accounts'
import { liveGrants } from './admin-tokens'
import type { Authorizer } from './authz/authorizer'
import { PERMISSIONS, PERMISSION_NAMES } from './authz/permissions'
import { authorize } from './authz/route-rule'
import { parseWith } from './request-actor'

const resource = z.discriminatedUnion('type', [
  z.object({ type: z.literal('global') }).strict(),
  z.object({ type: z.literal('source'), id: z.string().min(1) }).strict(),
  z.object({ type: z.literal('department'), id: z.string().min(1).nullable() }).strict(),
  z.object({ type: z.literal('person'), id: z.string().min(1) }).strict(),
  z.object({ type: z.literal('plan'), id: z.string().min(1) }).strict(),
])
const simulateBody = z
  .object({
    adminId: z.uuid(),
    action: z.enum(PERMISSION_NAMES as [string, ...string[]]),
    resource: resource.default({ type: 'global' }),
  })
  .strict()
const global = () => ({ type: 'global' as const })

/** `/authz`: the permission catalogue and "would this admin be allowed to…?" */
export function authzRoutes(db: Kysely<DB>): Router {
  const router = Router()
  const authorizer = (req: Request) => req.app.locals.authorizer as Authorizer
  router.get(
    '/permissions',
    authorize({ kind: 'permission', action: 'admin.read', resource: global }),
    (_req, res) => {
      res.json({
        items: PERMISSION_NAMES.map((name) => ({
          name,
          on: PERMISSIONS[name].on,
          means: PERMISSIONS[name].means,
        })),
      })
    },
  )
  router.post(
    '/simulate',
    authorize({ kind: 'permission', action: 'authz.simulate', resource: global }),
    async (req, res) => {
      const body = parseWith(simulateBody, req.body, 'simulation')
      const admin = await getAdmin(db, body.adminId)
      const action = body.action as keyof typeof PERMISSIONS
      if (admin.disabled) {
        res.json({
          allowed: false,
          action,
          resource: body.resource,
          reason: `admin "${admin.name}" is disabled`,
          grants: [],
        })
        return
      }
      const decision = await authorizer(req).decide(await liveGrants(db, admin.id), action, body.resource)
      res.json(decision)
    },
  )
  return router
}
