import { hostname } from 'node:os'
import { sql, type Kysely, type Selectable } from 'kysely'
import type { Logger } from 'pino'
import type { DB, RunsTable, RunStatus, RunTrigger, SourcesTable } from '../db/schema'
import { AppError, conflict, sqlConstraint, sqlState } from '../errors'
import type { Actor } from '../org/actor'
import { OrgStore } from '../org/org-store'
import { checkLimit } from '../org/cursor'
import { ConnectorError, type Connector } from './connector'
import type { PlanService, PlanView } from './plan-service'

export interface RunView {
  id: string
  sourceId: string
  planId: string | null
  trigger: RunTrigger
  slot: string | null
  status: RunStatus
  attempts: number
  counts: Record<string, number> | null
  /** How the run read its source (from its plan): in full, or only what changed. */
  listing: 'full' | 'incremental' | null
  /** Why it read the source in full when only changes were due (an expired delta token…). */
  resyncReason: string | null
  error: string | null
  claimedBy: string
  startedAt: Date
  finishedAt: Date | null
}

function view(
  r: Selectable<RunsTable>,
  plan?: { full_listing: boolean | null; resync_reason: string | null },
): RunView {
  return {
    id: r.id,
    sourceId: r.source_id,
    planId: r.plan_id,
    trigger: r.trigger,
    slot: r.slot,
    status: r.status,
    attempts: r.attempts,
    counts: r.counts,
    listing: plan?.full_listing == null ? null : plan.full_listing ? 'full' : 'incremental',
    resyncReason: plan?.resync_reason ?? null,
    error: r.error,
    claimedBy: r.claimed_by,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }
}

/** Flattens a plan summary into run counts ({ "people.create": 3, … }), zeros left out. */
function flatten(summary: unknown): Record<string, number> {
  const out: Record<string, number> = {}
  const walk = (value: unknown, prefix: string) => {
    if (typeof value === 'number') {
      if (value !== 0) out[prefix] = value
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k)
    }
  }
  walk(summary, '')
  return out
}

export interface RunServiceOptions {
  /** First retry delay; doubles each attempt. */
  backoffMs?: number
  maxAttempts?: number
  heartbeatMs?: number
  /** A running claim whose heartbeat is older than this is abandoned (its process died). */
  staleAfterMs?: number
}

/**
 * Runs of a source: claim (one at a time per source, across every process on the database; a
 * scheduled slot once), plan with retries on transient errors, apply when the source is in auto
 * mode, and record what happened.
 */
export class RunService {
  private readonly db: Kysely<DB>
  private readonly owner = `${hostname()}:${process.pid}`
  private readonly opts: Required<RunServiceOptions>

  constructor(
    private readonly plans: PlanService,
    db: Kysely<DB>,
    private readonly logger: Logger,
    options: RunServiceOptions = {},
  ) {
    this.db = db
    this.opts = {
      backoffMs: 1000,
      maxAttempts: 4,
      heartbeatMs: 30_000,
      staleAfterMs: 10 * 60_000,
      ...options,
    }
  }

  /** Claims the source's run slot; undefined when this scheduled slot already ran (or runs) elsewhere. */
  private async claim(
    sourceId: string,
    trigger: RunTrigger,
    slot: string | null,
  ): Promise<Selectable<RunsTable> | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return await this.db
          .insertInto('runs')
          .values({ source_id: sourceId, trigger, slot, status: 'running', claimed_by: this.owner })
          .returningAll()
          .executeTakeFirstOrThrow()
      } catch (err) {
        if (sqlState(err) !== '23505') throw err
        if (sqlConstraint(err) === 'runs_one_per_slot') return undefined
        const running = await this.db
          .selectFrom('runs')
          .selectAll()
          .where('source_id', '=', sourceId)
          .where('status', '=', 'running')
          .executeTakeFirst()
        if (!running) continue
        if (Date.now() - running.heartbeat_at.getTime() > this.opts.staleAfterMs) {
          await this.db
            .updateTable('runs')
            .set({
              status: 'failed',
              error: `abandoned: ${running.claimed_by} stopped sending heartbeats`,
              finished_at: sql`now()`,
            })
            .where('id', '=', running.id)
            .where('status', '=', 'running')
            .execute()
          continue
        }
        if (slot !== null) return undefined
        throw conflict(
          `a run of this source is already in progress (run ${running.id}, started ${running.started_at.toISOString()} by ${running.claimed_by})`,
        )
      }
    }
    throw conflict('could not claim a run of this source')
  }

  /** The source, if it may run now: a disabled source does not, whoever asks (409 saying so). */
  async runnable(sourceId: string): Promise<Selectable<SourcesTable>> {
    const source = await this.plans.source(sourceId)
    if (!source.enabled)
      throw conflict(
        `source "${source.name}" is disabled: enable it (PATCH {"enabled": true}) before running it`,
      )
    return source
  }

  /** Whether a run of this source has claimed this schedule slot (here or on another replica). */
  async slotTaken(sourceId: string, slot: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('runs')
      .select('id')
      .where('source_id', '=', sourceId)
      .where('slot', '=', slot)
      .executeTakeFirst()
    return row !== undefined
  }

  /** Runs the source now. Resolves when the run has finished; undefined if the slot was taken
   * or, for a scheduled slot, the source is busy with another run. */
  async run(
    sourceId: string,
    options: {
      trigger: RunTrigger
      actor: Actor
      slot?: string
      upload?: { contentType: string; body: Buffer }
    },
  ): Promise<RunView | undefined> {
    const source = await this.runnable(sourceId)
    const run = await this.claim(source.id, options.trigger, options.slot ?? null)
    if (!run) return undefined
    const heartbeat = setInterval(() => {
      this.db
        .updateTable('runs')
        .set({ heartbeat_at: sql`now()` })
        .where('id', '=', run.id)
        .execute()
        .catch((err: unknown) => this.logger.warn({ err, run: run.id }, 'run heartbeat failed'))
    }, this.opts.heartbeatMs)
    heartbeat.unref()
    let status: RunStatus = 'failed'
    let plan: PlanView | undefined
    let error: string | null = null
    let attempts = 0
    try {
      // One connector for every attempt: a retry continues with the same client (its tokens and
      // its own view of the failures so far) rather than starting from scratch.
      let connector: Connector | undefined
      for (;;) {
        attempts++
        try {
          connector ??= await this.plans.connect(source, options.upload)
          plan = await this.plans.createPlan(source.id, {
            trigger: options.trigger,
            actor: options.actor,
            upload: options.upload,
            connector,
            rethrowRetryable: attempts < this.opts.maxAttempts,
          })
          break
        } catch (err) {
          const retryable =
            err instanceof ConnectorError && (err.kind === 'throttled' || err.kind === 'transient')
          if (!retryable || attempts >= this.opts.maxAttempts) throw err
          const delay = Math.max(err.retryAfterMs ?? 0, this.opts.backoffMs * 2 ** (attempts - 1))
          this.logger.warn(
            { source: source.id, attempt: attempts, delayMs: delay, err: err.message },
            'run: retrying',
          )
          await new Promise((resolve) => setTimeout(resolve, delay))
        }
      }
      if (plan.status === 'failed') {
        error = plan.error
      } else if (plan.status === 'held') {
        status = 'held'
        error = plan.heldReason
      } else if (source.mode === 'auto') {
        try {
          plan = await this.plans.apply(plan.id, options.actor)
          status = 'succeeded'
        } catch (err) {
          error = err instanceof Error ? err.message : String(err)
        }
      } else {
        status = 'awaiting-review'
      }
    } catch (err) {
      error = err instanceof AppError || err instanceof Error ? err.message : String(err)
      this.logger.error({ err, source: source.id, run: run.id }, 'run failed')
    } finally {
      clearInterval(heartbeat)
    }
    // A connector run is an audited event like any other: who ran what, and how it ended.
    const finished = await new OrgStore(this.db).write(options.actor, async (w) => {
      const row = await w.transaction
        .updateTable('runs')
        .set({
          status,
          plan_id: plan?.id ?? null,
          attempts,
          counts: plan ? JSON.stringify(flatten(plan.summary)) : null,
          error,
          finished_at: sql`now()`,
        })
        .where('id', '=', run.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      await w.audit({
        action: 'run.finish',
        targetType: 'source',
        targetId: source.id,
        after: { runId: run.id, trigger: options.trigger, status, planId: row.plan_id, attempts, error },
      })
      return row
    })
    return view(
      finished,
      plan ? { full_listing: plan.listing === 'full', resync_reason: plan.resyncReason } : undefined,
    )
  }

  async list(sourceId: string, limit: number): Promise<RunView[]> {
    await this.plans.source(sourceId)
    const rows = await this.db
      .selectFrom('runs')
      .leftJoin('plans', 'plans.id', 'runs.plan_id')
      .selectAll('runs')
      .select(['plans.full_listing', 'plans.resync_reason'])
      .where('runs.source_id', '=', sourceId)
      .orderBy('runs.started_at', 'desc')
      .limit(checkLimit(limit, 500))
      .execute()
    return rows.map((r) => view(r, r))
  }
}
