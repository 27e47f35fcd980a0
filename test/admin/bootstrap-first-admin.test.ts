import { totpCode, totpStep } from '../../src/admin/auth/totp'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'

/**
 * The README's "first admin with 2FA" walk-through, step by step, through HTTP only: the operator's
 * bootstrap token creates a named global admin, who signs in, is held to enrolment until TOTP is
 * confirmed, and then works with a session cookie and its CSRF token.
 */
describeEachDatabase('bootstrapping the first admin with 2FA', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  })
  afterAll(() => app?.close())

  const password = 'correct horse battery staple 42'

  async function signIn(body: Record<string, unknown>) {
    const res = await fetch(`${app.url}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    expect(res.status).toBe(200)
    const parsed = (await res.json()) as { csrfToken: string; restricted?: string }
    return { cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, ...parsed }
  }
  const call = (
    s: { cookie: string; csrfToken: string },
    method: string,
    path: string,
    body?: unknown,
    csrf = true,
  ) =>
    fetch(`${app.url}/api/v1${path}`, {
      method,
      headers: {
        cookie: s.cookie,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(csrf && method !== 'GET' ? { 'x-csrf-token': s.csrfToken } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })

  test('token → named global admin → restricted session → TOTP → full session', async () => {
    // 1. With the bootstrap token: create alice and make her a global admin (a sole global admin
    //    may grant the second one without waiting for an approval nobody could give).
    const created = await app.api('POST', '/api/v1/admins', { name: 'alice', password })
    expect(created.status).toBe(201)
    const alice = (await created.json()) as { id: string }
    const grant = await app.api('POST', `/api/v1/admins/${alice.id}/grants`, { role: 'global-admin' })
    expect(grant.status).toBe(201)

    // 2. Her first sign-in is restricted to enrolment.
    const first = await signIn({ name: 'alice', password })
    expect(first.restricted).toMatch(/two-factor|2FA|second factor/i)
    expect((await call(first, 'GET', '/sources')).status).toBe(403)

    // 3. Enrol and confirm with a code from the authenticator app.
    const enrol = await call(first, 'POST', '/auth/2fa/enrol', { password })
    expect(enrol.status).toBe(200)
    const { secret, otpauthUri } = (await enrol.json()) as { secret: string; otpauthUri: string }
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\//)
    const confirm = await call(first, 'POST', '/auth/2fa/confirm', {
      code: totpCode(secret, totpStep(Date.now())),
    })
    expect(confirm.status).toBe(200)
    expect(((await confirm.json()) as { recoveryCodes: string[] }).recoveryCodes).toHaveLength(10)
    await call(first, 'POST', '/auth/sign-out')

    // 4. From now on the password alone is not enough; with the next code she is in, fully.
    const denied = await fetch(`${app.url}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'alice', password }),
    })
    expect(denied.status).toBe(401)
    const full = await signIn({ name: 'alice', password, code: totpCode(secret, totpStep(Date.now()) + 1) })
    expect(full.restricted).toBeUndefined()
    expect((await call(full, 'GET', '/sources')).status).toBe(200)

    // 5. Cookie sessions need the CSRF token on writes.
    expect((await call(full, 'POST', '/departments', { name: 'Sales' }, false)).status).toBe(403)
    expect((await call(full, 'POST', '/departments', { name: 'Sales' })).status).toBe(201)

    // 6. A second global admin exists now, so critical operations wait for the other one.
    const bootstrapAdmin = (await (await app.api('GET', '/api/v1/admins')).json()) as {
      items: { id: string; name: string }[]
    }
    const admin = bootstrapAdmin.items.find((a) => a.name === 'admin')!
    const disable = await call(full, 'PATCH', `/api/v1/admins/${admin.id}`.replace('/api/v1', ''), {
      disabled: true,
    })
    expect(disable.status).toBe(202)
  })
})
