import { Agent, fetch as undiciFetch } from 'undici'
import { entraConnectorWith } from '../../../connectors/entra'
import { startGraphFake, type GraphFake, type GraphUser } from '../../fakes/graph/graph-fake'
import { seedOrg } from '../../fakes/graph/seed-org'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'
import { admin, allChanges, orgState, personByUserName, plan, sourceState } from '../../helpers/sync-fixture'

/**
 * The Entra ID connector end to end: the Graph fake (delta queries, the identity platform over TLS)
 * → plans → the org tree, on both stores.
 */
describeEachDatabase('entra: Graph delta into the org tree', (db, kind) => {
  let fake: GraphFake
  let app: TestApp
  const SEEDED = 2000

  let agent: Agent
  // Each test gets a tenant of its own (a fresh fake); the app's fetch trusts whichever is current.
  const trusting = ((url: string, init?: object) =>
    undiciFetch(url, { ...init, dispatcher: agent })) as unknown as typeof fetch

  beforeAll(async () => {
    app = await startTestApp(db(), {
      connectors: { entra: entraConnectorWith({ attempts: 3, baseDelayMs: 10, maxDelayMs: 2000 }) },
      fetch: trusting,
    })
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(async () => {
    await db().reset()
    fake = await startGraphFake({ pageSize: 250 })
    agent = new Agent({ connect: { ca: fake.ca } })
  })
  afterEach(async () => {
    await fake.close()
    await agent.close()
  })

  const q = () => db().handle.db
  const person = (upn: string) => personByUserName(q(), upn)

  async function entraSource(extra: Record<string, unknown> = {}) {
    const s = await app.services.sources.create(admin, {
      type: 'entra',
      name: `Entra ${Math.random().toString(36).slice(2, 8)}`,
      config: {
        tenantId: fake.tenantId,
        clientId: fake.clientId,
        clientSecret: fake.clientSecret,
        authorityHost: fake.authorityHost,
        graphBaseUrl: fake.graphBaseUrl,
        ...extra,
      },
      policy: { deletionThreshold: { count: 1000, share: 1 } },
      mode: 'auto',
    })
    return s.id
  }

  function seedTenant(users = SEEDED) {
    const org = seedOrg({ users, departments: 40, groups: 5, seed: 7 })
    fake.seed(org)
    return org
  }

  async function run(source: string) {
    const r = await app.services.runs.run(source, { trigger: 'manual', actor: admin })
    if (!r) throw new Error('run not claimed')
    return r
  }

  test('a full sync, then a delta round with joiners, movers, leavers, a manager change, a restore and a removed member', async () => {
    const org = seedTenant()
    const source = await entraSource()
    const first = await run(source)
    expect(first).toMatchObject({ status: 'succeeded', listing: 'full' })
    // Every user is an identity; disabled ones the org never had get no person.
    const count = async (table: 'people' | 'identities') =>
      Number(
        (
          await q()
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
    expect(await count('identities')).toBe(SEEDED)
    expect(await count('people')).toBe(org.users.filter((u) => u.accountEnabled !== false).length)
    // Departments from the "/"-separated department attribute, managers from manager@delta.
    const sample = org.users.find((u) => u.managerId && u.department?.includes('/'))!
    const boss = org.users.find((u) => u.id === sample.managerId)!
    expect(await person(sample.userPrincipalName)).toMatchObject({
      department: { path: sample.department },
      manager: { userName: boss.userPrincipalName },
      title: sample.jobTitle ?? null,
      employeeNumber: sample.employeeId ?? null,
    })
    expect((await sourceState(q(), source)).cursor).toContain('deltatoken')

    // A first delta: one user soft-deleted (to be restored in the next round).
    const active = org.users.filter(
      (u) => u.accountEnabled !== false && !org.users.some((o) => o.managerId === u.id),
    )
    const [restored, soft, hard, disabledNow, mover, rewired] = active
    // A hard delete also takes the user out of their groups (Graph reports those as removed members).
    const hardGroups = org.groups.filter((g) => g.memberIds.includes(hard!.id)).length
    fake.softDeleteUser(restored!.id)
    expect(await run(source)).toMatchObject({ status: 'succeeded', listing: 'incremental' })
    expect(await person(restored!.userPrincipalName)).toMatchObject({ status: 'suspended' })

    // The round the issue names.
    const joiner1 = fake.addUser({
      userPrincipalName: 'new.one@contoso.test',
      displayName: '新 一',
      department: 'Brand New/Team',
      accountEnabled: true,
      managerId: boss.id,
    })
    const joiner2 = fake.addUser({
      userPrincipalName: 'new.two@contoso.test',
      displayName: 'New Two',
      accountEnabled: true,
    })
    const target = org.users.find((u) => u.department && u.department !== mover!.department)!.department!
    fake.updateUser(mover!.id, { department: target })
    fake.softDeleteUser(soft!.id)
    fake.hardDeleteUser(hard!.id)
    fake.updateUser(disabledNow!.id, { accountEnabled: false })
    const newBoss = active[10]!
    fake.setManager(rewired!.id, newBoss.id)
    fake.restoreUser(restored!.id)
    const group = org.groups.find((g) => g.memberIds.length > 2 && !g.memberIds.includes(hard!.id))!
    const leavingMember = group.memberIds.find((m) => m !== hard!.id && m !== soft!.id)!
    fake.removeMembers(group.id, [leavingMember])

    const p = await plan(app, source)
    expect(p).toMatchObject({ status: 'ready', listing: 'incremental' })
    expect(p.summary).toMatchObject({
      people: { create: 2, move: 1, suspend: 2, deprovision: 1, reactivate: 1, manager: 2, update: 0 },
      departments: { create: 2 },
      memberships: { removed: 1 + hardGroups },
    })
    const changes = await allChanges(app, p.id)
    const managerChanges = changes.filter((c) => c.kind === 'person.manager')
    expect(managerChanges).toHaveLength(2) // the rewired report, and the joiner's
    await app.services.plans.apply(p.id, admin)

    expect(await person(joiner1.userPrincipalName)).toMatchObject({
      displayName: '新 一',
      department: { path: 'Brand New/Team' },
      manager: { userName: boss.userPrincipalName },
    })
    expect(await person(joiner2.userPrincipalName)).toMatchObject({ status: 'active', department: null })
    expect(await person(mover!.userPrincipalName)).toMatchObject({ department: { path: target } })
    expect(await person(soft!.userPrincipalName)).toMatchObject({ status: 'suspended' })
    expect(await person(hard!.userPrincipalName)).toMatchObject({ status: 'deprovisioned' })
    expect(await person(disabledNow!.userPrincipalName)).toMatchObject({ status: 'suspended' })
    expect(await person(restored!.userPrincipalName)).toMatchObject({ status: 'active' })
    expect(await person(rewired!.userPrincipalName)).toMatchObject({
      manager: { userName: newBoss.userPrincipalName },
    })
    const leaver = await person(fake.getUser(leavingMember)!.userPrincipalName)
    const groupRow = await q()
      .selectFrom('groups')
      .select('id')
      .where('external_id', '=', group.id)
      .executeTakeFirstOrThrow()
    const stillMember = await q()
      .selectFrom('group_members')
      .select('person_id')
      .where('group_id', '=', groupRow.id)
      .where('person_id', '=', leaver.id)
      .execute()
    expect(stillMember).toEqual([])

    // Nothing more changed: the next round is empty.
    expect(await plan(app, source)).toMatchObject({ listing: 'incremental', changeCount: 0 })
  }, 180_000)

  test('an expired delta token makes a full resync that changes nothing spurious, reported in the run', async () => {
    seedTenant(300)
    const source = await entraSource()
    await run(source)
    const before = await orgState(q())
    fake.quirks.expireDeltaTokens = true
    const r = await run(source)
    expect(r).toMatchObject({
      status: 'succeeded',
      listing: 'full',
      resyncReason: expect.stringContaining('delta token'),
    })
    const p = await app.services.plans.get(r.planId!)
    expect(p.changeCount).toBe(0)
    const after = await orgState(q())
    expect(after.people).toEqual(before.people)
    expect(after.departments).toEqual(before.departments)
    expect(after.members).toEqual(before.members)
  }, 60_000)

  test('throttling: 429s with Retry-After are waited out and the run completes; past the retries, a clean failure', async () => {
    seedTenant(300)
    const source = await entraSource()
    fake.quirks.throttle = { status: 429, times: 2, retryAfterSeconds: 0 }
    const done = await run(source)
    expect(done).toMatchObject({ status: 'succeeded' })
    expect(fake.requests.filter((r) => r.status === 429)).toHaveLength(2)

    fake.addUser({ userPrincipalName: 'late@contoso.test', accountEnabled: true })
    const before = await orgState(q())
    fake.quirks.throttle = { status: 503, times: 1000, retryAfterSeconds: 0 }
    const failed = await run(source)
    expect(failed).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^entra: user changes: 503 .*after 3 retries/),
    })
    const after = await orgState(q())
    expect([after.people, after.identities, after.members]).toEqual([
      before.people,
      before.identities,
      before.members,
    ])
    expect((await sourceState(q(), source)).cursor).toBe(before.sources.find((s) => s.id === source)!.cursor)
  }, 60_000)

  test('check: an expired secret, a wrong secret and a missing permission each say what to do', async () => {
    const source = await entraSource()
    expect(await app.services.plans.check(source, new AbortController().signal)).toMatchObject({ ok: true })

    fake.quirks.secretExpired = true
    const expired = await app.services.plans.check(source, new AbortController().signal)
    expect(expired.ok).toBe(false)
    expect(expired.checks[0]!.message).toMatch(/^entra: client secret expired/)
    fake.quirks.reset()

    const wrong = await entraSource({ clientSecret: 'the-secret-id-not-its-value' })
    const bad = await app.services.plans.check(wrong, new AbortController().signal)
    expect(bad.checks[0]!.message).toContain("invalid client secret (use the secret's value, not its id)")

    fake.quirks.denyUsers = true
    const denied = await app.services.plans.check(source, new AbortController().signal)
    expect(denied.ok).toBe(false)
    expect(denied.checks.find((c) => c.name === 'users')!.message).toMatch(/User\.Read\.All.*admin consent/)
  }, 60_000)

  test('scoped to groups: only their members are synced, and every run lists in full', async () => {
    const org = seedTenant(300)
    const scope = org.groups[0]!
    const source = await entraSource({ scopeGroups: [scope.id] })
    expect(await run(source)).toMatchObject({ status: 'succeeded', listing: 'full' })
    const upns = (await q().selectFrom('people').select('user_name').execute()).map((p) => p.user_name).sort()
    const expected = scope.memberIds.map(
      (id) => org.users.find((u: GraphUser) => u.id === id)!.userPrincipalName,
    )
    expect(upns).toEqual([...expected].sort())
    expect((await sourceState(q(), source)).cursor).toBeNull()
  }, 60_000)

  // The 20,000-user tenant on PostgreSQL; PGlite (in-process, slower to write) takes 5,000.
  const big = kind === 'postgres' ? 20_000 : 5_000
  test(`${big.toLocaleString('en')} users through every quirk: repeats, shuffled order, empty pages and groups spread over pages`, async () => {
    const org = seedOrg({ users: big, departments: 200, groups: 8, seed: 11 })
    fake.seed(org)
    fake.pageSize = 999
    fake.membersPerPage = 700
    Object.assign(fake.quirks, { duplicates: true, reorder: true, emptyPages: true })
    const source = await entraSource()
    expect(await run(source)).toMatchObject({ status: 'succeeded', listing: 'full' })

    const enabled = org.users.filter((u) => u.accountEnabled !== false).length
    const people = await q().selectFrom('people').select('id').execute()
    expect(people).toHaveLength(enabled)
    const withManager = await q()
      .selectFrom('people')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('manager_id', 'is not', null)
      .executeTakeFirstOrThrow()
    // Managers and members as Graph has them, among people the org has (disabled users never became one).
    const enabledIds = new Set(org.users.filter((u) => u.accountEnabled !== false).map((u) => u.id))
    expect(Number(withManager.n)).toBe(
      org.users.filter((u) => enabledIds.has(u.id) && u.managerId && enabledIds.has(u.managerId)).length,
    )
    for (const g of org.groups) {
      const rows = await q()
        .selectFrom('group_members')
        .innerJoin('groups', 'groups.id', 'group_members.group_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('groups.external_id', '=', g.id)
        .executeTakeFirstOrThrow()
      expect(Number(rows.n)).toBe(g.memberIds.filter((m) => enabledIds.has(m)).length)
    }

    // A delta through the same quirks changes exactly what changed.
    const someone = org.users.find((u) => u.accountEnabled !== false)!
    fake.updateUser(someone.id, { jobTitle: 'Chief Quirk Officer' })
    const p = await plan(app, source)
    expect(p).toMatchObject({ listing: 'incremental', changeCount: 2 }) // identity.update + person.update
    expect(p.summary).toMatchObject({ people: { update: 1 } })
  }, 240_000)
})
