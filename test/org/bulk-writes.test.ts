import { randomUUID } from 'node:crypto'
import type { Actor } from '../../src/org/actor'
import { describeEachDatabase } from '../helpers/test-database'

const source: Actor = { type: 'source', id: null, name: 'hr' }

describeEachDatabase('org store: bulk writes', (db) => {
  beforeEach(() => db().reset())
  const q = () => db().handle.db

  test('createPeople makes many people in input order, each with provenance and an audit event', async () => {
    const list = Array.from({ length: 2500 }, (_, i) => ({
      userName: `user${i}`,
      email: `u${i}@x.test`,
      title: i % 2 ? 'A' : null,
    }))
    const people = await db().store.write(source, (w) => w.createPeople(list))
    expect(people.map((p) => p.userName)).toEqual(list.map((l) => l.userName))
    expect(people[1]!.provenance).toMatchObject({ userName: { by: 'source' }, title: { by: 'source' } })
    expect(people[0]!.provenance).not.toHaveProperty('title')
    const audit = await q()
      .selectFrom('audit_events')
      .select(['action', 'target_id'])
      .where('action', '=', 'person.create')
      .execute()
    expect(audit).toHaveLength(2500)
    expect(new Set(audit.map((a) => a.target_id))).toEqual(new Set(people.map((p) => p.id)))
  })

  test('one bad row fails the whole createPeople call and writes nothing', async () => {
    await expect(
      db().store.write(source, (w) =>
        w.createPeople([{ userName: 'ok' }, { userName: 'bad', email: 'not-an-email' }]),
      ),
    ).rejects.toMatchObject({ kind: 'invalid' })
    await expect(
      db().store.write(source, (w) =>
        w.createPeople([{ userName: 'ok' }, { userName: 'x', departmentId: randomUUID() }]),
      ),
    ).rejects.toMatchObject({ kind: 'invalid' })
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(0)
    expect(await q().selectFrom('audit_events').select('seq').execute()).toHaveLength(0)
  })

  test('setManagers writes only real changes, audits them, and refuses a cycle anywhere in the set', async () => {
    const [a, b, c] = await db().store.write(source, (w) =>
      w.createPeople([{ userName: 'a' }, { userName: 'b' }, { userName: 'c' }]),
    )
    const changed = await db().store.write(source, (w) =>
      w.setManagers([
        { personId: b!.id, managerId: a!.id },
        { personId: c!.id, managerId: b!.id },
        { personId: a!.id, managerId: null },
      ]),
    )
    expect(changed).toBe(2)
    const rows = await q()
      .selectFrom('people')
      .select(['user_name', 'manager_id', 'version'])
      .orderBy('user_name')
      .execute()
    expect(rows).toEqual([
      { user_name: 'a', manager_id: null, version: 1 },
      { user_name: 'b', manager_id: a!.id, version: 2 },
      { user_name: 'c', manager_id: b!.id, version: 2 },
    ])
    // a → c closes the loop a → c → b → a.
    await expect(
      db().store.write(source, (w) => w.setManagers([{ personId: a!.id, managerId: c!.id }])),
    ).rejects.toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining('own reporting chain'),
    })
    await expect(
      db().store.write(source, (w) => w.setManagers([{ personId: a!.id, managerId: a!.id }])),
    ).rejects.toMatchObject({
      kind: 'invalid',
    })
    expect(
      (await q().selectFrom('people').select('manager_id').where('id', '=', a!.id).executeTakeFirstOrThrow())
        .manager_id,
    ).toBeNull()
    const audit = await q()
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'person.update')
      .execute()
    expect(audit.map((e) => e.after)).toEqual(
      expect.arrayContaining([{ managerId: a!.id }, { managerId: b!.id }]),
    )
    expect(audit).toHaveLength(2)
  })

  test('createIdentities refuses an identity that exists and writes none of the batch', async () => {
    const s = randomUUID()
    await q().insertInto('sources').values({ id: s, type: 'fake', name: 'S', config: '{}' }).execute()
    await db().store.write(source, (w) =>
      w.createIdentities([{ sourceId: s, externalId: 'e1', userName: 'one', attributes: {} }]),
    )
    await expect(
      db().store.write(source, (w) =>
        w.createIdentities([
          { sourceId: s, externalId: 'e2', userName: 'two', attributes: {} },
          { sourceId: s, externalId: 'e3', userName: 'ONE', attributes: {} },
        ]),
      ),
    ).rejects.toMatchObject({ kind: 'conflict', message: 'already in this source: e1 (user name "one")' })
    await expect(
      db().store.write(source, (w) =>
        w.createIdentities([
          { sourceId: s, externalId: 'e4', userName: 'four', attributes: {} },
          { sourceId: s, externalId: 'e1', userName: 'other', attributes: {} },
        ]),
      ),
    ).rejects.toMatchObject({ kind: 'conflict', message: 'already in this source: e1 (user name "one")' })
    expect(
      (await q().selectFrom('identities').select('external_id').execute()).map((r) => r.external_id),
    ).toEqual(['e1'])
  })
})
