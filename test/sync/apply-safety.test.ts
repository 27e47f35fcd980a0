import { fakeConnector, type FakeConfig } from '../../connectors/fake'
import { createLogger } from '../../src/logger'
import type { ConnectorDefinition } from '../../src/sync/connector'
import { PlanService } from '../../src/sync/plan-service'
import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import {
  admin,
  allChanges,
  dept,
  fakeSource,
  orgState,
  personByUserName,
  plan,
  planAndApply,
  reseed,
  sourceState,
  u,
} from '../helpers/sync-fixture'

const people = (...ids: string[]) => ids.map((id) => u(id))

describeEachDatabase('sync: the deletion guard', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const status = async (id: string) => (await personByUserName(q(), `${id}@corp.test`)).status

  test('a plan suspending more people than the count threshold is held; apply is refused, approve applies it', async () => {
    const source = await fakeSource(
      app,
      { users: people('a', 'b', 'c', 'd') },
      { policy: { deletionThreshold: { count: 2, share: 1 } } },
    )
    await planAndApply(app, source)
    await reseed(app, source, { users: people('a') })
    const p = await plan(app, source)
    expect(p.status).toBe('held')
    expect(p.summary).toMatchObject({ people: { suspend: 3 } })
    expect(p.heldReason).toMatch(/would suspend or deprovision 3 of 4 people/)
    expect(p.heldReason).toMatch(/threshold of 2 people/)

    const state = await orgState(q())
    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/is held/),
    })
    expect(await orgState(q())).toEqual(state)
    expect(await app.services.plans.get(p.id)).toMatchObject({ status: 'held' })

    const approved = await app.services.plans.approve(p.id, { ...admin, name: 'approver' })
    expect(approved).toMatchObject({ status: 'applied', approvedBy: 'approver', decidedBy: 'approver' })
    expect(approved.appliedAt).toBeInstanceOf(Date)
    expect(await Promise.all(['a', 'b', 'c', 'd'].map(status))).toEqual([
      'active',
      'suspended',
      'suspended',
      'suspended',
    ])
    const audit = await q()
      .selectFrom('audit_events')
      .select(['action', 'actor_type'])
      .where('target_id', '=', p.id)
      .execute()
    expect(audit).toEqual([{ action: 'plan.approve', actor_type: 'source' }])
    // Decided once: neither approved, applied nor rejected again.
    await expect(app.services.plans.approve(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    await expect(app.services.plans.reject(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
  })

  test('the share threshold holds a plan over it and lets one at it through', async () => {
    const ten = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']
    const source = await fakeSource(app, { users: people(...ten) }) // defaults: 500 people or 20%
    await planAndApply(app, source)

    await reseed(app, source, { users: people(...ten.slice(3)) }) // 3 of 10: 30%
    const over = await plan(app, source)
    expect(over).toMatchObject({ status: 'held', summary: { people: { suspend: 3 } } })
    expect(over.heldReason).toMatch(/30%/)

    await reseed(app, source, { users: people(...ten.slice(2)) }) // 2 of 10: 20%, not over
    const at = await plan(app, source)
    expect(at).toMatchObject({ status: 'ready', heldReason: null })
    await app.services.plans.apply(at.id, admin)
    expect(await status('p0')).toBe('suspended')
    expect(await status('p2')).toBe('active')
    // The held plan was made before that apply: it is stale now, even for an approver.
    await expect(app.services.plans.approve(over.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    expect(await app.services.plans.get(over.id)).toMatchObject({ status: 'stale' })
  })

  test('people disabled at the source count towards the guard like people gone from it', async () => {
    const source = await fakeSource(
      app,
      { users: people('a', 'b', 'c') },
      { policy: { deletionThreshold: { count: 1, share: 1 } } },
    )
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('a', { active: false }), u('b', { active: false }), u('c')] })
    expect(await plan(app, source)).toMatchObject({ status: 'held', summary: { people: { suspend: 2 } } })
  })

  test('rejecting a held plan changes nothing in the org tree', async () => {
    const source = await fakeSource(
      app,
      { users: people('a', 'b', 'c') },
      { policy: { deletionThreshold: { count: 0, share: 1 } } },
    )
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('a', { title: 'New title' })] })
    const p = await plan(app, source)
    expect(p.status).toBe('held')
    const before = await orgState(q())
    const rejected = await app.services.plans.reject(p.id, { ...admin, name: 'reviewer' })
    expect(rejected).toMatchObject({ status: 'rejected', decidedBy: 'reviewer', appliedAt: null })
    const after = await orgState(q())
    expect({ ...after, audit: undefined }).toEqual({ ...before, audit: undefined })
    expect(after.audit.slice(before.audit.length)).toEqual([
      expect.objectContaining({ action: 'plan.reject', target_id: p.id }),
    ])
    expect(await status('b')).toBe('active')
    expect((await personByUserName(q(), 'a@corp.test')).title).toBeNull()
    await expect(app.services.plans.approve(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    await expect(app.services.plans.reject(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    // The next plan sees the same leavers again.
    expect(await plan(app, source)).toMatchObject({ status: 'held', summary: { people: { suspend: 2 } } })
  })

  test('protected people are flagged, not counted towards the guard, and not suspended', async () => {
    const source = await fakeSource(
      app,
      { users: people('vip', 'ceo', 'x') },
      { policy: { protectedUserNames: ['ceo@corp.test'], deletionThreshold: { count: 1, share: 1 } } },
    )
    await planAndApply(app, source)
    const vip = await personByUserName(q(), 'vip@corp.test')
    await db().store.write(admin, (w) => w.updatePerson(vip.id, { protected: true }))
    await reseed(app, source, { users: [] })
    const p = await plan(app, source)
    // One real suspension (x) is within the threshold of 1: the two protected ones do not count.
    expect(p).toMatchObject({ status: 'ready', summary: { people: { suspend: 1 }, protectedSkipped: 2 } })
    const flagged = (await allChanges(app, p.id)).filter((c) => c.protected)
    expect(flagged).toHaveLength(2)
    expect(flagged.every((c) => c.kind === 'person.suspend')).toBe(true)
    await app.services.plans.apply(p.id, admin)
    expect([await status('vip'), await status('ceo'), await status('x')]).toEqual([
      'active',
      'active',
      'suspended',
    ])
  })
})

describeEachDatabase('sync: stale plans and atomic applies', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const person = (id: string) => personByUserName(q(), `${id}@corp.test`)

  test('a plan whose target person an admin edited after planning is stale: 409, nothing applied', async () => {
    const source = await fakeSource(app, { users: [u('a'), u('b')] })
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('a', { title: 'A' }), u('b', { title: 'B' })] })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ people: { update: 2 } })
    const a = await person('a')
    await db().store.write(admin, (w) => w.updatePerson(a.id, { displayName: 'Edited by an admin' }))
    const state = await orgState(q())

    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/stale.*changed since the plan was made.*make a new plan/),
    })
    expect(await orgState(q())).toEqual(state)
    expect(await app.services.plans.get(p.id)).toMatchObject({
      status: 'stale',
      error: expect.stringContaining(a.id),
    })
    expect((await person('b')).title).toBeNull() // b's change was not applied either
    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })

    // A new plan sees the admin's edit and applies.
    const again = await planAndApply(app, source)
    expect(again.status).toBe('applied')
    expect(await person('a')).toMatchObject({ title: 'A', displayName: 'a' })
  })

  test('an edit to someone the plan does not touch leaves it applicable', async () => {
    const source = await fakeSource(app, { users: [u('a'), u('b')] })
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('a', { title: 'A' }), u('b')] })
    const p = await plan(app, source)
    const b = await person('b')
    await db().store.write(admin, (w) => w.updatePerson(b.id, { title: 'Admin title' }))
    expect(await app.services.plans.apply(p.id, admin)).toMatchObject({ status: 'applied' })
  })

  test('a department an admin renamed after planning makes a plan that moves it stale', async () => {
    const source = await fakeSource(app, { departments: [dept('x', 'X'), dept('y', 'Y')] })
    await planAndApply(app, source)
    await reseed(app, source, { departments: [dept('x', 'X'), dept('y', 'Y', 'x')] })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ departments: { move: 1 } })
    const y = await q()
      .selectFrom('departments')
      .select('id')
      .where('name', '=', 'Y')
      .executeTakeFirstOrThrow()
    await db().store.write(admin, (w) => w.renameDepartment(y.id, 'Y renamed'))
    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    expect(await app.services.plans.get(p.id)).toMatchObject({ status: 'stale' })
  })

  test('after another plan of the same source applied, an older plan is stale', async () => {
    const source = await fakeSource(app, { users: [u('a')] })
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('a', { title: 'first' })] })
    const first = await plan(app, source)
    await reseed(app, source, { users: [u('a'), u('b')] })
    const second = await plan(app, source)
    const generation = (await sourceState(q(), source)).generation

    await app.services.plans.apply(second.id, admin)
    expect((await sourceState(q(), source)).generation).toBe(generation + 1)
    const state = await orgState(q())
    await expect(app.services.plans.apply(first.id, admin)).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/stale: source "HR" applied another plan since this one was made/),
    })
    expect(await app.services.plans.get(first.id)).toMatchObject({ status: 'stale' })
    expect(await orgState(q())).toEqual(state)
    expect((await person('a')).title).toBeNull()
  })

  test('applying one plan twice at once applies it once', async () => {
    const source = await fakeSource(app, { users: [u('a'), u('b')] })
    const p = await plan(app, source)
    const results = await Promise.allSettled([
      app.services.plans.apply(p.id, admin),
      app.services.plans.apply(p.id, admin),
    ])
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(rejected.reason).toMatchObject({ kind: 'conflict' })
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(2)
    expect((await sourceState(q(), source)).generation).toBe(1)
  })

  test('a change failing late in the apply rolls the whole plan back', async () => {
    const source = await fakeSource(app, { users: [u('old')] })
    await planAndApply(app, source)
    await reseed(app, source, {
      departments: [dept('eng', 'Engineering'), dept('ops', 'Operations', 'eng')],
      users: [
        u('old', { title: 'Changed', departmentExternalId: 'ops' }),
        u('a', { departmentExternalId: 'eng', manager: { externalId: 'old' } }),
        u('b', { departmentExternalId: 'ops' }),
        u('zed', { departmentExternalId: 'ops' }),
      ],
      groups: [{ externalId: 'all', displayName: 'All', memberExternalIds: ['old', 'a', 'b', 'zed'] }],
    })
    const p = await plan(app, source)
    expect(p.status).toBe('ready')
    const kinds = (await allChanges(app, p.id)).map((c) => c.kind)
    expect(kinds.indexOf('person.create')).toBeGreaterThan(kinds.indexOf('department.create'))

    // Another writer takes zed's user name for this source after planning: zed's identity, one of
    // the plan's last person changes, cannot be saved.
    await q()
      .insertInto('identities')
      .values({
        source_id: source,
        external_id: 'someone-else',
        user_name: 'zed@corp.test',
        attributes: '{}',
      })
      .execute()
    const state = await orgState(q())
    const generation = await sourceState(q(), source)

    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/zed@corp\.test/),
    })
    // Nothing of the plan exists: no departments, people, groups, memberships or audit events.
    expect(await orgState(q())).toEqual(state)
    expect(await q().selectFrom('departments').select('id').execute()).toEqual([])
    expect(await q().selectFrom('people').select('user_name').execute()).toEqual([
      { user_name: 'old@corp.test' },
    ])
    expect(await q().selectFrom('groups').select('id').execute()).toEqual([])
    expect(await sourceState(q(), source)).toEqual(generation)
    // The plan is still ready, with the failure on record, and applies once the conflict is gone.
    expect(await app.services.plans.get(p.id)).toMatchObject({
      status: 'ready',
      error: expect.stringMatching(/zed@corp\.test/),
    })
    await q().deleteFrom('identities').where('external_id', '=', 'someone-else').execute()
    expect(await app.services.plans.apply(p.id, admin)).toMatchObject({ status: 'applied', error: null })
    expect(await person('zed')).toMatchObject({ department: { path: 'Engineering/Operations' } })
    expect(await person('old')).toMatchObject({ title: 'Changed' })
    expect(await q().selectFrom('group_members').select('person_id').execute()).toHaveLength(4)
  })
})

describeEachDatabase('sync: a connector failing part-way through a listing', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db

  test.each([
    ['users', 1, 'permanent'],
    ['users', 2, 'auth'],
    ['departments', 1, 'permission'],
    ['groups', 0, 'permanent'],
    ['users', 1, 'transient'],
  ] as const)(
    'listing %s failing at page %i (%s) makes a failed plan: nobody suspended, cursor and generation kept',
    async (what, page, kind) => {
      const seed = {
        pageSize: 1,
        departments: [dept('d1', 'One'), dept('d2', 'Two')],
        users: [u('a', { departmentExternalId: 'd1' }), u('b'), u('c'), u('d')],
        groups: [{ externalId: 'g', displayName: 'G', memberExternalIds: ['a'] }],
      }
      const source = await fakeSource(app, seed, { policy: { deletionThreshold: { count: 100, share: 1 } } })
      await planAndApply(app, source)
      // The source now has a new person and a changed one, and fails while listing.
      await reseed(app, source, {
        ...seed,
        users: [u('a', { title: 'changed', departmentExternalId: 'd1' }), u('b'), u('c'), u('d'), u('e')],
        fail: { what, page, kind },
      })
      // (A config change resets the cursor: set one after it, as if a run had saved it.)
      await q().updateTable('sources').set({ cursor: 'saved-cursor' }).where('id', '=', source).execute()
      const before = await sourceState(q(), source)
      const state = await orgState(q())

      const p = await plan(app, source)
      expect(p).toMatchObject({
        status: 'failed',
        changeCount: 0,
        error: `fake: ${what} page ${page} failed (${kind}, as configured)`,
      })
      expect(await allChanges(app, p.id)).toEqual([])
      expect(await orgState(q())).toEqual(state)
      expect(await sourceState(q(), source)).toEqual({
        generation: before.generation,
        cursor: 'saved-cursor',
      })
      await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    },
  )

  test('a connector crashing with an unexpected error leaves a failed plan, not one stuck in planning', async () => {
    const source = await fakeSource(app, { users: [u('a')] })
    const crashing: ConnectorDefinition<FakeConfig> = {
      ...fakeConnector,
      open(config, deps) {
        const inner = fakeConnector.open(config, deps)
        return {
          ...inner,
          listGroups: () =>
            Promise.reject(new TypeError("Cannot read properties of undefined (reading 'id')")),
        }
      },
    }
    const plans = new PlanService({
      store: db().store,
      connectors: { fake: crashing },
      readConfig: (id) => app.sources.connectorConfig(id),
      logger: createLogger('silent'),
    })
    await expect(plans.createPlan(source, { trigger: 'manual', actor: admin })).rejects.toThrow(TypeError)
    const [p] = await app.services.plans.listForSource(source, 10)
    expect(p).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/reading 'id'/),
      changeCount: 0,
    })
    expect(await allChanges(app, p!.id)).toEqual([])

    // An aborted plan (the client went away) is failed too.
    const controller = new AbortController()
    controller.abort()
    await expect(
      app.services.plans.createPlan(source, { trigger: 'manual', actor: admin, signal: controller.signal }),
    ).rejects.toThrow()
    const statuses = (await app.services.plans.listForSource(source, 10)).map((x) => x.status)
    expect(statuses).toEqual(['failed', 'failed'])
  })
})
