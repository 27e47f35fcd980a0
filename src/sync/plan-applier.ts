import { sql, type Selectable } from 'kysely'
import type { PlanChangesTable, PlansTable, SourcesTable } from '../db/schema'
import { conflict } from '../errors'
import type { Actor } from '../org/actor'
import type { IdentityInput } from '../org/identity-writes'
import type { OrgWriter } from '../org/org-store'
import type { PersonFields } from '../org/person-writes'
import type { ChangeKind } from './plan-changes'
import { departmentsToPark, identitiesToPark } from './plan-swaps'
import type { SourcePolicy } from './source-policy'

type Change = Selectable<PlanChangesTable>
type After = Record<string, unknown>

const TARGET_TABLE: Partial<Record<ChangeKind, 'people' | 'departments' | 'groups' | 'identities'>> = {
  'department.rename': 'departments',
  'department.move': 'departments',
  'department.delete': 'departments',
  'identity.create': 'identities',
  'identity.update': 'identities',
  'identity.remove': 'identities',
  'person.update': 'people',
  'person.move': 'people',
  'person.manager': 'people',
  'person.suspend': 'people',
  'person.reactivate': 'people',
  'person.deprovision': 'people',
  'group.update': 'groups',
  'group.delete': 'groups',
}

const BATCH = 1000

/** Thrown inside the apply transaction when a target moved on since planning (rolls everything back). */
export class StalePlanError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StalePlanError'
  }
}

/**
 * Applies a plan's changes, in order, in the one transaction `w` belongs to: all of them or none.
 * Every change is re-checked against the version it was planned from first.
 */
export async function applyChanges(
  w: OrgWriter,
  plan: Selectable<PlansTable>,
  source: Selectable<SourcesTable>,
  policy: SourcePolicy,
): Promise<void> {
  const trx = w.transaction
  await assertFresh(w, plan.id)
  const refs = new Map<string, string>()
  const resolve = (ref: unknown): string | null => {
    if (ref === null || ref === undefined) return null
    const s = String(ref)
    if (!/^[pdg]:/.test(s)) return s
    const id = refs.get(s)
    if (!id) throw new Error(`plan ${plan.id}: reference ${s} used before it was created`)
    return id
  }
  const removeAfter = new Date(Date.now() + policy.gracePeriodDays * 86_400_000)
  // The source's protected list as it is now: a name added after planning must still be honoured
  // (changing the list does not make a plan stale, unlike marking the person protected).
  const protectedNames = new Set(policy.protectedUserNames.map((n) => n.toLowerCase()))

  // Identities the source no longer has go first: a user deleted at the source and a new one given
  // the same user name in one plan would otherwise clash on the user name while both are live.
  for (let after = -1; ;) {
    const removals = await trx
      .selectFrom('plan_changes')
      .selectAll()
      .where('plan_id', '=', plan.id)
      .where('kind', '=', 'identity.remove')
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(BATCH)
      .execute()
    if (removals.length === 0) break
    for (const c of removals) await applyOne(w, c, source, resolve, refs, removeAfter, protectedNames)
    after = removals[removals.length - 1]!.seq
  }

  // Rows standing in the way of a later change — a department or user name the plan hands on before
  // its holder gives it up — are parked first and get their final names at the end, so the plan
  // applies whole, in its own order, whatever swaps it holds (see plan-swaps).
  await w.parkDepartments(await departmentsToPark(trx, plan.id))
  await w.parkIdentityUserNames(await identitiesToPark(trx, plan.id))

  let after = -1
  for (;;) {
    const batch = await trx
      .selectFrom('plan_changes')
      .selectAll()
      .where('plan_id', '=', plan.id)
      .where('kind', '<>', 'identity.remove')
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(BATCH)
      .execute()
    if (batch.length === 0) break
    // Runs of person creates and manager links go through the store's bulk paths: a first sync of
    // 100,000 people is a few hundred statements instead of a million.
    for (let i = 0; i < batch.length;) {
      const kind = batch[i]!.kind
      let j = i + 1
      if (kind === 'person.create' || kind === 'person.manager') {
        while (j < batch.length && batch[j]!.kind === kind) j++
        const run = batch.slice(i, j)
        if (kind === 'person.create') await applyPersonCreates(w, run, source, resolve, refs)
        else {
          await w.setManagers(
            run.map((c) => ({
              personId: resolve(c.target_id ?? c.ref)!,
              managerId: resolve(c.after?.managerRef),
            })),
          )
        }
      } else {
        await applyOne(w, batch[i]!, source, resolve, refs, removeAfter, protectedNames)
      }
      i = j
    }
    after = batch[batch.length - 1]!.seq
  }
  await w.unparkAll()
}

/** Every target the plan read still has the version it read. */
async function assertFresh(w: OrgWriter, planId: string): Promise<void> {
  for (const [kind, table] of Object.entries(TARGET_TABLE)) {
    const stale = await w.transaction
      .selectFrom('plan_changes as c')
      .innerJoin(`${table} as t` as 'people as t', 't.id', 'c.target_id')
      .select(['c.seq', 'c.target_id'])
      .where('c.plan_id', '=', planId)
      .where('c.kind', '=', kind)
      .where('c.base_version', 'is not', null)
      .where(sql<boolean>`t.version <> c.base_version`)
      .limit(1)
      .executeTakeFirst()
    if (stale)
      throw new StalePlanError(
        `${table} ${stale.target_id} changed since the plan was made (change ${stale.seq})`,
      )
    const missing = await w.transaction
      .selectFrom('plan_changes as c')
      .select(['c.seq', 'c.target_id'])
      .where('c.plan_id', '=', planId)
      .where('c.kind', '=', kind)
      .where('c.target_id', 'is not', null)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom(`${table} as t` as 'people as t')
              .select('t.id')
              .whereRef('t.id', '=', 'c.target_id'),
          ),
        ),
      )
      .limit(1)
      .executeTakeFirst()
    if (missing)
      throw new StalePlanError(
        `${table} ${missing.target_id} is gone since the plan was made (change ${missing.seq})`,
      )
  }
}

async function applyPersonCreates(
  w: OrgWriter,
  run: Change[],
  source: Selectable<SourcesTable>,
  resolve: (r: unknown) => string | null,
  refs: Map<string, string>,
): Promise<void> {
  const people = await w.createPeople(
    run.map((c) => ({ ...personFields(c.after ?? {}, resolve), userName: String(c.after?.userName) })),
  )
  const fresh: IdentityInput[] = []
  for (let k = 0; k < run.length; k++) {
    const c = run[k]!
    const person = people[k]!
    refs.set(c.ref!, person.id)
    const identity = (c.after?.identity ?? {}) as After
    if (identity.identityId) {
      // The source knew this user before (e.g. inactive then): update that identity in place.
      await saveIdentity(w, source, identity, person.id)
    } else {
      fresh.push({
        sourceId: source.id,
        externalId: String(identity.externalId),
        userName: (identity.userName as string | null) ?? null,
        attributes: (identity.attributes as Record<string, unknown>) ?? {},
        raw: identity.raw ?? null,
        active: identity.active !== false,
        personId: person.id,
      })
    }
  }
  await w.createIdentities(fresh)
}

function personFields(a: After, resolve: (r: unknown) => string | null): Partial<PersonFields> {
  const out: Partial<PersonFields> = {}
  for (const k of [
    'userName',
    'displayName',
    'givenName',
    'familyName',
    'email',
    'employeeNumber',
    'title',
  ] as const) {
    if (k in a) (out as Record<string, unknown>)[k] = a[k]
  }
  if ('departmentRef' in a) out.departmentId = resolve(a.departmentRef)
  if ('managerRef' in a) out.managerId = resolve(a.managerRef)
  return out
}

async function applyOne(
  w: OrgWriter,
  c: Change,
  source: Selectable<SourcesTable>,
  resolve: (r: unknown) => string | null,
  refs: Map<string, string>,
  removeAfter: Date,
  protectedNames: ReadonlySet<string>,
): Promise<void> {
  const a: After = c.after ?? {}
  const target = c.target_id
  switch (c.kind as ChangeKind) {
    case 'department.create': {
      const d = await w.createDepartment({
        name: String(a.name),
        parentId: resolve(a.parentRef),
        sourceId: source.id,
        externalId: String(a.externalId),
      })
      refs.set(c.ref!, d.id)
      return
    }
    case 'department.rename':
      await w.renameDepartment(target!, String(a.name))
      return
    case 'department.move':
      await w.moveDepartment(target!, resolve(a.parentRef))
      return
    case 'department.delete':
      await w.deleteDepartment(target!)
      return
    case 'person.create': {
      const p = await w.createPerson({ ...personFields(a, resolve), userName: String(a.userName) })
      refs.set(c.ref!, p.id)
      await saveIdentity(w, source, a.identity as After, p.id)
      return
    }
    case 'identity.create':
    case 'identity.update':
      await saveIdentity(w, source, a, resolve(a.personRef))
      return
    case 'identity.remove':
      await w.removeIdentity(target!)
      return
    case 'person.update':
    case 'person.move':
    case 'person.manager':
      await w.updatePerson(resolve(target ?? c.ref)!, personFields(a, resolve))
      return
    case 'person.suspend':
      if (c.protected || (await isProtectedByName(w, target!, protectedNames))) return
      await w.suspendPerson(target!, {
        reason: String(a.reason ?? `suspended by ${source.name}`),
        removeAfter,
      })
      return
    case 'person.reactivate':
      await w.reactivatePerson(target!)
      return
    case 'person.deprovision':
      if (c.protected || (await isProtectedByName(w, target!, protectedNames))) return
      await w.deprovisionPerson(target!, { reason: String(a.reason ?? `deprovisioned by ${source.name}`) })
      return
    case 'group.create': {
      const g = await w.createGroup({
        displayName: String(a.displayName),
        description: (a.description as string | null) ?? null,
        sourceId: source.id,
        externalId: String(a.externalId),
      })
      refs.set(c.ref!, g.id)
      return
    }
    case 'group.update':
      await w.updateGroup(target!, {
        displayName: String(a.displayName),
        description: (a.description as string | null) ?? null,
      })
      return
    case 'group.delete':
      await w.deleteGroup(target!)
      return
    case 'group.members.add':
      await w.addGroupMembers(
        resolve(target ?? c.ref)!,
        (a.members as string[]).map((m) => resolve(m)!),
      )
      return
    case 'group.members.remove':
      await w.removeGroupMembers(
        resolve(target ?? c.ref)!,
        (a.members as string[]).map((m) => resolve(m)!),
      )
      return
    default:
      throw conflict(`plan change ${c.seq} has an unknown kind ${c.kind}`)
  }
}

async function isProtectedByName(
  w: OrgWriter,
  personId: string,
  names: ReadonlySet<string>,
): Promise<boolean> {
  if (names.size === 0) return false
  const row = await w.transaction
    .selectFrom('people')
    .select('user_name')
    .where('id', '=', personId)
    .executeTakeFirst()
  return row !== undefined && names.has(row.user_name.toLowerCase())
}

async function saveIdentity(
  w: OrgWriter,
  source: Selectable<SourcesTable>,
  a: After,
  personId: string | null,
): Promise<void> {
  await w.saveIdentity({
    sourceId: source.id,
    externalId: String(a.externalId),
    userName: (a.userName as string | null) ?? null,
    attributes: (a.attributes as Record<string, unknown>) ?? {},
    raw: a.raw ?? null,
    active: a.active !== false,
    personId,
  })
}

/** The actor every applied change is recorded under: the source, with the admin who applied it noted. */
export function sourceActor(source: Selectable<SourcesTable>, requestedBy?: Actor): Actor {
  return {
    type: 'source',
    id: source.id,
    name: source.name,
    ip: requestedBy?.ip ?? null,
    requestId: requestedBy?.requestId ?? null,
  }
}
