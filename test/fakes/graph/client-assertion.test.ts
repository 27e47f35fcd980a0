import { constants, createHash, randomUUID, sign, X509Certificate } from 'node:crypto'
import { ConfidentialClientApplication } from '@azure/msal-node'
import { Agent, fetch } from 'undici'
import { msalNetworkClient } from '../../../connectors/entra/entra-auth'
import { generateClientCertificate, type ClientCertificate } from './client-assertion'
import { startGraphFake, type GraphFake } from './graph-fake'

/** Certificate credentials at the token endpoint: client assertions as msal-node sends them, and refused. */

let fake: GraphFake
let dispatcher: Agent
let registered: ClientCertificate
let stranger: ClientCertificate
type AadBody = { error: string; error_description: string; error_codes: number[]; error_uri: string }

beforeAll(async () => {
  ;[fake, registered, stranger] = await Promise.all([
    startGraphFake(),
    generateClientCertificate(),
    generateClientCertificate('not registered'),
  ])
  fake.registerCertificate(registered.certificate)
  dispatcher = new Agent({ connect: { ca: fake.ca } })
}, 60_000)

afterAll(async () => {
  await dispatcher.close()
  await fake.close()
})

const tokenEndpoint = () => `${fake.authorityHost}/${fake.tenantId}/oauth2/v2.0/token`
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const thumb = (pem: string, alg: 'sha1' | 'sha256') =>
  createHash(alg).update(new X509Certificate(pem).raw).digest('base64url')

function assertion(
  key: string,
  opts: { alg?: 'RS256' | 'PS256'; header?: object; claims?: object } = {},
): string {
  const alg = opts.alg ?? 'RS256'
  const now = Math.floor(Date.now() / 1000)
  const header = { alg, typ: 'JWT', x5t: thumb(registered.certificate, 'sha1'), ...opts.header }
  const claims = {
    aud: tokenEndpoint(),
    iss: fake.clientId,
    sub: fake.clientId,
    jti: randomUUID(),
    nbf: now,
    exp: now + 600,
    ...opts.claims,
  }
  const unsigned = `${b64(header)}.${b64(claims)}`
  const padding =
    alg === 'PS256'
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : {}
  return `${unsigned}.${sign('sha256', Buffer.from(unsigned), { key, ...padding }).toString('base64url')}`
}

async function requestToken(clientAssertion: string, extra: Record<string, string> = {}) {
  const res = await fetch(tokenEndpoint(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: fake.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
      scope: 'https://graph.microsoft.com/.default',
      ...extra,
    }).toString(),
    dispatcher,
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

test('an RS256 assertion with x5t and a PS256 one with x5t#S256, signed by the registered key, get tokens', async () => {
  const rs = await requestToken(assertion(registered.privateKey))
  expect(rs).toMatchObject({ status: 200, body: { token_type: 'Bearer', access_token: expect.any(String) } })
  const ps = await requestToken(
    assertion(registered.privateKey, {
      alg: 'PS256',
      header: { x5t: undefined, 'x5t#S256': thumb(registered.certificate, 'sha256') },
    }),
  )
  expect(ps).toMatchObject({ status: 200, body: { token_type: 'Bearer' } })
})

const refusals: [string, () => string, number, string, number, RegExp][] = [
  [
    'a certificate not registered on the app',
    () => assertion(stranger.privateKey, { header: { x5t: thumb(stranger.certificate, 'sha1') } }),
    401,
    'invalid_client',
    700027,
    /^AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application\. \[Reason - The key was not found\., Thumbprint of key used by client: '[0-9A-F]{40}'/,
  ],
  [
    "the registered certificate's thumbprint but another key's signature",
    () => assertion(stranger.privateKey),
    401,
    'invalid_client',
    700027,
    /^AADSTS700027: Client assertion failed signature validation\./,
  ],
  [
    'an expired assertion',
    () => assertion(registered.privateKey, { claims: { nbf: 1_600_000_000, exp: 1_600_000_600 } }),
    401,
    'invalid_client',
    700024,
    /^AADSTS700024: Client assertion is not within its valid time range\. Current time: \S+Z, assertion valid from 2020-09-13T12:26:40Z, expiry time of assertion 2020-09-13T12:36:40Z/,
  ],
  [
    'an assertion not valid for another hour',
    () =>
      assertion(registered.privateKey, {
        claims: { nbf: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 4200 },
      }),
    401,
    'invalid_client',
    700024,
    /^AADSTS700024: /,
  ],
  ['not a JWT', () => 'not-a-jwt', 400, 'invalid_request', 50027, /^AADSTS50027: JWT token is invalid/],
  [
    'another audience',
    () =>
      assertion(registered.privateKey, {
        claims: { aud: 'https://login.microsoftonline.com/x/oauth2/token' },
      }),
    400,
    'invalid_request',
    50027,
    /^AADSTS50027: .*audience/,
  ],
  [
    'iss/sub of another app',
    () => assertion(registered.privateKey, { claims: { iss: randomUUID(), sub: randomUUID() } }),
    401,
    'invalid_client',
    700021,
    /^AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter/,
  ],
]

test.each(refusals)('%s is refused', async (_what, make, status, error, code, description) => {
  const before = fake.tokensIssued
  const reply = await requestToken(make())
  expect(reply.status).toBe(status)
  const body = reply.body as unknown as AadBody
  expect(body).toMatchObject({ error, error_codes: [code] })
  expect(body.error_description).toMatch(description)
  expect(body.error_description).toMatch(/\r\nTrace ID: [\w-]+\r\nCorrelation ID: [\w-]+\r\nTimestamp: /)
  expect(fake.tokensIssued).toBe(before)
})

test('an unknown client_assertion_type is refused', async () => {
  const reply = await requestToken(assertion(registered.privateKey), { client_assertion_type: 'saml' })
  expect(reply).toMatchObject({ status: 400, body: { error_codes: [50027] } })
})

test('an unregistered certificate stops working at once', async () => {
  const extra = await generateClientCertificate('rotated out')
  fake.registerCertificate(`${extra.privateKey}\n${extra.certificate}`)
  const signed = () => assertion(extra.privateKey, { header: { x5t: thumb(extra.certificate, 'sha1') } })
  expect((await requestToken(signed())).status).toBe(200)
  fake.unregisterCertificate(extra.certificate)
  expect(await requestToken(signed())).toMatchObject({ status: 401, body: { error_codes: [700027] } })
}, 30_000)

describe('msal-node ConfidentialClientApplication with clientCertificate', () => {
  const msalWith = (clientCertificate: {
    thumbprint?: string
    thumbprintSha256?: string
    privateKey: string
    x5c?: string
  }) =>
    new ConfidentialClientApplication({
      auth: {
        clientId: fake.clientId,
        clientCertificate,
        authority: `${fake.authorityHost}/${fake.tenantId}`,
        knownAuthorities: [new URL(fake.authorityHost).host],
      },
      system: {
        networkClient: msalNetworkClient(((url: string, init?: object) =>
          fetch(url, { ...init, dispatcher })) as unknown as typeof globalThis.fetch),
      },
    })
  const scopes = ['https://graph.microsoft.com/.default']
  const hex = (alg: 'sha1' | 'sha256') =>
    createHash(alg).update(new X509Certificate(registered.certificate).raw).digest('hex')

  test('SHA-256 thumbprint (PS256, x5t#S256): a token, then the cached one', async () => {
    const app = msalWith({
      thumbprintSha256: hex('sha256'),
      privateKey: registered.privateKey,
      x5c: registered.certificate,
    })
    const before = fake.tokensIssued
    const first = await app.acquireTokenByClientCredential({ scopes })
    expect(first?.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    const second = await app.acquireTokenByClientCredential({ scopes })
    expect(second?.accessToken).toBe(first?.accessToken)
    expect(fake.tokensIssued).toBe(before + 1)
  })

  test('SHA-1 thumbprint (RS256, x5t)', async () => {
    const app = msalWith({ thumbprint: hex('sha1'), privateKey: registered.privateKey })
    expect((await app.acquireTokenByClientCredential({ scopes }))?.accessToken).toBeTruthy()
  })

  test('the wrong key surfaces AADSTS700027', async () => {
    const app = msalWith({ thumbprintSha256: hex('sha256'), privateKey: stranger.privateKey })
    await expect(app.acquireTokenByClientCredential({ scopes })).rejects.toMatchObject({
      errorCode: 'invalid_client',
      errorMessage: expect.stringContaining('AADSTS700027: Client assertion failed signature validation.'),
    })
  })
})
