import { randomUUID } from 'node:crypto'
import type { Actor } from '../../src/org/actor'
import type { Person } from '../../src/org/records'
import { describeEachDatabase } from '../helpers/test-database'

const admin: Actor = { type: 'admin', id: 'a-1', name: 'alice' }
const UNKNOWN = '6f1c1e36-9a43-4a5c-8f0e-0a0d1b8c0b11'

describeEachDatabase('org store: groups', (db) => {
  beforeEach(() => db().reset())

  const q = () => db().handle.db

  async function auditRows() {
    return q().selectFrom('audit_events').selectAll().orderBy('seq').execute()
  }

  async function members(groupId: string): Promise<string[]> {
    const rows = await q()
      .selectFrom('group_members')
      .select('person_id')
      .where('group_id', '=', groupId)
      .execute()
    return rows.map((r) => r.person_id).sort()
  }

  async function people(...userNames: string[]): Promise<Person[]> {
    return db().store.write(admin, async (w) => {
      const out: Person[] = []
      for (const userName of userNames) out.push(await w.createPerson({ userName }))
      return out
    })
  }

  const sorted = (ids: readonly string[]) => [...ids].sort()

  test('creating a group trims its texts and audits it', async () => {
    const g = await db().store.write(admin, (w) =>
      w.createGroup({ displayName: '  Engineers ', description: ' all of them ', externalId: ' ' }),
    )
    expect(g).toMatchObject({
      displayName: 'Engineers',
      description: 'all of them',
      sourceId: null,
      externalId: null,
    })
    const stored = await q().selectFrom('groups').selectAll().execute()
    expect(stored.map((r) => [r.id, r.display_name, r.description])).toEqual([
      [g.id, 'Engineers', 'all of them'],
    ])
    const events = await auditRows()
    expect(events.map((e) => [e.action, e.target_type, e.target_id, e.actor_type, e.actor_name])).toEqual([
      ['group.create', 'group', g.id, 'admin', 'alice'],
    ])
    expect(events[0]!.after).toMatchObject({ id: g.id, displayName: 'Engineers', description: 'all of them' })
  })

  test('bad group input is invalid and writes nothing', async () => {
    for (const input of [
      { displayName: '   ' },
      { displayName: 'x', sourceId: 'not-a-uuid' },
      { displayName: 'x', sourceId: UNKNOWN },
    ]) {
      await expect(db().store.write(admin, (w) => w.createGroup(input))).rejects.toMatchObject({
        kind: 'invalid',
      })
    }
    expect(await q().selectFrom('groups').select('id').execute()).toHaveLength(0)
    expect(await auditRows()).toHaveLength(0)
  })

  test("a source's external id names one group; another source may reuse it", async () => {
    const s1 = randomUUID()
    const s2 = randomUUID()
    await q()
      .insertInto('sources')
      .values([
        { id: s1, type: 'csv', name: 'one', config: '{}' },
        { id: s2, type: 'csv', name: 'two', config: '{}' },
      ])
      .execute()
    await db().store.write(admin, (w) => w.createGroup({ displayName: 'A', sourceId: s1, externalId: 'g-1' }))
    await expect(
      db().store.write(admin, (w) => w.createGroup({ displayName: 'B', sourceId: s1, externalId: 'g-1' })),
    ).rejects.toMatchObject({ kind: 'conflict' })
    await expect(
      db().store.write(admin, (w) => w.createGroup({ displayName: 'B', sourceId: s2, externalId: 'g-1' })),
    ).resolves.toMatchObject({ sourceId: s2, externalId: 'g-1' })
    expect(await q().selectFrom('groups').select('display_name').orderBy('display_name').execute()).toEqual([
      { display_name: 'A' },
      { display_name: 'B' },
    ])
  })

  test('updating audits before and after; a patch that changes nothing audits nothing', async () => {
    const g = await db().store.write(admin, (w) => w.createGroup({ displayName: 'Eng', description: 'old' }))
    const u = await db().store.write(admin, (w) => w.updateGroup(g.id, { displayName: ' Engineering ' }))
    expect(u).toMatchObject({ id: g.id, displayName: 'Engineering', description: 'old' })
    let last = (await auditRows()).pop()!
    expect([last.action, last.target_id, last.before, last.after]).toEqual([
      'group.update',
      g.id,
      { displayName: 'Eng', description: 'old' },
      { displayName: 'Engineering', description: 'old' },
    ])

    const cleared = await db().store.write(admin, (w) => w.updateGroup(g.id, { description: null }))
    expect(cleared.description).toBeNull()
    last = (await auditRows()).pop()!
    expect(last.after).toEqual({ displayName: 'Engineering', description: null })

    const count = (await auditRows()).length
    await expect(
      db().store.write(admin, (w) => w.updateGroup(g.id, { displayName: 'Engineering', description: '' })),
    ).resolves.toMatchObject({ displayName: 'Engineering', description: null })
    expect(await auditRows()).toHaveLength(count)

    await expect(
      db().store.write(admin, (w) => w.updateGroup(g.id, { displayName: '' })),
    ).rejects.toMatchObject({
      kind: 'invalid',
    })
    await expect(
      db().store.write(admin, (w) => w.updateGroup(UNKNOWN, { displayName: 'x' })),
    ).rejects.toMatchObject({
      kind: 'not-found',
    })
    const stored = await q()
      .selectFrom('groups')
      .select('display_name')
      .where('id', '=', g.id)
      .executeTakeFirstOrThrow()
    expect(stored.display_name).toBe('Engineering')
  })

  test('deleting a group removes its memberships (not the people) and audits the member count', async () => {
    const [a, b] = await people('a', 'b')
    const { g, other } = await db().store.write(admin, async (w) => {
      const g = await w.createGroup({ displayName: 'Doomed' })
      const other = await w.createGroup({ displayName: 'Kept' })
      await w.addGroupMembers(g.id, [a!.id, b!.id])
      await w.addGroupMembers(other.id, [a!.id])
      return { g, other }
    })
    await db().store.write(admin, (w) => w.deleteGroup(g.id))
    expect(await q().selectFrom('groups').select('id').execute()).toEqual([{ id: other.id }])
    expect(await members(g.id)).toEqual([])
    expect(await members(other.id)).toEqual([a!.id])
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(2)
    const last = (await auditRows()).pop()!
    expect([last.action, last.target_id]).toEqual(['group.delete', g.id])
    expect(last.before).toMatchObject({ id: g.id, displayName: 'Doomed', memberCount: 2 })
    await expect(db().store.write(admin, (w) => w.deleteGroup(g.id))).rejects.toMatchObject({
      kind: 'not-found',
    })
  })

  test('adding members returns only the ids actually added; re-adding is a no-op without audit', async () => {
    const [a, b, c] = await people('a', 'b', 'c')
    const g = await db().store.write(admin, (w) => w.createGroup({ displayName: 'G' }))

    const first = await db().store.write(admin, (w) => w.addGroupMembers(g.id, [a!.id, b!.id]))
    expect(sorted(first)).toEqual(sorted([a!.id, b!.id]))
    let last = (await auditRows()).pop()!
    expect([last.action, last.target_id]).toEqual(['group.members.add', g.id])
    expect(sorted((last.after as { added: string[] }).added)).toEqual(sorted([a!.id, b!.id]))

    const second = await db().store.write(admin, (w) => w.addGroupMembers(g.id, [b!.id, c!.id]))
    expect(second).toEqual([c!.id])
    last = (await auditRows()).pop()!
    expect(last.after).toEqual({ added: [c!.id] })

    const count = (await auditRows()).length
    await expect(
      db().store.write(admin, (w) => w.addGroupMembers(g.id, [a!.id, b!.id, c!.id])),
    ).resolves.toEqual([])
    await expect(db().store.write(admin, (w) => w.addGroupMembers(g.id, []))).resolves.toEqual([])
    expect(await auditRows()).toHaveLength(count)
    expect(await members(g.id)).toEqual(sorted([a!.id, b!.id, c!.id]))
  })

  test('duplicates in the input are added once, whatever their case', async () => {
    const [a, b] = await people('a', 'b')
    const g = await db().store.write(admin, (w) => w.createGroup({ displayName: 'G' }))
    const added = await db().store.write(admin, (w) =>
      w.addGroupMembers(g.id, [a!.id, a!.id, a!.id.toUpperCase(), b!.id, b!.id]),
    )
    expect(sorted(added)).toEqual(sorted([a!.id, b!.id]))
    expect(await members(g.id)).toEqual(sorted([a!.id, b!.id]))
  })

  test('an unknown person makes the whole add invalid: nothing is added or audited', async () => {
    const [a] = await people('a')
    const g = await db().store.write(admin, (w) => w.createGroup({ displayName: 'G' }))
    const count = (await auditRows()).length
    await expect(
      db().store.write(admin, (w) => w.addGroupMembers(g.id, [a!.id, UNKNOWN])),
    ).rejects.toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining(UNKNOWN),
      details: { missing: [UNKNOWN] },
    })
    await expect(
      db().store.write(admin, (w) => w.addGroupMembers(g.id, [a!.id, 'bob'])),
    ).rejects.toMatchObject({
      kind: 'invalid',
    })
    await expect(db().store.write(admin, (w) => w.addGroupMembers(UNKNOWN, [a!.id]))).rejects.toMatchObject({
      kind: 'not-found',
    })
    expect(await members(g.id)).toEqual([])
    expect(await auditRows()).toHaveLength(count)
  })

  test('a caller that catches the unknown-person error keeps nothing of that add', async () => {
    const [a, b] = await people('a', 'b')
    const g = await db().store.write(admin, (w) => w.createGroup({ displayName: 'G' }))
    const version = async () =>
      (await q().selectFrom('groups').select('version').where('id', '=', g.id).executeTakeFirstOrThrow())
        .version
    const before = await version()
    await db().store.write(admin, async (w) => {
      await expect(w.addGroupMembers(g.id, [a!.id, UNKNOWN])).rejects.toMatchObject({ kind: 'invalid' })
      await w.addGroupMembers(g.id, [b!.id])
    })
    expect(await members(g.id)).toEqual([b!.id])
    expect(await version()).toBe(before + 1)
  })

  test("the group's version moves once per add that changes it, however many chunks the add takes", async () => {
    const many = await db().store.write(admin, (w) =>
      w.createPeople(Array.from({ length: 1_203 }, (_, i) => ({ userName: `member-${i}` }))),
    )
    const ids = many.map((p) => p.id)
    const g = await db().store.write(admin, (w) => w.createGroup({ displayName: 'Big' }))
    const version = async () =>
      (await q().selectFrom('groups').select('version').where('id', '=', g.id).executeTakeFirstOrThrow())
        .version
    const v0 = await version()
    await db().store.write(admin, (w) => w.addGroupMembers(g.id, ids.slice(0, 500)))
    expect(await version()).toBe(v0 + 1)
    // Two chunks of 1,000 and 203, both adding people: still one step.
    const added = await db().store.write(admin, (w) => w.addGroupMembers(g.id, ids))
    expect(added).toEqual(ids.slice(500))
    expect(await version()).toBe(v0 + 2)
    await db().store.write(admin, (w) => w.addGroupMembers(g.id, ids))
    expect(await version()).toBe(v0 + 2)
    expect(await members(g.id)).toEqual(sorted(ids))
  })

  test('removing members returns only the ids actually removed and ignores non-members', async () => {
    const [a, b, c] = await people('a', 'b', 'c')
    const g = await db().store.write(admin, async (w) => {
      const g = await w.createGroup({ displayName: 'G' })
      await w.addGroupMembers(g.id, [a!.id, b!.id])
      return g
    })
    const removed = await db().store.write(admin, (w) =>
      w.removeGroupMembers(g.id, [a!.id, a!.id.toUpperCase(), c!.id, UNKNOWN]),
    )
    expect(removed).toEqual([a!.id])
    expect(await members(g.id)).toEqual([b!.id])
    const last = (await auditRows()).pop()!
    expect([last.action, last.target_id, last.before, last.after]).toEqual([
      'group.members.remove',
      g.id,
      { removed: [a!.id] },
      null,
    ])

    const count = (await auditRows()).length
    await expect(db().store.write(admin, (w) => w.removeGroupMembers(g.id, [a!.id, c!.id]))).resolves.toEqual(
      [],
    )
    expect(await auditRows()).toHaveLength(count)
    await expect(db().store.write(admin, (w) => w.removeGroupMembers(g.id, ['x']))).rejects.toMatchObject({
      kind: 'invalid',
    })
    expect(await members(g.id)).toEqual([b!.id])
  })

  test('membership is per group', async () => {
    const [a] = await people('a')
    const { g1, g2 } = await db().store.write(admin, async (w) => {
      const g1 = await w.createGroup({ displayName: 'One' })
      const g2 = await w.createGroup({ displayName: 'Two' })
      await w.addGroupMembers(g1.id, [a!.id])
      return { g1, g2 }
    })
    await expect(db().store.write(admin, (w) => w.addGroupMembers(g2.id, [a!.id]))).resolves.toEqual([a!.id])
    await expect(db().store.write(admin, (w) => w.removeGroupMembers(g1.id, [a!.id]))).resolves.toEqual([
      a!.id,
    ])
    expect(await members(g1.id)).toEqual([])
    expect(await members(g2.id)).toEqual([a!.id])
  })
})
