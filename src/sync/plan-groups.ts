import type { Kysely, Selectable } from 'kysely'
import type { DB, SourcesTable } from '../db/schema'
import type { GroupChange } from './change-round'
import { chunks } from './chunks'
import type { RemoteGroup } from './connector'
import type { PlanChangeWriter } from './plan-changes'

export interface GroupPlanContext {
  db: Kysely<DB>
  source: Selectable<SourcesTable>
  writer: PlanChangeWriter
  warn: (message: string) => void
  /** Person ids (or "p:" refs) of this source's users, by externalId; unknown ones are absent. */
  peopleOf: (externalIds: string[]) => Promise<Map<string, string>>
}

interface OwnedGroup {
  id: string
  display_name: string
  description: string | null
  external_id: string | null
  version: number
}

const MEMBER_BATCH = 5000

async function ownedGroups(ctx: GroupPlanContext, externalIds?: string[]): Promise<Map<string, OwnedGroup>> {
  const owned = new Map<string, OwnedGroup>()
  const query = () =>
    ctx.db
      .selectFrom('groups')
      .select(['id', 'display_name', 'description', 'external_id', 'version'])
      .where('source_id', '=', ctx.source.id)
  const rows = externalIds
    ? (
        await Promise.all(
          chunks(externalIds).map((part) => query().where('external_id', 'in', part).execute()),
        )
      ).flat()
    : await query().execute()
  for (const g of rows) owned.set(g.external_id ?? '', g)
  return owned
}

/** Resolves member externalIds to people, warning about the ones this source does not have. */
async function membersOf(ctx: GroupPlanContext, groupName: string, externalIds: Iterable<string>) {
  const ids = [...new Set(externalIds)]
  const people = await ctx.peopleOf(ids)
  const out = new Set<string>()
  for (const ext of ids) {
    const ref = people.get(ext)
    if (ref) out.add(ref)
    else ctx.warn(`group ${groupName}: member ${ext} is not a known user of this source: skipped`)
  }
  return out
}

/** Creates the group or updates its names; returns its id or "g:" ref. */
async function planGroupRow(
  ctx: GroupPlanContext,
  externalId: string,
  existing: OwnedGroup | undefined,
  names: { displayName?: string; description?: string | null },
): Promise<string> {
  if (!existing) {
    const ref = `g:${externalId}`
    await ctx.writer.add({
      kind: 'group.create',
      ref,
      after: {
        displayName: names.displayName ?? externalId,
        description: names.description ?? null,
        externalId,
      },
    })
    return ref
  }
  const displayName = names.displayName ?? existing.display_name
  const description = names.description === undefined ? existing.description : names.description
  if (existing.display_name !== displayName || existing.description !== description) {
    await ctx.writer.add({
      kind: 'group.update',
      targetId: existing.id,
      baseVersion: existing.version,
      before: { displayName: existing.display_name, description: existing.description },
      after: { displayName, description },
    })
  }
  return existing.id
}

async function currentMembers(ctx: GroupPlanContext, groupId: string, only?: string[]): Promise<Set<string>> {
  const current = new Set<string>()
  const query = () => ctx.db.selectFrom('group_members').select('person_id').where('group_id', '=', groupId)
  const rows = only
    ? (
        await Promise.all(
          chunks(only.filter((id) => !id.startsWith('p:'))).map((part) =>
            query().where('person_id', 'in', part).execute(),
          ),
        )
      ).flat()
    : await query().execute()
  for (const m of rows) current.add(m.person_id)
  return current
}

async function planMembers(
  ctx: GroupPlanContext,
  group: { ref: string; existing: boolean },
  add: string[],
  remove: string[],
): Promise<void> {
  for (const part of chunks(add, MEMBER_BATCH)) {
    await ctx.writer.add({
      kind: 'group.members.add',
      targetId: group.existing ? group.ref : null,
      ref: group.existing ? null : group.ref,
      after: { members: part },
    })
  }
  for (const part of chunks(remove, MEMBER_BATCH)) {
    await ctx.writer.add({ kind: 'group.members.remove', targetId: group.ref, after: { members: part } })
  }
}

/** A full listing of groups: each listed group made to match, and this source's unlisted ones deleted. */
export async function planListedGroups(
  ctx: GroupPlanContext,
  listing: AsyncIterable<RemoteGroup[]>,
): Promise<void> {
  const owned = await ownedGroups(ctx)
  const listed = new Set<string>()
  for await (const page of listing) {
    for (const g of page) {
      if (listed.has(g.externalId)) continue
      listed.add(g.externalId)
      await planWholeGroup(ctx, g, owned.get(g.externalId))
    }
  }
  for (const [ext, g] of owned) {
    if (!listed.has(ext)) await planGroupDelete(ctx, g)
  }
}

async function planWholeGroup(ctx: GroupPlanContext, g: RemoteGroup, existing: OwnedGroup | undefined) {
  const desired = await membersOf(ctx, g.displayName, g.memberExternalIds)
  const ref = await planGroupRow(ctx, g.externalId, existing, {
    displayName: g.displayName,
    description: g.description ?? null,
  })
  const current = existing ? await currentMembers(ctx, existing.id) : new Set<string>()
  await planMembers(
    ctx,
    { ref, existing: !!existing },
    [...desired].filter((id) => !current.has(id)),
    [...current].filter((id) => !desired.has(id)),
  )
}

async function planGroupDelete(ctx: GroupPlanContext, g: OwnedGroup) {
  await ctx.writer.add({
    kind: 'group.delete',
    targetId: g.id,
    baseVersion: g.version,
    before: { displayName: g.display_name },
  })
}

/** An incremental round's group changes: only the groups and members it names. */
export async function planGroupChanges(
  ctx: GroupPlanContext,
  changes: Map<string, GroupChange>,
): Promise<void> {
  const owned = await ownedGroups(ctx, [...changes.keys()])
  for (const [externalId, change] of changes) {
    const existing = owned.get(externalId)
    if (change.deleted) {
      if (existing) await planGroupDelete(ctx, existing)
      continue
    }
    if (change.whole) {
      const members = new Set(change.whole.memberExternalIds)
      for (const m of change.added) members.add(m)
      for (const m of change.removed) members.delete(m)
      await planWholeGroup(
        ctx,
        {
          ...change.whole,
          displayName: change.displayName ?? change.whole.displayName,
          description: change.description === undefined ? change.whole.description : change.description,
          memberExternalIds: [...members],
        },
        existing,
      )
      continue
    }
    const name = change.displayName ?? existing?.display_name ?? externalId
    const ref = await planGroupRow(ctx, externalId, existing, {
      displayName: change.displayName,
      description: change.description,
    })
    const added = await membersOf(ctx, name, change.added)
    // A removed member the engine does not know was never a member here: nothing to warn about.
    const removed = await ctx.peopleOf([...change.removed])
    const touched = [...added, ...removed.values()]
    const current = existing ? await currentMembers(ctx, existing.id, touched) : new Set<string>()
    await planMembers(
      ctx,
      { ref, existing: !!existing },
      [...added].filter((id) => !current.has(id)),
      [...new Set(removed.values())].filter((id) => current.has(id)),
    )
  }
}
