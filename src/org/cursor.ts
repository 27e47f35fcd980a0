import { invalid } from '../errors'
import { isUuid } from './write-context'

/**
 * Opaque keyset cursors: the last row's sort key and id, as base64url JSON. Every listing sorts by
 * (a text key, id), so one shape serves them all.
 */
export function encodeCursor(key: string, id: string): string {
  return Buffer.from(JSON.stringify([key, id]), 'utf8').toString('base64url')
}

export function decodeCursor(cursor: string): { key: string; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(value) && value.length === 2) {
      const [key, id] = value as unknown[]
      // A well-formed cursor with a non-uuid id would otherwise fail in SQL as a database error.
      if (typeof key === 'string' && typeof id === 'string' && isUuid(id)) return { key, id }
    }
  } catch {
    // falls through to the error below
  }
  throw invalid('cursor is not one this server issued (start again without it)')
}

/** Page sizes are the caller's to choose within bounds; outside them is a programming error made visible. */
export function checkLimit(limit: number, max = 5000): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > max)
    throw invalid(`limit must be an integer from 1 to ${max}`)
  return limit
}
