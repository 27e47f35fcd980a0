import { sql, type Kysely } from 'kysely'
import type { DB } from '../db/schema'
import { chunks } from './chunks'

/**
 * A plan is applied change by change, and the unique indexes hold at every step: sibling names
 * (departments: parent + lower(name)) and user names (identities: source + lower(user_name), while
 * live). Changes that only fit together as a whole — siblings swapping names, a rename into a name a
 * sibling gives up later in the plan, a move under a parent whose same-named child leaves later,
 * identities swapping user names or passing them along a chain — would break an index half-way.
 *
 * The functions here find the rows that must make way first: the applier parks them (the store gives
 * them a temporary name that collides with nothing) before the plan's changes run, and unparks them
 * after. Only rows that really stand in a change's way are parked (a chain listed in an order that
 * works parks nothing); a plan with no department rename, move or delete and no user-name change
 * costs two queries here. A clash with a row whose final name is the contested one (a department or
 * identity the plan leaves where it is) is a real conflict: nothing is parked for it, and the apply
 * fails on it with the store's usual error.
 */

type DepartmentChange = {
  seq: number
  kind: string
  target_id: string | null
  ref: string | null
  after: unknown
}

interface Place {
  /** Parent id, a "d:" reference to a department the plan creates, or null (the root). */
  parent: string | null
  /** The name as the database compares it: lower(name). */
  lname: string
}

const keyOf = (p: Place): string => `${p.parent ?? ''}\u0000${p.lname}`

const NO_PARENT = '00000000-0000-0000-0000-000000000000'

/** Departments the plan renames, moves or deletes that must be parked before it applies. */
export async function departmentsToPark(db: Kysely<DB>, planId: string): Promise<string[]> {
  const structural: DepartmentChange[] = await db
    .selectFrom('plan_changes')
    .select(['seq', 'kind', 'target_id', 'ref', 'after'])
    .where('plan_id', '=', planId)
    .where('kind', 'in', ['department.rename', 'department.move', 'department.delete'])
    .orderBy('seq')
    .execute()
  if (structural.length === 0) return []
  const creates: DepartmentChange[] = await db
    .selectFrom('plan_changes')
    .select(['seq', 'kind', 'target_id', 'ref', 'after'])
    .where('plan_id', '=', planId)
    .where('kind', '=', 'department.create')
    .orderBy('seq')
    .execute()
  const changes = [...structural, ...creates].sort((a, b) => a.seq - b.seq)
  const after = (c: DepartmentChange) => (c.after ?? {}) as Record<string, unknown>
  const nameOf = (c: DepartmentChange) => String(after(c).name).trim()
  const parentOf = (c: DepartmentChange) => (after(c).parentRef ?? null) as string | null

  // Where the plan's targets are now, and the names the plan gives, as the database compares them.
  const targetIds = [...new Set(structural.map((c) => c.target_id).filter((id): id is string => !!id))]
  const places = new Map<string, Place>()
  for (const part of chunks(targetIds)) {
    for (const d of await db
      .selectFrom('departments')
      .select(['id', 'parent_id', sql<string>`lower(name)`.as('lname')])
      .where('id', 'in', part)
      .execute())
      places.set(d.id, { parent: d.parent_id, lname: d.lname })
  }
  const lower = await lowerAll(
    db,
    changes.filter((c) => c.kind === 'department.rename' || c.kind === 'department.create').map(nameOf),
  )

  // Every place a change may claim is one of these parents × one of these names: load who is there.
  const parents = new Set<string | null>()
  const lnames = new Set<string>(lower.values())
  for (const p of places.values()) {
    parents.add(p.parent)
    lnames.add(p.lname)
  }
  for (const c of changes)
    if (c.kind === 'department.move' || c.kind === 'department.create') parents.add(parentOf(c))
  const existingParents = [...parents].filter((p) => !p?.startsWith('d:')).map((p) => p ?? NO_PARENT)
  const occupied = new Map<string, string>() // place key → department id or "d:" ref
  for (const ps of chunks(existingParents)) {
    for (const ns of chunks([...lnames])) {
      for (const d of await db
        .selectFrom('departments')
        .select(['id', 'parent_id', sql<string>`lower(name)`.as('lname')])
        // The sibling-name index's own expressions, so it serves this lookup.
        .where(sql`coalesce(parent_id, ${NO_PARENT}::uuid)`, 'in', ps)
        .where(sql`lower(name)`, 'in', ns)
        .execute()) {
        const place = { parent: d.parent_id, lname: d.lname }
        if (!places.has(d.id)) places.set(d.id, place)
        occupied.set(keyOf(place), d.id)
      }
    }
  }

  // Where each target ends up once the whole plan has applied (null: deleted).
  const final = new Map<string, string | null>()
  {
    const at = new Map<string, Place | null>()
    for (const id of targetIds) if (places.has(id)) at.set(id, { ...places.get(id)! })
    for (const c of structural) {
      const p = c.target_id ? at.get(c.target_id) : undefined
      if (!p) continue
      if (c.kind === 'department.rename') p.lname = lower.get(nameOf(c))!
      else if (c.kind === 'department.move') p.parent = parentOf(c)
      else at.set(c.target_id!, null)
    }
    for (const [id, p] of at) final.set(id, p && keyOf(p))
  }
  const leaves = (id: string, key: string) => final.has(id) && final.get(id) !== key

  // Replay the plan step by step, as the applier will. A department in the way of a step is parked
  // when it leaves that place later in the plan; a department only passing through a place someone
  // keeps (renamed at its old parent, then moved) is parked itself.
  const parked = new Set<string>()
  const park = (id: string) => {
    const p = places.get(id)!
    if (occupied.get(keyOf(p)) === id) occupied.delete(keyOf(p))
    parked.add(id)
  }
  const claim = (id: string, to: Place) => {
    const key = keyOf(to)
    const holder = occupied.get(key)
    if (holder !== undefined && holder !== id && !parked.has(holder)) {
      if (leaves(holder, key)) park(holder)
      else if (leaves(id, key)) {
        park(id)
        places.set(id, to)
        return
      }
      // Else both end up here: a real conflict, which the apply reports as it always has.
    }
    const from = places.get(id)
    if (from && occupied.get(keyOf(from)) === id) occupied.delete(keyOf(from))
    places.set(id, to)
    occupied.set(key, id)
  }
  for (const c of changes) {
    if (c.kind === 'department.create') {
      if (c.ref) claim(c.ref, { parent: parentOf(c), lname: lower.get(nameOf(c))! })
      continue
    }
    const id = c.target_id
    const p = id ? places.get(id) : undefined
    if (!id || !p) continue // gone since planning: the apply reports the plan stale
    if (c.kind === 'department.delete') {
      if (occupied.get(keyOf(p)) === id) occupied.delete(keyOf(p))
      continue
    }
    const to =
      c.kind === 'department.rename'
        ? { parent: p.parent, lname: lower.get(nameOf(c))! }
        : { parent: parentOf(c), lname: p.lname }
    if (keyOf(to) === keyOf(p)) continue // a change of case, or a move to where it is
    if (parked.has(id)) places.set(id, to)
    else claim(id, to)
  }
  return [...parked]
}

/** lower() of each name, as the database computes it (JavaScript's toLowerCase differs for some scripts). */
async function lowerAll(db: Kysely<DB>, names: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const part of chunks([...new Set(names)])) {
    const rows = await sql<{ name: string; lname: string }>`
      select n as name, lower(n) as lname from unnest(${part}::text[]) as t (n)`.execute(db)
    for (const r of rows.rows) out.set(r.name, r.lname)
  }
  return out
}

/**
 * Identities whose user name a change claims before the change that gives it up (the identity's
 * own update, later in the plan) has run. Removed identities hold no name (the applier removes them
 * first); people's user names are not unique, only identities' within a source.
 */
export async function identitiesToPark(db: Kysely<DB>, planId: string): Promise<string[]> {
  // Live identities the plan gives another user name, and when. A person.create may update an
  // identity the source had already (an inactive user, now active) in place.
  const leavers = await sql<{ id: string; lname: string; seq: number }>`
    select i.id, lower(i.user_name) as lname, c.seq
    from plan_changes c
    join identities i on i.id = c.target_id
    where c.plan_id = ${planId} and c.kind = 'identity.update'
      and i.removed_at is null and i.user_name is not null
      and lower(i.user_name) is distinct from lower(c.after ->> 'userName')
    union all
    select i.id, lower(i.user_name), c.seq
    from plan_changes c
    join identities i on i.id = (c.after -> 'identity' ->> 'identityId')::uuid
    where c.plan_id = ${planId} and c.kind = 'person.create'
      and c.after -> 'identity' ->> 'identityId' is not null
      and i.removed_at is null and i.user_name is not null
      and lower(i.user_name) is distinct from lower(c.after -> 'identity' ->> 'userName')`.execute(db)
  if (leavers.rows.length === 0) return []
  // The first change that takes each of those names.
  const firstClaim = new Map<string, number>()
  for (const part of chunks([...new Set(leavers.rows.map((l) => l.lname))])) {
    const claims = await sql<{ lname: string; seq: number }>`
      select x.lname, min(x.seq) as seq
      from (
        select c.seq, lower(case when c.kind = 'person.create' then c.after -> 'identity' ->> 'userName'
                                 else c.after ->> 'userName' end) as lname
        from plan_changes c
        where c.plan_id = ${planId} and c.kind in ('identity.create', 'identity.update', 'person.create')
      ) x
      where x.lname = any(${part}::text[])
      group by x.lname`.execute(db)
    for (const c of claims.rows) firstClaim.set(c.lname, Number(c.seq))
  }
  return leavers.rows.filter((l) => (firstClaim.get(l.lname) ?? Infinity) < Number(l.seq)).map((l) => l.id)
}
