import type { ChangePage, RemoteDepartment, RemoteGroup, RemoteUser } from './connector'

/** A user's net change in one round. */
export type UserChange =
  | { kind: 'whole'; user: RemoteUser }
  | { kind: 'partial'; user: Partial<RemoteUser> & { externalId: string } }
  | { kind: 'removed'; deleted: boolean }

/** A group's net change in one round: `whole` replaces its members; otherwise the deltas apply. */
export interface GroupChange {
  whole?: RemoteGroup
  displayName?: string
  description?: string | null
  added: Set<string>
  removed: Set<string>
  deleted: boolean
}

/**
 * One incremental round folded to its net effect per object: sources repeat objects and send them
 * out of order within a round (Graph does both), and the last word on each wins, partial records
 * merging into what came before. Memory is bounded by the number of objects that changed.
 */
export class ChangeRound {
  readonly users = new Map<string, UserChange>()
  readonly departments = new Map<string, RemoteDepartment | null>()
  readonly groups = new Map<string, GroupChange>()
  deltaToken: string | undefined
  reported = 0
  /** Every user the source has, when the round lists them (user.roster). */
  roster: Set<string> | undefined

  add(page: ChangePage): void {
    for (const c of page.changes) {
      this.reported++
      switch (c.kind) {
        case 'user':
          this.users.delete(c.user.externalId) // re-inserted last: a later report comes later
          this.users.set(c.user.externalId, { kind: 'whole', user: c.user })
          break
        case 'user.partial': {
          const before = this.users.get(c.user.externalId)
          const defined = Object.fromEntries(Object.entries(c.user).filter(([, v]) => v !== undefined))
          this.users.delete(c.user.externalId)
          if (before?.kind === 'whole')
            this.users.set(c.user.externalId, { kind: 'whole', user: { ...before.user, ...defined } })
          else if (before?.kind === 'partial')
            this.users.set(c.user.externalId, {
              kind: 'partial',
              user: { ...before.user, ...defined, externalId: c.user.externalId },
            })
          else this.users.set(c.user.externalId, { kind: 'partial', user: c.user })
          break
        }
        case 'user.removed': {
          const before = this.users.get(c.externalId)
          const deleted = c.deleted || (before?.kind === 'removed' && before.deleted)
          this.users.delete(c.externalId)
          this.users.set(c.externalId, { kind: 'removed', deleted })
          break
        }
        case 'department':
          this.departments.set(c.department.externalId, c.department)
          break
        case 'department.removed':
          this.departments.set(c.externalId, null)
          break
        case 'group':
          this.groups.set(c.group.externalId, {
            whole: c.group,
            added: new Set(),
            removed: new Set(),
            deleted: false,
          })
          break
        case 'group.delta': {
          const g = this.group(c.externalId)
          g.deleted = false
          if (c.displayName !== undefined) g.displayName = c.displayName
          if (c.description !== undefined) g.description = c.description
          for (const m of c.added) {
            g.removed.delete(m)
            g.added.add(m)
          }
          for (const m of c.removed) {
            g.added.delete(m)
            g.removed.add(m)
          }
          break
        }
        case 'group.removed':
          this.groups.set(c.externalId, { added: new Set(), removed: new Set(), deleted: true })
          break
        case 'user.roster':
          this.roster ??= new Set()
          for (const id of c.externalIds) this.roster.add(id)
          break
      }
    }
    if (page.deltaToken !== undefined) this.deltaToken = page.deltaToken
  }

  private group(externalId: string): GroupChange {
    let g = this.groups.get(externalId)
    if (!g) {
      g = { added: new Set(), removed: new Set(), deleted: false }
      this.groups.set(externalId, g)
    }
    return g
  }
}
