import { sql } from 'kysely'
import type { BuildContext } from './plan-builder'
import { PlanError } from './plan-error'
import { chunks } from './chunks'

/** A manager link to plan: the person's, as this source (which wins the attribute) gives it. */
export interface PendingManager {
  /** The person (id) or the plan's new person (ref). */
  person: string
  /** null: this source names no manager, so the link goes. */
  manager: { externalId?: string; email?: string; employeeNumber?: string } | null
  current: string | null
  baseVersion: number | null
  /** The person's department, for the plan's subtree filter. */
  departmentId: string | null
}

export interface KnownPeople {
  /** Remote externalId → person id or "p:" ref, for the users this run read. */
  personOf: Map<string, string>
  byEmail: Map<string, string>
  byEmployeeNumber: Map<string, string>
  /** Person ids of this source's other identities, by externalId (loaded as needed). */
  personOfIdentity: (externalIds: string[]) => Promise<Map<string, string>>
  names: Map<string, string>
}

/**
 * Plans manager links once every person of the run is known (a manager may come later in the
 * stream than their reports), refusing a plan that would close a reporting cycle.
 */
export async function planManagers(
  ctx: BuildContext,
  pending: PendingManager[],
  known: KnownPeople,
  warn: (m: string) => void,
): Promise<void> {
  const { db } = ctx
  // Managers named by email or employee number that this run did not list: look them up once.
  const emails = [
    ...new Set(
      pending
        .map((p) => p.manager?.email?.toLowerCase())
        .filter((e): e is string => !!e && !known.byEmail.has(e)),
    ),
  ]
  const numbers = [
    ...new Set(
      pending
        .map((p) => p.manager?.employeeNumber)
        .filter((e): e is string => !!e && !known.byEmployeeNumber.has(e)),
    ),
  ]
  for (const part of chunks(emails)) {
    for (const r of await db
      .selectFrom('people')
      .select(['id', sql<string>`lower(email)`.as('email')])
      .where(sql`lower(email)`, 'in', part)
      .where('status', '<>', 'deprovisioned')
      .execute()) {
      if (!known.byEmail.has(r.email)) known.byEmail.set(r.email, r.id)
    }
  }
  for (const part of chunks(numbers)) {
    for (const r of await db
      .selectFrom('people')
      .select(['id', 'employee_number'])
      .where('employee_number', 'in', part)
      .where('status', '<>', 'deprovisioned')
      .execute()) {
      if (!known.byEmployeeNumber.has(r.employee_number!))
        known.byEmployeeNumber.set(r.employee_number!, r.id)
    }
  }

  const byIdentity = await known.personOfIdentity([
    ...new Set(
      pending.map((p) => p.manager?.externalId).filter((e): e is string => !!e && !known.personOf.has(e)),
    ),
  ])
  const resolve = (m: NonNullable<PendingManager['manager']>): string | undefined => {
    if (m.externalId) return known.personOf.get(m.externalId) ?? byIdentity.get(m.externalId)
    if (m.email) return known.byEmail.get(m.email.toLowerCase())
    if (m.employeeNumber) return known.byEmployeeNumber.get(m.employeeNumber)
    return undefined
  }
  const dbNames = new Map<string, string>()
  const nameOf = (id: string) => known.names.get(id) ?? dbNames.get(id) ?? id

  // The reporting lines after this plan: planned links (removals included) over the database's.
  const planned = new Map<string, string | null>()
  const changes: { p: PendingManager; managerRef: string | null }[] = []
  for (const p of pending) {
    let managerRef: string | null = null
    if (p.manager) {
      const found = resolve(p.manager)
      if (found === undefined) {
        warn(`manager ${JSON.stringify(p.manager)} of ${nameOf(p.person)} is not known: left unchanged`)
        continue
      }
      managerRef = found
    }
    if (managerRef === p.person) {
      throw new PlanError(`reporting cycle: ${nameOf(p.person)} is named as their own manager`, {
        cycle: [nameOf(p.person), nameOf(p.person)],
      })
    }
    if (managerRef !== p.current) {
      planned.set(p.person, managerRef)
      changes.push({ p, managerRef })
    }
  }
  if (changes.length === 0) return

  const dbManager = new Map<string, string | null>()
  let frontier = [...new Set([...planned.values()].filter((v): v is string => !!v && !v.startsWith('p:')))]
  while (frontier.length > 0) {
    const next: string[] = []
    for (const part of chunks(frontier.filter((id) => !dbManager.has(id)))) {
      for (const r of await db
        .selectFrom('people')
        .select(['id', 'manager_id', 'user_name'])
        .where('id', 'in', part)
        .execute()) {
        dbManager.set(r.id, r.manager_id)
        dbNames.set(r.id, r.user_name)
        if (r.manager_id && !dbManager.has(r.manager_id)) next.push(r.manager_id)
      }
    }
    frontier = next
  }
  const managerOf = (id: string): string | null =>
    planned.has(id) ? planned.get(id)! : (dbManager.get(id) ?? null)

  // Every person's depth in the reporting tree after the plan (0 = no manager); walking up from
  // each changed person finds any cycle the plan would close.
  const depth = new Map<string, number>()
  for (const start of planned.keys()) {
    const trail: string[] = []
    const onTrail = new Set<string>()
    let at: string | null = start
    while (at !== null && !depth.has(at)) {
      if (onTrail.has(at)) {
        const cycle = [...trail.slice(trail.indexOf(at)), at].map(nameOf)
        throw new PlanError(`reporting cycle: ${cycle.join(' → ')}`, { cycle })
      }
      onTrail.add(at)
      trail.push(at)
      at = managerOf(at)
    }
    let d = at === null ? -1 : depth.get(at)!
    for (let i = trail.length - 1; i >= 0; i--) depth.set(trail[i]!, ++d)
  }
  // Applied top-down (managers before their reports): every link the store checks then points at
  // a chain that is already as the plan leaves it, so no step makes a temporary cycle even when
  // the plan reverses a reporting line (the store refuses any cycle, temporary or not).
  changes.sort((x, y) => depth.get(x.p.person)! - depth.get(y.p.person)!)
  for (const { p, managerRef } of changes) {
    await ctx.writer.add({
      kind: 'person.manager',
      targetId: p.person.startsWith('p:') ? null : p.person,
      ref: p.person.startsWith('p:') ? p.person : null,
      baseVersion: p.baseVersion,
      departmentId: p.departmentId,
      before: { managerId: p.current },
      after: { managerRef },
    })
  }
}
