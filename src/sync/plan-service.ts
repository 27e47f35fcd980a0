import { sql, type Kysely, type Selectable } from 'kysely'
import type { Logger } from 'pino'
import type { DB, PlansTable, PlanStatus, RunTrigger, SourcesTable } from '../db/schema'
import { AppError, conflict, invalid, notFound } from '../errors'
import type { Actor } from '../org/actor'
import { checkLimit, decodeCursor, encodeCursor } from '../org/cursor'
import type { OrgStore } from '../org/org-store'
import { isUuid } from '../org/write-context'
import { ConnectorError, type CheckResult, type Connector, type ConnectorRegistry } from './connector'
import { applyChanges, sourceActor, StalePlanError } from './plan-applier'
import {
  buildFullPlan,
  buildIncrementalPlan,
  PlanError,
  type BuildContext,
  type BuildResult,
} from './plan-builder'
import { CHANGE_KINDS, PlanChangeWriter, type ChangeKind, type PlanSummary } from './plan-changes'
import { parseSourcePolicy, type SourcePolicy } from './source-policy'

export interface PlanView {
  id: string
  sourceId: string
  status: PlanStatus
  trigger: RunTrigger
  /** full: the whole source was read; incremental: only what changed since the last applied plan. */
  listing: 'full' | 'incremental'
  /** Why a full listing was made when an incremental one was due. */
  resyncReason: string | null
  summary: PlanSummary | Record<string, never>
  changeCount: number
  heldReason: string | null
  error: string | null
  errorDetails: unknown
  createdBy: string | null
  createdAt: Date
  approvedBy: string | null
  approvedAt: Date | null
  decidedBy: string | null
  decidedAt: Date | null
  appliedAt: Date | null
}

export interface PlanReviewItem {
  id: string
  sourceId: string
  sourceName: string
  status: PlanStatus
  heldReason: string | null
  createdAt: Date
  /** Changes in the plan — for a scoped reviewer, only those within their subtrees. */
  changes: number
}

export interface ChangeView {
  seq: number
  kind: string
  targetId: string | null
  ref: string | null
  departmentId: string | null
  protected: boolean
  before: Record<string, unknown> | null
  after: Record<string, unknown> | null
}

function view(p: Selectable<PlansTable>): PlanView {
  return {
    id: p.id,
    sourceId: p.source_id,
    status: p.status,
    trigger: p.trigger,
    listing: p.full_listing ? 'full' : 'incremental',
    resyncReason: p.resync_reason,
    summary: p.summary as PlanSummary,
    changeCount: p.change_count,
    heldReason: p.held_reason,
    error: p.error,
    errorDetails: p.error_details,
    createdBy: p.created_by,
    createdAt: p.created_at,
    approvedBy: p.approved_by,
    approvedAt: p.approved_at,
    decidedBy: p.decided_by,
    decidedAt: p.decided_at,
    appliedAt: p.applied_at,
  }
}

/** Decrypted connector configuration of a source (the admin layer owns secrets; this is its window). */
export type SourceConfigReader = (sourceId: string) => Promise<Record<string, unknown>>

export interface PlanServiceDeps {
  store: OrgStore
  connectors: ConnectorRegistry
  readConfig: SourceConfigReader
  logger: Logger
  fetch?: typeof fetch
}

/** Whether a plan's suspensions and deprovisions exceed the source's deletion threshold. */
export function deletionGuard(
  summary: PlanSummary,
  sourcePeople: number,
  policy: SourcePolicy,
): string | null {
  const removals = summary.people.suspend + summary.people.deprovision
  if (removals === 0) return null
  const { count, share } = policy.deletionThreshold
  const ratio = sourcePeople > 0 ? removals / sourcePeople : 1
  if (removals > count || (sourcePeople > 0 && ratio > share)) {
    return (
      `would suspend or deprovision ${removals} of ${sourcePeople} people from this source ` +
      `(${Math.round(ratio * 100)}%), over its threshold of ${count} people or ${Math.round(share * 100)}%: ` +
      'an admin must approve or reject it'
    )
  }
  return null
}

/**
 * Plans: reading a source into a reviewable diff, and applying, approving or rejecting it. Applying
 * is one org-store transaction; a failed or stale apply changes nothing.
 */
export class PlanService {
  readonly db: Kysely<DB>

  constructor(private readonly deps: PlanServiceDeps) {
    this.db = deps.store.db
  }

  async source(sourceId: string): Promise<Selectable<SourcesTable>> {
    const row = isUuid(sourceId)
      ? await this.db.selectFrom('sources').selectAll().where('id', '=', sourceId).executeTakeFirst()
      : undefined
    if (!row) throw notFound(`source ${sourceId} does not exist`)
    return row
  }

  /** Opens the source's connector (configuration decrypted and validated). */
  async connect(
    source: Selectable<SourcesTable>,
    upload?: { contentType: string; body: Buffer },
  ): Promise<Connector> {
    const definition = this.deps.connectors[source.type]
    if (!definition) {
      throw new AppError(
        'invalid',
        source.type === 'scim'
          ? `source "${source.name}" is a SCIM source: its provider pushes changes, there is nothing to pull`
          : `source "${source.name}" is of type ${source.type}, whose connector is not part of this build yet`,
      )
    }
    if (definition.upload && !upload) {
      throw invalid(`source "${source.name}" reads an uploaded file: send it as the request body`)
    }
    const config = definition.configSchema.parse(await this.deps.readConfig(source.id))
    return definition.open(config, {
      logger: this.deps.logger.child({ source: { id: source.id, type: source.type } }),
      fetch: this.deps.fetch ?? fetch,
      upload,
    })
  }

  async check(sourceId: string, signal: AbortSignal): Promise<CheckResult> {
    const source = await this.source(sourceId)
    if (this.deps.connectors[source.type]?.upload) {
      return {
        ok: true,
        checks: [
          {
            name: 'upload',
            ok: true,
            message: 'this source reads uploaded files: each file is checked when it is planned',
          },
        ],
      }
    }
    try {
      return await (await this.connect(source)).check(signal)
    } catch (err) {
      if (err instanceof ConnectorError) {
        return { ok: false, checks: [{ name: err.kind, ok: false, message: err.message }] }
      }
      throw err
    }
  }

  /**
   * Reads the source and stores a plan: ready, held (over the deletion threshold), or failed (the
   * source could not be read, or its data cannot be applied). Throws only for bad requests; a
   * connector failure is a failed plan, except `retryable` errors when the caller will retry.
   */
  async createPlan(
    sourceId: string,
    options: {
      trigger: RunTrigger
      actor: Actor
      upload?: { contentType: string; body: Buffer }
      signal?: AbortSignal
      onProgress?: (usersRead: number) => void
      /** Read the whole source even when it could report only what changed. */
      full?: boolean
      /** Rethrow throttled/transient connector errors instead of storing a failed plan. */
      rethrowRetryable?: boolean
      /**
       * A connector already opened for this source. A run passes the same one to every attempt, so
       * what it holds (an access token, a parsed upload, its own retry state) carries over.
       */
      connector?: Connector
    },
  ): Promise<PlanView> {
    const source = await this.source(sourceId)
    const policy = parseSourcePolicy(source.policy)
    const connector = options.connector ?? (await this.connect(source, options.upload))
    const incremental =
      !options.full && !options.upload && source.cursor !== null && connector.changes !== undefined
    const plan = await this.db
      .insertInto('plans')
      .values({
        source_id: source.id,
        status: 'planning',
        trigger: options.trigger,
        source_generation: source.generation,
        full_listing: !incremental,
        created_by: options.actor.name,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    let writer = new PlanChangeWriter(this.db, plan.id)
    const started = Date.now()
    try {
      const context = (w: PlanChangeWriter): BuildContext => ({
        db: this.db,
        source,
        policy,
        connector,
        writer: w,
        signal: options.signal ?? new AbortController().signal,
        logger: this.deps.logger,
        onProgress: options.onProgress,
      })
      let result: BuildResult
      let resyncReason: string | null = null
      try {
        result = incremental
          ? await buildIncrementalPlan(context(writer), source.cursor!)
          : await buildFullPlan(context(writer))
      } catch (err) {
        if (!(incremental && err instanceof ConnectorError && err.kind === 'resync-required')) throw err
        // The source cannot say what changed since the token: read it whole, and say why.
        resyncReason = err.message
        this.deps.logger.warn(
          { source: { id: source.id, type: source.type }, reason: err.message },
          'full resync',
        )
        await this.db.deleteFrom('plan_changes').where('plan_id', '=', plan.id).execute()
        writer = new PlanChangeWriter(this.db, plan.id)
        result = await buildFullPlan(context(writer))
      }
      const fullListing = !incremental || resyncReason !== null
      const held = deletionGuard(writer.summary, result.sourcePeople, policy)
      const done = await this.db
        .updateTable('plans')
        .set({
          status: held ? 'held' : 'ready',
          held_reason: held,
          full_listing: fullListing,
          resync_reason: resyncReason,
          cursor_after: result.deltaToken ?? null,
          summary: JSON.stringify(writer.summary),
          change_count: writer.count,
          error_details: result.warnings.length ? JSON.stringify({ warnings: result.warnings }) : null,
        })
        .where('id', '=', plan.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      this.deps.logger.info(
        {
          source: { id: source.id, type: source.type },
          plan: plan.id,
          listing: fullListing ? 'full' : 'incremental',
          read: result.read,
          changes: writer.count,
          ms: Date.now() - started,
          held: !!held,
        },
        'plan ready',
      )
      return view(done)
    } catch (err) {
      // The partial changes go; the plan stays as a record of the failure.
      await this.db.deleteFrom('plan_changes').where('plan_id', '=', plan.id).execute()
      const retryable =
        err instanceof ConnectorError && (err.kind === 'throttled' || err.kind === 'transient')
      if (retryable && options.rethrowRetryable) {
        await this.db.deleteFrom('plans').where('id', '=', plan.id).execute()
        throw err
      }
      if (!(err instanceof ConnectorError || err instanceof PlanError)) {
        // Unexpected (a connector bug, an abort, the database): still rethrown, but the plan must
        // not stay "planning" for ever, as if it were still being made.
        const message = err instanceof Error ? err.message : String(err)
        await this.db
          .updateTable('plans')
          .set({ status: 'failed', error: `the plan could not be made: ${message}` })
          .where('id', '=', plan.id)
          .execute()
          .catch((recordErr: unknown) =>
            this.deps.logger.warn({ err: recordErr, plan: plan.id }, 'could not record a failed plan'),
          )
        throw err
      }
      const details = err instanceof ConnectorError ? err.details : err.details
      const failed = await this.db
        .updateTable('plans')
        .set({
          status: 'failed',
          error: err.message,
          error_details: details === undefined ? null : JSON.stringify(details),
        })
        .where('id', '=', plan.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      return view(failed)
    }
  }

  async get(planId: string): Promise<PlanView> {
    return view(await this.row(planId))
  }

  private async row(planId: string): Promise<Selectable<PlansTable>> {
    const row = isUuid(planId)
      ? await this.db.selectFrom('plans').selectAll().where('id', '=', planId).executeTakeFirst()
      : undefined
    if (!row) throw notFound(`plan ${planId} does not exist`)
    return row
  }

  /**
   * Plans across sources for review, newest first: by default those waiting for a decision (ready
   * or held). With `withinIdPaths` only plans with changes filed under those subtrees, each counted
   * within them alone: a department admin's queue.
   */
  async listForReview(filter: {
    statuses: readonly PlanStatus[]
    withinIdPaths?: readonly string[]
    limit: number
  }): Promise<PlanReviewItem[]> {
    const prefixes = filter.withinIdPaths
    if (prefixes && prefixes.length === 0) return []
    const base = this.db
      .selectFrom('plans as p')
      .innerJoin('sources as s', 's.id', 'p.source_id')
      .select(['p.id', 'p.source_id', 's.name as source_name', 'p.status', 'p.held_reason', 'p.created_at'])
      .where('p.status', 'in', [...filter.statuses])
      .orderBy('p.created_at', 'desc')
      .orderBy('p.id')
      .limit(checkLimit(filter.limit, 500))
    const rows = prefixes
      ? await base
          .innerJoin('plan_changes as c', 'c.plan_id', 'p.id')
          .innerJoin('departments as d', 'd.id', 'c.department_id')
          .where((eb) => eb.or(prefixes.map((pre) => eb('d.id_path', 'like', `${pre}%`))))
          .select((eb) => eb.fn.countAll<number>().as('changes'))
          .groupBy(['p.id', 'p.source_id', 's.name', 'p.status', 'p.held_reason', 'p.created_at'])
          .execute()
      : await base.select('p.change_count as changes').execute()
    return rows.map((r) => ({
      id: r.id,
      sourceId: r.source_id,
      sourceName: r.source_name,
      status: r.status,
      heldReason: r.held_reason,
      createdAt: r.created_at,
      changes: Number(r.changes),
    }))
  }

  async listForSource(sourceId: string, limit: number): Promise<PlanView[]> {
    await this.source(sourceId)
    const rows = await this.db
      .selectFrom('plans')
      .selectAll()
      .where('source_id', '=', sourceId)
      .orderBy('created_at', 'desc')
      .limit(checkLimit(limit, 500))
      .execute()
    return rows.map(view)
  }

  async changes(
    planId: string,
    filter: {
      kind?: string
      departmentId?: string
      limit: number
      cursor?: string
      /** Only changes filed under these subtrees (id-path prefixes): a scoped admin's view. */
      withinIdPaths?: readonly string[]
    },
  ): Promise<{ items: ChangeView[]; nextCursor: string | null }> {
    await this.row(planId)
    const prefixes = filter.withinIdPaths
    if (prefixes && prefixes.length === 0) return { items: [], nextCursor: null }
    if (filter.kind && !(CHANGE_KINDS as readonly string[]).includes(filter.kind)) {
      throw invalid(`kind must be one of ${CHANGE_KINDS.join(', ')}`)
    }
    let q = this.db
      .selectFrom('plan_changes as c')
      .selectAll('c')
      .where('c.plan_id', '=', planId)
      .orderBy('c.seq')
      .limit(checkLimit(filter.limit) + 1)
    if (filter.kind) q = q.where('c.kind', '=', filter.kind as ChangeKind)
    if (filter.departmentId) {
      const root = isUuid(filter.departmentId)
        ? await this.db
            .selectFrom('departments')
            .select('id_path')
            .where('id', '=', filter.departmentId)
            .executeTakeFirst()
        : undefined
      if (!root) throw notFound(`department ${filter.departmentId} does not exist`)
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom('departments as d')
            .select('d.id')
            .whereRef('d.id', '=', 'c.department_id')
            .where('d.id_path', 'like', `${root.id_path}%`),
        ),
      )
    }
    if (prefixes) {
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom('departments as d')
            .select('d.id')
            .whereRef('d.id', '=', 'c.department_id')
            .where((e) => e.or(prefixes.map((p) => e('d.id_path', 'like', `${p}%`)))),
        ),
      )
    }
    if (filter.cursor) {
      const { key } = decodeCursor(filter.cursor)
      q = q.where('c.seq', '>', Number(key))
    }
    const rows = await q.execute()
    const page = rows.slice(0, filter.limit)
    const last = page[page.length - 1]
    return {
      items: page.map((c) => ({
        seq: c.seq,
        kind: c.kind,
        targetId: c.target_id,
        ref: c.ref,
        departmentId: c.department_id,
        protected: c.protected,
        before: c.before,
        after: c.after,
      })),
      nextCursor: rows.length > filter.limit && last ? encodeCursor(String(last.seq), planId) : null,
    }
  }

  /**
   * Applies a ready plan atomically. 409 when it is held, already decided, or stale (the source
   * applied another plan since, or a row it changes moved on): re-plan then.
   */
  async apply(planId: string, actor: Actor, options: { approving?: boolean } = {}): Promise<PlanView> {
    const plan = await this.row(planId)
    if (plan.status === 'held' && !options.approving) {
      throw conflict(`plan ${planId} is held: ${plan.held_reason}`)
    }
    if (plan.status !== 'ready' && !(plan.status === 'held' && options.approving)) {
      throw conflict(`plan ${planId} is ${plan.status}: only a ready plan can be applied`)
    }
    const source = await this.source(plan.source_id)
    const policy = parseSourcePolicy(source.policy)
    try {
      await this.deps.store.write(sourceActor(source, actor), async (w) => {
        const trx = w.transaction
        // Serialise applies of one source; the plan row is the claim.
        const locked = await trx
          .selectFrom('plans')
          .select('status')
          .where('id', '=', plan.id)
          .forUpdate()
          .executeTakeFirstOrThrow()
        if (locked.status !== plan.status) throw conflict(`plan ${planId} is ${locked.status} now`)
        const current = await trx
          .selectFrom('sources')
          .select('generation')
          .where('id', '=', source.id)
          .forUpdate()
          .executeTakeFirstOrThrow()
        if (current.generation !== plan.source_generation) {
          throw new StalePlanError(`source "${source.name}" applied another plan since this one was made`)
        }
        await applyChanges(w, plan, source, policy)
        await trx
          .updateTable('sources')
          .set({
            generation: sql<number>`generation + 1`,
            // A full listing from a source without change tracking leaves no token: none is kept.
            cursor: plan.cursor_after,
          })
          .where('id', '=', source.id)
          .execute()
        await trx
          .updateTable('plans')
          .set({
            status: 'applied',
            error: null,
            applied_at: sql`now()`,
            decided_by: actor.name,
            decided_at: sql`now()`,
            ...(options.approving ? { approved_by: actor.name, approved_at: sql`now()` } : {}),
          })
          .where('id', '=', plan.id)
          .execute()
        await w.audit({
          action: options.approving ? 'plan.approve' : 'plan.apply',
          targetType: 'plan',
          targetId: plan.id,
          after: { by: actor.name, summary: plan.summary },
        })
      })
    } catch (err) {
      if (err instanceof StalePlanError) {
        await this.db
          .updateTable('plans')
          .set({ status: 'stale', error: err.message })
          .where('id', '=', plan.id)
          .execute()
        throw conflict(`plan ${planId} is stale: ${err.message}; make a new plan`)
      }
      // Nothing was applied (the transaction rolled back). The plan keeps its status, so it can be
      // applied once the cause is fixed, and keeps the reason on record for whoever looks at it.
      if (err instanceof Error) {
        await this.db
          .updateTable('plans')
          .set({ error: `apply failed, nothing was changed: ${err.message}` })
          .where('id', '=', plan.id)
          .where('status', '=', plan.status)
          .execute()
          .catch((recordErr: unknown) =>
            this.deps.logger.warn({ err: recordErr, plan: plan.id }, 'could not record a failed apply'),
          )
      }
      throw err
    }
    return this.get(planId)
  }

  approve(planId: string, actor: Actor): Promise<PlanView> {
    return this.apply(planId, actor, { approving: true })
  }

  async reject(planId: string, actor: Actor): Promise<PlanView> {
    const plan = await this.row(planId)
    if (plan.status !== 'ready' && plan.status !== 'held') {
      throw conflict(`plan ${planId} is ${plan.status}: only a ready or held plan can be rejected`)
    }
    await this.deps.store.write(actor, async (w) => {
      const updated = await w.transaction
        .updateTable('plans')
        .set({ status: 'rejected', decided_by: actor.name, decided_at: sql`now()` })
        .where('id', '=', plan.id)
        .where('status', '=', plan.status)
        .executeTakeFirst()
      if (Number(updated.numUpdatedRows) !== 1) throw conflict(`plan ${planId} changed while rejecting it`)
      await w.audit({
        action: 'plan.reject',
        targetType: 'plan',
        targetId: plan.id,
        before: { status: plan.status },
      })
    })
    return this.get(planId)
  }
}
