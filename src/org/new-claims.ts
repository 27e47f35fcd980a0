import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { prepareOnEachConnection } from '../db/prepared-statements'
import {
  applyClaim,
  claimAttributes,
  departmentFor,
  pathPrefixes,
  type ClaimInput,
  type ClaimResult,
  type ClaimSource,
} from './identity-claims'
import { prepareCreateIdentitiesOf } from './identity-writes'
import { prepareCreatePeopleOf } from './person-writes'
import { runTogether } from './prepared-write'
import type { SourcePolicy } from './source-policy'
import type { WriteContext } from './write-context'

/** One unit of a shared transaction: a source's claim, applied under the unit's own context. */
export interface ClaimUnit {
  source: ClaimSource
  input: ClaimInput
}

/**
 * A claim that creates an identity with an id of our choosing (a SCIM POST) for someone active: the
 * case the statements below cover. Any other claim runs through applyClaim.
 */
function isFreshCreate(input: ClaimInput): boolean {
  return (
    input.identityId === undefined &&
    input.newIdentityId === undefined &&
    input.externalId === undefined &&
    input.claim.active
  )
}

/**
 * New users that arrive together (an identity provider's first push, 32 requests in flight), applied
 * in one transaction with one statement for all of them where applyClaim sends a few for each: one
 * look-up (departments, managers, the matching rule), one insert of people and one of identities
 * (one round trip together), and the waiting manager links. Each unit keeps its own context, so its
 * audit events name its own actor; the outcome is the one applyClaim gives each unit in turn.
 *
 * What applyClaim does differently for some claims stays with it: those run through it, one after
 * another, after the others — claims that update or link an identity, that arrive inactive, that the
 * matching rule links to an existing person, and claims of a second source in the batch. Within one
 * source they cannot interfere: the matching rule skips people who already have an identity of the
 * source, so none of them can match the person another one creates. Departments missing from the
 * tree are created one unit at a time, under the tree's lock, as applyClaim does.
 *
 * A failure fails the whole call (and the caller's transaction): WriteCoalescer then runs each unit
 * alone, so a duplicate userName gets its conflict and the others commit.
 */
export async function applyNewClaims(
  contexts: readonly WriteContext[],
  units: readonly ClaimUnit[],
): Promise<ClaimResult[]> {
  const sourceId = units.find((u) => isFreshCreate(u.input))?.source.id
  const together: number[] = []
  const later: number[] = []
  units.forEach((u, i) => (isFreshCreate(u.input) && u.source.id === sourceId ? together : later).push(i))
  const results: ClaimResult[] = new Array<ClaimResult>(units.length)
  if (together.length > 0) {
    const created = await createTogether(
      together.map((i) => contexts[i]!),
      units[together[0]!]!.source,
      together.map((i) => units[i]!.input),
    )
    for (let k = 0; k < together.length; k++) {
      const result = created[k]
      if (result) results[together[k]!] = result
      else later.push(together[k]!)
    }
  }
  later.sort((a, b) => a - b)
  for (const i of later) results[i] = await applyClaim(contexts[i]!, units[i]!.source, units[i]!.input)
  return results
}

/** The matching rule's key comparison for people `p` against the looked-up key `k.key`. */
function keyMatches(by: SourcePolicy['matchBy']) {
  return by === 'employeeNumber'
    ? sql`p.employee_number = k.key`
    : by === 'email'
      ? sql`lower(p.email) = lower(k.key)`
      : sql`lower(p.user_name) = lower(k.key)`
}

function matchKey(by: SourcePolicy['matchBy'], input: ClaimInput): string | null {
  const c = input.claim
  return (by === 'email' ? c.email : by === 'employeeNumber' ? c.employeeNumber : c.userName) || null
}

interface Looked {
  departments: Map<string, string>
  managers: (string | null)[]
  matches: (string | null)[]
}

/**
 * Departments by path prefix, each claim's manager and each claim's match, in one statement. Every
 * look-up is a scalar subquery, one index probe per value, whatever the plan cached for the
 * statement thinks of the tables' sizes: the statement's text depends only on the matching rule, so
 * it is prepared once per connection.
 */
async function lookUpAll(
  ctx: WriteContext,
  source: ClaimSource,
  prefixes: readonly string[],
  managerIds: readonly (string | null)[],
  keys: readonly (string | null)[],
): Promise<Looked> {
  const query = sql<{
    departments: [string, string | null][] | null
    managers: (string | null)[] | null
    matches: (string | null)[] | null
  }>`
    select
      (select json_agg(json_build_array(p.prefix,
                (select id from departments where lower(path) = lower(p.prefix) limit 1)))
         from unnest(${prefixes}::text[]) as p (prefix)) as departments,
      (select json_agg((select case when removed_at is null then person_id end from identities
                        where source_id = ${source.id} and external_id = m.external_id) order by m.ord)
         from unnest(${managerIds}::text[]) with ordinality as m (external_id, ord)) as managers,
      (select json_agg((select p.id from people p
                        where ${keyMatches(source.policy.matchBy)} and p.status <> 'deprovisioned'
                          and not exists (select 1 from identities i where i.person_id = p.id
                                            and i.source_id = ${source.id} and i.removed_at is null)
                        order by p.created_at limit 1) order by k.ord)
         from unnest(${keys}::text[]) with ordinality as k (key, ord)) as matches`.compile(ctx.trx)
  prepareOnEachConnection(query.sql)
  const row = (await ctx.trx.executeQuery(query)).rows[0]!
  const departments = new Map<string, string>()
  for (const [prefix, id] of row.departments ?? []) if (id !== null) departments.set(prefix, id)
  return { departments, managers: row.managers ?? [], matches: row.matches ?? [] }
}

/**
 * Creates the fresh claims of one source together. A claim the matching rule links to an existing
 * person is left to applyClaim: its entry is undefined.
 */
async function createTogether(
  contexts: readonly WriteContext[],
  source: ClaimSource,
  inputs: readonly ClaimInput[],
): Promise<(ClaimResult | undefined)[]> {
  const paths = inputs.map((input) => pathPrefixes(input.claim.departmentPath))
  const prefixes = [...new Set(paths.flatMap((p) => p.prefixes))]
  const looked = await lookUpAll(
    contexts[0]!,
    source,
    prefixes,
    inputs.map((input) => input.claim.managerExternalId),
    inputs.map((input) => matchKey(source.policy.matchBy, input)),
  )

  const fresh: number[] = []
  const departmentIds: (string | null)[] = []
  for (let k = 0; k < inputs.length; k++) {
    if (looked.matches[k]) continue
    fresh.push(k)
    const path = paths[k]!
    const deepest = path.prefixes.at(-1)
    let departmentId = deepest === undefined ? null : (looked.departments.get(deepest) ?? null)
    if (deepest !== undefined && departmentId === null) {
      departmentId = await departmentFor(contexts[k]!, source, path, looked.departments)
      if (departmentId !== null) looked.departments.set(deepest, departmentId)
    }
    departmentIds[k] = departmentId
  }
  const results: (ClaimResult | undefined)[] = new Array<ClaimResult | undefined>(inputs.length)
  if (fresh.length === 0) return results

  const people = prepareCreatePeopleOf(
    fresh.map((k) => {
      const c = inputs[k]!.claim
      return {
        ctx: contexts[k]!,
        fields: {
          userName: c.userName,
          displayName: c.displayName,
          givenName: c.givenName,
          familyName: c.familyName,
          email: c.email,
          employeeNumber: c.employeeNumber,
          title: c.title,
          departmentId: departmentIds[k]!,
          managerId: looked.managers[k] ?? null,
        },
      }
    }),
  )
  const identities = prepareCreateIdentitiesOf(
    fresh.map((k, n) => {
      const { claim, raw } = inputs[k]!
      const id = randomUUID()
      return {
        ctx: contexts[k]!,
        input: {
          id,
          sourceId: source.id,
          externalId: id,
          userName: claim.userName,
          attributes: claimAttributes(claim),
          raw,
          active: claim.active,
          personId: people.ids[n]!,
        },
      }
    }),
  )
  const [persons, created] = await runTogether(contexts[0]!, people, identities)

  // A manager named by an id that has not arrived yet: the report waits for them.
  const waiting = fresh.flatMap((k, n) => {
    const managerExternalId = inputs[k]!.claim.managerExternalId
    return managerExternalId !== null && !looked.managers[k]
      ? [{ source_id: source.id, person_id: persons[n]!.id, manager_external_id: managerExternalId }]
      : []
  })
  if (waiting.length > 0) await contexts[0]!.trx.insertInto('pending_manager_links').values(waiting).execute()

  fresh.forEach((k, n) => {
    const identity = created[n]!
    results[k] = {
      identity,
      identityId: identity.id,
      personId: persons[n]!.id,
      version: identity.version,
      created: true,
      changed: true,
    }
  })
  return results
}
