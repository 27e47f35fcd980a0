import { randomUUID } from 'node:crypto'
import express, { type Express, type RequestHandler } from 'express'
import helmet from 'helmet'
import { pinoHttp } from 'pino-http'
import { departmentsRoutes } from '../admin/departments-routes'
import { peopleRoutes } from '../admin/people-routes'
import type { SourceService } from '../admin/source-service'
import { sourcesRoutes } from '../admin/sources-routes'
import { HeldLeaverService } from '../admin/held-leavers'
import { scimAdminRoutes } from '../admin/scim-admin-routes'
import { ScimTokenAuthenticator, ScimTokenService } from '../admin/scim-tokens'
import { plansRoutes, sourceSyncRoutes } from '../admin/sync-routes'
import type { PlanService } from '../sync/plan-service'
import type { RunService } from '../sync/run-service'
import type { Logger } from '../logger'
import type { OrgStore } from '../org/org-store'
import { scimRoutes } from '../scim/scim-routes'
import { requireAdmin } from './admin-auth'
import { requireScimToken } from './scim-auth'
import { errorHandler, notFoundHandler } from './error-handler'
import { healthRoutes } from './health-routes'
import { createHttpMetrics, markRouteBase } from './metrics'

export interface AppDeps {
  store: OrgStore
  sources: SourceService
  plans: PlanService
  runs: RunService
  logger: Logger
  /** Routes mounted before the 404 handler (tests use it; later issues mount SCIM here). */
  extraRoutes?: (app: Express) => void
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** Keeps a caller's request id when it is sane, so one id follows a request across services. */
const requestId = (req: express.Request, res: express.Response): string => {
  const incoming = req.headers['x-request-id']
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
  res.setHeader('X-Request-Id', id)
  return id
}

const PROBES = new Set(['/healthz', '/readyz', '/metrics'])

export function createApp(deps: AppDeps): Express {
  const app = express()
  const metrics = createHttpMetrics()
  app.disable('x-powered-by')
  app.set('trust proxy', false)
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: requestId,
      autoLogging: { ignore: (req) => PROBES.has(req.url?.split('?')[0] ?? '') },
      // One compact line per request: no headers (helmet's alone would double each line).
      serializers: {
        req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    }),
  )
  app.use(metrics.middleware)
  app.use(helmet())
  app.use(healthRoutes(deps.store.db, metrics.registry))

  const scimTokens = new ScimTokenAuthenticator(deps.store.db)
  const api = express.Router()
  // Authenticate before parsing: an anonymous caller gets 401 and its body is never read.
  api.use(requireAdmin(deps.store.db) as RequestHandler)
  api.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }))
  api.use('/sources', markRouteBase, sourcesRoutes(deps.sources))
  api.use('/sources', markRouteBase, sourceSyncRoutes(deps.plans, deps.runs))
  api.use(
    '/sources',
    markRouteBase,
    scimAdminRoutes(new ScimTokenService(deps.store, scimTokens), new HeldLeaverService(deps.store)),
  )
  api.use('/plans', markRouteBase, plansRoutes(deps.plans))
  api.use('/departments', markRouteBase, departmentsRoutes(deps.store))
  api.use('/people', markRouteBase, peopleRoutes(deps.store))
  app.use('/api/v1', api)

  app.use(
    '/scim/v2',
    markRouteBase,
    scimRoutes({ store: deps.store, logger: deps.logger, authenticate: requireScimToken(scimTokens) }),
  )

  deps.extraRoutes?.(app)
  app.use(notFoundHandler)
  app.use(errorHandler)
  return app
}
