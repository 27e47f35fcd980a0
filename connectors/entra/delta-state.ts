import { ConnectorError } from '../../src/sync/connector'

/**
 * The source's cursor: Graph's deltaLinks for users and groups (both opaque to us; a link is
 * followed as given). Versioned, so a later shape can tell an old cursor and ask for a resync.
 */
export interface DeltaLinks {
  users: string
  groups: string
}

/** Where a round has got to: reading users, then groups (with the users' next deltaLink kept). */
export type RoundPosition = { phase: 'users'; url: string } | { phase: 'groups'; url: string; users: string }

export function encodeLinks(links: DeltaLinks): string {
  return JSON.stringify({ v: 1, ...links })
}

export function decodeLinks(token: string): DeltaLinks {
  try {
    const value = JSON.parse(token) as { v?: unknown; users?: unknown; groups?: unknown }
    if (value.v === 1 && typeof value.users === 'string' && typeof value.groups === 'string')
      return { users: value.users, groups: value.groups }
  } catch {
    // falls through
  }
  throw new ConnectorError('resync-required', 'entra: the saved delta state is not one this version reads')
}

export function encodePosition(p: RoundPosition): string {
  return JSON.stringify(p)
}

export function decodePosition(cursor: string): RoundPosition {
  try {
    const p = JSON.parse(cursor) as RoundPosition
    if ((p.phase === 'users' || p.phase === 'groups') && typeof p.url === 'string') return p
  } catch {
    // falls through
  }
  throw new ConnectorError('permanent', `entra: bad page cursor ${cursor.slice(0, 80)}`)
}
