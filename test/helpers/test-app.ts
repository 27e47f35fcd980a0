import { randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Express } from 'express'
import type { SourceService } from '../../src/admin/source-service'
import type { ConnectorRegistry } from '../../src/sync/connector'
import { buildServices, type Services } from '../../src/wiring'
import { SecretBox } from '../../src/crypto/secret-box'
import { createApp } from '../../src/http/app'
import { createLogger } from '../../src/logger'
import { bootstrapAdmin } from '../../src/startup/bootstrap-admin'
import { connectorRegistry } from '../../connectors'
import type { TestDatabase } from './test-database'

export interface TestApp {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string
  /** A global admin's bearer token. */
  readonly token: string
  readonly box: SecretBox
  /** The app's own source service (same key and types), e.g. to read a source's decrypted config. */
  readonly sources: SourceService
  /** Every service of the app (plans, runs…), for driving it below the HTTP layer. */
  readonly services: Services
  /** The express app itself (the route matrix walks its routes). */
  readonly app: Express
  /** The database under the app. */
  readonly db: TestDatabase
  /** fetch with the admin token and JSON body handling. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>
  close(): Promise<void>
}

/** The real app on a real port over a test database; a fresh global-admin token each time. */
export async function startTestApp(
  db: TestDatabase,
  options: {
    extraRoutes?: (app: Express) => void
    connectors?: ConnectorRegistry
    /** The fetch connectors use (tests of HTTP fakes pass one that trusts the fake's certificate). */
    fetch?: typeof fetch
  } = {},
): Promise<TestApp> {
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent')
  const box = new SecretBox(randomBytes(32))
  const token = `test-token-${randomBytes(16).toString('hex')}`
  await bootstrapAdmin(db.store, token)
  const services = buildServices({
    store: db.store,
    box,
    connectors: options.connectors ?? connectorRegistry,
    logger,
    runs: { backoffMs: 5 },
    fetch: options.fetch,
  })
  const app = createApp({ store: db.store, ...services, logger, extraRoutes: options.extraRoutes })
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    token,
    box,
    sources: services.sources,
    services,
    app,
    db,
    api(method, path, body, headers = {}) {
      return fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      })
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err ? reject(err) : resolve()))
      }),
  }
}
