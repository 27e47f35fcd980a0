import type { PersonFields } from '../../src/org/person-writes'
import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import {
  admin,
  allChanges,
  dept,
  fakeSource,
  personByUserName,
  plan,
  planAndApply,
  reseed,
  u,
} from '../helpers/sync-fixture'

describeEachDatabase('sync: matching identities to people', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const peopleCount = async () => (await q().selectFrom('people').select('id').execute()).length
  const createByAdmin = (fields: PersonFields) => db().store.write(admin, (w) => w.createPerson(fields))

  test('matchBy email: a person an admin created with the same email is linked, not duplicated', async () => {
    const existing = await createByAdmin({
      userName: 'ada.admin',
      email: 'Ada@Corp.Test',
      title: 'Set by admin',
    })
    const source = await fakeSource(app, { users: [u('ada', { title: 'Engineer' }), u('bob')] })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ people: { create: 1, update: 1 }, identities: { create: 2 } })
    const changes = await allChanges(app, p.id)
    expect(changes.find((c) => c.kind === 'identity.create')).toMatchObject({
      after: { externalId: 'ada', personRef: existing.id, matchedBy: 'email' },
    })
    expect(changes.find((c) => c.kind === 'person.update')).toMatchObject({
      targetId: existing.id,
      before: { userName: 'ada.admin', title: 'Set by admin' },
      after: { userName: 'ada@corp.test', title: 'Engineer' },
    })
    // Emails are compared case-insensitively: a difference in case alone is no change.
    expect(changes.find((c) => c.kind === 'person.update')?.after).not.toHaveProperty('email')
    await app.services.plans.apply(p.id, admin)
    expect(await peopleCount()).toBe(2)
    const ada = await personByUserName(q(), 'ada@corp.test')
    expect(ada).toMatchObject({ id: existing.id, title: 'Engineer' })
    expect(ada.identities).toEqual([
      expect.objectContaining({ externalId: 'ada', source: expect.objectContaining({ id: source }) }),
    ])
    // Linked for good: the next plan has nothing to do.
    expect((await plan(app, source)).changeCount).toBe(0)
  })

  test('matchBy employeeNumber links on the employee number even when the email differs', async () => {
    const existing = await createByAdmin({ userName: 'x', email: 'old@corp.test', employeeNumber: 'E42' })
    const byEmail = await fakeSource(
      app,
      { users: [u('n1', { employeeNumber: 'E42' })] },
      { name: 'by email' },
    )
    const byNumber = await fakeSource(
      app,
      { users: [u('n1', { employeeNumber: 'E42' })] },
      { name: 'by number', policy: { matchBy: 'employeeNumber' } },
    )
    // The email rule finds nobody: it would make a second person.
    expect((await plan(app, byEmail)).summary).toMatchObject({ people: { create: 1 } })
    const p = await plan(app, byNumber)
    expect(p.summary).toMatchObject({ people: { create: 0, update: 1 }, identities: { create: 1 } })
    await app.services.plans.apply(p.id, admin)
    expect(await peopleCount()).toBe(1)
    expect(await personByUserName(q(), 'n1@corp.test')).toMatchObject({
      id: existing.id,
      email: 'n1@corp.test',
    })
  })

  test('matchBy userName links case-insensitively', async () => {
    const existing = await createByAdmin({ userName: 'GRACE@corp.test', email: null })
    const source = await fakeSource(
      app,
      { users: [u('g', { userName: 'grace@corp.test', email: 'grace.hopper@corp.test' })] },
      { policy: { matchBy: 'userName' } },
    )
    await planAndApply(app, source)
    expect(await peopleCount()).toBe(1)
    expect(await personByUserName(q(), 'grace@corp.test')).toMatchObject({
      id: existing.id,
      email: 'grace.hopper@corp.test',
    })
  })

  test('a deprovisioned person is not matched: a returning email makes a new person', async () => {
    const old = await createByAdmin({ userName: 'ada.old', email: 'ada@corp.test' })
    await db().store.write(admin, (w) => w.deprovisionPerson(old.id, { reason: 'left in 2020' }))
    const source = await fakeSource(app, { users: [u('ada')] })
    const p = await planAndApply(app, source)
    expect(p.summary).toMatchObject({ people: { create: 1 } })
    expect(await peopleCount()).toBe(2)
  })
})

describeEachDatabase('sync: attribute precedence between sources', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const ada = () => personByUserName(q(), 'ada@corp.test')

  test("a lower-precedence source does not override the owner's value, but fills what the owner leaves empty", async () => {
    const hr = await fakeSource(
      app,
      { users: [u('ada', { title: 'Engineer' })] },
      { name: 'HR', precedence: 10 },
    )
    const ad = await fakeSource(
      app,
      {
        departments: [dept('ou', 'AD Unit')],
        users: [
          u('ada-guid', {
            userName: 'ada@corp.test',
            email: 'ada@corp.test',
            displayName: 'ada',
            title: 'AD title',
            departmentExternalId: 'ou',
            employeeNumber: 'AD-1',
          }),
        ],
      },
      { name: 'AD', precedence: 100 },
    )
    await planAndApply(app, hr)
    const fromAd = await plan(app, ad)
    const changes = await allChanges(app, fromAd.id)
    const update = changes.find((c) => c.kind === 'person.update')
    // AD's title loses to HR's; its employee number and department fill gaps HR leaves.
    expect(update?.after).toEqual({ employeeNumber: 'AD-1' })
    expect(changes.map((c) => c.kind)).toContain('person.move')
    await app.services.plans.apply(fromAd.id, admin)
    const person = await ada()
    expect(person).toMatchObject({
      title: 'Engineer',
      employeeNumber: 'AD-1',
      department: { path: 'AD Unit' },
    })
    expect(person.provenance).toMatchObject({
      title: { by: 'source', id: hr },
      employeeNumber: { by: 'source', id: ad },
      departmentId: { by: 'source', id: ad },
    })
    expect(person.identities.map((i) => i.source.id)).toEqual([hr, ad]) // by precedence

    // Re-planning either source finds nothing to change: they do not fight.
    expect((await plan(app, hr)).changeCount).toBe(0)
    expect((await plan(app, ad)).changeCount).toBe(0)
  })

  test("when the owner stops giving a value the other source's applies, and the owner does not clear it again", async () => {
    const hr = await fakeSource(
      app,
      { users: [u('ada', { title: 'Engineer' })] },
      { name: 'HR', precedence: 10 },
    )
    const ad = await fakeSource(
      app,
      { users: [u('ada', { title: 'AD title' })] },
      { name: 'AD', precedence: 100 },
    )
    await planAndApply(app, hr)
    await planAndApply(app, ad)
    expect((await ada()).title).toBe('Engineer')

    await reseed(app, hr, { users: [u('ada')] }) // HR no longer says
    await planAndApply(app, hr)
    await planAndApply(app, ad)
    expect(await ada()).toMatchObject({ title: 'AD title', provenance: { title: { id: ad } } })
    // HR saying nothing does not take AD's value away again: no flip-flopping between plans.
    const again = await plan(app, hr)
    expect(again.changeCount).toBe(0)
    await app.services.plans.apply(again.id, admin)
    expect((await ada()).title).toBe('AD title')
    // And once HR says something again, HR wins.
    await reseed(app, hr, { users: [u('ada', { title: 'Staff Engineer' })] })
    await planAndApply(app, hr)
    expect(await ada()).toMatchObject({ title: 'Staff Engineer', provenance: { title: { id: hr } } })
  })

  test('sources of equal precedence do not overwrite each other on every run: the older one wins', async () => {
    const first = await fakeSource(app, { users: [u('ada', { title: 'First' })] }, { name: 'First' })
    const second = await fakeSource(app, { users: [u('ada', { title: 'Second' })] }, { name: 'Second' })
    await planAndApply(app, first)
    await planAndApply(app, second)
    expect((await ada()).title).toBe('First')
    expect((await plan(app, first)).changeCount).toBe(0)
    expect((await plan(app, second)).changeCount).toBe(0)
  })

  test('attributePrecedence overrides a source precedence per attribute, and provenance names the winner', async () => {
    const hr = await fakeSource(
      app,
      { users: [u('ada', { title: 'HR title', displayName: 'Ada (HR)' })] },
      { name: 'HR', precedence: 10 },
    )
    const ad = await fakeSource(
      app,
      { users: [u('ada', { title: 'AD title', displayName: 'Ada (AD)' })] },
      { name: 'AD', precedence: 100, policy: { attributePrecedence: { title: 5 } } },
    )
    await planAndApply(app, hr)
    const p = await plan(app, ad)
    expect((await allChanges(app, p.id)).find((c) => c.kind === 'person.update')).toMatchObject({
      before: { title: 'HR title' },
      after: { title: 'AD title' },
    })
    await app.services.plans.apply(p.id, admin)
    expect(await ada()).toMatchObject({
      title: 'AD title',
      displayName: 'Ada (HR)',
      provenance: { title: { by: 'source', id: ad }, displayName: { by: 'source', id: hr } },
    })
    // HR's next plan leaves AD's title alone.
    expect((await plan(app, hr)).changeCount).toBe(0)
  })

  test('someone gone from one source but still active in another is not suspended', async () => {
    const hr = await fakeSource(
      app,
      { users: [u('ada'), u('bob')] },
      { name: 'HR', policy: { deletionThreshold: { count: 10, share: 1 } } },
    )
    const ad = await fakeSource(app, { users: [u('ada')] }, { name: 'AD' })
    await planAndApply(app, hr)
    await planAndApply(app, ad)
    await reseed(app, hr, { users: [] })
    const p = await planAndApply(app, hr)
    expect(p.summary).toMatchObject({ people: { suspend: 1 }, identities: { remove: 2 } })
    expect((await ada()).status).toBe('active')
    expect((await personByUserName(q(), 'bob@corp.test')).status).toBe('suspended')
  })

  test('someone disabled in one source but still enabled in another stays active until both disable', async () => {
    const policy = { deletionThreshold: { count: 10, share: 1 } }
    const hr = await fakeSource(app, { users: [u('ada'), u('bob')] }, { name: 'HR', policy })
    const ad = await fakeSource(app, { users: [u('ada')] }, { name: 'AD', policy })
    await planAndApply(app, hr)
    await planAndApply(app, ad)
    await reseed(app, hr, { users: [u('ada', { active: false }), u('bob', { active: false })] })
    const first = await planAndApply(app, hr)
    // bob has only HR: suspended. ada is still enabled in AD: HR's identity says disabled, she stays.
    expect(first.summary).toMatchObject({ people: { suspend: 1 } })
    expect((await ada()).status).toBe('active')
    expect((await personByUserName(q(), 'bob@corp.test')).status).toBe('suspended')
    const hrIdentity = (await ada()).identities.find((i) => i.source.name === 'HR')
    expect(hrIdentity).toMatchObject({ active: false })
    // Once AD disables her too, nobody vouches: she is suspended, by AD.
    await reseed(app, ad, { users: [u('ada', { active: false })] })
    const second = await planAndApply(app, ad)
    expect(second.summary).toMatchObject({ people: { suspend: 1 } })
    expect(await ada()).toMatchObject({ status: 'suspended', suspendedReason: 'disabled in AD' })
  })

  test('the manager follows the owning source', async () => {
    const hr = await fakeSource(
      app,
      { users: [u('ada', { manager: { externalId: 'boss' } }), u('boss'), u('other')] },
      { name: 'HR', precedence: 10 },
    )
    const ad = await fakeSource(
      app,
      { users: [u('ada', { manager: { email: 'other@corp.test' } })] },
      { name: 'AD', precedence: 100 },
    )
    await planAndApply(app, hr)
    expect((await plan(app, ad)).summary).toMatchObject({ people: { manager: 0 } })
    const boss = await personByUserName(q(), 'boss@corp.test')
    expect((await ada()).managerId).toBe(boss.id)
  })
})

describeEachDatabase('sync: departments', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const paths = async () =>
    (await q().selectFrom('departments').select('path').orderBy('path').execute()).map((d) => d.path)
  const idOf = async (path: string) =>
    (await q().selectFrom('departments').select('id').where('path', '=', path).executeTakeFirstOrThrow()).id

  test("a source's renames and moves become department.rename and department.move", async () => {
    const source = await fakeSource(app, {
      departments: [dept('eng', 'Engineering'), dept('plat', 'Platform', 'eng'), dept('ops', 'Operations')],
      users: [u('ada', { departmentExternalId: 'plat' })],
    })
    await planAndApply(app, source)
    const platform = await idOf('Engineering/Platform')
    await reseed(app, source, {
      departments: [dept('eng', 'R&D'), dept('plat', 'Platform', 'ops'), dept('ops', 'Operations')],
    })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({
      departments: { rename: 1, move: 1, create: 0, delete: 0 },
      people: { move: 0 },
    })
    const changes = await allChanges(app, p.id)
    expect(changes.find((c) => c.kind === 'department.rename')).toMatchObject({
      before: { name: 'Engineering' },
      after: { name: 'R&D' },
    })
    expect(changes.find((c) => c.kind === 'department.move')).toMatchObject({
      targetId: platform,
      after: { parentRef: await idOf('Operations') },
    })
    await app.services.plans.apply(p.id, admin)
    expect(await paths()).toEqual(['Operations', 'Operations/Platform', 'R&D'])
    expect(await personByUserName(q(), 'ada@corp.test')).toMatchObject({
      department: { id: platform, path: 'Operations/Platform' },
    })
  })

  test('a department gone from the source is deleted when empty and kept while it holds people', async () => {
    const source = await fakeSource(app, {
      departments: [dept('a', 'A'), dept('a1', 'A1', 'a'), dept('b', 'B'), dept('c', 'C')],
      users: [u('moves', { departmentExternalId: 'c' })],
    })
    await planAndApply(app, source)
    // An admin puts someone of their own into B.
    const b = await idOf('B')
    await db().store.write(admin, (w) => w.createPerson({ userName: 'contractor', departmentId: b }))
    // A (and its child A1), B and C are all gone; B still has a person, C's person moves out.
    await reseed(app, source, {
      departments: [dept('d', 'D')],
      users: [u('moves', { departmentExternalId: 'd' })],
    })
    const p = await plan(app, source)
    const deletes = (await allChanges(app, p.id)).filter((c) => c.kind === 'department.delete')
    // Children before parents.
    expect(deletes.map((c) => c.before?.name)).toEqual(['A1', 'A', 'C'])
    expect(p.errorDetails).toMatchObject({
      warnings: [expect.stringMatching(/department B is gone .* kept/)],
    })
    await app.services.plans.apply(p.id, admin)
    expect(await paths()).toEqual(['B', 'D'])
  })

  test('a gone department whose last child moves elsewhere in the same plan is deleted', async () => {
    const source = await fakeSource(app, {
      departments: [dept('old', 'Old Division'), dept('team', 'Team', 'old'), dept('new', 'New Division')],
    })
    await planAndApply(app, source)
    await reseed(app, source, { departments: [dept('team', 'Team', 'new'), dept('new', 'New Division')] })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ departments: { move: 1, delete: 1 } })
    await app.services.plans.apply(p.id, admin)
    expect(await paths()).toEqual(['New Division', 'New Division/Team'])
  })

  test('a department renamed while a new one takes its old name: two departments, both right', async () => {
    const source = await fakeSource(app, {
      departments: [dept('sales', 'Sales')],
      users: [u('old-hand', { departmentExternalId: 'sales' })],
    })
    await planAndApply(app, source)
    const sales = await idOf('Sales')
    // The new "Sales" is listed before the old one is renamed.
    await reseed(app, source, {
      departments: [dept('sales2', 'Sales'), dept('sales', 'Sales EMEA')],
      users: [
        u('old-hand', { departmentExternalId: 'sales' }),
        u('new-hire', { departmentExternalId: 'sales2' }),
      ],
    })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ departments: { create: 1, rename: 1 } })
    await app.services.plans.apply(p.id, admin)
    expect(await paths()).toEqual(['Sales', 'Sales EMEA'])
    expect(await personByUserName(q(), 'old-hand@corp.test')).toMatchObject({
      department: { id: sales, path: 'Sales EMEA' },
    })
    expect(await personByUserName(q(), 'new-hire@corp.test')).toMatchObject({ department: { path: 'Sales' } })
  })

  test('a department the source re-keys (same name, new id) is kept and filled, not deleted', async () => {
    const source = await fakeSource(app, { departments: [dept('lab-old', 'Lab')] })
    await planAndApply(app, source)
    const lab = await idOf('Lab')
    await reseed(app, source, {
      departments: [dept('lab-new', 'Lab')],
      users: [u('scientist', { departmentExternalId: 'lab-new' })],
    })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({ departments: { create: 0, delete: 0 }, people: { create: 1 } })
    await app.services.plans.apply(p.id, admin)
    expect(await personByUserName(q(), 'scientist@corp.test')).toMatchObject({ department: { id: lab } })
  })

  test('a department cycle in the source fails the plan', async () => {
    const source = await fakeSource(app, {
      departments: [dept('a', 'A', 'c'), dept('b', 'B', 'a'), dept('c', 'C', 'b')],
    })
    const p = await plan(app, source)
    expect(p).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/department cycle in the source: .*a/),
    })
    expect(await paths()).toEqual([])
  })

  test('virtual departments made by admins are never touched by a sync', async () => {
    const source = await fakeSource(app, {
      departments: [dept('eng', 'Engineering')],
      users: [u('ada', { departmentExternalId: 'eng' })],
    })
    await planAndApply(app, source)
    const eng = await idOf('Engineering')
    const [projects, skunk] = await db().store.write(admin, async (w) => [
      await w.createDepartment({ name: 'Projects', virtual: true }),
      await w.createDepartment({ name: 'Skunkworks', virtual: true, parentId: eng }),
    ])
    const before = await q()
      .selectFrom('departments')
      .selectAll()
      .where('virtual', '=', true)
      .orderBy('id')
      .execute()

    // The source drops Engineering and lists a department named like the virtual one.
    await reseed(app, source, {
      departments: [dept('proj', 'projects')],
      users: [u('ada', { departmentExternalId: 'proj' })],
    })
    const p = await plan(app, source)
    const changes = await allChanges(app, p.id)
    const touched = new Set(changes.map((c) => c.targetId))
    expect(touched.has(projects!.id)).toBe(false)
    expect(touched.has(skunk!.id)).toBe(false)
    // Engineering still holds the virtual Skunkworks: kept.
    expect(changes.filter((c) => c.kind.startsWith('department.'))).toEqual([])
    await app.services.plans.apply(p.id, admin)
    expect(
      await q().selectFrom('departments').selectAll().where('virtual', '=', true).orderBy('id').execute(),
    ).toEqual(before)
    expect(await paths()).toEqual(['Engineering', 'Engineering/Skunkworks', 'Projects'])
  })
})

describeEachDatabase('sync: groups', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const membersOf = async (displayName: string) =>
    (
      await q()
        .selectFrom('group_members as m')
        .innerJoin('groups as g', 'g.id', 'm.group_id')
        .innerJoin('people as p', 'p.id', 'm.person_id')
        .select('p.user_name')
        .where('g.display_name', '=', displayName)
        .orderBy('p.user_name')
        .execute()
    ).map((r) => r.user_name.replace('@corp.test', ''))

  test('memberships are diffed, groups renamed and deleted', async () => {
    const source = await fakeSource(app, {
      users: [u('a'), u('b'), u('c')],
      groups: [
        { externalId: 'g1', displayName: 'Engineers', memberExternalIds: ['a', 'b'] },
        { externalId: 'g2', displayName: 'Doomed', memberExternalIds: ['c'] },
      ],
    })
    await planAndApply(app, source)
    expect(await membersOf('Engineers')).toEqual(['a', 'b'])
    const g2 = await q()
      .selectFrom('groups')
      .select('id')
      .where('external_id', '=', 'g2')
      .executeTakeFirstOrThrow()

    await reseed(app, source, {
      users: [u('a'), u('b'), u('c'), u('d')],
      groups: [
        {
          externalId: 'g1',
          displayName: 'Software Engineers',
          description: 'all of them',
          memberExternalIds: ['b', 'c', 'd'],
        },
      ],
    })
    const p = await plan(app, source)
    expect(p.summary).toMatchObject({
      groups: { create: 0, update: 1, delete: 1 },
      memberships: { added: 2, removed: 1 },
      people: { create: 1 },
    })
    const changes = await allChanges(app, p.id)
    expect(changes.find((c) => c.kind === 'group.update')).toMatchObject({
      before: { displayName: 'Engineers', description: null },
      after: { displayName: 'Software Engineers', description: 'all of them' },
    })
    expect(changes.find((c) => c.kind === 'group.delete')).toMatchObject({ targetId: g2.id })
    await app.services.plans.apply(p.id, admin)
    expect(await membersOf('Software Engineers')).toEqual(['b', 'c', 'd'])
    expect(await q().selectFrom('groups').select('display_name').execute()).toEqual([
      { display_name: 'Software Engineers' },
    ])
    expect((await plan(app, source)).changeCount).toBe(0)
  })
})
