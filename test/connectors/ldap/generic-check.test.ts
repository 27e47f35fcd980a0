import { randomBytes } from 'node:crypto'
import { ldapConnector } from '../../../connectors/ldap'
import { describeWithSlapd, genericSourceConfig, type Slapd } from '../../helpers/slapd'
import { admin, plan } from '../../helpers/sync-fixture'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'

/**
 * What `check` and a failed run tell an admin about a generic server, against a real OpenLDAP:
 * credentials (LDAP code 49), a base DN that does not exist, a server size limit, TLS.
 */
describeWithSlapd('ldap generic: check and errors', (server) => {
  describeEachDatabase('ldap generic check', (db) => {
    let app: TestApp
    let ld: Slapd

    beforeAll(async () => {
      ld = server()
      app = await startTestApp(db(), { connectors: { ldap: ldapConnector } })
    })
    afterAll(async () => {
      await app?.close()
    })

    async function source(extra: Record<string, unknown> = {}) {
      const s = await app.services.sources.create(admin, {
        type: 'ldap',
        name: `OpenLDAP ${randomBytes(3).toString('hex')}`,
        config: genericSourceConfig(ld, extra),
      })
      return s.id
    }
    const check = async (extra: Record<string, unknown> = {}) =>
      app.services.plans.check(await source(extra), new AbortController().signal)

    test('a reachable server and a readable base pass, over LDAPS and StartTLS', async () => {
      for (const url of [ld.url, ld.startTlsUrl]) {
        const ok = await check({ url })
        expect(ok).toMatchObject({ ok: true })
        expect(ok.checks.map((c) => c.name)).toEqual(['bind', 'base DN', 'users', 'change tracking'])
        expect(ok.checks.at(-1)!.message).toMatch(/entryUUID.*modifyTimestamp/)
      }
    })

    test('a wrong password or an unknown bind DN (code 49) is named in plain words', async () => {
      const wrong = await check({ bindPassword: 'not-the-password' })
      expect(wrong).toMatchObject({ ok: false })
      expect(wrong.checks).toHaveLength(1)
      expect(wrong.checks[0]!.message).toBe(
        `ldap: bind as ${ld.bindDn} failed: invalid credentials: the password is wrong or there is no account with that DN (LDAP code 49)`,
      )
      const unknown = await check({ bindDn: `cn=nobody,ou=Services,${ld.suffix}` })
      expect(unknown.checks[0]!.message).toMatch(/^ldap: bind as cn=nobody,.* failed: invalid credentials/)

      const id = await source({ bindPassword: 'not-the-password' })
      expect(await plan(app, id)).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('invalid credentials: the password is wrong'),
      })
    })

    test('a base DN that does not exist is named, by check and by a run', async () => {
      const baseDn = `ou=Nowhere,${ld.suffix}`
      const missing = await check({ baseDn })
      expect(missing).toMatchObject({ ok: false })
      expect(missing.checks.find((c) => c.name === 'base DN')).toMatchObject({
        ok: false,
        message: `ldap: the base DN ${baseDn} does not exist (or the bind account cannot see it)`,
      })
      const failed = await plan(app, await source({ baseDn }))
      expect(failed).toMatchObject({
        status: 'failed',
        error: expect.stringContaining(`the base DN ${baseDn} does not exist`),
      })
    })

    test("the server's size limit on the bind account (even for paged searches) is named, with the fix", async () => {
      const limited = { bindDn: ld.limitedBindDn, pageSize: 2 }
      const c = await check(limited)
      expect(c.checks.find((x) => x.name === 'users')).toMatchObject({
        ok: false,
        message: expect.stringMatching(/size limit for the bind account.*limits dn\.exact=/),
      })
      const failed = await plan(app, await source(limited))
      expect(failed).toMatchObject({
        status: 'failed',
        error: expect.stringContaining("the server's size limit for the bind account stopped the search"),
      })
    })

    test('a certificate from an untrusted CA is named', async () => {
      const untrusted = await check({ tlsCa: undefined })
      expect(untrusted.checks[0]!.message).toMatch(/not trusted.*tlsCa/)
    })
  })
})
