import { Router } from 'express'
import { z } from 'zod'
import { notFound } from '../errors'
import { getDepartment, listDepartments } from '../org/department-queries'
import type { OrgStore } from '../org/org-store'
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

export function departmentsRoutes(store: OrgStore): Router {
  const router = Router()
  router.get('/', async (req, res) => {
    const q = parseWith(listQuery, req.query, 'query')
    res.json(await listDepartments(store.db, q))
  })
  // Departments made here are virtual: they belong to no source and no sync ever touches them.
  router.post('/', async (req, res) => {
    const body = parseWith(createBody, req.body, 'department')
    const created = await store.write(adminActor(req, res), (w) =>
      w.createDepartment({ name: body.name, parentId: body.parentId ?? null, virtual: true }),
    )
    res.status(201).location(`${req.baseUrl}/${created.id}`).json(created)
  })
  router.get('/:id', async (req, res) => {
    const department = await getDepartment(store.db, req.params.id)
    if (!department) throw notFound(`department ${req.params.id} does not exist`)
    res.json(department)
  })
  router.patch('/:id', async (req, res) => {
    const body = parseWith(patchBody, req.body, 'department patch')
    const updated = await store.write(adminActor(req, res), (w) => w.updateDepartment(req.params.id, body))
    res.json(updated)
  })
  router.delete('/:id', async (req, res) => {
    await store.write(adminActor(req, res), (w) => w.deleteDepartment(req.params.id))
    res.status(204).end()
  })
  return router
}
