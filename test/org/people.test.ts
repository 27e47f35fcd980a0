import { randomUUID } from 'node:crypto'
import type { Actor } from '../../src/org/actor'
import { encodeCursor } from '../../src/org/cursor'
import { getPerson, listPeople, type PeopleFilter, type PersonSummary } from '../../src/org/people-queries'
import type { PersonFields } from '../../src/org/person-writes'
import { describeEachDatabase } from '../helpers/test-database'

const admin: Actor = { type: 'admin', id: 'a-1', name: 'alice' }
const system: Actor = { type: 'system', id: 'grace-job', name: 'grace-job' }
const UNKNOWN = '6f1c1e36-9a43-4a5c-8f0e-0a0d1b8c0b11'

describeEachDatabase('org store: people', (db) => {
  beforeEach(() => db().reset())

  const q = () => db().handle.db

  async function insertSource(name: string, type = 'csv'): Promise<string> {
    const id = randomUUID()
    await q().insertInto('sources').values({ id, type, name, config: '{}' }).execute()
    return id
  }

  /** A source actor whose id is a real sources row (suspensions by a source reference it). */
  async function sourceActor(name = 'hr csv'): Promise<Actor> {
    return { type: 'source', id: await insertSource(name), name }
  }

  async function auditRows() {
    return q().selectFrom('audit_events').selectAll().orderBy('seq').execute()
  }

  async function personRow(id: string) {
    return q().selectFrom('people').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
  }

  function create(fields: PersonFields, actor: Actor = admin) {
    return db().store.write(actor, (w) => w.createPerson(fields))
  }

  describe('createPerson', () => {
    test('stores trimmed attributes, gives provenance to the set ones only, and audits the creation', async () => {
      const dept = await db().store.write(admin, (w) => w.createDepartment({ name: 'Eng' }))
      const boss = await create({ userName: 'boss' })
      const src = await sourceActor()
      const p = await create(
        {
          userName: '  ann.lee ',
          displayName: ' Ann Lee ',
          email: 'ann@example.test',
          employeeNumber: '',
          departmentId: dept.id.toUpperCase(),
          managerId: boss.id,
        },
        src,
      )
      expect(p).toMatchObject({
        userName: 'ann.lee',
        displayName: 'Ann Lee',
        email: 'ann@example.test',
        employeeNumber: null,
        givenName: null,
        departmentId: dept.id,
        managerId: boss.id,
        status: 'active',
        protected: false,
        version: 1,
      })
      // employeeNumber was blank (stored as null) and protected was not given: no provenance for them.
      expect(Object.keys(p.provenance).sort()).toEqual([
        'departmentId',
        'displayName',
        'email',
        'managerId',
        'userName',
      ])
      expect(p.provenance.userName).toMatchObject({ by: 'source', id: src.id })

      const stored = await personRow(p.id)
      expect(stored.user_name).toBe('ann.lee')
      expect(stored.version).toBe(1)

      const events = await auditRows()
      const last = events[events.length - 1]!
      expect([last.action, last.target_type, last.target_id, last.actor_type, last.actor_id]).toEqual([
        'person.create',
        'person',
        p.id,
        'source',
        src.id,
      ])
      expect(last.after).toMatchObject({ id: p.id, userName: 'ann.lee', departmentId: dept.id })
    })

    const bad: [string, PersonFields][] = [
      ['an empty user name', { userName: '   ' }],
      ['a user name with a control character', { userName: 'a\u0007b' }],
      ['an email without @', { userName: 'x', email: 'not-an-email' }],
      ['an email with a space', { userName: 'x', email: 'a b@example.test' }],
      ['an unknown department', { userName: 'x', departmentId: UNKNOWN }],
      ['a department id that is no uuid', { userName: 'x', departmentId: 'eng' }],
      ['an unknown manager', { userName: 'x', managerId: UNKNOWN }],
      ['a manager id that is no uuid', { userName: 'x', managerId: '42' }],
    ]
    test.each(bad)(
      '%s is invalid input and writes nothing, not even an audit event',
      async (_what, fields) => {
        await expect(create(fields)).rejects.toMatchObject({ kind: 'invalid' })
        expect(await q().selectFrom('people').select('id').execute()).toHaveLength(0)
        expect(await auditRows()).toHaveLength(0)
      },
    )

    test('the error for an unknown reference says which one', async () => {
      await expect(create({ userName: 'x', departmentId: UNKNOWN })).rejects.toMatchObject({
        kind: 'invalid',
        message: expect.stringContaining(`department ${UNKNOWN}`),
      })
      await expect(create({ userName: 'x', managerId: UNKNOWN })).rejects.toMatchObject({
        kind: 'invalid',
        message: expect.stringContaining(`manager ${UNKNOWN}`),
      })
    })
  })

  describe('updatePerson', () => {
    test('writes only the attributes that change, bumps the version and records provenance per attribute', async () => {
      const p = await create({ userName: 'ann', displayName: 'Ann', title: 'Engineer' })
      const src = await sourceActor()
      const auditBefore = (await auditRows()).length

      const updated = await db().store.write(src, (w) =>
        w.updatePerson(p.id, { displayName: 'Ann', title: 'Staff Engineer', email: 'ann@example.test' }),
      )
      expect(updated).toMatchObject({
        displayName: 'Ann',
        title: 'Staff Engineer',
        email: 'ann@example.test',
        version: 2,
      })
      // Unchanged attributes keep the admin's provenance, changed ones name the source.
      expect(updated.provenance.displayName).toMatchObject({ by: 'admin', id: 'a-1' })
      expect(updated.provenance.userName).toMatchObject({ by: 'admin', id: 'a-1' })
      expect(updated.provenance.title).toMatchObject({ by: 'source', id: src.id })
      expect(updated.provenance.email).toMatchObject({ by: 'source', id: src.id })

      const stored = await personRow(p.id)
      expect(stored.version).toBe(2)
      expect(stored.provenance).toEqual(updated.provenance)

      const events = (await auditRows()).slice(auditBefore)
      expect(events.map((e) => [e.action, e.target_id, e.actor_type, e.actor_id, e.before, e.after])).toEqual(
        [
          [
            'person.update',
            p.id,
            'source',
            src.id,
            { title: 'Engineer', email: null },
            { title: 'Staff Engineer', email: 'ann@example.test' },
          ],
        ],
      )
    })

    test('a patch that changes nothing writes nothing and audits nothing', async () => {
      const p = await create({ userName: 'ann', displayName: 'Ann', email: 'ann@example.test' })
      const auditBefore = (await auditRows()).length
      const same = await db().store.write(system, (w) =>
        w.updatePerson(p.id, {
          userName: ' ann ',
          displayName: 'Ann ',
          email: 'ann@example.test',
          givenName: '',
        }),
      )
      expect(same.version).toBe(1)
      expect(same.provenance).toEqual(p.provenance)
      const stored = await personRow(p.id)
      expect(stored.version).toBe(1)
      expect(stored.updated_at).toEqual(p.updatedAt)
      expect(await auditRows()).toHaveLength(auditBefore)
    })

    test('clearing an attribute with null is a change', async () => {
      const p = await create({ userName: 'ann', title: 'Engineer' })
      const updated = await db().store.write(admin, (w) => w.updatePerson(p.id, { title: null }))
      expect(updated).toMatchObject({ title: null, version: 2 })
      const last = (await auditRows()).pop()!
      expect([last.action, last.before, last.after]).toEqual([
        'person.update',
        { title: 'Engineer' },
        { title: null },
      ])
    })

    test('an expectedVersion that is not the current one is a conflict and writes nothing', async () => {
      const p = await create({ userName: 'ann' })
      await db().store.write(admin, (w) => w.updatePerson(p.id, { title: 'one' }, { expectedVersion: 1 }))
      const auditBefore = (await auditRows()).length
      await expect(
        db().store.write(admin, (w) => w.updatePerson(p.id, { title: 'two' }, { expectedVersion: 1 })),
      ).rejects.toMatchObject({ kind: 'conflict' })
      const stored = await personRow(p.id)
      expect([stored.title, stored.version]).toEqual(['one', 2])
      expect(await auditRows()).toHaveLength(auditBefore)
      await expect(
        db().store.write(admin, (w) => w.updatePerson(p.id, { title: 'two' }, { expectedVersion: 2 })),
      ).resolves.toMatchObject({ title: 'two', version: 3 })
    })

    test('invalid values and unknown people are refused', async () => {
      const p = await create({ userName: 'ann', email: 'ann@example.test' })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(p.id, { email: 'nope' })),
      ).rejects.toMatchObject({
        kind: 'invalid',
      })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(p.id, { userName: '' })),
      ).rejects.toMatchObject({
        kind: 'invalid',
      })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(p.id, { departmentId: UNKNOWN })),
      ).rejects.toMatchObject({ kind: 'invalid' })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(UNKNOWN, { title: 'x' })),
      ).rejects.toMatchObject({
        kind: 'not-found',
      })
      await expect(
        db().store.write(admin, (w) => w.updatePerson('nope', { title: 'x' })),
      ).rejects.toMatchObject({
        kind: 'not-found',
      })
      const stored = await personRow(p.id)
      expect([stored.email, stored.user_name, stored.department_id, stored.version]).toEqual([
        'ann@example.test',
        'ann',
        null,
        1,
      ])
    })
  })

  describe('manager links', () => {
    test('a person cannot be their own manager', async () => {
      const a = await create({ userName: 'a' })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(a.id, { managerId: a.id })),
      ).rejects.toMatchObject({
        kind: 'invalid',
      })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(a.id, { managerId: a.id.toUpperCase() })),
      ).rejects.toMatchObject({ kind: 'invalid' })
      expect((await personRow(a.id)).manager_id).toBeNull()
    })

    test('a longer cycle A→B→C→A is refused and leaves the chain as it was', async () => {
      const { a, b, c } = await db().store.write(admin, async (w) => {
        const c = await w.createPerson({ userName: 'c' })
        const b = await w.createPerson({ userName: 'b', managerId: c.id })
        const a = await w.createPerson({ userName: 'a', managerId: b.id })
        return { a, b, c }
      })
      const auditBefore = (await auditRows()).length
      await expect(
        db().store.write(admin, (w) => w.updatePerson(c.id, { managerId: a.id })),
      ).rejects.toMatchObject({
        kind: 'invalid',
        message: expect.stringContaining('cycle'),
      })
      // Two steps: B is C's direct report.
      await expect(
        db().store.write(admin, (w) => w.updatePerson(c.id, { managerId: b.id })),
      ).rejects.toMatchObject({
        kind: 'invalid',
      })
      expect((await personRow(c.id)).manager_id).toBeNull()
      expect((await personRow(c.id)).version).toBe(1)
      expect(await auditRows()).toHaveLength(auditBefore)

      // Links that make no cycle are fine: C may report to a newcomer, A may skip a level.
      const d = await create({ userName: 'd' })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(c.id, { managerId: d.id })),
      ).resolves.toMatchObject({
        managerId: d.id,
      })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(a.id, { managerId: c.id })),
      ).resolves.toMatchObject({
        managerId: c.id,
      })
      // And now D under A would close A→C→D→A.
      await expect(
        db().store.write(admin, (w) => w.updatePerson(d.id, { managerId: a.id })),
      ).rejects.toMatchObject({
        kind: 'invalid',
      })
    })

    test('an unknown manager is invalid', async () => {
      const a = await create({ userName: 'a' })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(a.id, { managerId: UNKNOWN })),
      ).rejects.toMatchObject({
        kind: 'invalid',
        message: expect.stringContaining(UNKNOWN),
      })
    })
  })

  describe('suspend, reactivate, deprovision', () => {
    test('suspending sets the status fields and audits before and after; repeating it is a no-op', async () => {
      const p = await create({ userName: 'ann' })
      const src = await sourceActor()
      const removeAfter = new Date('2031-01-02T03:04:05.000Z')
      const s = await db().store.write(src, (w) =>
        w.suspendPerson(p.id, { reason: ' left the company ', removeAfter }),
      )
      expect(s).toMatchObject({
        status: 'suspended',
        suspendedReason: 'left the company',
        suspendedBySourceId: src.id,
        removeAfter,
        version: 2,
      })
      expect(s.suspendedAt).toBeInstanceOf(Date)

      const last = (await auditRows()).pop()!
      expect([last.action, last.target_id, last.actor_type]).toEqual(['person.suspend', p.id, 'source'])
      expect(last.before).toEqual({
        status: 'active',
        suspendedReason: null,
        suspendedAt: null,
        suspendedBySourceId: null,
        removeAfter: null,
      })
      expect(last.after).toEqual({
        status: 'suspended',
        suspendedReason: 'left the company',
        suspendedAt: s.suspendedAt!.toISOString(),
        suspendedBySourceId: src.id,
        removeAfter: removeAfter.toISOString(),
      })

      const count = (await auditRows()).length
      const again = await db().store.write(src, (w) => w.suspendPerson(p.id, { reason: 'other' }))
      expect(again).toMatchObject({ suspendedReason: 'left the company', version: 2 })
      expect(await auditRows()).toHaveLength(count)
    })

    test('an admin suspension records no source; an empty reason is invalid', async () => {
      const p = await create({ userName: 'ann' })
      await expect(
        db().store.write(admin, (w) => w.suspendPerson(p.id, { reason: '  ' })),
      ).rejects.toMatchObject({
        kind: 'invalid',
      })
      expect((await personRow(p.id)).status).toBe('active')
      const s = await db().store.write(admin, (w) => w.suspendPerson(p.id, { reason: 'investigation' }))
      expect(s).toMatchObject({ status: 'suspended', suspendedBySourceId: null, removeAfter: null })
    })

    test('reactivating clears every suspension field and audits it', async () => {
      const p = await create({ userName: 'ann' })
      const src = await sourceActor()
      await db().store.write(src, (w) =>
        w.suspendPerson(p.id, { reason: 'left', removeAfter: new Date('2031-01-01') }),
      )
      const r = await db().store.write(admin, (w) => w.reactivatePerson(p.id))
      expect(r).toMatchObject({
        status: 'active',
        suspendedReason: null,
        suspendedAt: null,
        suspendedBySourceId: null,
        removeAfter: null,
        version: 3,
      })
      const last = (await auditRows()).pop()!
      expect([last.action, (last.before as { status: string }).status, last.after]).toEqual([
        'person.reactivate',
        'suspended',
        {
          status: 'active',
          suspendedReason: null,
          suspendedAt: null,
          suspendedBySourceId: null,
          removeAfter: null,
        },
      ])
      const count = (await auditRows()).length
      await expect(db().store.write(admin, (w) => w.reactivatePerson(p.id))).resolves.toMatchObject({
        version: 3,
      })
      expect(await auditRows()).toHaveLength(count)
    })

    test('deprovisioning keeps the first suspension time; a deprovisioned person cannot be suspended', async () => {
      const p = await create({ userName: 'ann' })
      const s = await db().store.write(system, (w) => w.suspendPerson(p.id, { reason: 'left' }))
      const d = await db().store.write(system, (w) =>
        w.deprovisionPerson(p.id, { reason: 'grace period over' }),
      )
      expect(d).toMatchObject({
        status: 'deprovisioned',
        suspendedReason: 'grace period over',
        suspendedAt: s.suspendedAt,
        removeAfter: null,
        version: 3,
      })
      const last = (await auditRows()).pop()!
      expect([
        last.action,
        (last.before as { status: string }).status,
        (last.after as { status: string }).status,
      ]).toEqual(['person.deprovision', 'suspended', 'deprovisioned'])
      await expect(
        db().store.write(system, (w) => w.suspendPerson(p.id, { reason: 'x' })),
      ).rejects.toMatchObject({
        kind: 'conflict',
      })
      const count = (await auditRows()).length
      await expect(
        db().store.write(system, (w) => w.deprovisionPerson(p.id, { reason: 'again' })),
      ).resolves.toMatchObject({ suspendedReason: 'grace period over', version: 3 })
      expect(await auditRows()).toHaveLength(count)
    })

    test('a protected person is never suspended or deprovisioned by a source, only by an admin', async () => {
      const p = await create({ userName: 'root', protected: true })
      const src = await sourceActor()
      const count = (await auditRows()).length
      await expect(
        db().store.write(src, (w) => w.suspendPerson(p.id, { reason: 'gone from HR' })),
      ).rejects.toMatchObject({
        kind: 'forbidden',
        message: expect.stringContaining('protected'),
      })
      await expect(
        db().store.write(src, (w) => w.deprovisionPerson(p.id, { reason: 'gone from HR' })),
      ).rejects.toMatchObject({ kind: 'forbidden' })
      await expect(
        db().store.write(system, (w) => w.suspendPerson(p.id, { reason: 'job' })),
      ).rejects.toMatchObject({
        kind: 'forbidden',
      })
      const stored = await personRow(p.id)
      expect([stored.status, stored.version]).toEqual(['active', 1])
      expect(await auditRows()).toHaveLength(count)

      await expect(
        db().store.write(admin, (w) => w.suspendPerson(p.id, { reason: 'by hand' })),
      ).resolves.toMatchObject({
        status: 'suspended',
      })
      await expect(
        db().store.write(admin, (w) => w.deprovisionPerson(p.id, { reason: 'by hand' })),
      ).resolves.toMatchObject({ status: 'deprovisioned' })
    })

    test('only an admin may change whether a person is protected', async () => {
      const p = await create({ userName: 'root', protected: true })
      const src = await sourceActor()
      await expect(
        db().store.write(src, (w) => w.updatePerson(p.id, { protected: false })),
      ).rejects.toMatchObject({
        kind: 'forbidden',
      })
      expect((await personRow(p.id)).protected).toBe(true)
      // Otherwise a source could lift the protection and then suspend.
      await expect(
        db().store.write(src, (w) => w.suspendPerson(p.id, { reason: 'x' })),
      ).rejects.toMatchObject({
        kind: 'forbidden',
      })
      await expect(
        db().store.write(admin, (w) => w.updatePerson(p.id, { protected: false })),
      ).resolves.toMatchObject({
        protected: false,
      })
    })
  })

  describe('listPeople', () => {
    async function listAll(
      filter: Omit<PeopleFilter, 'cursor'>,
    ): Promise<{ items: PersonSummary[]; pages: number }> {
      const items: PersonSummary[] = []
      let cursor: string | undefined
      let pages = 0
      for (;;) {
        const page = await listPeople(q(), { ...filter, cursor })
        pages++
        expect(page.items.length).toBeLessThanOrEqual(filter.limit)
        items.push(...page.items)
        if (page.nextCursor === null) break
        expect(page.items).toHaveLength(filter.limit)
        cursor = page.nextCursor
        if (pages > 100) throw new Error('paging does not end')
      }
      return { items, pages }
    }

    test('keyset paging walks every person once, in case-insensitive user-name order', async () => {
      const names = [
        'mallory',
        'Bob',
        'bob',
        'BOB',
        'alice',
        'Zed',
        'carol',
        'Dave',
        'eve',
        'Frank',
        'grace',
        'Heidi',
        'ivan',
        'Judy',
        'ken',
        'Liam',
        'a1',
        'A2',
        'zz',
        'Yan',
        'oscar',
        'Peggy',
      ]
      const created = await db().store.write(admin, async (w) => {
        const out = []
        for (const userName of names) out.push(await w.createPerson({ userName }))
        return out
      })
      const expected = [...created]
        .sort((x, y) => {
          const a = x.userName.toLowerCase()
          const b = y.userName.toLowerCase()
          return a < b ? -1 : a > b ? 1 : x.id < y.id ? -1 : x.id > y.id ? 1 : 0
        })
        .map((p) => p.id)
      expect(new Set(expected).size).toBe(names.length)

      for (const limit of [1, 2, 3, 5, 7, 22, 50]) {
        const { items, pages } = await listAll({ limit })
        expect(items.map((i) => i.id)).toEqual(expected)
        expect(pages).toBe(Math.max(1, Math.ceil(names.length / limit)))
      }
      const first = await listPeople(q(), { limit: 4 })
      expect(first.items.map((i) => i.userName)).toEqual([
        'a1',
        'A2',
        'alice',
        expect.stringMatching(/^bob$/i),
      ])
      expect(first.items[0]).toEqual({
        id: created[names.indexOf('a1')]!.id,
        userName: 'a1',
        displayName: null,
        email: null,
        title: null,
        status: 'active',
        department: null,
        managerId: null,
      })
    })

    test('a department filter takes its whole subtree and nothing else', async () => {
      const ids = await db().store.write(admin, async (w) => {
        const eng = await w.createDepartment({ name: 'Eng' })
        const platform = await w.createDepartment({ name: 'Platform', parentId: eng.id })
        const infra = await w.createDepartment({ name: 'Infra', parentId: platform.id })
        const sales = await w.createDepartment({ name: 'Sales' })
        // A sibling whose name starts like "Eng" must not count as part of it.
        const engOps = await w.createDepartment({ name: 'Eng Ops' })
        const p = {
          e: await w.createPerson({ userName: 'e', departmentId: eng.id }),
          pl: await w.createPerson({ userName: 'pl', departmentId: platform.id }),
          i1: await w.createPerson({ userName: 'i1', departmentId: infra.id }),
          i2: await w.createPerson({ userName: 'i2', departmentId: infra.id }),
          s: await w.createPerson({ userName: 's', departmentId: sales.id }),
          o: await w.createPerson({ userName: 'o', departmentId: engOps.id }),
          none: await w.createPerson({ userName: 'none' }),
        }
        return { eng, platform, infra, sales, p }
      })
      const names = async (departmentId: string) =>
        (await listAll({ limit: 2, departmentId })).items.map((i) => i.userName)
      expect(await names(ids.eng.id)).toEqual(['e', 'i1', 'i2', 'pl'])
      expect(await names(ids.platform.id)).toEqual(['i1', 'i2', 'pl'])
      expect(await names(ids.infra.id)).toEqual(['i1', 'i2'])
      expect(await names(ids.sales.id)).toEqual(['s'])

      const page = await listPeople(q(), { limit: 10, departmentId: ids.platform.id })
      expect(page.items.find((i) => i.userName === 'i1')!.department).toEqual({
        id: ids.infra.id,
        path: 'Eng/Platform/Infra',
      })
      await expect(listPeople(q(), { limit: 10, departmentId: UNKNOWN })).rejects.toMatchObject({
        kind: 'not-found',
      })
    })

    test('a status filter keeps only people in that status', async () => {
      await db().store.write(admin, async (w) => {
        await w.createPerson({ userName: 'a' })
        const b = await w.createPerson({ userName: 'b' })
        const c = await w.createPerson({ userName: 'c' })
        await w.createPerson({ userName: 'd' })
        await w.suspendPerson(b.id, { reason: 'x' })
        await w.deprovisionPerson(c.id, { reason: 'x' })
      })
      const byStatus = async (status: PeopleFilter['status']) =>
        (await listAll({ limit: 1, status })).items.map((i) => [i.userName, i.status])
      expect(await byStatus('active')).toEqual([
        ['a', 'active'],
        ['d', 'active'],
      ])
      expect(await byStatus('suspended')).toEqual([['b', 'suspended']])
      expect(await byStatus('deprovisioned')).toEqual([['c', 'deprovisioned']])
      expect((await listAll({ limit: 3 })).items).toHaveLength(4)
    })

    test('free text matches display name, email or employee number, case-insensitively', async () => {
      await db().store.write(admin, async (w) => {
        await w.createPerson({ userName: 'u1', displayName: 'Margaret Hamilton', email: 'mh@apollo.test' })
        await w.createPerson({
          userName: 'u2',
          displayName: 'Grace Hopper',
          email: 'GRACE@navy.test',
          employeeNumber: 'E-1001',
        })
        await w.createPerson({ userName: 'u3', displayName: 'Ada', employeeNumber: 'e-2002' })
        await w.createPerson({ userName: 'u4', displayName: 'Nobody', email: 'n@x.test' })
      })
      const hits = async (text: string) =>
        (await listAll({ limit: 10, q: text })).items.map((i) => i.userName)
      expect(await hits('hamilton')).toEqual(['u1'])
      expect(await hits('  HOPPER ')).toEqual(['u2'])
      expect(await hits('grace@NAVY')).toEqual(['u2'])
      expect(await hits('e-')).toEqual(['u2', 'u3'])
      expect(await hits('2002')).toEqual(['u3'])
      expect(await hits('.test')).toEqual(['u1', 'u2', 'u4'])
      expect(await hits('zzz')).toEqual([])
      expect(await hits('   ')).toEqual(['u1', 'u2', 'u3', 'u4'])
    })

    test("'%' and '_' in free text are literal characters, not wildcards", async () => {
      await db().store.write(admin, async (w) => {
        await w.createPerson({ userName: 'p1', displayName: '100% Remote' })
        await w.createPerson({ userName: 'p2', displayName: '1000 Remote' })
        await w.createPerson({ userName: 'p3', email: 'a_b@x.test' })
        await w.createPerson({ userName: 'p4', email: 'axb@x.test' })
        await w.createPerson({ userName: 'p5', displayName: 'back\\slash' })
      })
      const hits = async (text: string) =>
        (await listPeople(q(), { limit: 10, q: text })).items.map((i) => i.userName)
      expect(await hits('%')).toEqual(['p1'])
      expect(await hits('100%')).toEqual(['p1'])
      expect(await hits('0% r')).toEqual(['p1'])
      expect(await hits('_')).toEqual(['p3'])
      expect(await hits('a_b')).toEqual(['p3'])
      expect(await hits('\\')).toEqual(['p5'])
    })

    test('filters combine with paging', async () => {
      await db().store.write(admin, async (w) => {
        const d = await w.createDepartment({ name: 'D' })
        for (let i = 0; i < 9; i++) {
          const p = await w.createPerson({
            userName: `user${i}`,
            displayName: i % 2 === 0 ? 'Even Person' : 'Odd Person',
            departmentId: i < 7 ? d.id : null,
          })
          if (i === 4) await w.suspendPerson(p.id, { reason: 'x' })
        }
      })
      const { items } = await listAll({ limit: 2, q: 'even', status: 'active' })
      expect(items.map((i) => i.userName)).toEqual(['user0', 'user2', 'user6', 'user8'])
    })

    test('a cursor this server did not issue is invalid input', async () => {
      await create({ userName: 'a' })
      const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
      const bad = [
        'not a cursor!',
        Buffer.from('{"a":1}').toString('base64url'),
        raw(['a']),
        raw(['a', 'not-a-uuid']),
        raw(['a', 42]),
        raw([7, UNKNOWN]),
      ]
      for (const cursor of bad) {
        await expect(listPeople(q(), { limit: 5, cursor })).rejects.toMatchObject({ kind: 'invalid' })
      }
      // A well-formed cursor past the end is just an empty page.
      await expect(listPeople(q(), { limit: 5, cursor: encodeCursor('zzz', UNKNOWN) })).resolves.toEqual({
        items: [],
        nextCursor: null,
      })
    })
  })

  describe('getPerson', () => {
    test('returns the department path, the manager and the identities with their sources', async () => {
      const hr = await insertSource('HR export', 'csv')
      const entra = await insertSource('Entra ID', 'entra')
      // HR wins over Entra here, so precedence order is not the name order.
      await q().updateTable('sources').set({ precedence: 10 }).where('id', '=', hr).execute()
      const { person, boss, infra } = await db().store.write(admin, async (w) => {
        const eng = await w.createDepartment({ name: 'Eng' })
        const infra = await w.createDepartment({ name: 'Infra', parentId: eng.id })
        const boss = await w.createPerson({ userName: 'boss', displayName: 'The Boss' })
        const person = await w.createPerson({ userName: 'ann', departmentId: infra.id, managerId: boss.id })
        await w.saveIdentity({
          sourceId: hr,
          externalId: 'E1',
          userName: 'ann',
          attributes: {},
          personId: person.id,
        })
        await w.saveIdentity({
          sourceId: entra,
          externalId: 'obj-1',
          userName: 'ann@corp',
          attributes: {},
          personId: person.id,
        })
        await w.saveIdentity({
          sourceId: hr,
          externalId: 'E2',
          userName: 'boss',
          attributes: {},
          personId: boss.id,
        })
        return { person, boss, infra }
      })
      const got = await getPerson(q(), person.id)
      expect(got).toMatchObject({
        id: person.id,
        userName: 'ann',
        department: { id: infra.id, name: 'Infra', path: 'Eng/Infra' },
        manager: { id: boss.id, userName: 'boss', displayName: 'The Boss' },
      })
      // Highest precedence (lowest number) first.
      expect(got!.identities.map((i) => [i.source, i.externalId, i.userName, i.active, i.removedAt])).toEqual(
        [
          [{ id: hr, name: 'HR export', type: 'csv' }, 'E1', 'ann', true, null],
          [{ id: entra, name: 'Entra ID', type: 'entra' }, 'obj-1', 'ann@corp', true, null],
        ],
      )

      const bossDetail = await getPerson(q(), boss.id)
      expect(bossDetail).toMatchObject({ department: null, manager: null })
      expect(bossDetail!.identities.map((i) => i.externalId)).toEqual(['E2'])
    })

    test('an unknown or malformed id gives undefined', async () => {
      await create({ userName: 'a' })
      expect(await getPerson(q(), UNKNOWN)).toBeUndefined()
      expect(await getPerson(q(), 'not-a-uuid')).toBeUndefined()
    })
  })
})
