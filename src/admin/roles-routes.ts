import { Router } from 'express'
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import type { DB } from '../db/schema'
import { conflict, invalid, notFound } from '../errors'
import type { OrgStore } from '../org/org-store'
import { PERMISSION_NAMES } from './authz/permissions'
import { BUILT_IN_ROLES, customRole, type RoleDefinition } from './authz/roles'
import { authorize } from './authz/route-rule'
import { adminActor, parseWith } from './request-actor'

const roleBody = z
  .object({
    description: z.string().trim().max(500).nullable().optional(),
    permissions: z
      .array(z.enum(PERMISSION_NAMES as [string, ...string[]]))
      .min(1)
      .max(PERMISSION_NAMES.length),
    scopeKind: z.enum(['global', 'department', 'source']),
  })
  .strict()
const createBody = roleBody.extend({
  name: z
    .string()
    .regex(
      /^[a-z][a-z0-9-]{1,62}$/,
      'a role name is 2-63 lowercase letters, digits and dashes, starting with a letter',
    ),
})
const global = () => ({ type: 'global' as const })

async function customRoles(db: Kysely<DB>): Promise<RoleDefinition[]> {
  const rows = await db.selectFrom('admin_roles').selectAll().orderBy('name').execute()
  return rows.map(customRole)
}

/** `/roles`: the four built-in roles and custom roles made from the permission catalogue. */
export function rolesRoutes(store: OrgStore): Router {
  const router = Router()
  router.get(
    '/',
    authorize({ kind: 'permission', action: 'admin.read', resource: global }),
    async (_req, res) => {
      res.json({ items: [...Object.values(BUILT_IN_ROLES), ...(await customRoles(store.db))] })
    },
  )
  router.post(
    '/',
    authorize({ kind: 'permission', action: 'role.manage', resource: global }),
    async (req, res) => {
      const body = parseWith(createBody, req.body, 'role')
      if (BUILT_IN_ROLES[body.name]) throw conflict(`"${body.name}" is a built-in role`)
      const role = await store.write(adminActor(req, res), async (w) => {
        const inserted = await w.transaction
          .insertInto('admin_roles')
          .values({
            name: body.name,
            description: body.description ?? null,
            permissions: JSON.stringify(body.permissions),
            scope_kind: body.scopeKind,
            created_by: w.actor.name,
          })
          .onConflict((oc) => oc.column('name').doNothing())
          .returningAll()
          .executeTakeFirst()
        if (!inserted) throw conflict(`role "${body.name}" already exists`)
        await w.audit({ action: 'role.create', targetType: 'role', targetId: body.name, after: body })
        return customRole(inserted)
      })
      res.status(201).location(`${req.baseUrl}/${role.name}`).json(role)
    },
  )
  router.put(
    '/:name',
    authorize({ kind: 'permission', action: 'role.manage', resource: global }),
    async (req, res) => {
      const name = String(req.params.name)
      if (BUILT_IN_ROLES[name]) throw invalid(`"${name}" is a built-in role: it cannot be changed`)
      const body = parseWith(roleBody, req.body, 'role')
      const role = await store.write(adminActor(req, res), async (w) => {
        const before = await w.transaction
          .selectFrom('admin_roles')
          .selectAll()
          .where('name', '=', name)
          .executeTakeFirst()
        if (!before) throw notFound(`role "${name}" does not exist`)
        const after = await w.transaction
          .updateTable('admin_roles')
          .set({
            description: body.description ?? null,
            permissions: JSON.stringify(body.permissions),
            scope_kind: body.scopeKind,
            updated_at: sql`now()`,
          })
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirstOrThrow()
        await w.audit({
          action: 'role.update',
          targetType: 'role',
          targetId: name,
          before: customRole(before),
          after: customRole(after),
        })
        return customRole(after)
      })
      res.json(role)
    },
  )
  router.delete(
    '/:name',
    authorize({ kind: 'permission', action: 'role.manage', resource: global }),
    async (req, res) => {
      const name = String(req.params.name)
      if (BUILT_IN_ROLES[name]) throw invalid(`"${name}" is a built-in role: it cannot be deleted`)
      await store.write(adminActor(req, res), async (w) => {
        const inUse = await w.transaction
          .selectFrom('admin_role_grants')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('role', '=', name)
          .where('revoked_at', 'is', null)
          .executeTakeFirstOrThrow()
        if (Number(inUse.n) > 0)
          throw conflict(`role "${name}" is held by ${inUse.n} grant(s): revoke them first`)
        const deleted = await w.transaction
          .deleteFrom('admin_roles')
          .where('name', '=', name)
          .returningAll()
          .executeTakeFirst()
        if (!deleted) throw notFound(`role "${name}" does not exist`)
        await w.audit({
          action: 'role.delete',
          targetType: 'role',
          targetId: name,
          before: customRole(deleted),
        })
      })
      res.status(204).end()
    },
  )
  return router
}
