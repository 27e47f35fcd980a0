import type { Kysely } from 'kysely'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Express } from 'express'
import type { Config } from './config'
import { SecretBox } from './crypto/secret-box'
import { lockDataDir } from './db/data-dir-lock'
import { migrateToLatest } from './db/migrate'
import { openDatabase, type DatabaseHandle } from './db/open-database'
import { createApp } from './http/app'
import type { Logger } from './logger'
import { OrgStore } from './org/org-store'
import type { ConnectorRegistry } from './sync/connector'
import { Scheduler } from './sync/scheduler'
import { autovacuumRuns, keepStatistics } from './db/statistics-keeper'
import { buildServices } from './wiring'
import { bootstrapAdmin, type BootstrapResult } from './startup/bootstrap-admin'
import { resolveSecretKey, verifySecretKey } from './startup/secret-key'

export interface RunningService {
  readonly url: string
  readonly server: Server
  readonly bootstrap: BootstrapResult
  /** Stops accepting, lets requests in flight finish, then closes the database. Idempotent. */
  close(): Promise<void>
}

export interface ServiceOptions {
  /** The connectors this build ships (connectors/index.ts), by source type. */
  connectors: ConnectorRegistry
  extraRoutes?: (app: Express) => void
}

/** Opens the database for the configured target; the embedded one is claimed by this process. */
export async function openConfiguredDatabase(config: Config): Promise<DatabaseHandle> {
  if (config.database.kind === 'postgres') {
    return openDatabase({ kind: 'postgres', url: config.database.url, poolMax: config.database.poolMax })
  }
  const lock = await lockDataDir(config.dataDir)
  try {
    const handle = await openDatabase({ kind: 'pglite', dataDir: config.database.dataDir })
    return {
      ...handle,
      async close() {
        await handle.close()
        await lock.release()
      },
    }
  } catch (err) {
    await lock.release()
    throw err
  }
}

interface PreparedDatabase {
  handle: DatabaseHandle
  box: SecretBox
  store: OrgStore
  bootstrap: BootstrapResult
}

/** Opens the database, migrates it, checks the secret key and makes sure an admin exists. */
async function openPrepared(config: Config, logger: Logger): Promise<PreparedDatabase> {
  const handle = await openConfiguredDatabase(config)
  try {
    const applied = await migrateToLatest(handle.db).catch((err: unknown) => {
      throw new Error(`database (${handle.kind}): ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      })
    })
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated')
    const box = new SecretBox(await resolveSecretKey(config))
    await verifySecretKey(handle.db, box)
    const store = new OrgStore(handle.db, { parallelWrites: handle.parallelWrites })
    const bootstrap = await bootstrapAdmin(store, config.adminToken)
    logger.info({ outcome: bootstrap.outcome }, 'admin bootstrap')
    return { handle, box, store, bootstrap }
  } catch (err) {
    await handle.close().catch(() => undefined)
    throw err
  }
}

/**
 * The one-time part of a start, for a cluster primary before it forks its workers: migrations and
 * the first admin happen once, and a generated admin token is printed once, by the primary.
 */
export async function prepareDatabase(config: Config, logger: Logger): Promise<BootstrapResult> {
  const prepared = await openPrepared(config, logger)
  await prepared.handle.close()
  return prepared.bootstrap
}

export async function startService(
  config: Config,
  logger: Logger,
  options: ServiceOptions,
): Promise<RunningService> {
  const { handle, box, store, bootstrap } = await openPrepared(config, logger)
  let server: Server | undefined
  try {
    const services = buildServices({ store, box, connectors: options.connectors, logger })
    const app = createApp({
      store,
      ...services,
      logger,
      trustedProxies: config.trustedProxies,
      extraRoutes: options.extraRoutes,
    })
    const scheduler = new Scheduler(handle.db, store, services.runs, logger, {
      auditRetentionDays: async () => (await services.policy.get()).audit.retentionDays,
    })
    server = app.listen(config.port, config.host)
    await new Promise<void>((resolve, reject) => {
      server!.once('listening', resolve)
      server!.once('error', reject)
    })
    const address = server.address() as AddressInfo
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`
    logger.info({ url, database: handle.kind }, 'orgsync listening')
    await scheduler.start()
    const db = handle.db as unknown as Kysely<never>
    const statistics = (await autovacuumRuns(db, handle.kind)) ? undefined : keepStatistics(db, logger)
    if (statistics && handle.kind === 'postgres')
      logger.warn('PostgreSQL runs with autovacuum off: orgsync analyzes its own tables every minute')

    const listening = server
    let closing: Promise<void> | undefined
    return {
      url,
      server: listening,
      bootstrap,
      close() {
        closing ??= (async () => {
          const closed = new Promise<void>((resolve) => listening.close(() => resolve()))
          logger.info('no longer accepting connections')
          // Idle keep-alive sockets would hold close() open; busy ones finish their request first.
          listening.closeIdleConnections()
          // No new scheduled run may start on a closing database; runs in flight finish first.
          await scheduler.stop()
          await statistics?.stop()
          await closed
          await handle.close()
        })()
        return closing
      },
    }
  } catch (err) {
    server?.close()
    await handle.close().catch(() => undefined)
    throw err
  }
}
