import type { Logger } from 'pino'
import {
  type CheckResult,
  type Connector,
  type ConnectorDefinition,
  type ConnectorDeps,
  ConnectorError,
  type Page,
  type RemoteDepartment,
  type RemoteGroup,
  type RemoteUser,
} from '../../src/sync/connector'
import { checkDirectory } from './google-check'
import { type GoogleConfig, googleConfigSchema } from './google-config'
import { DirectoryClient, USERS_PAGE } from './google-directory'
import { GroupListing } from './group-listing'
import { OrgUnitIndex } from './org-units'
import { toRemoteUser } from './user-mapping'

/**
 * Google Workspace through the Admin SDK Directory API, as a service account acting for an admin
 * (domain-wide delegation). The API has no change feed, so every run lists everything and the
 * engine's diff finds what changed.
 */

export { googleConfigSchema, type GoogleConfig } from './google-config'
export { DIRECTORY_SCOPES } from './google-auth'

export const googleConnector: ConnectorDefinition<GoogleConfig> = {
  type: 'google',
  description: 'Google Workspace through the Admin SDK Directory API',
  configSchema: googleConfigSchema,
  secretKeys: ['serviceAccountKey'],
  open(config: GoogleConfig, deps: ConnectorDeps): Connector {
    return new GoogleConnector(config, deps)
  },
}

class GoogleConnector implements Connector {
  readonly type = 'google'
  private readonly client: DirectoryClient
  private readonly groups: GroupListing
  private readonly logger: Logger
  private readonly byOrganization: boolean
  /** The org unit tree of the current listing; users resolve their unit's path against it. */
  private orgUnits: OrgUnitIndex | undefined
  private users = { read: 0, pages: 0, started: 0 }

  constructor(
    private readonly config: GoogleConfig,
    deps: ConnectorDeps,
  ) {
    this.logger = deps.logger
    this.client = new DirectoryClient(config, deps.fetch)
    this.groups = new GroupListing(this.client, this.logger)
    this.byOrganization = config.departmentsFrom === 'organization'
  }

  check(signal: AbortSignal): Promise<CheckResult> {
    return checkDirectory(
      this.client,
      { clientEmail: this.client.clientEmail, subject: this.config.subject },
      signal,
    )
  }

  async listDepartments(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteDepartment>> {
    // Departments named by users' organizations come with the users (departmentPath).
    if (this.byOrganization) return { items: [] }
    if (cursor !== undefined) {
      throw new ConnectorError('permanent', `google: list org units: unexpected cursor "${cursor}"`)
    }
    // Always read afresh: a retried run must see the tree as it is now, not as the failed attempt did.
    this.orgUnits = await this.loadOrgUnits(signal)
    return { items: this.orgUnits.departments }
  }

  async listUsers(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteUser>> {
    if (cursor === undefined) this.users = { read: 0, pages: 0, started: Date.now() }
    const orgUnits = this.byOrganization ? undefined : (this.orgUnits ??= await this.loadOrgUnits(signal))
    const what = cursor === undefined ? 'list users' : `list users (after ${this.users.read} users)`
    const page = await this.client.users(cursor, USERS_PAGE, what, signal)
    const items: RemoteUser[] = []
    for (const user of page.items) {
      const remote = toRemoteUser(
        user,
        orgUnits === undefined
          ? { from: 'organization' }
          : { from: 'orgUnitPath', departmentOf: (path, userName) => orgUnits.departmentOf(path, userName) },
      )
      if (remote) items.push(remote)
      else
        this.logger.warn({ user: user.id ?? null }, 'google: a user without id or primaryEmail was left out')
    }
    this.users.read += items.length
    this.users.pages++
    this.logger.debug({ page: this.users.pages, users: items.length }, 'google: users page read')
    if (page.nextPageToken === undefined) {
      this.logger.info(
        { users: this.users.read, pages: this.users.pages, ms: Date.now() - this.users.started },
        'google: users listed',
      )
      return { items }
    }
    return { items, nextCursor: page.nextPageToken }
  }

  listGroups(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteGroup>> {
    return this.groups.page(cursor, signal)
  }

  private async loadOrgUnits(signal: AbortSignal): Promise<OrgUnitIndex> {
    const index = new OrgUnitIndex(await this.client.orgUnits('list org units', signal))
    this.logger.info({ orgUnits: index.departments.length }, 'google: org units listed')
    return index
  }
}
