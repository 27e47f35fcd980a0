import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema'
import { subtreePrefixes } from '../../org/subtree'
import type { Reach } from './route-rule'

/**
 * The department subtrees a listing must stay within: undefined when the caller reaches the whole
 * organisation, otherwise the id-path prefixes of their scoped grants (possibly none).
 */
export async function departmentFilter(db: Kysely<DB>, reach: Reach): Promise<string[] | undefined> {
  return reach.all ? undefined : subtreePrefixes(db, reach.departmentIds)
}
