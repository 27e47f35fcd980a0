import { readFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import type { ConnectorRegistry } from '../sync/connector'
import { loadConfig } from '../config'
import { SecretBox } from '../crypto/secret-box'
import { migrateToLatest } from '../db/migrate'
import { invalid } from '../errors'
import { createLogger } from '../logger'
import type { Actor } from '../org/actor'
import { OrgStore } from '../org/org-store'
import { openConfiguredDatabase } from '../service'
import { resolveSecretKey, verifySecretKey } from '../startup/secret-key'
import { buildServices } from '../wiring'
import { formatPlan } from './plan-summary'
import { ProgressBar } from './progress-bar'

export interface ImportOptions {
  source: string
  apply?: boolean
  json?: boolean
}

/** Counts data lines of a CSV cheaply (an estimate for the progress bar; quoted newlines overcount). */
function estimateRows(body: Buffer): number {
  let lines = 0
  for (const b of body) if (b === 0x0a) lines++
  return Math.max(0, lines - (body.at(-1) === 0x0a ? 1 : 0))
}

/**
 * `orgsync import FILE.csv --source NAME`: plans the file against the source and prints what would
 * change; with --apply, applies it when the plan is ready. Exit code 0 when planned (or applied),
 * 1 when the plan failed or is held.
 */
export async function importCommand(
  file: string,
  options: ImportOptions,
  connectors: ConnectorRegistry,
): Promise<number> {
  const config = loadConfig()
  const body = await readFile(file)
  const handle = await openConfiguredDatabase(config)
  try {
    await migrateToLatest(handle.db)
    const box = new SecretBox(await resolveSecretKey(config))
    await verifySecretKey(handle.db, box)
    const store = new OrgStore(handle.db)
    const services = buildServices({ store, box, connectors, logger: createLogger('silent') })
    const source = await handle.db
      .selectFrom('sources')
      .select(['id', 'name', 'type'])
      .where((eb) => eb(eb.fn('lower', ['name']), '=', options.source.toLowerCase()))
      .executeTakeFirst()
    if (!source)
      throw invalid(`no source named ${JSON.stringify(options.source)} (create it with POST /api/v1/sources)`)
    const actor: Actor = { type: 'admin', id: null, name: `cli:${userInfo().username}` }
    const bar = options.json ? undefined : new ProgressBar('reading', estimateRows(body))
    let plan = await services.plans.createPlan(source.id, {
      trigger: 'upload',
      actor,
      upload: { contentType: 'text/csv', body },
      onProgress: (n) => bar?.update(n),
    })
    bar?.finish(estimateRows(body))
    if (options.apply && plan.status === 'ready') plan = await services.plans.apply(plan.id, actor)
    if (options.json) {
      process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`)
    } else {
      process.stdout.write(`${formatPlan(plan, source.name)}\n`)
      if (plan.status === 'ready') {
        process.stdout.write(
          `Review it with GET /api/v1/plans/${plan.id}/changes; apply with POST /api/v1/plans/${plan.id}/apply or rerun with --apply.\n`,
        )
      }
    }
    return plan.status === 'failed' || plan.status === 'held' || (options.apply && plan.status !== 'applied')
      ? 1
      : 0
  } finally {
    await handle.close()
  }
}
