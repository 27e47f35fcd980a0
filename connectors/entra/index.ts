import type { Logger } from 'pino'
import {
  ConnectorError,
  type ChangePage,
  type CheckResult,
  type Connector,
  type ConnectorDefinition,
  type Page,
  type RemoteChange,
  type RemoteGroup,
  type RemoteUser,
} from '../../src/sync/connector'
import { entraTokenSource, type TokenSource } from './entra-auth'
import { entraConfigSchema, withDefaults, type EntraConfig, type EntraSettings } from './entra-config'
import { decodeLinks, decodePosition, encodeLinks, encodePosition } from './delta-state'
import { DEFAULT_RETRY, GraphHttp, type RetryPolicy } from './graph-http'
import { toRemoteUser, USER_SELECT, type GraphUserObject } from './user-mapping'

interface DeltaPage<T> {
  value: T[]
  '@odata.nextLink'?: string
  '@odata.deltaLink'?: string
}

interface GraphGroupObject {
  id: string
  displayName?: string | null
  description?: string | null
  'members@delta'?: { id: string; '@odata.type'?: string; '@removed'?: { reason: string } }[]
  '@removed'?: { reason: string }
}

const GROUP_PAGE = 500
const USER_TYPE = '#microsoft.graph.user'

/** Member ids (users only: nested groups and devices are not people) added and removed. */
function memberDelta(g: GraphGroupObject): { added: string[]; removed: string[] } {
  const added: string[] = []
  const removed: string[] = []
  for (const m of g['members@delta'] ?? []) {
    if (m['@odata.type'] !== undefined && m['@odata.type'] !== USER_TYPE) continue
    if (m['@removed']) removed.push(m.id)
    else added.push(m.id)
  }
  return { added, removed }
}

/**
 * Microsoft Entra ID through Graph delta queries. A full listing is Graph's initial delta round
 * (users, then groups), ending in deltaLinks that become the cursor when the plan applies; later
 * runs follow those links and report only what changed. With scopeGroups every run lists in full:
 * users/delta cannot be scoped to group members, so joins and leaves of the scope need a listing.
 */
class EntraConnector implements Connector {
  readonly type = 'entra'
  private readonly graph: string
  private readonly http: GraphHttp
  private usersDeltaLink: string | undefined
  private groups: RemoteGroup[] | undefined
  private groupsDeltaLink: string | undefined
  private scope: Set<string> | undefined

  constructor(
    private readonly config: EntraConfig,
    private readonly tokens: TokenSource,
    fetchImpl: typeof fetch,
    private readonly logger: Logger,
    retry: RetryPolicy,
  ) {
    this.graph = `${config.graphBaseUrl.replace(/\/+$/, '')}/v1.0`
    this.http = new GraphHttp(tokens, fetchImpl, logger, config.pageSize, retry)
  }

  private usersUrl(): string {
    const select = [...new Set([...USER_SELECT, this.config.departmentAttribute])].join(',')
    return `${this.graph}/users/delta?$select=${select}`
  }

  private groupsUrl(): string {
    return `${this.graph}/groups/delta?$select=displayName,description,members`
  }

  async check(signal: AbortSignal): Promise<CheckResult> {
    const checks: CheckResult['checks'] = []
    const step = async (name: string, run: () => Promise<string>) => {
      try {
        checks.push({ name, ok: true, message: await run() })
        return true
      } catch (err) {
        if (!(err instanceof ConnectorError)) throw err
        checks.push({ name, ok: false, message: err.message })
        return false
      }
    }
    const signedIn = await step('sign-in', async () => {
      await this.tokens.token()
      return `signed in to tenant ${this.config.tenantId} as app ${this.config.clientId}`
    })
    if (signedIn) {
      await step('users', async () => {
        await this.http.get(`${this.graph}/users/delta?$select=id`, 'read users', signal, 1)
        return 'users can be read (User.Read.All)'
      })
      await step('groups', async () => {
        await this.http.get(`${this.graph}/groups/delta?$select=displayName`, 'read groups', signal, 1)
        return 'groups and their members can be read (GroupMember.Read.All)'
      })
    }
    return { ok: checks.every((c) => c.ok), checks }
  }

  async listDepartments(): Promise<Page<never>> {
    // Departments come from each user's department attribute, as paths.
    return { items: [] }
  }

  async listUsers(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteUser>> {
    if (this.config.scopeGroups && !this.scope) {
      await this.loadGroups(signal)
      this.scope = new Set<string>()
      const wanted = new Set(this.config.scopeGroups)
      for (const g of this.groups!)
        if (wanted.has(g.externalId)) for (const m of g.memberExternalIds) this.scope.add(m)
      const missing = this.config.scopeGroups.filter((id) => !this.groups!.some((g) => g.externalId === id))
      if (missing.length > 0)
        throw new ConnectorError(
          'invalid-config',
          `entra: scope groups not found in the tenant: ${missing.join(', ')}`,
        )
    }
    const page = await this.http.get<DeltaPage<GraphUserObject>>(
      cursor ?? this.usersUrl(),
      'list users',
      signal,
    )
    const items = page.value
      .filter((u) => !u['@removed'] && (!this.scope || this.scope.has(u.id)))
      .map((u) => toRemoteUser(u, this.config, true) as RemoteUser)
    if (page['@odata.nextLink']) return { items, nextCursor: page['@odata.nextLink'] }
    this.usersDeltaLink = page['@odata.deltaLink']
    return { items }
  }

  /** The whole groups round: a group's members may be spread over several pages. */
  private async loadGroups(signal: AbortSignal): Promise<void> {
    if (this.groups) return
    const byId = new Map<string, { displayName: string; description: string | null; members: Set<string> }>()
    let url: string | undefined = this.groupsUrl()
    while (url) {
      const page: DeltaPage<GraphGroupObject> = await this.http.get(url, 'list groups', signal)
      for (const g of page.value) {
        if (g['@removed']) {
          byId.delete(g.id)
          continue
        }
        let entry = byId.get(g.id)
        if (!entry) {
          entry = {
            displayName: g.displayName ?? g.id,
            description: g.description ?? null,
            members: new Set(),
          }
          byId.set(g.id, entry)
        }
        if (g.displayName) entry.displayName = g.displayName
        if (g.description !== undefined) entry.description = g.description
        const { added, removed } = memberDelta(g)
        for (const m of added) entry.members.add(m)
        for (const m of removed) entry.members.delete(m)
      }
      url = page['@odata.nextLink']
      if (!url) this.groupsDeltaLink = page['@odata.deltaLink']
    }
    this.groups = [...byId.entries()].map(([id, g]) => ({
      externalId: id,
      displayName: g.displayName,
      description: g.description,
      memberExternalIds: [...g.members],
    }))
  }

  async listGroups(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteGroup>> {
    await this.loadGroups(signal)
    const start = cursor === undefined ? 0 : Number(cursor)
    const end = Math.min(this.groups!.length, start + GROUP_PAGE)
    const items = this.groups!.slice(start, end).map((g) =>
      this.scope ? { ...g, memberExternalIds: g.memberExternalIds.filter((m) => this.scope!.has(m)) } : g,
    )
    return end < this.groups!.length ? { items, nextCursor: String(end) } : { items }
  }

  deltaToken(): string | undefined {
    if (this.config.scopeGroups || !this.usersDeltaLink || !this.groupsDeltaLink) return undefined
    return encodeLinks({ users: this.usersDeltaLink, groups: this.groupsDeltaLink })
  }

  async changes(token: string, cursor: string | undefined, signal: AbortSignal): Promise<ChangePage> {
    if (this.config.scopeGroups)
      throw new ConnectorError('resync-required', 'entra: a scoped source reads in full on every run')
    const links = decodeLinks(token)
    const at = cursor ? decodePosition(cursor) : { phase: 'users' as const, url: links.users }
    if (at.phase === 'users') {
      const page = await this.http.get<DeltaPage<GraphUserObject>>(at.url, 'user changes', signal)
      const changes: RemoteChange[] = page.value.map((u) =>
        u['@removed']
          ? { kind: 'user.removed', externalId: u.id, deleted: u['@removed'].reason === 'deleted' }
          : { kind: 'user.partial', user: toRemoteUser(u, this.config, false) },
      )
      const next = page['@odata.nextLink']
      const usersLink = page['@odata.deltaLink']
      if (!next && !usersLink)
        throw new ConnectorError('transient', 'entra: user changes: a page with no next or delta link')
      return {
        changes,
        nextCursor: encodePosition(
          next ? { phase: 'users', url: next } : { phase: 'groups', url: links.groups, users: usersLink! },
        ),
      }
    }
    const page = await this.http.get<DeltaPage<GraphGroupObject>>(at.url, 'group changes', signal)
    const changes: RemoteChange[] = page.value.map((g) => {
      if (g['@removed']) return { kind: 'group.removed', externalId: g.id }
      return {
        kind: 'group.delta',
        externalId: g.id,
        ...('displayName' in g && g.displayName ? { displayName: g.displayName } : {}),
        ...('description' in g ? { description: g.description ?? null } : {}),
        ...memberDelta(g),
      }
    })
    const next = page['@odata.nextLink']
    if (next) return { changes, nextCursor: encodePosition({ phase: 'groups', url: next, users: at.users }) }
    const groupsLink = page['@odata.deltaLink']
    if (!groupsLink)
      throw new ConnectorError('transient', 'entra: group changes: a page with no next or delta link')
    return { changes, deltaToken: encodeLinks({ users: at.users, groups: groupsLink }) }
  }
}

/** Builds the definition; tests pass a quicker retry policy. */
export function entraConnectorWith(retry: RetryPolicy = DEFAULT_RETRY): ConnectorDefinition<EntraSettings> {
  return {
    type: 'entra',
    description: 'Microsoft Entra ID through Microsoft Graph (delta queries)',
    configSchema: entraConfigSchema,
    secretKeys: ['clientSecret', 'certificate'],
    open: (settings, deps) => {
      const config = withDefaults(settings)
      return new EntraConnector(config, entraTokenSource(config, deps.fetch), deps.fetch, deps.logger, retry)
    },
  }
}

export const entraConnector = entraConnectorWith()
