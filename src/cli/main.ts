#!/usr/bin/env node
import cluster from 'node:cluster'
import { Command } from 'commander'
import { connectorRegistry } from '../../connectors'
import { version } from '../../package.json'
import { ConfigError, loadConfig, type Config } from '../config'
import { migrateToLatest } from '../db/migrate'
import { createLogger, type Logger } from '../logger'
import { openConfiguredDatabase, prepareDatabase, startService } from '../service'
import { isShutdown, startWorkerPool, type WorkerListening } from '../startup/worker-pool'
import { bootstrapTokenBanner } from './banner'
import { auditVerifyCommand } from './audit-command'
import { importCommand } from './import-command'
import { exitOnSignals } from './shutdown'

/** A bad environment is the operator's to fix: one line, exit 2, no stack trace. */
function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`orgsync: invalid configuration: ${err.message}\n`)
    process.exit(2)
  }
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`orgsync: ${message}\n`)
  process.exit(1)
}

async function serve(): Promise<void> {
  const config = loadConfig()
  const logger = createLogger(config.logLevel)
  if (cluster.isWorker) return serveAsWorker(config, logger)
  if (config.workers > 1) return servePool(config, logger)
  const service = await startService(config, logger, { connectors: connectorRegistry })
  if (service.bootstrap.generatedToken) {
    process.stdout.write(bootstrapTokenBanner(service.url, service.bootstrap.generatedToken))
  }
  process.stdout.write(`orgsync is ready at ${service.url} (stop with Ctrl-C)\n`)
  exitOnSignals(() => service.close(), { timeoutMs: config.shutdownTimeoutMs, logger })
}

/** The cluster primary: prepares the database once, then runs the workers that serve. */
async function servePool(config: Config, logger: Logger): Promise<void> {
  const bootstrap = await prepareDatabase(config, logger)
  const pool = await startWorkerPool({
    size: config.workers,
    logger,
    onGiveUp: (reason) => fail(new Error(`workers keep dying: ${reason}`)),
  })
  if (bootstrap.generatedToken) process.stdout.write(bootstrapTokenBanner(pool.url, bootstrap.generatedToken))
  process.stdout.write(`orgsync is ready at ${pool.url} with ${pool.size} workers (stop with Ctrl-C)\n`)
  exitOnSignals(() => pool.close(), {
    timeoutMs: config.shutdownTimeoutMs,
    logger,
    onForce: (signal) => pool.signal(signal),
  })
}

/** A cluster worker: one replica of the service; its primary tells it when to stop. */
async function serveAsWorker(config: Config, logger: Logger): Promise<void> {
  const stopping: { stop?: (reason: string) => void; asked?: string } = {}
  const ask = (reason: string) => (stopping.stop ? stopping.stop(reason) : (stopping.asked ??= reason))
  // Listening before the service starts: a stop asked for during start-up is not lost.
  process.on('message', (m: unknown) => {
    if (isShutdown(m)) ask('asked by the primary')
  })
  process.on('disconnect', () => ask('the primary went away'))
  const workerLogger = logger.child({ worker: cluster.worker?.id })
  const service = await startService(config, workerLogger, { connectors: connectorRegistry })
  const stop = exitOnSignals(() => service.close(), {
    timeoutMs: config.shutdownTimeoutMs,
    logger: workerLogger,
  })
  stopping.stop = stop
  process.send?.({ type: 'orgsync:listening', url: service.url } satisfies WorkerListening)
  if (stopping.asked) stop(stopping.asked)
}

async function migrate(): Promise<void> {
  const config = loadConfig()
  const handle = await openConfiguredDatabase(config)
  try {
    const applied = await migrateToLatest(handle.db)
    process.stdout.write(
      applied.length
        ? `applied ${applied.length} migration(s): ${applied.join(', ')}\n`
        : 'database is up to date\n',
    )
  } finally {
    await handle.close()
  }
}

async function runImport(
  file: string,
  options: { source: string; apply?: boolean; json?: boolean },
): Promise<void> {
  process.exitCode = await importCommand(file, options, connectorRegistry)
}

const program = new Command('orgsync')
  .description(
    "Keeps an organisation's people and department tree true to its identity sources.\n" +
      'Configuration comes from environment variables: see the README.',
  )
  .version(version)
  .showHelpAfterError()

program
  .command('serve', { isDefault: true })
  .description('run the HTTP service (admin API, health and metrics); migrates the database first')
  .action(() => serve().catch(fail))

program
  .command('migrate')
  .description('apply pending database migrations and exit (serve also does this at start)')
  .action(() => migrate().catch(fail))

program
  .command('import')
  .description('plan an HR CSV file against a CSV source and print what would change')
  .argument('<file>', 'the CSV file (UTF-8, with a header row)')
  .requiredOption('--source <name>', 'the name of the CSV source')
  .option('--apply', 'apply the plan when it is ready (not when held or failed)')
  .option('--json', 'print the plan as JSON instead of a summary')
  .action((file: string, options: { source: string; apply?: boolean; json?: boolean }) =>
    runImport(file, options).catch(fail),
  )

const audit = program.command('audit').description('the audit log')
audit
  .command('verify')
  .description("check the audit log's hash chain from its anchor to its head; exit 1 when broken")
  .option('--json', 'print the result as JSON')
  .action((options: { json?: boolean }) =>
    auditVerifyCommand(options)
      .then((code) => {
        process.exitCode = code
      })
      .catch(fail),
  )

program.parseAsync(process.argv).catch(fail)
