import { randomUUID } from 'node:crypto'
import { sql, type RawBuilder, type Selectable } from 'kysely'
import { prepareOnEachConnection } from '../db/prepared-statements'
import type { LeaverAction, PeopleTable } from '../db/schema'
import { joinPath, splitPath } from '../department-path'
import { conflict, invalid, notFound } from '../errors'
import { createDepartment } from './department-writes'
import { prepareCreateIdentity, saveIdentity, removeIdentity } from './identity-writes'
import {
  prepareCreatePerson,
  reactivatePerson,
  setManagers,
  suspendPerson,
  updatePerson,
  type PersonFields,
} from './person-writes'
import { outranks, type RankedSource } from './attribute-precedence'
import { runPrepared, runTogether } from './prepared-write'
import { personColumns, type Identity, type Person } from './records'
import type { PersonAttribute, SourcePolicy } from './source-policy'
import { isUuid, type WriteContext } from './write-context'

/**
 * A push source (SCIM) says what one user is now, and the org tree follows at once — the same
 * reconciliation a pull plan does (matching rule, per-attribute precedence, departments by path,
 * managers by the source's ids, leavers), applied in the caller's transaction instead of planned.
 */

export interface ClaimSource {
  id: string
  name: string
  precedence: number
  createdAt: Date
  policy: SourcePolicy
}

/** What the source says about the person, in the org's terms. */
export interface PersonClaim {
  userName: string
  displayName: string | null
  givenName: string | null
  familyName: string | null
  email: string | null
  employeeNumber: string | null
  title: string | null
  /** Names from the root, "/"-separated ("Head Office/Finance"); created when missing. */
  departmentPath: string | null
  /** The manager's id in this source (their identity's external id); bound when they arrive. */
  managerExternalId: string | null
  active: boolean
}

export interface ClaimInput {
  /** The existing identity to update; absent to create one (with `newIdentityId`, or a generated id). */
  identityId?: string
  newIdentityId?: string
  /** For a new identity: its external id; defaults to its own id (a SCIM id is ours to hand out). */
  externalId?: string
  claim: PersonClaim
  /** The source's document, kept as sent (the SCIM resource). */
  raw: unknown
  /** Optimistic concurrency (SCIM If-Match): versions of the identity the caller accepts. */
  expectedVersions?: readonly number[]
}

export interface ClaimResult {
  identity: Identity
  identityId: string
  personId: string
  version: number
  created: boolean
  changed: boolean
  /** Set when the claim made the person a leaver and the source's leaver guard held it. */
  held?: LeaverAction
}

type PersonRow = Omit<Selectable<PeopleTable>, 'search_text'>

export function claimAttributes(c: PersonClaim): Record<string, unknown> {
  // The sync planner's normalised shape, so a pull source weighs this source's say the same way.
  return {
    userName: c.userName,
    displayName: c.displayName,
    givenName: c.givenName,
    familyName: c.familyName,
    email: c.email?.toLowerCase() ?? null,
    employeeNumber: c.employeeNumber,
    title: c.title,
    departmentExternalId: c.departmentPath,
    manager: c.managerExternalId ? { externalId: c.managerExternalId } : null,
    active: c.active,
  }
}

async function lockIdentity(ctx: WriteContext, sourceId: string, identityId: string) {
  const row = isUuid(identityId)
    ? await ctx.trx
        .selectFrom('identities')
        .selectAll()
        .where('id', '=', identityId)
        .where('source_id', '=', sourceId)
        .where('removed_at', 'is', null)
        .forUpdate()
        .executeTakeFirst()
    : undefined
  if (!row) throw notFound(`user ${identityId} does not exist in this source`)
  return row
}

/** A failed precondition: the conflict's details say so, for protocols that answer it differently (412). */
function checkVersion(row: { id: string; version: number }, expected: readonly number[] | undefined): void {
  if (expected === undefined || expected.includes(row.version)) return
  throw conflict(`user ${row.id} is at version ${row.version}, not ${expected.join(' or ')}`, {
    precondition: true,
  })
}

/** The row of a person just created, without reading it back. */
function rowOf(p: Person): PersonRow {
  return {
    id: p.id,
    user_name: p.userName,
    display_name: p.displayName,
    given_name: p.givenName,
    family_name: p.familyName,
    email: p.email,
    employee_number: p.employeeNumber,
    title: p.title,
    department_id: p.departmentId,
    manager_id: p.managerId,
    status: p.status,
    suspended_reason: p.suspendedReason,
    suspended_at: p.suspendedAt,
    suspended_by_source_id: p.suspendedBySourceId,
    remove_after: p.removeAfter,
    protected: p.protected,
    provenance: p.provenance as PersonRow['provenance'],
    version: p.version,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  }
}

async function personRow(ctx: WriteContext, id: string): Promise<PersonRow | undefined> {
  return ctx.trx.selectFrom('people').select(personColumns).where('id', '=', id).executeTakeFirst()
}

/** The person the source's matching rule finds for a new identity: not deprovisioned, not linked to it yet. */
async function matchPerson(
  ctx: WriteContext,
  source: ClaimSource,
  claim: PersonClaim,
): Promise<PersonRow | undefined> {
  const condition = matchCondition(source, claim)
  if (!condition) return undefined
  return ctx.trx
    .selectFrom('people as p')
    .select(personColumns.map((c) => `p.${c}` as const))
    .where(condition)
    .orderBy('p.created_at')
    .limit(1)
    .executeTakeFirst()
}

/**
 * Per-attribute precedence between the sources linked to a person: lower precedence number wins (per
 * attribute overrides in each source's policy), on a tie the older source, then the lower id — the
 * same rule as the sync planner's. A source that gives no value leaves the attribute to any source
 * that gives one.
 */
async function precedenceFor(ctx: WriteContext, source: ClaimSource, personId: string) {
  const others = await ctx.trx
    .selectFrom('identities as i')
    .innerJoin('sources as s', 's.id', 'i.source_id')
    .select(['i.attributes', 's.id', 's.precedence', 's.policy', 's.created_at'])
    .where('i.person_id', '=', personId)
    .where('i.source_id', '<>', source.id)
    .where('i.removed_at', 'is', null)
    .where('i.active', '=', true)
    .execute()
  const me: RankedSource = source
  const rank = (o: (typeof others)[number]): RankedSource => ({
    id: o.id,
    precedence: o.precedence,
    createdAt: o.created_at,
    policy: o.policy,
  })
  const outranksMe = (o: (typeof others)[number], attr: PersonAttribute) => outranks(rank(o), me, attr)
  const saying = (key: string) =>
    others.filter((o) => o.attributes[key] !== null && o.attributes[key] !== undefined)
  return {
    /** Whether this source's value (or its silence) decides the attribute. */
    wins(attr: PersonAttribute, key: string, value: unknown): boolean {
      if (value === null || value === undefined) return saying(key).length === 0
      return !saying(key).some((o) => outranksMe(o, attr))
    },
    /** The value the person should have: the best-ranked source's that gives one (a plain text attribute). */
    resolve(attr: PersonAttribute, value: string | null): string | null {
      const rivals = saying(attr).filter((o) => value === null || outranksMe(o, attr))
      if (rivals.length === 0) return value
      // The best of the rivals: the one no other rival outranks, by the same rule.
      const best = rivals.reduce((a, b) => (outranks(rank(b), rank(a), attr) ? b : a))
      const v = best.attributes[attr]
      return typeof v === 'string' ? v : null
    },
  }
}

/** The names of a department path and the path of each ancestor ("A/B" → ["A", "A/B"]). */
export function pathPrefixes(path: string | null): { names: string[]; prefixes: string[] } {
  const names =
    path === null
      ? []
      : splitPath(path)
          .map((n) => n.trim())
          .filter((n) => n !== '')
  const prefixes: string[] = []
  for (const name of names) prefixes.push(joinPath(prefixes.at(-1) ?? null, name))
  return { names, prefixes }
}

/** Departments at these paths, by path as given. */
async function findDepartments(ctx: WriteContext, prefixes: readonly string[]): Promise<Map<string, string>> {
  // Compared by the database's lower() on both sides (JavaScript's case mapping differs for some
  // letters, e.g. "İ"), the same rule as the sibling-name unique index.
  const rows = await sql<{ id: string; prefix: string }>`
    select d.id, p.prefix from departments d
    join unnest(${prefixes}::text[]) as p (prefix) on lower(d.path) = lower(p.prefix)`.execute(ctx.trx)
  return new Map(rows.rows.map((r) => [r.prefix, r.id]))
}

/** The department at this path, created (owned by the source) where missing. */
export async function departmentFor(
  ctx: WriteContext,
  source: ClaimSource,
  path: { names: string[]; prefixes: string[] },
  known: ReadonlyMap<string, string>,
): Promise<string | null> {
  const { names, prefixes } = path
  if (names.length === 0) return null
  const deepest = known.get(prefixes.at(-1)!)
  if (deepest) return deepest
  // Two pushes may create the same department at once: the second waits, then finds it.
  await ctx.lock('department-tree')
  const found = await findDepartments(ctx, prefixes)
  let parentId: string | null = null
  for (let i = 0; i < names.length; i++) {
    const existing = found.get(prefixes[i]!)
    if (existing) {
      parentId = existing
      continue
    }
    const created = await createDepartment(ctx, {
      name: names[i]!,
      parentId,
      sourceId: source.id,
      externalId: `path:${prefixes[i]}`,
    })
    parentId = created.id
  }
  return parentId
}

/** The matching rule's condition on people `p` for this claim, or undefined when the claim has no key. */
function matchCondition(source: ClaimSource, claim: PersonClaim) {
  const by = source.policy.matchBy
  const key = by === 'email' ? claim.email : by === 'employeeNumber' ? claim.employeeNumber : claim.userName
  if (!key) return undefined
  const keyMatches =
    by === 'employeeNumber'
      ? sql`p.employee_number = ${key}`
      : by === 'email'
        ? sql`lower(p.email) = lower(${key})`
        : sql`lower(p.user_name) = lower(${key})`
  return sql<boolean>`${keyMatches} and p.status <> 'deprovisioned' and not exists (
    select 1 from identities i where i.person_id = p.id and i.source_id = ${source.id} and i.removed_at is null)`
}

/** `prefixes` and nulls up to the next width of 8, 16, 32…, so the look-up's text has few shapes. */
function padded(prefixes: readonly string[]): (string | null)[] {
  const width = Math.max(8, 2 ** Math.ceil(Math.log2(prefixes.length)))
  return [...prefixes, ...new Array<null>(width - prefixes.length).fill(null)]
}

/**
 * The person of the source's identity with this external id, or null when there is none or it is
 * removed. By the unique key alone, removed_at checked on the row: with `removed_at is null` in the
 * where clause, a generic plan made while the table was small (statistics from before a first big
 * push) took the partial index identities_source_order and read every identity of the source for
 * each claim.
 */
export function managerLookup(sourceId: string, externalId: string): RawBuilder<string | null> {
  return sql<string | null>`(select case when removed_at is null then person_id end from identities
                   where source_id = ${sourceId} and external_id = ${externalId})`
}

/**
 * What a claim needs to know before it writes — the departments of its path that exist, its
 * manager's person, the person the matching rule finds — in one round trip.
 */
async function lookUp(
  ctx: WriteContext,
  source: ClaimSource,
  claim: PersonClaim,
  prefixes: readonly string[],
  match: boolean,
): Promise<{ departments: Map<string, string>; managerId: string | null; matchId: string | null }> {
  const condition = match ? matchCondition(source, claim) : undefined
  const query = sql<{
    departments: [string, string][] | null
    manager_id: string | null
    match_id: string | null
  }>`
      select
        ${
          prefixes.length > 0
            ? // One index probe per prefix (departments_path_lower), however many departments there are.
              // The prefixes are separate values, padded with nulls to a width of 8, 16, 32…: so even
              // the prepared statement's generic plan knows how many there are, and a few widths cover
              // every depth (a null prefix matches no department).
              sql`(select json_agg(json_build_array(p.prefix, d.id))
                   from unnest(array[${sql.join(padded(prefixes).map((p) => sql`${p}::text`))}]) as p (prefix)
                   cross join lateral (select id from departments
                                       where lower(path) = lower(p.prefix) limit 1) as d)`
            : sql`null::json`
        } as departments,
        ${
          claim.managerExternalId !== null
            ? managerLookup(source.id, claim.managerExternalId)
            : sql`null::uuid`
        } as manager_id,
        ${
          condition
            ? sql`(select p.id from people p where ${condition} order by p.created_at limit 1)`
            : sql`null::uuid`
        } as match_id`.compile(ctx.trx)
  // Every claim runs it, and planning it cost PostgreSQL more than running it. Its text takes one of
  // a few fixed shapes (prefix width, with or without manager, matching rule), so it can be prepared.
  prepareOnEachConnection(query.sql)
  const row = (await ctx.trx.executeQuery(query)).rows[0]!
  return {
    departments: new Map(row.departments ?? []),
    managerId: row.manager_id,
    matchId: row.match_id,
  }
}

function isProtected(source: ClaimSource, person: PersonRow): boolean {
  return (
    person.protected ||
    source.policy.protectedUserNames.some((n) => n.toLowerCase() === person.user_name.toLowerCase())
  )
}

export async function applyClaim(
  ctx: WriteContext,
  source: ClaimSource,
  input: ClaimInput,
): Promise<ClaimResult> {
  const { claim } = input
  const existing = input.identityId ? await lockIdentity(ctx, source.id, input.identityId) : undefined
  if (existing) checkVersion(existing, input.expectedVersions)
  const path = pathPrefixes(claim.departmentPath)
  const looked = await lookUp(ctx, source, claim, path.prefixes, !existing?.person_id)
  const departmentId = await departmentFor(ctx, source, path, looked.departments)
  const managerId = looked.managerId

  let person = existing?.person_id ? await personRow(ctx, existing.person_id) : undefined
  if (!person && looked.matchId) person = await personRow(ctx, looked.matchId)
  // A linked person who is gone: find one by the matching rule after all.
  if (!person && existing?.person_id) person = await matchPerson(ctx, source, claim)
  const id = existing?.id ?? input.newIdentityId ?? randomUUID()
  const identityInput = {
    id: existing ? undefined : id,
    sourceId: source.id,
    externalId: existing?.external_id ?? input.externalId ?? id,
    userName: claim.userName,
    attributes: claimAttributes(claim),
    raw: input.raw,
    active: claim.active,
  }
  let personCreated = false
  let saved: Awaited<ReturnType<typeof saveIdentity>>
  if (!person) {
    const newPerson = prepareCreatePerson(ctx, {
      userName: claim.userName,
      displayName: claim.displayName,
      givenName: claim.givenName,
      familyName: claim.familyName,
      email: claim.email,
      employeeNumber: claim.employeeNumber,
      title: claim.title,
      departmentId,
      managerId,
    })
    const personId = newPerson.personId
    if (!existing) {
      // A new person and a new identity of theirs (every SCIM create): both inserts in one round trip.
      const [created, identity] = await runTogether(
        ctx,
        newPerson,
        prepareCreateIdentity(ctx, { ...identityInput, personId }),
      )
      person = rowOf(created)
      saved = { identity, created: true, changed: true }
    } else {
      person = rowOf(await runPrepared(ctx, newPerson))
      saved = await saveIdentity(ctx, { ...identityInput, personId })
    }
    personCreated = true
  } else {
    saved = await saveIdentity(ctx, { ...identityInput, personId: person.id })
  }
  const identity = saved.identity

  if (!personCreated) {
    const precedence = await precedenceFor(ctx, source, person.id)
    const wins = precedence.wins.bind(precedence)
    const patch: Partial<PersonFields> = {}
    const desired = {
      userName: claim.userName,
      displayName: claim.displayName,
      givenName: claim.givenName,
      familyName: claim.familyName,
      email: claim.email,
      employeeNumber: claim.employeeNumber,
      title: claim.title,
    } as const
    const current: Record<keyof typeof desired, string | null> = {
      userName: person.user_name,
      displayName: person.display_name,
      givenName: person.given_name,
      familyName: person.family_name,
      email: person.email,
      employeeNumber: person.employee_number,
      title: person.title,
    }
    for (const attr of Object.keys(desired) as (keyof typeof desired)[]) {
      const value = precedence.resolve(attr, desired[attr])
      const same =
        attr === 'email'
          ? (value ?? '').toLowerCase() === (current.email ?? '').toLowerCase()
          : value === current[attr]
      // A person always has a user name: a source without one never clears it.
      if (same) continue
      if (attr === 'userName') {
        if (value !== null) patch.userName = value
      } else patch[attr] = value
    }
    if (
      departmentId !== person.department_id &&
      wins('departmentId', 'departmentExternalId', claim.departmentPath)
    )
      patch.departmentId = departmentId
    // A manager who has not arrived yet is bound when they do; until then the link stays as it is.
    const managerKnown = claim.managerExternalId === null || managerId !== null
    if (
      managerKnown &&
      managerId !== person.manager_id &&
      wins('managerId', 'manager', claim.managerExternalId)
    ) {
      if (managerId === person.id) throw invalid(`user ${claim.userName} cannot be their own manager`)
      patch.managerId = managerId
    }
    if (Object.keys(patch).length > 0) await updatePerson(ctx, person.id, patch)
  }

  // A manager named by an id that has not arrived yet: the report waits for them.
  const waitingFor = claim.managerExternalId !== null && managerId === null ? claim.managerExternalId : null
  if (waitingFor !== null) {
    await ctx.trx
      .insertInto('pending_manager_links')
      .values({ source_id: source.id, person_id: person.id, manager_external_id: waitingFor })
      .onConflict((oc) =>
        oc.columns(['source_id', 'person_id']).doUpdateSet({ manager_external_id: waitingFor }),
      )
      .execute()
  } else if (!personCreated) {
    await ctx.trx
      .deleteFrom('pending_manager_links')
      .where('source_id', '=', source.id)
      .where('person_id', '=', person.id)
      .execute()
  }

  // Reports who named this user as their manager before this user arrived. An external id drawn
  // here, a moment ago, cannot have been named by anyone: no statement for it.
  const freshExternalId = !existing && input.externalId === undefined && input.newIdentityId === undefined
  if (!existing && !freshExternalId) {
    const waiting = (
      await ctx.trx
        .deleteFrom('pending_manager_links')
        .where('source_id', '=', source.id)
        .where('manager_external_id', '=', identity.externalId)
        .returning('person_id as id')
        .execute()
    ).filter((r) => r.id !== person.id)
    const links: { personId: string; managerId: string }[] = []
    for (const report of waiting) {
      const precedence = await precedenceFor(ctx, source, report.id)
      if (precedence.wins('managerId', 'manager', identity.externalId))
        links.push({ personId: report.id, managerId: person.id })
    }
    if (links.length > 0) await setManagers(ctx, links)
  }

  // Attribute, department and manager changes above leave the status as it was read.
  let held: LeaverAction | undefined
  if (!claim.active && person.status === 'active' && !(await vouchedElsewhere(ctx, person.id, source.id))) {
    held = await leave(ctx, source, identity.id, person, 'suspend')
  } else if (claim.active) {
    if (existing) await supersedeHeld(ctx, identity.id)
    if (person.status === 'suspended' && person.suspended_by_source_id === source.id) {
      await reactivatePerson(ctx, person.id)
    }
  }
  return {
    identity,
    identityId: identity.id,
    personId: person.id,
    version: identity.version,
    created: !existing,
    changed: saved.changed,
    ...(held ? { held } : {}),
  }
}

/** The source no longer has this user: the identity is removed and the person leaves (after the grace period). */
export async function withdrawClaim(
  ctx: WriteContext,
  source: ClaimSource,
  identityId: string,
  expectedVersions?: readonly number[],
): Promise<{ held?: LeaverAction }> {
  const existing = await lockIdentity(ctx, source.id, identityId)
  checkVersion(existing, expectedVersions)
  await removeIdentity(ctx, existing.id)
  if (existing.person_id)
    await ctx.trx
      .deleteFrom('pending_manager_links')
      .where('source_id', '=', source.id)
      .where('person_id', '=', existing.person_id)
      .execute()
  await supersedeHeld(ctx, existing.id)
  const person = existing.person_id ? await personRow(ctx, existing.person_id) : undefined
  if (!person || person.status === 'deprovisioned') return {}
  if (await vouchedElsewhere(ctx, person.id, source.id)) return {}
  const held = await leave(ctx, source, existing.id, person, 'deprovision')
  return held ? { held } : {}
}

/**
 * Whether another source still vouches for the person: a live, enabled identity of theirs there.
 * One source disabling or dropping someone does not make a leaver of a person another still has.
 */
async function vouchedElsewhere(ctx: WriteContext, personId: string, sourceId: string): Promise<boolean> {
  const row = await ctx.trx
    .selectFrom('identities')
    .select('id')
    .where('person_id', '=', personId)
    .where('source_id', '<>', sourceId)
    .where('removed_at', 'is', null)
    .where('active', '=', true)
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

/** Earlier held leavers of an identity no longer apply once the source says something new about it. */
async function supersedeHeld(ctx: WriteContext, identityId: string): Promise<void> {
  await ctx.trx
    .updateTable('scim_leaver_events')
    .set({ status: 'superseded', decided_at: sql`now()` })
    .where('identity_id', '=', identityId)
    .where('status', '=', 'held')
    .execute()
}

/**
 * Makes the person a leaver — or, past the source's leaver guard (too many in the rolling window),
 * records the leaver as held for an admin and leaves the person as they are. Protected people are
 * never made leavers by a source: that is audited instead.
 */
async function leave(
  ctx: WriteContext,
  source: ClaimSource,
  identityId: string,
  person: PersonRow,
  action: LeaverAction,
): Promise<LeaverAction | undefined> {
  if (isProtected(source, person)) {
    await ctx.audit({
      action: 'person.leaver-skipped',
      targetType: 'person',
      targetId: person.id,
      after: { reason: `protected: ${source.name} would ${action} them`, identityId },
    })
    return undefined
  }
  const guard = source.policy.scimLeaverGuard
  await ctx.lockNamed(`scim-leavers:${source.id}`)
  // The provider repeating itself (a retried PATCH) does not queue the same leaver twice.
  const waiting = await ctx.trx
    .selectFrom('scim_leaver_events')
    .select('id')
    .where('identity_id', '=', identityId)
    .where('status', '=', 'held')
    .where('action', '=', action)
    .executeTakeFirst()
  if (waiting) return action
  const { n } = await ctx.trx
    .selectFrom('scim_leaver_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('source_id', '=', source.id)
    .where('status', 'in', ['applied', 'held', 'approved'])
    .where('at', '>', sql<Date>`now() - make_interval(mins => ${guard.windowMinutes})`)
    .executeTakeFirstOrThrow()
  const hold = Number(n) >= guard.count
  await ctx.trx
    .insertInto('scim_leaver_events')
    .values({
      source_id: source.id,
      identity_id: identityId,
      person_id: person.id,
      action,
      status: hold ? 'held' : 'applied',
      requested_by: ctx.actor.name,
    })
    .execute()
  if (hold) {
    await ctx.audit({
      action: 'person.leaver-held',
      targetType: 'person',
      targetId: person.id,
      after: {
        action,
        identityId,
        reason: `more than ${guard.count} leavers from ${source.name} within ${guard.windowMinutes} minutes`,
      },
    })
    return action
  }
  await applyLeaver(ctx, source, person.id, action)
  return undefined
}

async function applyLeaver(ctx: WriteContext, source: ClaimSource, personId: string, action: LeaverAction) {
  const removeAfter =
    action === 'deprovision' ? new Date(Date.now() + source.policy.gracePeriodDays * 86_400_000) : null
  await suspendPerson(ctx, personId, {
    reason: action === 'deprovision' ? `deleted in ${source.name}` : `disabled in ${source.name}`,
    removeAfter,
  })
}

export interface HeldLeaver {
  id: string
  identityId: string
  personId: string | null
  action: LeaverAction
  requestedBy: string | null
  at: Date
}

/**
 * Approves (applies) or discards held leavers of a source: the given ones, or all held. Approving a
 * leaver whose person is protected, gone or already inactive changes nothing for that person.
 */
export async function decideHeldLeavers(
  ctx: WriteContext,
  source: ClaimSource,
  decision: 'approve' | 'discard',
  ids?: readonly string[],
): Promise<HeldLeaver[]> {
  if (ids)
    for (const id of ids)
      if (!isUuid(id)) throw invalid(`held leaver id must be a uuid, got ${JSON.stringify(id)}`)
  let query = ctx.trx
    .updateTable('scim_leaver_events')
    .set({
      status: decision === 'approve' ? 'approved' : 'discarded',
      decided_by: ctx.actor.id,
      decided_at: sql`now()`,
    })
    .where('source_id', '=', source.id)
    .where('status', '=', 'held')
  if (ids) {
    if (ids.length === 0) return []
    query = query.where('id', 'in', ids)
  }
  const rows = await query.returningAll().execute()
  if (ids && rows.length !== new Set(ids).size) {
    const found = new Set(rows.map((r) => r.id))
    throw notFound(
      `not held (any more) in source "${source.name}": ${ids.filter((i) => !found.has(i)).join(', ')}`,
    )
  }
  for (const r of rows) {
    if (decision === 'approve' && r.person_id) {
      const person = await personRow(ctx, r.person_id)
      if (person && person.status !== 'deprovisioned' && !isProtected(source, person)) {
        await applyLeaver(ctx, source, person.id, r.action)
      }
    }
  }
  await ctx.audit({
    action: decision === 'approve' ? 'source.leavers-approved' : 'source.leavers-discarded',
    targetType: 'source',
    targetId: source.id,
    after: { count: rows.length, ids: rows.map((r) => r.id) },
  })
  return rows.map((r) => ({
    id: r.id,
    identityId: r.identity_id,
    personId: r.person_id,
    action: r.action,
    requestedBy: r.requested_by,
    at: r.at,
  }))
}
