import { Router, type Request, type Response } from 'express'
import type { Kysely } from 'kysely'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { z } from 'zod'
import type { DB } from '../db/schema'
import { OrgStore } from '../org/org-store'
import { AuditService, isWholeLog, type AuditFilter, type ExportFormat } from './audit-service'
import { authorize } from './authz/route-rule'
import { pagingQuery } from './paging'
import { adminActor, parseWith } from './request-actor'

export interface AuditRoutesDeps {
  db: Kysely<DB>
  /**
   * Exporting the whole log is critical (dual approval). Resolves true to go ahead; false when it
   * has already answered the request (e.g. 202 with the approval request it opened).
   */
  gateWholeExport: (req: Request, res: Response) => Promise<boolean>
}

const instant = z.string().transform((text, ctx) => {
  // A time needs its offset: the server's own zone would be a guess.
  const ms = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text)
    ? Date.parse(text)
    : NaN
  if (Number.isNaN(ms)) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 date, or date-time with an offset (e.g. 2025-01-31T12:00:00Z)',
    })
    return z.NEVER
  }
  return new Date(ms)
})

const filterFields = {
  from: instant.optional(),
  to: instant.optional(),
  actor: z.string().trim().min(1).max(256).optional(),
  // A trailing * makes it a prefix; a bare * would be no filter at all (and dodge the export gate).
  action: z
    .string()
    .max(200)
    .regex(/^[\w.:-]+\*?$/, 'must be an action name, or a prefix ending with * (e.g. admin.grant*)')
    .optional(),
  targetType: z.string().min(1).max(100).optional(),
  targetId: z.string().min(1).max(256).optional(),
  rbac: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
}

const listQuery = pagingQuery(100, 1000)
  .extend({ ...filterFields, order: z.enum(['asc', 'desc']).default('desc') })
  .strict()

const exportQuery = z
  .object({
    ...filterFields,
    format: z.enum(['csv', 'ndjson']).default('ndjson'),
    /** An approved whole-log export request of the caller's, used once. */
    approval: z.uuid().optional(),
  })
  .strict()

function filterOf(q: z.infer<typeof exportQuery> | z.infer<typeof listQuery>): AuditFilter {
  const { from, to, actor, action, targetType, targetId, rbac } = q
  const filter: AuditFilter = { from, to, actor, action, targetType, targetId, rbac }
  for (const key of Object.keys(filter) as (keyof AuditFilter)[])
    if (filter[key] === undefined) delete filter[key]
  return filter
}

const CONTENT_TYPE: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
}

function exportFileName(format: ExportFormat, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  return `orgsync-audit-${stamp}.${format}`
}

/** The client went away mid-export: nothing to answer, nothing to log as a failure. */
function isClientGone(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE'
}

/** The audit log: list, verify the hash chain, export (mounted at /api/v1/audit). */
export function auditRoutes(deps: AuditRoutesDeps): Router {
  const audit = new AuditService(deps.db)
  const store = new OrgStore(deps.db)
  const router = Router()
  const read = authorize({ kind: 'permission', action: 'audit.read', resource: () => ({ type: 'global' }) })

  router.get('/', read, async (req, res) => {
    const q = parseWith(listQuery, req.query, 'query')
    res.json(await audit.list(filterOf(q), { limit: q.limit, cursor: q.cursor, order: q.order }))
  })

  router.get('/verify', read, async (_req, res) => {
    res.json(await audit.verify())
  })

  router.get(
    '/export',
    authorize({ kind: 'permission', action: 'audit.export', resource: () => ({ type: 'global' }) }),
    async (req, res) => {
      const q = parseWith(exportQuery, req.query, 'query')
      const filter = filterOf(q)
      if (isWholeLog(filter) && !(await deps.gateWholeExport(req, res))) return
      // Who took a copy of the log, and of what, is itself on the log.
      await store.write(adminActor(req, res), (w) =>
        w.audit({
          action: 'audit.export',
          targetType: 'audit',
          targetId: null,
          after: { format: q.format, filter },
        }),
      )
      res.status(200)
      res.setHeader('Content-Type', CONTENT_TYPE[q.format])
      res.setHeader('Content-Disposition', `attachment; filename="${exportFileName(q.format)}"`)
      res.setHeader('Cache-Control', 'no-store')
      try {
        // One page in hand at a time: the next is read only when the client has taken this one.
        await pipeline(Readable.from(audit.export(filter, q.format), { highWaterMark: 1 }), res)
      } catch (err) {
        if (!isClientGone(err)) throw err
      }
    },
  )

  return router
}
