import { randomUUID } from 'node:crypto'
import {
  USER_PROPERTIES,
  type GraphGroup,
  type GraphUser,
  type SeededOrg,
  type UserProperty,
} from './graph-model'

/**
 * The fake tenant's users and groups plus an append-only change log. Every mutation appends entries with
 * the next sequence number; delta rounds are answered from the log (what changed after a token's
 * sequence) and the objects' current state. Sequence n is `log[n - 1]`, so a window is a slice.
 */

export interface UserRecord {
  data: GraphUser
  /** Sequence of the entry that created it; an initial round with snapshot s lists objects created ≤ s. */
  createdSeq: number
  softDeleted: boolean
}

export interface GroupRecord {
  id: string
  displayName: string
  description?: string | null
  /** Insertion-ordered, so member paging within a round is stable. */
  members: Set<string>
  createdSeq: number
}

type Seq = { seq: number }
export type ChangeEntry = Seq &
  (
    | { entity: 'user'; id: string; op: 'created' | 'restored' | 'softDeleted' | 'hardDeleted' }
    | { entity: 'user'; id: string; op: 'updated'; props: UserProperty[] }
    | { entity: 'user'; id: string; op: 'manager'; previous: string | null }
    | { entity: 'group'; id: string; op: 'created' | 'deleted' }
    | { entity: 'group'; id: string; op: 'updated'; props: ('displayName' | 'description')[] }
    | { entity: 'group'; id: string; op: 'members'; added: string[]; removed: string[] }
    | { entity: 'seed'; userIds: string[]; groupIds: string[] }
  )

type NewEntry = ChangeEntry extends infer E ? (E extends Seq ? Omit<E, 'seq'> : never) : never

export class DirectoryState {
  readonly users = new Map<string, UserRecord>()
  readonly groups = new Map<string, GroupRecord>()
  /** Ids in creation order, never shrunk (gone ids are skipped when read), so positions stay valid. */
  readonly userOrder: string[] = []
  readonly groupOrder: string[] = []
  readonly log: ChangeEntry[] = []

  get seq(): number {
    return this.log.length
  }

  /** Entries with from < seq ≤ to. */
  window(from: number, to: number): ChangeEntry[] {
    return this.log.slice(from, to)
  }

  addUser(u: Partial<GraphUser> & { userPrincipalName: string }): GraphUser {
    const id = u.id ?? randomUUID()
    if (this.users.has(id)) throw new Error(`addUser: a user with id ${id} already exists`)
    if (u.managerId) this.requireActiveUser(u.managerId, `addUser(${u.userPrincipalName}) manager`)
    const data: GraphUser = { accountEnabled: true, ...u, id }
    const seq = this.append({ entity: 'user', id, op: 'created' })
    this.users.set(id, { data, createdSeq: seq, softDeleted: false })
    this.userOrder.push(id)
    return { ...data }
  }

  updateUser(id: string, patch: Partial<GraphUser>): void {
    const record = this.requireActiveUser(id, 'updateUser')
    if (patch.id !== undefined && patch.id !== id) throw new Error(`updateUser(${id}): id cannot change`)
    const changed: UserProperty[] = []
    for (const prop of USER_PROPERTIES) {
      if (!(prop in patch)) continue
      const value = patch[prop]
      if (record.data[prop] === value) continue
      ;(record.data as unknown as Record<string, unknown>)[prop] = value
      changed.push(prop)
    }
    if (changed.length > 0) this.append({ entity: 'user', id, op: 'updated', props: changed })
    if ('managerId' in patch) this.setManager(id, patch.managerId ?? null)
  }

  setManager(userId: string, managerId: string | null): void {
    const record = this.requireActiveUser(userId, 'setManager')
    const previous = record.data.managerId ?? null
    if (previous === managerId) return
    if (managerId !== null) {
      this.requireActiveUser(managerId, `setManager(${userId}) manager`)
      for (let m: string | null | undefined = managerId; m; m = this.users.get(m)?.data.managerId) {
        if (m === userId) throw new Error(`setManager(${userId}, ${managerId}) would make a management cycle`)
      }
    }
    record.data.managerId = managerId
    this.append({ entity: 'user', id: userId, op: 'manager', previous })
  }

  softDeleteUser(id: string): void {
    this.requireActiveUser(id, 'softDeleteUser').softDeleted = true
    this.append({ entity: 'user', id, op: 'softDeleted' })
  }

  restoreUser(id: string): void {
    const record = this.users.get(id)
    if (!record?.softDeleted) throw new Error(`restoreUser: ${id} is not a soft-deleted user`)
    record.softDeleted = false
    this.append({ entity: 'user', id, op: 'restored' })
  }

  /**
   * Permanent deletion (from deleted items or directly). Like Entra, it also removes the user from every
   * group (group delta reports those members as removed) and from its reports' manager reference.
   */
  hardDeleteUser(id: string): void {
    if (!this.users.has(id)) throw new Error(`hardDeleteUser: no user ${id}`)
    this.users.delete(id)
    this.append({ entity: 'user', id, op: 'hardDeleted' })
    for (const group of this.groups.values()) {
      if (group.members.delete(id))
        this.append({ entity: 'group', id: group.id, op: 'members', added: [], removed: [id] })
    }
    for (const record of this.users.values()) {
      if (record.data.managerId === id) {
        record.data.managerId = null
        this.append({ entity: 'user', id: record.data.id, op: 'manager', previous: id })
      }
    }
  }

  addGroup(g: { displayName: string; description?: string; memberIds?: string[]; id?: string }): GraphGroup {
    const id = g.id ?? randomUUID()
    if (this.groups.has(id)) throw new Error(`addGroup: a group with id ${id} already exists`)
    const memberIds = g.memberIds ?? []
    for (const m of memberIds) this.requireUser(m, `addGroup(${g.displayName}) member`)
    const seq = this.append({ entity: 'group', id, op: 'created' })
    const record: GroupRecord = {
      id,
      displayName: g.displayName,
      description: g.description,
      members: new Set(memberIds),
      createdSeq: seq,
    }
    this.groups.set(id, record)
    this.groupOrder.push(id)
    return groupView(record)
  }

  updateGroup(id: string, patch: { displayName?: string; description?: string | null }): void {
    const group = this.requireGroup(id, 'updateGroup')
    const props: ('displayName' | 'description')[] = []
    if (patch.displayName !== undefined && patch.displayName !== group.displayName) {
      group.displayName = patch.displayName
      props.push('displayName')
    }
    if ('description' in patch && patch.description !== group.description) {
      group.description = patch.description
      props.push('description')
    }
    if (props.length > 0) this.append({ entity: 'group', id, op: 'updated', props })
  }

  addMembers(groupId: string, userIds: string[]): void {
    const group = this.requireGroup(groupId, 'addMembers')
    for (const u of userIds) this.requireUser(u, `addMembers(${groupId})`)
    const added = userIds.filter((u) => !group.members.has(u))
    for (const u of added) group.members.add(u)
    if (added.length > 0) this.append({ entity: 'group', id: groupId, op: 'members', added, removed: [] })
  }

  removeMembers(groupId: string, userIds: string[]): void {
    const group = this.requireGroup(groupId, 'removeMembers')
    const removed = userIds.filter((u) => group.members.delete(u))
    if (removed.length > 0) this.append({ entity: 'group', id: groupId, op: 'members', added: [], removed })
  }

  deleteGroup(id: string): void {
    this.requireGroup(id, 'deleteGroup')
    this.groups.delete(id)
    this.append({ entity: 'group', id, op: 'deleted' })
  }

  /**
   * Bulk load. One log entry stands for the whole batch, so loading 100k users costs no per-object log
   * entries; a delta round spanning it reports every loaded object as created.
   */
  seed(org: SeededOrg): void {
    const seq = this.seq + 1
    for (const u of org.users) {
      if (this.users.has(u.id)) throw new Error(`seed: a user with id ${u.id} already exists`)
      this.users.set(u.id, { data: { accountEnabled: true, ...u }, createdSeq: seq, softDeleted: false })
      this.userOrder.push(u.id)
    }
    for (const u of org.users) {
      if (u.managerId && !this.users.has(u.managerId)) {
        throw new Error(`seed: user ${u.id} names manager ${u.managerId}, which is not in the directory`)
      }
    }
    for (const g of org.groups) {
      if (this.groups.has(g.id)) throw new Error(`seed: a group with id ${g.id} already exists`)
      for (const m of g.memberIds) this.requireUser(m, `seed group ${g.displayName} member`)
      this.groups.set(g.id, {
        id: g.id,
        displayName: g.displayName,
        description: g.description,
        members: new Set(g.memberIds),
        createdSeq: seq,
      })
      this.groupOrder.push(g.id)
    }
    this.append({
      entity: 'seed',
      userIds: org.users.map((u) => u.id),
      groupIds: org.groups.map((g) => g.id),
    })
  }

  getUser(id: string): GraphUser | undefined {
    const record = this.users.get(id)
    return record ? { ...record.data } : undefined
  }

  getGroup(id: string): GraphGroup | undefined {
    const record = this.groups.get(id)
    return record ? groupView(record) : undefined
  }

  private append(entry: NewEntry): number {
    const seq = this.log.length + 1
    this.log.push({ ...entry, seq } as ChangeEntry)
    return seq
  }

  private requireUser(id: string, what: string): UserRecord {
    const record = this.users.get(id)
    if (!record) throw new Error(`${what}: no user ${id}`)
    return record
  }

  private requireActiveUser(id: string, what: string): UserRecord {
    const record = this.requireUser(id, what)
    if (record.softDeleted) throw new Error(`${what}: user ${id} is soft-deleted`)
    return record
  }

  private requireGroup(id: string, what: string): GroupRecord {
    const record = this.groups.get(id)
    if (!record) throw new Error(`${what}: no group ${id}`)
    return record
  }
}

function groupView(record: GroupRecord): GraphGroup {
  return {
    id: record.id,
    displayName: record.displayName,
    description: record.description,
    memberIds: [...record.members],
  }
}
