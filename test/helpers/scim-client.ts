import type { TestApp } from './test-app'

export const CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User'
export const CORE_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group'
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse'
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error'

export interface ScimResponse {
  status: number
  headers: Headers
  /** Parsed JSON, or undefined for an empty body. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions read arbitrary SCIM JSON
  body: any
  text: string
}

export interface ScimClient {
  readonly sourceId: string
  readonly tokenId: string
  readonly token: string
  /** e.g. http://127.0.0.1:1234/scim/v2 */
  readonly base: string
  /** A SCIM request with this source's token; a body object is sent as application/scim+json. */
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ScimResponse>
}

/** Creates a SCIM source (with an optional policy) and a token for it through the admin API. */
export async function createScimSource(
  app: TestApp,
  options: { name?: string; policy?: Record<string, unknown>; precedence?: number } = {},
): Promise<ScimClient> {
  const created = await app.api('POST', '/api/v1/sources', {
    type: 'scim',
    name: options.name ?? `idp-${Math.random().toString(36).slice(2, 8)}`,
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.precedence !== undefined ? { precedence: options.precedence } : {}),
  })
  if (created.status !== 201) throw new Error(`create SCIM source: ${created.status} ${await created.text()}`)
  const source = (await created.json()) as { id: string }
  const minted = await app.api('POST', `/api/v1/sources/${source.id}/scim-tokens`, {})
  if (minted.status !== 201) throw new Error(`create SCIM token: ${minted.status} ${await minted.text()}`)
  const { id: tokenId, token } = (await minted.json()) as { id: string; token: string }
  return scimClient(app.url, source.id, tokenId, token)
}

export function scimClient(appUrl: string, sourceId: string, tokenId: string, token: string): ScimClient {
  const base = `${appUrl}/scim/v2`
  return {
    sourceId,
    tokenId,
    token,
    base,
    async request(method, path, body, headers = {}) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      })
      const text = await res.text()
      let parsed: unknown
      try {
        parsed = text ? JSON.parse(text) : undefined
      } catch {
        parsed = undefined
      }
      return { status: res.status, headers: res.headers, body: parsed, text }
    },
  }
}
