import { deprovisionExpired } from '../../src/sync/deprovision-job'
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
  u,
} from '../helpers/sync-fixture'

const DAY = 86_400_000

describeEachDatabase('sync: a person from joiner to leaver', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const person = (userName: string) => personByUserName(q(), userName)
  const departmentId = async (externalId: string) =>
    (
      await q()
        .selectFrom('departments')
        .select('id')
        .where('external_id', '=', externalId)
        .executeTakeFirstOrThrow()
    ).id

  test('create: people, their identities and audit events exist only once the plan applies', async () => {
    const source = await fakeSource(app, {
      departments: [dept('eng', 'Engineering')],
      users: [u('ada', { title: 'Engineer', departmentExternalId: 'eng', employeeNumber: 'E1' })],
    })
    const p = await plan(app, source)
    expect(p).toMatchObject({
      status: 'ready',
      summary: { people: { create: 1 }, departments: { create: 1 } },
    })
    const changes = await allChanges(app, p.id)
    expect(changes.map((c) => c.kind)).toEqual(['department.create', 'person.create'])
    expect(changes[1]!.after).toMatchObject({
      userName: 'ada@corp.test',
      email: 'ada@corp.test',
      title: 'Engineer',
      employeeNumber: 'E1',
      departmentRef: 'd:eng',
    })
    expect(await q().selectFrom('audit_events').select('seq').execute()).toHaveLength(1) // source.create

    await app.services.plans.apply(p.id, admin)
    const ada = await person('ada@corp.test')
    expect(ada).toMatchObject({
      status: 'active',
      title: 'Engineer',
      employeeNumber: 'E1',
      department: { path: 'Engineering' },
    })
    expect(ada.identities).toEqual([expect.objectContaining({ externalId: 'ada', active: true })])
    const audit = await q()
      .selectFrom('audit_events')
      .select(['action', 'actor_type', 'actor_id'])
      .where('action', 'in', ['person.create', 'department.create', 'identity.create', 'plan.apply'])
      .execute()
    expect(audit.map((a) => a.action).sort()).toEqual([
      'department.create',
      'identity.create',
      'person.create',
      'plan.apply',
    ])
    // Changes are recorded under the source, not the admin who pressed "apply".
    expect(audit.every((a) => a.actor_type === 'source' && a.actor_id === source)).toBe(true)
  })

  test('update, move and manager change: each planned with before and after, then applied', async () => {
    const source = await fakeSource(app, {
      departments: [dept('a', 'A'), dept('b', 'B')],
      users: [
        u('p1', { departmentExternalId: 'a', manager: { externalId: 'p2' }, title: 'Engineer' }),
        u('p2', { departmentExternalId: 'a' }),
        u('p3', { departmentExternalId: 'b' }),
      ],
    })
    await planAndApply(app, source)
    const [p1, p2, p3] = await Promise.all(['p1', 'p2', 'p3'].map((n) => person(`${n}@corp.test`)))
    const [a, b] = await Promise.all([departmentId('a'), departmentId('b')])
    expect(p1).toMatchObject({ departmentId: a, managerId: p2!.id })

    await reseed(app, source, {
      users: [
        u('p1', {
          departmentExternalId: 'b',
          manager: { externalId: 'p3' },
          title: 'Lead',
          displayName: 'P. One',
        }),
        u('p2', { departmentExternalId: 'a' }),
        u('p3', { departmentExternalId: 'b' }),
      ],
    })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({
      people: { create: 0, update: 1, move: 1, manager: 1, suspend: 0 },
      identities: { update: 1 },
    })
    const changes = await allChanges(app, p.id)
    const byKind = Object.fromEntries(changes.map((c) => [c.kind, c]))
    expect(byKind['person.update']).toMatchObject({
      targetId: p1!.id,
      before: { title: 'Engineer', displayName: 'p1' },
      after: { title: 'Lead', displayName: 'P. One' },
    })
    expect(byKind['person.move']).toMatchObject({
      targetId: p1!.id,
      departmentId: b,
      before: { departmentId: a },
      after: { departmentRef: b },
    })
    expect(byKind['person.manager']).toMatchObject({
      targetId: p1!.id,
      before: { managerId: p2!.id },
      after: { managerRef: p3!.id },
    })

    await app.services.plans.apply(p.id, admin)
    const after = await person('p1@corp.test')
    expect(after).toMatchObject({
      id: p1!.id,
      title: 'Lead',
      displayName: 'P. One',
      department: { id: b, path: 'B' },
      manager: { id: p3!.id },
    })
    expect(after.provenance).toMatchObject({
      title: { by: 'source', id: source },
      departmentId: { by: 'source', id: source },
      managerId: { by: 'source', id: source },
    })
    // The source dropping a manager clears the link.
    await reseed(app, source, {
      users: [
        u('p1', { departmentExternalId: 'b', title: 'Lead', displayName: 'P. One' }),
        u('p2', { departmentExternalId: 'a' }),
        u('p3', { departmentExternalId: 'b' }),
      ],
    })
    const cleared = await planAndApply(app, source)
    expect(cleared.summary).toMatchObject({ people: { manager: 1, update: 0, move: 0 } })
    expect(await person('p1@corp.test')).toMatchObject({ managerId: null })
  })

  test('suspend a leaver at once, reactivate within the grace period, deprovision only after it', async () => {
    const source = await fakeSource(
      app,
      { users: [u('stay'), u('gone'), u('off'), u('back')] },
      { policy: { gracePeriodDays: 30, deletionThreshold: { count: 10, share: 1 } } },
    )
    await planAndApply(app, source)

    // "gone" leaves the listing; "off" is disabled at the source; "back" leaves for now.
    await reseed(app, source, { users: [u('stay'), u('off', { active: false })] })
    const leavers = await plan(app, source)
    expect(leavers.summary).toMatchObject({ people: { suspend: 3 }, identities: { remove: 2 } })
    const before = Date.now()
    await app.services.plans.apply(leavers.id, admin)
    const gone = await person('gone@corp.test')
    expect(gone).toMatchObject({
      status: 'suspended',
      suspendedReason: 'no longer in HR',
      suspendedBySourceId: source,
    })
    expect(await person('off@corp.test')).toMatchObject({
      status: 'suspended',
      suspendedReason: 'disabled in HR',
    })
    expect(gone.suspendedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000)
    expect(gone.removeAfter!.getTime() - gone.suspendedAt!.getTime()).toBeGreaterThan(30 * DAY - 5000)
    expect(gone.removeAfter!.getTime() - gone.suspendedAt!.getTime()).toBeLessThan(30 * DAY + 5000)
    expect(gone.identities[0]).toMatchObject({ active: false, removedAt: expect.any(Date) })

    // "back" returns within the grace period: the same person, active, history kept.
    const backBefore = await person('back@corp.test')
    await reseed(app, source, { users: [u('stay'), u('off', { active: false }), u('back')] })
    const back = await planAndApply(app, source)
    expect(back.summary).toMatchObject({ people: { reactivate: 1, create: 0, suspend: 0 } })
    const backAfter = await person('back@corp.test')
    expect(backAfter).toMatchObject({
      id: backBefore.id,
      status: 'active',
      suspendedReason: null,
      removeAfter: null,
    })
    expect(backAfter.identities).toEqual([expect.objectContaining({ externalId: 'back', removedAt: null })])
    const history = await q()
      .selectFrom('audit_events')
      .select('action')
      .where('target_id', '=', backBefore.id)
      .orderBy('seq')
      .execute()
    expect(history.map((h) => h.action)).toEqual(['person.create', 'person.suspend', 'person.reactivate'])

    // Not before the grace period ends…
    const now = Date.now()
    expect(await deprovisionExpired(db().store, new Date(now + 29 * DAY))).toBe(0)
    expect(await person('gone@corp.test')).toMatchObject({ status: 'suspended' })
    // …then the daily job deprovisions the leavers, and only them.
    expect(await deprovisionExpired(db().store, new Date(now + 31 * DAY))).toBe(2)
    expect(await person('gone@corp.test')).toMatchObject({
      status: 'deprovisioned',
      suspendedReason: 'no longer in HR; deprovisioned after the grace period',
    })
    expect(await person('off@corp.test')).toMatchObject({ status: 'deprovisioned' })
    expect(await person('back@corp.test')).toMatchObject({ status: 'active' })
    expect(await person('stay@corp.test')).toMatchObject({ status: 'active' })
    // Idempotent.
    expect(await deprovisionExpired(db().store, new Date(now + 60 * DAY))).toBe(0)
  })

  test('an account deleted and a new one given its user name, in one plan, applies (the old identity goes first)', async () => {
    const source = await fakeSource(
      app,
      { users: [u('old', { userName: 'sam@corp.test', email: 'sam@corp.test' }), u('keep')] },
      { policy: { deletionThreshold: { count: 10, share: 1 } } },
    )
    await planAndApply(app, source)
    const before = await person('sam@corp.test')
    await reseed(app, source, {
      users: [u('keep'), u('new', { userName: 'sam@corp.test', email: 'sam.new@corp.test' })],
    })
    const applied = await planAndApply(app, source)
    expect(applied.summary).toMatchObject({ people: { create: 1, suspend: 1 }, identities: { remove: 1 } })
    const identities = await q()
      .selectFrom('identities')
      .select(['external_id', 'user_name', 'removed_at'])
      .where('user_name', '=', 'sam@corp.test')
      .orderBy('external_id')
      .execute()
    expect(identities).toEqual([
      { external_id: 'new', user_name: 'sam@corp.test', removed_at: null },
      { external_id: 'old', user_name: 'sam@corp.test', removed_at: expect.any(Date) },
    ])
    const sams = await q()
      .selectFrom('people')
      .select(['id', 'status'])
      .where('user_name', '=', 'sam@corp.test')
      .execute()
    expect(sams).toHaveLength(2)
    expect(sams.find((p) => p.id === before.id)).toMatchObject({ status: 'suspended' })
  })

  test('someone back in the source after being deprovisioned is a rehire: a new person, the old one kept', async () => {
    const source = await fakeSource(
      app,
      { users: [u('ann', { title: 'Analyst' }), u('keep')] },
      { policy: { deletionThreshold: { count: 10, share: 1 } } },
    )
    await planAndApply(app, source)
    const first = await person('ann@corp.test')
    await reseed(app, source, { users: [u('keep')] })
    await planAndApply(app, source)
    expect(await deprovisionExpired(db().store, new Date(Date.now() + 31 * DAY))).toBe(1)

    await reseed(app, source, { users: [u('ann', { title: 'Senior Analyst' }), u('keep')] })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ people: { create: 1, reactivate: 0, update: 0 } })
    expect(p.errorDetails).toMatchObject({
      warnings: ['ann@corp.test is back in HR after being deprovisioned: planned as a new person'],
    })
    await app.services.plans.apply(p.id, admin)
    const rows = await q()
      .selectFrom('people')
      .select(['id', 'status', 'title'])
      .where('user_name', '=', 'ann@corp.test')
      .orderBy('created_at')
      .execute()
    expect(rows).toEqual([
      { id: first.id, status: 'deprovisioned', title: 'Analyst' },
      { id: expect.not.stringMatching(first.id), status: 'active', title: 'Senior Analyst' },
    ])
    const identity = await q()
      .selectFrom('identities')
      .select(['person_id', 'removed_at'])
      .where('external_id', '=', 'ann')
      .executeTakeFirstOrThrow()
    expect(identity).toEqual({ person_id: rows[1]!.id, removed_at: null })
  })

  test('a user disabled at the source before the org ever had them gets no person until enabled', async () => {
    const source = await fakeSource(app, { users: [u('a'), u('later', { active: false })] })
    const first = await planAndApply(app, source)
    expect(first.summary).toMatchObject({ people: { create: 1 }, identities: { create: 2 } })
    expect(await q().selectFrom('people').select('user_name').execute()).toEqual([
      { user_name: 'a@corp.test' },
    ])
    await reseed(app, source, { users: [u('a'), u('later')] })
    const second = await planAndApply(app, source)
    expect(second.summary).toMatchObject({ people: { create: 1, suspend: 0, reactivate: 0 } })
    expect((await person('later@corp.test')).identities).toHaveLength(1)
  })

  test('a plan bigger than one write batch and one apply batch applies whole', async () => {
    const ids = Array.from({ length: 1100 }, (_, i) => `u${String(i).padStart(4, '0')}`)
    const source = await fakeSource(app, {
      pageSize: 250,
      departments: [dept('all', 'Everyone')],
      users: ids.map((id, i) =>
        u(id, { departmentExternalId: 'all', manager: i === 0 ? null : { externalId: ids[0]! } }),
      ),
      groups: [{ externalId: 'g', displayName: 'All', memberExternalIds: ids }],
    })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ people: { create: 1100, manager: 1099 }, memberships: { added: 1100 } })
    expect(p.changeCount).toBe(1 + 1100 + 1099 + 1 + 1)
    await app.services.plans.apply(p.id, admin)
    const boss = await person('u0000@corp.test')
    const counts = await q()
      .selectFrom('people')
      .select((eb) => [
        eb.fn.countAll<number>().as('people'),
        eb.fn.count<number>('manager_id').as('managed'),
      ])
      .executeTakeFirstOrThrow()
    expect({ people: Number(counts.people), managed: Number(counts.managed) }).toEqual({
      people: 1100,
      managed: 1099,
    })
    expect((await person('u1099@corp.test')).managerId).toBe(boss.id)
    expect(await q().selectFrom('group_members').select('person_id').execute()).toHaveLength(1100)
    expect((await plan(app, source)).changeCount).toBe(0)
  }, 120_000)

  test("a source's own grace period sets when its leavers may be deprovisioned", async () => {
    const source = await fakeSource(
      app,
      { users: [u('a'), u('b'), u('c')] },
      { policy: { gracePeriodDays: 7, deletionThreshold: { count: 10, share: 1 } } },
    )
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('a'), u('b')] })
    await planAndApply(app, source)
    const c = await person('c@corp.test')
    expect(Math.round((c.removeAfter!.getTime() - c.suspendedAt!.getTime()) / DAY)).toBe(7)
    expect(await deprovisionExpired(db().store, new Date(Date.now() + 6 * DAY))).toBe(0)
    expect(await deprovisionExpired(db().store, new Date(Date.now() + 8 * DAY))).toBe(1)
  })

  test('protected people are never suspended by a plan nor deprovisioned by the daily job', async () => {
    const source = await fakeSource(
      app,
      { users: [u('boss'), u('listed'), u('plain')] },
      {
        policy: { protectedUserNames: ['LISTED@corp.test'], deletionThreshold: { count: 10, share: 1 } },
      },
    )
    await planAndApply(app, source)
    const boss = await person('boss@corp.test')
    await db().store.write(admin, (w) => w.updatePerson(boss.id, { protected: true }))

    await reseed(app, source, { users: [] })
    const p = await plan(app, source)
    expect(p.status).toBe('ready')
    expect(p.summary).toMatchObject({ people: { suspend: 1 }, protectedSkipped: 2 })
    const suspends = await allChanges(app, p.id).then((cs) => cs.filter((c) => c.kind === 'person.suspend'))
    expect(suspends.map((c) => [c.targetId, c.protected]).sort()).toEqual(
      [
        [boss.id, true],
        [(await person('listed@corp.test')).id, true],
        [(await person('plain@corp.test')).id, false],
      ].sort(),
    )
    await app.services.plans.apply(p.id, admin)
    expect(await person('boss@corp.test')).toMatchObject({ status: 'active' })
    expect(await person('listed@corp.test')).toMatchObject({ status: 'active' })
    expect(await person('plain@corp.test')).toMatchObject({ status: 'suspended' })

    // An admin may suspend a protected person by hand; the daily job still never removes them.
    await db().store.write(admin, (w) =>
      w.suspendPerson(boss.id, { reason: 'on leave', removeAfter: new Date(Date.now() - DAY) }),
    )
    expect(await deprovisionExpired(db().store, new Date(Date.now() + 365 * DAY))).toBe(1)
    expect(await person('boss@corp.test')).toMatchObject({ status: 'suspended' })
    expect(await person('plain@corp.test')).toMatchObject({ status: 'deprovisioned' })
  })

  test("a person put on the source's protected list after planning is not suspended when the plan applies", async () => {
    const source = await fakeSource(
      app,
      { users: [u('ceo'), u('x'), u('y')] },
      { policy: { deletionThreshold: { count: 10, share: 1 } } },
    )
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('y')] })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ people: { suspend: 2 }, protectedSkipped: 0 })
    await app.services.sources.update(admin, source, { policy: { protectedUserNames: ['CEO@corp.test'] } })
    await app.services.plans.apply(p.id, admin)
    expect(await person('ceo@corp.test')).toMatchObject({ status: 'active' })
    expect(await person('x@corp.test')).toMatchObject({ status: 'suspended' })
  })

  test("a person put on the source's protected list during the grace period is not deprovisioned", async () => {
    const source = await fakeSource(
      app,
      { users: [u('ceo'), u('x'), u('y')] },
      { policy: { deletionThreshold: { count: 10, share: 1 } } },
    )
    await planAndApply(app, source)
    await reseed(app, source, { users: [u('x'), u('y')] })
    await planAndApply(app, source)
    expect(await person('ceo@corp.test')).toMatchObject({ status: 'suspended' })
    // The admin notices and protects the account by name before the grace period ends.
    await app.services.sources.update(admin, source, { policy: { protectedUserNames: ['ceo@corp.test'] } })
    expect(await deprovisionExpired(db().store, new Date(Date.now() + 31 * DAY))).toBe(0)
    expect(await person('ceo@corp.test')).toMatchObject({ status: 'suspended' })
  })
})

describeEachDatabase('sync: managers', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const person = (userName: string) => personByUserName(q(), userName)

  test.each([
    ['in one page', 500],
    ['on a later page', 1],
  ])('a manager listed after their reports is linked (%s)', async (_, pageSize) => {
    const source = await fakeSource(app, {
      pageSize,
      users: [
        u('r1', { manager: { externalId: 'boss' } }),
        u('r2', { manager: { email: 'BOSS@corp.test' } }),
        u('r3', { manager: { employeeNumber: 'E-BOSS' } }),
        u('mid', { manager: { externalId: 'boss' } }),
        u('r4', { manager: { externalId: 'mid' } }),
        u('boss', { employeeNumber: 'E-BOSS' }),
      ],
    })
    const p = await plan(app, source)
    expect(p).toMatchObject({ status: 'ready', summary: { people: { create: 6, manager: 5 } } })
    expect(p.errorDetails).toBeNull() // no "manager not known" warnings
    await app.services.plans.apply(p.id, admin)
    const boss = await person('boss@corp.test')
    for (const r of ['r1', 'r2', 'r3', 'mid'])
      expect(await person(`${r}@corp.test`)).toMatchObject({ managerId: boss.id })
    expect(await person('r4@corp.test')).toMatchObject({ managerId: (await person('mid@corp.test')).id })
    expect(boss.managerId).toBeNull()
  })

  async function expectCycle(source: string, names: string[]) {
    const state = await orgState(q())
    const p = await plan(app, source)
    expect(p.status).toBe('failed')
    expect(p.error).toMatch(/reporting cycle/)
    // The error names everyone in the cycle, so an admin can fix the source.
    for (const n of names) expect(p.error).toContain(n)
    expect(p.changeCount).toBe(0)
    expect(await allChanges(app, p.id)).toEqual([])
    await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({ kind: 'conflict' })
    expect(await orgState(q())).toEqual(state)
    return p
  }

  test('a two-person cycle among new people fails the plan and applies nothing', async () => {
    const source = await fakeSource(app, {
      users: [u('a', { manager: { externalId: 'b' } }), u('b', { manager: { externalId: 'a' } }), u('c')],
    })
    await expectCycle(source, ['a@corp.test', 'b@corp.test'])
    expect(await q().selectFrom('people').select('id').execute()).toEqual([])
  })

  test('a three-person cycle across pages fails the plan', async () => {
    const source = await fakeSource(app, {
      pageSize: 1,
      users: [
        u('a', { manager: { externalId: 'b' } }),
        u('b', { manager: { externalId: 'c' } }),
        u('c', { manager: { email: 'a@corp.test' } }),
      ],
    })
    const p = await expectCycle(source, ['a@corp.test', 'b@corp.test', 'c@corp.test'])
    expect(p.errorDetails).toMatchObject({ cycle: expect.any(Array) })
  })

  test('someone named as their own manager fails the plan', async () => {
    const source = await fakeSource(app, { users: [u('a', { manager: { externalId: 'a' } })] })
    await expectCycle(source, ['a@corp.test'])
  })

  test('a cycle closed by links already in the org tree fails the plan, nothing applied', async () => {
    const source = await fakeSource(app, {
      users: [u('a'), u('b', { manager: { externalId: 'a' } }), u('c', { manager: { externalId: 'b' } })],
    })
    await planAndApply(app, source)
    // a now reports to c, while c → b → a stay as they are in the database.
    await reseed(app, source, {
      users: [
        u('a', { manager: { externalId: 'c' }, title: 'Changed' }),
        u('b', { manager: { externalId: 'a' } }),
        u('c', { manager: { externalId: 'b' } }),
      ],
    })
    await expectCycle(source, ['a@corp.test', 'b@corp.test', 'c@corp.test'])
    expect(await person('a@corp.test')).toMatchObject({ title: null, managerId: null })
  })

  test('a cycle through a person only an admin manages fails the plan', async () => {
    const source = await fakeSource(app, { users: [u('a')] })
    await planAndApply(app, source)
    const a = await person('a@corp.test')
    // An admin adds z, reporting to a; the source then says a reports to z.
    await db().store.write(admin, (w) =>
      w.createPerson({ userName: 'z@corp.test', email: 'z@corp.test', managerId: a.id }),
    )
    await reseed(app, source, { users: [u('a', { manager: { email: 'z@corp.test' } })] })
    await expectCycle(source, ['a@corp.test', 'z@corp.test'])
  })

  test('managers swapped in one plan are no cycle: the plan applies in an order that never makes one', async () => {
    const source = await fakeSource(app, {
      users: [
        u('a'),
        u('b', { manager: { externalId: 'a' } }),
        u('c', { manager: { externalId: 'b' } }),
        u('d'),
      ],
    })
    await planAndApply(app, source)
    // Reversed chain: a → b → c at the top, and d now manages c.
    await reseed(app, source, {
      users: [
        u('a', { manager: { externalId: 'b' } }),
        u('b', { manager: { externalId: 'c' } }),
        u('c', { manager: { externalId: 'd' } }),
        u('d'),
      ],
    })
    const p = await plan(app, source)
    expect(p.status).toBe('ready')
    await app.services.plans.apply(p.id, admin)
    const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((n) => person(`${n}@corp.test`)))
    expect([a!.managerId, b!.managerId, c!.managerId, d!.managerId]).toEqual([b!.id, c!.id, d!.id, null])
  })

  test('a manager dropped by the source no longer counts for the cycle check', async () => {
    const source = await fakeSource(app, { users: [u('a'), u('b', { manager: { externalId: 'a' } })] })
    await planAndApply(app, source)
    // b stops reporting to a, and a starts reporting to b: no cycle once the plan applies.
    await reseed(app, source, { users: [u('a', { manager: { externalId: 'b' } }), u('b')] })
    const p = await plan(app, source)
    expect(p.error).toBeNull()
    expect(p.status).toBe('ready')
    await app.services.plans.apply(p.id, admin)
    const [a, b] = await Promise.all([person('a@corp.test'), person('b@corp.test')])
    expect([a.managerId, b.managerId]).toEqual([b.id, null])
  })
})
