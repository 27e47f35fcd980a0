import type { RemoteChange } from '../../src/sync/connector'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'
import {
  admin,
  allChanges,
  dept,
  fakeSource,
  orgState,
  personByUserName,
  plan,
  planAndApply,
  sourceState,
  u,
} from '../helpers/sync-fixture'

/**
 * Incremental sources (Graph delta, AD uSNChanged): after a full listing, each plan reads only what
 * changed since the token the last applied plan left, and plans only that.
 */
describeEachDatabase('sync: incremental rounds', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const person = (userName: string) => personByUserName(q(), userName)

  const base = {
    departments: [dept('eng', 'Engineering'), dept('ops', 'Operations')],
    users: [
      u('ada', { departmentExternalId: 'eng', title: 'Engineer', employeeNumber: 'E1' }),
      u('bob', { departmentExternalId: 'eng', manager: { externalId: 'ada' } }),
      u('cy', { departmentExternalId: 'ops' }),
      u('dee', { departmentExternalId: 'ops' }),
      u('eve', { departmentExternalId: 'ops' }),
    ],
    groups: [{ externalId: 'g1', displayName: 'Everyone', memberExternalIds: ['ada', 'bob', 'cy'] }],
  }

  async function trackingSource(rounds: RemoteChange[][], extra: Record<string, unknown> = {}) {
    const id = await fakeSource(
      app,
      { ...base, ...extra, incremental: { rounds } } as Parameters<typeof fakeSource>[1],
      { policy: { deletionThreshold: { count: 100, share: 1 } }, mode: 'auto' },
    )
    const first = await planAndApply(app, id)
    expect(first).toMatchObject({ listing: 'full', resyncReason: null })
    expect(await sourceState(q(), id)).toMatchObject({ cursor: 'round:0' })
    return id
  }

  test('a round plans exactly what it reports, and the cursor moves on only when the plan applies', async () => {
    const source = await trackingSource([
      [
        { kind: 'user', user: { ...u('fay'), departmentPath: ['Head Office', 'Finance'] } as never },
        // Only what changed: bob's title. His name, department and manager stay as they are.
        { kind: 'user.partial', user: { externalId: 'bob', title: 'Lead' } },
        { kind: 'user.partial', user: { externalId: 'ada', manager: { externalId: 'cy' } } },
        { kind: 'user.removed', externalId: 'dee', deleted: false },
        { kind: 'user.removed', externalId: 'eve', deleted: true },
        { kind: 'user.removed', externalId: 'never-seen', deleted: true },
        { kind: 'group.delta', externalId: 'g1', added: ['fay'], removed: ['cy'] },
      ],
    ])
    const before = await orgState(q())
    const p = await plan(app, source)
    expect(p).toMatchObject({
      status: 'ready',
      listing: 'incremental',
      summary: {
        people: { create: 1, update: 1, suspend: 1, deprovision: 1, manager: 1, move: 0 },
        departments: { create: 2, delete: 0 },
        identities: { remove: 2 },
        memberships: { added: 1, removed: 1 },
      },
    })
    // Planning changes nothing, the cursor included.
    expect(await orgState(q())).toEqual(before)

    await app.services.plans.apply(p.id, admin)
    expect(await sourceState(q(), source)).toMatchObject({ cursor: 'round:1' })
    const bob = await person('bob@corp.test')
    expect(bob).toMatchObject({
      title: 'Lead',
      displayName: 'bob',
      department: { name: 'Engineering' },
      manager: { userName: 'ada@corp.test' },
    })
    expect(await person('ada@corp.test')).toMatchObject({
      manager: { userName: 'cy@corp.test' },
      title: 'Engineer',
    })
    expect(await person('fay@corp.test')).toMatchObject({ department: { path: 'Head Office/Finance' } })
    expect(await person('dee@corp.test')).toMatchObject({ status: 'suspended' })
    expect(await person('eve@corp.test')).toMatchObject({ status: 'deprovisioned' })
    const members = await q()
      .selectFrom('group_members')
      .innerJoin('people', 'people.id', 'group_members.person_id')
      .select('people.user_name')
      .orderBy('people.user_name')
      .execute()
    expect(members.map((m) => m.user_name)).toEqual(['ada@corp.test', 'bob@corp.test', 'fay@corp.test'])

    // Past the last round nothing changed: an empty incremental plan.
    const quiet = await plan(app, source)
    expect(quiet).toMatchObject({ status: 'ready', listing: 'incremental', changeCount: 0 })
  })

  test('a restored user comes back whole; a user reported twice counts once, the last report winning', async () => {
    const source = await trackingSource([
      [{ kind: 'user.removed', externalId: 'cy', deleted: false }],
      [
        { kind: 'user.partial', user: { externalId: 'ada', title: 'First' } },
        { kind: 'user', user: { ...u('cy', { departmentExternalId: 'eng' }) } as never },
        { kind: 'user.partial', user: { externalId: 'ada', displayName: 'Ada L.' } },
        { kind: 'user.partial', user: { externalId: 'ada', title: 'Second' } },
      ],
    ])
    await planAndApply(app, source)
    expect(await person('cy@corp.test')).toMatchObject({ status: 'suspended' })

    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ people: { reactivate: 1, move: 1, update: 1 } })
    const updates = (await allChanges(app, p.id)).filter((c) => c.kind === 'person.update')
    expect(updates.map((c) => c.after)).toEqual([{ displayName: 'Ada L.', title: 'Second' }])
    await app.services.plans.apply(p.id, admin)
    expect(await person('cy@corp.test')).toMatchObject({
      status: 'active',
      department: { name: 'Engineering' },
    })
    expect(await person('ada@corp.test')).toMatchObject({ title: 'Second', displayName: 'Ada L.' })
  })

  test('department changes in a round: a new one, a rename and a removal of an empty one', async () => {
    const source = await trackingSource([
      [
        { kind: 'department', department: dept('qa', 'Quality', 'eng') },
        { kind: 'department', department: dept('ops', 'Operations & Support') },
        { kind: 'user', user: u('gus', { departmentExternalId: 'qa' }) as never },
      ],
      [
        { kind: 'user.partial', user: { externalId: 'gus', departmentExternalId: 'ops' } },
        { kind: 'department.removed', externalId: 'qa' },
      ],
    ])
    const first = await plan(app, source)
    expect(first.summary).toMatchObject({ departments: { create: 1, rename: 1 }, people: { create: 1 } })
    await app.services.plans.apply(first.id, admin)
    expect(await person('gus@corp.test')).toMatchObject({ department: { path: 'Engineering/Quality' } })

    const second = await plan(app, source)
    expect(second.summary).toMatchObject({ departments: { delete: 1 }, people: { move: 1 } })
    await app.services.plans.apply(second.id, admin)
    expect(await person('gus@corp.test')).toMatchObject({ department: { name: 'Operations & Support' } })
    expect(
      await q().selectFrom('departments').select('name').where('external_id', '=', 'qa').execute(),
    ).toEqual([])
  })

  test('a roster in the round: users the source no longer lists are leavers, named ones are planned as reported', async () => {
    const source = await trackingSource([
      [
        { kind: 'user.roster', externalIds: ['ada', 'bob'] },
        { kind: 'user.roster', externalIds: ['cy'] },
        { kind: 'user', user: u('fay') as never },
        { kind: 'user.partial', user: { externalId: 'cy', title: 'Lead' } },
      ],
    ])
    const p = await plan(app, source)
    // dee and eve are on no roster page: gone. fay is new (named, though not on the roster).
    expect(p.summary).toMatchObject({
      people: { create: 1, update: 1, suspend: 2 },
      identities: { remove: 2 },
    })
    const suspended = (await allChanges(app, p.id)).filter((c) => c.kind === 'person.suspend')
    expect(suspended.map((c) => c.after)).toEqual([
      { status: 'suspended', reason: expect.stringContaining('no longer in') },
      { status: 'suspended', reason: expect.stringContaining('no longer in') },
    ])
    await app.services.plans.apply(p.id, admin)
    expect(await person('dee@corp.test')).toMatchObject({ status: 'suspended' })
    expect(await person('fay@corp.test')).toMatchObject({ status: 'active' })
  })

  test('a token the source no longer accepts makes a full resync that changes nothing spurious, and says so', async () => {
    const source = await trackingSource([])
    await q().updateTable('sources').set({ cursor: 'expired-token' }).where('id', '=', source).execute()
    const before = await orgState(q())

    const run = await app.services.runs.run(source, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({
      status: 'succeeded',
      listing: 'full',
      resyncReason: 'fake: delta token expired-token is no longer valid',
    })
    const p = await app.services.plans.get(run!.planId!)
    expect(p).toMatchObject({
      changeCount: 0,
      listing: 'full',
      resyncReason: expect.stringContaining('expired'),
    })
    // Only the cursor (a fresh token) and the generation moved; the org tree is as it was.
    const after = await orgState(q())
    expect({ ...after, sources: [], audit: after.audit.slice(0, before.audit.length) }).toEqual({
      ...before,
      sources: [],
    })
    expect(await sourceState(q(), source)).toMatchObject({ cursor: 'round:0' })
    const runs = await app.services.runs.list(source, 10)
    expect(runs[0]).toMatchObject({ listing: 'full', resyncReason: expect.stringContaining('expired-token') })
  })

  test('a round failing part-way plans nothing and keeps the cursor; a forced full listing is available', async () => {
    const rounds: RemoteChange[][] = [
      [1, 2, 3].map((i) => ({ kind: 'user', user: u(`new${i}`) }) as RemoteChange),
    ]
    const source = await fakeSource(
      app,
      {
        ...base,
        pageSize: 2,
        fail: { what: 'changes', page: 1, kind: 'permanent' },
        incremental: { rounds },
      } as never,
      { policy: { deletionThreshold: { count: 100, share: 1 } } },
    )
    // The fake fails only its change pages: the first, full, plan works.
    await planAndApply(app, source)
    const state = await orgState(q())
    const p = await plan(app, source)
    expect(p).toMatchObject({ status: 'failed', listing: 'incremental', changeCount: 0 })
    expect(await orgState(q())).toEqual(state)
    expect(await sourceState(q(), source)).toMatchObject({ cursor: 'round:0' })

    const full = await app.services.plans.createPlan(source, { trigger: 'manual', actor: admin, full: true })
    expect(full).toMatchObject({ status: 'ready', listing: 'full', changeCount: 0 })
  })

  test('changing the source settings resets the cursor: the next plan lists in full', async () => {
    const source = await trackingSource([[{ kind: 'user', user: u('zed') as never }]])
    await app.services.sources.update(admin, source, { config: { pageSize: 2 } })
    expect(await sourceState(q(), source)).toMatchObject({ cursor: null })
    const p = await plan(app, source)
    expect(p).toMatchObject({ listing: 'full', changeCount: 0 })
  })
})
