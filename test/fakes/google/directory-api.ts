import { type AccessTokens, type IssuedToken } from './access-tokens'
import { etagOf, groupResource, memberResource, orgUnitResource, userResource } from './directory-resources'
import { directoryErrors, type ApiError } from './google-errors'
import { type GoogleFakeQuirks } from './google-types'
import { type PageTokens } from './page-tokens'
import { type StoredOrgUnit, type StoredUser, type WorkspaceStore } from './workspace-store'

export const DIRECTORY_PREFIX = '/admin/directory/v1/'

const SCOPE = 'https://www.googleapis.com/auth/admin.directory.'
/** Any one of these scopes admits the call (read-write scopes imply read-only). */
const REQUIRED_SCOPES = {
  users: [`${SCOPE}user`, `${SCOPE}user.readonly`],
  orgunits: [`${SCOPE}orgunit`, `${SCOPE}orgunit.readonly`],
  groups: [`${SCOPE}group`, `${SCOPE}group.readonly`],
  members: [
    `${SCOPE}group.member`,
    `${SCOPE}group.member.readonly`,
    `${SCOPE}group`,
    `${SCOPE}group.readonly`,
  ],
}

export interface DirectoryContext {
  store: WorkspaceStore
  quirks: GoogleFakeQuirks
  tokens: AccessTokens
  pageTokens: PageTokens
  isAdmin(email: string): boolean
  now(): number
}

export interface HttpAnswer {
  status: number
  body: unknown
  headers?: Record<string, string>
}

type Route =
  | { kind: 'users' }
  | { kind: 'orgunits'; customerId: string }
  | { kind: 'groups' }
  | { kind: 'members'; groupKey: string }

function matchRoute(method: string, rest: string): Route | null {
  if (method !== 'GET') return null
  const parts = rest.split('/').map((p) => decodeURIComponent(p))
  if (parts.length === 1 && parts[0] === 'users') return { kind: 'users' }
  if (parts.length === 1 && parts[0] === 'groups') return { kind: 'groups' }
  if (parts.length === 3 && parts[0] === 'customer' && parts[2] === 'orgunits' && parts[1]) {
    return { kind: 'orgunits', customerId: parts[1] }
  }
  if (parts.length === 3 && parts[0] === 'groups' && parts[2] === 'members' && parts[1]) {
    return { kind: 'members', groupKey: parts[1] }
  }
  return null
}

function fromError(error: ApiError): HttpAnswer {
  return { status: error.status, body: error.body, headers: error.headers }
}

class RequestError extends Error {
  constructor(readonly apiError: ApiError) {
    super(apiError.body.error.message)
  }
}

function fail(error: ApiError): never {
  throw new RequestError(error)
}

function parseMaxResults(query: URLSearchParams, fallback: number, max: number): number {
  const raw = query.get('maxResults')
  if (raw === null) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > max) fail(directoryErrors.invalidInput())
  return n
}

function oneOf<T extends string>(
  query: URLSearchParams,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = query.get(name)
  if (raw === null) return fallback
  const match = allowed.find((a) => a.toLowerCase() === raw.toLowerCase())
  if (!match) fail(directoryErrors.invalidInput())
  return match
}

/** Parameters the fake deliberately does not emulate: answering as if they were absent would mislead. */
function rejectUnsupported(query: URLSearchParams, names: string[]): void {
  for (const name of names) {
    if (query.has(name)) {
      fail(
        directoryErrors.invalidInput(`Invalid Input: the orgsync Google fake does not implement '${name}'`),
      )
    }
  }
}

function isOwnCustomer(ctx: DirectoryContext, customer: string): boolean {
  return customer === 'my_customer' || customer === ctx.store.customerId
}

function byKey<T>(items: T[], key: (item: T) => string, descending: boolean): T[] {
  const keyed = items.map((item) => ({ item, k: key(item).toLowerCase() }))
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
  if (descending) keyed.reverse()
  return keyed.map((x) => x.item)
}

function paged<T>(
  ctx: DirectoryContext,
  signature: unknown,
  query: URLSearchParams,
  maxResults: number,
  listKeys: () => readonly string[],
  resolve: (key: string) => T | null,
): { items: T[]; nextPageToken?: string } {
  const page = ctx.pageTokens.page(
    JSON.stringify(signature),
    query.get('pageToken') ?? undefined,
    maxResults,
    listKeys,
  )
  if (!page) fail(directoryErrors.invalidInput())
  const items: T[] = []
  for (const key of page.keys) {
    const item = resolve(key)
    if (item !== null) items.push(item)
  }
  return page.nextPageToken ? { items, nextPageToken: page.nextPageToken } : { items }
}

/** Google leaves out an empty collection and a missing nextPageToken rather than sending [] or null. */
function listBody(
  kind: string,
  field: string,
  items: unknown[],
  nextPageToken?: string,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    kind,
    etag: etagOf(items.map((i) => (i as { etag?: string }).etag)),
  }
  if (items.length > 0) body[field] = items
  if (nextPageToken) body.nextPageToken = nextPageToken
  return body
}

function listUsers(query: URLSearchParams, ctx: DirectoryContext): HttpAnswer {
  rejectUnsupported(query, ['query', 'event', 'customFieldMask'])
  const customer = query.get('customer')
  const domain = query.get('domain')
  if (!customer && !domain) fail(directoryErrors.badRequest())
  if (customer && !isOwnCustomer(ctx, customer)) fail(directoryErrors.badRequest())
  const maxResults = parseMaxResults(query, 100, 500)
  oneOf(query, 'projection', ['basic', 'full'], 'basic')
  oneOf(query, 'viewType', ['admin_view'], 'admin_view')
  const orderBy = oneOf(query, 'orderBy', ['email', 'familyName', 'givenName', ''], '')
  const sortOrder = oneOf(query, 'sortOrder', ['ASCENDING', 'DESCENDING'], 'ASCENDING')
  const showDeleted = oneOf(query, 'showDeleted', ['true', 'false'], 'false') === 'true'
  const source = showDeleted ? ctx.store.deletedUsers : ctx.store.users

  const listKeys = (): string[] => {
    let users = [...source.values()]
    if (domain) {
      const suffix = `@${domain.toLowerCase()}`
      users = users.filter((u) => u.primaryEmail.toLowerCase().endsWith(suffix))
    }
    const sortKey: Record<string, (u: StoredUser) => string> = {
      email: (u) => u.primaryEmail,
      familyName: (u) => `${u.familyName}\u0000${u.givenName}`,
      givenName: (u) => `${u.givenName}\u0000${u.familyName}`,
    }
    const key = sortKey[orderBy]
    if (key) users = byKey(users, key, sortOrder === 'DESCENDING')
    return users.map((u) => u.id)
  }
  const admins = new Set(ctx.quirks.adminEmails.map((e) => e.toLowerCase()))
  const { items, nextPageToken } = paged(
    ctx,
    ['users', customer, domain, orderBy, sortOrder, showDeleted],
    query,
    maxResults,
    listKeys,
    (id) => {
      const user = source.get(id)
      return user ? userResource(ctx.store, user, admins.has(user.primaryEmail.toLowerCase())) : null
    },
  )
  return { status: 200, body: listBody('admin#directory#users', 'users', items, nextPageToken) }
}

function listOrgUnits(customerId: string, query: URLSearchParams, ctx: DirectoryContext): HttpAnswer {
  if (!isOwnCustomer(ctx, customerId)) fail(directoryErrors.badRequest())
  const type = oneOf(query, 'type', ['all', 'children', 'allIncludingParent'], 'children')
  const key = query.get('orgUnitPath')
  let from: StoredOrgUnit | undefined = ctx.store.rootOrgUnit
  if (key) from = ctx.store.orgUnitByKey(key)
  if (!from) fail(directoryErrors.invalidInput('Invalid Input: INVALID_OU_ID'))
  const start = from
  let units: StoredOrgUnit[]
  if (type === 'children') {
    units = [...start.children].map((id) => ctx.store.orgUnits.get(id)).filter((u) => u !== undefined)
  } else {
    units = ctx.store.descendants(start)
    if (type === 'allIncludingParent') units.unshift(start)
  }
  const items = units.map((u) => orgUnitResource(ctx.store, u))
  // No paging: orgunits.list has neither maxResults nor pageToken.
  return { status: 200, body: listBody('admin#directory#orgUnits', 'organizationUnits', items) }
}

function listGroups(query: URLSearchParams, ctx: DirectoryContext): HttpAnswer {
  rejectUnsupported(query, ['query'])
  const customer = query.get('customer')
  const domain = query.get('domain')
  const userKey = query.get('userKey')
  if (!customer && !domain && !userKey) fail(directoryErrors.badRequest())
  if (customer && userKey) fail(directoryErrors.badRequest())
  if (customer && !isOwnCustomer(ctx, customer)) fail(directoryErrors.badRequest())
  let member: StoredUser | undefined
  if (userKey) {
    member = ctx.store.userByKey(userKey)
    if (!member) fail(directoryErrors.notFound('userKey'))
  }
  const maxResults = parseMaxResults(query, 200, 200)
  const orderBy = oneOf(query, 'orderBy', ['email', ''], '')
  const sortOrder = oneOf(query, 'sortOrder', ['ASCENDING', 'DESCENDING'], 'ASCENDING')
  const listKeys = (): string[] => {
    let groups = [...ctx.store.groups.values()]
    if (domain) {
      const suffix = `@${domain.toLowerCase()}`
      groups = groups.filter((g) => g.email.toLowerCase().endsWith(suffix))
    }
    if (member) {
      const memberId = member.id
      groups = groups.filter((g) => g.members.has(memberId))
    }
    if (orderBy === 'email') groups = byKey(groups, (g) => g.email, sortOrder === 'DESCENDING')
    return groups.map((g) => g.id)
  }
  const { items, nextPageToken } = paged(
    ctx,
    ['groups', customer, domain, member?.id, orderBy, sortOrder],
    query,
    maxResults,
    listKeys,
    (id) => {
      const group = ctx.store.groups.get(id)
      return group ? groupResource(group) : null
    },
  )
  return { status: 200, body: listBody('admin#directory#groups', 'groups', items, nextPageToken) }
}

function listMembers(groupKey: string, query: URLSearchParams, ctx: DirectoryContext): HttpAnswer {
  rejectUnsupported(query, ['includeDerivedMembership'])
  const group = ctx.store.groupByKey(groupKey)
  if (!group) fail(directoryErrors.notFound('groupKey'))
  const maxResults = parseMaxResults(query, 200, 200)
  const rolesParam = query.get('roles')
  let roles: Set<string> | null = null
  if (rolesParam !== null) {
    roles = new Set(rolesParam.split(',').map((r) => r.trim().toUpperCase()))
    for (const r of roles)
      if (!['OWNER', 'MANAGER', 'MEMBER'].includes(r)) fail(directoryErrors.invalidInput())
  }
  const wanted = roles
  const { items, nextPageToken } = paged(
    ctx,
    ['members', group.id, rolesParam],
    query,
    maxResults,
    () => [...group.members].filter(([, m]) => !wanted || wanted.has(m.role)).map(([id]) => id),
    (id) => {
      const m = group.members.get(id)
      return m ? memberResource(ctx.store, id, m.role, m.type) : null
    },
  )
  return { status: 200, body: listBody('admin#directory#members', 'members', items, nextPageToken) }
}

function authenticate(authorization: string | undefined, ctx: DirectoryContext): IssuedToken {
  if (!authorization) fail(directoryErrors.loginRequired())
  const match = /^Bearer\s+(\S+)$/i.exec(authorization)
  const issued = match?.[1] ? ctx.tokens.lookup(match[1], ctx.now()) : undefined
  if (!issued) fail(directoryErrors.invalidCredentials())
  return issued
}

/** Takes one unit of the armed quota fault, if any; Google counts calls after authenticating them. */
function consumeQuota(ctx: DirectoryContext): void {
  const fault = ctx.quirks.quota
  if (!fault || fault.times <= 0) return
  fault.times -= 1
  if (fault.times <= 0) ctx.quirks.quota = null
  const reason = fault.reason ?? (fault.status === 429 ? 'rateLimitExceeded' : 'userRateLimitExceeded')
  fail(directoryErrors.quota(fault.status, reason, fault.retryAfterSeconds))
}

export function handleDirectoryRequest(
  method: string,
  pathname: string,
  query: URLSearchParams,
  authorization: string | undefined,
  ctx: DirectoryContext,
): HttpAnswer {
  const route = matchRoute(method, pathname.slice(DIRECTORY_PREFIX.length))
  if (!route) {
    return {
      status: 501,
      body: {
        error: {
          code: 501,
          message: `The orgsync Google fake does not implement ${method} ${pathname}`,
          errors: [{ message: 'Not Implemented', domain: 'global', reason: 'notImplemented' }],
        },
      },
    }
  }
  try {
    const token = authenticate(authorization, ctx)
    consumeQuota(ctx)
    if (!REQUIRED_SCOPES[route.kind].some((s) => token.scopes.has(s)))
      fail(directoryErrors.insufficientScopes())
    // Only administrators may read the directory: an impersonated non-admin, or the service account
    // itself (no subject), is refused.
    if (token.subject === null || !ctx.isAdmin(token.subject)) fail(directoryErrors.notAuthorized())
    switch (route.kind) {
      case 'users':
        return listUsers(query, ctx)
      case 'orgunits':
        return listOrgUnits(route.customerId, query, ctx)
      case 'groups':
        return listGroups(query, ctx)
      case 'members':
        return listMembers(route.groupKey, query, ctx)
    }
  } catch (e) {
    if (e instanceof RequestError) return fromError(e.apiError)
    throw e
  }
}
