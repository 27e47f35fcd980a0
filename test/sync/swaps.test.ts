import { departmentsToPark, identitiesToPark } from '../../src/sync/plan-swaps'
import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import {
  admin,
  dept,
  fakeSource,
  orgState,
  personByUserName,
  plan,
  planAndApply,
  reseed,
  u,
  type FakeSeed,
} from '../helpers/sync-fixture'

/**
 * Plans whose changes only fit together once all of them are applied: departments swapping names or
 * places among siblings, people swapping user names. Every step of an apply must respect the unique
 * indexes, yet the plan must apply whole, with one audit event per real change.
 */
describeEachDatabase('sync: swaps within one plan', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  const tree = async () =>
    (await q().selectFrom('departments').select(['path', 'id_path', 'depth']).orderBy('path').execute()).map(
      (d) => d.path,
    )
  const idOf = async (path: string) =>
    (await q().selectFrom('departments').select('id').where('path', '=', path).executeTakeFirstOrThrow()).id
  /** The audit events of the org tree since `from` (the plan's own plan.apply left out), in order. */
  const auditSince = (from: number) =>
    q()
      .selectFrom('audit_events')
      .select(['seq', 'action', 'target_id', 'before', 'after'])
      .where('seq', '>', from)
      .where('target_type', '<>', 'plan')
      .orderBy('seq')
      .execute()
  const lastSeq = async () =>
    Number(
      (
        await q()
          .selectFrom('audit_events')
          .select((eb) => eb.fn.max('seq').as('seq'))
          .executeTakeFirstOrThrow()
      ).seq ?? 0,
    )
  /** Every path is its parent's path plus its own name, every id path and depth likewise. */
  const expectConsistentTree = async () => {
    const rows = await q().selectFrom('departments').selectAll().execute()
    const byId = new Map(rows.map((r) => [r.id, r]))
    for (const r of rows) {
      const parent = r.parent_id ? byId.get(r.parent_id)! : null
      const segment = r.name.replace(/[\\/]/g, (c) => `\\${c}`)
      expect(r.path).toBe(parent ? `${parent.path}/${segment}` : segment)
      expect(r.id_path).toBe(`${parent?.id_path ?? '/'}${r.id}/`)
      expect(r.depth).toBe(parent ? parent.depth + 1 : 0)
    }
  }
  /** No stored value anywhere mentions a control character (the temporary names use one). */
  const expectNoTemporaryNames = async () => {
    const control = (s: string | null) => [...(s ?? '')].filter((c) => c.charCodeAt(0) < 0x20)
    const names = await q().selectFrom('departments').select(['name', 'path']).execute()
    for (const n of names) expect(control(`${n.name} ${n.path}`)).toEqual([])
    const people = await q().selectFrom('people').select('user_name').execute()
    for (const p of people) expect(control(p.user_name)).toEqual([])
    const identities = await q().selectFrom('identities').select('user_name').execute()
    for (const i of identities) expect(control(i.user_name)).toEqual([])
    for (const e of await auditSince(0)) {
      // JSON writes a control character as \u00XX.
      expect(JSON.stringify([e.before, e.after])).not.toMatch(/\\u00[01][0-9a-f]/)
    }
  }
  const applyNext = async (source: string, seed: FakeSeed) => {
    await reseed(app, source, seed)
    const p = await plan(app, source)
    expect(p).toMatchObject({ status: 'ready', error: null })
    const from = await lastSeq()
    await app.services.plans.apply(p.id, admin)
    return { plan: p, events: await auditSince(from) }
  }

  describe('departments', () => {
    test('two siblings swap names: both renames apply, paths of both subtrees are right', async () => {
      const source = await fakeSource(app, {
        departments: [
          dept('org', 'Org'),
          dept('x', 'Sales', 'org'),
          dept('x1', 'EMEA', 'x'),
          dept('y', 'Marketing', 'org'),
          dept('y1', 'Brand', 'y'),
        ],
        users: [u('ann', { departmentExternalId: 'x1' }), u('bo', { departmentExternalId: 'y' })],
      })
      await planAndApply(app, source)
      const x = await idOf('Org/Sales')
      const y = await idOf('Org/Marketing')
      const { plan: p, events } = await applyNext(source, {
        departments: [
          dept('org', 'Org'),
          dept('x', 'Marketing', 'org'),
          dept('x1', 'EMEA', 'x'),
          dept('y', 'Sales', 'org'),
          dept('y1', 'Brand', 'y'),
        ],
        users: [u('ann', { departmentExternalId: 'x1' }), u('bo', { departmentExternalId: 'y' })],
      })
      expect(p.summary).toMatchObject({ departments: { rename: 2, move: 0, create: 0, delete: 0 } })
      expect(await tree()).toEqual([
        'Org',
        'Org/Marketing',
        'Org/Marketing/EMEA',
        'Org/Sales',
        'Org/Sales/Brand',
      ])
      expect(await idOf('Org/Marketing')).toBe(x)
      expect(await idOf('Org/Sales')).toBe(y)
      expect(await personByUserName(q(), 'ann@corp.test')).toMatchObject({
        department: { path: 'Org/Marketing/EMEA' },
      })
      expect(await personByUserName(q(), 'bo@corp.test')).toMatchObject({
        department: { id: y, path: 'Org/Sales' },
      })
      // One event per real rename, from the old name to the new one.
      expect(events.map((e) => [e.action, e.target_id])).toEqual(
        expect.arrayContaining([
          ['department.rename', x],
          ['department.rename', y],
        ]),
      )
      expect(events.filter((e) => e.action.startsWith('department.'))).toHaveLength(2)
      expect(events.find((e) => e.target_id === x)).toMatchObject({
        before: { name: 'Sales', path: 'Org/Sales' },
        after: { name: 'Marketing', path: 'Org/Marketing', subtreeSize: 2 },
      })
      expect(events.find((e) => e.target_id === y)).toMatchObject({
        before: { name: 'Marketing', path: 'Org/Marketing' },
        after: { name: 'Sales', path: 'Org/Sales', subtreeSize: 2 },
      })
      const versions = await q().selectFrom('departments').select(['id', 'version']).execute()
      expect(versions.find((v) => v.id === x)!.version).toBe(2)
      expect(versions.find((v) => v.id === y)!.version).toBe(2)
      await expectConsistentTree()
      await expectNoTemporaryNames()
      // Settled: the next plan has nothing to do.
      expect((await plan(app, source)).changeCount).toBe(0)
    })

    test('top-level departments swap names, differing in case too', async () => {
      const source = await fakeSource(app, {
        departments: [dept('x', 'Sales'), dept('y', 'Marketing')],
      })
      await planAndApply(app, source)
      const { events } = await applyNext(source, {
        departments: [dept('x', 'MARKETING'), dept('y', 'sales')],
      })
      expect(await tree()).toEqual(['MARKETING', 'sales'])
      expect(events.map((e) => [e.action, e.before, e.after])).toEqual(
        expect.arrayContaining([
          [
            'department.rename',
            { name: 'Sales', path: 'Sales' },
            expect.objectContaining({ name: 'MARKETING' }),
          ],
          [
            'department.rename',
            { name: 'Marketing', path: 'Marketing' },
            expect.objectContaining({ name: 'sales' }),
          ],
        ]),
      )
      await expectNoTemporaryNames()
    })

    test('a chain of renames (A takes B, B takes C, C takes a new name) applies whatever the order', async () => {
      const source = await fakeSource(app, {
        departments: [dept('a', 'A'), dept('b', 'B'), dept('c', 'C')],
      })
      await planAndApply(app, source)
      const { events } = await applyNext(source, {
        departments: [dept('a', 'B'), dept('b', 'C'), dept('c', 'D')],
      })
      expect(await tree()).toEqual(['B', 'C', 'D'])
      const renames = events.filter((e) => e.action === 'department.rename')
      expect(renames.map((e) => [e.before, e.after]).sort()).toEqual(
        [
          [{ name: 'A', path: 'A' }, expect.objectContaining({ name: 'B', path: 'B' })],
          [{ name: 'B', path: 'B' }, expect.objectContaining({ name: 'C', path: 'C' })],
          [{ name: 'C', path: 'C' }, expect.objectContaining({ name: 'D', path: 'D' })],
        ].sort(),
      )
      expect(events).toHaveLength(3)
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('a rotation of three names among siblings', async () => {
      const source = await fakeSource(app, {
        departments: [dept('p', 'P'), dept('a', 'A', 'p'), dept('b', 'B', 'p'), dept('c', 'C', 'p')],
      })
      await planAndApply(app, source)
      const ids = await Promise.all(['P/A', 'P/B', 'P/C'].map(idOf))
      await applyNext(source, {
        departments: [dept('p', 'P'), dept('a', 'B', 'p'), dept('b', 'C', 'p'), dept('c', 'A', 'p')],
      })
      expect(await Promise.all(['P/B', 'P/C', 'P/A'].map(idOf))).toEqual(ids)
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('a rename into the name a sibling gives up by moving away', async () => {
      const source = await fakeSource(app, {
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('ops', 'Ops', 'p'), dept('x', 'Infra', 'p')],
      })
      await planAndApply(app, source)
      const ops = await idOf('P/Ops')
      const x = await idOf('P/Infra')
      const { events } = await applyNext(source, {
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('ops', 'Ops', 'q'), dept('x', 'Ops', 'p')],
      })
      expect(await tree()).toEqual(['P', 'P/Ops', 'Q', 'Q/Ops'])
      expect(await idOf('P/Ops')).toBe(x)
      expect(await idOf('Q/Ops')).toBe(ops)
      expect(events.map((e) => [e.action, e.target_id, e.before, e.after])).toEqual([
        [
          'department.rename',
          x,
          { name: 'Infra', path: 'P/Infra' },
          { name: 'Ops', path: 'P/Ops', subtreeSize: 1 },
        ],
        [
          'department.move',
          ops,
          { parentId: await idOf('P'), path: 'P/Ops' },
          { parentId: await idOf('Q'), path: 'Q/Ops', subtreeSize: 1 },
        ],
      ])
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('a move lands under a parent whose same-named child leaves in the same plan', async () => {
      const source = await fakeSource(app, {
        departments: [
          dept('p', 'P'),
          dept('q', 'Q'),
          dept('r', 'R'),
          dept('t1', 'Team', 'q'),
          dept('t1a', 'Alpha', 't1'),
          dept('t2', 'Team', 'p'),
          dept('t2a', 'Beta', 't2'),
        ],
        users: [u('ann', { departmentExternalId: 't1a' })],
      })
      await planAndApply(app, source)
      const t1 = await idOf('Q/Team')
      const t2 = await idOf('P/Team')
      // Q's Team moves to P (listed first), P's Team moves on to R.
      const { events } = await applyNext(source, {
        departments: [
          dept('p', 'P'),
          dept('q', 'Q'),
          dept('r', 'R'),
          dept('t1', 'Team', 'p'),
          dept('t1a', 'Alpha', 't1'),
          dept('t2', 'Team', 'r'),
          dept('t2a', 'Beta', 't2'),
        ],
        users: [u('ann', { departmentExternalId: 't1a' })],
      })
      expect(await tree()).toEqual(['P', 'P/Team', 'P/Team/Alpha', 'Q', 'R', 'R/Team', 'R/Team/Beta'])
      expect(await idOf('P/Team')).toBe(t1)
      expect(await idOf('R/Team')).toBe(t2)
      expect(await personByUserName(q(), 'ann@corp.test')).toMatchObject({
        department: { path: 'P/Team/Alpha' },
      })
      expect(events.map((e) => [e.action, e.target_id, e.before, e.after])).toEqual(
        expect.arrayContaining([
          [
            'department.move',
            t1,
            { parentId: await idOf('Q'), path: 'Q/Team' },
            { parentId: await idOf('P'), path: 'P/Team', subtreeSize: 2 },
          ],
          [
            'department.move',
            t2,
            { parentId: await idOf('P'), path: 'P/Team' },
            { parentId: await idOf('R'), path: 'R/Team', subtreeSize: 2 },
          ],
        ]),
      )
      expect(events).toHaveLength(2)
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('two same-named departments trade parents', async () => {
      const source = await fakeSource(app, {
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('t1', 'Team', 'q'), dept('t2', 'Team', 'p')],
      })
      await planAndApply(app, source)
      const t1 = await idOf('Q/Team')
      const t2 = await idOf('P/Team')
      await applyNext(source, {
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('t1', 'Team', 'p'), dept('t2', 'Team', 'q')],
      })
      expect(await idOf('P/Team')).toBe(t1)
      expect(await idOf('Q/Team')).toBe(t2)
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('a new department takes the name a sibling gives up by moving away', async () => {
      const source = await fakeSource(app, {
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('ops', 'Ops', 'p')],
      })
      await planAndApply(app, source)
      const ops = await idOf('P/Ops')
      await applyNext(source, {
        // The new one is listed before the old one moves.
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('ops2', 'Ops', 'p'), dept('ops', 'Ops', 'q')],
      })
      expect(await tree()).toEqual(['P', 'P/Ops', 'Q', 'Q/Ops'])
      expect(await idOf('Q/Ops')).toBe(ops)
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('a rename into the name of a sibling the plan deletes', async () => {
      const source = await fakeSource(app, {
        departments: [dept('old', 'Legacy'), dept('x', 'Platform')],
      })
      await planAndApply(app, source)
      const old = await idOf('Legacy')
      const { events } = await applyNext(source, { departments: [dept('x', 'Legacy')] })
      expect(await tree()).toEqual(['Legacy'])
      expect(events.map((e) => [e.action, e.before])).toEqual([
        ['department.rename', { name: 'Platform', path: 'Platform' }],
        ['department.delete', expect.objectContaining({ id: old, name: 'Legacy', path: 'Legacy' })],
      ])
      await expectNoTemporaryNames()
    })

    test('renamed and moved at once, through a name its old parent still has', async () => {
      const source = await fakeSource(app, {
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('a', 'A', 'p'), dept('b', 'B', 'p')],
      })
      await planAndApply(app, source)
      const a = await idOf('P/A')
      const { events } = await applyNext(source, {
        departments: [dept('p', 'P'), dept('q', 'Q'), dept('a', 'B', 'q'), dept('b', 'B', 'p')],
      })
      expect(await tree()).toEqual(['P', 'P/B', 'Q', 'Q/B'])
      expect(await idOf('Q/B')).toBe(a)
      expect(events.map((e) => [e.action, e.before, e.after])).toEqual([
        ['department.rename', { name: 'A', path: 'P/A' }, { name: 'B', path: 'P/B', subtreeSize: 1 }],
        [
          'department.move',
          { parentId: await idOf('P'), path: 'P/B' },
          { parentId: await idOf('Q'), path: 'Q/B', subtreeSize: 1 },
        ],
      ])
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('a swap of names inside a subtree that also moves', async () => {
      const source = await fakeSource(app, {
        departments: [
          dept('p', 'P'),
          dept('q', 'Q'),
          dept('d', 'Div', 'p'),
          dept('x', 'Sales', 'd'),
          dept('y', 'Marketing', 'd'),
        ],
      })
      await planAndApply(app, source)
      await applyNext(source, {
        departments: [
          dept('p', 'P'),
          dept('q', 'Q'),
          dept('d', 'Division', 'q'),
          dept('x', 'Marketing', 'd'),
          dept('y', 'Sales', 'd'),
        ],
      })
      expect(await tree()).toEqual(['P', 'Q', 'Q/Division', 'Q/Division/Marketing', 'Q/Division/Sales'])
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('departments created and moved under a department parked for a swap get its real path', async () => {
      const source = await fakeSource(app, {
        departments: [dept('x', 'Sales'), dept('y', 'Marketing'), dept('w', 'Web')],
      })
      await planAndApply(app, source)
      const y = await idOf('Marketing')
      const w = await idOf('Web')
      const { events } = await applyNext(source, {
        departments: [
          dept('x', 'Marketing'),
          dept('y', 'Sales'),
          dept('z', 'Zeta', 'y'),
          dept('w', 'Web', 'y'),
        ],
      })
      expect(await tree()).toEqual(['Marketing', 'Sales', 'Sales/Web', 'Sales/Zeta'])
      expect(await idOf('Sales')).toBe(y)
      expect(events.find((e) => e.action === 'department.create')).toMatchObject({
        after: { name: 'Zeta', path: 'Sales/Zeta', parentId: y },
      })
      expect(events.find((e) => e.action === 'department.move')).toMatchObject({
        target_id: w,
        before: { path: 'Web' },
        after: { path: 'Sales/Web', parentId: y, subtreeSize: 1 },
      })
      await expectConsistentTree()
      await expectNoTemporaryNames()
    })

    test('only departments really in the way are parked', async () => {
      const source = await fakeSource(app, {
        departments: [
          dept('a', 'A'),
          dept('b', 'B'),
          dept('c', 'C'),
          dept('s', 'Sales'),
          dept('m', 'Marketing'),
        ],
      })
      await planAndApply(app, source)
      const parked = async (departments: FakeSeed['departments']) => {
        await reseed(app, source, { departments })
        const p = await plan(app, source)
        const ids = await departmentsToPark(q(), p.id)
        await app.services.plans.reject(p.id, admin)
        const names = await q().selectFrom('departments').select(['id', 'name']).execute()
        return ids.map((id) => names.find((n) => n.id === id)!.name)
      }
      const rest = [dept('a', 'A'), dept('b', 'B'), dept('c', 'C')]
      // A swap: the one renamed second is in the way of the first.
      expect(await parked([...rest, dept('s', 'Marketing'), dept('m', 'Sales')])).toEqual(['Marketing'])
      // A chain listed in an order that works as it is, and plain renames: nothing.
      expect(
        await parked([
          dept('c', 'D'),
          dept('b', 'C'),
          dept('a', 'B'),
          dept('s', 'Sales'),
          dept('m', 'Marketing'),
        ]),
      ).toEqual([])
      expect(await parked([...rest, dept('s', 'Sales EMEA'), dept('m', 'Brand')])).toEqual([])
      // The same chain listed the other way round: B is in A's way; parked until the end, it waits
      // for nobody, so C stays put until its own rename.
      expect(
        await parked([
          dept('a', 'B'),
          dept('b', 'C'),
          dept('c', 'D'),
          dept('s', 'Sales'),
          dept('m', 'Marketing'),
        ]),
      ).toEqual(['B'])
    })

    test('a rename into the name of a department the plan does not change still fails, changing nothing', async () => {
      const source = await fakeSource(app, { departments: [dept('x', 'Sales')] })
      await planAndApply(app, source)
      await db().store.write(admin, (w) => w.createDepartment({ name: 'Partners', virtual: true }))
      await reseed(app, source, { departments: [dept('x', 'partners')] })
      const p = await plan(app, source)
      expect(p.status).toBe('ready')
      const state = await orgState(q())
      await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({
        kind: 'conflict',
        message: expect.stringMatching(/a department named "partners" already exists under the root/),
      })
      expect(await orgState(q())).toEqual(state)
    })

    test('a swap whose other half is blocked by a department the plan does not change fails whole', async () => {
      // x takes y's name, y takes the name of an admin's department: y cannot move, so neither can x.
      const source = await fakeSource(app, { departments: [dept('x', 'Sales'), dept('y', 'Marketing')] })
      await planAndApply(app, source)
      await db().store.write(admin, (w) => w.createDepartment({ name: 'Partners', virtual: true }))
      await reseed(app, source, { departments: [dept('x', 'Marketing'), dept('y', 'Partners')] })
      const p = await plan(app, source)
      const state = await orgState(q())
      await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({
        kind: 'conflict',
        message: expect.stringMatching(
          /a department named "(Partners|Marketing)" already exists under the root/,
        ),
      })
      expect(await orgState(q())).toEqual(state)
    })
  })

  test('an incremental round: a new department takes a removed one’s name, two users swap user names', async () => {
    const source = await fakeSource(
      app,
      {
        departments: [dept('old', 'Legacy')],
        users: [u('a'), u('b')],
        incremental: {
          rounds: [
            [
              { kind: 'department', department: dept('new', 'legacy') },
              { kind: 'department.removed', externalId: 'old' },
              { kind: 'user.partial', user: { externalId: 'a', userName: 'b@corp.test' } },
              { kind: 'user.partial', user: { externalId: 'b', userName: 'a@corp.test' } },
            ],
          ],
        },
      } as FakeSeed,
      { mode: 'auto' },
    )
    await planAndApply(app, source)
    const a = await personByUserName(q(), 'a@corp.test')
    const p = await plan(app, source)
    expect(p).toMatchObject({ status: 'ready', listing: 'incremental' })
    expect(p.summary).toMatchObject({ departments: { create: 1, delete: 1 }, people: { update: 2 } })
    await app.services.plans.apply(p.id, admin)
    expect(await tree()).toEqual(['legacy'])
    expect(await personByUserName(q(), 'b@corp.test')).toMatchObject({ id: a.id })
    await expectConsistentTree()
    await expectNoTemporaryNames()
  })

  describe('user names', () => {
    const identityNames = async () =>
      Object.fromEntries(
        (
          await q()
            .selectFrom('identities')
            .select(['external_id', 'user_name'])
            .where('removed_at', 'is', null)
            .execute()
        ).map((i) => [i.external_id, i.user_name]),
      )

    test('two people swap user names', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b'), u('c')] })
      await planAndApply(app, source)
      const a = await personByUserName(q(), 'a@corp.test')
      const b = await personByUserName(q(), 'b@corp.test')
      const { plan: p, events } = await applyNext(source, {
        users: [u('a', { userName: 'b@corp.test' }), u('b', { userName: 'a@corp.test' }), u('c')],
      })
      expect(p.summary).toMatchObject({ people: { update: 2 }, identities: { update: 2 } })
      expect(await personByUserName(q(), 'b@corp.test')).toMatchObject({ id: a.id, email: 'a@corp.test' })
      expect(await personByUserName(q(), 'a@corp.test')).toMatchObject({ id: b.id, email: 'b@corp.test' })
      expect(await identityNames()).toEqual({ a: 'b@corp.test', b: 'a@corp.test', c: 'c@corp.test' })
      const updates = events.filter((e) => e.action === 'person.update')
      expect(updates.map((e) => [e.target_id, e.before, e.after])).toEqual(
        expect.arrayContaining([
          [a.id, { userName: 'a@corp.test' }, { userName: 'b@corp.test' }],
          [b.id, { userName: 'b@corp.test' }, { userName: 'a@corp.test' }],
        ]),
      )
      expect(updates).toHaveLength(2)
      const identityUpdates = events.filter((e) => e.action === 'identity.update')
      expect(identityUpdates).toHaveLength(2)
      for (const e of identityUpdates) {
        const before = e.before as { userName: string; externalId: string }
        const after = e.after as { userName: string; externalId: string }
        expect([before.externalId, before.userName, after.userName]).toEqual(
          before.externalId === 'a'
            ? ['a', 'a@corp.test', 'b@corp.test']
            : ['b', 'b@corp.test', 'a@corp.test'],
        )
      }
      expect(events).toHaveLength(4)
      await expectNoTemporaryNames()
      expect((await plan(app, source)).changeCount).toBe(0)
    })

    test('a chain: a takes b’s user name, b takes c’s, c a new one', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b'), u('c')] })
      await planAndApply(app, source)
      await applyNext(source, {
        users: [
          u('a', { userName: 'b@corp.test' }),
          u('b', { userName: 'c@corp.test' }),
          u('c', { userName: 'z@corp.test' }),
        ],
      })
      expect(await identityNames()).toEqual({ a: 'b@corp.test', b: 'c@corp.test', c: 'z@corp.test' })
      await expectNoTemporaryNames()
    })

    test('user names swapped differing only in case', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b')] })
      await planAndApply(app, source)
      await applyNext(source, {
        users: [u('a', { userName: 'B@corp.test' }), u('b', { userName: 'A@Corp.Test' })],
      })
      expect(await identityNames()).toEqual({ a: 'B@corp.test', b: 'A@Corp.Test' })
      await expectNoTemporaryNames()
    })

    test('only identities really in the way are parked', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b'), u('c')] })
      await planAndApply(app, source)
      const parked = async (users: FakeSeed['users']) => {
        await reseed(app, source, { users })
        const p = await plan(app, source)
        const ids = await identitiesToPark(q(), p.id)
        await app.services.plans.reject(p.id, admin)
        const rows = await q().selectFrom('identities').select(['id', 'external_id']).execute()
        return ids.map((id) => rows.find((r) => r.id === id)!.external_id)
      }
      // A swap: the one updated second is in the way of the first.
      expect(
        await parked([u('a', { userName: 'b@corp.test' }), u('b', { userName: 'a@corp.test' }), u('c')]),
      ).toEqual(['b'])
      // A chain in an order that works as it is, other attributes, a case change: nothing.
      expect(
        await parked([u('b', { userName: 'c2@corp.test' }), u('a', { userName: 'b@corp.test' }), u('c')]),
      ).toEqual([])
      expect(await parked([u('a', { title: 'Boss' }), u('b', { userName: 'B@corp.test' }), u('c')])).toEqual(
        [],
      )
    })

    test('a user name another live identity keeps is still a clear conflict, and nothing changes', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b')] })
      await planAndApply(app, source)
      await reseed(app, source, { users: [u('a', { userName: 'b@corp.test' }), u('b')] })
      const p = await plan(app, source)
      const state = await orgState(q())
      await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({
        kind: 'conflict',
        message: expect.stringMatching(/user name "b@corp.test" is already used by another identity/),
      })
      expect(await orgState(q())).toEqual(state)
    })

    test('a chain ending on a user name another live identity keeps fails whole, naming that user name', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b'), u('c')] })
      await planAndApply(app, source)
      await reseed(app, source, {
        users: [u('a', { userName: 'b@corp.test' }), u('b', { userName: 'c@corp.test' }), u('c')],
      })
      const p = await plan(app, source)
      const state = await orgState(q())
      await expect(app.services.plans.apply(p.id, admin)).rejects.toMatchObject({
        kind: 'conflict',
        message: expect.stringMatching(/user name "c@corp.test" is already used by another identity/),
      })
      expect(await orgState(q())).toEqual(state)
    })
  })
})
