import { Router, type Request } from 'express'
import { z } from 'zod'
import type { ApprovalService } from './approvals/approval-service'
import { sendOutcome } from './approvals/outcome'
import { authorize, principalOf, reachOf } from './authz/route-rule'
import { adminActor, parseWith } from './request-actor'
import type { SourceService } from './source-service'

const mode = z.enum(['auto', 'review'])
const precedence = z.number().int().min(0).max(10000)

const createBody = z
  .object({
    type: z.string().min(1),
    name: z.string().trim().min(1).max(200),
    config: z.record(z.string(), z.unknown()).optional(),
    mode: mode.optional(),
    precedence: precedence.optional(),
    schedule: z.string().min(1).max(120).nullable().optional(),
    policy: z.record(z.string(), z.unknown()).optional(),
    enabled: z.boolean().optional(),
  })
  .strict()

const patchBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    mode: mode.optional(),
    precedence: precedence.optional(),
    schedule: z.string().min(1).max(120).nullable().optional(),
    policy: z.record(z.string(), z.unknown()).optional(),
    enabled: z.boolean().optional(),
  })
  .strict()

const sourceRef = (req: Request) => ({ type: 'source' as const, id: String(req.params.id) })

export function sourcesRoutes(sources: SourceService, approvals: ApprovalService): Router {
  const router = Router()
  router.get('/', authorize({ kind: 'collection', action: 'source.read' }), async (_req, res) => {
    const reach = reachOf(res)
    const items = await sources.list()
    res.json({ items: reach.all ? items : items.filter((s) => reach.sourceIds.includes(s.id)) })
  })
  router.post(
    '/',
    authorize({ kind: 'permission', action: 'source.create', resource: () => ({ type: 'global' }) }),
    async (req, res) => {
      const body = parseWith(createBody, req.body, 'source')
      const created = await sources.create(adminActor(req, res), body)
      res.status(201).location(`${req.baseUrl}/${created.id}`).json(created)
    },
  )
  router.get(
    '/:id',
    authorize({ kind: 'permission', action: 'source.read', resource: sourceRef }),
    async (req, res) => {
      res.json(await sources.get(String(req.params.id)))
    },
  )
  router.patch(
    '/:id',
    authorize({ kind: 'permission', action: 'source.update', resource: sourceRef }),
    async (req, res) => {
      const body = parseWith(patchBody, req.body, 'source patch')
      res.json(await sources.update(adminActor(req, res), String(req.params.id), body))
    },
  )
  router.delete(
    '/:id',
    authorize({ kind: 'permission', action: 'source.delete', resource: sourceRef }),
    async (req, res) => {
      // Checked before an approval is filed: a request to delete nothing helps nobody.
      await sources.get(String(req.params.id))
      const outcome = await approvals.perform(principalOf(res), adminActor(req, res), 'source.delete', {
        sourceId: String(req.params.id),
      })
      sendOutcome(res, outcome, () => res.status(204).end())
    },
  )
  return router
}
