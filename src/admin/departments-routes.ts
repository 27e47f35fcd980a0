import { Router, type Request } from 'express'
import { z } from 'zod'
import { notFound } from '../errors'
import { getDepartment, listDepartments } from '../org/department-queries'
import type { OrgStore } from '../org/org-store'
import type { Authorizer } from './authz/authorizer'
import { departmentFilter } from './authz/reach-filter'
import { authorize, principalOf, reachOf } from './authz/route-rule'
import { pagingQuery } from './paging'
import { adminActor, parseWith } from './request-actor'

const createBody = z
  .object({
    name: z.string().min(1).max(256),
    parentId: z.uuid().nullable().optional(),
  })
  .strict()

const patchBody = z
  .object({
    name: z.string().min(1).max(256).optional(),
    parentId: z.uuid().nullable().optional(),
  })
  .strict()

const listQuery = pagingQuery(1000, 5000).strict()

const departmentRef = (req: Request) => ({ type: 'department' as const, id: String(String(req.params.id)) })

/** The id of the parent a body names, for the rule: a malformed one is judged as "the top". */
function parentOf(req: Request): { type: 'department'; id: string | null } {
  const parentId = (req.body as { parentId?: unknown } | undefined)?.parentId
  return { type: 'department', id: typeof parentId === 'string' ? parentId : null }
}

export function departmentsRoutes(store: OrgStore): Router {
  const router = Router()
  router.get('/', authorize({ kind: 'collection', action: 'department.read' }), async (req, res) => {
    const q = parseWith(listQuery, req.query, 'query')
    const withinIdPaths = await departmentFilter(store.db, reachOf(res))
    res.json(await listDepartments(store.db, { ...q, ...(withinIdPaths ? { withinIdPaths } : {}) }))
  })
  // Departments made here are virtual: they belong to no source and no sync ever touches them.
  router.post(
    '/',
    authorize({ kind: 'permission', action: 'department.create', resource: parentOf }),
    async (req, res) => {
      const body = parseWith(createBody, req.body, 'department')
      const created = await store.write(adminActor(req, res), (w) =>
        w.createDepartment({ name: body.name, parentId: body.parentId ?? null, virtual: true }),
      )
      res.status(201).location(`${req.baseUrl}/${created.id}`).json(created)
    },
  )
  router.get(
    '/:id',
    authorize({ kind: 'permission', action: 'department.read', resource: departmentRef }),
    async (req, res) => {
      const department = await getDepartment(store.db, String(req.params.id))
      if (!department) throw notFound(`department ${String(req.params.id)} does not exist`)
      res.json(department)
    },
  )
  router.patch(
    '/:id',
    authorize({ kind: 'permission', action: 'department.update', resource: departmentRef }),
    async (req, res) => {
      const body = parseWith(patchBody, req.body, 'department patch')
      // Moving a department places it under another: the same right as creating one there.
      if (body.parentId !== undefined) {
        const authorizer = req.app.locals.authorizer as Authorizer
        await authorizer.require(principalOf(res), 'department.create', {
          type: 'department',
          id: body.parentId,
        })
      }
      const updated = await store.write(adminActor(req, res), (w) =>
        w.updateDepartment(String(req.params.id), body),
      )
      res.json(updated)
    },
  )
  router.delete(
    '/:id',
    authorize({ kind: 'permission', action: 'department.delete', resource: departmentRef }),
    async (req, res) => {
      await store.write(adminActor(req, res), (w) => w.deleteDepartment(String(req.params.id)))
      res.status(204).end()
    },
  )
  return router
}
