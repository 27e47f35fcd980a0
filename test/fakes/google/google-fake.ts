import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo } from 'node:net'
import { AccessTokens } from './access-tokens'
import {
  DIRECTORY_PREFIX,
  handleDirectoryRequest,
  type DirectoryContext,
  type HttpAnswer,
} from './directory-api'
import { groupView, orgUnitView, userView } from './directory-resources'
import {
  type GoogleFakeQuirks,
  type GoogleGroup,
  type GoogleOrgUnit,
  type GoogleUser,
  type GoogleUserInput,
  type GroupInput,
  type LoggedRequest,
  type MemberInput,
  type SeededWorkspace,
} from './google-types'
import { PageTokens } from './page-tokens'
import { createServiceAccount, type ServiceAccount } from './service-account-key'
import { handleTokenRequest } from './token-endpoint'
import { newCustomerId, WorkspaceStore, type StoredUser } from './workspace-store'

export const DEFAULT_DELEGATION_SCOPES = [
  'https://www.googleapis.com/auth/admin.directory.user.readonly',
  'https://www.googleapis.com/auth/admin.directory.orgunit.readonly',
  'https://www.googleapis.com/auth/admin.directory.group.readonly',
  'https://www.googleapis.com/auth/admin.directory.group.member.readonly',
]

export interface GoogleFakeOptions {
  port?: number
  customerId?: string
  domain?: string
}

export interface GoogleFake {
  /** http://127.0.0.1:PORT/ — what @googleapis/admin takes as rootUrl. */
  readonly rootUrl: string
  /** http://127.0.0.1:PORT/token */
  readonly tokenUrl: string
  /** The service account key JSON text (token_uri points at tokenUrl). */
  readonly serviceAccountKey: string
  /** A super admin that may be impersonated. */
  readonly subject: string
  readonly customerId: string
  readonly domain: string
  /** Fault and policy switches, read on every request: assign to them at any time. */
  readonly quirks: GoogleFakeQuirks
  readonly requests: LoggedRequest[]
  readonly tokensIssued: number

  addOrgUnit(path: string, description?: string): GoogleOrgUnit
  renameOrgUnit(path: string, newName: string): GoogleOrgUnit
  moveOrgUnit(path: string, newParentPath: string): GoogleOrgUnit
  deleteOrgUnit(path: string): void
  getOrgUnit(pathOrId: string): GoogleOrgUnit | undefined

  addUser(u: GoogleUserInput): GoogleUser
  /** Keyed by id or by primary email/alias. orgUnitPath creates the unit if needed. */
  updateUser(idOrEmail: string, patch: Partial<Omit<GoogleUserInput, 'id'>>): GoogleUser
  deleteUser(idOrEmail: string): void
  getUser(idOrEmail: string): GoogleUser | undefined

  addGroup(g: GroupInput): GoogleGroup
  addMembers(groupKey: string, members: MemberInput[]): GoogleGroup
  removeMembers(groupKey: string, memberKeys: string[]): GoogleGroup
  deleteGroup(groupKey: string): void
  getGroup(idOrEmail: string): GoogleGroup | undefined

  seed(ws: SeededWorkspace): void
  /** Invalidates every issued access token, as if they had all expired. */
  expireAccessTokens(): void
  close(): Promise<void>
}

class GoogleFakeServer implements GoogleFake {
  readonly rootUrl: string
  readonly tokenUrl: string
  readonly serviceAccountKey: string
  readonly subject: string
  readonly customerId: string
  readonly quirks: GoogleFakeQuirks
  readonly requests: LoggedRequest[] = []
  tokensIssued = 0
  private readonly store: WorkspaceStore
  private readonly tokens = new AccessTokens()
  private readonly pageTokens = new PageTokens()

  constructor(
    private readonly server: Server,
    port: number,
    private readonly serviceAccount: ServiceAccount,
    customerId: string,
    readonly domain: string,
  ) {
    this.rootUrl = `http://127.0.0.1:${port}/`
    this.tokenUrl = `${this.rootUrl}token`
    this.serviceAccountKey = JSON.stringify(serviceAccount.json, null, 2)
    this.customerId = customerId
    this.store = new WorkspaceStore(customerId)
    this.subject = `admin@${domain}`
    this.quirks = {
      quota: null,
      delegationScopes: [...DEFAULT_DELEGATION_SCOPES],
      adminEmails: [],
      tokenLifetimeSeconds: 3599,
    }
    this.addUser({
      primaryEmail: this.subject,
      name: { givenName: 'Workspace', familyName: 'Admin' },
      isAdmin: true,
    })
  }

  // ---- HTTP ----

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const url = new URL(req.url ?? '/', this.rootUrl)
    let answer: HttpAnswer
    try {
      answer = await this.route(method, url, req)
    } catch (e) {
      answer = { status: 500, body: { error: { code: 500, message: String(e), errors: [] } } }
    }
    this.requests.push({ method, path: url.pathname, query: url.search, status: answer.status })
    const payload = JSON.stringify(answer.body)
    res.writeHead(answer.status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(payload),
      ...answer.headers,
    })
    res.end(payload)
  }

  private async route(method: string, url: URL, req: IncomingMessage): Promise<HttpAnswer> {
    if (url.pathname === '/token' && method === 'POST') {
      const form = new URLSearchParams(await readBody(req))
      const result = handleTokenRequest(form, {
        serviceAccount: this.serviceAccount,
        tokenUrl: this.tokenUrl,
        quirks: this.quirks,
        tokens: this.tokens,
        userExists: (email) => this.store.userByKey(email) !== undefined,
        now: () => Date.now(),
      })
      if (result.status === 200) this.tokensIssued++
      return {
        status: result.status,
        body: result.body,
        headers: { 'cache-control': 'no-cache, no-store, max-age=0' },
      }
    }
    if (url.pathname.startsWith(DIRECTORY_PREFIX)) {
      return handleDirectoryRequest(
        method,
        url.pathname,
        url.searchParams,
        req.headers.authorization,
        this.context(),
      )
    }
    return { status: 404, body: { error: { code: 404, message: `Not Found: ${url.pathname}`, errors: [] } } }
  }

  private context(): DirectoryContext {
    return {
      store: this.store,
      quirks: this.quirks,
      tokens: this.tokens,
      pageTokens: this.pageTokens,
      isAdmin: (email) => this.isAdmin(email),
      now: () => Date.now(),
    }
  }

  private isAdmin(email: string): boolean {
    const user = this.store.userByKey(email)
    if (!user) return false
    const admins = this.quirks.adminEmails.map((e) => e.toLowerCase())
    return admins.includes(user.primaryEmail.toLowerCase())
  }

  private view(user: StoredUser): GoogleUser {
    return userView(this.store, user, this.isAdmin(user.primaryEmail))
  }

  // ---- state API ----

  addOrgUnit(path: string, description?: string): GoogleOrgUnit {
    return orgUnitView(this.store, this.store.addOrgUnit(path, description))
  }

  renameOrgUnit(path: string, newName: string): GoogleOrgUnit {
    return orgUnitView(this.store, this.store.renameOrgUnit(path, newName))
  }

  moveOrgUnit(path: string, newParentPath: string): GoogleOrgUnit {
    return orgUnitView(this.store, this.store.moveOrgUnit(path, newParentPath))
  }

  deleteOrgUnit(path: string): void {
    this.store.deleteOrgUnit(path)
  }

  getOrgUnit(pathOrId: string): GoogleOrgUnit | undefined {
    const unit = this.store.orgUnitByKey(pathOrId)
    return unit ? orgUnitView(this.store, unit) : undefined
  }

  addUser(u: GoogleUserInput): GoogleUser {
    const user = this.store.addUser(u, new Date())
    this.setAdmin(user.primaryEmail, u.isAdmin)
    return this.view(user)
  }

  updateUser(idOrEmail: string, patch: Partial<Omit<GoogleUserInput, 'id'>>): GoogleUser {
    const before = this.store.userByKey(idOrEmail)?.primaryEmail
    const wasAdmin = before !== undefined && this.isAdmin(before)
    const { isAdmin, ...rest } = patch
    const user = this.store.updateUser(idOrEmail, rest)
    if (before !== undefined && before !== user.primaryEmail) {
      this.setAdmin(before, false)
      this.setAdmin(user.primaryEmail, isAdmin ?? wasAdmin)
    } else {
      this.setAdmin(user.primaryEmail, isAdmin)
    }
    return this.view(user)
  }

  deleteUser(idOrEmail: string): void {
    const user = this.store.deleteUser(idOrEmail, new Date())
    this.setAdmin(user.primaryEmail, false)
  }

  getUser(idOrEmail: string): GoogleUser | undefined {
    const user = this.store.userByKey(idOrEmail)
    return user ? this.view(user) : undefined
  }

  addGroup(g: GroupInput): GoogleGroup {
    const group = this.store.addGroup(g)
    if (g.memberIds?.length) this.store.addMembers(group.id, g.memberIds)
    return groupView(group)
  }

  addMembers(groupKey: string, members: MemberInput[]): GoogleGroup {
    return groupView(this.store.addMembers(groupKey, members))
  }

  removeMembers(groupKey: string, memberKeys: string[]): GoogleGroup {
    return groupView(this.store.removeMembers(groupKey, memberKeys))
  }

  deleteGroup(groupKey: string): void {
    this.store.deleteGroup(groupKey)
  }

  getGroup(idOrEmail: string): GoogleGroup | undefined {
    const group = this.store.groupByKey(idOrEmail)
    return group ? groupView(group) : undefined
  }

  seed(ws: SeededWorkspace): void {
    const now = new Date()
    for (const path of ws.orgUnitPaths) this.store.addOrgUnit(path)
    for (const user of ws.users) {
      this.store.addUser(user, now)
      if (user.isAdmin) this.quirks.adminEmails.push(user.primaryEmail)
    }
    // Groups first, members second: a group may list a group seeded after it.
    for (const g of ws.groups) this.store.addGroup(g)
    for (const g of ws.groups) if (g.members.length > 0) this.store.addMembers(g.id, g.members)
  }

  expireAccessTokens(): void {
    this.tokens.expireAll()
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()))
      this.server.closeAllConnections()
    })
  }

  /** undefined leaves admin status as it is. */
  private setAdmin(email: string, admin: boolean | undefined): void {
    if (admin === undefined) return
    const lower = email.toLowerCase()
    const others = this.quirks.adminEmails.filter((e) => e.toLowerCase() !== lower)
    this.quirks.adminEmails.splice(0, this.quirks.adminEmails.length, ...others, ...(admin ? [email] : []))
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

export async function startGoogleFake(options: GoogleFakeOptions = {}): Promise<GoogleFake> {
  // The server must listen before the fake exists: the key's token_uri needs the port.
  const ready: { fake?: GoogleFakeServer } = {}
  const server = createServer((req, res) => {
    const fake = ready.fake
    if (!fake) {
      res.writeHead(503).end()
      return
    }
    void fake.handle(req, res)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const serviceAccount = await createServiceAccount(`http://127.0.0.1:${port}/token`)
  const fake = new GoogleFakeServer(
    server,
    port,
    serviceAccount,
    options.customerId ?? newCustomerId(),
    options.domain ?? 'example.com',
  )
  ready.fake = fake
  return fake
}
