import { Router } from 'express'
import { sql, type Kysely } from 'kysely'
import { pendingMigrations } from '../db/migrate'
import type { DB } from '../db/schema'
import type { Registry } from 'prom-client'

/** Liveness, readiness and metrics: unauthenticated, for orchestrators and scrapers. */
export function healthRoutes(db: Kysely<DB>, registry: Registry): Router {
  const router = Router()
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' })
  })
  router.get('/readyz', async (req, res) => {
    try {
      await sql`select 1`.execute(db)
      const pending = await pendingMigrations(db)
      if (pending.length > 0) {
        res
          .status(503)
          .json({ status: 'unavailable', reason: `migrations not applied: ${pending.join(', ')}` })
        return
      }
      res.json({ status: 'ready' })
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed')
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable' })
    }
  })
  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType)
    res.send(await registry.metrics())
  })
  return router
}
