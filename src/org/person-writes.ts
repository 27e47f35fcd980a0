import { randomUUID } from 'node:crypto'
import { sql, type Selectable, type Updateable } from 'kysely'
import type { PeopleTable } from '../db/schema'
import { AppError, conflict, invalid, notFound, sqlConstraint, sqlState } from '../errors'
import { runPrepared, type PreparedWrite } from './prepared-write'
import { personColumns, toPerson, type Person } from './records'
import { cleanOptionalText, cleanText, isUuid, requireUuid, type WriteContext } from './write-context'

/** The attributes of a person that sources and admins set. */
export interface PersonFields {
  userName: string
  displayName?: string | null
  givenName?: string | null
  familyName?: string | null
  email?: string | null
  employeeNumber?: string | null
  title?: string | null
  departmentId?: string | null
  managerId?: string | null
  protected?: boolean
}

type Row = Omit<Selectable<PeopleTable>, 'search_text'>
type Attr = keyof PersonFields

const COLUMN: Record<Attr, keyof Updateable<PeopleTable> & string> = {
  userName: 'user_name',
  displayName: 'display_name',
  givenName: 'given_name',
  familyName: 'family_name',
  email: 'email',
  employeeNumber: 'employee_number',
  title: 'title',
  departmentId: 'department_id',
  managerId: 'manager_id',
  protected: 'protected',
}

/** Validates and normalises the given fields; absent fields stay absent. */
function clean(fields: Partial<PersonFields>): Partial<PersonFields> {
  const out: Partial<PersonFields> = {}
  if (fields.userName !== undefined) out.userName = cleanText(fields.userName, 'userName')
  for (const key of ['displayName', 'givenName', 'familyName', 'title', 'employeeNumber'] as const) {
    if (fields[key] !== undefined) out[key] = cleanOptionalText(fields[key], key)
  }
  if (fields.email !== undefined) {
    const email = cleanOptionalText(fields.email, 'email', 320)
    if (email !== null && !/^[^\s@]+@[^\s@]+$/.test(email))
      throw invalid(`email ${JSON.stringify(email)} is not an email address`)
    out.email = email
  }
  if (fields.departmentId !== undefined) {
    out.departmentId = fields.departmentId === null ? null : requireUuid(fields.departmentId, 'departmentId')
  }
  if (fields.managerId !== undefined) {
    out.managerId = fields.managerId === null ? null : requireUuid(fields.managerId, 'managerId')
  }
  if (fields.protected !== undefined) out.protected = fields.protected
  return out
}

function provenanceEntry(ctx: WriteContext): { by: string; id: string | null; at: string } {
  return { by: ctx.actor.type, id: ctx.actor.id, at: new Date().toISOString() }
}

function referenceError(err: unknown, fields: Partial<PersonFields>): unknown {
  if (sqlState(err) === '23503') {
    const constraint = sqlConstraint(err) ?? ''
    if (constraint.includes('department')) return invalid(`department ${fields.departmentId} does not exist`)
    if (constraint.includes('manager')) return invalid(`manager ${fields.managerId} is not a person`)
    return invalid('a referenced department or manager does not exist')
  }
  return err
}

async function requireRow(ctx: WriteContext, id: string): Promise<Row> {
  const row = isUuid(id)
    ? await ctx.trx
        .selectFrom('people')
        .select(personColumns)
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst()
    : undefined
  if (!row) throw notFound(`person ${id} does not exist`)
  return row
}

/** Refuses a manager link that would make someone their own manager, directly or through a chain. */
async function assertNoManagerCycle(ctx: WriteContext, personId: string, managerId: string): Promise<void> {
  if (personId === managerId) throw invalid('a person cannot be their own manager')
  await ctx.lock('manager-chains')
  const hit = await sql<{ id: string }>`
    with recursive chain (id, manager_id, depth) as (
      select id, manager_id, 1 from people where id = ${managerId}
      union all
      select p.id, p.manager_id, c.depth + 1 from people p join chain c on p.id = c.manager_id where c.depth < 100000
    )
    select id from chain where id = ${personId} limit 1`.execute(ctx.trx)
  if (hit.rows.length > 0)
    throw invalid(`manager ${managerId} reports to person ${personId}: that would make a cycle`)
}

export async function createPerson(ctx: WriteContext, fields: PersonFields): Promise<Person> {
  const [person] = await createPeople(ctx, [fields])
  return person!
}

const INSERT_CHUNK = 1000

/**
 * Creates people in bulk (a thousand rows a statement), each with its provenance and its own audit
 * event. One bad row fails the whole call: callers run it inside their transaction.
 */
export async function createPeople(ctx: WriteContext, list: readonly PersonFields[]): Promise<Person[]> {
  const at = provenanceEntry(ctx)
  const cleaned = list.map(cleanNew)
  const created: Person[] = []
  for (let i = 0; i < cleaned.length; i += INSERT_CHUNK) {
    created.push(...(await runPrepared(ctx, insertPeople(ctx, cleaned.slice(i, i + INSERT_CHUNK), at))))
  }
  return created
}

/**
 * The insert of one new person, not yet sent: for a caller that sends it together with a statement
 * that does not need its result (see runTogether), saving a round trip. `done` audits it.
 */
export function prepareCreatePerson(
  ctx: WriteContext,
  fields: PersonFields,
): PreparedWrite<Person> & { personId: string } {
  const insert = insertPeople(ctx, [cleanNew(fields)], provenanceEntry(ctx))
  return { ...insert, personId: insert.ids[0]!, done: async (rows) => (await insert.done(rows))[0]! }
}

function cleanNew(fields: PersonFields): Partial<PersonFields> {
  const f = clean(fields)
  if (f.userName === undefined) throw invalid('userName is required')
  return f
}

function insertPeople(
  ctx: WriteContext,
  part: readonly Partial<PersonFields>[],
  at: ReturnType<typeof provenanceEntry>,
): PreparedWrite<Person[]> & { ids: string[] } {
  return insertPeopleOf(
    ctx,
    part.map((fields) => ({ ctx, fields, at })),
  )
}

/**
 * The insert of new people for several units of one transaction (new SCIM users arriving together,
 * see new-claims.ts), not yet sent: one statement, each person with their own unit's provenance and
 * audit event. One bad row fails the statement, and with it the transaction.
 */
export function prepareCreatePeopleOf(
  units: readonly { ctx: WriteContext; fields: PersonFields }[],
): PreparedWrite<Person[]> & { ids: string[] } {
  return insertPeopleOf(
    units[0]!.ctx,
    units.map(({ ctx, fields }) => ({ ctx, fields: cleanNew(fields), at: provenanceEntry(ctx) })),
  )
}

function insertPeopleOf(
  ctx: WriteContext,
  rows: readonly {
    ctx: WriteContext
    fields: Partial<PersonFields>
    at: ReturnType<typeof provenanceEntry>
  }[],
): PreparedWrite<Person[]> & { ids: string[] } {
  const ids = rows.map(() => randomUUID())
  const query = ctx.trx
    .insertInto('people')
    .values(
      rows.map(({ fields: f, at }, n) => ({
        id: ids[n]!,
        user_name: f.userName!,
        display_name: f.displayName ?? null,
        given_name: f.givenName ?? null,
        family_name: f.familyName ?? null,
        email: f.email ?? null,
        employee_number: f.employeeNumber ?? null,
        title: f.title ?? null,
        department_id: f.departmentId ?? null,
        manager_id: f.managerId ?? null,
        protected: f.protected ?? false,
        provenance: JSON.stringify(
          Object.fromEntries(
            (Object.keys(f) as Attr[]).filter((k) => f[k] !== null && f[k] !== undefined).map((k) => [k, at]),
          ),
        ),
      })),
    )
    .returning(personColumns)
    .compile()
  return {
    query,
    ids,
    failed: (err) => referenceError(err, rows.length === 1 ? rows[0]!.fields : {}),
    async done(returned) {
      // RETURNING order is not promised for multi-row inserts: put rows back in input order by id.
      const byId = new Map((returned as Row[]).map((r) => [r.id, r]))
      const created = ids.map((id) => toPerson(byId.get(id)!))
      for (let n = 0; n < created.length; n++) {
        const person = created[n]!
        await rows[n]!.ctx.audit({
          action: 'person.create',
          targetType: 'person',
          targetId: person.id,
          after: person,
        })
      }
      return created
    },
  }
}

/**
 * Changes the given attributes. Only what really changes is written, versioned, given provenance
 * and audited; a patch that changes nothing writes nothing.
 */
export async function updatePerson(
  ctx: WriteContext,
  id: string,
  patch: Partial<PersonFields>,
  options: { expectedVersion?: number } = {},
): Promise<Person> {
  const f = clean(patch)
  const row = await requireRow(ctx, id)
  if (options.expectedVersion !== undefined && row.version !== options.expectedVersion) {
    throw conflict(`person ${id} changed since version ${options.expectedVersion} (now ${row.version})`)
  }
  const current = toPerson(row)
  const changed = (Object.keys(f) as Attr[]).filter((k) => f[k] !== current[k])
  if (changed.length === 0) return current
  // Otherwise a source could lift the protection and then suspend or deprovision the person.
  if (changed.includes('protected') && ctx.actor.type !== 'admin') {
    throw new AppError('forbidden', `only an admin may change whether person "${row.user_name}" is protected`)
  }
  if (changed.includes('managerId') && f.managerId) await assertNoManagerCycle(ctx, row.id, f.managerId)

  const at = provenanceEntry(ctx)
  const provenance = { ...current.provenance }
  const set: Updateable<PeopleTable> = {}
  const before: Record<string, unknown> = {}
  const after: Record<string, unknown> = {}
  for (const k of changed) {
    ;(set as Record<string, unknown>)[COLUMN[k]] = f[k]
    before[k] = current[k]
    after[k] = f[k]
    provenance[k] = at
  }
  let updated: Row
  try {
    updated = await ctx.trx
      .updateTable('people')
      .set({
        ...set,
        provenance: JSON.stringify(provenance),
        version: row.version + 1,
        updated_at: sql`now()`,
      })
      .where('id', '=', row.id)
      .returning(personColumns)
      .executeTakeFirstOrThrow()
  } catch (err) {
    throw referenceError(err, f)
  }
  await ctx.audit({ action: 'person.update', targetType: 'person', targetId: row.id, before, after })
  return toPerson(updated)
}

function guardProtected(ctx: WriteContext, row: Row, what: string): void {
  if (row.protected && ctx.actor.type !== 'admin') {
    throw new AppError(
      'forbidden',
      `person "${row.user_name}" is protected: only an admin may ${what} them, never a ${ctx.actor.type}`,
    )
  }
}

async function setStatus(
  ctx: WriteContext,
  row: Row,
  action: string,
  set: Updateable<PeopleTable>,
): Promise<Person> {
  const updated = await ctx.trx
    .updateTable('people')
    .set({ ...set, version: row.version + 1, updated_at: sql`now()` })
    .where('id', '=', row.id)
    .returning(personColumns)
    .executeTakeFirstOrThrow()
  const pick = (p: Row) => ({
    status: p.status,
    suspendedReason: p.suspended_reason,
    suspendedAt: p.suspended_at,
    suspendedBySourceId: p.suspended_by_source_id,
    removeAfter: p.remove_after,
  })
  await ctx.audit({ action, targetType: 'person', targetId: row.id, before: pick(row), after: pick(updated) })
  return toPerson(updated)
}

/** Suspends at once; `removeAfter` is when the deprovisioning job may remove them (the grace period). */
export async function suspendPerson(
  ctx: WriteContext,
  id: string,
  input: { reason: string; removeAfter?: Date | null },
): Promise<Person> {
  const row = await requireRow(ctx, id)
  guardProtected(ctx, row, 'suspend')
  if (row.status === 'deprovisioned') throw conflict(`person "${row.user_name}" is already deprovisioned`)
  if (row.status === 'suspended') {
    // Suspended already (disabled, say) and now gone from the source: the grace period starts now,
    // unless an earlier removal date is set.
    const removeAfter = input.removeAfter ?? null
    if (removeAfter === null || (row.remove_after !== null && row.remove_after <= removeAfter))
      return toPerson(row)
    return setStatus(ctx, row, 'person.schedule-removal', { remove_after: removeAfter })
  }
  return setStatus(ctx, row, 'person.suspend', {
    status: 'suspended',
    suspended_reason: cleanText(input.reason, 'reason', 1000),
    suspended_at: new Date(),
    suspended_by_source_id: ctx.actor.type === 'source' ? ctx.actor.id : null,
    remove_after: input.removeAfter ?? null,
  })
}

export async function reactivatePerson(ctx: WriteContext, id: string): Promise<Person> {
  const row = await requireRow(ctx, id)
  if (row.status === 'active') return toPerson(row)
  return setStatus(ctx, row, 'person.reactivate', {
    status: 'active',
    suspended_reason: null,
    suspended_at: null,
    suspended_by_source_id: null,
    remove_after: null,
  })
}

export async function deprovisionPerson(
  ctx: WriteContext,
  id: string,
  input: { reason: string },
): Promise<Person> {
  const row = await requireRow(ctx, id)
  guardProtected(ctx, row, 'deprovision')
  if (row.status === 'deprovisioned') return toPerson(row)
  return setStatus(ctx, row, 'person.deprovision', {
    status: 'deprovisioned',
    suspended_reason: cleanText(input.reason, 'reason', 1000),
    suspended_at: row.suspended_at ?? new Date(),
    remove_after: null,
  })
}

/**
 * Sets many manager links at once (a sync's reporting lines). The whole set is checked for cycles
 * after it is written, inside the transaction, so a cycle anywhere fails all of it.
 */
export async function setManagers(
  ctx: WriteContext,
  links: readonly { personId: string; managerId: string | null }[],
): Promise<number> {
  if (links.length === 0) return 0
  await ctx.lock('manager-chains')
  const wanted = new Map<string, string | null>()
  for (const l of links) {
    const personId = requireUuid(l.personId, 'personId')
    const managerId = l.managerId === null ? null : requireUuid(l.managerId, 'managerId')
    if (personId === managerId) throw invalid('a person cannot be their own manager')
    wanted.set(personId, managerId)
  }
  const at = JSON.stringify(provenanceEntry(ctx))
  const entries: { action: string; targetType: string; targetId: string; before: unknown; after: unknown }[] =
    []
  const ids = [...wanted.keys()]
  for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
    const part = ids.slice(i, i + INSERT_CHUNK)
    const current = await ctx.trx
      .selectFrom('people')
      .select(['id', 'manager_id'])
      .where('id', 'in', part)
      .forUpdate()
      .execute()
    if (current.length !== part.length) {
      const have = new Set(current.map((c) => c.id))
      throw notFound(`person ${part.find((p) => !have.has(p))} does not exist`)
    }
    const changed = current.filter((c) => c.manager_id !== wanted.get(c.id))
    if (changed.length === 0) continue
    const rows = sql.join(changed.map((c) => sql`(${c.id}::uuid, ${wanted.get(c.id)}::uuid)`))
    try {
      await sql`
        update people as p
        set manager_id = v.manager_id, version = p.version + 1, updated_at = now(),
            provenance = p.provenance || jsonb_build_object('managerId', ${at}::jsonb)
        from (values ${rows}) as v (id, manager_id)
        where p.id = v.id`.execute(ctx.trx)
    } catch (err) {
      throw referenceError(err, {})
    }
    for (const c of changed) {
      entries.push({
        action: 'person.update',
        targetType: 'person',
        targetId: c.id,
        before: { managerId: c.manager_id },
        after: { managerId: wanted.get(c.id) },
      })
    }
  }
  if (entries.length === 0) return 0
  // Checked after every link is written, a thousand starting points a query (bind-parameter limit).
  for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
    const starts = sql.join(entries.slice(i, i + INSERT_CHUNK).map((e) => sql`${e.targetId}::uuid`))
    const cycle = await sql<{ start: string }>`
      with recursive walk (start, id, depth) as (
        select p.id, p.manager_id, 1 from people p where p.id in (${starts})
        union all
        select w.start, p.manager_id, w.depth + 1 from walk w join people p on p.id = w.id
        where w.id <> w.start and w.depth < 1000
      )
      select start from walk where id = start limit 1`.execute(ctx.trx)
    if (cycle.rows.length > 0)
      throw invalid(`person ${cycle.rows[0]!.start} would end up in their own reporting chain`)
  }
  await ctx.auditMany(entries)
  return entries.length
}
