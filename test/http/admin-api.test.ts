import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { GLOBAL_ADMIN } from '../../src/admin/admin-tokens'
import { hashToken } from '../../src/crypto/api-token'
import type { Actor } from '../../src/org/actor'
import { bootstrapAdmin } from '../../src/startup/bootstrap-admin'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'

const setup: Actor = { type: 'admin', id: null, name: 't' }

interface ErrorJson {
  code: string
  message: string
  requestId: string
  details?: unknown
}

/** Checks the common shape of every error response and returns its `error` object. */
async function expectError(
  res: Response,
  status: number,
  code: string,
  message?: string | RegExp,
): Promise<ErrorJson> {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  const body = (await res.json()) as { error: ErrorJson }
  expect(body.error.code).toBe(code)
  expect(typeof body.error.message).toBe('string')
  expect(body.error.message.length).toBeGreaterThan(0)
  const header = res.headers.get('x-request-id')
  expect(header).toBeTruthy()
  expect(body.error.requestId).toBe(header)
  if (message !== undefined) expect(body.error.message).toMatch(message)
  return body.error
}

/** The shape of an app certificate as Entra wants it: the certificate and its private key in one PEM. */
const PEM =
  '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n'

describeEachDatabase('admin API', (db) => {
  let app: TestApp

  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(async () => {
    await app?.close()
  })
  beforeEach(async () => {
    await db().reset()
    // reset() empties admin_tokens too: put the app's admin token back.
    await bootstrapAdmin(db().store, app.token)
  })

  const raw = (path: string, init: RequestInit = {}) => fetch(`${app.url}${path}`, init)

  async function json<T = Record<string, unknown>>(res: Response, status: number): Promise<T> {
    const text = await res.text()
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`)
    return JSON.parse(text) as T
  }

  /** Inserts an admin with a live token, and the given grants; returns the token. */
  async function adminWithToken(
    name: string,
    grants: { role: string; scopeDepartmentId?: string | null; expiresAt?: Date | null }[],
  ): Promise<{ adminId: string; tokenId: string; token: string }> {
    const k = db().handle.db
    const adminId = randomUUID()
    const tokenId = randomUUID()
    const token = `osa_${randomBytes(32).toString('base64url')}`
    await k.insertInto('admins').values({ id: adminId, name }).execute()
    await k
      .insertInto('admin_tokens')
      .values({ id: tokenId, admin_id: adminId, name: 'test', token_hash: hashToken(token), origin: 'api' })
      .execute()
    for (const g of grants) {
      await k
        .insertInto('admin_role_grants')
        .values({
          id: randomUUID(),
          admin_id: adminId,
          role: g.role,
          scope_department_id: g.scopeDepartmentId ?? null,
          expires_at: g.expiresAt ?? null,
        })
        .execute()
    }
    return { adminId, tokenId, token }
  }

  const getSources = (token: string) =>
    raw('/api/v1/sources', { headers: { authorization: `Bearer ${token}` } })

  describe('authentication', () => {
    test('a missing, malformed or unknown token is a 401 JSON error with WWW-Authenticate', async () => {
      const cases: [Record<string, string>, RegExp][] = [
        [{}, /missing bearer token/],
        [{ authorization: 'Basic YWRtaW46YWRtaW4=' }, /must be "Bearer <admin token>"/],
        [{ authorization: 'Bearer' }, /must be "Bearer <admin token>"/],
        [{ authorization: 'Bearer two words' }, /must be "Bearer <admin token>"/],
        [{ authorization: `Bearer ${app.token}x` }, /not valid/],
        [{ authorization: 'Bearer osa_unknown' }, /not valid/],
      ]
      for (const [headers, message] of cases) {
        const res = await raw('/api/v1/sources', { headers })
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="orgsync"')
        await expectError(res, 401, 'unauthorized', message)
      }
      // The real token, any case of the scheme, works.
      expect(
        (await raw('/api/v1/sources', { headers: { authorization: `bearer ${app.token}` } })).status,
      ).toBe(200)
    })

    test('a revoked token is refused', async () => {
      const { tokenId, token } = await adminWithToken('rita', [{ role: GLOBAL_ADMIN }])
      expect((await getSources(token)).status).toBe(200)
      await db()
        .handle.db.updateTable('admin_tokens')
        .set({ revoked_at: sql`now()` })
        .where('id', '=', tokenId)
        .execute()
      await expectError(await getSources(token), 401, 'unauthorized')
    })

    test('an expired token is refused; one expiring later still works', async () => {
      const { tokenId, token } = await adminWithToken('eve', [{ role: GLOBAL_ADMIN }])
      const k = db().handle.db
      await k
        .updateTable('admin_tokens')
        .set({ expires_at: sql`now() + interval '1 hour'` })
        .where('id', '=', tokenId)
        .execute()
      expect((await getSources(token)).status).toBe(200)
      await k
        .updateTable('admin_tokens')
        .set({ expires_at: sql`now() - interval '1 second'` })
        .where('id', '=', tokenId)
        .execute()
      await expectError(await getSources(token), 401, 'unauthorized')
    })

    test('a disabled admin is refused', async () => {
      const { adminId, token } = await adminWithToken('dora', [{ role: GLOBAL_ADMIN }])
      expect((await getSources(token)).status).toBe(200)
      await db()
        .handle.db.updateTable('admins')
        .set({ disabled_at: sql`now()` })
        .where('id', '=', adminId)
        .execute()
      await expectError(await getSources(token), 401, 'unauthorized')
    })

    test('an admin without a live grant that gives source.read gets 403', async () => {
      const dept = await db().store.write(setup, (w) => w.createDepartment({ name: 'Scoped' }))
      const cases = [
        await adminWithToken('nogrant', []),
        await adminWithToken('viewer', [{ role: 'viewer' }]),
        await adminWithToken('scoped', [{ role: GLOBAL_ADMIN, scopeDepartmentId: dept.id }]),
        await adminWithToken('lapsed', [{ role: GLOBAL_ADMIN, expiresAt: new Date(Date.now() - 60_000) }]),
      ]
      for (const c of cases) {
        const res = await getSources(c.token)
        expect(res.headers.get('www-authenticate')).toBeNull()
        await expectError(res, 403, 'forbidden', /may not source\.read/)
      }
      // The same kind of token works once the grant is there.
      await db()
        .handle.db.insertInto('admin_role_grants')
        .values({ id: randomUUID(), admin_id: cases[0]!.adminId, role: GLOBAL_ADMIN })
        .execute()
      expect((await getSources(cases[0]!.token)).status).toBe(200)
    })
  })

  describe('sources', () => {
    const ldapPassword = 'Ld4p-bind-P@ssw0rd-7781'
    const entraSecret = 'entra~client~secret~93a1f0'
    const ldapConfig = {
      url: 'ldaps://dc1.corp.example',
      bindDn: 'CN=svc-orgsync,OU=Service,DC=corp,DC=example',
      bindPassword: ldapPassword,
      baseDn: 'DC=corp,DC=example',
    }

    async function sourceRow(id: string) {
      return db().handle.db.selectFrom('sources').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    }

    async function createLdap(name = 'Corp AD') {
      return json<{ id: string } & Record<string, unknown>>(
        await app.api('POST', '/api/v1/sources', { type: 'ldap', name, config: ldapConfig }),
        201,
      )
    }

    test('POST creates a source; secret keys are sealed, never returned and never in config', async () => {
      const res = await app.api('POST', '/api/v1/sources', {
        type: 'ldap',
        name: 'Corp AD',
        config: ldapConfig,
        mode: 'auto',
      })
      const text = await res.text()
      expect(res.status).toBe(201)
      expect(text).not.toContain(ldapPassword)
      const created = JSON.parse(text) as Record<string, unknown> & { id: string }
      expect(res.headers.get('location')).toBe(`/api/v1/sources/${created.id}`)
      expect(created).toMatchObject({
        type: 'ldap',
        name: 'Corp AD',
        mode: 'auto',
        enabled: true,
        config: { url: ldapConfig.url, bindDn: ldapConfig.bindDn, baseDn: ldapConfig.baseDn },
        secretsSet: ['bindPassword'],
      })
      expect(created.config).not.toHaveProperty('bindPassword')

      const row = await sourceRow(created.id)
      expect(row.config).toEqual({
        url: ldapConfig.url,
        bindDn: ldapConfig.bindDn,
        baseDn: ldapConfig.baseDn,
      })
      expect(JSON.stringify(row.config)).not.toContain(ldapPassword)
      expect(row.secrets).toEqual(expect.stringMatching(/^v1\./))
      expect(row.secrets).not.toContain(ldapPassword)
      expect(Buffer.from(row.secrets!.split('.')[3]!, 'base64url').toString('latin1')).not.toContain(
        ldapPassword,
      )
      // It is ciphertext of the secret, bound to this source's id.
      expect(JSON.parse(app.box.open(row.secrets!, `source:${created.id}`))).toEqual({
        bindPassword: ldapPassword,
      })
      expect(() => app.box.open(row.secrets!, `source:${randomUUID()}`)).toThrow(/cannot decrypt/)

      const entraRes = await app.api('POST', '/api/v1/sources', {
        type: 'entra',
        name: 'Entra',
        config: { tenantId: 't-1', clientId: 'c-1', clientSecret: entraSecret },
      })
      const entraText = await entraRes.text()
      expect(entraRes.status).toBe(201)
      expect(entraText).not.toContain(entraSecret)
      const entra = JSON.parse(entraText) as { id: string; config: unknown; secretsSet: unknown }
      expect(entra.config).toEqual({ tenantId: 't-1', clientId: 'c-1' })
      expect(entra.secretsSet).toEqual(['clientSecret'])
      const entraRow = await sourceRow(entra.id)
      expect(entraRow.secrets).not.toContain(entraSecret)
      expect(JSON.stringify(entraRow.config)).not.toContain(entraSecret)

      // Google Workspace: the key is sealed; the API's root and token endpoint are configurable (fakes).
      const googleKey = JSON.stringify({
        type: 'service_account',
        client_email: 'orgsync@project.iam.gserviceaccount.com',
        private_key: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n',
      })
      const googleConfig = {
        serviceAccountKey: googleKey,
        subject: 'admin@corp.example',
        rootUrl: 'https://127.0.0.1:8443/',
        tokenUrl: 'https://127.0.0.1:8443/token',
      }
      const googleRes = await app.api('POST', '/api/v1/sources', {
        type: 'google',
        name: 'Workspace',
        config: googleConfig,
      })
      const googleText = await googleRes.text()
      expect(googleRes.status).toBe(201)
      expect(googleText).not.toContain('PRIVATE KEY')
      const google = JSON.parse(googleText) as { id: string }
      expect(google).toMatchObject({
        config: {
          subject: 'admin@corp.example',
          rootUrl: googleConfig.rootUrl,
          tokenUrl: googleConfig.tokenUrl,
        },
        secretsSet: ['serviceAccountKey'],
      })
      const badToken = await app.api('POST', '/api/v1/sources', {
        type: 'google',
        name: 'Workspace 2',
        config: { ...googleConfig, tokenUrl: 'not a url' },
      })
      expect(badToken.status).toBe(400)
      expect(await badToken.text()).toContain('tokenUrl')

      // A source type without secrets stores none.
      const csv = await json<{ id: string; secretsSet: unknown }>(
        await app.api('POST', '/api/v1/sources', {
          type: 'csv',
          name: 'HR export',
          config: { delimiter: ';' },
        }),
        201,
      )
      expect(csv.secretsSet).toEqual([])
      expect((await sourceRow(csv.id)).secrets).toBeNull()

      const audit = await db()
        .handle.db.selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'source.create')
        .execute()
      expect(audit.map((a) => a.target_id).sort()).toEqual([created.id, entra.id, google.id, csv.id].sort())
      const allAudit = JSON.stringify(await db().handle.db.selectFrom('audit_events').selectAll().execute())
      expect(allAudit).not.toContain(ldapPassword)
      expect(allAudit).not.toContain(entraSecret)
      expect(allAudit).not.toContain('PRIVATE KEY')
    })

    test('GET lists sources and returns one, without secrets', async () => {
      const ldap = await createLdap()
      const csv = await json<{ id: string }>(
        await app.api('POST', '/api/v1/sources', { type: 'csv', name: 'HR' }),
        201,
      )
      const listRes = await app.api('GET', '/api/v1/sources')
      const listText = await listRes.text()
      expect(listRes.status).toBe(200)
      expect(listText).not.toContain(ldapPassword)
      const list = JSON.parse(listText) as { items: { id: string; name: string; secretsSet: string[] }[] }
      expect(list.items.map((s) => [s.name, s.secretsSet])).toEqual([
        ['Corp AD', ['bindPassword']],
        ['HR', []],
      ])
      const oneRes = await app.api('GET', `/api/v1/sources/${ldap.id}`)
      const oneText = await oneRes.text()
      expect(oneRes.status).toBe(200)
      expect(oneText).not.toContain(ldapPassword)
      expect(JSON.parse(oneText)).toMatchObject({ id: ldap.id, type: 'ldap', secretsSet: ['bindPassword'] })
      expect(await json(await app.api('GET', `/api/v1/sources/${csv.id}`), 200)).toMatchObject({
        id: csv.id,
        type: 'csv',
      })
      await expectError(await app.api('GET', `/api/v1/sources/${randomUUID()}`), 404, 'not-found')
      await expectError(await app.api('GET', '/api/v1/sources/not-a-uuid'), 404, 'not-found')
    })

    test('POST refuses unknown types, invalid config, unknown keys and duplicate names', async () => {
      const unknownType = await expectError(
        await app.api('POST', '/api/v1/sources', { type: 'okta', name: 'Okta' }),
        400,
        'invalid',
        /unknown source type "okta"/,
      )
      expect(unknownType.message).toContain('csv, entra, fake, google, ldap, scim')

      const badUrl = await expectError(
        await app.api('POST', '/api/v1/sources', {
          type: 'ldap',
          name: 'AD',
          config: { ...ldapConfig, url: 'http://dc1' },
        }),
        400,
        'invalid',
        /url must be an ldaps:\/\/ or ldap:\/\/ URL/,
      )
      expect(badUrl.details).toEqual({ issues: [expect.objectContaining({ path: 'url' })] })
      const missing = await expectError(
        await app.api('POST', '/api/v1/sources', { type: 'ldap', name: 'AD', config: { url: 'ldap://dc1' } }),
        400,
        'invalid',
      )
      expect(missing.message).toContain('bindDn')
      expect(missing.message).toContain('bindPassword')
      await expectError(
        await app.api('POST', '/api/v1/sources', {
          type: 'entra',
          name: 'E',
          config: { tenantId: 't', clientId: 'c' },
        }),
        400,
        'invalid',
        /clientSecret or certificate is required/,
      )
      await expectError(
        await app.api('POST', '/api/v1/sources', { type: 'csv', name: 'HR', config: { colour: 'blue' } }),
        400,
        'invalid',
        /colour/,
      )
      await expectError(
        await app.api('POST', '/api/v1/sources', { type: 'csv', name: 'HR', schedule: 'every minute' }),
        400,
        'invalid',
        /schedule "every minute" is not a cron expression/,
      )
      await expectError(
        await app.api('POST', '/api/v1/sources', { type: 'csv', name: '   ' }),
        400,
        'invalid',
        /name/,
      )
      await expectError(await app.api('POST', '/api/v1/sources', { name: 'HR' }), 400, 'invalid', /type/)
      await expectError(
        await app.api('POST', '/api/v1/sources', { type: 'csv', name: 'HR', mode: 'manual' }),
        400,
        'invalid',
        /mode/,
      )
      // A body of the wrong JSON type, and no body at all.
      await expectError(await app.api('POST', '/api/v1/sources', [1, 2]), 400, 'invalid')
      await expectError(await app.api('POST', '/api/v1/sources'), 400, 'invalid')
      expect(await db().handle.db.selectFrom('sources').select('id').execute()).toEqual([])

      await createLdap('Corp AD')
      await expectError(
        await app.api('POST', '/api/v1/sources', { type: 'csv', name: '  corp ad ' }),
        409,
        'conflict',
        /already exists/,
      )
      expect(await db().handle.db.selectFrom('sources').select('name').execute()).toEqual([
        { name: 'Corp AD' },
      ])
      // Nothing was audited for the refused requests.
      const actions = await db()
        .handle.db.selectFrom('audit_events')
        .select('action')
        .where('target_type', '=', 'source')
        .execute()
      expect(actions).toEqual([{ action: 'source.create' }])
    })

    test('PATCH merges config keys, removes null ones, replaces secrets and renames; audits without secret values', async () => {
      const src = await createLdap()
      const service = app.sources
      const firstCiphertext = (await sourceRow(src.id)).secrets

      const merged = await json<{ config: Record<string, unknown>; secretsSet: string[] }>(
        await app.api('PATCH', `/api/v1/sources/${src.id}`, {
          config: { userFilter: '(objectClass=user)', pageSize: 500 },
        }),
        200,
      )
      expect(merged.config).toEqual({
        url: ldapConfig.url,
        bindDn: ldapConfig.bindDn,
        baseDn: ldapConfig.baseDn,
        userFilter: '(objectClass=user)',
        pageSize: 500,
      })
      expect(merged.secretsSet).toEqual(['bindPassword'])
      // The secret survived a patch that did not mention it.
      expect(await service.connectorConfig(src.id)).toMatchObject({
        bindPassword: ldapPassword,
        pageSize: 500,
      })

      const removed = await json<{ config: Record<string, unknown> }>(
        await app.api('PATCH', `/api/v1/sources/${src.id}`, { config: { pageSize: null } }),
        200,
      )
      expect(removed.config).not.toHaveProperty('pageSize')
      expect(removed.config).toHaveProperty('userFilter', '(objectClass=user)')
      expect((await sourceRow(src.id)).config).not.toHaveProperty('pageSize')

      const newPassword = 'rotated-Ld4p-pw-0042'
      const replacedRes = await app.api('PATCH', `/api/v1/sources/${src.id}`, {
        config: { bindPassword: newPassword },
      })
      const replacedText = await replacedRes.text()
      expect(replacedRes.status).toBe(200)
      expect(replacedText).not.toContain(newPassword)
      expect(JSON.parse(replacedText)).toMatchObject({ secretsSet: ['bindPassword'] })
      const row = await sourceRow(src.id)
      expect(row.secrets).not.toBe(firstCiphertext)
      expect(row.secrets).not.toContain(newPassword)
      expect(JSON.stringify(row.config)).not.toContain(newPassword)
      expect(await service.connectorConfig(src.id)).toMatchObject({ bindPassword: newPassword })

      const renamed = await json<{ name: string; mode: string }>(
        await app.api('PATCH', `/api/v1/sources/${src.id}`, { name: ' Active Directory ', mode: 'auto' }),
        200,
      )
      expect(renamed).toMatchObject({ name: 'Active Directory', mode: 'auto' })
      expect(await json(await app.api('GET', `/api/v1/sources/${src.id}`), 200)).toMatchObject({
        name: 'Active Directory',
      })

      const updates = await db()
        .handle.db.selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'source.update')
        .orderBy('seq')
        .execute()
      expect(updates).toHaveLength(4)
      for (const u of updates) {
        expect(u.target_id).toBe(src.id)
        expect(u.actor_type).toBe('admin')
        expect(u.before).toEqual(expect.objectContaining({ id: src.id, secretsSet: ['bindPassword'] }))
        expect(u.after).toEqual(expect.objectContaining({ id: src.id, secretsSet: ['bindPassword'] }))
      }
      expect(updates[0]!.before).not.toHaveProperty('config.userFilter')
      expect(updates[0]!.after).toHaveProperty('config.userFilter', '(objectClass=user)')
      expect(updates[3]!.before).toHaveProperty('name', 'Corp AD')
      expect(updates[3]!.after).toHaveProperty('name', 'Active Directory')
      const allAudit = JSON.stringify(await db().handle.db.selectFrom('audit_events').selectAll().execute())
      expect(allAudit).not.toContain(ldapPassword)
      expect(allAudit).not.toContain(newPassword)
    })

    test('PATCH refuses what would break the source', async () => {
      const src = await createLdap()
      const entra = await json<{ id: string }>(
        await app.api('POST', '/api/v1/sources', {
          type: 'entra',
          name: 'Entra',
          config: { tenantId: 't', clientId: 'c', clientSecret: entraSecret },
        }),
        201,
      )
      await expectError(
        await app.api('PATCH', `/api/v1/sources/${src.id}`, { config: { bindPassword: null } }),
        400,
        'invalid',
        /bindPassword/,
      )
      await expectError(
        await app.api('PATCH', `/api/v1/sources/${src.id}`, { config: { url: 'ftp://x' } }),
        400,
        'invalid',
        /url/,
      )
      await expectError(
        await app.api('PATCH', `/api/v1/sources/${src.id}`, { type: 'csv' }),
        400,
        'invalid',
        /type/,
      )
      await expectError(
        await app.api('PATCH', `/api/v1/sources/${src.id}`, { name: 'ENTRA' }),
        409,
        'conflict',
      )
      await expectError(
        await app.api('PATCH', `/api/v1/sources/${randomUUID()}`, { name: 'x' }),
        404,
        'not-found',
      )
      // Nothing changed.
      expect(await app.sources.connectorConfig(src.id)).toEqual(ldapConfig)
      expect((await sourceRow(src.id)).name).toBe('Corp AD')

      // Swapping one secret for another: the removed one is gone from the stored secrets.
      const swapped = await json<{ secretsSet: string[] }>(
        await app.api('PATCH', `/api/v1/sources/${entra.id}`, {
          config: { clientSecret: null, certificate: PEM },
        }),
        200,
      )
      expect(swapped.secretsSet).toEqual(['certificate'])
      const cfg = await app.sources.connectorConfig(entra.id)
      expect(cfg).toEqual({ tenantId: 't', clientId: 'c', certificate: PEM })
    })

    test('a PATCH that changes nothing rewrites nothing and audits nothing', async () => {
      const src = await createLdap()
      const before = await sourceRow(src.id)
      const res = await app.api('PATCH', `/api/v1/sources/${src.id}`, {
        name: 'Corp AD',
        mode: 'review',
        config: { bindPassword: ldapPassword, baseDn: ldapConfig.baseDn },
      })
      expect(res.status).toBe(200)
      const after = await sourceRow(src.id)
      // The sealed secret is byte for byte the same: not re-encrypted with a new IV.
      expect(after.secrets).toBe(before.secrets)
      expect(after.updated_at).toEqual(before.updated_at)
      const updates = await db()
        .handle.db.selectFrom('audit_events')
        .select('seq')
        .where('action', '=', 'source.update')
        .where('target_id', '=', src.id)
        .execute()
      expect(updates).toHaveLength(0)
    })

    test('DELETE removes a source (204, then 404) and refuses one that identities still come from', async () => {
      const src = await createLdap()
      const res = await app.api('DELETE', `/api/v1/sources/${src.id}`)
      expect(res.status).toBe(204)
      expect(await res.text()).toBe('')
      await expectError(await app.api('GET', `/api/v1/sources/${src.id}`), 404, 'not-found')
      await expectError(await app.api('DELETE', `/api/v1/sources/${src.id}`), 404, 'not-found')
      const deleted = await db()
        .handle.db.selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'source.delete')
        .execute()
      expect(deleted.map((d) => d.target_id)).toEqual([src.id])
      expect(JSON.stringify(deleted)).not.toContain(ldapPassword)

      const used = await createLdap('Used AD')
      await db()
        .handle.db.insertInto('identities')
        .values({
          source_id: used.id,
          external_id: 'guid-1',
          user_name: 'ann',
          attributes: JSON.stringify({}),
        })
        .execute()
      const err = await expectError(
        await app.api('DELETE', `/api/v1/sources/${used.id}`),
        409,
        'conflict',
        /1 identities/,
      )
      expect(err.details).toEqual({ identities: 1, departments: 0, groups: 0 })
      expect(await json(await app.api('GET', `/api/v1/sources/${used.id}`), 200)).toMatchObject({
        id: used.id,
      })
    })
  })

  describe('departments', () => {
    type Dept = {
      id: string
      name: string
      path: string
      parentId: string | null
      virtual: boolean
      depth: number
    }
    const create = async (name: string, parentId?: string) =>
      json<Dept>(await app.api('POST', '/api/v1/departments', parentId ? { name, parentId } : { name }), 201)

    test('POST creates virtual departments under the root or a parent', async () => {
      const res = await app.api('POST', '/api/v1/departments', { name: 'Engineering' })
      const eng = await json<Dept>(res, 201)
      expect(res.headers.get('location')).toBe(`/api/v1/departments/${eng.id}`)
      expect(eng).toMatchObject({
        name: 'Engineering',
        path: 'Engineering',
        parentId: null,
        virtual: true,
        depth: 0,
      })
      const platform = await create('Platform', eng.id)
      expect(platform).toMatchObject({
        path: 'Engineering/Platform',
        parentId: eng.id,
        virtual: true,
        depth: 1,
      })
      expect(await json(await app.api('GET', `/api/v1/departments/${platform.id}`), 200)).toMatchObject({
        id: platform.id,
        path: 'Engineering/Platform',
      })
      const stored = await db()
        .handle.db.selectFrom('departments')
        .select(['id', 'virtual', 'source_id'])
        .orderBy('path')
        .execute()
      expect(stored).toEqual([
        { id: eng.id, virtual: true, source_id: null },
        { id: platform.id, virtual: true, source_id: null },
      ])
      const audit = await db()
        .handle.db.selectFrom('audit_events')
        .selectAll()
        .where('action', '=', 'department.create')
        .execute()
      expect(audit.map((a) => [a.target_id, a.actor_type, a.actor_name])).toEqual([
        [eng.id, 'admin', 'admin'],
        [platform.id, 'admin', 'admin'],
      ])
    })

    test('POST refuses an unknown parent, a duplicate sibling and bad bodies', async () => {
      const eng = await create('Engineering')
      await expectError(
        await app.api('POST', '/api/v1/departments', { name: 'X', parentId: randomUUID() }),
        400,
        'invalid',
        /parent department .* does not exist/,
      )
      await expectError(
        await app.api('POST', '/api/v1/departments', { name: 'X', parentId: 'nope' }),
        400,
        'invalid',
        /parentId/,
      )
      await expectError(
        await app.api('POST', '/api/v1/departments', { name: 'ENGINEERING' }),
        409,
        'conflict',
        /already exists/,
      )
      await create('Platform', eng.id)
      await expectError(
        await app.api('POST', '/api/v1/departments', { name: 'platform', parentId: eng.id }),
        409,
        'conflict',
        /already exists under "Engineering"/,
      )
      await expectError(await app.api('POST', '/api/v1/departments', { name: '' }), 400, 'invalid', /name/)
      await expectError(
        await app.api('POST', '/api/v1/departments', { name: 'Y', virtual: false }),
        400,
        'invalid',
        /virtual/,
      )
      await expectError(await app.api('GET', `/api/v1/departments/${randomUUID()}`), 404, 'not-found')
      await expectError(await app.api('GET', '/api/v1/departments/123'), 404, 'not-found')
      expect(await db().handle.db.selectFrom('departments').select('path').orderBy('path').execute()).toEqual(
        [{ path: 'Engineering' }, { path: 'Engineering/Platform' }],
      )
    })

    test('GET lists departments in path order, a page at a time', async () => {
      const a = await create('A')
      await create('A1', a.id)
      await create('B')
      await create('C')
      const d = await create('D')
      await db().store.write(setup, (w) => w.createPerson({ userName: 'dee', departmentId: d.id }))
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const qs: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2'
        const page: { items: { path: string; memberCount: number }[]; nextCursor: string | null } =
          await json(await app.api('GET', `/api/v1/departments${qs}`), 200)
        expect(page.items.length).toBeLessThanOrEqual(2)
        seen.push(...page.items.map((i) => `${i.path}:${i.memberCount}`))
        cursor = page.nextCursor
        pages++
      } while (cursor && pages < 10)
      expect(seen).toEqual(['A:0', 'A/A1:0', 'B:0', 'C:0', 'D:1'])
      expect(pages).toBe(3)
      const all = await json<{ items: unknown[]; nextCursor: unknown }>(
        await app.api('GET', '/api/v1/departments'),
        200,
      )
      expect(all.items).toHaveLength(5)
      expect(all.nextCursor).toBeNull()
      await expectError(await app.api('GET', '/api/v1/departments?limit=0'), 400, 'invalid', /limit/)
      await expectError(await app.api('GET', '/api/v1/departments?limit=5001'), 400, 'invalid', /limit/)
      await expectError(await app.api('GET', '/api/v1/departments?depth=1'), 400, 'invalid', /depth/)
      await expectError(await app.api('GET', '/api/v1/departments?cursor=%21%21'), 400, 'invalid', /cursor/)
    })

    test('PATCH moves and renames, carrying the subtree', async () => {
      const eng = await create('Engineering')
      const sales = await create('Sales')
      const platform = await create('Platform', eng.id)
      const infra = await create('Infra', platform.id)

      const moved = await json<Dept>(
        await app.api('PATCH', `/api/v1/departments/${platform.id}`, { parentId: sales.id }),
        200,
      )
      expect(moved).toMatchObject({ parentId: sales.id, path: 'Sales/Platform', depth: 1 })
      expect(await json(await app.api('GET', `/api/v1/departments/${infra.id}`), 200)).toMatchObject({
        path: 'Sales/Platform/Infra',
        depth: 2,
      })
      const renamed = await json<Dept>(
        await app.api('PATCH', `/api/v1/departments/${sales.id}`, { name: 'Revenue' }),
        200,
      )
      expect(renamed).toMatchObject({ name: 'Revenue', path: 'Revenue' })
      expect(await json(await app.api('GET', `/api/v1/departments/${infra.id}`), 200)).toMatchObject({
        path: 'Revenue/Platform/Infra',
      })
      const both = await json<Dept>(
        await app.api('PATCH', `/api/v1/departments/${platform.id}`, { parentId: null, name: 'Core' }),
        200,
      )
      expect(both).toMatchObject({ parentId: null, name: 'Core', path: 'Core', depth: 0 })
      expect(await json(await app.api('GET', `/api/v1/departments/${infra.id}`), 200)).toMatchObject({
        path: 'Core/Infra',
        depth: 1,
      })

      await expectError(
        await app.api('PATCH', `/api/v1/departments/${platform.id}`, { parentId: infra.id }),
        400,
        'invalid',
        /own subtree/,
      )
      await expectError(
        await app.api('PATCH', `/api/v1/departments/${platform.id}`, { name: 'engineering' }),
        409,
        'conflict',
      )
      await expectError(
        await app.api('PATCH', `/api/v1/departments/${randomUUID()}`, { name: 'Z' }),
        404,
        'not-found',
      )
      await expectError(
        await app.api('PATCH', `/api/v1/departments/${eng.id}`, { path: 'Z' }),
        400,
        'invalid',
        /path/,
      )
      const actions = await db()
        .handle.db.selectFrom('audit_events')
        .select('action')
        .where('action', 'in', ['department.move', 'department.rename'])
        .orderBy('seq')
        .execute()
      expect(actions.map((a) => a.action)).toEqual([
        'department.move',
        'department.rename',
        'department.move',
        'department.rename',
      ])
    })

    test('DELETE refuses a department with sub-departments or people, and deletes an empty one', async () => {
      const eng = await create('Engineering')
      const platform = await create('Platform', eng.id)
      await expectError(
        await app.api('DELETE', `/api/v1/departments/${eng.id}`),
        409,
        'conflict',
        /not empty/,
      )
      const person = await db().store.write(setup, (w) =>
        w.createPerson({ userName: 'pat', departmentId: platform.id }),
      )
      await expectError(
        await app.api('DELETE', `/api/v1/departments/${platform.id}`),
        409,
        'conflict',
        /1 people/,
      )
      await db().store.write(setup, (w) => w.updatePerson(person.id, { departmentId: null }))
      expect((await app.api('DELETE', `/api/v1/departments/${platform.id}`)).status).toBe(204)
      expect((await app.api('DELETE', `/api/v1/departments/${eng.id}`)).status).toBe(204)
      await expectError(await app.api('GET', `/api/v1/departments/${eng.id}`), 404, 'not-found')
      await expectError(await app.api('DELETE', `/api/v1/departments/${eng.id}`), 404, 'not-found')
      expect(await db().handle.db.selectFrom('departments').select('id').execute()).toEqual([])
    })
  })

  describe('people', () => {
    interface Fixture {
      eng: string
      platform: string
      sales: string
      alice: string
      bob: string
      carol: string
      dave: string
      sourceId: string
    }

    async function seed(): Promise<Fixture> {
      const source = await json<{ id: string }>(
        await app.api('POST', '/api/v1/sources', { type: 'csv', name: 'HR feed', precedence: 5 }),
        201,
      )
      return db().store.write(setup, async (w) => {
        const eng = await w.createDepartment({ name: 'Engineering' })
        const platform = await w.createDepartment({ name: 'Platform', parentId: eng.id })
        const sales = await w.createDepartment({ name: 'Sales' })
        const alice = await w.createPerson({
          userName: 'alice',
          displayName: 'Alice Archer',
          email: 'alice@corp.example',
          departmentId: eng.id,
        })
        const bob = await w.createPerson({
          userName: 'Bob',
          displayName: 'Bob Builder',
          email: 'bob@corp.example',
          title: 'Engineer',
          departmentId: platform.id,
          managerId: alice.id,
        })
        const carol = await w.createPerson({
          userName: 'carol',
          email: 'c.king@corp.example',
          departmentId: sales.id,
        })
        const dave = await w.createPerson({ userName: 'dave', employeeNumber: 'E-0042' })
        await w.suspendPerson(carol.id, { reason: 'left the company' })
        await w.saveIdentity({
          sourceId: source.id,
          externalId: 'hr-17',
          userName: 'bob',
          attributes: {},
          personId: bob.id,
        })
        return {
          eng: eng.id,
          platform: platform.id,
          sales: sales.id,
          alice: alice.id,
          bob: bob.id,
          carol: carol.id,
          dave: dave.id,
          sourceId: source.id,
        }
      })
    }

    type Listing = {
      items: { id: string; userName: string; status: string; department: unknown }[]
      nextCursor: string | null
    }
    const names = async (qs: string) =>
      (await json<Listing>(await app.api('GET', `/api/v1/people${qs}`), 200)).items.map((p) => p.userName)

    test('GET lists people filtered by department subtree, status and text', async () => {
      const f = await seed()
      const all = await json<Listing>(await app.api('GET', '/api/v1/people'), 200)
      expect(all.items.map((p) => p.userName)).toEqual(['alice', 'Bob', 'carol', 'dave'])
      expect(all.nextCursor).toBeNull()
      expect(all.items[1]).toMatchObject({
        id: f.bob,
        department: { id: f.platform, path: 'Engineering/Platform' },
      })
      expect(all.items[3]).toMatchObject({ department: null })

      expect(await names(`?departmentId=${f.eng}`)).toEqual(['alice', 'Bob'])
      expect(await names(`?departmentId=${f.platform}`)).toEqual(['Bob'])
      expect(await names(`?departmentId=${f.sales}`)).toEqual(['carol'])
      expect(await names('?status=suspended')).toEqual(['carol'])
      expect(await names('?status=active')).toEqual(['alice', 'Bob', 'dave'])
      expect(await names('?status=deprovisioned')).toEqual([])
      expect(await names(`?departmentId=${f.eng}&status=suspended`)).toEqual([])
      expect(await names('?q=ARCHER')).toEqual(['alice'])
      expect(await names('?q=king%40corp')).toEqual(['carol'])
      expect(await names('?q=e-0042')).toEqual(['dave'])
      expect(await names('?q=corp.example')).toEqual(['alice', 'Bob', 'carol'])
      // LIKE wildcards in q are literal.
      expect(await names('?q=%25')).toEqual([])
      expect(await names('?q=_')).toEqual([])
      await expectError(await app.api('GET', `/api/v1/people?departmentId=${randomUUID()}`), 404, 'not-found')
    })

    test('GET pages with limit and nextCursor', async () => {
      await seed()
      const seen: string[][] = []
      let cursor: string | null = null
      do {
        const qs: string = cursor ? `?limit=3&cursor=${encodeURIComponent(cursor)}` : '?limit=3'
        const page: Listing = await json(await app.api('GET', `/api/v1/people${qs}`), 200)
        seen.push(page.items.map((p) => p.userName))
        cursor = page.nextCursor
      } while (cursor && seen.length < 10)
      expect(seen).toEqual([['alice', 'Bob', 'carol'], ['dave']])

      const two: Listing = await json(await app.api('GET', '/api/v1/people?limit=2&status=active'), 200)
      expect(two.items.map((p) => p.userName)).toEqual(['alice', 'Bob'])
      expect(two.nextCursor).toEqual(expect.any(String))
      const rest: Listing = await json(
        await app.api(
          'GET',
          `/api/v1/people?limit=2&status=active&cursor=${encodeURIComponent(two.nextCursor!)}`,
        ),
        200,
      )
      expect(rest.items.map((p) => p.userName)).toEqual(['dave'])
      expect(rest.nextCursor).toBeNull()
    })

    test('invalid query values are 400s naming the parameter', async () => {
      const cases: [string, RegExp][] = [
        ['limit=0', /limit/],
        ['limit=abc', /limit/],
        ['limit=1.5', /limit/],
        ['limit=1001', /limit/],
        ['status=bogus', /status/],
        ['departmentId=engineering', /departmentId/],
        ['colour=red', /colour/],
        ['cursor=not-a-cursor', /cursor/],
        [`cursor=${Buffer.from(JSON.stringify(['a', 'not-a-uuid'])).toString('base64url')}`, /cursor/],
      ]
      for (const [qs, message] of cases) {
        await expectError(await app.api('GET', `/api/v1/people?${qs}`), 400, 'invalid', message)
      }
    })

    test('GET /people/{id} returns the person with department path, manager and identities', async () => {
      const f = await seed()
      const bob = await json<Record<string, unknown>>(await app.api('GET', `/api/v1/people/${f.bob}`), 200)
      expect(bob).toMatchObject({
        id: f.bob,
        userName: 'Bob',
        displayName: 'Bob Builder',
        title: 'Engineer',
        status: 'active',
        departmentId: f.platform,
        department: { id: f.platform, name: 'Platform', path: 'Engineering/Platform' },
        managerId: f.alice,
        manager: { id: f.alice, userName: 'alice', displayName: 'Alice Archer' },
        identities: [
          {
            source: { id: f.sourceId, name: 'HR feed', type: 'csv' },
            externalId: 'hr-17',
            userName: 'bob',
            active: true,
            removedAt: null,
          },
        ],
      })
      const carol = await json<Record<string, unknown>>(
        await app.api('GET', `/api/v1/people/${f.carol}`),
        200,
      )
      expect(carol).toMatchObject({
        status: 'suspended',
        suspendedReason: 'left the company',
        manager: null,
        identities: [],
        department: { path: 'Sales' },
      })
      const dave = await json<Record<string, unknown>>(await app.api('GET', `/api/v1/people/${f.dave}`), 200)
      expect(dave).toMatchObject({ department: null, manager: null, employeeNumber: 'E-0042' })

      await expectError(
        await app.api('GET', `/api/v1/people/${randomUUID()}`),
        404,
        'not-found',
        /does not exist/,
      )
      await expectError(await app.api('GET', '/api/v1/people/12345'), 404, 'not-found')
    })
  })

  describe('request ids and error bodies', () => {
    test('a caller-provided X-Request-Id is echoed, in errors and in the audit trail', async () => {
      const ok = await app.api('GET', '/api/v1/sources', undefined, { 'x-request-id': 'trace-abc.123' })
      expect(ok.status).toBe(200)
      expect(ok.headers.get('x-request-id')).toBe('trace-abc.123')

      const err = await expectError(
        await app.api('GET', `/api/v1/people/${randomUUID()}`, undefined, { 'x-request-id': 'trace-404' }),
        404,
        'not-found',
      )
      expect(err.requestId).toBe('trace-404')
      const unauth = await raw('/api/v1/sources', { headers: { 'x-request-id': 'trace-401' } })
      expect((await expectError(unauth, 401, 'unauthorized')).requestId).toBe('trace-401')

      await json(
        await app.api('POST', '/api/v1/departments', { name: 'Traced' }, { 'x-request-id': 'trace-write-1' }),
        201,
      )
      const audit = await db()
        .handle.db.selectFrom('audit_events')
        .select(['request_id', 'ip'])
        .where('action', '=', 'department.create')
        .executeTakeFirstOrThrow()
      expect(audit.request_id).toBe('trace-write-1')
      expect(audit.ip).toEqual(expect.stringContaining('127.0.0.1'))
    })

    test('an unusable X-Request-Id is replaced by a generated one; requests without one get distinct ids', async () => {
      const bad = await app.api('GET', `/api/v1/people/${randomUUID()}`, undefined, {
        'x-request-id': 'has spaces and ; semicolons',
      })
      const err = await expectError(bad, 404, 'not-found')
      expect(err.requestId).toMatch(/^[0-9a-f-]{36}$/)
      const a = await app.api('GET', '/api/v1/sources')
      const b = await app.api('GET', '/api/v1/sources')
      expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'))
    })

    test('an invalid JSON body is a 400 with code "invalid"', async () => {
      await expectError(
        await app.api('POST', '/api/v1/sources', '{"type": "csv", "name": '),
        400,
        'invalid',
        /not valid JSON/,
      )
      await expectError(
        await app.api('PATCH', `/api/v1/departments/${randomUUID()}`, 'nope'),
        400,
        'invalid',
        /not valid JSON/,
      )
      expect(await db().handle.db.selectFrom('sources').select('id').execute()).toEqual([])
    })

    test('an unknown route is a 404 JSON error, inside and outside the API', async () => {
      await expectError(await raw('/nothing/here'), 404, 'not-found', /no route for GET \/nothing\/here/)
      await expectError(await app.api('GET', '/api/v1/widgets'), 404, 'not-found', /\/api\/v1\/widgets/)
      await expectError(await app.api('PUT', '/api/v1/sources'), 404, 'not-found', /PUT/)
      // The API asks for a token before it says what exists.
      await expectError(await raw('/api/v1/widgets'), 401, 'unauthorized')
    })
  })
})
