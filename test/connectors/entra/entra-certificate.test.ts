import { Agent, fetch as undiciFetch } from 'undici'
import { entraConnectorWith } from '../../../connectors/entra'
import { entraTokenSource } from '../../../connectors/entra/entra-auth'
import { withDefaults } from '../../../connectors/entra/entra-config'
import {
  generateClientCertificate,
  startGraphFake,
  type ClientCertificate,
  type GraphFake,
} from '../../fakes/graph/graph-fake'
import { seedOrg } from '../../fakes/graph/seed-org'
import { generateTlsCert } from '../../fakes/graph/tls-cert'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'
import { admin, personByUserName } from '../../helpers/sync-fixture'

/**
 * Entra certificate credentials end to end: a source configured with `certificate` (key and certificate
 * in one PEM) signs client assertions (msal-node: PS256, x5t#S256) that the fake's token endpoint
 * verifies against the certificates registered on the app.
 */
describeEachDatabase('entra: certificate credentials', (db) => {
  let fake: GraphFake
  let app: TestApp
  let agent: Agent
  let registered: ClientCertificate
  let stranger: ClientCertificate
  const trusting = ((url: string, init?: object) =>
    undiciFetch(url, { ...init, dispatcher: agent })) as unknown as typeof fetch

  beforeAll(async () => {
    ;[app, registered, stranger] = await Promise.all([
      startTestApp(db(), {
        connectors: { entra: entraConnectorWith({ attempts: 3, baseDelayMs: 10, maxDelayMs: 2000 }) },
        fetch: trusting,
      }),
      generateClientCertificate('orgsync'),
      generateClientCertificate('someone else'),
    ])
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(async () => {
    await db().reset()
    fake = await startGraphFake({ pageSize: 100 })
    fake.registerCertificate(registered.certificate)
    agent = new Agent({ connect: { ca: fake.ca } })
  })
  afterEach(async () => {
    await fake.close()
    await agent.close()
  })

  const q = () => db().handle.db
  const config = (certificate: string) => ({
    tenantId: fake.tenantId,
    clientId: fake.clientId,
    certificate,
    authorityHost: fake.authorityHost,
    graphBaseUrl: fake.graphBaseUrl,
  })

  async function entraSource(certificate = registered.pem) {
    const s = await app.services.sources.create(admin, {
      type: 'entra',
      name: `Entra cert ${Math.random().toString(36).slice(2, 8)}`,
      config: config(certificate),
      policy: { deletionThreshold: { count: 1000, share: 1 } },
      mode: 'auto',
    })
    return s.id
  }

  async function run(source: string) {
    const r = await app.services.runs.run(source, { trigger: 'manual', actor: admin })
    if (!r) throw new Error('run not claimed')
    return r
  }

  const tokenRequests = () => fake.requests.filter((r) => r.path.endsWith('/oauth2/v2.0/token'))

  test('a source with a certificate instead of a secret passes check and syncs in full', async () => {
    const org = seedOrg({ users: 250, departments: 10, groups: 3, seed: 5 })
    fake.seed(org)
    const source = await entraSource()
    const checked = await app.services.plans.check(source, new AbortController().signal)
    expect(checked).toMatchObject({ ok: true })
    expect(checked.checks[0]!.message).toBe(`signed in to tenant ${fake.tenantId} as app ${fake.clientId}`)

    const before = fake.tokensIssued
    expect(await run(source)).toMatchObject({ status: 'succeeded', listing: 'full' })
    // One token for the whole run over several Graph pages: msal cached it.
    expect(fake.tokensIssued).toBe(before + 1)
    const enabled = org.users.filter((u) => u.accountEnabled !== false)
    const people = await q().selectFrom('people').select('user_name').execute()
    expect(people).toHaveLength(enabled.length)
    const sample = enabled.find((u) => u.department)!
    expect(await personByUserName(q(), sample.userPrincipalName)).toMatchObject({
      department: { path: sample.department },
    })
    // Every token request (a client assertion, no secret) was granted.
    expect(tokenRequests().length).toBeGreaterThan(0)
    expect(tokenRequests().every((r) => r.status === 200)).toBe(true)
  }, 60_000)

  test('a certificate not registered for the app: check and the run say which credential to fix', async () => {
    fake.seed(seedOrg({ users: 20, departments: 2, groups: 1, seed: 3 }))
    const source = await entraSource(stranger.pem)
    const checked = await app.services.plans.check(source, new AbortController().signal)
    expect(checked.ok).toBe(false)
    expect(checked.checks).toHaveLength(1)
    expect(checked.checks[0]!.message).toBe(
      'entra: the certificate does not match one registered for the app (Certificates & secrets) (AADSTS700027)',
    )
    const failed = await run(source)
    expect(failed).toMatchObject({ status: 'failed', error: expect.stringContaining('(AADSTS700027)') })
    expect(await q().selectFrom('people').select('id').execute()).toEqual([])
    expect(tokenRequests().length).toBeGreaterThan(0)
    expect(tokenRequests().every((r) => r.status === 401)).toBe(true)

    // Uploading it to the app registration is the fix.
    fake.registerCertificate(stranger.certificate)
    expect(await app.services.plans.check(source, new AbortController().signal)).toMatchObject({ ok: true })
    // And removing the one in use breaks sign-in again (certificate rotation done on one side only).
    fake.unregisterCertificate(stranger.certificate)
    const again = await app.services.plans.check(source, new AbortController().signal)
    expect(again.checks[0]!.message).toContain('(AADSTS700027)')
  }, 60_000)

  test('an EC certificate is refused before any request: Entra certificate credentials need RSA', async () => {
    const ec = await generateTlsCert()
    fake.registerCertificate(ec.cert)
    const source = await entraSource(`${ec.key}\n${ec.cert}`)
    const checked = await app.services.plans.check(source, new AbortController().signal)
    expect(checked.ok).toBe(false)
    expect(checked.checks[0]!.message).toBe(
      "entra: the certificate's private key is EC: Entra certificate credentials need an RSA key (2048 bits or more)",
    )
    expect(await run(source)).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('need an RSA key'),
    })
    expect(tokenRequests()).toEqual([])
  }, 30_000)

  test('tokens are cached, and renewed on demand and when near expiry', async () => {
    const tokens = entraTokenSource(withDefaults(config(registered.pem)), trusting)
    const before = fake.tokensIssued
    const first = await tokens.token()
    expect(await tokens.token()).toBe(first)
    expect(fake.tokensIssued).toBe(before + 1)

    // Graph said the token is no good: a fresh one.
    const fresh = await tokens.token(true)
    expect(fresh).not.toBe(first)
    expect(fake.tokensIssued).toBe(before + 2)

    // msal renews a token within five minutes of its expiry: with 60 s tokens every call renews.
    fake.tokenTtlSeconds = 60
    const short = await tokens.token(true)
    const renewed = await tokens.token()
    expect(renewed).not.toBe(short)
    expect(fake.tokensIssued).toBe(before + 4)
    const graph = await trusting(`${fake.graphBaseUrl}/v1.0/users/delta?$select=id`, {
      headers: { authorization: `Bearer ${renewed}` },
    })
    expect(graph.status).toBe(200)
  }, 30_000)

  test('a sync with short-lived tokens renews them along the way and completes', async () => {
    fake.seed(seedOrg({ users: 250, departments: 10, groups: 3, seed: 9 }))
    fake.tokenTtlSeconds = 60
    const source = await entraSource()
    const before = fake.tokensIssued
    expect(await run(source)).toMatchObject({ status: 'succeeded', listing: 'full' })
    expect(fake.tokensIssued - before).toBeGreaterThan(1)
    expect(tokenRequests().every((r) => r.status === 200)).toBe(true)
  }, 60_000)
})
