import { ConnectorError, type RemoteChange, type RemoteUser } from '../../src/sync/connector'
import { canonicalDn, parentDn, parseDn, parseExtendedDn } from './distinguished-name'
import { DirSyncControl } from './dirsync-control'
import { adInactive, entryId, rawEntry, toRemoteUser, userAttributes } from './entry-mapping'
import type { LdapConfig } from './ldap-config'
import { searchError } from './ldap-errors'
import { buffer, extendedDn, many, one, type LdapEntry, type LdapSession } from './ldap-session'
import { adUserRoster } from './user-roster'

/**
 * Where the last DirSync read left off: one cookie per kind of object (users, groups, OUs), each
 * read with its own filter, so an entry's kind is known even when only a changed attribute comes.
 */
export interface DirSyncToken {
  v: 1
  kind: 'dirsync'
  /** base64 DirSync cookies. */
  users: string
  groups: string
  ous: string
  listedAt: number
}

type Stream = 'users' | 'groups' | 'ous'

/** What a DirSync round needs of the connector. */
export interface DirSyncContext {
  session: LdapSession
  config: LdapConfig
  userFilter: string
  groupFilter: string
  inScope(dn: string): boolean
  isDepartment(dn: string): boolean
  /** Parent DN → its department id (an OU this source reads), else null. */
  resolveParent(dn: string | null): Promise<string | null>
  managerId(value: string): string | undefined
  /** The groups `filter` finds and those they are nested in, whole. */
  groupChanges(filter: string, signal: AbortSignal): Promise<RemoteChange[]>
}

/** Tombstones keep objectClass but lose objectCategory: each filter also takes its kind's tombstones. */
function filters(ctx: Pick<DirSyncContext, 'userFilter' | 'groupFilter'>): Record<Stream, string> {
  return {
    users: `(|${ctx.userFilter}(&(isDeleted=TRUE)(objectClass=user)))`,
    groups: `(|${ctx.groupFilter}(&(isDeleted=TRUE)(objectClass=group)))`,
    ous: '(objectClass=organizationalUnit)',
  }
}

/** AD's naming context root: DirSync searches only there. */
async function namingContext(session: LdapSession, config: LdapConfig): Promise<string> {
  const root = await session.rootDse()
  if (root.defaultNamingContext) return root.defaultNamingContext
  const dcs = parseDn(config.baseDn).filter((r) => r.type.toLowerCase() === 'dc')
  return dcs.map((r) => `DC=${r.value}`).join(',')
}

/**
 * One DirSync read from `cookie` to the end (searching again while the server says there is more
 * data); returns the new cookie. No flags: the account needs "Replicating Directory Changes" on the
 * domain, and then sees tombstones too.
 */
async function readDirSync(
  session: LdapSession,
  what: string,
  root: string,
  filter: string,
  cookie: Buffer,
  options: { attributes: string[]; extendedDn: boolean },
  onPage: (entries: LdapEntry[]) => Promise<void>,
  signal: AbortSignal,
): Promise<Buffer> {
  let current = cookie
  for (;;) {
    signal.throwIfAborted()
    const control = new DirSyncControl(current)
    let entries: LdapEntry[]
    try {
      entries = (
        await session.client.search(
          root,
          {
            scope: 'sub',
            filter,
            attributes: options.attributes,
            explicitBufferAttributes: ['objectGUID'],
          },
          options.extendedDn ? [control, extendedDn()] : [control],
        )
      ).searchEntries
    } catch (err) {
      throw dirSyncError(err, what, root, cookie.length > 0)
    }
    await onPage(entries)
    if (!control.responseCookie) {
      throw new ConnectorError('permanent', `ldap: ${what}: the server answered without a DirSync cookie`)
    }
    current = control.responseCookie
    if (!control.moreData) return current
  }
}

function dirSyncError(err: unknown, what: string, root: string, withCookie: boolean): ConnectorError {
  const code = (err as { code?: number }).code
  const message = (err as { message?: string }).message ?? String(err)
  if (code === 50)
    return new ConnectorError(
      'permission',
      `ldap: ${what}: DirSync needs "Replicating Directory Changes" for the bind account on ${root} (or use incremental: "usn")`,
      { cause: err },
    )
  // A cookie the DC cannot use (corrupt, from another domain, or too old): start over. Samba says
  // 12 (unavailable critical extension: "Unable to unmarshall cookie"), Windows 2 or 53.
  if (withCookie && (code === 12 || code === 2 || code === 53 || /cookie/i.test(message)))
    return new ConnectorError(
      'resync-required',
      `ldap: the DC refused the saved DirSync cookie (${message})`,
      {
        cause: err,
      },
    )
  return searchError(err, what, root)
}

/**
 * The cookies a full listing starts from: a DirSync read of everything (object GUIDs only) before
 * the listing, so a change made while it runs is read again by the next round rather than lost.
 */
export async function initialDirSyncToken(
  ctx: Pick<DirSyncContext, 'session' | 'config' | 'userFilter' | 'groupFilter'>,
  signal: AbortSignal,
): Promise<DirSyncToken> {
  const root = await namingContext(ctx.session, ctx.config)
  const f = filters(ctx)
  const cookies = {} as Record<Stream, string>
  for (const stream of ['users', 'groups', 'ous'] as const) {
    if (stream === 'ous' && ctx.config.departmentsFrom !== 'ou') {
      cookies.ous = ''
      continue
    }
    const cookie = await readDirSync(
      ctx.session,
      `DirSync ${stream}`,
      root,
      f[stream],
      Buffer.alloc(0),
      { attributes: ['objectGUID'], extendedDn: false },
      () => Promise.resolve(),
      signal,
    )
    cookies[stream] = cookie.toString('base64')
  }
  return { v: 1, kind: 'dirsync', ...cookies, listedAt: Date.now() }
}

/**
 * Whether the bind account may use DirSync: a search for no object (an all-zero GUID) that fails
 * with insufficient access when the account lacks "Replicating Directory Changes".
 */
export async function checkDirSync(
  session: LdapSession,
  config: LdapConfig,
  signal: AbortSignal,
): Promise<string> {
  const root = await namingContext(session, config)
  await readDirSync(
    session,
    'DirSync',
    root,
    guidFilter(Buffer.alloc(16)),
    Buffer.alloc(0),
    { attributes: ['objectGUID'], extendedDn: false },
    () => Promise.resolve(),
    signal,
  )
  return `incremental runs by DirSync at ${root}`
}

export function parseDirSyncToken(token: string): DirSyncToken {
  try {
    const t = JSON.parse(token) as DirSyncToken
    if (
      t.v === 1 &&
      t.kind === 'dirsync' &&
      typeof t.users === 'string' &&
      typeof t.groups === 'string' &&
      typeof t.ous === 'string' &&
      typeof t.listedAt === 'number'
    )
      return t
  } catch {
    // falls through
  }
  throw new ConnectorError(
    'resync-required',
    'ldap: the saved cursor is not a DirSync one (incremental was "usn", or an older version)',
  )
}

/** Whether the entry carries the attribute at all (DirSync sends only changed ones; [] is cleared). */
function has(entry: LdapEntry, attribute: string): boolean {
  const lower = attribute.toLowerCase()
  return Object.keys(entry).some((k) => k.toLowerCase() === lower)
}

const isTombstone = (e: LdapEntry) => one(e, 'isDeleted')?.toUpperCase() === 'TRUE'

/** `\hh` for each byte: an objectGUID in a search filter. */
function guidFilter(guid: Buffer): string {
  return `(objectGUID=${[...guid].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')})`
}

/** Tombstones: whether the object was last where this source reads. */
function wasInScope(ctx: DirSyncContext, e: LdapEntry): boolean {
  const parent = one(e, 'lastKnownParent')
  return parent !== undefined && ctx.inScope(parseExtendedDn(parent).dn)
}

/**
 * What changed since the token's cookies: OUs (whole: their name and place come from the DN),
 * users (new and moved ones whole, others as partial records of the attributes that changed;
 * tombstones and users that left the scope as removed), changed groups (re-read whole, with the
 * groups they are nested in), deleted groups and OUs; and, with deletedObjects "compare", the
 * complete list of user GUIDs.
 */
export async function readDirSyncRound(
  ctx: DirSyncContext,
  token: DirSyncToken,
  signal: AbortSignal,
): Promise<{ changes: RemoteChange[]; deltaToken: DirSyncToken; counts: Record<Stream, number> }> {
  const { session, config } = ctx
  const root = await namingContext(session, config)
  const f = filters(ctx)
  const changes: RemoteChange[] = []
  const counts: Record<Stream, number> = { users: 0, groups: 0, ous: 0 }
  const base = canonicalDn(config.baseDn)
  const next: DirSyncToken = { ...token }

  if (config.departmentsFrom === 'ou') {
    const cookie = await readDirSync(
      session,
      'DirSync OUs',
      root,
      f.ous,
      Buffer.from(token.ous, 'base64'),
      { attributes: ['objectGUID', 'ou', 'isDeleted', 'lastKnownParent'], extendedDn: false },
      async (entries) => {
        counts.ous += entries.length
        for (const e of entries) {
          const id = entryId(e, config)
          if (!id) continue
          if (isTombstone(e)) {
            if (wasInScope(ctx, e)) changes.push({ kind: 'department.removed', externalId: id })
            continue
          }
          const dn = canonicalDn(e.dn)
          if (!ctx.isDepartment(dn) || dn === base) continue
          changes.push({
            kind: 'department',
            department: {
              externalId: id,
              name: one(e, 'ou') ?? parseDn(e.dn)[0]!.value,
              parentExternalId: await ctx.resolveParent(parentDn(dn)),
            },
          })
        }
      },
      signal,
    )
    next.ous = cookie.toString('base64')
  }

  const now = new Date()
  const usersCookie = await readDirSync(
    session,
    'DirSync users',
    root,
    f.users,
    Buffer.from(token.users, 'base64'),
    // Every attribute that changed (none named: a named but unchanged one would look cleared).
    { attributes: [], extendedDn: true },
    async (entries) => {
      counts.users += entries.length
      for (const e of entries) {
        const id = entryId(e, config)
        if (!id) continue
        const dn = parseExtendedDn(e.dn).dn
        if (isTombstone(e) || !ctx.inScope(dn)) {
          changes.push({ kind: 'user.removed', externalId: id, deleted: false })
          continue
        }
        const department =
          config.departmentsFrom === 'ou' ? await ctx.resolveParent(parentDn(canonicalDn(dn))) : null
        const placement = { byPlacement: () => department }
        // New (objectClass comes with every attribute) or moved, perhaps into the scope: whole.
        const moved = has(e, 'parentGUID') || has(e, 'name')
        const whole =
          many(e, 'objectClass').length > 0 ? e : moved ? await readUser(session, dn, config) : undefined
        if (whole) {
          const user = toRemoteUser(userPart(whole, config), config, placement, ctx.managerId, now)
          if (user) changes.push({ kind: 'user', user })
          continue
        }
        changes.push({ kind: 'user.partial', user: await partialUser(ctx, e, id, department, now) })
      }
    },
    signal,
  )
  next.users = usersCookie.toString('base64')

  const changedGroups: Buffer[] = []
  const groupsCookie = await readDirSync(
    session,
    'DirSync groups',
    root,
    f.groups,
    Buffer.from(token.groups, 'base64'),
    { attributes: ['objectGUID', 'isDeleted', 'lastKnownParent'], extendedDn: false },
    async (entries) => {
      counts.groups += entries.length
      for (const e of entries) {
        const id = entryId(e, config)
        const guid = buffer(e, 'objectGUID')
        if (!id || !guid) continue
        if (isTombstone(e)) {
          if (wasInScope(ctx, e)) changes.push({ kind: 'group.removed', externalId: id })
        } else if (ctx.inScope(e.dn)) changedGroups.push(guid)
        else changes.push({ kind: 'group.removed', externalId: id })
      }
      return Promise.resolve()
    },
    signal,
  )
  next.groups = groupsCookie.toString('base64')
  // Read in batches: a filter of thousands of GUIDs is more than a DC takes in one search.
  for (let i = 0; i < changedGroups.length; i += 200) {
    const batch = changedGroups
      .slice(i, i + 200)
      .map(guidFilter)
      .join('')
    changes.push(...(await ctx.groupChanges(`(&${ctx.groupFilter}(|${batch}))`, signal)))
  }

  if (config.deletedObjects !== 'tombstones') changes.push(...(await adUserRoster(session, ctx, signal)))
  return { changes, deltaToken: next, counts }
}

async function readUser(
  session: LdapSession,
  dn: string,
  config: LdapConfig,
): Promise<LdapEntry | undefined> {
  return session.read('read a moved user', dn, userAttributes(config), [extendedDn()])
}

/** A user's changed attributes as a partial record; attributes read together are read together. */
async function partialUser(
  ctx: DirSyncContext,
  e: LdapEntry,
  externalId: string,
  department: string | null,
  now: Date,
): Promise<Partial<RemoteUser> & { externalId: string }> {
  const { config } = ctx
  const user: Partial<RemoteUser> & { externalId: string } = { externalId }
  const text = (attribute: string) => one(e, attribute) ?? null
  if (has(e, 'displayName')) user.displayName = text('displayName')
  if (has(e, 'givenName')) user.givenName = text('givenName')
  if (has(e, 'sn')) user.familyName = text('sn')
  if (has(e, 'mail')) user.email = text('mail')
  if (has(e, 'employeeID')) user.employeeNumber = text('employeeID')
  if (has(e, 'title')) user.title = text('title')
  if (has(e, 'manager')) {
    const value = one(e, 'manager')
    const id = value ? ctx.managerId(value) : undefined
    user.manager = id ? { externalId: id } : null
  }
  // The user name and whether the account is usable each come from two attributes: when one of
  // them changed, both are read.
  const name = has(e, 'userPrincipalName') || has(e, 'sAMAccountName')
  const status = has(e, 'userAccountControl') || has(e, 'accountExpires')
  if (name || status) {
    const current = await ctx.session.read('read a changed user', parseExtendedDn(e.dn).dn, [
      'userPrincipalName',
      'sAMAccountName',
      'userAccountControl',
      'accountExpires',
    ])
    if (current) {
      if (name) {
        const userName = one(current, 'userPrincipalName') ?? one(current, 'sAMAccountName')
        if (userName) user.userName = userName
      }
      if (status) user.active = !adInactive(current, now)
    }
  }
  if (config.departmentsFrom === 'ou') user.departmentExternalId = department
  else if (has(e, config.departmentAttribute)) {
    const value = one(e, config.departmentAttribute)
    user.departmentPath = value ? value.split(config.departmentDelimiter) : []
  }
  user.raw = rawEntry(userPart(e, config))
  return user
}

/** The attributes of an entry that orgsync reads of users (DirSync sends every changed one). */
function userPart(e: LdapEntry, config: LdapConfig): LdapEntry {
  const wanted = new Set(userAttributes(config).map((a) => a.toLowerCase()))
  return Object.fromEntries(
    Object.entries(e).filter(([k]) => k === 'dn' || wanted.has(k.toLowerCase())),
  ) as LdapEntry
}
