import { randomUUID } from 'node:crypto'
import { sql, type Selectable } from 'kysely'
import type { z } from 'zod'
import { sameJson } from '../canonical-json'
import type { SecretBox } from '../crypto/secret-box'
import type { SourceMode, SourcesTable } from '../db/schema'
import { conflict, invalid, notFound, sqlState } from '../errors'
import type { Actor } from '../org/actor'
import type { OrgStore, OrgWriter } from '../org/org-store'
import { isUuid } from '../org/write-context'
import { isValidSchedule } from '../sync/scheduler'
import { parseSourcePolicy, sourcePolicySchema, type SourcePolicy } from '../sync/source-policy'
import type { SourceType, SourceTypeCatalogue } from '../sync/source-types'

export interface SourceView {
  id: string
  type: string
  name: string
  mode: SourceMode
  precedence: number
  /** Cron expression of scheduled runs, or null for none. */
  schedule: string | null
  policy: SourcePolicy
  enabled: boolean
  /** The configuration without its secrets. */
  config: Record<string, unknown>
  /** Names of the secret keys that are set; their values are never returned. */
  secretsSet: string[]
  createdAt: Date
  updatedAt: Date
}

export interface NewSource {
  type: string
  name: string
  config?: Record<string, unknown>
  mode?: SourceMode
  precedence?: number
  schedule?: string | null
  policy?: Record<string, unknown>
  enabled?: boolean
}

export interface SourcePatch {
  name?: string
  /** Merged key by key into the stored config; a null value removes that key. */
  config?: Record<string, unknown | null>
  mode?: SourceMode
  precedence?: number
  schedule?: string | null
  /** Merged into the stored policy (deletionThreshold and scimLeaverGuard key by key). */
  policy?: Record<string, unknown>
  enabled?: boolean
}

type Row = Selectable<SourcesTable>

function checkSchedule(schedule: string | null): string | null {
  if (schedule === null) return null
  const s = schedule.trim()
  if (!isValidSchedule(s)) {
    throw invalid(
      `schedule ${JSON.stringify(schedule)} is not a cron expression (e.g. "0 * * * *" for hourly)`,
    )
  }
  return s
}

function checkPolicy(policy: Record<string, unknown>): SourcePolicy {
  const parsed = sourcePolicySchema.safeParse(policy)
  if (!parsed.success) throw invalid(`policy is not valid: ${describeIssues(parsed.error)}`)
  return parsed.data
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')
}

/** Sources: the configured identity sources. Secrets in their config are sealed with the source id. */
export class SourceService {
  constructor(
    private readonly store: OrgStore,
    private readonly box: SecretBox,
    private readonly types: SourceTypeCatalogue,
  ) {}

  private sourceType(type: string): SourceType {
    const t = this.types[type]
    if (!t) {
      const known = Object.keys(this.types).sort().join(', ')
      throw invalid(`unknown source type ${JSON.stringify(type)} (known: ${known})`)
    }
    return t
  }

  private validate(t: SourceType, config: Record<string, unknown>): Record<string, unknown> {
    const parsed = t.configSchema.safeParse(config)
    if (!parsed.success) {
      throw invalid(`config is not valid for a ${t.type} source: ${describeIssues(parsed.error)}`, {
        issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      })
    }
    return parsed.data
  }

  private split(t: SourceType, id: string, config: Record<string, unknown>) {
    const open: Record<string, unknown> = {}
    const secret: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(config)) (t.secretKeys.includes(k) ? secret : open)[k] = v
    return {
      config: open,
      secrets: Object.keys(secret).length ? this.box.seal(JSON.stringify(secret), `source:${id}`) : null,
    }
  }

  private openSecrets(row: Row): Record<string, unknown> {
    return row.secrets
      ? (JSON.parse(this.box.open(row.secrets, `source:${row.id}`)) as Record<string, unknown>)
      : {}
  }

  private view(row: Row): SourceView {
    const t = this.types[row.type]
    const secretKeys = row.secrets && t ? t.secretKeys.filter((k) => k in this.openSecrets(row)) : []
    return {
      id: row.id,
      type: row.type,
      name: row.name,
      mode: row.mode,
      precedence: row.precedence,
      schedule: row.schedule,
      policy: parseSourcePolicy(row.policy),
      enabled: row.enabled,
      config: row.config,
      secretsSet: secretKeys,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }
  }

  /** The full configuration with secrets, for the connector that reads this source. */
  async connectorConfig(id: string): Promise<Record<string, unknown>> {
    const row = await this.row(this.store.db, id)
    return { ...row.config, ...this.openSecrets(row) }
  }

  private async row(db: OrgStore['db'], id: string, forUpdate = false): Promise<Row> {
    if (!isUuid(id)) throw notFound(`source ${id} does not exist`)
    let q = db.selectFrom('sources').selectAll().where('id', '=', id)
    if (forUpdate) q = q.forUpdate()
    const row = await q.executeTakeFirst()
    if (!row) throw notFound(`source ${id} does not exist`)
    return row
  }

  private nameTaken(err: unknown, name: string): unknown {
    return sqlState(err) === '23505' ? conflict(`a source named ${JSON.stringify(name)} already exists`) : err
  }

  async list(): Promise<SourceView[]> {
    const rows = await this.store.db
      .selectFrom('sources')
      .selectAll()
      .orderBy('precedence')
      .orderBy('name')
      .execute()
    return rows.map((r) => this.view(r))
  }

  async get(id: string): Promise<SourceView> {
    return this.view(await this.row(this.store.db, id))
  }

  async create(actor: Actor, input: NewSource): Promise<SourceView> {
    const t = this.sourceType(input.type)
    const config = this.validate(t, input.config ?? {})
    const id = randomUUID()
    const name = input.name.trim()
    if (!name) throw invalid('name must not be empty')
    return this.store.write(actor, async (w) => {
      let row: Row
      try {
        row = await w.transaction
          .insertInto('sources')
          .values({
            id,
            type: t.type,
            name,
            ...this.stored(t, id, config),
            mode: input.mode,
            precedence: input.precedence,
            schedule: checkSchedule(input.schedule ?? null),
            policy: JSON.stringify(checkPolicy(input.policy ?? {})),
            enabled: input.enabled,
          })
          .returningAll()
          .executeTakeFirstOrThrow()
      } catch (err) {
        throw this.nameTaken(err, name)
      }
      const view = this.view(row)
      await w.audit({ action: 'source.create', targetType: 'source', targetId: id, after: view })
      return view
    })
  }

  private stored(t: SourceType, id: string, config: Record<string, unknown>) {
    const { config: open, secrets } = this.split(t, id, config)
    return { config: JSON.stringify(open), secrets }
  }

  async update(actor: Actor, id: string, patch: SourcePatch): Promise<SourceView> {
    return this.store.write(actor, async (w) => {
      const row = await this.row(w.transaction, id, true)
      const t = this.sourceType(row.type)
      const set: Partial<Record<string, unknown>> = {}
      if (patch.config !== undefined) {
        const merged: Record<string, unknown> = { ...row.config, ...this.openSecrets(row) }
        for (const [k, v] of Object.entries(patch.config)) {
          if (v === null) delete merged[k]
          else merged[k] = v
        }
        const next = this.validate(t, merged)
        // Re-sealing unchanged secrets would rewrite the row and audit a change that did not happen.
        if (!sameJson(next, { ...row.config, ...this.openSecrets(row) })) {
          Object.assign(set, this.stored(t, row.id, next))
          // What the source reads, or how, has changed: changes since the old token would be read
          // under the old settings, and plans made under them no longer apply.
          set.cursor = null
          set.generation = sql`generation + 1`
        }
      }
      if (patch.name !== undefined) {
        const name = patch.name.trim()
        if (!name) throw invalid('name must not be empty')
        if (name !== row.name) set.name = name
      }
      if (patch.schedule !== undefined && checkSchedule(patch.schedule) !== row.schedule)
        set.schedule = patch.schedule
      if (patch.policy !== undefined) {
        const current = parseSourcePolicy(row.policy)
        const next = checkPolicy({
          ...current,
          ...patch.policy,
          deletionThreshold: {
            ...current.deletionThreshold,
            ...(patch.policy.deletionThreshold as object | undefined),
          },
          scimLeaverGuard: {
            ...current.scimLeaverGuard,
            ...(patch.policy.scimLeaverGuard as object | undefined),
          },
        })
        if (!sameJson(next, current)) set.policy = JSON.stringify(next)
      }
      if (patch.mode !== undefined && patch.mode !== row.mode) set.mode = patch.mode
      if (patch.precedence !== undefined && patch.precedence !== row.precedence)
        set.precedence = patch.precedence
      if (patch.enabled !== undefined && patch.enabled !== row.enabled) set.enabled = patch.enabled
      if (Object.keys(set).length === 0) return this.view(row)
      let updated: Row
      try {
        updated = await w.transaction
          .updateTable('sources')
          .set({ ...set, updated_at: sql`now()` })
          .where('id', '=', row.id)
          .returningAll()
          .executeTakeFirstOrThrow()
      } catch (err) {
        throw this.nameTaken(err, String(set.name))
      }
      const before = this.view(row)
      const after = this.view(updated)
      await w.audit({ action: 'source.update', targetType: 'source', targetId: row.id, before, after })
      return after
    })
  }

  /** Deletes a source that nothing in the org tree comes from any more; otherwise says what is left. */
  async delete(actor: Actor, id: string): Promise<void> {
    await this.store.write(actor, async (w: OrgWriter) => {
      const row = await this.row(w.transaction, id, true)
      const counts = await Promise.all(
        (['identities', 'departments', 'groups'] as const).map(async (table) => {
          const r = await w.transaction
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('source_id', '=', row.id)
            .executeTakeFirstOrThrow()
          return [table, Number(r.n)] as const
        }),
      )
      const left = counts.filter(([, n]) => n > 0)
      if (left.length > 0) {
        throw conflict(
          `source "${row.name}" still has ${left.map(([t, n]) => `${n} ${t}`).join(', ')}: remove them before deleting the source`,
          Object.fromEntries(counts),
        )
      }
      await w.transaction.deleteFrom('sources').where('id', '=', row.id).execute()
      await w.audit({
        action: 'source.delete',
        targetType: 'source',
        targetId: row.id,
        before: this.view(row),
      })
    })
  }
}
