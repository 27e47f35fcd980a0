import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { GLOBAL_ADMIN, authenticateAdminToken } from '../../src/admin/admin-tokens'
import { hashToken } from '../../src/crypto/api-token'
import { ADMIN_TOKEN_PREFIX, bootstrapAdmin } from '../../src/startup/bootstrap-admin'
import { describeEachDatabase } from '../helpers/test-database'

const envToken = () => `env-admin-token-${randomBytes(16).toString('hex')}`

describeEachDatabase('bootstrap admin', (db) => {
  beforeEach(() => db().reset())

  const k = () => db().handle.db
  const tokens = () =>
    k().selectFrom('admin_tokens').selectAll().orderBy('created_at').orderBy('id').execute()
  const audit = () =>
    k()
      .selectFrom('audit_events')
      .select(['action', 'target_type', 'target_id', 'actor_type', 'actor_id', 'after'])
      .orderBy('seq')
      .execute()

  async function expectGlobalAdmin(token: string) {
    const principal = await authenticateAdminToken(k(), token)
    expect(principal).toBeDefined()
    expect(principal!.name).toBe('admin')
    expect(principal!.grants).toContainEqual(
      expect.objectContaining({ role: GLOBAL_ADMIN, scopeDepartmentId: null, scopeSourceId: null }),
    )
    return principal!
  }

  /** The plaintext is nowhere in the database's token or audit tables. */
  async function expectNotStored(token: string) {
    const rows = await tokens()
    // pg hands bytea back as a Buffer, PGlite as a Uint8Array.
    const digests = rows.map((r) => Buffer.from(r.token_hash))
    for (const d of digests) {
      expect(d.length).toBe(32)
      expect(d.includes(Buffer.from(token, 'utf8'))).toBe(false)
      expect(d.toString('utf8')).not.toContain(token)
    }
    expect(digests.filter((d) => d.equals(hashToken(token)))).toHaveLength(1)
    expect(JSON.stringify(rows)).not.toContain(token)
    expect(JSON.stringify(await audit())).not.toContain(token)
    // The bytes stored are the SHA-256 digest, not the token.
    const found = await k()
      .selectFrom('admin_tokens')
      .select('id')
      .where('token_hash', '=', hashToken(token))
      .execute()
    expect(found).toHaveLength(1)
  }

  test('with no admins and no env token, a token is generated for a new global admin', async () => {
    const result = await bootstrapAdmin(db().store, undefined)
    expect(result.outcome).toBe('generated')
    const token = result.generatedToken!
    expect(token).toMatch(new RegExp(`^${ADMIN_TOKEN_PREFIX}_[A-Za-z0-9_-]{43}$`))
    expect(ADMIN_TOKEN_PREFIX).toBe('osa')
    const principal = await expectGlobalAdmin(token)
    await expectNotStored(token)

    const rows = await tokens()
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      admin_id: principal.adminId,
      origin: 'generated',
      revoked_at: null,
      expires_at: null,
    })
    expect(principal.tokenId).toBe(rows[0]!.id)
    expect(await k().selectFrom('admins').select(['id', 'name', 'disabled_at']).execute()).toEqual([
      { id: principal.adminId, name: 'admin', disabled_at: null },
    ])

    const events = await audit()
    expect(events.map((e) => [e.action, e.target_id])).toEqual([
      ['admin.create', principal.adminId],
      ['admin.grant', principal.adminId],
      ['admin.token.create', rows[0]!.id],
    ])
    for (const e of events) expect([e.actor_type, e.actor_id]).toEqual(['system', 'bootstrap'])
    expect(events[2]!.after).toEqual({ adminId: principal.adminId, origin: 'generated' })

    // A token that merely looks similar does not authenticate.
    expect(
      await authenticateAdminToken(k(), `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`),
    ).toBeUndefined()
  })

  test('a second start without an env token finds the admin and generates nothing', async () => {
    const first = await bootstrapAdmin(db().store, undefined)
    const before = await audit()
    const second = await bootstrapAdmin(db().store, undefined)
    expect(second).toEqual({ outcome: 'admins-exist' })
    expect(second.generatedToken).toBeUndefined()
    expect(await tokens()).toHaveLength(1)
    expect(await audit()).toEqual(before)
    await expectGlobalAdmin(first.generatedToken!)
  })

  test('any existing admin, even one without a grant, stops the generation', async () => {
    await k()
      .insertInto('admins')
      .values({ id: '0b4ef1a2-5c4e-4d7a-9a0e-2f3c4d5e6f70', name: 'someone' })
      .execute()
    expect(await bootstrapAdmin(db().store, undefined)).toEqual({ outcome: 'admins-exist' })
    expect(await tokens()).toHaveLength(0)
  })

  test('replicas starting together generate exactly one token', async () => {
    const results = await Promise.all([1, 2, 3].map(() => bootstrapAdmin(db().store, undefined)))
    expect(results.map((r) => r.outcome).sort()).toEqual(['admins-exist', 'admins-exist', 'generated'])
    expect(await tokens()).toHaveLength(1)
    expect(await k().selectFrom('admins').select('id').execute()).toHaveLength(1)
  })

  test('an env token is installed hashed and authenticates; the same one again changes nothing', async () => {
    const token = envToken()
    const installed = await bootstrapAdmin(db().store, token)
    expect(installed).toEqual({ outcome: 'env-token-installed' })
    const principal = await expectGlobalAdmin(token)
    await expectNotStored(token)
    const rows = await tokens()
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({
      origin: 'env',
      name: 'ORGSYNC_ADMIN_TOKEN',
      admin_id: principal.adminId,
      revoked_at: null,
    })
    const events = await audit()
    expect(events.map((e) => e.action)).toEqual(['admin.create', 'admin.grant', 'admin.token.create'])
    expect(events[2]).toMatchObject({
      target_id: rows[0]!.id,
      after: { adminId: principal.adminId, origin: 'env' },
    })

    const again = await bootstrapAdmin(db().store, token)
    expect(again).toEqual({ outcome: 'env-token-present' })
    const after = await tokens()
    expect(after).toHaveLength(1)
    expect(after[0]!.id).toBe(rows[0]!.id)
    expect(await audit()).toEqual(events)
    await expectGlobalAdmin(token)
  })

  test('a changed env token revokes the previous one and installs the new one', async () => {
    const oldToken = envToken()
    const newToken = envToken()
    await bootstrapAdmin(db().store, oldToken)
    const [oldRow] = await tokens()
    const eventsBefore = (await audit()).length

    expect(await bootstrapAdmin(db().store, newToken)).toEqual({ outcome: 'env-token-installed' })
    expect(await authenticateAdminToken(k(), oldToken)).toBeUndefined()
    const principal = await expectGlobalAdmin(newToken)
    await expectNotStored(newToken)

    const rows = await tokens()
    expect(rows).toHaveLength(2)
    const revoked = rows.find((r) => r.id === oldRow!.id)!
    const live = rows.find((r) => r.id !== oldRow!.id)!
    expect(revoked.revoked_at).toBeInstanceOf(Date)
    expect(live).toMatchObject({ origin: 'env', revoked_at: null, admin_id: principal.adminId })
    // The same admin keeps the new token: no second admin, no second grant.
    expect(revoked.admin_id).toBe(principal.adminId)
    expect(await k().selectFrom('admins').select('id').execute()).toHaveLength(1)
    expect(await k().selectFrom('admin_role_grants').select('id').execute()).toHaveLength(1)

    const newEvents = (await audit()).slice(eventsBefore)
    expect(newEvents.map((e) => [e.action, e.target_id])).toEqual([
      ['admin.token.revoke', oldRow!.id],
      ['admin.token.create', live.id],
    ])
    expect(newEvents[0]!.after).toEqual({ reason: 'ORGSYNC_ADMIN_TOKEN changed' })

    // A later start with the new value keeps it.
    expect(await bootstrapAdmin(db().store, newToken)).toEqual({ outcome: 'env-token-present' })
    expect(await authenticateAdminToken(k(), oldToken)).toBeUndefined()
  })

  test('an env token added after a generated one leaves the generated token alone', async () => {
    const generated = (await bootstrapAdmin(db().store, undefined)).generatedToken!
    const token = envToken()
    expect(await bootstrapAdmin(db().store, token)).toEqual({ outcome: 'env-token-installed' })
    const a = await expectGlobalAdmin(generated)
    const b = await expectGlobalAdmin(token)
    expect(a.adminId).toBe(b.adminId)
    const actions = (await audit()).map((e) => e.action)
    expect(actions).toEqual(['admin.create', 'admin.grant', 'admin.token.create', 'admin.token.create'])
  })

  test('the env token restores a disabled bootstrap admin and a lost grant', async () => {
    const token = envToken()
    await bootstrapAdmin(db().store, token)
    const [admin] = await k().selectFrom('admins').select('id').execute()
    await k()
      .updateTable('admins')
      .set({ disabled_at: sql`now()` })
      .where('id', '=', admin!.id)
      .execute()
    await k().deleteFrom('admin_role_grants').execute()
    expect(await authenticateAdminToken(k(), token)).toBeUndefined()

    expect(await bootstrapAdmin(db().store, token)).toEqual({ outcome: 'env-token-present' })
    const principal = await expectGlobalAdmin(token)
    expect(principal.adminId).toBe(admin!.id)
    expect(await tokens()).toHaveLength(1)
    const events = await audit()
    expect(events.map((e) => [e.action, e.target_id]).slice(-2)).toEqual([
      ['admin.enable', admin!.id],
      ['admin.grant', admin!.id],
    ])
    // A start that finds everything in place audits nothing.
    expect(await bootstrapAdmin(db().store, token)).toEqual({ outcome: 'env-token-present' })
    expect(await audit()).toHaveLength(events.length)
  })
})
