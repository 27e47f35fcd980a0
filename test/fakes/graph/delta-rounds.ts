import type { PageCursor, ResourceKind } from './delta-tokens'
import type { DirectoryState, GroupRecord } from './directory-state'
import {
  DEFAULT_USER_SELECTION,
  GROUP_PROPERTIES,
  USER_ODATA_TYPE,
  USER_PROPERTIES,
  type GraphUser,
} from './graph-model'

/**
 * Builds the pages of delta rounds, following "Use delta query to track changes in Microsoft Graph data",
 * "user: delta", "group: delta" and "Get incremental changes for groups":
 * - an initial round lists every current object as of a snapshot sequence;
 * - a delta round lists objects changed after the token's sequence, once each: created/restored → full
 *   object; updated → id plus the changed (selected) properties, or every selected property when full
 *   objects are asked for; soft-deleted → `@removed: changed`; permanently deleted → `@removed: deleted`;
 * - relationships travel as `manager@delta` / `members@delta`; a large member list is split over
 *   consecutive pages, repeating the group's properties with each part.
 * Pages are rendered on demand from a cursor, so serving 100k users never materialises more than a page.
 */

type CursorState = Omit<PageCursor, 'serial'>
type Json = Record<string, unknown>
type MemberRef = Json

export interface Selection {
  props: readonly string[]
  /** manager (users) or members (groups) selected */
  relation: boolean
}

export function resolveSelection(kind: ResourceKind, select: string[] | null): Selection {
  if (kind === 'users') {
    if (!select) return { props: DEFAULT_USER_SELECTION, relation: false }
    return { props: USER_PROPERTIES.filter((p) => select.includes(p)), relation: select.includes('manager') }
  }
  if (!select) return { props: GROUP_PROPERTIES, relation: true }
  return { props: GROUP_PROPERTIES.filter((p) => select.includes(p)), relation: select.includes('members') }
}

interface UserChanges {
  life?: 'created' | 'restored' | 'softDeleted' | 'hardDeleted'
  props: Set<string>
  managerTouched: boolean
  /** The manager as of the round's start, reported as removed when the user ends up with none. */
  managerBefore: string | null
}

interface GroupChanges {
  life?: 'created' | 'deleted'
  props: Set<string>
  /** Last membership operation per member within the window. */
  members: Map<string, 'added' | 'removed'>
}

interface ChangeList {
  ids: string[]
  users: Map<string, UserChanges>
  groups: Map<string, GroupChanges>
}

export interface PageOptions {
  /** Only the changed properties of updated objects (the `Prefer: return=minimal` behaviour). */
  minimal: boolean
  /** Start the next page with the last object of this one again (Graph warns replays happen). */
  duplicates: boolean
  membersPerPage: number
}

export interface Page {
  value: Json[]
  /** Where the next page starts, or null when the round is complete (deltaLink time). */
  next: CursorState | null
}

const CACHE_LIMIT = 16

export class DeltaRounds {
  private readonly changeLists = new Map<string, ChangeList>()
  private readonly memberRefs = new Map<string, MemberRef[]>()

  constructor(private readonly state: DirectoryState) {}

  startInitial(kind: ResourceKind, select: string[] | null, pageSize: number, reorder: boolean): CursorState {
    const count = kind === 'users' ? this.state.userOrder.length : this.state.groupOrder.length
    return this.cursor(kind, 'initial', 0, this.state.seq, count, select, pageSize, reorder)
  }

  startDelta(
    kind: ResourceKind,
    from: number,
    select: string[] | null,
    pageSize: number,
    reorder: boolean,
  ): CursorState {
    const to = this.state.seq
    const count = this.changeList(kind, from, to).ids.length
    return this.cursor(kind, 'delta', from, to, count, select, pageSize, reorder)
  }

  page(c: CursorState, options: PageOptions): Page {
    const sel = resolveSelection(c.kind, c.select)
    const value: Json[] = []
    let pos = c.pos
    let memberPos = c.memberPos
    let membersUsed = 0
    let lastStart: { pos: number; memberPos: number } | null = null
    while (pos < c.count && value.length < c.pageSize) {
      const item = this.item(c, this.indexAt(c, pos), sel, options.minimal)
      const refs = item?.refs ?? []
      if (!item || (refs.length > 0 && memberPos >= refs.length)) {
        pos++
        memberPos = 0
        continue
      }
      const room = options.membersPerPage - membersUsed
      if (refs.length > 0 && room <= 0) break
      const chunk = refs.slice(memberPos, memberPos + room)
      value.push(chunk.length > 0 ? { ...item.header, 'members@delta': chunk } : item.header)
      lastStart = { pos, memberPos }
      membersUsed += chunk.length
      if (memberPos + chunk.length < refs.length) {
        // This group filled the page; its remaining members follow on the next one.
        memberPos += chunk.length
        break
      }
      pos++
      memberPos = 0
    }
    if (pos >= c.count) return { value, next: null }
    if (options.duplicates && lastStart && value.length >= 2) return { value, next: { ...c, ...lastStart } }
    return { value, next: { ...c, pos, memberPos } }
  }

  private cursor(
    kind: ResourceKind,
    phase: 'initial' | 'delta',
    from: number,
    to: number,
    count: number,
    select: string[] | null,
    pageSize: number,
    reorder: boolean,
  ): CursorState {
    const c: CursorState = {
      kind,
      type: 'skip',
      phase,
      from,
      to,
      count,
      pos: 0,
      memberPos: 0,
      select,
      pageSize,
    }
    if (reorder && count > 2) c.perm = permutation(count)
    return c
  }

  private indexAt(c: CursorState, pos: number): number {
    if (!c.perm) return pos
    const [a, b, n] = c.perm
    return (a * pos + b) % n
  }

  private item(
    c: CursorState,
    index: number,
    sel: Selection,
    minimal: boolean,
  ): { header: Json; refs?: MemberRef[] } | null {
    if (c.phase === 'initial') {
      if (c.kind === 'users') {
        const record = this.state.users.get(this.state.userOrder[index] ?? '')
        if (!record || record.softDeleted || record.createdSeq > c.to) return null
        return { header: renderUser(record.data, sel.props, sel.relation) }
      }
      const group = this.state.groups.get(this.state.groupOrder[index] ?? '')
      if (!group || group.createdSeq > c.to) return null
      return { header: renderGroup(group, sel.props), refs: sel.relation ? this.allMembers(group, c.to) : [] }
    }
    const list = this.changeList(c.kind, c.from, c.to)
    const id = list.ids[index]
    if (id === undefined) return null
    return c.kind === 'users'
      ? this.changedUser(id, list.users.get(id), sel, minimal)
      : this.changedGroup(id, list.groups.get(id), sel, minimal, c.to)
  }

  private changedUser(
    id: string,
    changes: UserChanges | undefined,
    sel: Selection,
    minimal: boolean,
  ): { header: Json } | null {
    const record = this.state.users.get(id)
    if (!changes || !record || changes.life === 'hardDeleted') return { header: removed(id, 'deleted') }
    if (changes.life === 'softDeleted') return { header: removed(id, 'changed') }
    if (changes.life === 'created' || changes.life === 'restored') {
      return { header: renderUser(record.data, sel.props, sel.relation) }
    }
    const props = sel.props.filter((p) => changes.props.has(p))
    const managerChanged = sel.relation && changes.managerTouched
    // Graph leaves out objects whose only changes are to properties nobody selected.
    if (props.length === 0 && !managerChanged) return null
    const header = minimal
      ? renderUser(record.data, props, false)
      : renderUser(record.data, sel.props, sel.relation)
    const manager = record.data.managerId ?? null
    if (managerChanged && manager) header['manager@delta'] = [{ '@odata.type': USER_ODATA_TYPE, id: manager }]
    if (managerChanged && !manager && changes.managerBefore) {
      header['manager@delta'] = [
        { '@odata.type': USER_ODATA_TYPE, id: changes.managerBefore, '@removed': { reason: 'deleted' } },
      ]
    }
    return { header }
  }

  private changedGroup(
    id: string,
    changes: GroupChanges | undefined,
    sel: Selection,
    minimal: boolean,
    snapshot: number,
  ): { header: Json; refs?: MemberRef[] } | null {
    const group = this.state.groups.get(id)
    if (!changes || !group || changes.life === 'deleted') return { header: removed(id, 'deleted') }
    if (changes.life === 'created') {
      return {
        header: renderGroup(group, sel.props),
        refs: sel.relation ? this.allMembers(group, snapshot) : [],
      }
    }
    const props = sel.props.filter((p) => changes.props.has(p))
    const refs: MemberRef[] = []
    if (sel.relation) {
      for (const [member, op] of changes.members) {
        refs.push(
          op === 'added'
            ? { '@odata.type': USER_ODATA_TYPE, id: member }
            : { '@odata.type': USER_ODATA_TYPE, id: member, '@removed': { reason: 'deleted' } },
        )
      }
    }
    if (props.length === 0 && refs.length === 0) return null
    return { header: renderGroup(group, minimal ? props : sel.props), refs }
  }

  /** Every member, computed once per group and round so paging a huge group is not quadratic. */
  private allMembers(group: GroupRecord, snapshot: number): MemberRef[] {
    const key = `${snapshot}:${group.id}`
    let refs = this.memberRefs.get(key)
    if (!refs) {
      refs = [...group.members].map((id) => ({ '@odata.type': USER_ODATA_TYPE, id }))
      remember(this.memberRefs, key, refs)
    }
    return refs
  }

  /** Which objects changed in (from, to], with what, in order of first change. Cached per window. */
  private changeList(kind: ResourceKind, from: number, to: number): ChangeList {
    const key = `${kind}:${from}:${to}`
    const cached = this.changeLists.get(key)
    if (cached) return cached
    const list: ChangeList = { ids: [], users: new Map(), groups: new Map() }
    const user = (id: string): UserChanges => {
      let c = list.users.get(id)
      if (!c) {
        c = { props: new Set(), managerTouched: false, managerBefore: null }
        list.users.set(id, c)
        list.ids.push(id)
      }
      return c
    }
    const group = (id: string): GroupChanges => {
      let c = list.groups.get(id)
      if (!c) {
        c = { props: new Set(), members: new Map() }
        list.groups.set(id, c)
        list.ids.push(id)
      }
      return c
    }
    for (const e of this.state.window(from, to)) {
      if (e.entity === 'seed') {
        if (kind === 'users') for (const id of e.userIds) user(id).life = 'created'
        else for (const id of e.groupIds) group(id).life = 'created'
      } else if (e.entity === 'user' && kind === 'users') {
        const c = user(e.id)
        if (e.op === 'updated') for (const p of e.props) c.props.add(p)
        else if (e.op === 'manager') {
          if (!c.managerTouched) c.managerBefore = e.previous
          c.managerTouched = true
        } else c.life = e.op
      } else if (e.entity === 'group' && kind === 'groups') {
        const c = group(e.id)
        if (e.op === 'updated') for (const p of e.props) c.props.add(p)
        else if (e.op === 'members') {
          for (const m of e.added) c.members.set(m, 'added')
          for (const m of e.removed) c.members.set(m, 'removed')
        } else c.life = e.op
      }
    }
    remember(this.changeLists, key, list)
    return list
  }
}

function renderUser(data: GraphUser, props: readonly string[], withManager: boolean): Json {
  const out: Json = { id: data.id }
  const source = data as unknown as Record<string, unknown>
  // "If the property has never been set before it will not be included in the response at all."
  for (const p of props) if (source[p] !== undefined) out[p] = source[p]
  if (withManager && data.managerId)
    out['manager@delta'] = [{ '@odata.type': USER_ODATA_TYPE, id: data.managerId }]
  return out
}

function renderGroup(group: GroupRecord, props: readonly string[]): Json {
  const out: Json = { id: group.id }
  const source = group as unknown as Record<string, unknown>
  for (const p of props) if (source[p] !== undefined) out[p] = source[p]
  return out
}

function removed(id: string, reason: 'changed' | 'deleted'): Json {
  return { id, '@removed': { reason } }
}

/** A random bijection p → (a·p + b) mod n; a is coprime with n. */
function permutation(n: number): [number, number, number] {
  let a = 1 + Math.floor(Math.random() * (n - 1))
  while (gcd(a, n) !== 1) a = (a % (n - 1)) + 1
  if (a === 1 && n > 3) a = n - 1 // plain rotation would keep the order; reverse it instead
  return [a, Math.floor(Math.random() * n), n]
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.set(key, value)
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value as string)
}
