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
 * Claims keep their arrival order. They are taken in runs of one source, each with one look-up for
 * the run's fresh creates (the run's other claims only add people who have an identity of the source,
 * whom its matching rule skips, so the look-up holds for the whole run). Consecutive fresh creates it
 * matched to no one are inserted together; any other claim — one that updates or links an identity,
 * arrives inactive, or that the matching rule links to an existing person — runs through applyClaim in
 * its place. Across sources order decides outcomes (one source's new person is the one another
 * source's rule finds, and whose say lands last), so a run ends where another source's claim comes.
 * Departments missing from the tree are created one unit at a time, under the tree's lock, as
 * applyClaim does. test/org/new-claims-property.test.ts holds the outcome equal to one by one.
 *
 * A failure fails the whole call (and the caller's transaction): WriteCoalescer then runs each unit
 * alone, so a duplicate userName gets its conflict and the others commit.
 */
export async function applyNewClaims(
  contexts: readonly WriteContext[],
  units: readonly ClaimUnit[],
): Promise<ClaimResult[]> {
  const results: ClaimResult[] = new Array<ClaimResult>(units.length)
  for (let start = 0; start < units.length;) {
    let end = start + 1
    while (end < units.length && units[end]!.source.id === units[start]!.source.id) end++
    await applyRun(contexts, units, start, end, results)
    start = end
  }
  return results
}

/**
 * One source's claims `start`…`end - 1`, in order: consecutive fresh creates the look-up matched to
 * no one are created together; any other claim runs through applyClaim in its place.
 */
async function applyRun(
  contexts: readonly WriteContext[],
  units: readonly ClaimUnit[],
  start: number,
  end: number,
  results: ClaimResult[],
): Promise<void> {
  const source = units[start]!.source
  const fresh: number[] = []
  for (let i = start; i < end; i++) if (isFreshCreate(units[i]!.input)) fresh.push(i)
  // The run's look-up holds for the whole run: the other claims of the source only add people who
  // have an identity of the source, whom its matching rule skips.
  const looked =
    fresh.length > 0
      ? await lookUpAll(
          contexts[start]!,
          source,
          [...new Set(fresh.flatMap((i) => pathPrefixes(units[i]!.input.claim.departmentPath).prefixes))],
          fresh.map((i) => units[i]!.input.claim.managerExternalId),
          fresh.map((i) => matchKey(source.policy.matchBy, units[i]!.input)),
        )
      : undefined
  const lookedUp = new Map(fresh.map((i, k) => [i, k]))
  let group: number[] = []
  const flush = async () => {
    if (group.length === 0) return
    const members = group.map((i) => ({
      ctx: contexts[i]!,
      input: units[i]!.input,
      managerId: looked!.managers[lookedUp.get(i)!] ?? null,
    }))
    const created = await createTogether(source, members, looked!.departments)
    group.forEach((i, k) => (results[i] = created[k]!))
    group = []
  }
  for (let i = start; i < end; i++) {
    const k = lookedUp.get(i)
    if (k !== undefined && !looked!.matches[k]) group.push(i)
    else {
      await flush()
      results[i] = await applyClaim(contexts[i]!, units[i]!.source, units[i]!.input)
    }
  }
  await flush()
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
 * Creates fresh creates of one source together that the run's look-up matched to no one, with the
 * managers it found; `departments` (by path prefix, as found) gains the departments created here.
 */
async function createTogether(
  source: ClaimSource,
  members: readonly { ctx: WriteContext; input: ClaimInput; managerId: string | null }[],
  departments: Map<string, string>,
): Promise<ClaimResult[]> {
  const contexts = members.map((m) => m.ctx)
  const inputs = members.map((m) => m.input)
  const managers = members.map((m) => m.managerId)
  const departmentIds: (string | null)[] = []
  for (let k = 0; k < inputs.length; k++) {
    const path = pathPrefixes(inputs[k]!.claim.departmentPath)
    const deepest = path.prefixes.at(-1)
    let departmentId = deepest === undefined ? null : (departments.get(deepest) ?? null)
    if (deepest !== undefined && departmentId === null) {
      departmentId = await departmentFor(contexts[k]!, source, path, departments)
      if (departmentId !== null) departments.set(deepest, departmentId)
    }
    departmentIds.push(departmentId)
  }
  const people = prepareCreatePeopleOf(
    inputs.map(({ claim: c }, k) => {
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
          managerId: managers[k] ?? null,
        },
      }
    }),
  )
  const identities = prepareCreateIdentitiesOf(
    inputs.map(({ claim, raw }, k) => {
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
          personId: people.ids[k]!,
        },
      }
    }),
  )
  const [persons, created] = await runTogether(contexts[0]!, people, identities)

  // A manager named by an id that has not arrived yet: the report waits for them.
  const waiting = inputs.flatMap(({ claim }, k) =>
    claim.managerExternalId !== null && !managers[k]
      ? [{ source_id: source.id, person_id: persons[k]!.id, manager_external_id: claim.managerExternalId }]
      : [],
  )
  if (waiting.length > 0) await contexts[0]!.trx.insertInto('pending_manager_links').values(waiting).execute()

  return created.map((identity, k) => {
    return {
      identity,
      identityId: identity.id,
      personId: persons[k]!.id,
      version: identity.version,
      created: true,
      changed: true,
    }
  })
}
