import type { Kysely } from 'kysely'
import type { DB } from '../../src/db/schema'
import type { Actor } from '../../src/org/actor'
import { getPerson, type PersonDetail } from '../../src/org/people-queries'
import { personColumns } from '../../src/org/records'
import type { RemoteDepartment, RemoteGroup, RemoteUser } from '../../src/sync/connector'
import type { TestApp } from './test-app'

export const admin: Actor = { type: 'admin', id: null, name: 'test admin' }

export interface FakeSeed {
  users?: Partial<RemoteUser>[]
  departments?: RemoteDepartment[]
  groups?: Partial<RemoteGroup>[]
  pageSize?: number
  fail?: Record<string, unknown>
}

/** A user record with sensible defaults: `u('ada')` is ada@corp.test, employee ada, active. */
export function u(id: string, extra: Partial<RemoteUser> = {}): Partial<RemoteUser> {
  return {
    externalId: id,
    userName: `${id}@corp.test`,
    email: `${id}@corp.test`,
    displayName: id,
    active: true,
    ...extra,
  }
}

export function dept(id: string, name: string, parent: string | null = null): RemoteDepartment {
  return { externalId: id, name, parentExternalId: parent }
}

/** Creates a fake source through the services, seeded with `seed`; returns its id. */
export async function fakeSource(
  app: TestApp,
  seed: FakeSeed,
  extra: {
    name?: string
    policy?: Record<string, unknown>
    precedence?: number
    mode?: 'auto' | 'review'
  } = {},
): Promise<string> {
  const s = await app.services.sources.create(admin, {
    type: 'fake',
    name: extra.name ?? 'HR',
    config: seed as Record<string, unknown>,
    policy: extra.policy,
    precedence: extra.precedence,
    mode: extra.mode,
  })
  return s.id
}

/** Replaces what the fake source lists from now on. */
export async function reseed(app: TestApp, sourceId: string, seed: FakeSeed): Promise<void> {
  const current = await app.services.sources.get(sourceId)
  const config: Record<string, unknown> = {
    users: [],
    departments: [],
    groups: [],
    ...current.config,
    ...seed,
  }
  await app.services.sources.update(admin, sourceId, { config })
}

export async function planAndApply(app: TestApp, sourceId: string) {
  const plan = await app.services.plans.createPlan(sourceId, { trigger: 'manual', actor: admin })
  if (plan.status !== 'ready') throw new Error(`plan is ${plan.status}: ${plan.error ?? plan.heldReason}`)
  return app.services.plans.apply(plan.id, admin)
}

/** Makes a plan of the source, as an admin would ("plan now"), and returns it whatever its status. */
export function plan(app: TestApp, sourceId: string) {
  return app.services.plans.createPlan(sourceId, { trigger: 'manual', actor: admin })
}

/** The reconciled person with this user name (with department, manager, identities, provenance). */
export async function personByUserName(db: Kysely<DB>, userName: string): Promise<PersonDetail> {
  const row = await db
    .selectFrom('people')
    .select('id')
    .where('user_name', '=', userName)
    .executeTakeFirstOrThrow(() => new Error(`no person ${userName}`))
  return (await getPerson(db, row.id))!
}

/** Every change of a plan, in order (all pages). */
export async function allChanges(app: TestApp, planId: string) {
  const out: Awaited<ReturnType<TestApp['services']['plans']['changes']>>['items'] = []
  let cursor: string | undefined
  do {
    const page = await app.services.plans.changes(planId, { limit: 1000, cursor })
    out.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return out
}

/**
 * Everything in the org tree and the sources' sync state, in a stable order: two equal snapshots
 * mean nothing was written (versions, statuses, links and the audit log all included).
 */
export async function orgState(db: Kysely<DB>) {
  const [people, departments, identities, groups, members, audit, sources] = await Promise.all([
    db.selectFrom('people').select(personColumns).orderBy('id').execute(),
    db.selectFrom('departments').selectAll().orderBy('id').execute(),
    db.selectFrom('identities').selectAll().orderBy('id').execute(),
    db.selectFrom('groups').selectAll().orderBy('id').execute(),
    db
      .selectFrom('group_members')
      .select(['group_id', 'person_id'])
      .orderBy('group_id')
      .orderBy('person_id')
      .execute(),
    db.selectFrom('audit_events').select(['seq', 'action', 'target_id']).orderBy('seq').execute(),
    db.selectFrom('sources').select(['id', 'generation', 'cursor']).orderBy('id').execute(),
  ])
  return { people, departments, identities, groups, members, audit, sources }
}

/** The sync state of a source: bumped generation and saved cursor only when a plan applies. */
export function sourceState(db: Kysely<DB>, sourceId: string) {
  return db
    .selectFrom('sources')
    .select(['generation', 'cursor'])
    .where('id', '=', sourceId)
    .executeTakeFirstOrThrow()
}

/**
 * Empties the org tree and the sources (with their plans and runs) but keeps admins and their
 * grants, so a test app's bearer token stays valid (TRUNCATE … CASCADE would reach the grants
 * through their department scope).
 */
export async function resetOrg(db: Kysely<DB>): Promise<void> {
  for (const table of [
    'plan_changes',
    'runs',
    'plans',
    'group_members',
    'groups',
    'identities',
    'audit_events',
    'audit_chain_head',
  ] as const)
    await db.deleteFrom(table).execute()
  await db.deleteFrom('people').execute()
  // Children first: a parent link restricts deletion.
  const { max } = await db
    .selectFrom('departments')
    .select((eb) => eb.fn.max('depth').as('max'))
    .executeTakeFirstOrThrow()
  for (let depth = Number(max ?? -1); depth >= 0; depth--)
    await db.deleteFrom('departments').where('depth', '=', depth).execute()
  await db.deleteFrom('sources').execute()
}

/** "Sync now" through the run service, waiting for the run; throws when another run holds the slot. */
export async function runNow(app: TestApp, sourceId: string) {
  const run = await app.services.runs.run(sourceId, { trigger: 'manual', actor: admin })
  if (!run) throw new Error('run not claimed')
  return run
}

/** The user names of a group's members, sorted. */
export async function memberUserNames(db: Kysely<DB>, groupName: string): Promise<string[]> {
  const rows = await db
    .selectFrom('groups as g')
    .innerJoin('group_members as m', 'm.group_id', 'g.id')
    .innerJoin('people as p', 'p.id', 'm.person_id')
    .select('p.user_name')
    .where('g.display_name', '=', groupName)
    .execute()
  return rows.map((r) => r.user_name).sort()
}
