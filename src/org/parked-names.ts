import { escapeSegment } from '../department-path'
import type { WriteContext } from './write-context'

/**
 * Rows "parked" for the rest of one transaction: moved out of the way of a unique index under a
 * temporary name, so that changes which only fit together as a whole — sibling departments swapping
 * names or places, identities swapping user names — never break the index at any single step.
 *
 * A temporary name starts with a control character, which every name a source or an admin sends is
 * refused (write-context's cleanText), and carries the row's own id: it cannot collide with anything.
 * What the row is really called meanwhile is kept here, per transaction, so that audit events and
 * error messages never show a temporary name; the transaction gives every parked row its real name
 * back before it commits.
 */
const MARK = '\u0001'
const PREFIX = `${MARK}parked:`
// eslint-disable-next-line no-control-regex
const PARKED_SEGMENT = /\u0001parked:([0-9a-f-]{36})/g

export function parkedName(id: string): string {
  return `${PREFIX}${id}`
}

export interface Parking {
  /** Parked departments: id → the name it has meanwhile (its last rename in this transaction, else its own). */
  readonly departments: Map<string, string>
  /** Parked identities: id → its user name when it was parked. */
  readonly identities: Map<string, string>
}

const parkings = new WeakMap<WriteContext, Parking>()

/** This transaction's parked rows, made on first use. */
export function parking(ctx: WriteContext): Parking {
  let p = parkings.get(ctx)
  if (!p) {
    p = { departments: new Map(), identities: new Map() }
    parkings.set(ctx, p)
  }
  return p
}

/** This transaction's parked rows, if it parked any (the common case pays one map lookup). */
export function parkingIfAny(ctx: WriteContext): Parking | undefined {
  return parkings.get(ctx)
}

/** A department path as it reads with every parked department under the name it has meanwhile. */
export function displayPath(ctx: WriteContext, path: string): string {
  if (!path.includes(MARK)) return path
  const parked = parkings.get(ctx)?.departments
  return path.replace(PARKED_SEGMENT, (whole, id: string) => {
    const name = parked?.get(id)
    return name === undefined ? whole : escapeSegment(name)
  })
}
