import { getPerson } from '../../src/org/people-queries'
import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { admin, dept, fakeSource, planAndApply, reseed, u } from '../helpers/sync-fixture'

describeEachDatabase('sync: plans from a fake connector', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db

  async function personByUserName(userName: string) {
    const row = await q()
      .selectFrom('people')
      .select('id')
      .where('user_name', '=', userName)
      .executeTakeFirstOrThrow()
    return (await getPerson(q(), row.id))!
  }

  test('a first plan creates departments, people, late-bound managers and groups; applying makes them', async () => {
    const source = await fakeSource(app, {
      departments: [dept('eng', 'Engineering'), dept('plat', 'Platform', 'eng')],
      // ada's manager grace comes later in the listing.
      users: [
        u('ada', { departmentExternalId: 'plat', manager: { externalId: 'grace' }, title: 'Engineer' }),
        u('grace', { departmentExternalId: 'eng', title: 'CTO' }),
      ],
      groups: [{ externalId: 'g1', displayName: 'Everyone', memberExternalIds: ['ada', 'grace'] }],
    })
    const plan = await app.services.plans.createPlan(source, { trigger: 'manual', actor: admin })
    expect(plan.status).toBe('ready')
    expect(plan.summary).toMatchObject({
      people: { create: 2, manager: 1, suspend: 0 },
      departments: { create: 2 },
      groups: { create: 1 },
      memberships: { added: 2 },
    })
    // Nothing is applied by planning.
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(0)

    const applied = await app.services.plans.apply(plan.id, admin)
    expect(applied.status).toBe('applied')
    const ada = await personByUserName('ada@corp.test')
    const grace = await personByUserName('grace@corp.test')
    expect(ada).toMatchObject({
      title: 'Engineer',
      department: { path: 'Engineering/Platform' },
      manager: { id: grace.id },
    })
    expect(ada.identities).toEqual([
      expect.objectContaining({ externalId: 'ada', source: expect.objectContaining({ id: source }) }),
    ])
    expect(ada.provenance).toMatchObject({ title: { by: 'source', id: source } })
    const members = await q().selectFrom('group_members').select('person_id').execute()
    expect(members.map((m) => m.person_id).sort()).toEqual([ada.id, grace.id].sort())

    // Re-planning an unchanged source finds nothing to do.
    const again = await app.services.plans.createPlan(source, { trigger: 'manual', actor: admin })
    expect(again.changeCount).toBe(0)
  })

  test('updates, moves, manager changes, leavers, reactivation and deprovisioning after the grace period', async () => {
    const source = await fakeSource(
      app,
      {
        departments: [dept('a', 'A'), dept('b', 'B')],
        users: [
          u('p1', { departmentExternalId: 'a', manager: { externalId: 'p2' } }),
          u('p2', { departmentExternalId: 'a' }),
          u('p3'),
        ],
      },
      { policy: { deletionThreshold: { count: 10, share: 1 } } },
    )
    await planAndApply(app, source)

    await reseed(app, source, {
      users: [
        u('p1', { departmentExternalId: 'b', title: 'Lead', manager: { externalId: 'p3' } }),
        u('p2', { departmentExternalId: 'a' }),
      ],
    })
    const plan = await app.services.plans.createPlan(source, { trigger: 'manual', actor: admin })
    expect(plan.summary).toMatchObject({
      people: { update: 1, move: 1, manager: 1, suspend: 1 },
      identities: { remove: 1 },
    })
    await app.services.plans.apply(plan.id, admin)
    const p1 = await personByUserName('p1@corp.test')
    const p3 = await personByUserName('p3@corp.test')
    expect(p1).toMatchObject({ title: 'Lead', department: { path: 'B' }, manager: { id: p3.id } })
    expect(p3).toMatchObject({
      status: 'suspended',
      suspendedReason: 'no longer in HR',
      suspendedBySourceId: source,
    })
    const graceDays = (p3.removeAfter!.getTime() - p3.suspendedAt!.getTime()) / 86_400_000
    expect(Math.round(graceDays)).toBe(30)

    // Back within the grace period: reactivated, same person, history kept.
    await reseed(app, source, {
      users: [
        u('p1', { departmentExternalId: 'b', title: 'Lead', manager: { externalId: 'p3' } }),
        u('p2', { departmentExternalId: 'a' }),
        u('p3'),
      ],
    })
    const back = await app.services.plans.createPlan(source, { trigger: 'manual', actor: admin })
    expect(back.summary).toMatchObject({ people: { reactivate: 1, create: 0 } })
    await app.services.plans.apply(back.id, admin)
    expect(await personByUserName('p3@corp.test')).toMatchObject({ id: p3.id, status: 'active' })
  })
})
