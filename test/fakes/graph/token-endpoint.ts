import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { aadErrorBody, aadErrors, type AadError } from './aad-errors'
import { JWT_BEARER, verifyClientAssertion, type RegisteredCertificate } from './client-assertion'
import type { Reply, RequestIds } from './http-replies'

/**
 * The slice of the Microsoft identity platform (v2 endpoints) an app-only Graph client touches: the token
 * endpoint for the client credentials grant, OIDC discovery and instance discovery (both fetched by
 * msal-node before its first token request), and an empty JWKS.
 */

export const GRAPH_RESOURCE = 'https://graph.microsoft.com'
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000'

export interface AppCredentials {
  tenantId: string
  clientId: string
  clientSecret: string
  /** Certificates registered on the app; a client assertion must be signed by one of them. */
  clientCertificates?: readonly RegisteredCertificate[]
}

export type TokenCheck = 'valid' | 'missing' | 'expired' | 'invalid'

/**
 * Issues and checks access tokens. They look like Entra's (a three-part JWT) but are signed with an
 * HMAC key of this instance, so Graph routes can verify them without keeping a table of issued tokens.
 */
export class AccessTokens {
  private readonly key = randomBytes(32)
  issued = 0

  constructor(private readonly credentials: AppCredentials) {}

  issue(ttlSeconds: number): string {
    const now = Date.now() / 1000
    const header = { typ: 'JWT', alg: 'HS256' }
    const claims = {
      aud: GRAPH_RESOURCE,
      iss: `https://sts.windows.net/${this.credentials.tenantId}/`,
      iat: Math.floor(now),
      nbf: Math.floor(now),
      exp: now + ttlSeconds,
      appid: this.credentials.clientId,
      tid: this.credentials.tenantId,
      roles: ['User.Read.All', 'GroupMember.Read.All'],
      uti: randomUUID(),
    }
    const unsigned = `${b64(header)}.${b64(claims)}`
    this.issued++
    return `${unsigned}.${this.sign(unsigned).toString('base64url')}`
  }

  check(authorization: string | undefined): TokenCheck {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')
    if (!match?.[1]) return 'missing'
    const parts = match[1].split('.')
    if (parts.length !== 3) return 'invalid'
    const [header, claims, signature] = parts as [string, string, string]
    const expected = this.sign(`${header}.${claims}`)
    const given = Buffer.from(signature, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid'
    try {
      const { exp } = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { exp?: unknown }
      if (typeof exp !== 'number') return 'invalid'
      return Date.now() / 1000 >= exp ? 'expired' : 'valid'
    } catch {
      return 'invalid'
    }
  }

  private sign(data: string): Buffer {
    return createHmac('sha256', this.key).update(data).digest()
  }
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

export interface IdentityContext {
  baseUrl: string
  credentials: AppCredentials
  tokens: AccessTokens
  tokenTtlSeconds(): number
  secretExpired(): boolean
}

/** Answers identity-platform routes; returns null when the path is not one of them. */
export async function handleIdentityRequest(
  method: string,
  url: URL,
  readForm: () => Promise<string>,
  ids: RequestIds,
  ctx: IdentityContext,
): Promise<Reply | null> {
  const [tenant, ...rest] = url.pathname.split('/').filter(Boolean)
  if (!tenant) return null
  const route = rest.join('/')
  const fail = (e: AadError): Reply => ({
    status: e.status,
    body: aadErrorBody(e, ids.clientRequestId, ctx.baseUrl),
    headers: { 'x-ms-request-id': ids.requestId },
  })

  if (tenant === 'common' && route === 'discovery/instance') {
    return { status: 200, body: instanceDiscovery(ctx.baseUrl, url) }
  }
  const known = ['oauth2/v2.0/token', 'v2.0/.well-known/openid-configuration', 'discovery/v2.0/keys']
  if (!known.includes(route)) return null
  if (tenant.toLowerCase() !== ctx.credentials.tenantId.toLowerCase())
    return fail(aadErrors.tenantNotFound(tenant))
  if (route === 'v2.0/.well-known/openid-configuration') {
    return { status: 200, body: openIdConfiguration(ctx.baseUrl, ctx.credentials.tenantId) }
  }
  if (route === 'discovery/v2.0/keys') return { status: 200, body: { keys: [] } }
  if (method !== 'POST') return fail(aadErrors.postOnly(method))
  const outcome = grantClientCredentials(new URLSearchParams(await readForm()), ctx)
  if ('error' in outcome) return fail(outcome.error)
  return {
    status: 200,
    body: outcome.token,
    headers: { 'x-ms-request-id': ids.requestId, 'cache-control': 'no-store, no-cache', pragma: 'no-cache' },
  }
}

interface TokenResponse {
  token_type: 'Bearer'
  expires_in: number
  ext_expires_in: number
  access_token: string
}

/** Checks in the order Entra does: grant, client, credential, then scope. */
function grantClientCredentials(
  form: URLSearchParams,
  ctx: IdentityContext,
): { token: TokenResponse } | { error: AadError } {
  const { tenantId, clientId, clientSecret } = ctx.credentials
  const grantType = form.get('grant_type')
  if (!grantType) return { error: aadErrors.missingParameter('grant_type') }
  if (grantType !== 'client_credentials') return { error: aadErrors.unsupportedGrantType(grantType) }
  const sentClient = form.get('client_id')
  if (!sentClient) return { error: aadErrors.missingParameter('client_id') }
  if (sentClient.toLowerCase() !== clientId.toLowerCase()) {
    return { error: aadErrors.unknownClient(sentClient, tenantId) }
  }
  const assertionType = form.get('client_assertion_type')
  if (assertionType !== null) {
    if (assertionType !== JWT_BEARER) return { error: aadErrors.unsupportedAssertionType(assertionType) }
    const assertion = form.get('client_assertion')
    if (!assertion) return { error: aadErrors.missingParameter('client_assertion') }
    const tenantBase = `${ctx.baseUrl.replace(/\/+$/, '')}/${tenantId}`
    const refused = verifyClientAssertion(assertion, {
      clientId,
      audiences: [`${tenantBase}/oauth2/v2.0/token`, `${tenantBase}/oauth2/token`],
      certificates: ctx.credentials.clientCertificates ?? [],
    })
    if (refused) return { error: refused }
  } else {
    const secret = form.get('client_secret')
    if (secret === null || secret === '') return { error: aadErrors.missingCredential() }
    if (!sameSecret(secret, clientSecret)) return { error: aadErrors.invalidSecret(clientId) }
    if (ctx.secretExpired()) return { error: aadErrors.expiredSecret(clientId) }
  }
  const scope = form.get('scope')
  if (!scope) return { error: aadErrors.missingParameter('scope') }
  const scopes = scope.split(' ').filter(Boolean)
  const resourceScope = scopes.find((s) => s.endsWith('/.default'))
  if (!resourceScope) return { error: aadErrors.scopeNotDefault(scope) }
  const resource = resourceScope.slice(0, -'/.default'.length)
  // This server is also the Graph it issues tokens for, like a national cloud's own Graph host
  // (graph.microsoft.us…): a client deriving the resource from its Graph base URL asks for it.
  if (
    resource !== GRAPH_RESOURCE &&
    resource !== GRAPH_APP_ID &&
    resource !== ctx.baseUrl.replace(/\/+$/, '')
  ) {
    return { error: aadErrors.unknownResource(resource, tenantId) }
  }
  const ttl = ctx.tokenTtlSeconds()
  return {
    token: {
      token_type: 'Bearer',
      expires_in: ttl,
      ext_expires_in: ttl,
      access_token: ctx.tokens.issue(ttl),
    },
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8')
  const b = Buffer.from(expected, 'utf8')
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The discovery document, with every endpoint pointing back at this server. */
export function openIdConfiguration(baseUrl: string, tenantId: string): Record<string, unknown> {
  const t = `${baseUrl}/${tenantId}`
  return {
    token_endpoint: `${t}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${t}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${t}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${baseUrl}/oidc/userinfo`,
    authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${t}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${t}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'tid', 'ver', 'oid'],
    tenant_region_scope: 'EU',
    cloud_instance_name: new URL(baseUrl).host,
    cloud_graph_host_name: new URL(baseUrl).host,
    msgraph_host: new URL(baseUrl).host,
    rbac_url: baseUrl,
  }
}

function instanceDiscovery(baseUrl: string, url: URL): Record<string, unknown> {
  const host = new URL(baseUrl).host
  const authorizationEndpoint = url.searchParams.get('authorization_endpoint')
  const tenantPath = authorizationEndpoint ? new URL(authorizationEndpoint).pathname.split('/')[1] : 'common'
  return {
    tenant_discovery_endpoint: `${baseUrl}/${tenantPath}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  }
}
