import express, { Router, type Request } from 'express'
import { z } from 'zod'
import type { PlanService } from '../sync/plan-service'
import type { RunService } from '../sync/run-service'
import { CHANGE_KINDS } from '../sync/plan-changes'
import type { ApprovalService } from './approvals/approval-service'
import { sendOutcome } from './approvals/outcome'
import type { Authorizer } from './authz/authorizer'
import { departmentFilter } from './authz/reach-filter'
import { authorize, principalOf, reachOf } from './authz/route-rule'
import { pagingQuery } from './paging'
import { adminActor, parseWith } from './request-actor'

const UPLOAD_TYPES = ['text/csv', 'text/plain', 'application/octet-stream']
const MAX_UPLOAD = '100mb'

/** The request body of an upload (a CSV file), when the request carries one. */
function uploadOf(req: express.Request): { contentType: string; body: Buffer } | undefined {
  if (!Buffer.isBuffer(req.body)) return undefined
  return { contentType: req.headers['content-type'] ?? 'application/octet-stream', body: req.body }
}

const rawUpload = express.raw({ type: UPLOAD_TYPES, limit: MAX_UPLOAD })
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }).strict()
const runQuery = z.object({ wait: z.enum(['true', 'false']).optional() }).strict()
/** full=true: read the whole source even when it could report only what changed. */
const planQuery = z.object({ full: z.enum(['true', 'false']).optional() }).strict()

const sourceRef = (req: Request) => ({ type: 'source' as const, id: String(String(req.params.id)) })
const planRef = (req: Request) => ({ type: 'plan' as const, id: String(String(req.params.id)) })

/** Sync endpoints under /sources/{id}: check, plans, runs. */
export function sourceSyncRoutes(plans: PlanService, runs: RunService): Router {
  const router = Router()
  router.post(
    '/:id/check',
    authorize({ kind: 'permission', action: 'source.run', resource: sourceRef }),
    async (req, res) => {
      const controller = new AbortController()
      req.on('close', () => controller.abort())
      res.json(await plans.check(String(req.params.id), controller.signal))
    },
  )
  // Authorised before the upload is read: a caller without the right never streams 100 MB in.
  router.post(
    '/:id/plans',
    authorize({ kind: 'permission', action: 'source.run', resource: sourceRef }),
    rawUpload,
    async (req, res) => {
      const q = parseWith(planQuery, req.query, 'query')
      const plan = await plans.createPlan(String(req.params.id), {
        trigger: uploadOf(req) ? 'upload' : 'manual',
        actor: adminActor(req, res),
        upload: uploadOf(req),
        full: q.full === 'true',
      })
      res
        .status(201)
        .location(`${req.baseUrl.replace(/\/sources$/, '')}/plans/${plan.id}`)
        .json(plan)
    },
  )
  router.get(
    '/:id/plans',
    authorize({ kind: 'permission', action: 'plan.read', resource: sourceRef }),
    async (req, res) => {
      const q = parseWith(listQuery, req.query, 'query')
      res.json({ items: await plans.listForSource(String(req.params.id), q.limit) })
    },
  )
  router.post(
    '/:id/runs',
    authorize({ kind: 'permission', action: 'source.run', resource: sourceRef }),
    rawUpload,
    async (req, res) => {
      const q = parseWith(runQuery, req.query, 'query')
      // Refused before "started" is promised: a disabled source is a 409 to the caller, not a log line.
      await runs.runnable(String(req.params.id))
      const started = runs.run(String(req.params.id), {
        trigger: uploadOf(req) ? 'upload' : 'manual',
        actor: adminActor(req, res),
        upload: uploadOf(req),
      })
      if (q.wait === 'true') {
        res.status(201).json(await started)
        return
      }
      // "Sync now" returns at once; the run's progress is in GET /sources/{id}/runs.
      started.catch((err: unknown) => req.log.error({ err }, 'run failed'))
      res
        .status(202)
        .json({ status: 'started', runs: `${req.baseUrl}/${String(String(req.params.id))}/runs` })
    },
  )
  router.get(
    '/:id/runs',
    authorize({ kind: 'permission', action: 'run.read', resource: sourceRef }),
    async (req, res) => {
      const q = parseWith(listQuery, req.query, 'query')
      res.json({ items: await runs.list(String(req.params.id), q.limit) })
    },
  )
  return router
}

const changesQuery = pagingQuery(100, 1000)
  .extend({ kind: z.enum(CHANGE_KINDS).optional(), departmentId: z.uuid().optional() })
  .strict()

const reviewQuery = z
  .object({
    status: z.enum(['ready', 'held', 'applied', 'rejected', 'failed', 'stale']).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict()

export function plansRoutes(plans: PlanService, approvals: ApprovalService): Router {
  const router = Router()
  // The review queue: a department admin sees the plans that touch their subtrees, counted there.
  router.get('/', authorize({ kind: 'collection', action: 'plan.changes' }), async (req, res) => {
    const q = parseWith(reviewQuery, req.query, 'query')
    const withinIdPaths = await departmentFilter(plans.db, reachOf(res))
    const statuses = q.status ? [q.status] : (['ready', 'held'] as const)
    res.json({
      items: await plans.listForReview({
        statuses,
        limit: q.limit,
        ...(withinIdPaths ? { withinIdPaths } : {}),
      }),
    })
  })
  router.get(
    '/:id',
    authorize({ kind: 'permission', action: 'plan.read', resource: planRef }),
    async (req, res) => {
      res.json(await plans.get(String(String(req.params.id))))
    },
  )
  // Personal data: a department admin sees only the changes filed under their subtrees.
  router.get(
    '/:id/changes',
    authorize({ kind: 'permission', action: 'plan.changes', resource: planRef }),
    async (req, res) => {
      const q = parseWith(changesQuery, req.query, 'query')
      const authorizer = req.app.locals.authorizer as Authorizer
      const reach = await authorizer.reachFor(principalOf(res), 'plan.changes')
      const withinIdPaths = await departmentFilter(plans.db, reach)
      res.json(
        await plans.changes(String(String(req.params.id)), {
          ...q,
          ...(withinIdPaths ? { withinIdPaths } : {}),
        }),
      )
    },
  )
  router.post(
    '/:id/apply',
    authorize({ kind: 'permission', action: 'plan.apply', resource: planRef }),
    async (req, res) => {
      res.json(await plans.apply(String(String(req.params.id)), adminActor(req, res)))
    },
  )
  // Approving a held plan releases the mass deletion the guard stopped: a second global admin's call.
  router.post(
    '/:id/approve',
    authorize({ kind: 'permission', action: 'plan.approve', resource: planRef }),
    async (req, res) => {
      const plan = await plans.get(String(String(req.params.id)))
      if (plan.status !== 'held') {
        res.json(await plans.approve(plan.id, adminActor(req, res)))
        return
      }
      const outcome = await approvals.perform(principalOf(res), adminActor(req, res), 'plan.approve', {
        planId: plan.id,
      })
      sendOutcome(res, outcome, (result) => res.json(result))
    },
  )
  router.post(
    '/:id/reject',
    authorize({ kind: 'permission', action: 'plan.reject', resource: planRef }),
    async (req, res) => {
      res.json(await plans.reject(String(String(req.params.id)), adminActor(req, res)))
    },
  )
  return router
}
