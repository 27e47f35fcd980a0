import { sql, type RawBuilder } from 'kysely'
import type { ListParams } from './list-params'
import { badRequest } from './scim-error'

/** One page of a listing and the number of all matches. */
export interface Listing<T> {
  total: number
  rows: T[]
}

/**
 * The ORDER BY term of `sortBy` (ties are broken by id, by the caller), from a resource type's
 * sortable attributes keyed by lower-cased name; undefined without sortBy.
 */
export function sortOrder(
  sorts: Readonly<Record<string, RawBuilder<unknown>>>,
  params: Pick<ListParams, 'sortBy' | 'descending'>,
): RawBuilder<unknown> | undefined {
  if (!params.sortBy) return undefined
  const expr = sorts[params.sortBy.toLowerCase()]
  if (!expr)
    throw badRequest(
      'invalidValue',
      `sortBy ${JSON.stringify(params.sortBy)} is not supported; sort by one of: ${Object.keys(sorts).join(', ')}`,
    )
  return sql`${expr} ${sql.raw(params.descending ? 'desc nulls last' : 'asc nulls last')}`
}

/**
 * A page (`rows` reads it, limited and offset by the caller from params) and the total. A first page
 * that is not full holds every match, so the count query is skipped — the common `userName eq` lookup
 * costs one statement.
 */
export async function listing<T>(
  params: Pick<ListParams, 'startIndex' | 'count'>,
  rows: () => Promise<T[]>,
  count: () => Promise<number>,
): Promise<Listing<T>> {
  const page = params.count > 0 ? await rows() : []
  if (params.startIndex === 1 && params.count > 0 && page.length < params.count)
    return { total: page.length, rows: page }
  return { total: await count(), rows: page }
}
