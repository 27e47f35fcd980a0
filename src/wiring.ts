import { SecurityPolicyStore } from './admin/security-policy'
import { SourceService } from './admin/source-service'
import type { SecretBox } from './crypto/secret-box'
import type { Logger } from './logger'
import type { OrgStore } from './org/org-store'
import type { ConnectorRegistry } from './sync/connector'
import { PlanService } from './sync/plan-service'
import { RunService, type RunServiceOptions } from './sync/run-service'
import { sourceTypeCatalogue } from './sync/source-types'

export interface Services {
  sources: SourceService
  plans: PlanService
  runs: RunService
  box: SecretBox
  policy: SecurityPolicyStore
}

/** The application services over one store, as the HTTP app, the CLI and the tests use them. */
export function buildServices(deps: {
  store: OrgStore
  box: SecretBox
  connectors: ConnectorRegistry
  logger: Logger
  runs?: RunServiceOptions
  fetch?: typeof fetch
}): Services {
  const sources = new SourceService(deps.store, deps.box, sourceTypeCatalogue(deps.connectors))
  const plans = new PlanService({
    store: deps.store,
    connectors: deps.connectors,
    readConfig: (id) => sources.connectorConfig(id),
    logger: deps.logger,
    fetch: deps.fetch,
  })
  return {
    sources,
    plans,
    runs: new RunService(plans, deps.store.db, deps.logger, deps.runs),
    box: deps.box,
    policy: new SecurityPolicyStore(deps.store.db),
  }
}
