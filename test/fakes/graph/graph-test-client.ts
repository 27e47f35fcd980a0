import { Agent, fetch, type Headers } from 'undici'
import type { GraphFake } from './graph-fake'

/**
 * A minimal Graph client for the fake's own tests (and for anyone probing the fake by hand): gets a token
 * with the client credentials grant and follows delta rounds, trusting only the fake's certificate.
 */

export interface MemberRef {
  '@odata.type': string
  id: string
  '@removed'?: { reason: string }
}

export interface DeltaItem {
  id: string
  '@removed'?: { reason: string }
  'manager@delta'?: MemberRef[]
  'members@delta'?: MemberRef[]
  [property: string]: unknown
}

export interface DeltaPage {
  '@odata.context'?: string
  '@odata.nextLink'?: string
  '@odata.deltaLink'?: string
  value: DeltaItem[]
}

export interface GraphReply<T> {
  status: number
  headers: Headers
  body: T
}

export interface DeltaRound {
  pages: DeltaPage[]
  items: DeltaItem[]
  deltaLink: string
}

export class GraphTestClient {
  readonly dispatcher: Agent
  private token: string | null = null

  constructor(private readonly fake: GraphFake) {
    this.dispatcher = new Agent({ connect: { ca: fake.ca } })
  }

  async requestToken(form: Record<string, string> = {}): Promise<GraphReply<Record<string, unknown>>> {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.fake.clientId,
      client_secret: this.fake.clientSecret,
      scope: 'https://graph.microsoft.com/.default',
      ...form,
    })
    const tenant = form.tenant ?? this.fake.tenantId
    body.delete('tenant')
    const res = await fetch(`${this.fake.authorityHost}/${tenant}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      dispatcher: this.dispatcher,
    })
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
  }

  async accessToken(): Promise<string> {
    if (this.token) return this.token
    const reply = await this.requestToken()
    if (reply.status !== 200 || typeof reply.body.access_token !== 'string') {
      throw new Error(`token request failed: ${reply.status} ${JSON.stringify(reply.body)}`)
    }
    this.token = reply.body.access_token
    return this.token
  }

  /** GET with the cached token unless `token` says otherwise (null: no Authorization header). */
  async get<T = DeltaPage>(
    url: string,
    options: { token?: string | null; headers?: Record<string, string> } = {},
  ): Promise<GraphReply<T>> {
    const token = options.token === undefined ? await this.accessToken() : options.token
    const headers: Record<string, string> = { ...options.headers }
    if (token !== null) headers.authorization = `Bearer ${token}`
    const res = await fetch(url, { headers, dispatcher: this.dispatcher })
    return { status: res.status, headers: res.headers, body: (await res.json()) as T }
  }

  /** Follows nextLinks from `url` until a deltaLink; fails on any non-200 page. */
  async round(url: string, headers: Record<string, string> = {}, maxPages = 10_000): Promise<DeltaRound> {
    const pages: DeltaPage[] = []
    let next: string | undefined = url
    while (next) {
      if (pages.length >= maxPages)
        throw new Error(`delta round from ${url} did not end within ${maxPages} pages`)
      const reply: GraphReply<DeltaPage> = await this.get<DeltaPage>(next, { headers })
      if (reply.status !== 200)
        throw new Error(`GET ${next} answered ${reply.status}: ${JSON.stringify(reply.body)}`)
      pages.push(reply.body)
      if (reply.body['@odata.deltaLink']) {
        return { pages, items: pages.flatMap((p) => p.value), deltaLink: reply.body['@odata.deltaLink'] }
      }
      next = reply.body['@odata.nextLink']
    }
    throw new Error(`a page of the delta round from ${url} had neither nextLink nor deltaLink`)
  }

  async close(): Promise<void> {
    await this.dispatcher.close()
  }
}
