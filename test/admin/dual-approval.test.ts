import { sql } from 'kysely'
import { adminWith, type TestAdmin } from '../helpers/admin-fixture'
import { fakeSource, plan, planAndApply, reseed, u } from '../helpers/sync-fixture'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'

interface Approval {
  id: string
  operation: string
  status: string
  summary: string
  requestedBy: { id: string }
  decidedBy: { id: string } | null
}

describeEachDatabase('dual approval', (db) => {
  let app: TestApp
  let alice: TestAdmin
  let bob: TestAdmin
  let carol: TestAdmin

  beforeAll(async () => {
    app = await startTestApp(db())
    alice = await adminWith(app, 'alice', [{ role: 'global-admin' }])
    bob = await adminWith(app, 'bob', [{ role: 'global-admin' }])
    carol = await adminWith(app, 'carol', [{ role: 'global-admin' }])
  }, 60_000)
  afterAll(() => app?.close())

  const sourceExists = async (id: string) =>
    (await app.db.handle.db.selectFrom('sources').select('id').where('id', '=', id).executeTakeFirst()) !==
    undefined

  async function requestDelete(by: TestAdmin, sourceId: string): Promise<Approval> {
    const res = await by.api('DELETE', `/api/v1/sources/${sourceId}`)
    expect(res.status).toBe(202)
    const body = (await res.json()) as { status: string; approval: Approval }
    expect(body.status).toBe('pending-approval')
    return body.approval
  }

  test('a critical operation waits; the requester cannot approve; another global admin runs it once', async () => {
    const sourceId = await fakeSource(app, { users: [] }, { name: 'to delete' })
    const approval = await requestDelete(alice, sourceId)
    expect(approval).toMatchObject({ operation: 'source.delete', status: 'pending' })
    expect(approval.summary).toContain('to delete')
    expect(await sourceExists(sourceId)).toBe(true)

    const own = await alice.api('POST', `/api/v1/approvals/${approval.id}/approve`)
    expect(own.status).toBe(403)
    expect(await own.text()).toMatch(/requester cannot approve/)
    expect(await sourceExists(sourceId)).toBe(true)

    const ok = await bob.api('POST', `/api/v1/approvals/${approval.id}/approve`)
    expect(ok.status).toBe(200)
    expect((await ok.json()) as Approval).toMatchObject({
      status: 'executed',
      decidedBy: { id: bob.adminId },
    })
    expect(await sourceExists(sourceId)).toBe(false)

    const again = await carol.api('POST', `/api/v1/approvals/${approval.id}/approve`)
    expect(again.status).toBe(409)
  })

  test('an expired request cannot be approved and shows as expired', async () => {
    const sourceId = await fakeSource(app, { users: [] }, { name: 'expiring' })
    const approval = await requestDelete(alice, sourceId)
    await app.db.handle.db
      .updateTable('approval_requests')
      .set({ expires_at: sql<Date>`now() - interval '1 minute'` })
      .where('id', '=', approval.id)
      .execute()
    const res = await bob.api('POST', `/api/v1/approvals/${approval.id}/approve`)
    expect(res.status).toBe(409)
    expect(await res.text()).toMatch(/expired/)
    expect(await sourceExists(sourceId)).toBe(true)
    const listed = (await (await bob.api('GET', '/api/v1/approvals?status=expired')).json()) as {
      items: Approval[]
    }
    expect(listed.items.map((a) => a.id)).toContain(approval.id)
  })

  test('two concurrent approvals execute the operation once', async () => {
    const sourceId = await fakeSource(app, { users: [] }, { name: 'raced' })
    const approval = await requestDelete(alice, sourceId)
    const results = await Promise.all([
      bob.api('POST', `/api/v1/approvals/${approval.id}/approve`),
      carol.api('POST', `/api/v1/approvals/${approval.id}/approve`),
    ])
    expect(results.map((r) => r.status).sort()).toEqual([200, 409])
    const deletes = await app.db.handle.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('action', '=', 'source.delete')
      .where('target_id', '=', sourceId)
      .executeTakeFirstOrThrow()
    expect(Number(deletes.n)).toBe(1)
    const approvals = await app.db.handle.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('action', '=', 'approval.approve')
      .where('target_id', '=', approval.id)
      .executeTakeFirstOrThrow()
    expect(Number(approvals.n)).toBe(1)
  })

  test('a request whose stored payload was altered is refused, not run', async () => {
    const keep = await fakeSource(app, { users: [] }, { name: 'keep me' })
    const asked = await fakeSource(app, { users: [] }, { name: 'asked' })
    const approval = await requestDelete(alice, asked)
    await app.db.handle.db
      .updateTable('approval_requests')
      .set({ payload: JSON.stringify({ sourceId: keep }) })
      .where('id', '=', approval.id)
      .execute()
    const res = await bob.api('POST', `/api/v1/approvals/${approval.id}/approve`)
    expect(res.status).toBe(409)
    expect(await res.text()).toMatch(/payload no longer matches/)
    expect(await sourceExists(keep)).toBe(true)
  })

  test('reject and cancel close a request without running it', async () => {
    const sourceId = await fakeSource(app, { users: [] }, { name: 'kept' })
    const first = await requestDelete(alice, sourceId)
    expect((await alice.api('POST', `/api/v1/approvals/${first.id}/reject`)).status).toBe(403)
    expect((await bob.api('POST', `/api/v1/approvals/${first.id}/reject`)).status).toBe(200)
    const second = await requestDelete(alice, sourceId)
    expect((await bob.api('POST', `/api/v1/approvals/${second.id}/cancel`)).status).toBe(403)
    expect((await alice.api('POST', `/api/v1/approvals/${second.id}/cancel`)).status).toBe(200)
    expect((await carol.api('POST', `/api/v1/approvals/${second.id}/approve`)).status).toBe(409)
    expect(await sourceExists(sourceId)).toBe(true)
  })

  test('approving a held plan needs a second global admin, then applies it', async () => {
    const sourceId = await fakeSource(
      app,
      { users: [u('h1'), u('h2'), u('h3')] },
      { name: 'held source', policy: { deletionThreshold: { count: 1, share: 1 } } },
    )
    await planAndApply(app, sourceId)
    await reseed(app, sourceId, { users: [] })
    const held = await plan(app, sourceId)
    expect(held.status).toBe('held')
    const res = await alice.api('POST', `/api/v1/plans/${held.id}/approve`)
    expect(res.status).toBe(202)
    const { approval } = (await res.json()) as { approval: Approval }
    expect((await app.services.plans.get(held.id)).status).toBe('held')
    expect((await carol.api('POST', `/api/v1/approvals/${approval.id}/approve`)).status).toBe(200)
    expect((await app.services.plans.get(held.id)).status).toBe('applied')
  })

  test('granting global admin and long temporary grants need approval; short ones do not', async () => {
    const dave = await adminWith(app, 'dave', [])
    const dept = await app.db.store.write({ type: 'system', id: 't', name: 't' }, (w) =>
      w.createDepartment({ name: 'Temp' }),
    )
    const global = await alice.api('POST', `/api/v1/admins/${dave.adminId}/grants`, { role: 'global-admin' })
    expect(global.status).toBe(202)
    const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString()
    const long = await alice.api('POST', `/api/v1/admins/${dave.adminId}/grants`, {
      role: 'department-admin',
      departmentId: dept.id,
      expiresAt: inHours(24 * 30),
    })
    expect(long.status).toBe(202)
    const short = await alice.api('POST', `/api/v1/admins/${dave.adminId}/grants`, {
      role: 'department-admin',
      departmentId: dept.id,
      expiresAt: inHours(72),
    })
    expect(short.status).toBe(201)
    const grants = (await (await alice.api('GET', `/api/v1/admins/${dave.adminId}/grants`)).json()) as {
      items: { role: string; status: string }[]
    }
    expect(grants.items).toEqual([expect.objectContaining({ role: 'department-admin', status: 'active' })])
    // The matching permission works at once, and stops the moment the grant expires.
    expect((await dave.api('GET', '/api/v1/people')).status).toBe(200)
    await app.db.handle.db
      .updateTable('admin_role_grants')
      .set({ expires_at: sql<Date>`now() - interval '1 second'` })
      .where('admin_id', '=', dave.adminId)
      .execute()
    expect((await dave.api('GET', '/api/v1/people')).status).toBe(403)
    const after = (await (await alice.api('GET', `/api/v1/admins/${dave.adminId}/grants`)).json()) as {
      items: { status: string }[]
    }
    expect(after.items.map((g) => g.status)).toEqual(['expired'])
  })

  test('a policy change is approved by another admin; one that would lock the caller out is refused', async () => {
    const lockout = await alice.api('PUT', '/api/v1/policy', {
      network: { adminAllowlist: ['203.0.113.0/24'] },
    })
    expect(lockout.status).toBe(409)
    expect(await lockout.text()).toMatch(/lock you out/)
    const res = await alice.api('PUT', '/api/v1/policy', {
      network: { adminAllowlist: ['127.0.0.0/8', '::1/128'] },
      grants: { maxTemporaryHours: 48 },
    })
    expect(res.status).toBe(202)
    const { approval } = (await res.json()) as { approval: Approval }
    expect(
      ((await (await alice.api('GET', '/api/v1/policy')).json()) as { grants: { maxTemporaryHours: number } })
        .grants.maxTemporaryHours,
    ).toBe(72)
    expect((await bob.api('POST', `/api/v1/approvals/${approval.id}/approve`)).status).toBe(200)
    const now = (await (await alice.api('GET', '/api/v1/policy')).json()) as {
      grants: { maxTemporaryHours: number }
      network: { adminAllowlist: string[] }
    }
    expect(now.grants.maxTemporaryHours).toBe(48)
    expect(now.network.adminAllowlist).toEqual(['127.0.0.0/8', '::1/128'])
  })
})

describeEachDatabase('whole audit log export and the admin allowlist, through the app', (db) => {
  let app: TestApp
  let alice: TestAdmin
  let bob: TestAdmin
  beforeAll(async () => {
    app = await startTestApp(db())
    alice = await adminWith(app, 'alice', [{ role: 'global-admin' }])
    bob = await adminWith(app, 'bob', [{ role: 'global-admin' }])
  })
  afterAll(() => app?.close())

  test('the whole log is exported once, by the requester, after another global admin approves', async () => {
    // A filtered export needs no approval; a time range alone still selects the whole log.
    expect((await alice.api('GET', '/api/v1/audit/export?action=admin.grant*')).status).toBe(200)
    expect((await alice.api('GET', '/api/v1/audit/export?from=1970-01-01T00:00:00Z')).status).toBe(202)
    const asked = await alice.api('GET', '/api/v1/audit/export?format=csv')
    expect(asked.status).toBe(202)
    const { approval } = (await asked.json()) as { approval: Approval }
    expect(approval.operation).toBe('audit.export-all')
    expect((await alice.api('GET', `/api/v1/audit/export?format=csv&approval=${approval.id}`)).status).toBe(
      409,
    )
    expect((await bob.api('POST', `/api/v1/approvals/${approval.id}/approve`)).status).toBe(200)
    // Only the requester, only once.
    expect((await bob.api('GET', `/api/v1/audit/export?format=csv&approval=${approval.id}`)).status).toBe(409)
    const got = await alice.api('GET', `/api/v1/audit/export?format=csv&approval=${approval.id}`)
    expect(got.status).toBe(200)
    expect(await got.text()).toContain('approval.approve')
    expect((await alice.api('GET', `/api/v1/audit/export?format=csv&approval=${approval.id}`)).status).toBe(
      409,
    )
  })

  test('a caller outside the admin allowlist gets 403 and an audit event, before authentication', async () => {
    await app.db.handle.db
      .insertInto('settings')
      .values({
        key: 'security-policy',
        value: JSON.stringify({ network: { adminAllowlist: ['10.0.0.0/8'] } }),
      })
      .onConflict((oc) =>
        oc
          .column('key')
          .doUpdateSet({ value: JSON.stringify({ network: { adminAllowlist: ['10.0.0.0/8'] } }) }),
      )
      .execute()
    app.services.policy.invalidate()
    try {
      const denied = await alice.api('GET', '/api/v1/sources')
      expect(denied.status).toBe(403)
      expect(await denied.text()).toMatch(/not in the admin API's IP allowlist/)
      const anonymous = await fetch(`${app.url}/api/v1/auth/sign-in`, { method: 'POST' })
      expect(anonymous.status).toBe(403)
      const events = await app.db.handle.db
        .selectFrom('audit_events')
        .select(['after'])
        .where('action', '=', 'network.denied')
        .execute()
      expect(events.length).toBe(2)
      expect(events[0]!.after).toMatchObject({ method: 'GET', path: '/api/v1/sources' })
      // SCIM is not the admin API: its tokens carry their own allowlists.
      expect((await fetch(`${app.url}/scim/v2/ServiceProviderConfig`)).status).not.toBe(403)
    } finally {
      await app.db.handle.db.deleteFrom('settings').where('key', '=', 'security-policy').execute()
      app.services.policy.invalidate()
    }
  })
})

describeEachDatabase('dual approval with a sole global admin', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  })
  afterAll(() => app?.close())

  test('is waived (and audited) by default, and waits when the policy says so', async () => {
    const first = await fakeSource(app, { users: [] }, { name: 'sole one' })
    const res = await app.api('DELETE', `/api/v1/sources/${first}`)
    expect(res.status).toBe(204)
    expect(res.headers.get('x-orgsync-approval')).toMatch(/sole global admin/)
    const waived = await app.db.handle.db
      .selectFrom('audit_events')
      .select('after')
      .where('action', '=', 'approval.waived')
      .execute()
    expect(waived.length).toBe(1)

    // Turning the waiver off is itself waived (the last time), then deletion waits.
    const policy = await app.api('PUT', '/api/v1/policy', { dualApproval: { allowSoleGlobalAdmin: false } })
    expect(policy.status).toBe(200)
    const second = await fakeSource(app, { users: [] }, { name: 'sole two' })
    expect((await app.api('DELETE', `/api/v1/sources/${second}`)).status).toBe(202)
  })
})
