import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { DeltaRounds } from './delta-rounds'
import { StateTokenCodec } from './delta-tokens'
import { DirectoryState } from './directory-state'
import { graphErrorBody } from './graph-errors'
import type { GraphGroup, GraphUser, SeededOrg } from './graph-model'
import { GraphQuirks } from './graph-quirks'
import { DEFAULT_PAGE_SIZE, handleGraphRequest } from './graph-routes'
import { readBody, requestIdsFor, sendReply, type Reply, type RequestIds } from './http-replies'
import { generateTlsCert } from './tls-cert'
import { RegisteredCertificate } from './client-assertion'
import { AccessTokens, handleIdentityRequest } from './token-endpoint'

export type { GraphGroup, GraphUser, SeededOrg } from './graph-model'
export { generateClientCertificate, type ClientCertificate } from './client-assertion'
export type { DeltaTokenExpiryCode, GraphQuirks, ThrottleQuirk } from './graph-quirks'

/**
 * An HTTPS fake of Microsoft Graph (v1.0 users/groups delta) and of the Microsoft identity platform's
 * token endpoint for one tenant and one app registration, for testing the Entra ID connector without
 * reaching Microsoft. Start it with `startGraphFake`, point msal at `${authorityHost}/${tenantId}` and
 * Graph calls at `${graphBaseUrl}/v1.0/...`, and trust `ca`.
 */

export interface GraphFakeOptions {
  /** 0 or absent: a free port. */
  port?: number
  /** Page size when the client sends no `Prefer: odata.maxpagesize` (Graph's default is 100). */
  pageSize?: number
  /** Lifetime of issued access tokens (default 3600 s, like Entra's). 0 issues already-expired tokens. */
  tokenTtlSeconds?: number
  /** How many `members@delta` entries fit on one groups page before a group spills onto the next. */
  membersPerPage?: number
}

export interface RequestLogEntry {
  method: string
  path: string
  status: number
}

export interface GraphFake {
  /** `https://localhost:PORT`; the msal authority is `${authorityHost}/${tenantId}`. */
  readonly authorityHost: string
  /** `https://localhost:PORT`; Graph calls go to `${graphBaseUrl}/v1.0/...`. */
  readonly graphBaseUrl: string
  /** PEM of the self-signed server certificate, the CA a client must trust. */
  readonly ca: string
  readonly port: number
  readonly tenantId: string
  readonly clientId: string
  readonly clientSecret: string
  /** Certificates registered on the app (Certificates & secrets) for client assertions. */
  readonly clientCertificates: readonly RegisteredCertificate[]
  readonly quirks: GraphQuirks
  /** Every request answered, oldest first (recorded before the response is written). */
  readonly requests: RequestLogEntry[]
  /** Access tokens the token endpoint has issued. */
  readonly tokensIssued: number
  pageSize: number
  tokenTtlSeconds: number
  membersPerPage: number

  addUser(u: Partial<GraphUser> & { userPrincipalName: string }): GraphUser
  updateUser(id: string, patch: Partial<GraphUser>): void
  setManager(userId: string, managerId: string | null): void
  softDeleteUser(id: string): void
  restoreUser(id: string): void
  hardDeleteUser(id: string): void
  addGroup(g: { displayName: string; description?: string; memberIds?: string[]; id?: string }): GraphGroup
  updateGroup(id: string, patch: { displayName?: string; description?: string | null }): void
  addMembers(groupId: string, userIds: string[]): void
  removeMembers(groupId: string, userIds: string[]): void
  deleteGroup(id: string): void
  /** Registers a certificate on the app (its public PEM; a PEM that also holds the key is fine). */
  registerCertificate(pem: string): void
  /** Removes a registered certificate (as deleting it under Certificates & secrets does). */
  unregisterCertificate(pem: string): void
  /** Bulk load without a change-log entry per object. */
  seed(org: SeededOrg): void
  getUser(id: string): GraphUser | undefined
  getGroup(id: string): GraphGroup | undefined
  close(): Promise<void>
}

export async function startGraphFake(options: GraphFakeOptions = {}): Promise<GraphFake> {
  const tls = await generateTlsCert()
  const fake = new GraphFakeServer(tls.cert, options)
  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => fake.handle(req, res))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`Graph fake could not listen on 127.0.0.1:${options.port ?? 0}: ${err.message}`)),
    )
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  fake.attach(server)
  return fake
}

/** Entra client secrets carry a `~` in their first few characters; the fake's look alike. */
function clientSecretLike(): string {
  const body = randomBytes(30).toString('base64url')
  return `${body.slice(0, 3)}8Q~${body.slice(3, 37)}`
}

class GraphFakeServer implements GraphFake {
  readonly tenantId = randomUUID()
  readonly clientId = randomUUID()
  readonly clientSecret = clientSecretLike()
  readonly requests: RequestLogEntry[] = []
  readonly clientCertificates: RegisteredCertificate[] = []
  pageSize: number
  tokenTtlSeconds: number
  membersPerPage: number
  readonly quirks: GraphQuirks

  private readonly state = new DirectoryState()
  private readonly rounds = new DeltaRounds(this.state)
  private readonly codec = new StateTokenCodec()
  private readonly tokens = new AccessTokens(this)
  private server: Server | null = null
  private baseUrl = ''
  private listenPort = 0

  constructor(
    readonly ca: string,
    options: GraphFakeOptions,
  ) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE
    this.tokenTtlSeconds = options.tokenTtlSeconds ?? 3600
    this.membersPerPage = options.membersPerPage ?? 1000
    this.quirks = new GraphQuirks(() => this.codec.lastSerial)
  }

  attach(server: Server): void {
    this.server = server
    this.listenPort = (server.address() as AddressInfo).port
    this.baseUrl = `https://localhost:${this.listenPort}`
  }

  get authorityHost(): string {
    return this.baseUrl
  }

  get graphBaseUrl(): string {
    return this.baseUrl
  }

  get port(): number {
    return this.listenPort
  }

  get tokensIssued(): number {
    return this.tokens.issued
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const ids = requestIdsFor(req)
    const method = req.method ?? 'GET'
    const url = new URL(req.url ?? '/', this.baseUrl)
    this.route(req, method, url, ids)
      .catch((err: unknown): Reply => {
        const message = err instanceof Error ? err.message : String(err)
        process.stderr.write(`Graph fake: ${method} ${url.pathname} failed: ${message}\n`)
        return {
          status: 500,
          body: graphErrorBody({ status: 500, code: 'generalException', message }, ids),
        }
      })
      .then((reply) => {
        this.requests.push({ method, path: url.pathname, status: reply.status })
        sendReply(res, ids, reply)
      })
      .catch((err: unknown) => res.destroy(err instanceof Error ? err : undefined))
  }

  private async route(req: IncomingMessage, method: string, url: URL, ids: RequestIds): Promise<Reply> {
    const graph = handleGraphRequest(method, url, req.headers, ids, {
      baseUrl: this.baseUrl,
      rounds: this.rounds,
      codec: this.codec,
      quirks: this.quirks,
      tokens: this.tokens,
      currentSeq: () => this.state.seq,
      pageSize: () => this.pageSize,
      membersPerPage: () => this.membersPerPage,
    })
    if (graph) return graph
    const identity = await handleIdentityRequest(method, url, () => readBody(req), ids, {
      baseUrl: this.baseUrl,
      credentials: this,
      tokens: this.tokens,
      tokenTtlSeconds: () => this.tokenTtlSeconds,
      secretExpired: () => this.quirks.secretExpired,
    })
    if (identity) return identity
    return {
      status: 404,
      body: graphErrorBody(
        { status: 404, code: 'NotFound', message: `No route for ${method} ${url.pathname}` },
        ids,
      ),
    }
  }

  addUser(u: Partial<GraphUser> & { userPrincipalName: string }): GraphUser {
    return this.state.addUser(u)
  }
  updateUser(id: string, patch: Partial<GraphUser>): void {
    this.state.updateUser(id, patch)
  }
  setManager(userId: string, managerId: string | null): void {
    this.state.setManager(userId, managerId)
  }
  softDeleteUser(id: string): void {
    this.state.softDeleteUser(id)
  }
  restoreUser(id: string): void {
    this.state.restoreUser(id)
  }
  hardDeleteUser(id: string): void {
    this.state.hardDeleteUser(id)
  }
  addGroup(g: { displayName: string; description?: string; memberIds?: string[]; id?: string }): GraphGroup {
    return this.state.addGroup(g)
  }
  updateGroup(id: string, patch: { displayName?: string; description?: string | null }): void {
    this.state.updateGroup(id, patch)
  }
  addMembers(groupId: string, userIds: string[]): void {
    this.state.addMembers(groupId, userIds)
  }
  removeMembers(groupId: string, userIds: string[]): void {
    this.state.removeMembers(groupId, userIds)
  }
  deleteGroup(id: string): void {
    this.state.deleteGroup(id)
  }
  registerCertificate(pem: string): void {
    const cert = new RegisteredCertificate(pem)
    if (!this.clientCertificates.some((c) => c.x5tS256 === cert.x5tS256)) this.clientCertificates.push(cert)
  }
  unregisterCertificate(pem: string): void {
    const { x5tS256 } = new RegisteredCertificate(pem)
    const i = this.clientCertificates.findIndex((c) => c.x5tS256 === x5tS256)
    if (i >= 0) this.clientCertificates.splice(i, 1)
  }
  seed(org: SeededOrg): void {
    this.state.seed(org)
  }
  getUser(id: string): GraphUser | undefined {
    return this.state.getUser(id)
  }
  getGroup(id: string): GraphGroup | undefined {
    return this.state.getGroup(id)
  }

  async close(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = null
    await new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(new Error(`closing the Graph fake: ${err.message}`)) : resolve()))
      // Keep-alive connections from clients would otherwise hold close() open until they time out.
      server.closeAllConnections()
    })
  }
}
