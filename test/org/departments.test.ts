import type { Actor } from '../../src/org/actor'
import { splitPath } from '../../src/department-path'
import { listDepartments } from '../../src/org/department-queries'
import { describeEachDatabase } from '../helpers/test-database'

const admin: Actor = { type: 'admin', id: 'a-1', name: 'alice' }
const source: Actor = { type: 'source', id: null, name: 'hr csv' }

describeEachDatabase('org store: departments', (db) => {
  beforeEach(() => db().reset())

  async function allPaths(): Promise<Map<string, string>> {
    const rows = await db().handle.db.selectFrom('departments').select(['id', 'path']).execute()
    return new Map(rows.map((r) => [r.id, r.path]))
  }

  test('creates a tree with paths and depths, and audits each creation', async () => {
    const { store } = db()
    const { eng, platform } = await store.write(admin, async (w) => {
      const eng = await w.createDepartment({ name: ' Engineering ' })
      const platform = await w.createDepartment({ name: 'Platform', parentId: eng.id })
      return { eng, platform }
    })
    expect(eng).toMatchObject({ name: 'Engineering', path: 'Engineering', depth: 0, parentId: null })
    expect(platform).toMatchObject({ path: 'Engineering/Platform', depth: 1, parentId: eng.id })
    const events = await db().handle.db.selectFrom('audit_events').selectAll().orderBy('seq').execute()
    expect(events.map((e) => [e.action, e.target_id, e.actor_type, e.actor_name])).toEqual([
      ['department.create', eng.id, 'admin', 'alice'],
      ['department.create', platform.id, 'admin', 'alice'],
    ])
  })

  test('a "/" inside a name is escaped in the path and splits back', async () => {
    const d = await db().store.write(admin, (w) => w.createDepartment({ name: 'R&D / Labs' }))
    expect(d.path).toBe('R&D \\/ Labs')
    expect(splitPath(d.path)).toEqual(['R&D / Labs'])
  })

  test('sibling names are unique case-insensitively; the same name elsewhere is fine', async () => {
    const { store } = db()
    const a = await store.write(admin, (w) => w.createDepartment({ name: 'Sales' }))
    await expect(store.write(admin, (w) => w.createDepartment({ name: 'SALES' }))).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('already exists under the root'),
    })
    await expect(
      store.write(admin, (w) => w.createDepartment({ name: 'sales', parentId: a.id })),
    ).resolves.toMatchObject({
      path: 'Sales/sales',
    })
  })

  test('an unknown parent is invalid input and writes nothing', async () => {
    await expect(
      db().store.write(admin, (w) =>
        w.createDepartment({ name: 'x', parentId: '6f1c1e36-9a43-4a5c-8f0e-0a0d1b8c0b11' }),
      ),
    ).rejects.toMatchObject({ kind: 'invalid' })
    expect(await allPaths()).toEqual(new Map())
    const audit = await db().handle.db.selectFrom('audit_events').select('seq').execute()
    expect(audit).toHaveLength(0)
  })

  test('moving a department carries its whole subtree; renaming rewrites descendants', async () => {
    const { store } = db()
    const ids = await store.write(admin, async (w) => {
      const a = await w.createDepartment({ name: 'A' })
      const b = await w.createDepartment({ name: 'B' })
      const a1 = await w.createDepartment({ name: 'A1', parentId: a.id })
      const a11 = await w.createDepartment({ name: 'A11', parentId: a1.id })
      return { a, b, a1, a11 }
    })
    const moved = await store.write(admin, (w) => w.moveDepartment(ids.a1.id, ids.b.id))
    expect(moved).toMatchObject({ path: 'B/A1', depth: 1, parentId: ids.b.id })
    let paths = await allPaths()
    expect(paths.get(ids.a11.id)).toBe('B/A1/A11')
    expect(paths.get(ids.a.id)).toBe('A')

    await store.write(admin, (w) => w.renameDepartment(ids.b.id, 'Bee'))
    paths = await allPaths()
    expect([...paths.values()].sort()).toEqual(['A', 'Bee', 'Bee/A1', 'Bee/A1/A11'])

    const a11 = await db()
      .handle.db.selectFrom('departments')
      .selectAll()
      .where('id', '=', ids.a11.id)
      .executeTakeFirstOrThrow()
    expect(a11.depth).toBe(2)
    expect(a11.id_path).toBe(`/${ids.b.id}/${ids.a1.id}/${ids.a11.id}/`)

    const toRoot = await store.write(admin, (w) => w.moveDepartment(ids.a1.id, null))
    expect(toRoot).toMatchObject({ path: 'A1', depth: 0, parentId: null })
    expect((await allPaths()).get(ids.a11.id)).toBe('A1/A11')

    const audit = await db()
      .handle.db.selectFrom('audit_events')
      .selectAll()
      .where('action', 'in', ['department.move', 'department.rename'])
      .orderBy('seq')
      .execute()
    expect(audit.map((e) => [e.action, e.before, e.after])).toEqual([
      [
        'department.move',
        { parentId: ids.a.id, path: 'A/A1' },
        { parentId: ids.b.id, path: 'B/A1', subtreeSize: 2 },
      ],
      ['department.rename', { name: 'B', path: 'B' }, { name: 'Bee', path: 'Bee', subtreeSize: 3 }],
      [
        'department.move',
        { parentId: ids.b.id, path: 'Bee/A1' },
        { parentId: null, path: 'A1', subtreeSize: 2 },
      ],
    ])
  })

  test('a department cannot move into its own subtree', async () => {
    const { store } = db()
    const { a, a1 } = await store.write(admin, async (w) => {
      const a = await w.createDepartment({ name: 'A' })
      const a1 = await w.createDepartment({ name: 'A1', parentId: a.id })
      return { a, a1 }
    })
    await expect(store.write(admin, (w) => w.moveDepartment(a.id, a1.id))).rejects.toMatchObject({
      kind: 'invalid',
      message: 'cannot move "A" into its own subtree ("A/A1")',
    })
    await expect(store.write(admin, (w) => w.moveDepartment(a.id, a.id))).rejects.toMatchObject({
      kind: 'invalid',
    })
    expect((await allPaths()).get(a1.id)).toBe('A/A1')
  })

  test('a move that collides with a sibling name fails and leaves the tree as it was', async () => {
    const { store } = db()
    const { x, a } = await store.write(admin, async (w) => {
      const a = await w.createDepartment({ name: 'A' })
      const b = await w.createDepartment({ name: 'B' })
      await w.createDepartment({ name: 'X', parentId: b.id })
      const x = await w.createDepartment({ name: 'x', parentId: a.id })
      await w.createDepartment({ name: 'child', parentId: x.id })
      return { a, b, x }
    })
    const before = await allPaths()
    const b = [...before.entries()].find(([, p]) => p === 'B')![0]
    await expect(store.write(admin, (w) => w.moveDepartment(x.id, b))).rejects.toMatchObject({
      kind: 'conflict',
    })
    expect(await allPaths()).toEqual(before)
    expect(a.id).toBeDefined()
  })

  test('a failure later in a write transaction rolls back the earlier writes and their audit', async () => {
    const { store } = db()
    await expect(
      store.write(admin, async (w) => {
        await w.createDepartment({ name: 'Kept?' })
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await allPaths()).toEqual(new Map())
    expect(await db().handle.db.selectFrom('audit_events').select('seq').execute()).toHaveLength(0)
  })

  test('a virtual department is never changed by a sync, only by an admin', async () => {
    const { store } = db()
    const v = await store.write(admin, (w) => w.createDepartment({ name: 'Partners', virtual: true }))
    await expect(store.write(source, (w) => w.renameDepartment(v.id, 'Renamed'))).rejects.toMatchObject({
      kind: 'forbidden',
    })
    await expect(store.write(source, (w) => w.deleteDepartment(v.id))).rejects.toMatchObject({
      kind: 'forbidden',
    })
    await expect(
      store.write(admin, (w) => w.renameDepartment(v.id, 'Partner office')),
    ).resolves.toMatchObject({
      virtual: true,
      path: 'Partner office',
    })
  })

  test('deleting refuses a department with children or people', async () => {
    const { store } = db()
    const { a, a1 } = await store.write(admin, async (w) => {
      const a = await w.createDepartment({ name: 'A' })
      const a1 = await w.createDepartment({ name: 'A1', parentId: a.id })
      await w.createPerson({ userName: 'p@x.test', departmentId: a1.id })
      return { a, a1 }
    })
    await expect(store.write(admin, (w) => w.deleteDepartment(a.id))).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('1 sub-departments, 0 people'),
    })
    await expect(store.write(admin, (w) => w.deleteDepartment(a1.id))).rejects.toMatchObject({
      message: expect.stringContaining('0 sub-departments, 1 people'),
    })
  })

  test('the flat listing pages in path order with member counts', async () => {
    const { store } = db()
    await store.write(admin, async (w) => {
      const root = await w.createDepartment({ name: 'Root' })
      for (const n of ['c', 'a', 'b']) {
        const d = await w.createDepartment({ name: n, parentId: root.id })
        if (n === 'b') {
          await w.createPerson({ userName: 'one', departmentId: d.id })
          const gone = await w.createPerson({ userName: 'two', departmentId: d.id })
          await w.deprovisionPerson(gone.id, { reason: 'left' })
        }
      }
    })
    const first = await listDepartments(db().handle.db, { limit: 2 })
    expect(first.items.map((d) => d.path)).toEqual(['Root', 'Root/a'])
    expect(first.nextCursor).not.toBeNull()
    const second = await listDepartments(db().handle.db, { limit: 2, cursor: first.nextCursor! })
    expect(second.items.map((d) => [d.path, d.memberCount])).toEqual([
      ['Root/b', 1],
      ['Root/c', 0],
    ])
    expect(second.nextCursor).toBeNull()
  })
})
