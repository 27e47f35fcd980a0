import { randomInt } from 'node:crypto'
import {
  type GoogleExternalId,
  type GoogleMemberRole,
  type GoogleMemberType,
  type GoogleOrganization,
  type GoogleRelation,
  type GoogleUserInput,
  type MemberInput,
} from './google-types'

export interface StoredUser {
  id: string
  primaryEmail: string
  givenName: string
  familyName: string
  fullName: string
  suspended: boolean
  suspensionReason?: string
  archived: boolean
  /** Users point at the unit by id so that renaming or moving a unit moves its people's paths too. */
  orgUnitId: string
  organizations?: GoogleOrganization[]
  relations?: GoogleRelation[]
  externalIds?: GoogleExternalId[]
  aliases: string[]
  creationTime: string
  lastLoginTime?: string
  deletionTime?: string
}

export interface StoredOrgUnit {
  id: string
  name: string
  parentId: string | null
  /** Derived from the parent chain; kept current by rename and move. */
  path: string
  description?: string
  children: Set<string>
}

export interface StoredMember {
  role: GoogleMemberRole
  type: GoogleMemberType
}

export interface StoredGroup {
  id: string
  email: string
  name: string
  description: string
  /** Keyed by member id, in the order members were added. */
  members: Map<string, StoredMember>
}

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz'

function randomBase36(length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += BASE36[randomInt(0, 36)]
  return out
}

/** Numeric, 21 digits, like Google's user ids ("105250506097979753968"). */
export function newUserId(): string {
  let out = '1'
  while (out.length < 21) out += String(randomInt(0, 10))
  return out
}

export const newGroupId = (): string => `0${randomBase36(14)}`
export const newOrgUnitId = (): string => `id:03ph8a2z${randomBase36(7)}`
export const newCustomerId = (): string => `C0${randomBase36(7)}`

function splitPath(path: string): string[] {
  return path.split('/').filter(Boolean)
}

function normalisePath(path: string): string {
  return `/${splitPath(path).join('/')}`
}

export class StoreError extends Error {}

/** The Workspace's directory state: users, org units, groups. Knows nothing of HTTP. */
export class WorkspaceStore {
  readonly users = new Map<string, StoredUser>()
  readonly deletedUsers = new Map<string, StoredUser>()
  readonly orgUnits = new Map<string, StoredOrgUnit>()
  readonly groups = new Map<string, StoredGroup>()
  readonly rootOrgUnit: StoredOrgUnit
  private readonly userIdByEmail = new Map<string, string>()
  private readonly orgUnitIdByPath = new Map<string, string>()
  private readonly groupIdByEmail = new Map<string, string>()

  constructor(readonly customerId: string) {
    this.rootOrgUnit = { id: newOrgUnitId(), name: '', parentId: null, path: '/', children: new Set() }
    this.indexOrgUnit(this.rootOrgUnit)
  }

  // ---- org units ----

  orgUnitByPath(path: string): StoredOrgUnit | undefined {
    const id = this.orgUnitIdByPath.get(normalisePath(path).toLowerCase())
    return id === undefined ? undefined : this.orgUnits.get(id)
  }

  /** Accepts a path ("/Sales/EMEA", "Sales/EMEA") or an id ("id:03ph…"), as the API does. */
  orgUnitByKey(key: string): StoredOrgUnit | undefined {
    return key.startsWith('id:') ? this.orgUnits.get(key) : this.orgUnitByPath(key)
  }

  /** Creates the unit and any missing parents; returns the existing unit when the path exists. */
  addOrgUnit(path: string, description?: string): StoredOrgUnit {
    let parent = this.rootOrgUnit
    for (const name of splitPath(path)) {
      const childPath = parent.path === '/' ? `/${name}` : `${parent.path}/${name}`
      let child = this.orgUnitByPath(childPath)
      if (!child) {
        child = { id: newOrgUnitId(), name, parentId: parent.id, path: childPath, children: new Set() }
        parent.children.add(child.id)
        this.indexOrgUnit(child)
      }
      parent = child
    }
    if (description !== undefined && parent !== this.rootOrgUnit) parent.description = description
    return parent
  }

  /** Bulk seeding hits the exact-path index first; normalising every user's path was the load's hot spot. */
  private orgUnitIdFor(path: string): string {
    return this.orgUnitIdByPath.get(path.toLowerCase()) ?? this.addOrgUnit(path).id
  }

  renameOrgUnit(path: string, newName: string): StoredOrgUnit {
    const unit = this.requireOrgUnit(path)
    if (unit === this.rootOrgUnit) throw new StoreError('the root org unit cannot be renamed')
    const parent = this.requireParent(unit)
    this.assertFreeChildName(parent, newName)
    unit.name = newName
    this.repath(unit)
    return unit
  }

  moveOrgUnit(path: string, newParentPath: string): StoredOrgUnit {
    const unit = this.requireOrgUnit(path)
    const newParent = this.requireOrgUnit(newParentPath)
    for (
      let p: StoredOrgUnit | undefined = newParent;
      p;
      p = p.parentId ? this.orgUnits.get(p.parentId) : undefined
    ) {
      if (p === unit) throw new StoreError(`cannot move ${unit.path} under itself`)
    }
    this.assertFreeChildName(newParent, unit.name)
    this.requireParent(unit).children.delete(unit.id)
    newParent.children.add(unit.id)
    unit.parentId = newParent.id
    this.repath(unit)
    return unit
  }

  /** Google refuses to delete a unit that still holds users or child units; so does the fake. */
  deleteOrgUnit(path: string): void {
    const unit = this.requireOrgUnit(path)
    if (unit === this.rootOrgUnit) throw new StoreError('the root org unit cannot be deleted')
    if (unit.children.size > 0) throw new StoreError(`${unit.path} has child org units`)
    for (const user of this.users.values()) {
      if (user.orgUnitId === unit.id) throw new StoreError(`${unit.path} still holds users`)
    }
    this.requireParent(unit).children.delete(unit.id)
    this.orgUnits.delete(unit.id)
    this.orgUnitIdByPath.delete(unit.path.toLowerCase())
  }

  /** Depth-first, parents before children; excludes `from` itself. */
  descendants(from: StoredOrgUnit): StoredOrgUnit[] {
    const out: StoredOrgUnit[] = []
    const visit = (unit: StoredOrgUnit): void => {
      for (const childId of unit.children) {
        const child = this.orgUnits.get(childId)
        if (!child) continue
        out.push(child)
        visit(child)
      }
    }
    visit(from)
    return out
  }

  private indexOrgUnit(unit: StoredOrgUnit): void {
    this.orgUnits.set(unit.id, unit)
    this.orgUnitIdByPath.set(unit.path.toLowerCase(), unit.id)
  }

  private repath(unit: StoredOrgUnit): void {
    for (const u of [unit, ...this.descendants(unit)]) {
      this.orgUnitIdByPath.delete(u.path.toLowerCase())
      const parent = this.requireParent(u)
      u.path = parent.path === '/' ? `/${u.name}` : `${parent.path}/${u.name}`
      this.orgUnitIdByPath.set(u.path.toLowerCase(), u.id)
    }
  }

  private requireOrgUnit(key: string): StoredOrgUnit {
    const unit = this.orgUnitByKey(key)
    if (!unit) throw new StoreError(`no org unit ${key}`)
    return unit
  }

  private requireParent(unit: StoredOrgUnit): StoredOrgUnit {
    const parent = unit.parentId === null ? undefined : this.orgUnits.get(unit.parentId)
    if (!parent) throw new StoreError(`${unit.path} has no parent`)
    return parent
  }

  private assertFreeChildName(parent: StoredOrgUnit, name: string): void {
    for (const id of parent.children) {
      if (this.orgUnits.get(id)?.name.toLowerCase() === name.toLowerCase()) {
        throw new StoreError(`${parent.path} already has a child named ${name}`)
      }
    }
  }

  // ---- users ----

  userByKey(key: string): StoredUser | undefined {
    const byId = this.users.get(key)
    if (byId) return byId
    const id = this.userIdByEmail.get(key.toLowerCase())
    return id === undefined ? undefined : this.users.get(id)
  }

  addUser(input: GoogleUserInput, now: Date): StoredUser {
    const email = input.primaryEmail.toLowerCase()
    if (this.userIdByEmail.has(email) || this.groupIdByEmail.has(email)) {
      throw new StoreError(`${input.primaryEmail} is already taken`)
    }
    const id = input.id ?? newUserId()
    if (this.users.has(id)) throw new StoreError(`user id ${id} is already taken`)
    const local = email.split('@')[0] ?? email
    const givenName = input.name?.givenName ?? local
    const familyName = input.name?.familyName ?? ''
    const user: StoredUser = {
      id,
      primaryEmail: input.primaryEmail,
      givenName,
      familyName,
      fullName: input.name?.fullName ?? [givenName, familyName].filter(Boolean).join(' '),
      suspended: input.suspended ?? false,
      archived: input.archived ?? false,
      orgUnitId: this.orgUnitIdFor(input.orgUnitPath ?? '/'),
      aliases: [...(input.aliases ?? [])],
      creationTime: input.creationTime ?? now.toISOString(),
    }
    if (user.suspended) user.suspensionReason = input.suspensionReason ?? 'ADMIN'
    if (input.organizations) user.organizations = input.organizations.map((o) => ({ ...o }))
    if (input.relations) user.relations = input.relations.map((r) => ({ ...r }))
    if (input.externalIds) user.externalIds = input.externalIds.map((e) => ({ ...e }))
    if (input.lastLoginTime) user.lastLoginTime = input.lastLoginTime
    this.users.set(id, user)
    for (const address of [user.primaryEmail, ...user.aliases])
      this.userIdByEmail.set(address.toLowerCase(), id)
    return user
  }

  updateUser(key: string, patch: Omit<Partial<GoogleUserInput>, 'id' | 'isAdmin'>): StoredUser {
    const user = this.userByKey(key)
    if (!user) throw new StoreError(`no user ${key}`)
    if (
      patch.primaryEmail !== undefined &&
      patch.primaryEmail.toLowerCase() !== user.primaryEmail.toLowerCase()
    ) {
      const next = patch.primaryEmail.toLowerCase()
      const holder = this.userIdByEmail.get(next)
      if ((holder !== undefined && holder !== user.id) || this.groupIdByEmail.has(next)) {
        throw new StoreError(`${patch.primaryEmail} is already taken`)
      }
      // Renaming keeps the old address working as an alias, as Google does.
      user.aliases.push(user.primaryEmail)
      user.aliases = user.aliases.filter((a) => a.toLowerCase() !== next)
      user.primaryEmail = patch.primaryEmail
      this.userIdByEmail.set(next, user.id)
    } else if (patch.primaryEmail !== undefined) {
      user.primaryEmail = patch.primaryEmail
    }
    if (patch.name) {
      user.givenName = patch.name.givenName ?? user.givenName
      user.familyName = patch.name.familyName ?? user.familyName
      user.fullName = patch.name.fullName ?? [user.givenName, user.familyName].filter(Boolean).join(' ')
    }
    if (patch.suspended !== undefined) {
      user.suspended = patch.suspended
      if (patch.suspended) user.suspensionReason = patch.suspensionReason ?? user.suspensionReason ?? 'ADMIN'
      else delete user.suspensionReason
    }
    if (patch.archived !== undefined) user.archived = patch.archived
    if (patch.orgUnitPath !== undefined) user.orgUnitId = this.addOrgUnit(patch.orgUnitPath).id
    if (patch.organizations !== undefined) user.organizations = patch.organizations.map((o) => ({ ...o }))
    if (patch.relations !== undefined) user.relations = patch.relations.map((r) => ({ ...r }))
    if (patch.externalIds !== undefined) user.externalIds = patch.externalIds.map((e) => ({ ...e }))
    if (patch.lastLoginTime !== undefined) user.lastLoginTime = patch.lastLoginTime
    return user
  }

  /** Deleted users leave every group (Google removes them) and remain listable with showDeleted=true. */
  deleteUser(key: string, now: Date): StoredUser {
    const user = this.userByKey(key)
    if (!user) throw new StoreError(`no user ${key}`)
    this.users.delete(user.id)
    for (const address of [user.primaryEmail, ...user.aliases])
      this.userIdByEmail.delete(address.toLowerCase())
    for (const group of this.groups.values()) group.members.delete(user.id)
    user.deletionTime = now.toISOString()
    this.deletedUsers.set(user.id, user)
    return user
  }

  // ---- groups ----

  groupByKey(key: string): StoredGroup | undefined {
    const byId = this.groups.get(key)
    if (byId) return byId
    const id = this.groupIdByEmail.get(key.toLowerCase())
    return id === undefined ? undefined : this.groups.get(id)
  }

  addGroup(input: { id?: string; email: string; name: string; description?: string }): StoredGroup {
    const email = input.email.toLowerCase()
    if (this.groupIdByEmail.has(email) || this.userIdByEmail.has(email)) {
      throw new StoreError(`${input.email} is already taken`)
    }
    const group: StoredGroup = {
      id: input.id ?? newGroupId(),
      email: input.email,
      name: input.name,
      description: input.description ?? '',
      members: new Map(),
    }
    if (this.groups.has(group.id)) throw new StoreError(`group id ${group.id} is already taken`)
    this.groups.set(group.id, group)
    this.groupIdByEmail.set(email, group.id)
    return group
  }

  addMembers(groupKey: string, members: MemberInput[]): StoredGroup {
    const group = this.requireGroup(groupKey)
    for (const m of members) {
      const { id: key, role = 'MEMBER' } = typeof m === 'string' ? { id: m } : m
      const resolved = this.resolveMember(key)
      if (resolved.type === 'GROUP' && this.reaches(resolved.id, group.id)) {
        throw new StoreError(`adding ${key} to ${group.email} would make a membership cycle`)
      }
      group.members.set(resolved.id, { role, type: resolved.type })
    }
    return group
  }

  removeMembers(groupKey: string, memberKeys: string[]): StoredGroup {
    const group = this.requireGroup(groupKey)
    for (const key of memberKeys) {
      const id = this.userByKey(key)?.id ?? this.groupByKey(key)?.id ?? key
      group.members.delete(id)
    }
    return group
  }

  deleteGroup(groupKey: string): void {
    const group = this.requireGroup(groupKey)
    this.groups.delete(group.id)
    this.groupIdByEmail.delete(group.email.toLowerCase())
    for (const other of this.groups.values()) other.members.delete(group.id)
  }

  private requireGroup(key: string): StoredGroup {
    const group = this.groupByKey(key)
    if (!group) throw new StoreError(`no group ${key}`)
    return group
  }

  private resolveMember(key: string): { id: string; type: GoogleMemberType } {
    if (key === this.customerId) return { id: key, type: 'CUSTOMER' }
    const user = this.userByKey(key)
    if (user) return { id: user.id, type: 'USER' }
    const group = this.groupByKey(key)
    if (group) return { id: group.id, type: 'GROUP' }
    throw new StoreError(`no user or group ${key}`)
  }

  /** Whether group `fromId` contains `targetId`, directly or through nested groups. */
  private reaches(fromId: string, targetId: string): boolean {
    if (fromId === targetId) return true
    const seen = new Set<string>()
    const stack = [fromId]
    while (stack.length > 0) {
      const id = stack.pop() as string
      if (id === targetId) return true
      if (seen.has(id)) continue
      seen.add(id)
      for (const [memberId, m] of this.groups.get(id)?.members ?? [])
        if (m.type === 'GROUP') stack.push(memberId)
    }
    return false
  }
}
