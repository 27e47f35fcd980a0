import { ConfidentialClientApplication } from '@azure/msal-node'
import { Agent, fetch } from 'undici'
import { startGraphFake, type GraphFake } from './graph-fake'
import { GraphTestClient } from './graph-test-client'
import { msalNetworkClient } from '../../../connectors/entra/entra-auth'

/** The identity-platform side: client credentials grant, AADSTS errors, token lifetime, msal-node. */

let fake: GraphFake
let client: GraphTestClient
type AadBody = { error: string; error_description: string; error_codes: number[]; correlation_id: string }

beforeAll(async () => {
  fake = await startGraphFake()
  client = new GraphTestClient(fake)
})

afterEach(() => fake.quirks.reset())

afterAll(async () => {
  await client.close()
  await fake.close()
})

test('the client credentials grant returns a bearer token Graph accepts', async () => {
  const before = fake.tokensIssued
  const reply = await client.requestToken()
  expect(reply.status).toBe(200)
  expect(reply.body).toEqual({
    token_type: 'Bearer',
    expires_in: 3600,
    ext_expires_in: 3600,
    access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
  })
  expect(fake.tokensIssued).toBe(before + 1)
  const graph = await client.get(`${fake.graphBaseUrl}/v1.0/users/delta`, {
    token: reply.body.access_token as string,
  })
  expect(graph.status).toBe(200)
})

test.each([
  ['a wrong secret', { client_secret: 'not-the-secret' }, 401, 'invalid_client', 7000215],
  [
    'an unknown client',
    { client_id: '11111111-2222-3333-4444-555555555555' },
    400,
    'unauthorized_client',
    700016,
  ],
  ['an unknown tenant', { tenant: '99999999-0000-0000-0000-000000000000' }, 400, 'invalid_request', 90002],
  ['no secret', { client_secret: '' }, 401, 'invalid_client', 7000218],
  ['a scope without /.default', { scope: 'User.Read.All' }, 400, 'invalid_scope', 1002012],
  ['another grant type', { grant_type: 'password' }, 400, 'unsupported_grant_type', 70003],
])('%s is refused in AAD error shape', async (_what, form, status, error, code) => {
  const before = fake.tokensIssued
  const reply = await client.requestToken(form)
  expect(reply.status).toBe(status)
  const body = reply.body as unknown as AadBody
  expect(body.error).toBe(error)
  expect(body.error_codes).toEqual([code])
  expect(body.error_description).toMatch(
    new RegExp(`^AADSTS${code}: .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: `),
  )
  expect(reply.body).toEqual(
    expect.objectContaining({
      timestamp: expect.any(String),
      trace_id: expect.any(String),
      correlation_id: expect.any(String),
    }),
  )
  expect(fake.tokensIssued).toBe(before)
})

test('a wrong secret names the documented cause', async () => {
  const body = (await client.requestToken({ client_secret: 'x' })).body as unknown as AadBody
  expect(body.error_description).toContain(
    'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID',
  )
})

test('secretExpired: the right secret gets AADSTS7000222', async () => {
  fake.quirks.secretExpired = true
  const reply = await client.requestToken()
  expect(reply.status).toBe(401)
  const body = reply.body as unknown as AadBody
  expect(body.error_codes).toEqual([7000222])
  expect(body.error_description).toContain(
    `The provided client secret keys for app '${fake.clientId}' are expired.`,
  )
})

test('Graph rejects a token past its lifetime with InvalidAuthenticationToken', async () => {
  fake.tokenTtlSeconds = 0
  try {
    const reply = await client.requestToken()
    expect(reply.body.expires_in).toBe(0)
    const graph = await client.get<{ error: { code: string; message: string } }>(
      `${fake.graphBaseUrl}/v1.0/users/delta`,
      { token: reply.body.access_token as string },
    )
    expect(graph.status).toBe(401)
    expect(graph.body.error.code).toBe('InvalidAuthenticationToken')
    expect(graph.body.error.message).toContain('expired')
  } finally {
    fake.tokenTtlSeconds = 3600
  }
})

test('OIDC discovery points every endpoint at the fake', async () => {
  const reply = await client.get<Record<string, string>>(
    `${fake.authorityHost}/${fake.tenantId}/v2.0/.well-known/openid-configuration`,
    { token: null },
  )
  expect(reply.status).toBe(200)
  expect(reply.body.token_endpoint).toBe(`${fake.authorityHost}/${fake.tenantId}/oauth2/v2.0/token`)
  expect(reply.body.issuer).toBe(`${fake.authorityHost}/${fake.tenantId}/v2.0`)
  for (const key of ['authorization_endpoint', 'jwks_uri'])
    expect(reply.body[key]).toMatch(fake.authorityHost)
})

describe('msal-node ConfidentialClientApplication', () => {
  const msalFor = (clientSecret: string) => {
    const dispatcher = new Agent({ connect: { ca: fake.ca } })
    const app = new ConfidentialClientApplication({
      auth: {
        clientId: fake.clientId,
        clientSecret,
        authority: `${fake.authorityHost}/${fake.tenantId}`,
        knownAuthorities: [new URL(fake.authorityHost).host],
      },
      system: {
        networkClient: msalNetworkClient(((url: string, init?: object) =>
          fetch(url, { ...init, dispatcher })) as unknown as typeof globalThis.fetch),
      },
    })
    return { app, dispatcher }
  }
  const scopes = ['https://graph.microsoft.com/.default']

  test('acquires a token from the fake and serves the second call from its cache', async () => {
    const { app, dispatcher } = msalFor(fake.clientSecret)
    try {
      const before = fake.tokensIssued
      const first = await app.acquireTokenByClientCredential({ scopes })
      expect(first?.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
      expect(first?.tokenType).toBe('Bearer')
      const second = await app.acquireTokenByClientCredential({ scopes })
      expect(second?.accessToken).toBe(first?.accessToken)
      expect(fake.tokensIssued).toBe(before + 1)
      // msal found the token endpoint through the fake's OIDC discovery document.
      expect(fake.requests.map((r) => r.path)).toContain(
        `/${fake.tenantId}/v2.0/.well-known/openid-configuration`,
      )
      const graph = await client.get(`${fake.graphBaseUrl}/v1.0/users/delta`, { token: first!.accessToken })
      expect(graph.status).toBe(200)
    } finally {
      await dispatcher.close()
    }
  })

  test('surfaces AADSTS7000215 for a wrong secret', async () => {
    const { app, dispatcher } = msalFor('wrong-secret')
    try {
      await expect(app.acquireTokenByClientCredential({ scopes })).rejects.toMatchObject({
        errorCode: 'invalid_client',
        errorMessage: expect.stringContaining('AADSTS7000215'),
      })
    } finally {
      await dispatcher.close()
    }
  })
})
