import { sql, type Kysely } from 'kysely'
import type { DB } from '../db/schema'
import { checkLimit, decodeCursor, encodeCursor } from './cursor'
import { toDepartment, type Department } from './records'
import { prefixPattern } from './subtree'
import { isUuid } from './write-context'

export interface DepartmentListing extends Department {
  /** People in this department itself (not its subtree), deprovisioned ones excluded. */
  memberCount: number
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

/** The department tree as a flat list in path order, one page at a time. */
export async function listDepartments(
  db: Kysely<DB>,
  options: { limit: number; cursor?: string; withinIdPaths?: readonly string[] },
): Promise<Page<DepartmentListing>> {
  checkLimit(options.limit)
  const prefixes = options.withinIdPaths
  if (prefixes && prefixes.length === 0) return { items: [], nextCursor: null }
  let query = db
    .selectFrom('departments as d')
    .selectAll('d')
    .select((eb) =>
      eb
        .selectFrom('people as p')
        .select(eb.fn.countAll<number>().as('n'))
        .whereRef('p.department_id', '=', 'd.id')
        .where('p.status', '<>', 'deprovisioned')
        .as('member_count'),
    )
    .orderBy('d.path')
    .orderBy('d.id')
    .limit(options.limit + 1)
  if (prefixes)
    query = query.where((eb) => eb.or(prefixes.map((p) => eb('d.id_path', 'like', prefixPattern(p)))))
  if (options.cursor) {
    const { key, id } = decodeCursor(options.cursor)
    query = query.where(sql<boolean>`(d.path, d.id) > (${key}, ${id}::uuid)`)
  }
  const rows = await query.execute()
  const page = rows.slice(0, options.limit)
  const last = page[page.length - 1]
  return {
    items: page.map((r) => ({ ...toDepartment(r), memberCount: Number(r.member_count ?? 0) })),
    nextCursor: rows.length > options.limit && last ? encodeCursor(last.path, last.id) : null,
  }
}

export async function getDepartment(db: Kysely<DB>, id: string): Promise<Department | undefined> {
  if (!isUuid(id)) return undefined
  const row = await db.selectFrom('departments').selectAll().where('id', '=', id).executeTakeFirst()
  return row ? toDepartment(row) : undefined
}
