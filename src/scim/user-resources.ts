import { sql, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely'
import type { DB } from '../db/schema'
import { isUuid } from '../org/write-context'
import { ENTERPRISE_USER_URN, filterToSql, userFilterSchema } from './filter'
import type { ListParams } from './list-params'
import { etagOf, type ResourceContext } from './resource-location'
import { listing, sortOrder, type Listing } from './sql-listing'
import { isUserNameLookup, userNameLookupQuery } from './user-name-lookup'
import { ORGSYNC_USER_URN } from './schema'

/**
 * SCIM users are the identities of a SCIM source: the document as the provider sent it (validated)
 * in `raw`, with userName, active and the timestamps in columns. Reads go straight from rows to
 * JSON — no schema machinery on the hot path — and filters, sorts and pages run in SQL.
 */
export const USER_FILTER_SCHEMA = userFilterSchema({
  table: 'i',
  jsonColumn: 'raw',
  idColumn: 'id',
  userNameColumn: 'user_name',
  activeColumn: 'active',
  createdColumn: 'created_at',
  updatedColumn: 'updated_at',
})

export const USER_EXTENSION_URNS = [ENTERPRISE_USER_URN, ORGSYNC_USER_URN] as const

const lowerJson = (...path: string[]) => sql`lower(${sql.ref('i.raw')} #>> ${sql.lit(`{${path.join(',')}}`)})`

/** sortBy → SQL; single-valued attributes, and a multi-valued one by its primary (else first) value. */
const USER_SORTS: Record<string, RawBuilder<unknown>> = {
  id: sql`i.id`,
  username: sql`lower(i.user_name)`,
  externalid: sql`i.raw ->> 'externalId'`,
  displayname: lowerJson('displayName'),
  'name.givenname': lowerJson('name', 'givenName'),
  'name.familyname': lowerJson('name', 'familyName'),
  'name.formatted': lowerJson('name', 'formatted'),
  title: lowerJson('title'),
  usertype: lowerJson('userType'),
  active: sql`i.active`,
  'meta.created': sql`i.created_at`,
  'meta.lastmodified': sql`i.updated_at`,
  emails: sql`(select lower(e ->> 'value') from jsonb_array_elements(case when jsonb_typeof(i.raw -> 'emails') = 'array' then i.raw -> 'emails' else '[]'::jsonb end) e order by (e ->> 'primary') = 'true' desc nulls last limit 1)`,
  [`${ENTERPRISE_USER_URN.toLowerCase()}:employeenumber`]: sql`i.raw -> ${sql.lit(ENTERPRISE_USER_URN)} ->> 'employeeNumber'`,
  [`${ENTERPRISE_USER_URN.toLowerCase()}:department`]: sql`lower(i.raw -> ${sql.lit(ENTERPRISE_USER_URN)} ->> 'department')`,
}
USER_SORTS['emails.value'] = USER_SORTS.emails!
USER_SORTS['urn:ietf:params:scim:schemas:core:2.0:user:username'] = USER_SORTS.username!

export interface UserRow {
  id: string
  raw: unknown
  active: boolean
  person_id: string | null
  version: number
  created_at: Date
  updated_at: Date
}

const USER_COLUMNS = [
  'i.id',
  'i.raw',
  'i.active',
  'i.person_id',
  'i.version',
  'i.created_at',
  'i.updated_at',
] as const

/** The served representation of one user. */
export function userResource(row: UserRow, ctx: ResourceContext): Record<string, unknown> {
  const doc = (row.raw ?? {}) as Record<string, unknown>
  const schemas = Array.isArray(doc.schemas) ? (doc.schemas as string[]) : []
  const orgsync = (doc[ORGSYNC_USER_URN] ?? {}) as Record<string, unknown>
  const { schemas: _schemas, externalId, [ORGSYNC_USER_URN]: _orgsync, ...rest } = doc
  return {
    schemas: schemas.includes(ORGSYNC_USER_URN) ? schemas : [...schemas, ORGSYNC_USER_URN],
    id: row.id,
    ...(externalId === undefined ? {} : { externalId }),
    ...rest,
    active: row.active,
    [ORGSYNC_USER_URN]: { ...orgsync, ...(row.person_id ? { personId: row.person_id } : {}) },
    meta: {
      resourceType: 'User',
      created: row.created_at.toISOString(),
      lastModified: row.updated_at.toISOString(),
      location: `${ctx.baseUrl}/Users/${row.id}`,
      version: etagOf(row.version),
    },
  }
}

export async function findUser(db: Kysely<DB>, sourceId: string, id: string): Promise<UserRow | undefined> {
  if (!isUuid(id)) return undefined
  return db
    .selectFrom('identities as i')
    .select(USER_COLUMNS)
    .where('i.id', '=', id)
    .where('i.source_id', '=', sourceId)
    .where('i.removed_at', 'is', null)
    .executeTakeFirst()
}

/** The filtered users of a source, before sorting and paging. */
function usersMatching(db: Kysely<DB>, sourceId: string, params: ListParams) {
  const base = db
    .selectFrom('identities as i')
    .where('i.source_id', '=', sourceId)
    .where('i.removed_at', 'is', null)
  return params.filter ? base.where(filterToSql(params.filter, USER_FILTER_SCHEMA)) : base
}

/** One page of the listing, sorted and paged in SQL (ties broken by id, so pages are stable). */
export function userPage(db: Kysely<DB>, sourceId: string, params: ListParams): CompiledQuery<UserRow> {
  const base = usersMatching(db, sourceId, params)
  const order = sortOrder(USER_SORTS, params)
  return (order ? base.orderBy(order) : base)
    .select(USER_COLUMNS)
    .orderBy('i.id')
    .limit(params.count)
    .offset(params.startIndex - 1)
    .compile()
}

export async function listUsers(
  db: Kysely<DB>,
  sourceId: string,
  params: ListParams,
): Promise<Listing<UserRow>> {
  const page =
    (isUserNameLookup(params) && userNameLookupQuery(db, userPage, sourceId, params)) ||
    userPage(db, sourceId, params)
  return listing(
    params,
    async () => (await db.executeQuery(page as CompiledQuery<UserRow>)).rows,
    async () =>
      Number(
        (
          await usersMatching(db, sourceId, params)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
  )
}
