import express, { Router } from 'express'
import { z } from 'zod'
import type { PlanService } from '../sync/plan-service'
import type { RunService } from '../sync/run-service'
import { CHANGE_KINDS } from '../sync/plan-changes'
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

/** Sync endpoints under /sources/{id}: check, plans, runs. */
export function sourceSyncRoutes(plans: PlanService, runs: RunService): Router {
  const router = Router()
  router.post('/:id/check', async (req, res) => {
    const controller = new AbortController()
    req.on('close', () => controller.abort())
    res.json(await plans.check(req.params.id, controller.signal))
  })
  router.post('/:id/plans', rawUpload, async (req, res) => {
    const q = parseWith(planQuery, req.query, 'query')
    const plan = await plans.createPlan(req.params.id, {
      trigger: uploadOf(req) ? 'upload' : 'manual',
      actor: adminActor(req, res),
      upload: uploadOf(req),
      full: q.full === 'true',
    })
    res
      .status(201)
      .location(`${req.baseUrl.replace(/\/sources$/, '')}/plans/${plan.id}`)
      .json(plan)
  })
  router.get('/:id/plans', async (req, res) => {
    const q = parseWith(listQuery, req.query, 'query')
    res.json({ items: await plans.listForSource(req.params.id, q.limit) })
  })
  router.post('/:id/runs', rawUpload, async (req, res) => {
    const q = parseWith(runQuery, req.query, 'query')
    // Refused before "started" is promised: a disabled source is a 409 to the caller, not a log line.
    await runs.runnable(req.params.id)
    const started = runs.run(req.params.id, {
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
    res.status(202).json({ status: 'started', runs: `${req.baseUrl}/${req.params.id}/runs` })
  })
  router.get('/:id/runs', async (req, res) => {
    const q = parseWith(listQuery, req.query, 'query')
    res.json({ items: await runs.list(req.params.id, q.limit) })
  })
  return router
}

const changesQuery = pagingQuery(100, 1000)
  .extend({ kind: z.enum(CHANGE_KINDS).optional(), departmentId: z.uuid().optional() })
  .strict()

export function plansRoutes(plans: PlanService): Router {
  const router = Router()
  router.get('/:id', async (req, res) => {
    res.json(await plans.get(req.params.id))
  })
  router.get('/:id/changes', async (req, res) => {
    const q = parseWith(changesQuery, req.query, 'query')
    res.json(await plans.changes(req.params.id, q))
  })
  router.post('/:id/apply', async (req, res) => {
    res.json(await plans.apply(req.params.id, adminActor(req, res)))
  })
  router.post('/:id/approve', async (req, res) => {
    res.json(await plans.approve(req.params.id, adminActor(req, res)))
  })
  router.post('/:id/reject', async (req, res) => {
    res.json(await plans.reject(req.params.id, adminActor(req, res)))
  })
  return router
}
