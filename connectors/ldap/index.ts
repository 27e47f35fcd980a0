import type { Logger } from 'pino'
import {
  ConnectorError,
  type ChangePage,
  type CheckResult,
  type Connector,
  type ConnectorDefinition,
  type Page,
  type RemoteChange,
  type RemoteDepartment,
  type RemoteGroup,
  type RemoteUser,
} from '../../src/sync/connector'
import { guidFromBuffer } from './ad-values'
import {
  checkDirSync,
  initialDirSyncToken,
  parseDirSyncToken,
  readDirSyncRound,
  type DirSyncContext,
  type DirSyncToken,
} from './dirsync-round'
import { canonicalDn, isUnder, parentDn, parseDn, parseExtendedDn } from './distinguished-name'
import {
  AD_USER_ATTRIBUTES,
  entryId,
  memberValues,
  toRemoteUser,
  userAttributes,
  type DepartmentResolver,
} from './entry-mapping'
import { formatGeneralizedTime, parseGeneralizedTime } from './generalized-time'
import {
  AD_GROUP_FILTER,
  AD_USER_FILTER,
  GENERIC_GROUP_FILTER,
  GENERIC_USER_FILTER,
  ldapConfigSchema,
  withDefaults,
  type LdapConfig,
  type LdapSettings,
} from './ldap-config'
import { buffer, extendedDn, many, one, showDeleted, LdapSession, type LdapEntry } from './ldap-session'
import { adUserRoster } from './user-roster'

/** Where the last full listing left the directory: AD's USN on one DC, and when the listing was. */
interface UsnToken {
  v: 1
  dsa: string
  invocationId: string
  usn: string
  listedAt: number
}

/**
 * Where the last listing or round of a generic server left off: the next round reads the entries
 * whose modifyTimestamp is at or after `since` (GeneralizedTime, the server's clock).
 */
interface TimestampToken {
  v: 1
  kind: 'modifyTimestamp'
  since: string
  listedAt: number
}

/** A full listing is due after this long even when USNs could say what changed (see changes()). */
const FULL_LISTING_EVERY_MS = 7 * 86_400_000

/** An incremental round whose token's last full listing is older than FULL_LISTING_EVERY_MS asks for one. */
function requireRecentListing(listedAt: number, why: string): void {
  if (Date.now() - listedAt > FULL_LISTING_EVERY_MS)
    throw new ConnectorError('resync-required', `ldap: the weekly full listing is due${why}`)
}
/**
 * Generic servers: how far before the newest modifyTimestamp read (less the time the read took) the
 * next round starts. A change committed while a listing ran, stamped a little before it was
 * visible, or replicated in from another server a few minutes late is read again rather than lost;
 * re-reading an unchanged entry plans nothing.
 */
const TIMESTAMP_OVERLAP_MS = 10 * 60_000
const CHANGE_PAGE = 1000

interface GroupEntry {
  id: string
  /** canonical DN */
  dn: string
  name: string
  description: string | null
  /** Member GUIDs or DNs (canonical), users and groups alike. */
  members: string[]
}

/**
 * Active Directory (and other LDAP servers) through ldapts. Reads users, OUs and groups by paged
 * search under the base DN; AD objects are keyed by objectGUID and DN-valued links (manager,
 * member) are read through the extended-DN control, so a move never breaks them. AD sources are
 * incremental: the DC's highestCommittedUSN, read before a full listing, is the cursor, and later
 * runs read what has a higher uSNChanged. Generic servers (OpenLDAP, 389-DS) key entries by
 * entryUUID, link by plain DN, and are incremental by modifyTimestamp; leavers are found by
 * comparing every run's full entryUUID listing.
 */
class LdapConnector implements Connector {
  readonly type = 'ldap'
  private session: LdapSession | undefined
  private readonly ad: boolean
  private readonly userFilter: string
  private readonly groupFilter: string
  /** canonical OU DN → department externalId, for the current listing. */
  private ous = new Map<string, string>()
  private usnToken: UsnToken | undefined
  private dirSyncToken: DirSyncToken | undefined
  private userPages: AsyncGenerator<LdapEntry[]> | undefined
  private groups: RemoteGroup[] | undefined
  private round: { changes: RemoteChange[]; deltaToken: string } | undefined
  /** canonical DN → id of entries read so far (generic servers: links are plain DNs). */
  private readonly idByDn = new Map<string, string>()
  /** Generic servers: when the current listing or round started, and the newest modifyTimestamp read. */
  private clock: { started: number; seen?: number } | undefined

  constructor(
    private readonly config: LdapConfig,
    private readonly logger: Logger,
  ) {
    this.ad = config.flavour === 'ad'
    this.userFilter = config.userFilter ?? (this.ad ? AD_USER_FILTER : GENERIC_USER_FILTER)
    this.groupFilter = config.groupFilter ?? (this.ad ? AD_GROUP_FILTER : GENERIC_GROUP_FILTER)
  }

  private async connect(): Promise<LdapSession> {
    this.session ??= await LdapSession.open(this.config)
    return this.session
  }

  private get controls() {
    return this.ad ? [extendedDn()] : []
  }

  /** Whether an entry is in what this source reads (included OUs, not excluded). */
  private inScope(dn: string): boolean {
    const plain = parseExtendedDn(dn).dn
    if (!isUnder(plain, this.config.baseDn)) return false
    if (this.config.excludeDns?.some((x) => isUnder(plain, x))) return false
    if (this.config.includeOus && !this.config.includeOus.some((x) => isUnder(plain, x))) return false
    return true
  }

  /** Whether an OU may be a department (in scope, and not one of the ignored OUs). */
  private isDepartment(dn: string): boolean {
    return this.inScope(dn) && !this.config.ignoredOus?.some((x) => isUnder(dn, x))
  }

  // ---- check ----------------------------------------------------------------------------------------

  async check(signal: AbortSignal): Promise<CheckResult> {
    const checks: CheckResult['checks'] = []
    const step = async (name: string, run: () => Promise<string>): Promise<boolean> => {
      try {
        signal.throwIfAborted()
        checks.push({ name, ok: true, message: await run() })
        return true
      } catch (err) {
        if (!(err instanceof ConnectorError)) throw err
        checks.push({ name, ok: false, message: err.message })
        return false
      }
    }
    try {
      const bound = await step('bind', async () => {
        await this.connect()
        return `bound to ${this.config.url} as ${this.config.bindDn}`
      })
      if (!bound) return { ok: false, checks }
      const based = await step('base DN', async () => {
        const base = await this.session!.read('read the base DN', this.config.baseDn, ['objectClass'])
        if (!base)
          throw new ConnectorError(
            'invalid-config',
            `ldap: the base DN ${this.config.baseDn} does not exist (or the bind account cannot see it)`,
          )
        return `${this.config.baseDn} exists`
      })
      if (based) {
        let sample: LdapEntry | undefined
        let count = 0
        const users = await step('users', async () => {
          // Generic servers are paged through to the end: a size limit on the account (OpenLDAP's
          // is 500 by default) stops even a paged search part-way, after the first pages.
          for await (const page of this.session!.pages('read users', this.config.baseDn, {
            filter: this.userFilter,
            attributes: this.ad ? ['1.1'] : ['entryUUID', 'modifyTimestamp'],
          })) {
            sample ??= page[0]
            count += page.length
            if (this.ad) break
          }
          if (!sample)
            throw new ConnectorError(
              'invalid-config',
              `ldap: no users under ${this.config.baseDn} match ${this.userFilter}`,
            )
          return this.ad
            ? `users found with ${this.userFilter}`
            : `${count} users found with ${this.userFilter}`
        })
        if (users && !this.ad) {
          await step('change tracking', async () => {
            if (!one(sample!, 'entryUUID'))
              throw new ConnectorError(
                'invalid-config',
                `ldap: ${sample!.dn} has no entryUUID (RFC 4530): the server must provide it (389-DS: the entryuuid plugin) and the bind account must be able to read it`,
              )
            if (parseGeneralizedTime(one(sample!, 'modifyTimestamp')) === undefined)
              throw new ConnectorError(
                'permission',
                `ldap: the bind account cannot read modifyTimestamp of ${sample!.dn}: every run will be a full listing`,
              )
            return 'users keyed by entryUUID; incremental runs from modifyTimestamp'
          })
        }
      }
      if (this.ad) {
        await step('change tracking', async () => {
          if (this.dirSync) return checkDirSync(this.session!, this.config, signal)
          const root = await this.session!.rootDse()
          if (!root.highestCommittedUSN)
            throw new ConnectorError('permission', 'ldap: the rootDSE has no highestCommittedUSN')
          return `incremental runs from USN ${root.highestCommittedUSN} on ${root.dsServiceName ?? 'this DC'}`
        })
      }
    } finally {
      await this.close()
    }
    return { ok: checks.every((c) => c.ok), checks }
  }

  private async close(): Promise<void> {
    await this.session?.close()
    this.session = undefined
  }

  // ---- change tracking state ------------------------------------------------------------------------

  private async usnState(): Promise<Omit<UsnToken, 'listedAt' | 'v'>> {
    const session = await this.connect()
    const root = await session.rootDse()
    if (!root.highestCommittedUSN || !root.dsServiceName)
      throw new ConnectorError(
        'permission',
        'ldap: the rootDSE gives no highestCommittedUSN or dsServiceName',
      )
    const settings = await session.read('read the DC invocationId', root.dsServiceName, ['invocationId'])
    const invocation = settings ? buffer(settings, 'invocationId') : undefined
    if (!invocation)
      throw new ConnectorError('permission', `ldap: cannot read invocationId of ${root.dsServiceName}`)
    return {
      dsa: canonicalDn(root.dsServiceName),
      invocationId: guidFromBuffer(invocation),
      usn: root.highestCommittedUSN,
    }
  }

  // ---- full listing -----------------------------------------------------------------------------------

  /**
   * A listing or round that fails closes its connection (the engine may retry with this same
   * connector, which then connects afresh); else every failed run would leave a socket open.
   */
  private async closingOnError<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read()
    } catch (err) {
      this.userPages = undefined
      this.groups = undefined
      this.round = undefined
      await this.close()
      throw err
    }
  }

  listDepartments(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteDepartment>> {
    return this.closingOnError(() => this.readDepartments(cursor, signal))
  }

  listUsers(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteUser>> {
    return this.closingOnError(() => this.readUsers(cursor, signal))
  }

  listGroups(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteGroup>> {
    return this.closingOnError(() => this.groupPage(cursor, signal))
  }

  changes(token: string, cursor: string | undefined, signal: AbortSignal): Promise<ChangePage> {
    return this.closingOnError(() => this.changePage(token, cursor, signal))
  }

  private async readDepartments(
    cursor: string | undefined,
    signal: AbortSignal,
  ): Promise<Page<RemoteDepartment>> {
    if (cursor !== undefined)
      throw new ConnectorError('permanent', `ldap: unexpected department cursor ${cursor}`)
    // The USN is read before anything is listed: a change made during the listing is seen again
    // by the next round rather than lost.
    if (this.dirSync) this.dirSyncToken = await initialDirSyncToken(await this.dirSyncContext(), signal)
    else if (this.ad) this.usnToken = { v: 1, ...(await this.usnState()), listedAt: Date.now() }
    else this.startClock()
    this.ous = new Map()
    if (this.config.departmentsFrom !== 'ou') return { items: [] }
    return { items: (await this.readOus(signal)).map((o) => o.department) }
  }

  /** Every OU that is a department, as departments; fills the DN → id map of OUs. */
  private async readOus(
    signal: AbortSignal,
  ): Promise<{ department: RemoteDepartment; modified: number | undefined }[]> {
    const session = await this.connect()
    const found: { id: string; dn: string; name: string; modified: number | undefined }[] = []
    this.ous = new Map()
    for await (const page of session.pages('list OUs', this.config.baseDn, {
      filter: '(objectClass=organizationalUnit)',
      attributes: this.ad
        ? ['objectGUID', 'entryUUID', 'ou', 'name']
        : ['entryUUID', 'ou', 'modifyTimestamp'],
      explicitBufferAttributes: ['objectGUID'],
    })) {
      signal.throwIfAborted()
      for (const e of page) {
        const id = entryId(e, this.config)
        if (!id || !this.isDepartment(e.dn)) continue
        const dn = canonicalDn(e.dn)
        if (dn === canonicalDn(this.config.baseDn)) continue
        found.push({ id, dn, name: this.ouName(e), modified: this.noteTimestamp(e) })
        this.ous.set(dn, id)
      }
    }
    return found.map((o) => ({
      department: {
        externalId: o.id,
        name: o.name,
        parentExternalId: this.ous.get(parentDn(o.dn) ?? '') ?? null,
      },
      modified: o.modified,
    }))
  }

  /**
   * An OU's name: AD's single `ou`; elsewhere `ou` may hold several names (`Finance`, `Accounting`)
   * in any order, and the one in the DN is the OU's own.
   */
  private ouName(e: LdapEntry): string {
    const rdn = parseDn(e.dn)[0]
    if (!this.ad && rdn && rdn.type.toLowerCase() === 'ou') return rdn.value
    return one(e, 'ou') ?? rdn!.value
  }

  // ---- modifyTimestamp (generic servers) --------------------------------------------------------------

  private startClock(): void {
    this.clock = { started: Date.now() }
    this.idByDn.clear()
  }

  /** Keeps the newest modifyTimestamp read (generic servers); returns the entry's, in ms. */
  private noteTimestamp(e: LdapEntry): number | undefined {
    if (this.ad || !this.clock) return undefined
    const t = parseGeneralizedTime(one(e, 'modifyTimestamp'))
    if (t !== undefined && (this.clock.seen === undefined || t > this.clock.seen)) this.clock.seen = t
    return t
  }

  /**
   * Where the next round starts: the newest modifyTimestamp read (never later than our own clock:
   * an entry stamped in the future must not hide the changes before it), less the time this
   * listing took and an overlap. Undefined when no timestamp could be read.
   */
  private timestampToken(listedAt: number): string | undefined {
    if (!this.clock || this.clock.seen === undefined) return undefined
    const now = Date.now()
    const since = Math.min(this.clock.seen, now) - (now - this.clock.started) - TIMESTAMP_OVERLAP_MS
    return JSON.stringify({
      v: 1,
      kind: 'modifyTimestamp',
      since: formatGeneralizedTime(since),
      listedAt,
    } satisfies TimestampToken)
  }

  private readonly placement: DepartmentResolver = {
    byPlacement: (dn) => this.ous.get(parentDn(dn) ?? '') ?? null,
  }

  private managerId = (value: string): string | undefined => {
    const { guid, dn } = parseExtendedDn(value)
    return guid ?? this.idByDn.get(canonicalDn(dn))
  }

  private async readUsers(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteUser>> {
    const session = await this.connect()
    if (cursor === undefined) {
      this.userPages = session.pages(
        'list users',
        this.config.baseDn,
        {
          filter: this.userFilter,
          attributes: userAttributes(this.config),
          explicitBufferAttributes: ['objectGUID'],
        },
        this.controls,
      )
    } else if (!this.userPages) {
      throw new ConnectorError(
        'transient',
        'ldap: list users: the paged search was lost; the run starts again',
      )
    }
    signal.throwIfAborted()
    const next = await this.userPages!.next()
    if (next.done) return { items: [] }
    if (!this.ad) await this.resolveManagerDns(next.value)
    const now = new Date()
    const items: RemoteUser[] = []
    for (const e of next.value) {
      if (!this.inScope(e.dn)) continue
      this.noteTimestamp(e)
      const user = toRemoteUser(e, this.config, this.placement, this.managerId, now)
      if (!user) continue
      this.idByDn.set(canonicalDn(e.dn), user.externalId)
      items.push(user)
    }
    return { items, nextCursor: String(Number(cursor ?? 0) + 1) }
  }

  /**
   * Generic servers link managers by plain DN: a manager not read yet is looked up by DN, so a
   * report listed before their manager keeps the link.
   */
  private async resolveManagerDns(entries: LdapEntry[]): Promise<void> {
    for (const e of entries) {
      const value = one(e, 'manager')
      if (!value) continue
      const dn = canonicalDn(value)
      if (this.idByDn.has(dn)) continue
      const manager = await this.session!.read('read a manager', value, ['entryUUID'])
      const id = manager ? entryId(manager, this.config) : undefined
      if (id) this.idByDn.set(dn, id)
    }
  }

  /** A group's entry with every member value (AD sends large ones in ranges of 1,500). */
  private async readGroup(e: LdapEntry): Promise<GroupEntry | undefined> {
    const id = entryId(e, this.config)
    if (!id) return undefined
    this.noteTimestamp(e)
    let { values, nextRange } = memberValues(e)
    const members = [...values]
    while (nextRange !== undefined) {
      const more = await this.session!.read(
        'read group members',
        parseExtendedDn(e.dn).dn,
        [`member;range=${nextRange}-*`],
        this.controls,
      )
      if (!more) break
      ;({ values, nextRange } = memberValues(more))
      members.push(...values)
    }
    return {
      id,
      dn: canonicalDn(e.dn),
      name: one(e, 'name') ?? one(e, 'cn') ?? parseDn(e.dn)[0]?.value ?? id,
      description: one(e, 'description') ?? null,
      members: members.map((m) => {
        const { guid, dn } = parseExtendedDn(m)
        return guid ?? canonicalDn(dn)
      }),
    }
  }

  private async readGroups(filter: string, signal: AbortSignal): Promise<Map<string, GroupEntry>> {
    const session = await this.connect()
    const groups = new Map<string, GroupEntry>()
    for await (const page of session.pages(
      'list groups',
      this.config.baseDn,
      {
        filter,
        attributes: this.ad
          ? ['objectGUID', 'entryUUID', 'cn', 'name', 'description', 'member', 'uniqueMember']
          : ['entryUUID', 'cn', 'description', 'member', 'uniqueMember', 'modifyTimestamp'],
        explicitBufferAttributes: ['objectGUID'],
      },
      this.controls,
    )) {
      signal.throwIfAborted()
      for (const e of page) {
        if (!this.inScope(e.dn)) continue
        const g = await this.readGroup(e)
        if (g) groups.set(g.id, g)
      }
    }
    return groups
  }

  /**
   * Users of each group, nested groups expanded (people are members of what their groups are
   * members of); a nesting cycle ends where it closes.
   */
  private expand(
    groups: Map<string, GroupEntry>,
    lookup: (key: string) => GroupEntry | undefined,
  ): RemoteGroup[] {
    const memo = new Map<string, Set<string>>()
    const usersOf = (g: GroupEntry, trail: Set<string>): Set<string> => {
      const known = memo.get(g.id)
      if (known) return known
      const out = new Set<string>()
      trail.add(g.id)
      for (const m of g.members) {
        const nested = lookup(m)
        if (nested) {
          if (!trail.has(nested.id)) for (const u of usersOf(nested, trail)) out.add(u)
        } else {
          out.add(this.idByDn.get(m) ?? m)
        }
      }
      trail.delete(g.id)
      memo.set(g.id, out)
      return out
    }
    return [...groups.values()].map((g) => ({
      externalId: g.id,
      displayName: g.name,
      description: g.description,
      memberExternalIds: [...usersOf(g, new Set())],
    }))
  }

  private async groupPage(cursor: string | undefined, signal: AbortSignal): Promise<Page<RemoteGroup>> {
    if (cursor === undefined || !this.groups) {
      const groups = await this.readGroups(this.groupFilter, signal)
      const byDn = new Map([...groups.values()].map((g) => [g.dn, g]))
      // Generic servers name nested groups by DN; AD's extended DNs give their GUIDs.
      this.groups = this.expand(groups, (key) => groups.get(key) ?? byDn.get(key))
    }
    const start = cursor === undefined ? 0 : Number(cursor)
    const end = Math.min(this.groups.length, start + 500)
    const items = this.groups.slice(start, end)
    if (end < this.groups.length) return { items, nextCursor: String(end) }
    await this.close()
    return { items }
  }

  deltaToken(): string | undefined {
    if (!this.ad) return this.clock ? this.timestampToken(this.clock.started) : undefined
    if (this.dirSync) return this.dirSyncToken ? JSON.stringify(this.dirSyncToken) : undefined
    return this.usnToken ? JSON.stringify(this.usnToken) : undefined
  }

  // ---- incremental rounds -----------------------------------------------------------------------------

  /**
   * What changed since the token's USN: changed OUs, users and groups (whole records: LDAP has no
   * partial ones), and the complete list of user GUIDs so deleted users are found (or, for an
   * account allowed to read tombstones, the deleted users themselves). Another DC, or the same DC
   * restored (a new invocationId), means USNs are not comparable: a full listing. So does a token
   * older than a week, which also catches deleted groups and OUs. Generic servers: the same, by
   * modifyTimestamp instead of USN (readTimestampRound).
   */
  private async changePage(
    token: string,
    cursor: string | undefined,
    signal: AbortSignal,
  ): Promise<ChangePage> {
    if (cursor === undefined || !this.round)
      this.round = this.dirSync
        ? await this.readDirSyncRound(parseDirSyncToken(token), signal)
        : this.ad
          ? await this.readRound(this.parseToken(token), signal)
          : await this.readTimestampRound(this.parseTimestampToken(token), signal)
    const start = cursor === undefined ? 0 : Number(cursor)
    const end = Math.min(this.round.changes.length, start + CHANGE_PAGE)
    const changes = this.round.changes.slice(start, end)
    if (end < this.round.changes.length) return { changes, nextCursor: String(end) }
    const deltaToken = this.round.deltaToken
    this.round = undefined
    await this.close()
    return { changes, deltaToken }
  }

  private parseToken(token: string): UsnToken {
    try {
      const t = JSON.parse(token) as UsnToken
      if (t.v === 1 && typeof t.usn === 'string' && typeof t.dsa === 'string') return t
    } catch {
      // falls through
    }
    throw new ConnectorError('resync-required', 'ldap: the saved cursor is not one this version reads')
  }

  private parseTimestampToken(token: string): TimestampToken {
    try {
      const t = JSON.parse(token) as TimestampToken
      if (t.v === 1 && t.kind === 'modifyTimestamp' && parseGeneralizedTime(t.since) !== undefined) return t
    } catch {
      // falls through
    }
    throw new ConnectorError(
      'resync-required',
      'ldap: the saved cursor is not a modifyTimestamp one (the source was AD, or an older version)',
    )
  }

  /**
   * A generic server's round: every user's entryUUID (the roster that finds leavers, and the DN →
   * id map for manager and member values), the OUs (all: few, and each user's department is read
   * from them), and the users and groups with a modifyTimestamp at or after the token's.
   */
  private async readTimestampRound(
    token: TimestampToken,
    signal: AbortSignal,
  ): Promise<{ changes: RemoteChange[]; deltaToken: string }> {
    requireRecentListing(token.listedAt, ' (it finds deleted groups and OUs)')
    this.startClock()
    const session = await this.connect()
    const changes: RemoteChange[] = []
    for await (const page of session.pages('list user entryUUIDs', this.config.baseDn, {
      filter: this.userFilter,
      attributes: ['entryUUID'],
    })) {
      signal.throwIfAborted()
      const ids: string[] = []
      for (const e of page) {
        const id = this.inScope(e.dn) ? entryId(e, this.config) : undefined
        if (!id) continue
        this.idByDn.set(canonicalDn(e.dn), id)
        ids.push(id)
      }
      changes.push({ kind: 'user.roster', externalIds: ids })
    }

    const sinceMs = parseGeneralizedTime(token.since)!
    this.ous = new Map()
    if (this.config.departmentsFrom === 'ou') {
      for (const o of await this.readOus(signal))
        if (o.modified === undefined || o.modified >= sinceMs)
          changes.push({ kind: 'department', department: o.department })
    }
    const since = `(modifyTimestamp>=${token.since})`
    const when = new Date()
    for await (const page of session.pages('changed users', this.config.baseDn, {
      filter: `(&${this.userFilter}${since})`,
      attributes: userAttributes(this.config),
    })) {
      signal.throwIfAborted()
      await this.resolveManagerDns(page)
      for (const e of page) {
        if (!this.inScope(e.dn)) continue
        this.noteTimestamp(e)
        const user = toRemoteUser(e, this.config, this.placement, this.managerId, when)
        if (user) changes.push({ kind: 'user', user })
      }
    }
    changes.push(...(await this.groupChanges(`(&${this.groupFilter}${since})`, signal)))
    const next = this.timestampToken(token.listedAt) ?? JSON.stringify(token)
    this.logger.info(
      { since: token.since, next: (JSON.parse(next) as TimestampToken).since, changes: changes.length },
      'ldap: changes read',
    )
    return { changes, deltaToken: next }
  }

  private async readRound(
    token: UsnToken,
    signal: AbortSignal,
  ): Promise<{ changes: RemoteChange[]; deltaToken: string }> {
    requireRecentListing(token.listedAt, ' (it finds deleted groups and OUs)')
    const now = await this.usnState()
    if (now.dsa !== token.dsa)
      throw new ConnectorError(
        'resync-required',
        `ldap: another domain controller answered (${now.dsa}, was ${token.dsa})`,
      )
    if (now.invocationId !== token.invocationId)
      throw new ConnectorError(
        'resync-required',
        `ldap: the domain controller's invocationId changed (restored from backup?): its USNs start a new history`,
      )
    const session = await this.connect()
    const since = `(uSNChanged>=${BigInt(token.usn) + 1n})`
    const changes: RemoteChange[] = []
    const resolveParent = await this.parentResolver()

    if (this.config.departmentsFrom === 'ou') {
      for await (const page of session.pages('changed OUs', this.config.baseDn, {
        filter: `(&(objectClass=organizationalUnit)${since})`,
        attributes: ['objectGUID', 'ou', 'name'],
        explicitBufferAttributes: ['objectGUID'],
      })) {
        for (const e of page) {
          const id = entryId(e, this.config)
          if (!id || !this.isDepartment(e.dn) || canonicalDn(e.dn) === canonicalDn(this.config.baseDn))
            continue
          changes.push({
            kind: 'department',
            department: {
              externalId: id,
              name: one(e, 'ou') ?? parseDn(e.dn)[0]!.value,
              parentExternalId: await resolveParent(parentDn(e.dn)),
            },
          })
        }
      }
    }
    const when = new Date()
    for await (const page of session.pages(
      'changed users',
      this.config.baseDn,
      {
        filter: `(&${this.userFilter}${since})`,
        attributes: AD_USER_ATTRIBUTES,
        explicitBufferAttributes: ['objectGUID'],
      },
      this.controls,
    )) {
      signal.throwIfAborted()
      for (const e of page) {
        if (!this.inScope(e.dn)) continue
        const department = this.config.departmentsFrom === 'ou' ? await resolveParent(parentDn(e.dn)) : null
        const user = toRemoteUser(e, this.config, { byPlacement: () => department }, this.managerId, when)
        if (user) changes.push({ kind: 'user', user })
      }
    }
    changes.push(...(await this.groupChanges(`(&${this.groupFilter}${since})`, signal)))

    if (this.config.deletedObjects === 'tombstones') {
      const root = (await session.rootDse()).defaultNamingContext ?? this.config.baseDn
      for await (const page of session.pages(
        'deleted users',
        root,
        {
          filter: `(&(isDeleted=TRUE)(objectClass=user)${since})`,
          attributes: ['objectGUID'],
          explicitBufferAttributes: ['objectGUID'],
        },
        [showDeleted()],
      )) {
        for (const e of page) {
          const id = entryId(e, this.config)
          if (id) changes.push({ kind: 'user.removed', externalId: id, deleted: false })
        }
      }
    } else {
      const scope = {
        config: this.config,
        userFilter: this.userFilter,
        inScope: (dn: string) => this.inScope(dn),
      }
      changes.push(...(await adUserRoster(session, scope, signal)))
    }
    this.logger.info({ since: token.usn, usn: now.usn, changes: changes.length }, 'ldap: changes read')
    return {
      changes,
      deltaToken: JSON.stringify({ v: 1, ...now, listedAt: token.listedAt } satisfies UsnToken),
    }
  }

  // ---- DirSync (AD, incremental: "dirsync"; see dirsync-round.ts) ------------------------------------

  private get dirSync(): boolean {
    return this.ad && this.config.incremental === 'dirsync'
  }

  private async dirSyncContext(): Promise<DirSyncContext> {
    return {
      session: await this.connect(),
      config: this.config,
      userFilter: this.userFilter,
      groupFilter: this.groupFilter,
      inScope: (dn) => this.inScope(dn),
      isDepartment: (dn) => this.isDepartment(dn),
      resolveParent: await this.parentResolver(),
      managerId: this.managerId,
      groupChanges: (filter, signal) => this.groupChanges(filter, signal),
    }
  }

  private async readDirSyncRound(
    token: DirSyncToken,
    signal: AbortSignal,
  ): Promise<{ changes: RemoteChange[]; deltaToken: string }> {
    requireRecentListing(token.listedAt, '')
    const round = await readDirSyncRound(await this.dirSyncContext(), token, signal)
    this.logger.info({ read: round.counts, changes: round.changes.length }, 'ldap: DirSync changes read')
    return { changes: round.changes, deltaToken: JSON.stringify(round.deltaToken) }
  }

  /**
   * The groups that `filter` (changed groups) finds, whole, and the groups they are nested in: a
   * nested group's change changes the groups it is in, so every group is re-read once and expanded.
   */
  private async groupChanges(filter: string, signal: AbortSignal): Promise<RemoteChange[]> {
    const changedGroups = await this.readGroups(filter, signal)
    if (changedGroups.size === 0) return []
    const all = await this.readGroups(this.groupFilter, signal)
    // AD names nested groups by GUID, generic servers by DN.
    const byDn = new Map([...all.values()].map((g) => [g.dn, g]))
    const lookup = (key: string) => all.get(key) ?? byDn.get(key)
    const affected = new Set(changedGroups.keys())
    let grew = true
    while (grew) {
      grew = false
      for (const g of all.values())
        if (!affected.has(g.id) && g.members.some((m) => affected.has(lookup(m)?.id ?? m))) {
          affected.add(g.id)
          grew = true
        }
    }
    const changes: RemoteChange[] = []
    for (const g of this.expand(all, lookup))
      if (affected.has(g.externalId)) changes.push({ kind: 'group', group: g })
    return changes
  }

  /** Parent DN → its department id, when it is an OU this source reads (cached per round). */
  private async parentResolver(): Promise<(dn: string | null) => Promise<string | null>> {
    const cache = new Map<string, string | null>()
    const base = canonicalDn(this.config.baseDn)
    return async (dn) => {
      if (dn === null || dn === base || !this.isDepartment(dn)) return null
      if (cache.has(dn)) return cache.get(dn)!
      const e = await this.session!.read('read an OU', dn, ['objectGUID', 'objectClass'])
      const isOu =
        e !== undefined && many(e, 'objectClass').some((c) => c.toLowerCase() === 'organizationalunit')
      const id = isOu ? (entryId(e, this.config) ?? null) : null
      cache.set(dn, id)
      return id
    }
  }
}

export const ldapConnector: ConnectorDefinition<LdapSettings> = {
  type: 'ldap',
  description: 'On-prem Active Directory or another LDAP directory (ldapts)',
  configSchema: ldapConfigSchema,
  secretKeys: ['bindPassword'],
  open: (settings, deps) => new LdapConnector(withDefaults(settings), deps.logger),
}
