import { randomUUID } from 'node:crypto'
import { sql, type Selectable } from 'kysely'
import type { IdentitiesTable } from '../db/schema'
import { sameJson } from '../canonical-json'
import { conflict, invalid, notFound, sqlState } from '../errors'
import { parkedName, parking, parkingIfAny } from './parked-names'
import { runPrepared, type PreparedWrite } from './prepared-write'
import { toIdentity, type Identity } from './records'
import { cleanOptionalText, cleanText, requireUuid, type WriteContext } from './write-context'

/** What one source says about one user, keyed by the source's own stable id. */
export interface IdentityInput {
  /**
   * The id of a new identity, when the caller hands it out first (a SCIM resource id): the identity is
   * created (a clash of external id is a conflict). Without it the identity is created or updated.
   */
  id?: string
  sourceId: string
  externalId: string
  userName?: string | null
  attributes: Record<string, unknown>
  raw?: unknown
  active?: boolean
  personId?: string | null
}

/**
 * Creates or updates the identity (source, externalId). Returns it with `changed` false when the
 * source said nothing new, so callers can skip reconciliation.
 */
export async function saveIdentity(
  ctx: WriteContext,
  input: IdentityInput,
): Promise<{ identity: Identity; created: boolean; changed: boolean }> {
  const sourceId = requireUuid(input.sourceId, 'sourceId')
  const externalId = cleanText(input.externalId, 'externalId', 1024)
  const userName = cleanOptionalText(input.userName, 'userName')
  const personId =
    input.personId === undefined || input.personId === null
      ? input.personId
      : requireUuid(input.personId, 'personId')
  // A caller handing out the id makes a new identity: nothing to look up.
  const existing =
    input.id !== undefined
      ? undefined
      : await ctx.trx
          .selectFrom('identities')
          .selectAll()
          .where('source_id', '=', sourceId)
          .where('external_id', '=', externalId)
          .forUpdate()
          .executeTakeFirst()
  // A parked identity (see parkIdentityUserNames) is what it was before parking: its temporary
  // user name is neither compared nor audited, and this write gives it its real one.
  const parkedAs = existing ? parkingIfAny(ctx)?.identities.get(existing.id) : undefined
  const was = existing && parkedAs !== undefined ? { ...existing, user_name: parkedAs } : existing
  if (!was) {
    const identity = await runPrepared(ctx, prepareCreateIdentity(ctx, input))
    return { identity, created: true, changed: true }
  }
  try {
    const next = {
      userName,
      attributes: input.attributes,
      active: input.active ?? true,
      personId: personId === undefined ? was.person_id : personId,
    }
    const unchanged =
      was.removed_at === null &&
      was.user_name === next.userName &&
      was.active === next.active &&
      was.person_id === next.personId &&
      sameJson(was.attributes, next.attributes)
    if (unchanged && (input.raw === undefined || sameJson(was.raw, input.raw))) {
      if (parkedAs !== undefined) await unpark(ctx, was.id, parkedAs)
      return { identity: toIdentity(was), created: false, changed: false }
    }
    const row = await ctx.trx
      .updateTable('identities')
      .set({
        user_name: next.userName,
        attributes: JSON.stringify(next.attributes),
        ...(input.raw === undefined ? {} : { raw: JSON.stringify(input.raw) }),
        active: next.active,
        person_id: next.personId,
        removed_at: null,
        version: was.version + 1,
        updated_at: sql`now()`,
      })
      .where('id', '=', was.id)
      .returningAll()
      .executeTakeFirstOrThrow()
    if (parkedAs !== undefined) parking(ctx).identities.delete(was.id)
    const identity = toIdentity(row)
    if (!unchanged) {
      await ctx.audit({
        action: 'identity.update',
        targetType: 'identity',
        targetId: identity.id,
        before: toIdentity(was),
        after: identity,
      })
    }
    return { identity, created: false, changed: !unchanged }
  } catch (err) {
    throw identityWriteError(err, userName, sourceId, personId)
  }
}

/** A new identity's columns but its id, validated. */
function newIdentityRow(input: IdentityInput) {
  return {
    source_id: requireUuid(input.sourceId, 'sourceId'),
    external_id: cleanText(input.externalId, 'externalId', 1024),
    user_name: cleanOptionalText(input.userName, 'userName'),
    attributes: JSON.stringify(input.attributes),
    raw: input.raw === undefined ? null : JSON.stringify(input.raw),
    active: input.active ?? true,
    person_id: input.personId ? requireUuid(input.personId, 'personId') : null,
  }
}

/**
 * The insert of a new identity, not yet sent: for a caller that sends it together with a statement it
 * does not depend on (see runTogether), saving a round trip. `done` audits it.
 */
export function prepareCreateIdentity(ctx: WriteContext, input: IdentityInput): PreparedWrite<Identity> {
  const write = prepareCreateIdentitiesOf([{ ctx, input }])
  return { ...write, done: async (rows) => (await write.done(rows))[0]! }
}

/**
 * The insert of new identities for several units of one transaction (new SCIM users arriving
 * together, see new-claims.ts), not yet sent: one statement, each identity audited by its own unit.
 */
export function prepareCreateIdentitiesOf(
  units: readonly { ctx: WriteContext; input: IdentityInput }[],
): PreparedWrite<Identity[]> {
  const values = units.map(({ input }) => ({
    ...(input.id === undefined ? {} : { id: requireUuid(input.id, 'identity id') }),
    ...newIdentityRow(input),
  }))
  const query = units[0]!.ctx.trx.insertInto('identities').values(values).returningAll().compile()
  const first = values[0]!
  return {
    query,
    // Several at once fail together, and their caller runs each alone for its own error (WriteCoalescer).
    failed: (err) =>
      values.length === 1 ? identityWriteError(err, first.user_name, first.source_id, first.person_id) : err,
    async done(rows) {
      const returned = rows as Selectable<IdentitiesTable>[]
      // RETURNING order is not promised for multi-row inserts: in input order by external id.
      const byKey = new Map(returned.map((r) => [`${r.source_id} ${r.external_id}`, r]))
      const created: Identity[] = []
      for (let n = 0; n < values.length; n++) {
        const v = values[n]!
        const identity = toIdentity(byKey.get(`${v.source_id} ${v.external_id}`)!)
        await units[n]!.ctx.audit({
          action: 'identity.create',
          targetType: 'identity',
          targetId: identity.id,
          after: identity,
        })
        created.push(identity)
      }
      return created
    },
  }
}

function identityWriteError(
  err: unknown,
  userName: string | null,
  sourceId: string,
  personId: string | null | undefined,
): unknown {
  if (sqlState(err) === '23505') return userNameTaken(userName)
  if (sqlState(err) === '23503') return invalid(`source ${sourceId} or person ${personId} does not exist`)
  return err
}

function userNameTaken(userName: string | null): Error {
  return conflict(`user name "${userName}" is already used by another identity of this source`, {
    uniqueness: 'userName',
  })
}

/**
 * Moves live identities' user names out of the way for the rest of the transaction (see
 * parked-names), so that identities of one source can swap user names, or pass them along a chain,
 * in any order. The next saveIdentity of a parked identity gives it its new user name and is audited
 * as a change from its old one; unparkIdentities gives any identity still parked its old one back.
 * No audit event and no new version of its own.
 */
export async function parkIdentityUserNames(ctx: WriteContext, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return
  const parked = parking(ctx).identities
  const toPark = [...new Set(ids)].filter((id) => !parked.has(id))
  for (let i = 0; i < toPark.length; i += 1000) {
    const rows = await ctx.trx
      .selectFrom('identities')
      .select(['id', 'user_name'])
      .where('id', 'in', toPark.slice(i, i + 1000))
      .where('user_name', 'is not', null)
      .where('removed_at', 'is', null)
      .forUpdate()
      .execute()
    if (rows.length === 0) continue
    const values = sql.join(rows.map((r) => sql`(${r.id}::uuid, ${parkedName(r.id)}::text)`))
    await sql`
      update identities as i set user_name = v.user_name
      from (values ${values}) as v (id, user_name)
      where i.id = v.id`.execute(ctx.trx)
    for (const r of rows) parked.set(r.id, r.user_name!)
  }
}

/** Gives identities still parked in this transaction their user names back. */
export async function unparkIdentities(ctx: WriteContext): Promise<void> {
  const parked = parkingIfAny(ctx)?.identities
  if (!parked || parked.size === 0) return
  for (const [id, userName] of parked) {
    try {
      await unpark(ctx, id, userName)
    } catch (err) {
      if (sqlState(err) === '23505') throw userNameTaken(userName)
      throw err
    }
  }
}

async function unpark(ctx: WriteContext, id: string, userName: string): Promise<void> {
  await ctx.trx.updateTable('identities').set({ user_name: userName }).where('id', '=', id).execute()
  parking(ctx).identities.delete(id)
}

/** Marks an identity as gone from its source; the row stays for history and reactivation. */
export async function removeIdentity(ctx: WriteContext, id: string): Promise<Identity> {
  const row = await ctx.trx
    .updateTable('identities')
    .set({ removed_at: sql`now()`, active: false, updated_at: sql`now()`, version: sql`version + 1` })
    .where('id', '=', requireUuid(id, 'identity id'))
    .where('removed_at', 'is', null)
    .returningAll()
    .executeTakeFirst()
  if (!row) {
    const exists = await ctx.trx.selectFrom('identities').selectAll().where('id', '=', id).executeTakeFirst()
    if (!exists) throw notFound(`identity ${id} does not exist`)
    return toIdentity(exists)
  }
  const identity = toIdentity(row)
  await ctx.audit({
    action: 'identity.remove',
    targetType: 'identity',
    targetId: id,
    after: { removedAt: row.removed_at },
  })
  return identity
}

/**
 * Creates identities that do not exist yet, a thousand rows a statement, each audited. An identity
 * that exists already (same source and external id, or user name) fails the whole call.
 */
export async function createIdentities(
  ctx: WriteContext,
  inputs: readonly IdentityInput[],
): Promise<Identity[]> {
  const created: Identity[] = []
  for (let i = 0; i < inputs.length; i += 1000) {
    const values = inputs.slice(i, i + 1000).map((input) => ({ id: randomUUID(), ...newIdentityRow(input) }))
    let rows: Awaited<ReturnType<typeof insert>>
    const insert = () =>
      // DO NOTHING rather than a check first: the check cost a scan per batch once the table had
      // grown within one transaction (its statistics still said empty); a clash is the rare case.
      ctx.trx
        .insertInto('identities')
        .values(values)
        .onConflict((oc) => oc.doNothing())
        .returningAll()
        .execute()
    try {
      rows = await insert()
    } catch (err) {
      if (sqlState(err) === '23503') throw invalid('an identity names a source or person that does not exist')
      throw err
    }
    if (rows.length < values.length) {
      const inserted = new Set(rows.map((r) => r.id))
      const skipped = values.filter((v) => !inserted.has(v.id))
      throw conflict(`already in this source: ${(await clashes(ctx, skipped)).join(', ')}`)
    }
    const byId = new Map(rows.map((r) => [r.id, r]))
    created.push(...values.map((v) => toIdentity(byId.get(v.id)!)))
  }
  await ctx.auditMany(
    created.map((identity) => ({
      action: 'identity.create',
      targetType: 'identity',
      targetId: identity.id,
      after: identity,
    })),
  )
  return created
}

/** Names the identities that clash with `values` (by external id, or user name ignoring case), for the error. */
async function clashes(
  ctx: WriteContext,
  values: { source_id: string; external_id: string; user_name: string | null }[],
): Promise<string[]> {
  const sourceIds = [...new Set(values.map((v) => v.source_id))]
  const names = values.map((v) => v.user_name?.toLowerCase()).filter((n): n is string => !!n)
  // One at a time: a transaction is one connection.
  const byExternalId = await ctx.trx
    .selectFrom('identities')
    .select(['external_id', 'user_name'])
    .where('source_id', 'in', sourceIds)
    .where(
      'external_id',
      'in',
      values.map((v) => v.external_id),
    )
    .limit(5)
    .execute()
  const byUserName =
    names.length === 0
      ? []
      : await ctx.trx
          .selectFrom('identities')
          .select(['external_id', 'user_name'])
          .where('source_id', 'in', sourceIds)
          .where(sql`lower(user_name)`, 'in', names)
          .where('user_name', 'is not', null)
          .where('removed_at', 'is', null)
          .limit(5)
          .execute()
  const found = [...byExternalId, ...byUserName].slice(0, 5)
  return found.length > 0
    ? found.map((c) => `${c.external_id} (user name "${c.user_name}")`)
    : values.slice(0, 5).map((v) => `${v.external_id} (user name "${v.user_name}", twice in this batch)`)
}
