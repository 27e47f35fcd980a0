import { sql, type Kysely, type Selectable } from 'kysely'
import type { Logger } from 'pino'
import { canonicalJson } from '../canonical-json'
import type { DB, PeopleTable, SourcesTable } from '../db/schema'
import { outranks, type RankedSource } from '../org/attribute-precedence'
import { personColumns } from '../org/records'
import { ChangeRound } from './change-round'
import { chunks } from './chunks'
import type { Connector, Page, RemoteDepartment, RemoteUser } from './connector'
import { type PlanChangeWriter, type PlannedChange } from './plan-changes'
import { PlanError } from './plan-error'
import { planGroupChanges, planListedGroups, type GroupPlanContext } from './plan-groups'
import { planManagers, type PendingManager } from './plan-managers'
import { cleanPath, mergePartial, normalise, pathExternalId, type Normalised } from './remote-user'
import { PERSON_ATTRIBUTES, type PersonAttribute, type SourcePolicy } from './source-policy'

export { PlanError } from './plan-error'

type PersonRow = Omit<Selectable<PeopleTable>, 'search_text'>

interface IdentityState {
  id: string
  personId: string | null
  attributes: Record<string, unknown>
  /** Canonical JSON of the normalised attributes last stored. */
  json: string
  active: boolean
  removed: boolean
  version: number
  raw?: unknown
}

interface OwnedDepartment {
  id: string
  name: string
  parent_id: string | null
  external_id: string | null
  version: number
  virtual: boolean
}

const PAGE_BATCH_LIMIT = 10_000
/** Users planned together: one round of lookups per batch. */
const USER_BATCH = 1000

async function* pages<T>(
  list: (cursor: string | undefined, signal: AbortSignal) => Promise<Page<T>>,
  signal: AbortSignal,
  what: string,
  onLast?: (page: Page<T>) => void,
): AsyncGenerator<T[]> {
  let cursor: string | undefined
  for (let n = 0; n < PAGE_BATCH_LIMIT * 100; n++) {
    signal.throwIfAborted()
    const page = await list(cursor, signal)
    yield page.items
    if (!page.nextCursor) {
      onLast?.(page)
      return
    }
    if (page.nextCursor === cursor)
      throw new PlanError(`${what}: the source returned the same page cursor twice`)
    cursor = page.nextCursor
  }
  throw new PlanError(`${what}: more pages than any directory has; the source's paging looks broken`)
}

export interface BuildContext {
  db: Kysely<DB>
  source: Selectable<SourcesTable>
  policy: SourcePolicy
  connector: Connector
  writer: PlanChangeWriter
  signal: AbortSignal
  logger: Logger
  /** Called as users are read, for progress bars. */
  onProgress?: (usersRead: number) => void
}

export interface BuildResult {
  warnings: string[]
  /** People of this source before the plan (the base of the deletion guard's share). */
  sourcePeople: number
  /** Where the source's next incremental round starts, once this plan applies. */
  deltaToken?: string
  /** Objects the source reported (an incremental round), or users it listed (a full one). */
  read: number
}

/**
 * Reads a full listing from the connector and writes the changes that would make the org tree match
 * it. Nothing in the org tree changes here. Memory stays bounded by what is kept per user (ids and
 * a few keys), not by the records: pages are processed and dropped.
 */
export async function buildFullPlan(ctx: BuildContext): Promise<BuildResult> {
  const b = new PlanBuilder(ctx, 'full')
  await b.loadAllIdentities()
  await b.loadDepartments()
  const remoteDepts: RemoteDepartment[] = []
  for await (const items of pages(
    ctx.connector.listDepartments.bind(ctx.connector),
    ctx.signal,
    'list departments',
  )) {
    remoteDepts.push(...items)
  }
  await b.planDepartments(remoteDepts)

  let read = 0
  for await (const page of pages(ctx.connector.listUsers.bind(ctx.connector), ctx.signal, 'list users')) {
    read += page.length
    for (const batch of chunks(page, USER_BATCH)) await b.planUsers(batch.map((user) => ({ user })))
    ctx.onProgress?.(read)
  }
  // A full listing that no longer has someone: a leaver.
  await b.planRemovals(
    [...b.identities.entries()]
      .filter(([ext, s]) => !b.seen.has(ext) && !s.removed)
      .map(([externalId]) => ({ externalId, deleted: false })),
  )
  await b.planManagers()
  await planListedGroups(
    b.groupContext(),
    pages(ctx.connector.listGroups.bind(ctx.connector), ctx.signal, 'list groups'),
  )
  await b.planDepartmentDeletes(null)
  await ctx.writer.flush()
  return {
    warnings: b.warnings,
    sourcePeople: b.sourcePeople,
    deltaToken: ctx.connector.deltaToken?.(),
    read,
  }
}

/**
 * Reads what changed since `token` and plans only that: the objects the round names, looked up by
 * id, so a small change to a large directory makes a small, fast plan. A connector that finds the
 * token no longer valid throws ConnectorError('resync-required'), and the caller plans in full.
 */
export async function buildIncrementalPlan(ctx: BuildContext, token: string): Promise<BuildResult> {
  const { connector } = ctx
  if (!connector.changes) throw new PlanError(`source type ${connector.type} cannot report changes`)
  const round = new ChangeRound()
  let cursor: string | undefined
  for (let n = 0; ; n++) {
    ctx.signal.throwIfAborted()
    if (n >= PAGE_BATCH_LIMIT * 100)
      throw new PlanError('changes: more pages than any directory has; the source paging looks broken')
    const page = await connector.changes(token, cursor, ctx.signal)
    round.add(page)
    ctx.onProgress?.(round.reported)
    if (!page.nextCursor) break
    if (page.nextCursor === cursor)
      throw new PlanError('changes: the source returned the same page cursor twice')
    cursor = page.nextCursor
  }
  if (round.deltaToken === undefined)
    throw new PlanError('changes: the source ended the round without a token for the next one')

  const b = new PlanBuilder(ctx, 'incremental')
  b.sourcePeople = await b.countSourcePeople()
  await b.loadDepartments()
  const departments = [...round.departments.values()].filter((d): d is RemoteDepartment => d !== null)
  await b.planDepartments(departments)

  const userChanges = [...round.users.entries()]
  for (const batch of chunks(userChanges, USER_BATCH)) {
    await b.loadIdentities(batch.map(([ext]) => ext))
    const planned: { user: RemoteUser }[] = []
    const removals: { externalId: string; deleted: boolean }[] = []
    for (const [externalId, change] of batch) {
      if (change.kind === 'removed') {
        removals.push({ externalId, deleted: change.deleted })
        continue
      }
      const state = b.identities.get(externalId)
      const user =
        change.kind === 'whole'
          ? change.user
          : mergePartial(
              state ? { attributes: state.attributes as unknown as Normalised, raw: state.raw } : undefined,
              change.user,
            )
      if (user.active === undefined) user.active = true
      planned.push({ user: user as RemoteUser })
    }
    await b.planUsers(planned)
    await b.planRemovals(removals)
  }
  if (round.roster) {
    // Users the source no longer has, found by comparing its complete list with this source's.
    const roster = round.roster
    const gone = (await b.activeExternalIds()).filter((ext) => !roster.has(ext) && !round.users.has(ext))
    for (const batch of chunks(gone, USER_BATCH)) {
      await b.loadIdentities(batch)
      await b.planRemovals(batch.map((externalId) => ({ externalId, deleted: false })))
    }
  }
  await b.planManagers()
  await planGroupChanges(b.groupContext(), round.groups)
  const gone = [...round.departments.entries()].filter(([, d]) => d === null).map(([ext]) => ext)
  await b.planDepartmentDeletes(gone)
  await ctx.writer.flush()
  return {
    warnings: b.warnings,
    sourcePeople: b.sourcePeople,
    deltaToken: round.deltaToken,
    read: round.reported,
  }
}

/**
 * The state of one plan being made: what the source had, what this plan has decided so far, and the
 * lookups that let later changes refer to rows the plan itself creates.
 */
class PlanBuilder {
  readonly warnings: string[] = []
  /** This source's identities: all of them (full) or those the round names (incremental). */
  readonly identities = new Map<string, IdentityState>()
  sourcePeople = 0
  readonly seen = new Set<string>()

  private ranked = new Map<string, RankedSource>()
  private me!: RankedSource
  private readonly protectedNames: Set<string>

  // departments
  private readonly deptRef = new Map<string, string>() // remote externalId → department id or "d:" ref
  // A department the plan creates has no id yet: changes inside it are filed under its nearest
  // existing ancestor, so GET /plans/{id}/changes?departmentId= finds them.
  private readonly deptAnchor = new Map<string, string | null>()
  private owned = new Map<string, OwnedDepartment>()
  private readonly byParentName = new Map<string, string>()
  private readonly adoptedIds = new Set<string>()
  private readonly movedAway = new Set<string>()
  private readonly listedDepts = new Set<string>()
  private readonly pathNames = new Map<string, string[]>() // path externalId → its names, as read

  // people
  private readonly personOf = new Map<string, string>() // remote externalId → person id or "p:" ref
  private readonly byEmail = new Map<string, string>()
  private readonly byEmployeeNumber = new Map<string, string>()
  private readonly pendingManagers: PendingManager[] = []
  private readonly movedOut = new Map<string, number>() // department id → people moved out of it
  private readonly claimed = new Set<string>() // people linked by this plan (one identity per source each)
  private readonly names = new Map<string, string>() // person id or "p:" ref → user name, for messages

  constructor(
    private readonly ctx: BuildContext,
    private readonly mode: 'full' | 'incremental',
  ) {
    this.protectedNames = new Set(ctx.policy.protectedUserNames.map((n) => n.toLowerCase()))
  }

  warn = (message: string): void => {
    if (this.warnings.length < 1000) this.warnings.push(message)
  }

  private get db(): Kysely<DB> {
    return this.ctx.db
  }

  private get source(): Selectable<SourcesTable> {
    return this.ctx.source
  }

  // ---- identities ---------------------------------------------------------------------------------

  private identitySelect() {
    return this.db
      .selectFrom('identities')
      .select(['id', 'external_id', 'person_id', 'attributes', 'active', 'removed_at', 'version'])
      .where('source_id', '=', this.source.id)
  }

  private remember(row: {
    id: string
    external_id: string
    person_id: string | null
    attributes: Record<string, unknown>
    active: boolean
    removed_at: Date | null
    version: number
    raw?: unknown
  }): void {
    this.identities.set(row.external_id, {
      id: row.id,
      personId: row.person_id,
      attributes: row.attributes,
      json: canonicalJson(row.attributes) ?? '{}',
      active: row.active,
      removed: row.removed_at !== null,
      version: row.version,
      raw: row.raw,
    })
  }

  async loadAllIdentities(): Promise<void> {
    for (const row of await this.identitySelect().execute()) this.remember(row)
    this.sourcePeople = [...this.identities.values()].filter((i) => !i.removed && i.personId).length
  }

  /** Incremental: the identities a batch names (with their raw records, which partial ones merge into). */
  async loadIdentities(externalIds: string[]): Promise<void> {
    const missing = externalIds.filter((e) => !this.identities.has(e))
    for (const part of chunks(missing)) {
      for (const row of await this.identitySelect().select('raw').where('external_id', 'in', part).execute())
        this.remember(row)
    }
  }

  /** externalIds of this source's identities that are not removed. */
  async activeExternalIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('identities')
      .select('external_id')
      .where('source_id', '=', this.source.id)
      .where('removed_at', 'is', null)
      .execute()
    return rows.map((r) => r.external_id)
  }

  async countSourcePeople(): Promise<number> {
    const row = await this.db
      .selectFrom('identities')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('source_id', '=', this.source.id)
      .where('removed_at', 'is', null)
      .where('person_id', 'is not', null)
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }

  /** Person ids or refs for this source's users by externalId: this run's first, then the stored ones. */
  peopleOf = async (externalIds: string[]): Promise<Map<string, string>> => {
    const out = new Map<string, string>()
    const unknown: string[] = []
    for (const ext of externalIds) {
      const ref = this.personOf.get(ext) ?? this.identities.get(ext)?.personId
      if (ref) out.set(ext, ref)
      else if (this.mode === 'incremental' && !this.identities.has(ext)) unknown.push(ext)
    }
    for (const part of chunks(unknown)) {
      for (const r of await this.db
        .selectFrom('identities')
        .select(['external_id', 'person_id'])
        .where('source_id', '=', this.source.id)
        .where('external_id', 'in', part)
        .where('person_id', 'is not', null)
        .execute()) {
        out.set(r.external_id, r.person_id!)
      }
    }
    return out
  }

  groupContext(): GroupPlanContext {
    return {
      db: this.db,
      source: this.source,
      writer: this.ctx.writer,
      warn: this.warn,
      peopleOf: this.peopleOf,
    }
  }

  // ---- precedence -----------------------------------------------------------------------------------

  private async loadRanks(): Promise<void> {
    this.ranked = new Map<string, RankedSource>(
      (
        await this.db.selectFrom('sources').select(['id', 'precedence', 'policy', 'created_at']).execute()
      ).map((s) => [s.id, { id: s.id, precedence: s.precedence, createdAt: s.created_at, policy: s.policy }]),
    )
    this.me = this.ranked.get(this.source.id) ?? {
      id: this.source.id,
      precedence: this.source.precedence,
      createdAt: this.source.created_at,
      policy: this.source.policy,
    }
  }

  /** Whether source `other` outranks this one for `attr`. */
  private outranksMe(other: string, attr: PersonAttribute): boolean {
    const o = this.ranked.get(other)
    return o !== undefined && outranks(o, this.me, attr)
  }

  // ---- departments ------------------------------------------------------------------------------------

  async loadDepartments(): Promise<void> {
    await this.loadRanks()
    this.owned = new Map(
      (
        await this.db
          .selectFrom('departments')
          .select(['id', 'name', 'parent_id', 'external_id', 'version', 'virtual'])
          .where('source_id', '=', this.source.id)
          .execute()
      ).map((d) => [d.external_id ?? '', d]),
    )
    // An incremental round names only what changed: the rest of this source's tree stays as it is.
    if (this.mode === 'incremental') for (const [ext, d] of this.owned) this.deptRef.set(ext, d.id)
  }

  /** Departments the source lists (all of them, or a round's changed ones): create, rename, move. */
  async planDepartments(remoteDepts: RemoteDepartment[]): Promise<void> {
    const { writer } = this.ctx
    // Existing departments by parent and lower-cased name, to adopt rather than duplicate. Not one of
    // this source's own that it still lists under its own id: that one stays itself (perhaps being
    // renamed away from the name), and merging a new department into it would mix their people.
    const listedIds = new Set(remoteDepts.map((d) => d.externalId))
    for (const id of listedIds) this.listedDepts.add(id)
    for (const d of await this.db
      .selectFrom('departments')
      .select(['id', 'parent_id', 'name', 'source_id', 'external_id'])
      .execute()) {
      if (
        d.source_id === this.source.id &&
        d.external_id !== null &&
        (listedIds.has(d.external_id) || this.mode === 'incremental')
      )
        continue
      this.byParentName.set(`${d.parent_id ?? ''}\u0000${d.name.toLowerCase()}`, d.id)
    }
    const remoteById = new Map(remoteDepts.map((d) => [d.externalId, d]))
    const ordered: RemoteDepartment[] = []
    const placed = new Set<string>()
    const place = (d: RemoteDepartment, trail: string[]) => {
      if (placed.has(d.externalId)) return
      if (trail.includes(d.externalId))
        throw new PlanError(`department cycle in the source: ${[...trail, d.externalId].join(' → ')}`)
      const parent = d.parentExternalId ? remoteById.get(d.parentExternalId) : undefined
      if (d.parentExternalId && !parent && !this.deptRef.has(d.parentExternalId))
        this.warn(
          `department ${d.externalId} names an unknown parent ${d.parentExternalId}: placed at the top`,
        )
      if (parent) place(parent, [...trail, d.externalId])
      placed.add(d.externalId)
      ordered.push(d)
    }
    for (const d of remoteDepts) place(d, [])

    // Renames first: a department the plan creates (or moves) may take the name another one is
    // giving up in the same plan, and sibling names are unique at every step of the apply.
    for (const d of ordered) {
      const existing = this.owned.get(d.externalId)
      if (existing && !existing.virtual && existing.name !== d.name.trim()) {
        await writer.add({
          kind: 'department.rename',
          targetId: existing.id,
          baseVersion: existing.version,
          departmentId: existing.id,
          before: { name: existing.name },
          after: { name: d.name.trim() },
        })
      }
    }
    for (const d of ordered) {
      const parentRef = d.parentExternalId ? (this.deptRef.get(d.parentExternalId) ?? null) : null
      const existing = this.owned.get(d.externalId)
      if (existing) {
        this.deptRef.set(d.externalId, existing.id)
        if (existing.virtual) continue
        if ((existing.parent_id ?? null) !== parentRef) {
          if (existing.parent_id) this.movedAway.add(existing.id)
          await writer.add({
            kind: 'department.move',
            targetId: existing.id,
            baseVersion: existing.version,
            departmentId: existing.id,
            before: { parentId: existing.parent_id },
            after: { parentRef },
          })
        }
        continue
      }
      await this.createOrAdopt(d.externalId, d.name.trim(), parentRef)
    }
  }

  private async createOrAdopt(externalId: string, name: string, parentRef: string | null): Promise<string> {
    const adopted = parentRef?.startsWith('d:')
      ? undefined
      : this.byParentName.get(`${parentRef ?? ''}\u0000${name.toLowerCase()}`)
    if (adopted) {
      this.deptRef.set(externalId, adopted)
      this.adoptedIds.add(adopted)
      return adopted
    }
    const ref = `d:${externalId}`
    this.deptRef.set(externalId, ref)
    this.deptAnchor.set(ref, this.anchorOf(parentRef))
    await this.ctx.writer.add({
      kind: 'department.create',
      ref,
      departmentId: this.anchorOf(parentRef),
      after: { name, parentRef, externalId },
    })
    return ref
  }

  private anchorOf(ref: string | null): string | null {
    return ref === null ? null : ref.startsWith('d:') ? (this.deptAnchor.get(ref) ?? null) : ref
  }

  /** The department at a path (RemoteUser.departmentPath), planned into being on first sight. */
  private async ensurePath(names: string[]): Promise<string> {
    let parentRef: string | null = null
    for (let i = 1; i <= names.length; i++) {
      const prefix = names.slice(0, i)
      const ext = pathExternalId(prefix)
      this.listedDepts.add(ext)
      const known = this.deptRef.get(ext)
      const name = prefix[prefix.length - 1]!
      const existing = this.owned.get(ext)
      if (existing && !this.pathNames.has(ext) && !existing.virtual && existing.name !== name) {
        // Same department, other case or Unicode form: the source's spelling wins.
        await this.ctx.writer.add({
          kind: 'department.rename',
          targetId: existing.id,
          baseVersion: existing.version,
          departmentId: existing.id,
          before: { name: existing.name },
          after: { name },
        })
      }
      if (!this.pathNames.has(ext)) this.pathNames.set(ext, prefix)
      if (known !== undefined) {
        parentRef = known
        continue
      }
      if (existing) {
        this.deptRef.set(ext, existing.id)
        parentRef = existing.id
        continue
      }
      parentRef = await this.createOrAdopt(ext, name, parentRef)
    }
    return parentRef!
  }

  private async resolveDept(remote: RemoteUser, n: Normalised): Promise<string | null> {
    const ext = n.departmentExternalId
    if (ext === null) return null
    if (remote.departmentPath !== undefined) {
      const names = cleanPath(remote.departmentPath)
      return names ? this.ensurePath(names) : null
    }
    const ref = this.deptRef.get(ext)
    if (ref === undefined)
      this.warn(`a user's department ${ext} is not in the source's department listing: left without one`)
    return ref ?? null
  }

  /** This source's departments that are gone (`gone`, or all unlisted ones in a full plan) and empty. */
  async planDepartmentDeletes(gone: string[] | null): Promise<void> {
    const { db } = this
    // Not one a listed department was adopted onto (the source re-keyed it): it is in use.
    const candidates = [...this.owned.values()].filter(
      (d) =>
        !d.virtual &&
        !this.adoptedIds.has(d.id) &&
        (gone === null ? !this.listedDepts.has(d.external_id ?? '') : gone.includes(d.external_id ?? '')),
    )
    if (candidates.length === 0) return
    const deleting = new Set(candidates.map((d) => d.id))
    const ids = candidates.map((d) => d.id)
    const peopleIn = new Map<string, number>()
    const childrenOf = new Map<string, string[]>()
    for (const part of chunks(ids)) {
      for (const r of await db
        .selectFrom('people')
        .select(['department_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('department_id', 'in', part)
        .groupBy('department_id')
        .execute()) {
        peopleIn.set(r.department_id!, Number(r.n))
      }
      for (const c of await db
        .selectFrom('departments')
        .select(['id', 'parent_id'])
        .where('parent_id', 'in', part)
        .execute()) {
        childrenOf.set(c.parent_id!, [...(childrenOf.get(c.parent_id!) ?? []), c.id])
      }
    }
    // Deepest first, so a parent is deleted only after the children that go with it.
    const depth = new Map<string, number>()
    const depthOf = (id: string): number => depth.get(id) ?? 0
    const visit = (id: string, d: number) => {
      depth.set(id, Math.max(depthOf(id), d))
      for (const c of childrenOf.get(id) ?? []) if (deleting.has(c)) visit(c, d + 1)
    }
    for (const id of ids) visit(id, 0)
    const deleted = new Set<string>()
    for (const d of [...candidates].sort((a, b) => depthOf(b.id) - depthOf(a.id))) {
      const remaining = (peopleIn.get(d.id) ?? 0) - (this.movedOut.get(d.id) ?? 0)
      // Children the plan deletes first or moves elsewhere do not keep a department.
      const children = (childrenOf.get(d.id) ?? []).filter((c) => !deleted.has(c) && !this.movedAway.has(c))
      if (remaining > 0 || children.length > 0) {
        this.warn(
          `department ${d.name} is gone from the source but still has people or sub-departments: kept`,
        )
        continue
      }
      deleted.add(d.id)
      await this.ctx.writer.add({
        kind: 'department.delete',
        targetId: d.id,
        baseVersion: d.version,
        departmentId: d.id,
        before: { name: d.name },
      })
    }
  }

  // ---- users --------------------------------------------------------------------------------------------

  /** One batch of users the source lists or reports changed: link, create, update, move, suspend. */
  async planUsers(batch: { user: Partial<RemoteUser> & { externalId: string } }[]): Promise<void> {
    const { db, source } = this
    const { policy, writer } = this.ctx
    const users: { remote: RemoteUser; n: Normalised; state: IdentityState | undefined }[] = []
    for (const { user } of batch) {
      if (!user.externalId || this.seen.has(user.externalId)) {
        if (user.externalId) this.warn(`user ${user.externalId} is listed twice: the first one counts`)
        continue
      }
      if (!user.userName?.trim()) {
        this.warn(`user ${user.externalId} has no user name: skipped`)
        continue
      }
      this.seen.add(user.externalId)
      const remote = user as RemoteUser
      users.push({ remote, n: normalise(remote), state: this.identities.get(user.externalId) })
    }

    // People linked already, and those the matching rule finds for new identities.
    const linkedIds = users.map((u) => u.state?.personId).filter((id): id is string => !!id)
    const matchKey = (n: Normalised) =>
      policy.matchBy === 'email'
        ? n.email
        : policy.matchBy === 'employeeNumber'
          ? n.employeeNumber
          : n.userName
    const matchKeys = users
      .filter((u) => !u.state?.personId && u.n.active)
      .map((u) => matchKey(u.n))
      .filter((k): k is string => !!k)
    const people = new Map<string, PersonRow>()
    for (const ids of chunks(linkedIds)) {
      for (const p of await db.selectFrom('people').select(personColumns).where('id', 'in', ids).execute())
        people.set(p.id, p)
    }
    const matched = new Map<string, PersonRow>()
    const column =
      policy.matchBy === 'email'
        ? 'email'
        : policy.matchBy === 'employeeNumber'
          ? 'employee_number'
          : 'user_name'
    for (const keys of chunks(matchKeys)) {
      const lowered = policy.matchBy === 'employeeNumber' ? keys : keys.map((k) => k.toLowerCase())
      const rows = await db
        .selectFrom('people')
        .select(personColumns)
        .where(
          policy.matchBy === 'employeeNumber' ? sql.ref(column) : sql`lower(${sql.ref(column)})`,
          'in',
          lowered,
        )
        .where('status', '<>', 'deprovisioned')
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('identities as i')
                .select('i.id')
                .whereRef('i.person_id', '=', 'people.id')
                .where('i.source_id', '=', source.id),
            ),
          ),
        )
        .execute()
      for (const p of rows) {
        const key =
          policy.matchBy === 'employeeNumber'
            ? p.employee_number
            : (p[column] as string | null)?.toLowerCase()
        if (key && !matched.has(key)) matched.set(key, p)
      }
    }
    // Other sources' say about these people, for attribute precedence and for "still vouched for".
    const others = new Map<string, { sourceId: string; attributes: Record<string, unknown> }[]>()
    const candidateIds = [...linkedIds, ...[...matched.values()].map((p) => p.id)]
    for (const ids of chunks(candidateIds)) {
      for (const i of await db
        .selectFrom('identities')
        .select(['person_id', 'source_id', 'attributes'])
        .where('person_id', 'in', ids)
        .where('source_id', '<>', source.id)
        .where('removed_at', 'is', null)
        .where('active', '=', true)
        .execute()) {
        const list = others.get(i.person_id!) ?? []
        list.push({ sourceId: i.source_id, attributes: i.attributes })
        others.set(i.person_id!, list)
      }
    }
    /**
     * Whether this source's value of `attr` should be the person's. A source that gives no value
     * ("does not say") leaves the attribute to any source that gives one, whatever its precedence;
     * otherwise no linked source that gives a value may outrank this one. Without the first rule an
     * owner with no value and a lower source with one would overwrite each other on every run.
     */
    const wins = (personId: string, attr: PersonAttribute, othersKey: string, value: unknown): boolean => {
      const saying = (others.get(personId) ?? []).filter(
        (o) => o.attributes[othersKey] !== null && o.attributes[othersKey] !== undefined,
      )
      if (value === null || value === undefined) return saying.length === 0
      return !saying.some((o) => this.outranksMe(o.sourceId, attr))
    }

    // New people are written after the batch's other changes, as one run the applier inserts in
    // bulk; nothing else in the batch refers to them (their managers are planned at the end).
    const creates: PlannedChange[] = []
    for (const { remote, n, state } of users) {
      const identityJson = canonicalJson(n) ?? '{}'
      const departmentRef = await this.resolveDept(remote, n)
      const identityPayload = {
        externalId: remote.externalId,
        userName: n.userName,
        attributes: n,
        active: n.active,
        raw: remote.raw ?? null,
      }
      let person: PersonRow | undefined = state?.personId ? people.get(state.personId) : undefined
      if (person?.status === 'deprovisioned' && n.active) {
        // Past the grace period the person is gone for good: someone back in the source after
        // that is a rehire, a new person (the old record keeps its history), not a silent relink.
        this.warn(
          `${n.userName} is back in ${source.name} after being deprovisioned: planned as a new person`,
        )
        person = undefined
      }
      let personRef: string | null = person?.id ?? null

      if (!person && n.active) {
        const key = matchKey(n)
        const candidate = key
          ? matched.get(policy.matchBy === 'employeeNumber' ? key : key.toLowerCase())
          : undefined
        if (candidate && !this.claimed.has(candidate.id)) {
          person = candidate
          personRef = candidate.id
          this.claimed.add(candidate.id)
          await writer.add({
            kind: state ? 'identity.update' : 'identity.create',
            targetId: state?.id ?? null,
            baseVersion: state?.version ?? null,
            departmentId: candidate.department_id,
            before: state ? { personId: state.personId } : null,
            after: { ...identityPayload, personRef: candidate.id, matchedBy: policy.matchBy },
          })
        } else {
          personRef = `p:${remote.externalId}`
          creates.push({
            kind: 'person.create',
            ref: personRef,
            departmentId: this.anchorOf(departmentRef),
            after: {
              userName: n.userName,
              displayName: n.displayName,
              givenName: n.givenName,
              familyName: n.familyName,
              email: n.email,
              employeeNumber: n.employeeNumber,
              title: n.title,
              departmentRef,
              identity: { ...identityPayload, identityId: state?.id ?? null },
            },
          })
        }
      } else if (!state || state.json !== identityJson || state.removed || state.active !== n.active) {
        // The source's record changed. Without a person, this is an inactive user the org never had:
        // keep the identity, make no person.
        await writer.add({
          kind: state ? 'identity.update' : 'identity.create',
          targetId: state?.id ?? null,
          baseVersion: state?.version ?? null,
          departmentId: person?.department_id ?? null,
          after: { ...identityPayload, personRef: person?.id ?? null },
        })
      }

      if (personRef) {
        this.names.set(personRef, n.userName)
        this.personOf.set(remote.externalId, personRef)
        if (n.email) this.byEmail.set(n.email, personRef)
        if (n.employeeNumber) this.byEmployeeNumber.set(n.employeeNumber, personRef)
      }
      if (!person) {
        if (personRef && n.manager)
          this.pendingManagers.push({
            person: personRef,
            manager: n.manager,
            current: null,
            baseVersion: null,
            departmentId: this.anchorOf(departmentRef),
          })
        continue
      }

      // Attributes this source wins that differ from the person's.
      const desired: Partial<Record<PersonAttribute, string | null>> = {
        userName: n.userName,
        displayName: n.displayName,
        givenName: n.givenName,
        familyName: n.familyName,
        email: n.email,
        employeeNumber: n.employeeNumber,
        title: n.title,
      }
      const current: Record<string, string | null> = {
        userName: person.user_name,
        displayName: person.display_name,
        givenName: person.given_name,
        familyName: person.family_name,
        email: person.email,
        employeeNumber: person.employee_number,
        title: person.title,
      }
      const before: Record<string, unknown> = {}
      const after: Record<string, unknown> = {}
      for (const attr of PERSON_ATTRIBUTES) {
        if (!(attr in desired)) continue
        const value = desired[attr] ?? null
        const now = current[attr] ?? null
        const same =
          attr === 'email' ? (value ?? '').toLowerCase() === (now ?? '').toLowerCase() : value === now
        if (!same && wins(person.id, attr, attr, value)) {
          before[attr] = now
          after[attr] = value
        }
      }
      if (Object.keys(after).length > 0) {
        await writer.add({
          kind: 'person.update',
          targetId: person.id,
          baseVersion: person.version,
          departmentId: person.department_id,
          before,
          after,
        })
      }
      if (
        departmentRef !== person.department_id &&
        wins(person.id, 'departmentId', 'departmentExternalId', n.departmentExternalId)
      ) {
        await writer.add({
          kind: 'person.move',
          targetId: person.id,
          baseVersion: person.version,
          departmentId: departmentRef?.startsWith('d:')
            ? person.department_id
            : (departmentRef ?? person.department_id),
          before: { departmentId: person.department_id },
          after: { departmentRef },
        })
        if (person.department_id)
          this.movedOut.set(person.department_id, (this.movedOut.get(person.department_id) ?? 0) + 1)
      }
      // A dropped manager goes through planManagers too: the cycle check and the order managers are
      // applied in must know that this link goes away.
      if ((n.manager || person.manager_id) && wins(person.id, 'managerId', 'manager', n.manager)) {
        this.pendingManagers.push({
          person: person.id,
          manager: n.manager,
          current: person.manager_id,
          baseVersion: person.version,
          departmentId: person.department_id,
        })
      }
      const isProtected = person.protected || this.protectedNames.has(person.user_name.toLowerCase())
      // Disabled here while another source still vouches (a live, enabled identity): the person
      // stays active, as when a source drops them entirely (planRemovals).
      if (!n.active && person.status === 'active' && !others.has(person.id)) {
        await writer.add({
          kind: 'person.suspend',
          targetId: person.id,
          baseVersion: person.version,
          departmentId: person.department_id,
          protected: isProtected,
          before: { status: person.status },
          after: { status: 'suspended', reason: `disabled in ${source.name}` },
        })
      } else if (n.active && person.status === 'suspended' && person.suspended_by_source_id === source.id) {
        await writer.add({
          kind: 'person.reactivate',
          targetId: person.id,
          baseVersion: person.version,
          departmentId: person.department_id,
          before: { status: person.status, suspendedReason: person.suspended_reason },
          after: { status: 'active' },
        })
      }
    }
    for (const c of creates) await writer.add(c)
  }

  /**
   * Identities the source no longer has: the identity goes, and its person is suspended (a leaver)
   * or, for a record the source deleted for good, deprovisioned, unless another source still
   * vouches for them.
   */
  async planRemovals(removals: { externalId: string; deleted: boolean }[]): Promise<void> {
    const { db, source } = this
    const { writer } = this.ctx
    for (const batch of chunks(removals)) {
      const states = batch
        .map((r) => ({ ...r, state: this.identities.get(r.externalId) }))
        .filter((r): r is typeof r & { state: IdentityState } => r.state !== undefined)
      const personIds = states.map((r) => r.state.personId).filter((id): id is string => !!id)
      const people = new Map<string, PersonRow>()
      const vouched = new Set<string>()
      for (const ids of chunks(personIds)) {
        for (const p of await db.selectFrom('people').select(personColumns).where('id', 'in', ids).execute())
          people.set(p.id, p)
        for (const i of await db
          .selectFrom('identities')
          .select('person_id')
          .where('person_id', 'in', ids)
          .where('source_id', '<>', source.id)
          .where('removed_at', 'is', null)
          .where('active', '=', true)
          .execute()) {
          vouched.add(i.person_id!)
        }
      }
      for (const { externalId, deleted, state } of states) {
        this.seen.add(externalId)
        const person = state.personId ? people.get(state.personId) : undefined
        if (!state.removed) {
          await writer.add({
            kind: 'identity.remove',
            targetId: state.id,
            baseVersion: state.version,
            departmentId: person?.department_id ?? null,
            before: { externalId },
          })
        }
        if (!person || vouched.has(person.id)) continue
        const isProtected = person.protected || this.protectedNames.has(person.user_name.toLowerCase())
        if (deleted && person.status !== 'deprovisioned') {
          await writer.add({
            kind: 'person.deprovision',
            targetId: person.id,
            baseVersion: person.version,
            departmentId: person.department_id,
            protected: isProtected,
            before: { status: person.status },
            after: { status: 'deprovisioned', reason: `deleted in ${source.name}` },
          })
        } else if (!deleted && person.status === 'active') {
          await writer.add({
            kind: 'person.suspend',
            targetId: person.id,
            baseVersion: person.version,
            departmentId: person.department_id,
            protected: isProtected,
            before: { status: person.status },
            after: { status: 'suspended', reason: `no longer in ${source.name}` },
          })
        }
      }
    }
  }

  /** Managers, once every person of the run is known. */
  async planManagers(): Promise<void> {
    await planManagers(
      this.ctx,
      this.pendingManagers,
      {
        personOf: this.personOf,
        byEmail: this.byEmail,
        byEmployeeNumber: this.byEmployeeNumber,
        personOfIdentity: this.peopleOf,
        names: this.names,
      },
      this.warn,
    )
  }
}
