import type { Kysely } from 'kysely'
import type { DB } from '../db/schema'

/**
 * The id-path prefixes of departments' subtrees (a department and everything below it), for
 * filters that keep a scoped admin inside their part of the tree. Unknown ids reach nothing.
 */
export async function subtreePrefixes(db: Kysely<DB>, departmentIds: readonly string[]): Promise<string[]> {
  if (departmentIds.length === 0) return []
  const rows = await db
    .selectFrom('departments')
    .select('id_path')
    .where('id', 'in', [...new Set(departmentIds)])
    .execute()
  return rows.map((r) => r.id_path)
}

/** `like` pattern for an id-path prefix: ids and slashes only, so nothing needs escaping. */
export const prefixPattern = (idPath: string): string => `${idPath}%`
