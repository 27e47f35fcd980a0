import { sql, type Kysely } from 'kysely'
import type { DB, PersonStatus } from '../db/schema'
import { notFound } from '../errors'
import { checkLimit, decodeCursor, encodeCursor } from './cursor'
import type { Page } from './department-queries'
import { personColumns, toPerson, type Person } from './records'
import { prefixPattern } from './subtree'
import { isUuid } from './write-context'

export interface PeopleFilter {
  /** Only people in this department's subtree (itself and everything below). */
  departmentId?: string
  status?: PersonStatus
  /** Case-insensitive substring of user name, names, email or employee number. */
  q?: string
  /**
   * Only people inside these subtrees (id-path prefixes): a scoped admin's reach. Undefined: no
   * such limit; empty: nobody. People in no department are outside every subtree.
   */
  withinIdPaths?: readonly string[]
  limit: number
  cursor?: string
}

export interface PersonSummary {
  id: string
  userName: string
  displayName: string | null
  email: string | null
  title: string | null
  status: PersonStatus
  department: { id: string; path: string } | null
  managerId: string | null
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/**
 * One page of people in user-name order (keyset paging: the cost of a page does not grow with its
 * position). Every filter is SQL: a subtree is an id-path prefix, free text a trigram-indexed LIKE.
 */
export async function listPeople(db: Kysely<DB>, filter: PeopleFilter): Promise<Page<PersonSummary>> {
  checkLimit(filter.limit)
  let query = db
    .selectFrom('people as p')
    .leftJoin('departments as d', 'd.id', 'p.department_id')
    .select([
      'p.id',
      'p.user_name',
      'p.display_name',
      'p.email',
      'p.title',
      'p.status',
      'p.manager_id',
      'p.department_id',
      'd.path as department_path',
    ])
    .select(sql<string>`lower(p.user_name)`.as('sort_key'))
    .orderBy(sql`lower(p.user_name)`)
    .orderBy('p.id')
    .limit(filter.limit + 1)

  if (filter.departmentId !== undefined) {
    if (!isUuid(filter.departmentId)) throw notFound(`department ${filter.departmentId} does not exist`)
    const root = await db
      .selectFrom('departments')
      .select('id_path')
      .where('id', '=', filter.departmentId)
      .executeTakeFirst()
    if (!root) throw notFound(`department ${filter.departmentId} does not exist`)
    query = query.where('d.id_path', 'like', `${root.id_path}%`)
  }
  if (filter.withinIdPaths !== undefined) {
    const prefixes = filter.withinIdPaths
    if (prefixes.length === 0) return { items: [], nextCursor: null }
    query = query.where((eb) => eb.or(prefixes.map((p) => eb('d.id_path', 'like', prefixPattern(p)))))
  }
  if (filter.status !== undefined) query = query.where('p.status', '=', filter.status)
  if (filter.q !== undefined && filter.q.trim() !== '') {
    // Lowercased by SQL like search_text itself, so both sides fold case the same way.
    query = query.where('p.search_text', 'like', sql<string>`lower(${`%${escapeLike(filter.q.trim())}%`})`)
  }
  if (filter.cursor) {
    const { key, id } = decodeCursor(filter.cursor)
    query = query.where(sql<boolean>`(lower(p.user_name), p.id) > (${key}, ${id}::uuid)`)
  }
  const rows = await query.execute()
  const page = rows.slice(0, filter.limit)
  const last = page[page.length - 1]
  return {
    items: page.map((r) => ({
      id: r.id,
      userName: r.user_name,
      displayName: r.display_name,
      email: r.email,
      title: r.title,
      status: r.status,
      department:
        r.department_id && r.department_path ? { id: r.department_id, path: r.department_path } : null,
      managerId: r.manager_id,
    })),
    nextCursor: rows.length > filter.limit && last ? encodeCursor(last.sort_key, last.id) : null,
  }
}

export interface PersonDetail extends Person {
  department: { id: string; name: string; path: string } | null
  manager: { id: string; userName: string; displayName: string | null } | null
  identities: {
    id: string
    source: { id: string; name: string; type: string }
    externalId: string
    userName: string | null
    active: boolean
    removedAt: Date | null
    updatedAt: Date
  }[]
}

export async function getPerson(db: Kysely<DB>, id: string): Promise<PersonDetail | undefined> {
  if (!isUuid(id)) return undefined
  const row = await db.selectFrom('people').select(personColumns).where('id', '=', id).executeTakeFirst()
  if (!row) return undefined
  const [department, manager, identities] = await Promise.all([
    row.department_id
      ? db
          .selectFrom('departments')
          .select(['id', 'name', 'path'])
          .where('id', '=', row.department_id)
          .executeTakeFirst()
      : undefined,
    row.manager_id
      ? db
          .selectFrom('people')
          .select(['id', 'user_name', 'display_name'])
          .where('id', '=', row.manager_id)
          .executeTakeFirst()
      : undefined,
    db
      .selectFrom('identities as i')
      .innerJoin('sources as s', 's.id', 'i.source_id')
      .select(['i.id', 'i.external_id', 'i.user_name', 'i.active', 'i.removed_at', 'i.updated_at'])
      .select(['s.id as source_id', 's.name as source_name', 's.type as source_type'])
      .where('i.person_id', '=', id)
      .orderBy('s.precedence')
      .orderBy('s.name')
      .execute(),
  ])
  return {
    ...toPerson(row),
    department: department ?? null,
    manager: manager
      ? { id: manager.id, userName: manager.user_name, displayName: manager.display_name }
      : null,
    identities: identities.map((i) => ({
      id: i.id,
      source: { id: i.source_id, name: i.source_name, type: i.source_type },
      externalId: i.external_id,
      userName: i.user_name,
      active: i.active,
      removedAt: i.removed_at,
      updatedAt: i.updated_at,
    })),
  }
}
