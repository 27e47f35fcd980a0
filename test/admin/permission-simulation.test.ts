import { sql } from 'kysely'
import { adminWith, orgFixture, type OrgFixture } from '../helpers/admin-fixture'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'

interface Decision {
  allowed: boolean
  reason: string
  partial?: boolean
  grants: {
    grantId: string
    role: string
    allows: boolean
    why: string
    scope: { kind: string; label: string }
  }[]
}

describeEachDatabase('permission simulation and effective permissions', (db) => {
  let app: TestApp
  let f: OrgFixture

  beforeAll(async () => {
    app = await startTestApp(db())
    f = await orgFixture(app)
  }, 60_000)
  afterAll(() => app?.close())

  const simulate = async (body: unknown) => {
    const res = await app.api('POST', '/api/v1/authz/simulate', body)
    expect(res.status).toBe(200)
    return (await res.json()) as Decision
  }

  test('names the grant and scope that allow, or what is missing; overlapping grants are all listed', async () => {
    const ed = await adminWith(app, 'ed', [
      { role: 'department-admin', departmentId: f.dept.A },
      { role: 'department-admin', departmentId: f.dept.A1 },
      { role: 'support-admin' },
    ])
    const inside = await simulate({
      adminId: ed.adminId,
      action: 'person.update',
      resource: { type: 'person', id: f.person.pa1 },
    })
    expect(inside.allowed).toBe(true)
    // Both department grants cover pa1 (A and A1 overlap): both are named, support is not.
    expect(
      inside.grants
        .filter((g) => g.allows)
        .map((g) => g.scope.label)
        .sort(),
    ).toEqual(['A', 'A/A1'])
    expect(inside.grants.find((g) => g.role === 'support-admin')!.why).toMatch(
      /does not include person.update/,
    )
    expect(inside.reason).toMatch(/department-admin on the "A" subtree/)

    const outside = await simulate({
      adminId: ed.adminId,
      action: 'person.update',
      resource: { type: 'person', id: f.person.pb1 },
    })
    expect(outside.allowed).toBe(false)
    expect(outside.reason).toMatch(/outside the scope of every grant that gives person.update/)

    const missing = await simulate({ adminId: ed.adminId, action: 'policy.update' })
    expect(missing).toMatchObject({ allowed: false })
    expect(missing.reason).toMatch(/no grant gives policy.update/)

    // Support's organisation-wide status lookup covers people outside the department grants.
    const status = await simulate({
      adminId: ed.adminId,
      action: 'person.status',
      resource: { type: 'person', id: f.person.pb1 },
    })
    expect(status.allowed).toBe(true)
    expect(status.grants.filter((g) => g.allows).map((g) => g.role)).toEqual(['support-admin'])

    const changes = await simulate({
      adminId: ed.adminId,
      action: 'plan.changes',
      resource: { type: 'plan', id: f.plan.S1 },
    })
    expect(changes).toMatchObject({ allowed: true, partial: true })

    // What the simulation says is what the API does.
    expect((await ed.api('PATCH', `/api/v1/people/${f.person.pa1}`, { title: 'Lead' })).status).toBe(200)
    expect((await ed.api('PATCH', `/api/v1/people/${f.person.pb1}`, { title: 'Lead' })).status).toBe(403)
  })

  test('effective permissions list every grant with its status; expired ones give nothing', async () => {
    const fay = await adminWith(app, 'fay', [
      { role: 'app-admin', sourceId: f.source.S1 },
      { role: 'support-admin', expiresAt: new Date(Date.now() + 3_600_000) },
    ])
    await app.db.handle.db
      .updateTable('admin_role_grants')
      .set({ expires_at: sql<Date>`now() - interval '1 second'` })
      .where('admin_id', '=', fay.adminId)
      .where('role', '=', 'support-admin')
      .execute()
    const res = await app.api('GET', `/api/v1/admins/${fay.adminId}/effective-permissions`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as {
      grants: { role: string; status: string; counts: boolean; scopeLabel: string }[]
      permissions: Record<string, { role: string; scope: { label: string } }[]>
    }
    expect(body.grants.map((g) => [g.role, g.status, g.counts]).sort()).toEqual([
      ['app-admin', 'active', true],
      ['support-admin', 'expired', false],
    ])
    expect(body.permissions['source.run']).toEqual([
      expect.objectContaining({ role: 'app-admin', scope: expect.objectContaining({ label: 'HR main' }) }),
    ])
    expect(body.permissions['person.status']).toBeUndefined()
    const sim = await simulate({
      adminId: fay.adminId,
      action: 'person.status',
      resource: { type: 'person', id: f.person.pa1 },
    })
    expect(sim.allowed).toBe(false)
  })

  test('custom roles from the catalogue grant exactly their permissions in their scope', async () => {
    const role = await app.api('POST', '/api/v1/roles', {
      name: 'people-viewer',
      permissions: ['person.read'],
      scopeKind: 'department',
    })
    expect(role.status).toBe(201)
    expect(
      (await app.api('POST', '/api/v1/roles', { name: 'bad', permissions: ['no.such'], scopeKind: 'global' }))
        .status,
    ).toBe(400)
    const gil = await adminWith(app, 'gil', [])
    const grant = await app.api('POST', `/api/v1/admins/${gil.adminId}/grants`, {
      role: 'people-viewer',
      departmentId: f.dept.B,
    })
    expect(grant.status).toBe(201)
    const list = (await (await gil.api('GET', '/api/v1/people')).json()) as { items: { userName: string }[] }
    expect(list.items.map((p) => p.userName).sort()).toEqual(['pb1@corp.test', 'pb2@corp.test'])
    expect((await gil.api('PATCH', `/api/v1/people/${f.person.pb1}`, { title: 'x' })).status).toBe(403)
    // A role in use cannot be deleted out from under its grants.
    expect((await app.api('DELETE', '/api/v1/roles/people-viewer')).status).toBe(409)
  })
})
