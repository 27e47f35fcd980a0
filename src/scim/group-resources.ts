import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { DB } from '../db/schema'
import { isUuid } from '../org/write-context'
import { filterToSql, groupFilterSchema } from './filter'
import type { ListParams } from './list-params'
import { etagOf, type ResourceContext } from './resource-location'
import { listing, sortOrder, type Listing } from './sql-listing'

/**
 * SCIM groups are the groups of a SCIM source: the provider's document (without members) in `raw`,
 * members as rows of group_members (person ids), served by their SCIM ids through the
 * scim_group_members view — so one membership change is one row, whatever the group's size.
 */
export const GROUP_FILTER_SCHEMA = groupFilterSchema({
  table: 'g',
  jsonColumn: 'raw',
  idColumn: 'id',
  displayNameColumn: 'display_name',
  createdColumn: 'created_at',
  updatedColumn: 'updated_at',
  membersTable: { table: 'scim_group_members', groupColumn: 'group_id', valueColumn: 'value' },
})

const GROUP_SORTS: Record<string, RawBuilder<unknown>> = {
  id: sql`g.id`,
  displayname: sql`lower(g.display_name)`,
  externalid: sql`g.raw ->> 'externalId'`,
  'meta.created': sql`g.created_at`,
  'meta.lastmodified': sql`g.updated_at`,
}

export interface GroupRow {
  id: string
  display_name: string
  raw: unknown
  version: number
  created_at: Date
  updated_at: Date
}

export interface Member {
  value: string
  display: string | null
}

const GROUP_COLUMNS = [
  'g.id',
  'g.display_name',
  'g.raw',
  'g.version',
  'g.created_at',
  'g.updated_at',
] as const

/** The served representation; `members` undefined when the caller excluded them (never read). */
export function groupResource(
  row: GroupRow,
  members: readonly Member[] | undefined,
  ctx: ResourceContext,
): Record<string, unknown> {
  const doc = (row.raw ?? {}) as Record<string, unknown>
  const { schemas: _schemas, externalId, members: _members, displayName: _displayName, ...rest } = doc
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    id: row.id,
    ...(externalId === undefined ? {} : { externalId }),
    displayName: row.display_name,
    ...rest,
    ...(members === undefined
      ? {}
      : {
          members: members.map((m) => ({
            value: m.value,
            $ref: `${ctx.baseUrl}/Users/${m.value}`,
            type: 'User',
            ...(m.display ? { display: m.display } : {}),
          })),
        }),
    meta: {
      resourceType: 'Group',
      created: row.created_at.toISOString(),
      lastModified: row.updated_at.toISOString(),
      location: `${ctx.baseUrl}/Groups/${row.id}`,
      version: etagOf(row.version),
    },
  }
}

export async function findGroup(db: Kysely<DB>, sourceId: string, id: string): Promise<GroupRow | undefined> {
  if (!isUuid(id)) return undefined
  return db
    .selectFrom('groups as g')
    .select(GROUP_COLUMNS)
    .where('g.id', '=', id)
    .where('g.source_id', '=', sourceId)
    .executeTakeFirst()
}

/** Members of these groups by their SCIM ids, in a stable order. */
export async function membersOf(db: Kysely<DB>, groupIds: readonly string[]): Promise<Map<string, Member[]>> {
  const out = new Map<string, Member[]>(groupIds.map((id) => [id, []]))
  if (groupIds.length === 0) return out
  const rows = await db
    .selectFrom('scim_group_members as m')
    .innerJoin('people as p', 'p.id', 'm.person_id')
    .select(['m.group_id', 'm.value', 'p.display_name'])
    .where('m.group_id', 'in', groupIds)
    .orderBy('m.group_id')
    .orderBy('m.value')
    .execute()
  for (const r of rows) out.get(r.group_id)?.push({ value: r.value, display: r.display_name })
  return out
}

export async function listGroups(
  db: Kysely<DB>,
  sourceId: string,
  params: ListParams,
): Promise<Listing<GroupRow>> {
  let base = db.selectFrom('groups as g').where('g.source_id', '=', sourceId)
  if (params.filter) base = base.where(filterToSql(params.filter, GROUP_FILTER_SCHEMA))
  const order = sortOrder(GROUP_SORTS, params)
  return listing(
    params,
    () =>
      (order ? base.orderBy(order) : base)
        .select(GROUP_COLUMNS)
        .orderBy('g.id')
        .limit(params.count)
        .offset(params.startIndex - 1)
        .execute(),
    async () =>
      Number((await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n),
  )
}
