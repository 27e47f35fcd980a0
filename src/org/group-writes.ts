import { sql, type Selectable } from 'kysely'
import type { GroupsTable } from '../db/schema'
import { sameJson } from '../canonical-json'
import { conflict, invalid, notFound, sqlState } from '../errors'
import { toGroup, type Group } from './records'
import { cleanOptionalText, cleanText, isUuid, requireUuid, type WriteContext } from './write-context'

export interface NewGroup {
  displayName: string
  description?: string | null
  sourceId?: string | null
  externalId?: string | null
  /** The source's document of the group (a SCIM group's attributes), kept as sent. */
  raw?: unknown
}

const CHUNK = 1000

async function requireRow(ctx: WriteContext, id: string): Promise<Selectable<GroupsTable>> {
  const row = isUuid(id)
    ? await ctx.trx.selectFrom('groups').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
    : undefined
  if (!row) throw notFound(`group ${id} does not exist`)
  return row
}

export async function createGroup(ctx: WriteContext, input: NewGroup): Promise<Group> {
  try {
    const row = await ctx.trx
      .insertInto('groups')
      .values({
        display_name: cleanText(input.displayName, 'displayName'),
        description: cleanOptionalText(input.description, 'description', 4000),
        source_id: input.sourceId ? requireUuid(input.sourceId, 'sourceId') : null,
        external_id: cleanOptionalText(input.externalId, 'externalId', 1024),
        raw: input.raw === undefined ? null : JSON.stringify(input.raw),
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    const group = toGroup(row)
    await ctx.audit({ action: 'group.create', targetType: 'group', targetId: group.id, after: group })
    return group
  } catch (err) {
    if (sqlState(err) === '23505') throw conflict(`group ${input.externalId} already exists for this source`)
    if (sqlState(err) === '23503') throw invalid(`source ${input.sourceId} does not exist`)
    throw err
  }
}

export async function updateGroup(
  ctx: WriteContext,
  id: string,
  patch: { displayName?: string; description?: string | null; raw?: unknown },
): Promise<Group> {
  const row = await requireRow(ctx, id)
  const next = {
    display_name:
      patch.displayName === undefined ? row.display_name : cleanText(patch.displayName, 'displayName'),
    description:
      patch.description === undefined
        ? row.description
        : cleanOptionalText(patch.description, 'description', 4000),
  }
  const rawChanged = patch.raw !== undefined && !sameJson(patch.raw, row.raw)
  if (next.display_name === row.display_name && next.description === row.description && !rawChanged)
    return toGroup(row)
  const updated = await ctx.trx
    .updateTable('groups')
    .set({
      ...next,
      ...(rawChanged ? { raw: JSON.stringify(patch.raw) } : {}),
      version: sql<number>`version + 1`,
      updated_at: sql`now()`,
    })
    .where('id', '=', row.id)
    .returningAll()
    .executeTakeFirstOrThrow()
  await ctx.audit({
    action: 'group.update',
    targetType: 'group',
    targetId: row.id,
    before: { displayName: row.display_name, description: row.description },
    after: { displayName: updated.display_name, description: updated.description },
  })
  return toGroup(updated)
}

export async function deleteGroup(ctx: WriteContext, id: string): Promise<void> {
  const row = await requireRow(ctx, id)
  const { members } = await ctx.trx
    .selectFrom('group_members')
    .select((eb) => eb.fn.countAll<number>().as('members'))
    .where('group_id', '=', row.id)
    .executeTakeFirstOrThrow()
  await ctx.trx.deleteFrom('groups').where('id', '=', row.id).execute()
  await ctx.audit({
    action: 'group.delete',
    targetType: 'group',
    targetId: row.id,
    before: { ...toGroup(row), memberCount: Number(members) },
  })
}

/** A membership change is a change of the group: its version (a SCIM ETag) moves on. */
async function touch(ctx: WriteContext, groupId: string): Promise<void> {
  await ctx.trx
    .updateTable('groups')
    .set({ version: sql<number>`version + 1`, updated_at: sql`now()` })
    .where('id', '=', groupId)
    .execute()
}

function uniqueIds(personIds: readonly string[]): string[] {
  return [...new Set(personIds.map((p) => requireUuid(p, 'member id')))]
}

/** Adds people to a group; those already in it are left alone. Returns the ids actually added. */
export async function addGroupMembers(
  ctx: WriteContext,
  groupId: string,
  personIds: readonly string[],
): Promise<string[]> {
  const group = await requireRow(ctx, groupId)
  const ids = uniqueIds(personIds)
  const added: string[] = []
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK)
    // One statement per chunk, as a member add is a provider's most frequent group write: which of
    // them are people, their memberships (only if all are: a caller that catches the error must not
    // keep half a chunk), and the group's version moved on (once per call) if anyone was added.
    const { rows } = await sql<{ found: string[] | null; added: string[] | null }>`
      with found as (select id from people where id = any(${chunk}::uuid[])),
      ins as (
        insert into group_members (group_id, person_id)
        select ${group.id}::uuid, id from found
        where (select count(*) from found) = ${chunk.length}
        on conflict do nothing
        returning person_id),
      touched as (
        update groups set version = version + 1, updated_at = now()
        where id = ${group.id}::uuid and ${added.length === 0} and exists (select 1 from ins))
      select (select array_agg(id::text) from found) as found,
             (select array_agg(person_id::text) from ins) as added`.execute(ctx.trx)
    const found = new Set(rows[0]?.found ?? [])
    if (found.size !== chunk.length) {
      const missing = chunk.filter((c) => !found.has(c))
      throw invalid(
        `cannot add to group "${group.display_name}": no such person ${missing.slice(0, 5).join(', ')}`,
        {
          missing,
        },
      )
    }
    const now = new Set(rows[0]?.added ?? [])
    added.push(...chunk.filter((c) => now.has(c)))
  }
  if (added.length > 0) {
    await ctx.audit({
      action: 'group.members.add',
      targetType: 'group',
      targetId: group.id,
      after: { added },
    })
  }
  return added
}

/** Removes people from a group; ids that are not members are ignored. Returns the ids actually removed. */
export async function removeGroupMembers(
  ctx: WriteContext,
  groupId: string,
  personIds: readonly string[],
): Promise<string[]> {
  const group = await requireRow(ctx, groupId)
  const ids = uniqueIds(personIds)
  const removed: string[] = []
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await ctx.trx
      .deleteFrom('group_members')
      .where('group_id', '=', group.id)
      .where('person_id', 'in', ids.slice(i, i + CHUNK))
      .returning('person_id')
      .execute()
    removed.push(...rows.map((r) => r.person_id))
  }
  if (removed.length > 0) {
    await touch(ctx, group.id)
    await ctx.audit({
      action: 'group.members.remove',
      targetType: 'group',
      targetId: group.id,
      before: { removed },
    })
  }
  return removed
}

/**
 * Makes the group's members exactly these people (a full member list, as a SCIM PUT sends it):
 * removes the others and adds the missing, in set operations. Returns who was added and removed.
 */
export async function replaceGroupMembers(
  ctx: WriteContext,
  groupId: string,
  personIds: readonly string[],
): Promise<{ added: string[]; removed: string[] }> {
  const group = await requireRow(ctx, groupId)
  const wanted = new Set(uniqueIds(personIds))
  const current = await ctx.trx
    .selectFrom('group_members')
    .select('person_id')
    .where('group_id', '=', group.id)
    .execute()
  const have = new Set(current.map((c) => c.person_id))
  const toRemove = [...have].filter((p) => !wanted.has(p))
  const toAdd = [...wanted].filter((p) => !have.has(p))
  const removed = toRemove.length > 0 ? await removeGroupMembers(ctx, group.id, toRemove) : []
  const added = toAdd.length > 0 ? await addGroupMembers(ctx, group.id, toAdd) : []
  return { added, removed }
}
