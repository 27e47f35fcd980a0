import { sql } from 'kysely'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase, openTestDatabase } from '../helpers/test-database'
import { CORE_USER, ENTERPRISE, PATCH_OP, createScimSource, type ScimClient } from '../helpers/scim-client'

const ORGSYNC = 'urn:orgsync:scim:schemas:extension:2.0:User'

const user = (
  userName: string,
  extra: Record<string, unknown> = {},
  enterprise?: Record<string, unknown>,
) => ({
  schemas: enterprise ? [CORE_USER, ENTERPRISE] : [CORE_USER],
  userName,
  displayName: userName.split('@')[0],
  emails: [{ value: userName, type: 'work', primary: true }],
  active: true,
  ...(enterprise ? { [ENTERPRISE]: enterprise } : {}),
  ...extra,
})

const disable = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] }

interface PersonView {
  id: string
  status: string
  suspendedReason: string | null
  removeAfter: string | null
  departmentId: string | null
  managerId: string | null
  title: string | null
}

describeEachDatabase('SCIM pushes into the org tree', (db) => {
  let app: TestApp

  beforeAll(async () => {
    app = await startTestApp(db())
  })
  afterAll(async () => {
    await app?.close()
  })

  const person = async (personId: string): Promise<PersonView> => {
    const res = await app.api('GET', `/api/v1/people/${personId}`)
    expect(res.status).toBe(200)
    return (await res.json()) as PersonView
  }
  const create = async (scim: ScimClient, body: unknown) => {
    const res = await scim.request('POST', '/Users', body)
    expect(res.status).toBe(201)
    return { id: res.body.id as string, personId: res.body[ORGSYNC].personId as string }
  }

  test('department paths become the tree; a manager pushed after the report binds on arrival', async () => {
    const scim = await createScimSource(app)
    const report = await create(
      scim,
      user(
        'report@tree.example',
        {},
        {
          department: 'Tree Co/Engineering/Platform',
          manager: { value: '11111111-2222-4333-8444-555555555555' },
        },
      ),
    )
    // The manager's id is not known yet: no manager, no error.
    expect((await person(report.personId)).managerId).toBeNull()

    const boss = await create(scim, user('boss@tree.example', {}, { department: 'Tree Co/Engineering' }))
    await scim.request('PATCH', `/Users/${report.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: `${ENTERPRISE}:manager`, value: boss.id }],
    })
    const p = await person(report.personId)
    expect(p.managerId).toBe(boss.personId)

    const depts = (await (await app.api('GET', '/api/v1/departments?limit=500')).json()) as {
      items: { id: string; path: string; parentId: string | null }[]
    }
    const byPath = new Map(depts.items.map((d) => [d.path, d]))
    expect(byPath.get('Tree Co/Engineering/Platform')?.id).toBe(p.departmentId)
    expect(byPath.get('Tree Co/Engineering/Platform')?.parentId).toBe(byPath.get('Tree Co/Engineering')?.id)
    expect((await person(boss.personId)).departmentId).toBe(byPath.get('Tree Co/Engineering')?.id)

    // A later report naming a manager who is already there binds at once; one who names a manager that
    // arrives later is bound when the manager is created.
    const late = await create(scim, user('late@tree.example', {}, { manager: { value: 'will-come' } }))
    expect((await person(late.personId)).managerId).toBeNull()
  })

  test('a department path is found again whatever its letters (the database decides case, not JavaScript)', async () => {
    const scim = await createScimSource(app)
    const a = await create(scim, user('i1@case.example', {}, { department: 'İstanbul/İT' }))
    const b = await create(scim, user('i2@case.example', {}, { department: 'İstanbul/İT' }))
    const c = await create(scim, user('i3@case.example', {}, { department: 'İSTANBUL/İT' }))
    const dept = (await person(a.personId)).departmentId
    expect(dept).not.toBeNull()
    expect((await person(b.personId)).departmentId).toBe(dept)
    expect((await person(c.personId)).departmentId).not.toBeNull()
  })

  test('deep department paths (past the look-up widths of 8 and 16) are created once and found again', async () => {
    const scim = await createScimSource(app)
    const levels = (n: number) => Array.from({ length: n }, (_, i) => `Level ${i + 1}`).join('/')
    for (const depth of [1, 8, 9, 17]) {
      const first = await create(scim, user(`deep${depth}a@tree.example`, {}, { department: levels(depth) }))
      const again = await create(scim, user(`deep${depth}b@tree.example`, {}, { department: levels(depth) }))
      const dept = (await person(first.personId)).departmentId
      expect(dept).not.toBeNull()
      expect((await person(again.personId)).departmentId).toBe(dept)
    }
    const depts = (await (await app.api('GET', '/api/v1/departments?limit=500')).json()) as {
      items: { path: string }[]
    }
    const deep = depts.items.filter((d) => d.path.startsWith('Level 1')).map((d) => d.path)
    // One department per level: the shallower pushes' departments were found again, not duplicated.
    expect(deep.sort()).toEqual(Array.from({ length: 17 }, (_, i) => levels(i + 1)).sort())
  })

  test('a report waiting for a manager by id is bound when that manager is created (Bulk order)', async () => {
    const scim = await createScimSource(app)
    const res = await scim.request('POST', '/Bulk', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
      Operations: [
        {
          method: 'POST',
          bulkId: 'r',
          path: '/Users',
          data: user('r@bind.example', {}, { manager: { value: 'bulkId:m' } }),
        },
        { method: 'POST', bulkId: 'm', path: '/Users', data: user('m@bind.example') },
      ],
    })
    const ids = Object.fromEntries(
      res.body.Operations.map((o: { bulkId: string; location: string }) => [
        o.bulkId,
        o.location.split('/').pop(),
      ]),
    )
    const r = await scim.request('GET', `/Users/${ids.r}`)
    const m = await scim.request('GET', `/Users/${ids.m}`)
    expect((await person(r.body[ORGSYNC].personId)).managerId).toBe(m.body[ORGSYNC].personId)
  })

  test('active:false suspends at once; active:true reactivates; DELETE suspends with a removal date', async () => {
    const scim = await createScimSource(app, { policy: { gracePeriodDays: 10 } })
    const u = await create(scim, user('leaver@tree.example'))
    expect((await scim.request('PATCH', `/Users/${u.id}`, disable)).status).toBe(200)
    let p = await person(u.personId)
    expect(p.status).toBe('suspended')
    expect(p.suspendedReason).toMatch(/disabled in/)
    expect(p.removeAfter).toBeNull()

    await scim.request('PATCH', `/Users/${u.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'active', value: 'True' }],
    })
    expect((await person(u.personId)).status).toBe('active')

    expect((await scim.request('DELETE', `/Users/${u.id}`)).status).toBe(204)
    p = await person(u.personId)
    expect(p.status).toBe('suspended')
    const days = (new Date(p.removeAfter!).getTime() - Date.now()) / 86_400_000
    expect(days).toBeGreaterThan(9.9)
    expect(days).toBeLessThan(10.1)
    expect((await scim.request('GET', `/Users/${u.id}`)).status).toBe(404)
  })

  test('DELETE leaves a person alone while another active source still vouches for them', async () => {
    const a = await createScimSource(app)
    const b = await createScimSource(app)
    const viaA = await create(a, user('shared@tree.example'))
    const viaB = await create(b, user('shared@tree.example'))
    expect(viaB.personId).toBe(viaA.personId) // matched by email
    expect((await a.request('DELETE', `/Users/${viaA.id}`)).status).toBe(204)
    expect((await person(viaA.personId)).status).toBe('active')
    expect((await b.request('DELETE', `/Users/${viaB.id}`)).status).toBe(204)
    expect((await person(viaA.personId)).status).toBe('suspended')
  })

  test('active:false from one source leaves a person another source still has enabled', async () => {
    const a = await createScimSource(app)
    const b = await createScimSource(app)
    const viaA = await create(a, user('twice@tree.example'))
    const viaB = await create(b, user('twice@tree.example'))
    expect(viaB.personId).toBe(viaA.personId)
    expect((await a.request('PATCH', `/Users/${viaA.id}`, disable)).status).toBe(200)
    expect((await person(viaA.personId)).status).toBe('active')
    expect((await b.request('PATCH', `/Users/${viaB.id}`, disable)).status).toBe(200)
    expect((await person(viaA.personId)).status).toBe('suspended')
  })

  test('per-attribute precedence between two pushing sources', async () => {
    const hr = await createScimSource(app, { precedence: 10 })
    const idp = await createScimSource(app, { precedence: 50 })
    const fromHr = await create(hr, user('prec@tree.example', { title: 'Principal Engineer' }))
    await create(idp, user('prec@tree.example', { title: 'Engineer' }))
    expect((await person(fromHr.personId)).title).toBe('Principal Engineer')
    // The lower-ranked source cannot take the title; when the owner drops it, the other's value is used.
    await hr.request('PATCH', `/Users/${fromHr.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'remove', path: 'title' }],
    })
    expect((await person(fromHr.personId)).title).toBe('Engineer')
  })

  test('the guard holds leavers past its window threshold; admins approve or discard them', async () => {
    const scim = await createScimSource(app, { policy: { scimLeaverGuard: { count: 2, windowMinutes: 60 } } })
    const users = []
    for (let i = 0; i < 5; i++) users.push(await create(scim, user(`guard${i}@tree.example`)))
    expect((await scim.request('PATCH', `/Users/${users[0]!.id}`, disable)).status).toBe(200)
    expect((await scim.request('DELETE', `/Users/${users[1]!.id}`)).status).toBe(204)
    // Past the threshold: accepted at the protocol level, held instead of applied.
    expect((await scim.request('PATCH', `/Users/${users[2]!.id}`, disable)).status).toBe(200)
    expect((await scim.request('DELETE', `/Users/${users[3]!.id}`)).status).toBe(204)
    expect((await scim.request('DELETE', `/Users/${users[4]!.id}`)).status).toBe(204)
    expect((await person(users[0]!.personId)).status).toBe('suspended')
    expect((await person(users[1]!.personId)).status).toBe('suspended')
    for (const u of users.slice(2)) expect((await person(u.personId)).status).toBe('active')
    // The provider repeating itself does not queue the same leaver twice.
    await scim.request('PATCH', `/Users/${users[2]!.id}`, disable)

    const held = await app.api('GET', `/api/v1/sources/${scim.sourceId}/held-leavers`)
    const items = ((await held.json()) as { items: { id: string; personId: string; action: string }[] }).items
    expect(items.map((i) => [i.personId, i.action])).toEqual([
      [users[2]!.personId, 'suspend'],
      [users[3]!.personId, 'deprovision'],
      [users[4]!.personId, 'deprovision'],
    ])
    const approve = await app.api('POST', `/api/v1/sources/${scim.sourceId}/held-leavers/approve`, {
      ids: [items[1]!.id],
    })
    expect(approve.status).toBe(200)
    const approved = await person(users[3]!.personId)
    expect(approved.status).toBe('suspended')
    expect(approved.removeAfter).not.toBeNull()

    // Re-enabling a held user supersedes their held leaver.
    await scim.request('PATCH', `/Users/${users[2]!.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { active: true } }],
    })
    const discard = await app.api('POST', `/api/v1/sources/${scim.sourceId}/held-leavers/discard`, {})
    const discarded = ((await discard.json()) as { items: { personId: string }[] }).items
    expect(discarded.map((d) => d.personId)).toEqual([users[4]!.personId])
    expect((await person(users[4]!.personId)).status).toBe('active')
    expect((await person(users[2]!.personId)).status).toBe('active')
    const left = await app.api('GET', `/api/v1/sources/${scim.sourceId}/held-leavers`)
    expect(((await left.json()) as { items: unknown[] }).items).toEqual([])
  })

  test('protected people are never made leavers by a push; every SCIM write is audited as the source and token', async () => {
    const scim = await createScimSource(app, { policy: { protectedUserNames: ['ceo@tree.example'] } })
    const ceo = await create(scim, user('ceo@tree.example'))
    expect((await scim.request('PATCH', `/Users/${ceo.id}`, disable)).status).toBe(200)
    expect((await person(ceo.personId)).status).toBe('active')
    const events = await db()
      .handle.db.selectFrom('audit_events')
      .select(['action', 'actor_type', 'actor_id', 'actor_name'])
      .where(sql<boolean>`actor_id = ${scim.sourceId}`)
      .orderBy('seq')
      .execute()
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining([
        'person.create',
        'identity.create',
        'identity.update',
        'person.leaver-skipped',
      ]),
    )
    for (const e of events) {
      expect(e.actor_type).toBe('source')
      expect(e.actor_name).toContain(scim.tokenId)
    }
  })

  test('a database failure is a 503, never a 404', async () => {
    const own = await openTestDatabase(db().kind)
    const ownApp = await startTestApp(own)
    try {
      const scim = await createScimSource(ownApp)
      const u = await scim.request('POST', '/Users', user('outage@tree.example'))
      expect(u.status).toBe(201)
      await own.handle.close()
      const res = await scim.request('GET', `/Users/${u.body.id}`)
      expect([500, 503]).toContain(res.status)
      expect(res.status).not.toBe(404)
      expect(res.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'] })
    } finally {
      await ownApp.close()
      await own.close().catch(() => undefined)
    }
  })
})
