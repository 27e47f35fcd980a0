import type { Logger } from 'pino'
import { ConnectorError, type Page, type RemoteGroup } from '../../src/sync/connector'
import { type DirectoryClient, GROUPS_PAGE, type GoogleGroup, type ListPage } from './google-directory'

/**
 * Groups with their members, page by page. A page of Google groups (up to 200) is expanded into
 * RemoteGroups until about MEMBER_BUDGET member ids are held, so one everyone-list of 100,000 people
 * does not arrive together with 199 other large groups; the cursor says where in which Google page
 * the next engine page starts.
 */
export const MEMBER_BUDGET = 20_000

interface Cursor {
  /** The Google page token of the groups page; undefined for the first page. */
  token: string | undefined
  /** Groups of that page already returned. */
  offset: number
}

function encode(cursor: Cursor): string {
  return `${cursor.offset}:${cursor.token ?? ''}`
}

function decode(text: string): Cursor {
  const match = /^(\d+):(.*)$/s.exec(text)
  if (!match)
    throw new ConnectorError('permanent', `google: list groups: "${text}" is not a cursor of this connector`)
  return { offset: Number(match[1]), token: match[2] === '' ? undefined : match[2] }
}

export class GroupListing {
  /** The Google page the last engine page came from, so the next one continues it without a refetch. */
  private held: { token: string | undefined; page: ListPage<GoogleGroup> } | undefined
  private groupsRead = 0

  constructor(
    private readonly client: DirectoryClient,
    private readonly logger: Logger,
    private readonly memberBudget = MEMBER_BUDGET,
  ) {}

  async page(cursorText: string | undefined, signal: AbortSignal): Promise<Page<RemoteGroup>> {
    const cursor = cursorText === undefined ? { token: undefined, offset: 0 } : decode(cursorText)
    if (cursorText === undefined) {
      // A new listing: nothing held from an earlier one (or an earlier attempt) may be reused.
      this.held = undefined
      this.groupsRead = 0
    }
    let held = this.held
    if (held === undefined || held.token !== cursor.token) {
      const what =
        cursor.token === undefined ? 'list groups' : `list groups (after ${this.groupsRead} groups)`
      held = { token: cursor.token, page: await this.client.groups(cursor.token, GROUPS_PAGE, what, signal) }
      this.held = held
    }
    const groups = held.page.items
    const items: RemoteGroup[] = []
    let members = 0
    let offset = cursor.offset
    while (offset < groups.length && (items.length === 0 || members < this.memberBudget)) {
      const group = await this.expand(groups[offset]!, signal)
      offset++
      if (group === null) continue
      items.push(group)
      members += group.memberExternalIds.length
    }
    this.groupsRead += items.length
    this.logger.debug({ groups: items.length, members }, 'google: groups page read')
    if (offset < groups.length) return { items, nextCursor: encode({ token: cursor.token, offset }) }
    const next = held.page.nextPageToken
    if (next === undefined) {
      this.held = undefined
      this.logger.info({ groups: this.groupsRead }, 'google: groups listed')
      return { items }
    }
    return { items, nextCursor: encode({ token: next, offset: 0 }) }
  }

  /** The group with its direct USER members (nested groups and "everyone in the customer" are not people). */
  private async expand(group: GoogleGroup, signal: AbortSignal): Promise<RemoteGroup | null> {
    const id = group.id
    if (!id) return null
    const memberExternalIds: string[] = []
    let skipped = 0
    let token: string | undefined
    do {
      const what = `list members of ${group.email ?? id}${token ? ` (after ${memberExternalIds.length})` : ''}`
      const page = await this.client.members(id, token, what, signal)
      if (page === null) {
        // Deleted since the groups page was read: as if it had not been listed.
        this.logger.info({ group: id }, 'google: group gone during the listing')
        return null
      }
      for (const m of page.items) {
        if (m.type === 'USER' && m.id) memberExternalIds.push(m.id)
        else skipped++
      }
      token = page.nextPageToken
    } while (token !== undefined)
    if (skipped > 0) this.logger.debug({ group: id, skipped }, 'google: non-user members left out')
    return {
      externalId: id,
      displayName: group.name?.trim() || group.email || id,
      description: group.description?.trim() || null,
      memberExternalIds,
    }
  }
}
