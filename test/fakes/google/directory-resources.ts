import { createHash } from 'node:crypto'
import { type GoogleGroup, type GoogleMember, type GoogleOrgUnit, type GoogleUser } from './google-types'
import { type StoredGroup, type StoredOrgUnit, type StoredUser, type WorkspaceStore } from './workspace-store'

/** Quoted, like Google's etags; derived from content so it changes when the resource does. */
export function etagOf(value: unknown): string {
  return `"${createHash('sha1').update(JSON.stringify(value)).digest('base64url')}"`
}

function withEtag<T extends object>(resource: T): T & { etag: string } {
  return { ...resource, etag: etagOf(resource) }
}

/** The in-process view of a user (what the fake's state API hands back). */
export function userView(store: WorkspaceStore, user: StoredUser, isAdmin: boolean): GoogleUser {
  const view: GoogleUser = {
    id: user.id,
    primaryEmail: user.primaryEmail,
    name: { givenName: user.givenName, familyName: user.familyName, fullName: user.fullName },
    suspended: user.suspended,
    archived: user.archived,
    orgUnitPath: store.orgUnits.get(user.orgUnitId)?.path ?? '/',
    isAdmin,
    creationTime: user.creationTime,
  }
  if (user.suspensionReason) view.suspensionReason = user.suspensionReason
  if (user.organizations) view.organizations = user.organizations.map((o) => ({ ...o }))
  if (user.relations) view.relations = user.relations.map((r) => ({ ...r }))
  if (user.externalIds) view.externalIds = user.externalIds.map((e) => ({ ...e }))
  if (user.aliases.length > 0) view.aliases = [...user.aliases]
  if (user.lastLoginTime) view.lastLoginTime = user.lastLoginTime
  return view
}

/**
 * The Directory API's User resource. Optional collections are omitted when empty rather than sent as [],
 * as Google does; projection=basic and =full differ only in customSchemas, which the fake has none of.
 */
export function userResource(
  store: WorkspaceStore,
  user: StoredUser,
  isAdmin: boolean,
): Record<string, unknown> {
  const resource: Record<string, unknown> = {
    kind: 'admin#directory#user',
    id: user.id,
    primaryEmail: user.primaryEmail,
    name: { givenName: user.givenName, familyName: user.familyName, fullName: user.fullName },
    isAdmin,
    isDelegatedAdmin: false,
    lastLoginTime: user.lastLoginTime ?? '1970-01-01T00:00:00.000Z',
    creationTime: user.creationTime,
    agreedToTerms: user.lastLoginTime !== undefined,
    suspended: user.suspended,
    archived: user.archived,
    changePasswordAtNextLogin: false,
    ipWhitelisted: false,
    emails: [{ address: user.primaryEmail, primary: true }, ...user.aliases.map((address) => ({ address }))],
    customerId: store.customerId,
    orgUnitPath: store.orgUnits.get(user.orgUnitId)?.path ?? '/',
    isMailboxSetup: true,
    isEnrolledIn2Sv: false,
    isEnforcedIn2Sv: false,
    includeInGlobalAddressList: true,
  }
  if (user.suspensionReason) resource.suspensionReason = user.suspensionReason
  if (user.aliases.length > 0) resource.aliases = [...user.aliases]
  if (user.organizations?.length) resource.organizations = user.organizations
  if (user.relations?.length) resource.relations = user.relations
  if (user.externalIds?.length) resource.externalIds = user.externalIds
  if (user.deletionTime) resource.deletionTime = user.deletionTime
  return withEtag(resource)
}

export function orgUnitView(store: WorkspaceStore, unit: StoredOrgUnit): GoogleOrgUnit {
  const view: GoogleOrgUnit = { orgUnitId: unit.id, name: unit.name, orgUnitPath: unit.path }
  const parent = unit.parentId === null ? undefined : store.orgUnits.get(unit.parentId)
  if (parent) {
    view.parentOrgUnitId = parent.id
    view.parentOrgUnitPath = parent.path
  }
  if (unit.description !== undefined) view.description = unit.description
  return view
}

export function orgUnitResource(store: WorkspaceStore, unit: StoredOrgUnit): Record<string, unknown> {
  return withEtag({ kind: 'admin#directory#orgUnit', ...orgUnitView(store, unit) })
}

export function groupView(group: StoredGroup): GoogleGroup {
  const members: GoogleMember[] = [...group.members].map(([id, m]) => ({ id, role: m.role, type: m.type }))
  return { id: group.id, email: group.email, name: group.name, description: group.description, members }
}

export function groupResource(group: StoredGroup): Record<string, unknown> {
  let direct = 0
  for (const m of group.members.values()) if (m.type === 'USER') direct++
  return withEtag({
    kind: 'admin#directory#group',
    id: group.id,
    email: group.email,
    name: group.name,
    // A string in the API (int64 in the discovery document), not a number.
    directMembersCount: String(direct),
    description: group.description,
    adminCreated: true,
  })
}

/** null when the member no longer resolves (deleted since the page's snapshot was taken). */
export function memberResource(
  store: WorkspaceStore,
  memberId: string,
  role: string,
  type: string,
): Record<string, unknown> | null {
  if (type === 'CUSTOMER') {
    return withEtag({ kind: 'admin#directory#member', id: memberId, role, type, status: 'ACTIVE' })
  }
  if (type === 'GROUP') {
    const group = store.groups.get(memberId)
    if (!group) return null
    return withEtag({
      kind: 'admin#directory#member',
      id: memberId,
      email: group.email,
      role,
      type,
      status: 'ACTIVE',
    })
  }
  const user = store.users.get(memberId)
  if (!user) return null
  const status = user.suspended ? 'SUSPENDED' : 'ACTIVE'
  return withEtag({
    kind: 'admin#directory#member',
    id: memberId,
    email: user.primaryEmail,
    role,
    type,
    status,
  })
}
