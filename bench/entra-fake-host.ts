/**
 * The Graph fake for bench/connectors.ts, in a process of its own so that its memory (the whole tenant,
 * the change log, rendered pages) and its CPU stay out of the measured process. Started with an IPC
 * channel: it seeds the tenant, reports how to reach it and what a sync of it must produce, then takes
 * commands (`mutate`: the 1,000 changes of the delta phase) and answers each with what the engine
 * should make of them. Everything is computed here, from the tenant as seeded and as changed, so the
 * measured process holds no copy of it.
 */
import { startGraphFake, type GraphFake, type GraphUser } from '../test/fakes/graph/graph-fake'
import { seedOrg } from '../test/fakes/graph/seed-org'

/** What the person of a user must look like after an apply; null fields are checked as null. */
export interface ExpectedPerson {
  userName: string
  status: 'active' | 'suspended' | 'deprovisioned'
  title: string | null
  department: string | null
  manager: string | null
  /** Why this one is checked (the kind of change, or "unchanged"). */
  why: string
}

export interface ExpectedMembership {
  group: string
  userName: string
  member: boolean
}

export interface FakeReady {
  type: 'ready'
  seedMs: number
  config: {
    tenantId: string
    clientId: string
    clientSecret: string
    authorityHost: string
    graphBaseUrl: string
  }
  ca: string
  full: {
    users: number
    enabled: number
    departments: number
    groups: number
    /** Group members that are enabled users (a disabled user has no person to be a member). */
    memberships: number
    /** Every group member as listed, disabled ones included: what the connector alone reads. */
    listedMemberships: number
    /** Enabled users whose manager is an enabled user: the manager links a first plan makes. */
    managerLinks: number
    /** Warnings a first plan must give: members and managers that are disabled users. */
    warnings: number
    sample: ExpectedPerson[]
  }
}

/** The plan summary's counts, as an incremental plan of the changes must have them. */
export type ExpectedSummary = Record<string, number>

export interface FakeMutated {
  type: 'mutated'
  ms: number
  changes: Record<string, number>
  summary: ExpectedSummary
  people: ExpectedPerson[]
  memberships: ExpectedMembership[]
  /** Changed users (title, department) whose manager is disabled: the plan warns about each. */
  warnings: number
  /** After the apply: active people, and identities not removed. */
  activePeople: number
  liveIdentities: number
}

export type HostCommand = { type: 'mutate' } | { type: 'stop' }
export type HostMessage = FakeReady | FakeMutated | { type: 'error'; message: string }

function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

const USERS = positiveInt(process.env.FAKE_USERS, 100_000)
const DEPARTMENTS = positiveInt(process.env.FAKE_DEPARTMENTS, 2_000)
const GROUPS = positiveInt(process.env.FAKE_GROUPS, 200)
/** Graph's users/delta answers at most 999 objects a page, what the connector asks for. */
const PAGE_SIZE = 999

function send(message: HostMessage): void {
  process.send?.(message)
}

/**
 * The department path as the engine stores it: the attribute split on "/" (the connector's default
 * delimiter), names trimmed. Seeded names hold no "/" or "\", so no escaping is needed.
 */
function path(department: string | null | undefined): string | null {
  if (!department) return null
  const names = department
    .split('/')
    .map((n) => n.trim())
    .filter((n) => n !== '')
  return names.length ? names.join('/') : null
}

class Tenant {
  readonly byId = new Map<string, GraphUser>()
  readonly reports = new Map<string, number>()
  readonly groupsOf = new Map<string, string[]>()
  readonly groups: { id: string; members: Set<string> }[] = []

  constructor(
    readonly fake: GraphFake,
    users: GraphUser[],
    groups: { id: string; memberIds: string[] }[],
  ) {
    for (const u of users) {
      this.byId.set(u.id, u)
      if (u.managerId) this.reports.set(u.managerId, (this.reports.get(u.managerId) ?? 0) + 1)
    }
    for (const g of groups) {
      this.groups.push({ id: g.id, members: new Set(g.memberIds) })
      for (const m of g.memberIds) this.groupsOf.set(m, [...(this.groupsOf.get(m) ?? []), g.id])
    }
  }

  enabled(id: string | null | undefined): boolean {
    return !!id && this.byId.get(id)?.accountEnabled !== false
  }

  expected(u: GraphUser, why: string, status: ExpectedPerson['status'] = 'active'): ExpectedPerson {
    const manager = u.managerId && this.enabled(u.managerId) ? this.byId.get(u.managerId)! : undefined
    return {
      userName: u.userPrincipalName,
      status,
      title: u.jobTitle ?? null,
      department: path(u.department),
      manager: manager?.userPrincipalName ?? null,
      why,
    }
  }
}

function fullExpectations(t: Tenant, users: GraphUser[]): FakeReady['full'] {
  const departments = new Set<string>()
  let enabled = 0
  let managerLinks = 0
  let warnings = 0
  for (const u of users) {
    const p = path(u.department)
    // Every prefix is a department of its own (disabled users' departments are made too).
    if (p)
      p.split('/').forEach((_, i, names) =>
        departments.add(
          names
            .slice(0, i + 1)
            .join('/')
            .toLowerCase(),
        ),
      )
    if (u.accountEnabled === false) continue
    enabled++
    if (u.managerId && t.enabled(u.managerId)) managerLinks++
    else if (u.managerId) warnings++
  }
  let memberships = 0
  let listed = 0
  for (const g of t.groups) {
    for (const m of g.members) {
      listed++
      if (t.enabled(m)) memberships++
      else warnings++
    }
  }
  // 100 enabled users: the first heads (the top of the tree), then a stride through everyone.
  const sample: ExpectedPerson[] = []
  const picked = new Set<number>()
  for (let j = 0, i = 0; sample.length < Math.min(100, enabled) && j < 2 * users.length; j++) {
    i = j < 10 ? j : (i + 7919) % users.length
    const u = users[i]!
    if (u.accountEnabled === false || picked.has(i)) continue
    picked.add(i)
    sample.push(t.expected(u, i < DEPARTMENTS ? 'head' : 'staff'))
  }
  return {
    users: users.length,
    enabled,
    departments: departments.size,
    groups: t.groups.length,
    memberships,
    listedMemberships: listed,
    managerLinks,
    warnings,
    sample,
  }
}

/**
 * The delta phase's 1,000 changes: 400 title changes, 200 department moves, 150 joiners (10 of them
 * into a new department path of 1 + 5 departments), 100 soft deletes, 50 hard deletes, 50 manager
 * changes, 25 member additions and 25 removals. Users changed are enabled staff nobody reports to,
 * each changed once, so no change spills into another (a hard delete of a manager would also clear
 * their reports' manager) and every expectation is exact.
 */
function mutate(t: Tenant, users: GraphUser[]): FakeMutated {
  const started = performance.now()
  const fake = t.fake
  const heads = users.slice(0, Math.min(DEPARTMENTS, users.length))
  const pool: GraphUser[] = []
  // A stride through the staff, so the changes are spread over departments and listing pages.
  const staff = users.slice(heads.length)
  const stride = 7919 % staff.length || 1
  for (let k = 0, i = 0; k < staff.length && pool.length < 2000; k++, i = (i + stride) % staff.length) {
    const u = staff[i]!
    if (u.accountEnabled !== false && !t.reports.has(u.id) && !pool.includes(u)) pool.push(u)
  }
  if (pool.length < 850) throw new Error(`only ${pool.length} users can be changed: seed a larger tenant`)
  let at = 0
  const take = (n: number) => pool.slice(at, (at += n))
  const titles = take(400)
  const moves = take(200)
  const soft = take(100)
  const hard = take(50)
  const rewired = take(50)
  // Half of the member changes are removals: users who are in a group (most users are in none).
  const rest = pool.slice(at)
  const leaving = rest.filter((u) => (t.groupsOf.get(u.id) ?? []).length > 0).slice(0, 25)
  const joining = rest.filter((u) => !leaving.includes(u)).slice(0, 50 - leaving.length)
  const members = [...leaving, ...joining]
  const paths = [...new Set(users.map((u) => u.department).filter((d): d is string => !!d))]
  const people: ExpectedPerson[] = []
  const memberships: ExpectedMembership[] = []
  const every = <T>(list: T[], n: number) =>
    list.filter((_, i) => i % Math.max(1, Math.floor(list.length / n)) === 0)

  for (const u of titles) fake.updateUser(u.id, { jobTitle: `Senior ${u.jobTitle ?? 'Staff'}` })
  for (const [k, u] of moves.entries()) {
    let target = paths[(k * 613 + 17) % paths.length]!
    if (target === u.department) target = paths[(k * 613 + 18) % paths.length]!
    fake.updateUser(u.id, { department: target })
  }
  const joiners: GraphUser[] = []
  for (let k = 0; k < 150; k++) {
    const department =
      k < 10 ? `Head Office/Bench Joiners/Team ${(k % 5) + 1}` : paths[(k * 389) % paths.length]!
    joiners.push(
      fake.addUser({
        userPrincipalName: `joiner.${k}@contoso.example`,
        mail: `joiner.${k}@contoso.example`,
        displayName: `Joiner ${k}`,
        givenName: 'Joiner',
        surname: String(k),
        department,
        jobTitle: 'New Starter',
        employeeId: `J${k}`,
        accountEnabled: true,
        managerId: heads[(k * 31) % heads.length]!.id,
      }),
    )
  }
  for (const u of soft) fake.softDeleteUser(u.id)
  let hardMemberships = 0
  for (const u of hard) {
    hardMemberships += (t.groupsOf.get(u.id) ?? []).length
    fake.hardDeleteUser(u.id)
  }
  for (const [k, u] of rewired.entries()) {
    let boss = heads[(k * 53 + 7) % heads.length]!
    if (boss.id === u.managerId) boss = heads[(k * 53 + 8) % heads.length]!
    fake.setManager(u.id, boss.id)
  }
  // Member changes: 25 removals from groups the user is in, 25 additions to a group they are not in.
  const added: { group: string; user: GraphUser }[] = []
  const removed: { group: string; user: GraphUser }[] = []
  for (const [k, u] of members.entries()) {
    const mine = t.groupsOf.get(u.id) ?? []
    if (leaving.includes(u)) {
      fake.removeMembers(mine[0]!, [u.id])
      removed.push({ group: mine[0]!, user: u })
    } else {
      const g = t.groups.find((x, i) => i >= k % t.groups.length && !x.members.has(u.id)) ?? t.groups[0]!
      fake.addMembers(g.id, [u.id])
      added.push({ group: g.id, user: u })
    }
  }

  const current = (u: GraphUser) => fake.getUser(u.id)!
  for (const u of every(titles, 20)) people.push(t.expected(current(u), 'title changed'))
  for (const u of every(moves, 20)) people.push(t.expected(current(u), 'moved'))
  for (const u of every(joiners, 20)) people.push(t.expected(u, 'joiner'))
  for (const u of every(soft, 10)) people.push(t.expected(u, 'soft-deleted', 'suspended'))
  for (const u of every(hard, 10)) people.push(t.expected(u, 'hard-deleted', 'deprovisioned'))
  for (const u of every(rewired, 10)) people.push(t.expected(current(u), 'new manager'))
  for (const a of added)
    memberships.push({ group: a.group, userName: a.user.userPrincipalName, member: true })
  for (const r of removed)
    memberships.push({ group: r.group, userName: r.user.userPrincipalName, member: false })
  for (const u of every(hard, 10))
    for (const g of t.groupsOf.get(u.id) ?? [])
      memberships.push({ group: g, userName: u.userPrincipalName, member: false })
  const changed = new Set([...pool.slice(0, at), ...members])
  for (const u of every(staff, 30)
    .filter((u) => u.accountEnabled !== false && !changed.has(u))
    .slice(0, 20))
    people.push(t.expected(current(u), 'unchanged'))

  const enabled = users.filter((u) => u.accountEnabled !== false).length
  return {
    type: 'mutated',
    ms: performance.now() - started,
    changes: {
      'title changes': titles.length,
      'department moves': moves.length,
      joiners: joiners.length,
      'soft deletes': soft.length,
      'hard deletes': hard.length,
      'manager changes': rewired.length,
      'members added': added.length,
      'members removed': removed.length,
    },
    summary: {
      'people.create': joiners.length,
      'people.update': titles.length,
      'people.move': moves.length,
      'people.manager': joiners.length + rewired.length,
      'people.suspend': soft.length,
      'people.reactivate': 0,
      'people.deprovision': hard.length,
      'departments.create': 1 + 5,
      'departments.rename': 0,
      'departments.move': 0,
      'departments.delete': 0,
      'groups.create': 0,
      'groups.update': 0,
      'groups.delete': 0,
      'memberships.added': added.length,
      'memberships.removed': removed.length + hardMemberships,
      // A manager is part of the stored record too, so a new one updates the identity.
      'identities.update': titles.length + moves.length + rewired.length,
      // A joiner's identity is made with its person, and counted.
      'identities.create': joiners.length,
      'identities.remove': soft.length + hard.length,
    },
    people,
    memberships,
    warnings: [...titles, ...moves].filter((u) => u.managerId && !t.enabled(u.managerId)).length,
    activePeople: enabled + joiners.length - soft.length - hard.length,
    liveIdentities: users.length + joiners.length - soft.length - hard.length,
  }
}

async function main(): Promise<void> {
  const started = performance.now()
  const fake = await startGraphFake({ pageSize: PAGE_SIZE })
  const org = seedOrg({ users: USERS, departments: DEPARTMENTS, groups: GROUPS, seed: 1 })
  fake.seed(org)
  const tenant = new Tenant(fake, org.users, org.groups)
  const full = fullExpectations(tenant, org.users)
  send({
    type: 'ready',
    seedMs: performance.now() - started,
    config: {
      tenantId: fake.tenantId,
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      authorityHost: fake.authorityHost,
      graphBaseUrl: fake.graphBaseUrl,
    },
    ca: fake.ca,
    full,
  })
  // The request log grows by one entry per page; nothing else accumulates between rounds.
  process.on('message', (command: HostCommand) => {
    try {
      if (command.type === 'mutate') send(mutate(tenant, org.users))
      else void fake.close().finally(() => process.exit(0))
    } catch (err) {
      send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
  })
  // The bench process going away (however it ends) must not leave the fake running.
  process.on('disconnect', () => process.exit(0))
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  process.exit(1)
})
