import type { IncomingHttpHeaders } from 'node:http'
import type { DeltaRounds } from './delta-rounds'
import type { PageCursor, ResourceKind, StateTokenCodec } from './delta-tokens'
import { graphErrorBody, graphErrors, type GraphError } from './graph-errors'
import {
  GROUP_PROPERTIES,
  UNMODELLED_GROUP_PROPERTIES,
  UNMODELLED_USER_PROPERTIES,
  USER_PROPERTIES,
} from './graph-model'
import type { GraphQuirks } from './graph-quirks'
import type { Reply, RequestIds } from './http-replies'
import type { AccessTokens } from './token-endpoint'

/** Graph's v1.0 `users/delta` and `groups/delta`, behind bearer-token checks and the quirk switches. */

export interface GraphContext {
  baseUrl: string
  rounds: DeltaRounds
  codec: StateTokenCodec
  quirks: GraphQuirks
  tokens: AccessTokens
  currentSeq(): number
  pageSize(): number
  membersPerPage(): number
}

/** Graph caps directory pages at 999 objects; 100 is its default page size for users and groups. */
export const MAX_PAGE_SIZE = 999
export const DEFAULT_PAGE_SIZE = 100
const ODATA_JSON =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8'

export function handleGraphRequest(
  method: string,
  url: URL,
  headers: IncomingHttpHeaders,
  ids: RequestIds,
  ctx: GraphContext,
): Reply | null {
  const segments = url.pathname.split('/').filter(Boolean)
  if (segments[0] !== 'v1.0') return null
  const fail = (e: GraphError): Reply => ({
    status: e.status,
    body: graphErrorBody(e, ids),
    headers: e.headers,
  })

  const throttle = ctx.quirks.takeThrottle()
  if (throttle) return fail(graphErrors.throttled(throttle.status, throttle.retryAfterSeconds))
  const auth = ctx.tokens.check(headers.authorization)
  if (auth === 'missing') return fail(graphErrors.tokenMissing())
  if (auth === 'expired') return fail(graphErrors.tokenExpired())
  if (auth === 'invalid') return fail(graphErrors.tokenInvalid())

  const [, collection, fn, ...extra] = segments
  if (collection !== 'users' && collection !== 'groups')
    return fail(graphErrors.segmentNotFound(collection ?? ''))
  if (
    !fn ||
    !['delta', 'delta()', 'microsoft.graph.delta', 'microsoft.graph.delta()'].includes(fn) ||
    extra.length
  ) {
    return fail(graphErrors.segmentNotFound(fn ?? collection))
  }
  if (method !== 'GET') return fail(graphErrors.methodNotAllowed(method))
  const kind: ResourceKind = collection
  if ((kind === 'users' && ctx.quirks.denyUsers) || (kind === 'groups' && ctx.quirks.denyGroups)) {
    return fail(graphErrors.forbidden())
  }

  const result = deltaPage(kind, url, headers, ctx)
  if ('status' in result) return fail(result)
  return { status: 200, body: result.body, headers: result.headers, contentType: ODATA_JSON }
}

function deltaPage(
  kind: ResourceKind,
  url: URL,
  headers: IncomingHttpHeaders,
  ctx: GraphContext,
): GraphError | { body: Record<string, unknown>; headers: Record<string, string> } {
  // OData system query option names are case-insensitive ($deltaToken and $deltatoken both appear in docs).
  const query = new Map<string, string>()
  for (const [k, v] of url.searchParams) query.set(k.toLowerCase(), v)
  for (const option of ['$top', '$orderby', '$filter', '$search', '$count']) {
    if (query.has(option)) return graphErrors.unsupportedQuery(option)
  }
  const prefer = parsePrefer(headers.prefer)
  const preferredSize = prefer.maxPageSize === undefined ? undefined : clampPageSize(prefer.maxPageSize)
  const reorder = ctx.quirks.reorder
  const skipToken = query.get('$skiptoken')
  const deltaToken = query.get('$deltatoken')

  let cursor: Omit<PageCursor, 'serial'>
  if (skipToken !== undefined) {
    // The token carries the round's $select; one sent alongside is ignored rather than re-applied.
    const state = ctx.codec.decode(skipToken)
    if (!state || state.type !== 'skip' || state.kind !== kind) return graphErrors.badStateToken()
    cursor = state
  } else {
    const select = parseSelect(kind, query.get('$select'), query.get('$expand'))
    if (select instanceof Error) return select.graphError
    if (deltaToken === 'latest') {
      // "Sync from now": no objects, just a deltaLink at the current state.
      const link = ctx.codec.encode({
        kind,
        type: 'delta',
        at: ctx.currentSeq(),
        select,
        pageSize: preferredSize ?? ctx.pageSize(),
      })
      return page(kind, ctx, select, [], { deltaLink: link }, prefer)
    }
    if (deltaToken) {
      const state = ctx.codec.decode(deltaToken)
      if (!state || state.type !== 'delta' || state.kind !== kind) return graphErrors.badStateToken()
      const tracked = query.has('$select') || query.has('$expand') ? select : state.select
      if (ctx.quirks.isExpired(state.serial)) {
        const restart = `${ctx.baseUrl}/v1.0/${kind}/delta?$deltatoken=${tracked ? `&$select=${tracked.join(',')}` : ''}`
        return graphErrors.deltaTokenExpired(ctx.quirks.deltaTokenExpiryCode, restart)
      }
      cursor = ctx.rounds.startDelta(kind, state.at, tracked, preferredSize ?? state.pageSize, reorder)
    } else {
      // No token, or the empty $deltatoken of a 410's Location: a fresh initial round.
      cursor = ctx.rounds.startInitial(kind, select, preferredSize ?? ctx.pageSize(), reorder)
    }
  }
  if (preferredSize !== undefined) cursor = { ...cursor, pageSize: preferredSize }

  if (ctx.quirks.emptyPages && !cursor.afterEmpty) {
    return page(
      kind,
      ctx,
      cursor.select,
      [],
      { nextLink: ctx.codec.encode({ ...cursor, afterEmpty: true }) },
      prefer,
    )
  }
  const minimal = prefer.minimal || !ctx.quirks.fullObjectsOnUpdate
  const result = ctx.rounds.page(
    { ...cursor, afterEmpty: undefined },
    { minimal, duplicates: ctx.quirks.duplicates, membersPerPage: ctx.membersPerPage() },
  )
  const link = result.next
    ? { nextLink: ctx.codec.encode({ ...result.next, afterEmpty: undefined }) }
    : {
        deltaLink: ctx.codec.encode({
          kind,
          type: 'delta',
          at: cursor.to,
          select: cursor.select,
          pageSize: cursor.pageSize,
        }),
      }
  return page(kind, ctx, cursor.select, result.value, link, prefer)
}

function page(
  kind: ResourceKind,
  ctx: GraphContext,
  select: string[] | null,
  value: Record<string, unknown>[],
  link: { nextLink: string } | { deltaLink: string },
  prefer: Prefer,
): { body: Record<string, unknown>; headers: Record<string, string> } {
  const base = `${ctx.baseUrl}/v1.0/${kind}/delta`
  const body: Record<string, unknown> = {
    '@odata.context': `${ctx.baseUrl}/v1.0/$metadata#${kind}${select ? `(${select.join(',')})` : ''}`,
  }
  if ('nextLink' in link) body['@odata.nextLink'] = `${base}?$skiptoken=${link.nextLink}`
  else body['@odata.deltaLink'] = `${base}?$deltatoken=${link.deltaLink}`
  body.value = value
  const applied = ['odata.track-changes']
  if (prefer.maxPageSize !== undefined) applied.push(`odata.maxpagesize=${clampPageSize(prefer.maxPageSize)}`)
  if (prefer.minimal) applied.push('return=minimal')
  return { body, headers: { 'preference-applied': applied.join(',') } }
}

interface Prefer {
  maxPageSize?: number
  minimal: boolean
}

function parsePrefer(header: string | string[] | undefined): Prefer {
  const prefs = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((p) => p.trim().toLowerCase())
  const out: Prefer = { minimal: prefs.includes('return=minimal') }
  for (const p of prefs) {
    const m = /^odata\.maxpagesize\s*=\s*(\d+)$/.exec(p)
    if (m?.[1]) out.maxPageSize = Number(m[1])
  }
  return out
}

function clampPageSize(n: number): number {
  return Math.min(MAX_PAGE_SIZE, Math.max(1, n))
}

class SelectError extends Error {
  constructor(readonly graphError: GraphError) {
    super(graphError.message)
  }
}

/** Canonical property names (Graph matches them case-insensitively), or null for the default set. */
function parseSelect(
  kind: ResourceKind,
  select: string | undefined,
  expand: string | undefined,
): string[] | null | SelectError {
  const relation = kind === 'users' ? 'manager' : 'members'
  const known = [
    ...(kind === 'users' ? USER_PROPERTIES : GROUP_PROPERTIES),
    ...(kind === 'users' ? UNMODELLED_USER_PROPERTIES : UNMODELLED_GROUP_PROPERTIES),
    relation,
  ]
  const type = kind === 'users' ? 'microsoft.graph.user' : 'microsoft.graph.group'
  let out: string[] | null = null
  if (select !== undefined) {
    out = []
    for (const raw of select
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (raw.toLowerCase() === 'id') continue
      const canonical = known.find((k) => k.toLowerCase() === raw.toLowerCase())
      if (!canonical) return new SelectError(graphErrors.badSelect(raw, type))
      if (!out.includes(canonical)) out.push(canonical)
    }
  }
  if (expand !== undefined) {
    // The groups delta guide expands members; the overview says $expand is otherwise unsupported.
    if (kind !== 'groups' || expand.trim().toLowerCase() !== 'members')
      return new SelectError(graphErrors.unsupportedQuery('$expand'))
    out = out ?? ['displayName', 'description']
    if (!out.includes('members')) out.push('members')
  }
  return out
}
