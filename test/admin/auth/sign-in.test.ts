import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { GLOBAL_ADMIN } from '../../../src/admin/admin-tokens'
import { hashPassword } from '../../../src/admin/auth/password'
import { SIGN_IN_FAILED } from '../../../src/admin/auth/sign-in'
import { totpCode, totpStep } from '../../../src/admin/auth/totp'
import { DEFAULT_POLICY, type SecurityPolicy } from '../../../src/admin/security-policy'
import type { Actor } from '../../../src/org/actor'
import { bootstrapAdmin } from '../../../src/startup/bootstrap-admin'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'

const setup: Actor = { type: 'system', id: 'test', name: 'test' }
const PASSWORD = 'correct horse battery staple'

interface ErrorJson {
  code: string
  message: string
}

/** A browser-like client: keeps the session cookie and the CSRF token sign-in gave it. */
interface Session {
  cookie: string
  csrfToken: string
  body: SignInBody
}

interface SignInBody {
  admin: { id: string; name: string }
  csrfToken: string
  expiresAt: string
  secondFactor: 'totp' | 'recovery' | 'none'
  restricted?: string
  recoveryCodesLeft?: number
}

describeEachDatabase('admin sign-in', (db) => {
  let app: TestApp

  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(async () => {
    await app?.close()
  })
  beforeEach(async () => {
    await db().reset()
    await sql`delete from signin_throttle`.execute(db().handle.db)
    await bootstrapAdmin(db().store, app.token)
    await setPolicy(DEFAULT_POLICY)
  })

  const k = () => db().handle.db

  async function setPolicy(policy: SecurityPolicy): Promise<void> {
    await db().store.write(setup, async (w) => {
      await app.services.policy.save(w.transaction, policy)
    })
    app.services.policy.invalidate()
  }

  /** An admin with a password (made here: the admin-management API is not part of this suite). */
  async function createAdmin(name: string, roles: string[] = [GLOBAL_ADMIN]): Promise<string> {
    const id = randomUUID()
    const passwordHash = await hashPassword(PASSWORD)
    await db().store.write(setup, async (w) => {
      await w.transaction.insertInto('admins').values({ id, name, password_hash: passwordHash }).execute()
      for (const role of roles) {
        await w.transaction
          .insertInto('admin_role_grants')
          .values({ id: randomUUID(), admin_id: id, role, granted_by: 'test' })
          .execute()
      }
      await w.audit({ action: 'admin.create', targetType: 'admin', targetId: id, after: { name } })
    })
    return id
  }

  const raw = (path: string, init: RequestInit = {}) => fetch(`${app.url}${path}`, init)

  async function json<T = Record<string, unknown>>(res: Response, status: number): Promise<T> {
    const text = await res.text()
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`)
    return (text ? JSON.parse(text) : undefined) as T
  }

  async function expectError(res: Response, status: number, code: string, message?: RegExp | string) {
    const body = await json<{ error: ErrorJson }>(res, status)
    expect(body.error.code).toBe(code)
    if (message !== undefined) {
      if (typeof message === 'string') expect(body.error.message).toBe(message)
      else expect(body.error.message).toMatch(message)
    }
    return body.error
  }

  const postSignIn = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    raw('/api/v1/auth/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })

  async function signIn(body: Record<string, unknown>): Promise<Session> {
    const res = await postSignIn(body)
    const parsed = await json<SignInBody>(res, 200)
    const setCookie = res.headers.getSetCookie()
    expect(setCookie).toHaveLength(1)
    const cookie = setCookie[0]!.split(';')[0]!
    return { cookie, csrfToken: parsed.csrfToken, body: parsed }
  }

  /** A request with the session cookie; unsafe methods carry the CSRF token unless told otherwise. */
  function call(
    session: Session,
    method: string,
    path: string,
    body?: unknown,
    options: { csrf?: string | null } = {},
  ): Promise<Response> {
    const csrf = options.csrf === undefined ? session.csrfToken : options.csrf
    return raw(`/api/v1${path}`, {
      method,
      headers: {
        cookie: session.cookie,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(csrf !== null && method !== 'GET' ? { 'x-csrf-token': csrf } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  }

  /** The current code of an authenticator app holding `secret`. */
  const codeNow = (secret: string, offset = 0) => totpCode(secret, totpStep(Date.now()) + offset)

  /** Signs in, enrols and confirms TOTP; returns the secret, the recovery codes and the session. */
  async function enrolled(name: string) {
    const session = await signIn({ name, password: PASSWORD })
    const enrol = await json<{ otpauthUri: string; secret: string }>(
      await call(session, 'POST', '/auth/2fa/enrol', { password: PASSWORD }),
      200,
    )
    const confirmed = await json<{ recoveryCodes: string[] }>(
      await call(session, 'POST', '/auth/2fa/confirm', { code: codeNow(enrol.secret) }),
      200,
    )
    // The confirmation used this step's code: let the next sign-in use it again (no waiting).
    await forgetLastStep(name)
    return { secret: enrol.secret, recoveryCodes: confirmed.recoveryCodes, session }
  }

  async function forgetLastStep(name: string): Promise<void> {
    await k().updateTable('admins').set({ totp_last_step: null }).where('name', '=', name).execute()
  }

  async function auditOf(action: string) {
    return k().selectFrom('audit_events').selectAll().where('action', '=', action).orderBy('seq').execute()
  }

  test('sign-in sets a strict HttpOnly cookie, returns a CSRF token and is never cached', async () => {
    const id = await createAdmin('alice')
    const res = await postSignIn({ name: 'Alice', password: PASSWORD })
    const body = await json<SignInBody>(res, 200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(body.admin).toEqual({ id, name: 'alice' })
    expect(body.secondFactor).toBe('none')
    expect(body.csrfToken).toMatch(/^[\w-]{43}$/)
    const expiresAt = new Date(body.expiresAt).getTime()
    expect(Math.abs(expiresAt - (Date.now() + 12 * 3600_000))).toBeLessThan(60_000)
    const [cookie] = res.headers.getSetCookie()
    const attrs = cookie!.split('; ')
    expect(attrs[0]).toMatch(/^orgsync_session=[\w-]{43}$/)
    expect(attrs).toEqual(expect.arrayContaining(['Path=/api', 'HttpOnly', 'SameSite=Strict']))
    expect(attrs).not.toContain('Secure') // plain HTTP here; behind TLS it is added
    const maxAge = Number(attrs.find((a) => a.startsWith('Max-Age='))!.slice(8))
    expect(maxAge).toBeLessThanOrEqual(12 * 3600)
    expect(maxAge).toBeGreaterThan(12 * 3600 - 60)
    const row = await k().selectFrom('admin_sessions').selectAll().executeTakeFirstOrThrow()
    expect(row.admin_id).toBe(id)
    expect(row.second_factor).toBe('none')
    expect(row.ip).toBeTruthy()
    // Only digests are stored.
    expect(Buffer.from(row.token_hash).toString('base64url')).not.toBe(attrs[0]!.split('=')[1])
    expect((await auditOf('auth.sign-in'))[0]).toMatchObject({ actor_id: id, target_id: id })
  })

  test('full flow: restricted until 2FA is confirmed, sign-out, TOTP, recovery code', async () => {
    const id = await createAdmin('alice')

    // 1. Password only: a global admin must enrol first; only their own routes are open.
    const first = await signIn({ name: 'alice', password: PASSWORD })
    expect(first.body.restricted).toMatch(/requires two-factor sign-in for role global-admin/)
    await expectError(
      await call(first, 'GET', '/departments'),
      403,
      'forbidden',
      /POST \/api\/v1\/auth\/2fa\/enrol/,
    )
    const me = await json<Record<string, unknown>>(await call(first, 'GET', '/auth/me'), 200)
    expect(me).toMatchObject({
      admin: { id, name: 'alice' },
      via: 'session',
      restricted: expect.stringMatching(/global-admin/),
      twoFactor: { enabled: false, pending: false, required: true, requiredFor: [GLOBAL_ADMIN] },
    })
    await expectError(
      await call(first, 'POST', '/auth/tokens', { name: 'ci' }),
      403,
      'forbidden',
      /requires two-factor/,
    )

    // 2. Enrolment needs the password and returns an otpauth URI; it stays pending until confirmed.
    await expectError(
      await call(first, 'POST', '/auth/2fa/enrol', { password: 'not the password' }),
      403,
      'forbidden',
      /current password is wrong/,
    )
    const enrolRes = await call(first, 'POST', '/auth/2fa/enrol', { password: PASSWORD })
    expect(enrolRes.headers.get('cache-control')).toBe('no-store')
    const enrol = await json<{ otpauthUri: string; secret: string }>(enrolRes, 200)
    expect(enrol.otpauthUri).toMatch(/^otpauth:\/\/totp\/orgsync:alice\?/)
    expect(new URL(enrol.otpauthUri).searchParams.get('secret')).toBe(enrol.secret)
    const stored = await k().selectFrom('admins').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    expect(stored.totp_secret).not.toContain(enrol.secret) // sealed
    expect(app.box.open(stored.totp_secret!, `admin-totp:${id}`)).toBe(enrol.secret)
    expect(stored.totp_enabled_at).toBeNull()
    // Pending: sign-in still takes the password alone.
    await signIn({ name: 'alice', password: PASSWORD })

    // 3. Confirmation: a wrong code is refused; the right one gives ten recovery codes once.
    await expectError(
      await call(first, 'POST', '/auth/2fa/confirm', { code: codeNow(enrol.secret, 3) }),
      400,
      'invalid',
      /code is wrong/,
    )
    // Kept: the replay below must send this very code, even if the 30 s step has moved on since.
    const confirmCode = codeNow(enrol.secret)
    const confirmed = await json<{ recoveryCodes: string[]; enabledAt: string }>(
      await call(first, 'POST', '/auth/2fa/confirm', { code: confirmCode }),
      200,
    )
    expect(confirmed.recoveryCodes).toHaveLength(10)
    expect(new Set(confirmed.recoveryCodes).size).toBe(10)
    // This session proved the second factor: it is no longer restricted.
    await json(await call(first, 'GET', '/departments'), 200)
    expect(
      await json<{ twoFactor: Record<string, unknown> }>(await call(first, 'GET', '/auth/me'), 200),
    ).toMatchObject({ twoFactor: { enabled: true, pending: false, recoveryCodesLeft: 10 } })

    // 4. Sign out: the cookie is cleared and the session is gone for good.
    const out = await call(first, 'POST', '/auth/sign-out')
    expect(out.status).toBe(204)
    expect(out.headers.getSetCookie()[0]).toMatch(
      /^orgsync_session=; Path=\/api; Max-Age=0; HttpOnly; SameSite=Strict$/,
    )
    await expectError(await call(first, 'GET', '/auth/me'), 401, 'unauthorized', /signed out: sign in again/)

    // 5. With TOTP on, the password alone fails (same message as a wrong password).
    await expectError(
      await postSignIn({ name: 'alice', password: PASSWORD }),
      401,
      'unauthorized',
      SIGN_IN_FAILED,
    )
    // The code used to confirm is spent: replaying it fails.
    await expectError(
      await postSignIn({ name: 'alice', password: PASSWORD, code: confirmCode }),
      401,
      'unauthorized',
      SIGN_IN_FAILED,
    )
    await forgetLastStep('alice')
    const second = await signIn({ name: 'alice', password: PASSWORD, code: codeNow(enrol.secret) })
    expect(second.body.secondFactor).toBe('totp')
    expect(second.body.restricted).toBeUndefined()
    await json(await call(second, 'GET', '/departments'), 200)

    // 6. A recovery code works once (typed in capitals, without dashes), then never again.
    const recovery = confirmed.recoveryCodes[0]!
    const third = await signIn({
      name: 'alice',
      password: PASSWORD,
      recoveryCode: recovery.toUpperCase().replace(/-/g, ''),
    })
    expect(third.body).toMatchObject({ secondFactor: 'recovery', recoveryCodesLeft: 9 })
    expect(third.body.restricted).toBeUndefined()
    await expectError(
      await postSignIn({ name: 'alice', password: PASSWORD, recoveryCode: recovery }),
      401,
      'unauthorized',
      SIGN_IN_FAILED,
    )

    const actions = (
      await k()
        .selectFrom('audit_events')
        .select('action')
        .where('target_id', '=', id)
        .orderBy('seq')
        .execute()
    ).map((r) => r.action)
    expect(actions).toEqual(
      expect.arrayContaining([
        'auth.sign-in',
        'auth.2fa.enrol',
        'auth.2fa.confirm',
        'auth.sign-out',
        'auth.recovery-code.use',
        'auth.sign-in.failed',
      ]),
    )
    const reasons = (await auditOf('auth.sign-in.failed')).map((e) => (e.after as { reason: string }).reason)
    expect(reasons).toEqual(['bad-code', 'bad-code', 'bad-code'])
  })

  test('CSRF: session requests with unsafe methods need the token; bearer requests do not', async () => {
    await createAdmin('carol', ['support-admin'])
    const session = await signIn({ name: 'carol', password: PASSWORD })
    expect(session.body.restricted).toBeUndefined()
    for (const csrf of [null, '', 'wrong', `${session.csrfToken}x`]) {
      await expectError(
        await call(session, 'POST', '/auth/tokens', { name: 'ci' }, { csrf }),
        403,
        'forbidden',
        /^missing or wrong CSRF token/,
      )
    }
    await expectError(
      await call(session, 'POST', '/auth/sign-out', undefined, { csrf: null }),
      403,
      'forbidden',
    )
    // Another session's token is wrong for this one.
    const other = await signIn({ name: 'carol', password: PASSWORD })
    await expectError(
      await call(session, 'POST', '/auth/tokens', { name: 'ci' }, { csrf: other.csrfToken }),
      403,
      'forbidden',
    )
    // Safe methods need none; the right token passes.
    await json(await call(session, 'GET', '/auth/tokens', undefined, { csrf: null }), 200)
    await json(await call(session, 'POST', '/auth/tokens', { name: 'ci' }), 201)
    // Bearer wins over a cookie, and needs no CSRF token.
    const me = await json<{ via: string; admin: { name: string } }>(
      await raw('/api/v1/auth/me', {
        headers: { authorization: `Bearer ${app.token}`, cookie: session.cookie },
      }),
      200,
    )
    expect(me).toMatchObject({ via: 'token', admin: { name: 'admin' } })
    const viaBearer = await raw('/api/v1/auth/tokens', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${app.token}`,
        cookie: session.cookie,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'from bearer' }),
    })
    await json(viaBearer, 201)
    // A bad bearer token with a good cookie is still a 401: the bearer decides.
    await expectError(
      await raw('/api/v1/auth/me', { headers: { authorization: 'Bearer osa_nope', cookie: session.cookie } }),
      401,
      'unauthorized',
      /bearer token is not valid/,
    )
    // Nothing at all: the message says what to send.
    await expectError(await raw('/api/v1/auth/me'), 401, 'unauthorized', /Bearer <admin token>.*sign-in/)
  })

  test('lockout after maxFailures, audited without secrets; the lock runs out', async () => {
    const id = await createAdmin('dave')
    const { secret, recoveryCodes } = await enrolled('dave')
    for (let i = 0; i < 5; i++) {
      await expectError(
        await postSignIn({ name: 'dave', password: `wrong password ${i}`, code: codeNow(secret) }),
        401,
        'unauthorized',
        SIGN_IN_FAILED,
      )
    }
    const admin = await k().selectFrom('admins').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    expect(admin.locked_until!.getTime()).toBeGreaterThan(Date.now() + 14 * 60_000)
    // Locked: even the right password and code fail, with the very same message.
    await expectError(
      await postSignIn({ name: 'dave', password: PASSWORD, code: codeNow(secret) }),
      401,
      'unauthorized',
      SIGN_IN_FAILED,
    )
    const failed = await auditOf('auth.sign-in.failed')
    expect(failed.map((e) => (e.after as { reason: string }).reason)).toEqual([
      'bad-password',
      'bad-password',
      'bad-password',
      'bad-password',
      'bad-password',
      'locked',
    ])
    expect(failed.every((e) => e.actor_id === id && e.target_id === id && e.ip)).toBe(true)
    expect(await auditOf('auth.lockout')).toHaveLength(1)

    // No password, code, secret or token anywhere in the audit trail.
    const trail = JSON.stringify(await k().selectFrom('audit_events').selectAll().execute())
    for (const secretText of [PASSWORD, 'wrong password', secret, ...recoveryCodes]) {
      expect(trail).not.toContain(secretText)
    }

    // The lock runs out (set in the database rather than waited for): the right credentials work,
    // and the count starts again.
    await k()
      .updateTable('admins')
      .set({ locked_until: sql`now() - interval '1 second'` })
      .where('id', '=', id)
      .execute()
    await signIn({ name: 'dave', password: PASSWORD, code: codeNow(secret) })
    const after = await k().selectFrom('admins').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    expect(after).toMatchObject({ failed_signins: 0, locked_until: null })
    expect(after.last_signin_at).not.toBeNull()
  })

  test('the policy decides maxFailures and lockoutMinutes; a success resets the count', async () => {
    await setPolicy({
      ...DEFAULT_POLICY,
      signIn: { ...DEFAULT_POLICY.signIn, maxFailures: 2, lockoutMinutes: 3 },
    })
    const id = await createAdmin('erin', ['support-admin'])
    await expectError(await postSignIn({ name: 'erin', password: 'nope nope nope' }), 401, 'unauthorized')
    await signIn({ name: 'erin', password: PASSWORD })
    await expectError(await postSignIn({ name: 'erin', password: 'nope nope nope' }), 401, 'unauthorized')
    expect(
      await k().selectFrom('admins').select('locked_until').where('id', '=', id).executeTakeFirstOrThrow(),
    ).toEqual({ locked_until: null })
    await expectError(await postSignIn({ name: 'erin', password: 'nope nope nope' }), 401, 'unauthorized')
    const { locked_until } = await k()
      .selectFrom('admins')
      .select('locked_until')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    expect(locked_until!.getTime() - Date.now()).toBeGreaterThan(2 * 60_000)
    expect(locked_until!.getTime() - Date.now()).toBeLessThanOrEqual(3 * 60_000)
  })

  test('unknown and disabled admins fail like a wrong password and are audited with their reason', async () => {
    const id = await createAdmin('frank')
    await expectError(
      await postSignIn({ name: 'nobody', password: PASSWORD }),
      401,
      'unauthorized',
      SIGN_IN_FAILED,
    )
    const session = await signIn({ name: 'frank', password: PASSWORD })
    await k().updateTable('admins').set({ disabled_at: new Date() }).where('id', '=', id).execute()
    await expectError(
      await postSignIn({ name: 'frank', password: PASSWORD }),
      401,
      'unauthorized',
      SIGN_IN_FAILED,
    )
    // The disabled admin's open session ends too.
    await expectError(
      await call(session, 'GET', '/auth/me'),
      401,
      'unauthorized',
      /admin "frank" is disabled/,
    )
    const failed = await auditOf('auth.sign-in.failed')
    expect(failed.map((e) => [e.actor_type, e.actor_id, e.target_id, e.after])).toEqual([
      ['anonymous', null, null, { reason: 'unknown-admin', name: 'nobody' }],
      ['admin', id, id, { reason: 'disabled', name: 'frank' }],
    ])
    // Address and client are recorded with each attempt (fetch sends its own User-Agent).
    expect(failed.every((e) => e.ip && e.user_agent)).toBe(true)
  })

  test('per address: 20 failures in 15 minutes, then 429 with Retry-After, shared through the database', async () => {
    await createAdmin('grace', ['support-admin'])
    await expectError(await postSignIn({ name: 'nobody', password: 'x' }), 401, 'unauthorized')
    const row = await k().selectFrom('signin_throttle').selectAll().executeTakeFirstOrThrow()
    expect(row).toMatchObject({ key: expect.stringMatching(/^ip:/), failures: 1 })
    // A success gives its count back.
    await signIn({ name: 'grace', password: PASSWORD })
    expect(
      await k()
        .selectFrom('signin_throttle')
        .select('failures')
        .where('key', '=', row.key)
        .executeTakeFirstOrThrow(),
    ).toEqual({ failures: 1 })
    // As if 18 more had failed (on any replica): the 20th failure is still answered...
    await k().updateTable('signin_throttle').set({ failures: 19 }).where('key', '=', row.key).execute()
    await expectError(await postSignIn({ name: 'someone', password: 'x' }), 401, 'unauthorized')
    // ...and from then on nothing is tried, not even the right password.
    const res = await postSignIn({ name: 'grace', password: PASSWORD })
    const error = await expectError(res, 429, 'throttled', /too many failed sign-ins from this address/)
    const retryAfter = Number(res.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThan(14 * 60)
    expect(retryAfter).toBeLessThanOrEqual(15 * 60)
    expect(error.message).toContain(`${retryAfter} seconds`)
    const throttled = (await auditOf('auth.sign-in.failed')).at(-1)!
    expect(throttled.after).toMatchObject({ reason: 'throttled', name: 'grace' })
    // Once the window is over, the address may try again.
    await k()
      .updateTable('signin_throttle')
      .set({ window_start: sql`now() - interval '16 minutes'` })
      .where('key', '=', row.key)
      .execute()
    await signIn({ name: 'grace', password: PASSWORD })
  })

  test('a TOTP code is accepted once, even by two sign-ins racing with it', async () => {
    await createAdmin('heidi')
    const { secret } = await enrolled('heidi')
    const code = codeNow(secret)
    const results = await Promise.all([
      postSignIn({ name: 'heidi', password: PASSWORD, code }),
      postSignIn({ name: 'heidi', password: PASSWORD, code }),
    ])
    expect(results.map((r) => r.status).sort()).toEqual([200, 401])
    await expectError(await postSignIn({ name: 'heidi', password: PASSWORD, code }), 401, 'unauthorized')
    // A code from the step before the last one used is refused as well.
    await expectError(
      await postSignIn({ name: 'heidi', password: PASSWORD, code: codeNow(secret, -1) }),
      401,
      'unauthorized',
    )
    await Promise.all(results.map((r) => r.text()))
  })

  test('sessions end when idle or expired; activity is recorded at most once a minute', async () => {
    await createAdmin('ivan', ['support-admin'])
    const session = await signIn({ name: 'ivan', password: PASSWORD })
    const row = () =>
      k().selectFrom('admin_sessions').selectAll().where('admin_id', 'is not', null).executeTakeFirstOrThrow()
    const setSeen = (ago: string) =>
      k()
        .updateTable('admin_sessions')
        .set({ last_seen_at: sql`now() - ${sql.raw(`interval '${ago}'`)}` })
        .execute()

    await setSeen('30 seconds')
    const before = (await row()).last_seen_at
    await json(await call(session, 'GET', '/auth/me'), 200)
    expect((await row()).last_seen_at).toEqual(before)
    await setSeen('2 minutes')
    await json(await call(session, 'GET', '/auth/me'), 200)
    expect(Date.now() - (await row()).last_seen_at.getTime()).toBeLessThan(30_000)

    // Idle for longer than the policy's idleMinutes (60 by default).
    await setSeen('61 minutes')
    const idle = await call(session, 'GET', '/auth/me')
    expect(idle.headers.getSetCookie()[0]).toMatch(/^orgsync_session=; .*Max-Age=0/)
    await expectError(idle, 401, 'unauthorized', /idle for more than 60 minutes: sign in again/)

    const fresh = await signIn({ name: 'ivan', password: PASSWORD })
    await k()
      .updateTable('admin_sessions')
      .set({ expires_at: sql`now() - interval '1 second'` })
      .where('revoked_at', 'is', null)
      .where('last_seen_at', '>', sql<Date>`now() - interval '1 minute'`)
      .execute()
    await expectError(await call(fresh, 'GET', '/auth/me'), 401, 'unauthorized', /session has expired/)
    await expectError(
      await raw('/api/v1/auth/me', { headers: { cookie: 'orgsync_session=unknownvalue' } }),
      401,
      'unauthorized',
      /session is unknown/,
    )
  })

  test('personal tokens: created from an unrestricted session, used, listed without secrets, revoked, expired', async () => {
    const id = await createAdmin('judy')
    const { secret } = await enrolled('judy')
    const session = await signIn({ name: 'judy', password: PASSWORD, code: codeNow(secret) })

    for (const bad of [{ name: 'x', expiresInDays: 0 }, { name: 'x', expiresInDays: 366 }, { name: '' }]) {
      await expectError(await call(session, 'POST', '/auth/tokens', bad), 400, 'invalid')
    }
    const createdRes = await call(session, 'POST', '/auth/tokens', { name: 'nightly export' })
    expect(createdRes.headers.get('cache-control')).toBe('no-store')
    const created = await json<{ id: string; token: string; expiresAt: string }>(createdRes, 201)
    expect(created.token).toMatch(/^osa_[\w-]{43}$/)
    expect(Math.abs(new Date(created.expiresAt).getTime() - (Date.now() + 90 * 86_400_000))).toBeLessThan(
      60_000,
    )
    const stored = await k()
      .selectFrom('admin_tokens')
      .selectAll()
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow()
    expect(stored).toMatchObject({ admin_id: id, origin: 'api', name: 'nightly export' })

    // The token acts as judy with her grants, without CSRF, and is never restricted.
    const bearer = (path: string, init: RequestInit = {}) =>
      raw(`/api/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${created.token}`, ...init.headers },
      })
    expect(await json(await bearer('/auth/me'), 200)).toMatchObject({
      via: 'token',
      tokenId: created.id,
      admin: { id, name: 'judy' },
    })
    await json(await bearer('/departments'), 200)

    const short = await json<{ id: string; token: string }>(
      await call(session, 'POST', '/auth/tokens', { name: 'short', expiresInDays: 1 }),
      201,
    )
    const list = await json<{ items: Record<string, unknown>[] }>(
      await call(session, 'GET', '/auth/tokens'),
      200,
    )
    expect(list.items.map((t) => t.name)).toEqual(['short', 'nightly export'])
    expect(JSON.stringify(list)).not.toContain(created.token.slice(4))
    expect(list.items[0]).toMatchObject({ origin: 'api', status: 'active' })

    // Expired (set in the database): refused.
    await k()
      .updateTable('admin_tokens')
      .set({ expires_at: sql`now() - interval '1 second'` })
      .where('id', '=', short.id)
      .execute()
    await expectError(
      await raw('/api/v1/auth/me', { headers: { authorization: `Bearer ${short.token}` } }),
      401,
      'unauthorized',
    )

    // Revoke: own tokens only; the bootstrap token is not a personal one.
    const bootstrap = await k()
      .selectFrom('admin_tokens')
      .select('id')
      .where('origin', '=', 'env')
      .executeTakeFirstOrThrow()
    await expectError(await call(session, 'DELETE', `/auth/tokens/${bootstrap.id}`), 404, 'not-found')
    await expectError(await call(session, 'DELETE', '/auth/tokens/not-a-uuid'), 404, 'not-found')
    expect((await call(session, 'DELETE', `/auth/tokens/${created.id}`)).status).toBe(204)
    expect((await call(session, 'DELETE', `/auth/tokens/${created.id}`)).status).toBe(204)
    await expectError(await bearer('/auth/me'), 401, 'unauthorized', /not valid/)
    const statuses = await json<{ items: { id: string; status: string }[] }>(
      await call(session, 'GET', '/auth/tokens'),
      200,
    )
    expect(Object.fromEntries(statuses.items.map((t) => [t.id, t.status]))).toEqual({
      [created.id]: 'revoked',
      [short.id]: 'expired',
    })
    expect((await auditOf('admin.token.create')).filter((e) => e.actor_id === id)).toHaveLength(2)
    expect((await auditOf('admin.token.revoke')).filter((e) => e.actor_id === id)).toHaveLength(1)
    const trail = JSON.stringify(await k().selectFrom('audit_events').selectAll().execute())
    expect(trail).not.toContain(created.token)
    expect(trail).not.toContain(short.token)
  })

  test('the policy names the roles that need 2FA; disabling it is refused while required', async () => {
    // support-admin needs nothing by default…
    await createAdmin('kim', ['support-admin'])
    const { secret } = await enrolled('kim')
    // …until the policy names it.
    await setPolicy({
      ...DEFAULT_POLICY,
      twoFactor: { requiredForGlobalAdmins: true, requiredForRoles: ['support-admin'] },
    })
    const session = await signIn({ name: 'kim', password: PASSWORD, code: codeNow(secret) })
    await expectError(
      await call(session, 'DELETE', '/auth/2fa', { password: PASSWORD, code: codeNow(secret, 1) }),
      403,
      'forbidden',
      /cannot be turned off: the security policy requires it for support-admin/,
    )
    // A session that skipped the second factor (an admin enrolled before the policy changed would
    // still have one) is restricted.
    await k().updateTable('admin_sessions').set({ second_factor: 'none' }).execute()
    await expectError(
      await call(session, 'GET', '/departments'),
      403,
      'forbidden',
      /sign in again with "code"/,
    )

    // Global admins can be let off, and then a global admin without TOTP is not restricted.
    await setPolicy({
      ...DEFAULT_POLICY,
      twoFactor: { requiredForGlobalAdmins: false, requiredForRoles: [] },
    })
    await createAdmin('leo')
    const leo = await signIn({ name: 'leo', password: PASSWORD })
    expect(leo.body.restricted).toBeUndefined()

    // Not required: kim may turn 2FA off (password and a current code), and sign in without it.
    await forgetLastStep('kim')
    const kim = await signIn({ name: 'kim', password: PASSWORD, code: codeNow(secret) })
    await expectError(
      await call(kim, 'DELETE', '/auth/2fa', { password: 'wrong password', code: codeNow(secret, 1) }),
      403,
      'forbidden',
      /password is wrong/,
    )
    expect(
      (await call(kim, 'DELETE', '/auth/2fa', { password: PASSWORD, code: codeNow(secret, 1) })).status,
    ).toBe(204)
    await signIn({ name: 'kim', password: PASSWORD })
    expect((await auditOf('auth.2fa.disable')).length).toBe(1)
    expect((await auditOf('auth.password-check.failed')).length).toBe(1)
  })

  test('recovery codes are regenerated with a current code; the old ones stop working', async () => {
    await createAdmin('mia')
    const { secret, recoveryCodes, session } = await enrolled('mia')
    await expectError(
      await call(session, 'POST', '/auth/2fa/recovery-codes', { code: '000000' }),
      400,
      'invalid',
      /code is wrong/,
    )
    const res = await call(session, 'POST', '/auth/2fa/recovery-codes', { code: codeNow(secret) })
    expect(res.headers.get('cache-control')).toBe('no-store')
    const fresh = await json<{ recoveryCodes: string[] }>(res, 200)
    expect(fresh.recoveryCodes).toHaveLength(10)
    expect(fresh.recoveryCodes).not.toContain(recoveryCodes[0])
    await expectError(
      await postSignIn({ name: 'mia', password: PASSWORD, recoveryCode: recoveryCodes[0] }),
      401,
      'unauthorized',
    )
    await signIn({ name: 'mia', password: PASSWORD, recoveryCode: fresh.recoveryCodes[0] })
    expect(await auditOf('auth.recovery-codes.regenerate')).toHaveLength(1)
    // Enrolling again while enabled is refused with what to do instead.
    await expectError(
      await call(session, 'POST', '/auth/2fa/enrol', { password: PASSWORD }),
      409,
      'conflict',
      /already enabled/,
    )
  })

  test('sign-in validates its body and refuses a form post', async () => {
    await expectError(await postSignIn({ name: 'x' }), 400, 'invalid', /password/)
    await expectError(await postSignIn({ name: 'x', password: 'y', extra: 1 }), 400, 'invalid')
    const form = await raw('/api/v1/auth/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=a&password=b',
    })
    await expectError(form, 400, 'invalid')
    // A token-only admin (no password) cannot sign in with any password.
    await expectError(
      await postSignIn({ name: 'admin', password: PASSWORD }),
      401,
      'unauthorized',
      SIGN_IN_FAILED,
    )
    // Sign-out with a bearer token says what it does instead.
    await expectError(
      await raw('/api/v1/auth/sign-out', {
        method: 'POST',
        headers: { authorization: `Bearer ${app.token}` },
      }),
      400,
      'invalid',
      /bearer token/,
    )
  })
})
