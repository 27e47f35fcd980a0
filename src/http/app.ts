import express, { type Express, type RequestHandler } from 'express'
import { departmentsRoutes } from '../admin/departments-routes'
import { peopleRoutes } from '../admin/people-routes'
import type { SourceService } from '../admin/source-service'
import { sourcesRoutes } from '../admin/sources-routes'
import { HeldLeaverService } from '../admin/held-leavers'
import { scimAdminRoutes } from '../admin/scim-admin-routes'
import { ScimTokenAuthenticator, ScimTokenService } from '../admin/scim-tokens'
import { plansRoutes, sourceSyncRoutes } from '../admin/sync-routes'
import type { PlanService } from '../sync/plan-service'
import { authenticateAdmin } from '../admin/auth/authenticate'
import { authRoutes } from '../admin/auth/auth-routes'
import { Authorizer } from '../admin/authz/authorizer'
import { adminsRoutes } from '../admin/admins-routes'
import { ApprovalService } from '../admin/approvals/approval-service'
import { approvalsRoutes } from '../admin/approvals/approvals-routes'
import { auditExportGate } from '../admin/approvals/audit-export-gate'
import { auditRoutes } from '../admin/audit-routes'
import { registerCriticalOperations } from '../admin/approvals/critical-operations'
import { authzRoutes } from '../admin/authz-routes'
import { adminAllowlist } from '../admin/network-policy'
import { policyRoutes } from '../admin/policy-routes'
import { rolesRoutes } from '../admin/roles-routes'
import { trustProxies } from './client-ip'
import type { SecurityPolicyStore } from '../admin/security-policy'
import type { SecretBox } from '../crypto/secret-box'
import type { RunService } from '../sync/run-service'
import type { Logger } from '../logger'
import type { OrgStore } from '../org/org-store'
import { scimRoutes } from '../scim/scim-routes'
import { requireScimToken } from './scim-auth'
import { errorHandler, notFoundHandler } from './error-handler'
import { healthRoutes } from './health-routes'
import { requestLogging } from './request-logging'
import { createHttpMetrics, markRouteBase } from './metrics'
import { securityHeaders } from './security-headers'

export interface AppDeps {
  store: OrgStore
  sources: SourceService
  plans: PlanService
  runs: RunService
  box: SecretBox
  policy: SecurityPolicyStore
  logger: Logger
  /** ORGSYNC_TRUSTED_PROXIES; omitted: none (X-Forwarded-For ignored). */
  trustedProxies?: readonly string[]
  /** Routes mounted before the 404 handler (tests use it; later issues mount SCIM here). */
  extraRoutes?: (app: Express) => void
}

export function createApp(deps: AppDeps): Express {
  const app = express()
  const metrics = createHttpMetrics()
  app.disable('x-powered-by')
  app.set('trust proxy', trustProxies(deps.trustedProxies ?? []))
  app.use(requestLogging(deps.logger))
  app.use(metrics.middleware)
  app.use(securityHeaders())
  app.use(healthRoutes(deps.store.db, metrics.registry))

  const scimTokens = new ScimTokenAuthenticator(deps.store.db)
  const held = new HeldLeaverService(deps.store)
  // Every admin route's authorize rule asks this one authorizer (see admin/authz/route-rule.ts).
  const authorizer = new Authorizer(deps.store.db)
  app.locals.authorizer = authorizer
  const approvals = new ApprovalService(deps.store, deps.policy, authorizer)
  registerCriticalOperations(approvals, { ...deps, held, scimTokens })

  const json = express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] })
  const auth = authRoutes({ db: deps.store.db, store: deps.store, box: deps.box, policy: deps.policy })
  const api = express.Router()
  // First: a caller from outside the allowlist cannot even try a password or a token.
  api.use(adminAllowlist({ policy: deps.policy, store: deps.store }))
  api.use('/auth', markRouteBase, json, auth.public)
  // Authenticate before parsing: an anonymous caller gets 401 and its body is never read.
  api.use(authenticateAdmin(deps.store.db, deps.policy) as RequestHandler)
  api.use(json)
  api.use('/auth', markRouteBase, auth.self)
  api.use('/sources', markRouteBase, sourcesRoutes(deps.sources, approvals))
  api.use('/sources', markRouteBase, sourceSyncRoutes(deps.plans, deps.runs))
  api.use(
    '/sources',
    markRouteBase,
    scimAdminRoutes(new ScimTokenService(deps.store, scimTokens), held, approvals),
  )
  api.use('/plans', markRouteBase, plansRoutes(deps.plans, approvals))
  api.use('/departments', markRouteBase, departmentsRoutes(deps.store))
  api.use('/people', markRouteBase, peopleRoutes(deps.store))
  api.use('/admins', markRouteBase, adminsRoutes({ store: deps.store, approvals, policy: deps.policy }))
  api.use('/roles', markRouteBase, rolesRoutes(deps.store))
  api.use('/authz', markRouteBase, authzRoutes(deps.store.db))
  api.use('/approvals', markRouteBase, approvalsRoutes(approvals))
  api.use('/policy', markRouteBase, policyRoutes(deps.policy, approvals))
  api.use(
    '/audit',
    markRouteBase,
    auditRoutes({ db: deps.store.db, gateWholeExport: auditExportGate(approvals) }),
  )
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
