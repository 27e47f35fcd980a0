import type { Kysely } from 'kysely'
import type { DB } from '../db/schema'

/** Every kind of change a plan can hold, in the order a plan applies them. */
export const CHANGE_KINDS = [
  'department.create',
  'department.rename',
  'department.move',
  'person.create',
  'identity.create',
  'identity.update',
  'person.update',
  'person.move',
  'person.reactivate',
  'person.suspend',
  'person.deprovision',
  'identity.remove',
  'person.manager',
  'group.create',
  'group.update',
  'group.members.add',
  'group.members.remove',
  'group.delete',
  'department.delete',
] as const
export type ChangeKind = (typeof CHANGE_KINDS)[number]

/**
 * One planned change. `targetId` is the existing row it changes; `ref` names a row the plan itself
 * creates ("p:<externalId>" person, "d:<externalId>" department, "g:<externalId>" group), so later
 * changes can point at it before it has an id. `baseVersion` is the target's version when planned:
 * if it moved on, the plan is stale.
 */
export interface PlannedChange {
  kind: ChangeKind
  targetId?: string | null
  ref?: string | null
  baseVersion?: number | null
  /** The department the change concerns (a person's new or old one), for the subtree filter. */
  departmentId?: string | null
  protected?: boolean
  before?: Record<string, unknown> | null
  after?: Record<string, unknown> | null
}

export interface PlanSummary {
  people: {
    create: number
    update: number
    move: number
    manager: number
    suspend: number
    reactivate: number
    deprovision: number
  }
  departments: { create: number; rename: number; move: number; delete: number }
  groups: { create: number; update: number; delete: number }
  memberships: { added: number; removed: number }
  identities: { create: number; update: number; remove: number }
  /** Suspensions or deprovisions of protected people: flagged in the plan, never applied. */
  protectedSkipped: number
}

export function emptySummary(): PlanSummary {
  return {
    people: { create: 0, update: 0, move: 0, manager: 0, suspend: 0, reactivate: 0, deprovision: 0 },
    departments: { create: 0, rename: 0, move: 0, delete: 0 },
    groups: { create: 0, update: 0, delete: 0 },
    memberships: { added: 0, removed: 0 },
    identities: { create: 0, update: 0, remove: 0 },
    protectedSkipped: 0,
  }
}

function count(summary: PlanSummary, change: PlannedChange): void {
  if (change.protected) {
    summary.protectedSkipped++
    return
  }
  const [area, action] = change.kind.split(/\.(.*)/s) as [string, string]
  switch (area) {
    case 'person':
      summary.people[action as keyof PlanSummary['people']]++
      if (action === 'create') summary.identities.create++
      break
    case 'department':
      summary.departments[action as keyof PlanSummary['departments']]++
      break
    case 'identity':
      summary.identities[action as keyof PlanSummary['identities']]++
      break
    case 'group': {
      const members = Array.isArray(change.after?.members) ? change.after.members.length : 0
      if (action === 'members.add') summary.memberships.added += members
      else if (action === 'members.remove') summary.memberships.removed += members
      else summary.groups[action as keyof PlanSummary['groups']]++
      break
    }
  }
}

/**
 * Buffers a plan's changes and writes them in batches, numbering them as they come, so a plan of a
 * hundred thousand changes never sits in memory whole.
 */
export class PlanChangeWriter {
  private buffer: PlannedChange[] = []
  private seq = 0
  readonly summary = emptySummary()

  constructor(
    private readonly db: Kysely<DB>,
    private readonly planId: string,
    private readonly batchSize = 500,
  ) {}

  get count(): number {
    return this.seq
  }

  async add(change: PlannedChange): Promise<void> {
    count(this.summary, change)
    this.buffer.push(change)
    this.seq++
    if (this.buffer.length >= this.batchSize) await this.flush()
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return
    const first = this.seq - this.buffer.length
    const rows = this.buffer.map((c, i) => ({
      plan_id: this.planId,
      seq: first + i,
      kind: c.kind,
      target_id: c.targetId ?? null,
      ref: c.ref ?? null,
      base_version: c.baseVersion ?? null,
      department_id: c.departmentId ?? null,
      protected: c.protected ?? false,
      before: c.before ? JSON.stringify(c.before) : null,
      after: c.after ? JSON.stringify(c.after) : null,
    }))
    this.buffer = []
    await this.db.insertInto('plan_changes').values(rows).execute()
  }
}
