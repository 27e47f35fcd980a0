import { Router, type Request } from 'express'
import { z } from 'zod'
import { notFound } from '../errors'
import { getPerson, listPeople, type PeopleFilter, type PersonSummary } from '../org/people-queries'
import type { OrgStore } from '../org/org-store'
import type { Authorizer } from './authz/authorizer'
import { departmentFilter } from './authz/reach-filter'
import { authorize, principalOf, reachOf } from './authz/route-rule'
import { pagingQuery } from './paging'
import { writeExport, type ExportFormat } from './people-export'
import { personStatus } from './person-status'
import { adminActor, parseWith } from './request-actor'

const filterFields = {
  departmentId: z.uuid().optional(),
  status: z.enum(['active', 'suspended', 'deprovisioned']).optional(),
  q: z.string().max(200).optional(),
}
const listQuery = pagingQuery(100, 1000).extend(filterFields).strict()
const exportQuery = z
  .object({ ...filterFields, format: z.enum(['ndjson', 'csv']).default('ndjson') })
  .strict()
const lookupQuery = z.object({ userName: z.string().trim().min(1).max(256) }).strict()

const text = (max = 256) => z.string().trim().max(max).nullable().optional()
const patchBody = z
  .object({
    userName: z.string().trim().min(1).max(256).optional(),
    displayName: text(),
    givenName: text(),
    familyName: text(),
    email: text(320),
    employeeNumber: text(),
    title: text(),
    departmentId: z.uuid().nullable().optional(),
    managerId: z.uuid().nullable().optional(),
    expectedVersion: z.number().int().min(0).optional(),
  })
  .strict()
const suspendBody = z.object({ reason: z.string().trim().min(1).max(500) }).strict()

const personRef = (req: Request) => ({ type: 'person' as const, id: String(req.params.id) })

/** People: listing, search, export, status lookup and edits, each kept inside the caller's scope. */
export function peopleRoutes(store: OrgStore): Router {
  const router = Router()
  const authorizer = (req: Request) => req.app.locals.authorizer as Authorizer

  router.get('/', authorize({ kind: 'collection', action: 'person.read' }), async (req, res) => {
    const q = parseWith(listQuery, req.query, 'query')
    const withinIdPaths = await departmentFilter(store.db, reachOf(res))
    res.json(await listPeople(store.db, { ...q, ...(withinIdPaths ? { withinIdPaths } : {}) }))
  })

  // Streams page by page: memory stays flat however many people there are.
  router.get('/export', authorize({ kind: 'collection', action: 'person.read' }), async (req, res) => {
    const q = parseWith(exportQuery, req.query, 'query')
    const withinIdPaths = await departmentFilter(store.db, reachOf(res))
    const { format, ...filter } = q
    const pages = async function* (): AsyncGenerator<PersonSummary[]> {
      let cursor: string | undefined
      do {
        const page = await listPeople(store.db, {
          ...filter,
          ...(withinIdPaths ? { withinIdPaths } : {}),
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        } satisfies PeopleFilter)
        yield page.items
        cursor = page.nextCursor ?? undefined
      } while (cursor)
    }
    await writeExport(res, format as ExportFormat, pages())
  })

  // Support's lookup: by user name, the person's status and why; nothing else about them.
  router.get('/status', authorize({ kind: 'collection', action: 'person.status' }), async (req, res) => {
    const q = parseWith(lookupQuery, req.query, 'query')
    const row = await store.db
      .selectFrom('people')
      .select('id')
      .where((eb) => eb(eb.fn('lower', ['user_name']), '=', q.userName.toLowerCase()))
      .executeTakeFirst()
    const reachable =
      row &&
      (await authorizer(req).decide(principalOf(res).grants, 'person.status', { type: 'person', id: row.id }))
        .allowed
    // Outside the caller's scope reads the same as absent: a lookup must not confirm who exists.
    if (!row || !reachable) throw notFound(`no person with user name "${q.userName}" in your scope`)
    res.json(await personStatus(store.db, row.id))
  })

  router.get(
    '/:id',
    authorize({ kind: 'permission', action: 'person.read', resource: personRef }),
    async (req, res) => {
      const person = await getPerson(store.db, String(req.params.id))
      if (!person) throw notFound(`person ${req.params.id} does not exist`)
      res.json(person)
    },
  )

  router.get(
    '/:id/status',
    authorize({ kind: 'permission', action: 'person.status', resource: personRef }),
    async (req, res) => {
      res.json(await personStatus(store.db, String(req.params.id)))
    },
  )

  router.patch(
    '/:id',
    authorize({ kind: 'permission', action: 'person.update', resource: personRef }),
    async (req, res) => {
      const { expectedVersion, ...patch } = parseWith(patchBody, req.body, 'person patch')
      // A move must land inside the caller's scope too, not only start there.
      if (patch.departmentId !== undefined) {
        await authorizer(req).require(principalOf(res), 'person.update', {
          type: 'department',
          id: patch.departmentId,
        })
      }
      const updated = await store.write(adminActor(req, res), (w) =>
        w.updatePerson(
          String(req.params.id),
          patch,
          expectedVersion === undefined ? {} : { expectedVersion },
        ),
      )
      res.json(updated)
    },
  )

  router.post(
    '/:id/suspend',
    authorize({ kind: 'permission', action: 'person.suspend', resource: personRef }),
    async (req, res) => {
      const body = parseWith(suspendBody, req.body, 'suspension')
      res.json(await store.write(adminActor(req, res), (w) => w.suspendPerson(String(req.params.id), body)))
    },
  )

  router.post(
    '/:id/reactivate',
    authorize({ kind: 'permission', action: 'person.suspend', resource: personRef }),
    async (req, res) => {
      res.json(await store.write(adminActor(req, res), (w) => w.reactivatePerson(String(req.params.id))))
    },
  )
  return router
}
