import { createTask, validate, type ScheduledTask } from 'node-cron'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { DB } from '../db/schema'
import { systemActor } from '../org/actor'
import type { OrgStore } from '../org/org-store'
import { pruneAuditLog } from './audit-retention-job'
import { deprovisionExpired } from './deprovision-job'
import type { RunService } from './run-service'

export function isValidSchedule(expression: string): boolean {
  return validate(expression)
}

/** The minute a cron tick belongs to: every replica firing for it names the same slot. */
export function slotOf(date: Date): string {
  return `${date.toISOString().slice(0, 16)}Z`
}

export interface SchedulerOptions {
  /** How often source schedules are re-read (a changed schedule takes effect within this). */
  refreshMs?: number
  /** When the daily deprovisioning job runs. */
  deprovisionSchedule?: string
  /** Days audit events are kept (null: forever), asked each time the daily prune runs. */
  auditRetentionDays?: () => Promise<number | null>
  /** When the daily audit prune runs. */
  auditRetentionSchedule?: string
  /** A tick that finds its source busy (another run in progress) tries its slot again after this. */
  busyRetryMs?: number
  /** How many times a busy tick tries again before giving the slot up (logged). */
  busyRetries?: number
}

/** What became of one scheduled tick. */
export type TickOutcome = 'ran' | 'ran-elsewhere' | 'busy-retrying' | 'busy-given-up' | 'stopped'

/**
 * Per-source cron schedules. Every replica schedules every source; the run's slot claim in the
 * database makes each tick run once. Schedules are re-read periodically, so an API change on any
 * replica reaches all of them.
 *
 * Its timers never keep a process alive on their own (the HTTP server does that): a process whose
 * server has closed can exit even if nobody called stop(), as the refresher already allowed.
 */
export class Scheduler {
  private readonly tasks = new Map<string, { expression: string; task: ScheduledTask }>()
  private refresher: NodeJS.Timeout | undefined
  private daily: ScheduledTask | undefined
  private auditRetention: ScheduledTask | undefined
  private inFlight = new Set<Promise<unknown>>()
  private retries = new Set<NodeJS.Timeout>()
  private stopped = false

  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: OrgStore,
    private readonly runs: RunService,
    private readonly logger: Logger,
    private readonly options: SchedulerOptions = {},
  ) {}

  async start(): Promise<void> {
    await this.refresh()
    this.refresher = setInterval(() => {
      this.refresh().catch((err: unknown) => this.logger.error({ err }, 'scheduler: refresh failed'))
    }, this.options.refreshMs ?? 60_000)
    this.refresher.unref()
    this.daily = createTask(
      this.options.deprovisionSchedule ?? '17 3 * * *',
      () =>
        this.track(
          deprovisionExpired(this.store).then((n) => {
            if (n > 0)
              this.logger.info({ deprovisioned: n }, 'deprovisioned leavers after their grace period')
          }),
        ),
      { name: 'deprovision', noOverlap: true, unref: true },
    )
    await this.daily.start()
    const retentionDays = this.options.auditRetentionDays
    if (retentionDays) {
      this.auditRetention = createTask(
        this.options.auditRetentionSchedule ?? '37 3 * * *',
        () =>
          this.track(
            (async () => {
              const result = await pruneAuditLog(this.store, await retentionDays())
              if (result.deleted > 0) {
                this.logger.info(
                  { deleted: result.deleted, anchorSeq: result.anchorSeq },
                  'pruned audit events past their retention',
                )
              }
            })(),
          ),
        { name: 'audit-retention', noOverlap: true, unref: true },
      )
      await this.auditRetention.start()
    }
  }

  private track(p: Promise<unknown>): Promise<unknown> {
    const tracked = p.catch((err: unknown) => this.logger.error({ err }, 'scheduled job failed'))
    this.inFlight.add(tracked)
    void tracked.finally(() => this.inFlight.delete(tracked))
    return tracked
  }

  async refresh(): Promise<void> {
    const sources = await this.db
      .selectFrom('sources')
      .select(['id', 'name', 'schedule'])
      .where('enabled', '=', true)
      .where('schedule', 'is not', null)
      .execute()
    const wanted = new Map(sources.filter((s) => s.schedule && validate(s.schedule)).map((s) => [s.id, s]))
    for (const [id, entry] of this.tasks) {
      if (wanted.get(id)?.schedule !== entry.expression) {
        await entry.task.destroy()
        this.tasks.delete(id)
      }
    }
    for (const [id, s] of wanted) {
      if (this.tasks.has(id)) continue
      const task = createTask(s.schedule!, (ctx) => this.track(this.tick(id, s.name, slotOf(ctx.date))), {
        name: `source:${id}`,
        noOverlap: true,
        unref: true,
      })
      await task.start()
      this.tasks.set(id, { expression: s.schedule!, task })
    }
  }

  /**
   * Runs a source's slot. A slot another replica has run is done; a slot that finds the source
   * busy (a manual or a long earlier run in progress) is not lost: it tries again a little later,
   * so a daily sync does not skip a day because someone pressed "sync now" at the wrong moment.
   */
  async tick(sourceId: string, name: string, slot: string, retriesLeft?: number): Promise<TickOutcome> {
    if (this.stopped) return 'stopped'
    const left = retriesLeft ?? this.options.busyRetries ?? 30
    const run = await this.runs.run(sourceId, { trigger: 'schedule', actor: systemActor('scheduler'), slot })
    if (run) {
      this.logger.info(
        { source: { id: sourceId, name }, run: run.id, status: run.status },
        'scheduled run done',
      )
      return 'ran'
    }
    if (await this.runs.slotTaken(sourceId, slot)) return 'ran-elsewhere'
    if (left <= 0) {
      this.logger.warn(
        { source: { id: sourceId, name }, slot },
        'scheduled run skipped: the source stayed busy',
      )
      return 'busy-given-up'
    }
    const delay = this.options.busyRetryMs ?? 60_000
    this.logger.info(
      { source: { id: sourceId, name }, slot, retryInMs: delay },
      'scheduled run waits: another run of this source is in progress',
    )
    const timer = setTimeout(() => {
      this.retries.delete(timer)
      void this.track(this.tick(sourceId, name, slot, left - 1))
    }, delay)
    timer.unref()
    this.retries.add(timer)
    return 'busy-retrying'
  }

  /** Stops scheduling and waits for the runs in flight. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const timer of this.retries) clearTimeout(timer)
    this.retries.clear()
    if (this.refresher) clearInterval(this.refresher)
    await this.daily?.destroy()
    await this.auditRetention?.destroy()
    for (const { task } of this.tasks.values()) await task.destroy()
    this.tasks.clear()
    await Promise.all(this.inFlight)
  }
}
