import type { CompiledQuery, Kysely } from 'kysely'
import { prepareOnEachConnection } from '../db/prepared-statements'
import type { DB } from '../db/schema'
import { CORE_USER_URN, type FilterNode } from './filter'
import type { ListParams } from './list-params'

/**
 * `GET /Users?filter=userName eq "…"` is what every provider sends before it creates or updates a
 * user, so it is the hottest read. Its page query is built once per database — by the same code as
 * any other listing, with stand-in values — and then reused with each request's values: building and
 * compiling it anew cost about a tenth of such a request's CPU.
 *
 * Only where the SQL cannot depend on the values: `userName` is a text column compared case-
 * insensitively, so the value is one bound parameter, and the source, page size and offset are too.
 * If the stand-ins do not come out as exactly one parameter each, there is no template and the
 * general path serves every request. On PostgreSQL the template is a prepared statement, so its
 * parse and plan are not paid per request either (src/db/prepared-statements.ts).
 */
const STAND_IN = {
  sourceId: '\u0001orgsync-template:source',
  userName: '\u0001orgsync-template:userName',
  limit: 987_654_321,
  offset: 876_543_219,
} as const

type BuildPage = (db: Kysely<DB>, sourceId: string, params: ListParams) => CompiledQuery

const templates = new WeakMap<Kysely<DB>, CompiledQuery | null>()

/** The filter is exactly `userName eq "<text>"` (core schema, no sub-attribute) and there is no sort. */
export function isUserNameLookup(params: ListParams): params is ListParams & { filter: FilterNode } {
  const f = params.filter
  return (
    f !== undefined &&
    f.kind === 'compare' &&
    f.op === 'eq' &&
    typeof f.value === 'string' &&
    f.path.subAttr === undefined &&
    f.path.name.toLowerCase() === 'username' &&
    (f.path.uri === undefined || f.path.uri.toLowerCase() === CORE_USER_URN.toLowerCase()) &&
    !params.sortBy
  )
}

/** The page query of a userName lookup, from the template; undefined where there is none. */
export function userNameLookupQuery(
  db: Kysely<DB>,
  build: BuildPage,
  sourceId: string,
  params: ListParams & { filter: FilterNode },
): CompiledQuery | undefined {
  let template = templates.get(db)
  if (template === undefined) {
    template = buildTemplate(db, build, params)
    templates.set(db, template)
  }
  if (!template) return undefined
  const userName = (params.filter as { value: string }).value
  const values = new Map<unknown, unknown>([
    [STAND_IN.sourceId, sourceId],
    [STAND_IN.userName, userName],
    [STAND_IN.limit, params.count],
    [STAND_IN.offset, params.startIndex - 1],
  ])
  return { ...template, parameters: template.parameters.map((p) => (values.has(p) ? values.get(p) : p)) }
}

function buildTemplate(db: Kysely<DB>, build: BuildPage, like: ListParams): CompiledQuery | null {
  const filter: FilterNode = {
    kind: 'compare',
    op: 'eq',
    path: { name: 'userName', position: 0 },
    value: STAND_IN.userName,
  }
  const compiled = build(db, STAND_IN.sourceId, {
    ...like,
    filter,
    sortBy: undefined,
    count: STAND_IN.limit,
    startIndex: STAND_IN.offset + 1,
  })
  const once = (v: unknown) => compiled.parameters.filter((p) => p === v).length === 1
  if (!Object.values(STAND_IN).every(once)) return null
  // Fixed text, bound values: PostgreSQL can plan it once per connection.
  prepareOnEachConnection(compiled.sql)
  return compiled
}
