import { sql, type Kysely } from 'kysely'
import type { DB } from '../../../src/db/schema'
import { filterToSql, groupFilterSchema, parseFilter, userFilterSchema } from '../../../src/scim/filter'
import type { ScimResource } from '../../../src/scim/filter/evaluate-filter'
import type { ResourceFilterSchema } from '../../../src/scim/filter'

/**
 * Scratch tables shaped like the SCIM layer's: a few promoted columns next to the resource as
 * served in a jsonb column. Each test file has a database of its own, so the names cannot clash.
 */
export async function createProbeTables(db: Kysely<DB>): Promise<void> {
  await sql`create table scim_filter_probe (
    id uuid primary key,
    user_name text,
    active boolean,
    resource jsonb not null,
    created_at timestamptz,
    updated_at timestamptz
  )`.execute(db)
  await sql`create table scim_filter_probe_groups (
    id uuid primary key,
    display_name text,
    resource jsonb not null,
    created_at timestamptz,
    updated_at timestamptz
  )`.execute(db)
  await sql`create table scim_filter_probe_members (
    group_id uuid not null references scim_filter_probe_groups (id) on delete cascade,
    member_id uuid not null,
    display text,
    primary key (group_id, member_id)
  )`.execute(db)
}

export const probeUserSchema = userFilterSchema({
  table: 'i',
  jsonColumn: 'resource',
  idColumn: 'id',
  userNameColumn: 'user_name',
  createdColumn: 'created_at',
  updatedColumn: 'updated_at',
})

/** The same users with `active` read from its column instead of the document. */
export const probeUserActiveColumnSchema = userFilterSchema({
  table: 'i',
  jsonColumn: 'resource',
  idColumn: 'id',
  userNameColumn: 'user_name',
  activeColumn: 'active',
  createdColumn: 'created_at',
  updatedColumn: 'updated_at',
})

/** Groups with members in the jsonb document. */
export const probeGroupJsonSchema = groupFilterSchema({
  table: 'g',
  jsonColumn: 'resource',
  idColumn: 'id',
  displayNameColumn: 'display_name',
  createdColumn: 'created_at',
  updatedColumn: 'updated_at',
})

/** Groups with members as rows of a child table (how a 50,000-member group stays cheap to change). */
export const probeGroupTableSchema = groupFilterSchema({
  table: 'g',
  jsonColumn: 'resource',
  idColumn: 'id',
  displayNameColumn: 'display_name',
  createdColumn: 'created_at',
  updatedColumn: 'updated_at',
  membersTable: {
    table: 'scim_filter_probe_members',
    groupColumn: 'group_id',
    valueColumn: 'member_id',
    displayColumn: 'display',
  },
})

function meta(resource: ScimResource): { created: string | null; lastModified: string | null } {
  const m = resource.meta as { created?: string; lastModified?: string } | undefined
  return { created: m?.created ?? null, lastModified: m?.lastModified ?? null }
}

export async function insertUsers(db: Kysely<DB>, users: readonly ScimResource[]): Promise<void> {
  await sql`delete from scim_filter_probe`.execute(db)
  for (const user of users) {
    const { created, lastModified } = meta(user)
    const active = typeof user.active === 'boolean' ? user.active : null
    await sql`insert into scim_filter_probe (id, user_name, active, resource, created_at, updated_at)
      values (${String(user.id)}::uuid, ${(user.userName as string | undefined) ?? null}, ${active}::boolean,
              ${JSON.stringify(user)}::jsonb, ${created}::timestamptz, ${lastModified}::timestamptz)`.execute(
      db,
    )
  }
}

/** Stores groups with their members both in the document and in the child table. */
export async function insertGroups(db: Kysely<DB>, groups: readonly ScimResource[]): Promise<void> {
  await sql`delete from scim_filter_probe_groups`.execute(db)
  for (const group of groups) {
    const { created, lastModified } = meta(group)
    await sql`insert into scim_filter_probe_groups (id, display_name, resource, created_at, updated_at)
      values (${String(group.id)}::uuid, ${(group.displayName as string | undefined) ?? null},
              ${JSON.stringify(group)}::jsonb, ${created}::timestamptz, ${lastModified}::timestamptz)`.execute(
      db,
    )
    const members = (group.members as { value: string; display?: string }[] | undefined) ?? []
    for (const member of members) {
      await sql`insert into scim_filter_probe_members (group_id, member_id, display)
        values (${String(group.id)}::uuid, ${member.value}::uuid, ${member.display ?? null})`.execute(db)
    }
  }
}

/** Ids of the rows the filter selects, sorted. */
export async function selectIds(
  db: Kysely<DB>,
  filter: string,
  schema: ResourceFilterSchema = probeUserSchema,
): Promise<string[]> {
  const condition = filterToSql(parseFilter(filter), schema)
  const from =
    schema.table === 'i'
      ? sql`scim_filter_probe as i`
      : sql`scim_filter_probe_groups as ${sql.id(schema.table)}`
  const result = await sql<{ id: string }>`select ${sql.ref(`${schema.table}.id`)}::text as id from ${from}
    where ${condition} order by 1`.execute(db)
  return result.rows.map((r) => r.id)
}
