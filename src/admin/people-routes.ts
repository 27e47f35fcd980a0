import { Router } from 'express'
import { z } from 'zod'
import { notFound } from '../errors'
import { getPerson, listPeople } from '../org/people-queries'
import type { OrgStore } from '../org/org-store'
import { pagingQuery } from './paging'
import { parseWith } from './request-actor'

const listQuery = pagingQuery(100, 1000)
  .extend({
    departmentId: z.uuid().optional(),
    status: z.enum(['active', 'suspended', 'deprovisioned']).optional(),
    q: z.string().max(200).optional(),
  })
  .strict()

export function peopleRoutes(store: OrgStore): Router {
  const router = Router()
  router.get('/', async (req, res) => {
    const q = parseWith(listQuery, req.query, 'query')
    res.json(await listPeople(store.db, q))
  })
  router.get('/:id', async (req, res) => {
    const person = await getPerson(store.db, req.params.id)
    if (!person) throw notFound(`person ${req.params.id} does not exist`)
    res.json(person)
  })
  return router
}
