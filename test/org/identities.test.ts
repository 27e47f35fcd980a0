import { randomUUID } from 'node:crypto'
import type { Actor } from '../../src/org/actor'
import type { IdentityInput } from '../../src/org/identity-writes'
import { describeEachDatabase } from '../helpers/test-database'

const UNKNOWN = '6f1c1e36-9a43-4a5c-8f0e-0a0d1b8c0b11'

describeEachDatabase('org store: identities', (db) => {
  beforeEach(() => db().reset())

  const q = () => db().handle.db
  let hr: string
  let entra: string
  let actor: Actor

  beforeEach(async () => {
    hr = randomUUID()
    entra = randomUUID()
    await q()
      .insertInto('sources')
      .values([
        { id: hr, type: 'csv', name: 'HR export', config: '{}' },
        { id: entra, type: 'entra', name: 'Entra ID', config: '{}' },
      ])
      .execute()
    actor = { type: 'source', id: hr, name: 'HR export' }
  })

  async function auditRows() {
    return q().selectFrom('audit_events').selectAll().orderBy('seq').execute()
  }

  function save(input: IdentityInput) {
    return db().store.write(actor, (w) => w.saveIdentity(input))
  }

  async function identityRows() {
    return q().selectFrom('identities').selectAll().orderBy('external_id').execute()
  }

  test('the first save creates the identity and audits it', async () => {
    const r = await save({
      sourceId: hr,
      externalId: ' E1 ',
      userName: ' ann ',
      attributes: { givenName: 'Ann', email: 'ann@example.test' },
      raw: { row: 3 },
    })
    expect(r).toMatchObject({ created: true, changed: true })
    expect(r.identity).toMatchObject({
      sourceId: hr,
      externalId: 'E1',
      userName: 'ann',
      attributes: { givenName: 'Ann', email: 'ann@example.test' },
      active: true,
      removedAt: null,
      personId: null,
      version: 1,
    })
    const rows = await identityRows()
    expect(rows.map((i) => [i.id, i.external_id, i.raw])).toEqual([[r.identity.id, 'E1', { row: 3 }]])
    const events = await auditRows()
    expect(events.map((e) => [e.action, e.target_type, e.target_id, e.actor_type, e.actor_id])).toEqual([
      ['identity.create', 'identity', r.identity.id, 'source', hr],
    ])
  })

  test('saving what the source already said changes nothing and audits nothing', async () => {
    const input: IdentityInput = {
      sourceId: hr,
      externalId: 'E1',
      userName: 'ann',
      // Keys in an order jsonb does not keep (it sorts them): the same attributes all the same.
      attributes: {
        givenName: 'Ann',
        familyName: 'Lee',
        email: 'ann@example.test',
        manager: { id: 'E9', name: 'Bo' },
      },
      raw: { zeta: 1, alpha: [1, 2] },
    }
    const first = await save(input)
    const again = await save({ ...input, externalId: 'E1 ' })
    expect(again).toMatchObject({ created: false, changed: false })
    expect(again.identity.id).toBe(first.identity.id)
    expect(again.identity.version).toBe(1)
    const reordered = await save({
      ...input,
      attributes: {
        manager: { name: 'Bo', id: 'E9' },
        email: 'ann@example.test',
        familyName: 'Lee',
        givenName: 'Ann',
      },
    })
    expect(reordered).toMatchObject({ created: false, changed: false })
    expect((await identityRows())[0]!.version).toBe(1)
    expect(await auditRows()).toHaveLength(1)
  })

  test('a changed attribute, user name, activity or person updates the identity and audits before and after', async () => {
    const person = await db().store.write(actor, (w) => w.createPerson({ userName: 'ann' }))
    const first = await save({
      sourceId: hr,
      externalId: 'E1',
      userName: 'ann',
      attributes: { title: 'Engineer' },
    })
    const steps: [Partial<IdentityInput>, Record<string, unknown>][] = [
      [{ attributes: { title: 'Staff Engineer' } }, { attributes: { title: 'Staff Engineer' } }],
      [{ userName: 'ann.lee' }, { userName: 'ann.lee' }],
      [{ active: false }, { active: false }],
      [{ personId: person.id }, { personId: person.id }],
    ]
    let current: IdentityInput = {
      sourceId: hr,
      externalId: 'E1',
      userName: 'ann',
      attributes: { title: 'Engineer' },
    }
    let version = 1
    for (const [patch, expected] of steps) {
      const previous = current
      current = { ...current, ...patch }
      const before = (await auditRows()).length
      const r = await save(current)
      version++
      expect(r).toMatchObject({ created: false, changed: true })
      expect(r.identity).toMatchObject({ id: first.identity.id, version, ...expected })
      const events = (await auditRows()).slice(before)
      expect(events.map((e) => [e.action, e.target_id])).toEqual([['identity.update', first.identity.id]])
      expect(events[0]!.before).toMatchObject({
        userName: previous.userName ?? null,
        attributes: previous.attributes,
      })
      expect(events[0]!.after).toMatchObject({ version, ...expected })
    }
    // Leaving personId out keeps the link; null clears it.
    await expect(save({ ...current })).resolves.toMatchObject({
      changed: false,
      identity: { personId: person.id },
    })
    await expect(save({ ...current, personId: null })).resolves.toMatchObject({
      changed: true,
      identity: { personId: null },
    })
  })

  test('a change of the raw record alone is stored but is no change to reconcile or audit', async () => {
    const first = await save({ sourceId: hr, externalId: 'E1', attributes: { a: 1 }, raw: { etag: '1' } })
    const count = (await auditRows()).length
    const r = await save({ sourceId: hr, externalId: 'E1', attributes: { a: 1 }, raw: { etag: '2' } })
    expect(r).toMatchObject({ created: false, changed: false })
    const row = (await identityRows())[0]!
    expect([row.id, row.raw]).toEqual([first.identity.id, { etag: '2' }])
    expect(await auditRows()).toHaveLength(count)
  })

  test('user names are unique per source regardless of case; another source may use the same one', async () => {
    await save({ sourceId: hr, externalId: 'E1', userName: 'Ann', attributes: {} })
    const count = (await auditRows()).length
    await expect(
      save({ sourceId: hr, externalId: 'E2', userName: 'ANN', attributes: {} }),
    ).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('ANN'),
    })
    // Taking the name by renaming an existing identity is refused the same way.
    await save({ sourceId: hr, externalId: 'E3', userName: 'bob', attributes: {} })
    await expect(
      save({ sourceId: hr, externalId: 'E3', userName: 'ann', attributes: {} }),
    ).rejects.toMatchObject({
      kind: 'conflict',
    })
    expect((await identityRows()).map((i) => [i.external_id, i.user_name])).toEqual([
      ['E1', 'Ann'],
      ['E3', 'bob'],
    ])
    expect(await auditRows()).toHaveLength(count + 1)

    await expect(
      db().store.write({ type: 'source', id: entra, name: 'Entra ID' }, (w) =>
        w.saveIdentity({ sourceId: entra, externalId: 'obj-1', userName: 'ann', attributes: {} }),
      ),
    ).resolves.toMatchObject({ created: true, identity: { sourceId: entra, userName: 'ann' } })
    // Identities without a user name never collide.
    await save({ sourceId: hr, externalId: 'E4', attributes: {} })
    await save({ sourceId: hr, externalId: 'E5', userName: '  ', attributes: {} })
    expect(await identityRows()).toHaveLength(5)
  })

  test('bad input is invalid and writes nothing', async () => {
    const bad: IdentityInput[] = [
      { sourceId: 'hr', externalId: 'E1', attributes: {} },
      { sourceId: UNKNOWN, externalId: 'E1', attributes: {} },
      { sourceId: hr, externalId: '  ', attributes: {} },
      { sourceId: hr, externalId: 'E1', attributes: {}, personId: UNKNOWN },
      { sourceId: hr, externalId: 'E1', attributes: {}, personId: 'p1' },
    ]
    for (const input of bad) await expect(save(input)).rejects.toMatchObject({ kind: 'invalid' })
    expect(await identityRows()).toHaveLength(0)
    expect(await auditRows()).toHaveLength(0)
  })

  test('removing sets removedAt and inactive once; a later save revives the identity', async () => {
    const first = await save({ sourceId: hr, externalId: 'E1', userName: 'ann', attributes: { a: 1 } })
    const removed = await db().store.write(actor, (w) => w.removeIdentity(first.identity.id))
    expect(removed).toMatchObject({ id: first.identity.id, active: false, version: 2 })
    expect(removed.removedAt).toBeInstanceOf(Date)
    const row = (await identityRows())[0]!
    expect(row.removed_at).toEqual(removed.removedAt)
    let last = (await auditRows()).pop()!
    expect([last.action, last.target_id, last.after]).toEqual([
      'identity.remove',
      first.identity.id,
      { removedAt: removed.removedAt!.toISOString() },
    ])

    const count = (await auditRows()).length
    await expect(db().store.write(actor, (w) => w.removeIdentity(first.identity.id))).resolves.toMatchObject({
      removedAt: removed.removedAt,
      version: 2,
    })
    expect(await auditRows()).toHaveLength(count)

    const revived = await save({ sourceId: hr, externalId: 'E1', userName: 'ann', attributes: { a: 1 } })
    expect(revived).toMatchObject({ created: false, changed: true })
    expect(revived.identity).toMatchObject({
      id: first.identity.id,
      removedAt: null,
      active: true,
      version: 3,
    })
    last = (await auditRows()).pop()!
    expect([
      last.action,
      (last.before as { removedAt: string | null }).removedAt,
      (last.after as { removedAt: null }).removedAt,
    ]).toEqual(['identity.update', removed.removedAt!.toISOString(), null])
    await expect(db().store.write(actor, (w) => w.removeIdentity(UNKNOWN))).rejects.toMatchObject({
      kind: 'not-found',
    })
    await expect(db().store.write(actor, (w) => w.removeIdentity('E1'))).rejects.toMatchObject({
      kind: 'invalid',
    })
  })

  test("a removed identity's user name is free for another identity of the source", async () => {
    const first = await save({ sourceId: hr, externalId: 'E1', userName: 'ann', attributes: {} })
    await db().store.write(actor, (w) => w.removeIdentity(first.identity.id))
    await expect(
      save({ sourceId: hr, externalId: 'E2', userName: 'Ann', attributes: {} }),
    ).resolves.toMatchObject({
      created: true,
    })
    // Reviving the first one with the same name now collides.
    await expect(
      save({ sourceId: hr, externalId: 'E1', userName: 'ann', attributes: {} }),
    ).rejects.toMatchObject({
      kind: 'conflict',
    })
    const rows = await identityRows()
    expect(rows.map((r) => [r.external_id, r.removed_at === null])).toEqual([
      ['E1', false],
      ['E2', true],
    ])
  })
})
