import { createSign, generateKeyPairSync } from 'node:crypto'
import { GaxiosError } from 'gaxios'
import { startGoogleFake, type GoogleFake } from './google-fake'
import { jwtFor } from './real-clients'

const USER_READONLY = 'https://www.googleapis.com/auth/admin.directory.user.readonly'
const USER_READWRITE = 'https://www.googleapis.com/auth/admin.directory.user'

let fake: GoogleFake
let key: {
  client_email: string
  private_key: string
  private_key_id: string
  token_uri: string
  type: string
}

beforeAll(async () => {
  fake = await startGoogleFake({ domain: 'acme.test' })
  key = JSON.parse(fake.serviceAccountKey) as typeof key
})

afterAll(async () => {
  await fake.close()
})

function sign(claims: Record<string, unknown>, privateKey = key.private_key): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url')
  const signature = createSign('RSA-SHA256').update(`${header}.${body}`).sign(privateKey, 'base64url')
  return `${header}.${body}.${signature}`
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(Date.now() / 1000)
  return {
    iss: key.client_email,
    scope: USER_READONLY,
    aud: 'https://oauth2.googleapis.com/token',
    iat,
    exp: iat + 3600,
    sub: fake.subject,
    ...overrides,
  }
}

async function grant(assertion: string, grantType = 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
  const res = await fetch(fake.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: grantType, assertion }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('service account key', () => {
  it('looks like a downloaded key and names the fake as its token_uri', () => {
    expect(key.type).toBe('service_account')
    expect(key.token_uri).toBe(fake.tokenUrl)
    expect(key.client_email).toMatch(/@[a-z0-9-]+\.iam\.gserviceaccount\.com$/)
    expect(key.private_key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    expect(key.private_key_id).toMatch(/^[0-9a-f]{40}$/)
  })
})

describe('POST /token (JWT bearer grant)', () => {
  it('issues a bearer token for a delegated admin', async () => {
    const before = fake.tokensIssued
    const { status, body } = await grant(sign(claims()))
    expect(status).toBe(200)
    expect(body).toEqual({
      access_token: expect.stringMatching(/^ya29\./),
      expires_in: 3599,
      token_type: 'Bearer',
    })
    expect(fake.tokensIssued).toBe(before + 1)
  })

  it('accepts its own URL as the audience too', async () => {
    expect((await grant(sign(claims({ aud: fake.tokenUrl })))).status).toBe(200)
  })

  it('rejects a signature made with another key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    expect(await grant(sign(claims(), pem))).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' },
    })
  })

  it('refuses scopes the admin has not delegated, with 401 unauthorized_client', async () => {
    const { status, body } = await grant(sign(claims({ scope: `${USER_READONLY} ${USER_READWRITE}` })))
    expect(status).toBe(401)
    expect(body).toEqual({
      error: 'unauthorized_client',
      error_description:
        'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any ' +
        'of the scopes requested.',
    })
  })

  it('follows the delegation switch at runtime', async () => {
    const saved = fake.quirks.delegationScopes
    fake.quirks.delegationScopes = [...saved, USER_READWRITE]
    try {
      expect((await grant(sign(claims({ scope: USER_READWRITE })))).status).toBe(200)
    } finally {
      fake.quirks.delegationScopes = saved
    }
    expect((await grant(sign(claims({ scope: USER_READWRITE })))).status).toBe(401)
  })

  it('rejects an unknown subject', async () => {
    expect(await grant(sign(claims({ sub: 'nobody@acme.test' })))).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Invalid email or User ID' },
    })
  })

  it('rejects a wrong audience, stale or long-lived assertions, a foreign issuer and other grant types', async () => {
    const now = Math.floor(Date.now() / 1000)
    expect((await grant(sign(claims({ aud: 'https://example.com/token' })))).body.error_description).toBe(
      'Invalid JWT: Failed audience check.',
    )
    expect((await grant(sign(claims({ iat: now - 7200, exp: now - 3600 })))).body.error).toBe('invalid_grant')
    expect((await grant(sign(claims({ exp: now + 7200 })))).body.error_description).toMatch(
      /short-lived token/,
    )
    expect((await grant(sign(claims({ iss: 'other@p.iam.gserviceaccount.com' })))).status).toBe(400)
    expect((await grant(sign(claims({ scope: undefined })))).body.error).toBe('invalid_scope')
    expect((await grant(sign(claims()), 'client_credentials')).body.error).toBe('unsupported_grant_type')
    expect((await grant('not.a.jwt')).status).toBe(400)
  })
})

describe('google-auth-library against the fake token endpoint', () => {
  it('obtains a token through pointJwtAt', async () => {
    const tokens = await jwtFor(fake).authorize()
    expect(tokens.access_token).toMatch(/^ya29\./)
    expect(fake.requests.at(-1)).toEqual({ method: 'POST', path: '/token', query: '', status: 200 })
  })

  it('surfaces unauthorized_client from the real client', async () => {
    const client = jwtFor(fake, { scopes: [USER_READWRITE] })
    const error = await client.authorize().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(GaxiosError)
    expect((error as GaxiosError).status).toBe(401)
    expect((error as Error).message).toMatch(/^unauthorized_client: Client is unauthorized/)
  })

  it('surfaces a wrong key and an unknown subject as invalid_grant', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    await expect(jwtFor(fake, { privateKey: pem }).authorize()).rejects.toThrow(
      'invalid_grant: Invalid JWT Signature.',
    )
    await expect(jwtFor(fake, { subject: 'ghost@acme.test' }).authorize()).rejects.toThrow(
      'invalid_grant: Invalid email or User ID',
    )
  })
})
