import { sql, type Kysely, type Selectable } from 'kysely'
import type { Logger } from 'pino'
import { canonicalJson } from '../canonical-json'
import type { DB, PeopleTable, SourcesTable } from '../db/schema'
import { outranks, type RankedSource } from '../org/attribute-precedence'
import { personColumns } from '../org/records'
import type { Connector, Page, RemoteDepartment, RemoteGroup, RemoteUser } from './connector'
import { type PlanChangeWriter } from './plan-changes'
import { PERSON_ATTRIBUTES, type PersonAttribute, type SourcePolicy } from './source-policy'

/** A plan that cannot be made: the message names what is wrong in the source's data. */
export class PlanError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'PlanError'
  }
}

type PersonRow = Omit<Selectable<PeopleTable>, 'search_text'>

interface IdentityState {
  id: string
  personId: string | null
  /** Canonical JSON of the normalised attributes last stored. */
  json: string
  active: boolean
  removed: boolean
  version: number
}

/** What this source says about a person, in the org's terms (department and manager resolved later). */
interface Normalised {
  userName: string
  displayName: string | null
  givenName: string | null
  familyName: string | null
  email: string | null
  employeeNumber: string | null
  title: string | null
  departmentExternalId: string | null
  manager: { externalId?: string; email?: string; employeeNumber?: string } | null
  active: boolean
}

interface PendingManager {
  /** The person (id) or the plan's new person (ref). */
  person: string
  /** null: this source (which wins the attribute) names no manager, so the link goes. */
  manager: Normalised['manager']
  current: string | null
  baseVersion: number | null
  /** The person's department, for the plan's subtree filter. */
  departmentId: string | null
}

const PAGE_BATCH_LIMIT = 10_000
const ID_CHUNK = 1000

function text(v: string | null | undefined): string | null {
  if (v === undefined || v === null) return null
  const t = v.trim()
  return t === '' ? null : t
}

function normalise(u: RemoteUser): Normalised {
  const manager =
    u.manager && (u.manager.externalId || u.manager.email || u.manager.employeeNumber)
      ? Object.fromEntries(
          Object.entries(u.manager).filter(([, v]) => typeof v === 'string' && v.trim() !== ''),
        )
      : null
  return {
    userName: u.userName.trim(),
    displayName: text(u.displayName),
    givenName: text(u.givenName),
    familyName: text(u.familyName),
    email: text(u.email)?.toLowerCase() ?? null,
    employeeNumber: text(u.employeeNumber),
    title: text(u.title),
    departmentExternalId: text(u.departmentExternalId),
    manager,
    active: u.active,
  }
}

function chunks<T>(items: T[], size = ID_CHUNK): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

async function* pages<T>(
  list: (cursor: string | undefined, signal: AbortSignal) => Promise<Page<T>>,
  signal: AbortSignal,
  what: string,
): AsyncGenerator<T[]> {
  let cursor: string | undefined
  for (let n = 0; n < PAGE_BATCH_LIMIT * 100; n++) {
    signal.throwIfAborted()
    const page = await list(cursor, signal)
    yield page.items
    if (!page.nextCursor) return
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
}

/**
 * Reads a full listing from the connector and writes the changes that would make the org tree match
 * it. Nothing in the org tree changes here. Memory stays bounded by what is kept per user (ids and
 * a few keys), not by the records: pages are processed and dropped.
 */
export async function buildFullPlan(ctx: BuildContext): Promise<BuildResult> {
  const { db, source, policy, writer } = ctx
  const warnings: string[] = []
  const warn = (message: string) => {
    if (warnings.length < 1000) warnings.push(message)
  }

  // ---- this source's identities, and the precedence of every source --------------------------
  const identities = new Map<string, IdentityState>()
  for (const row of await db
    .selectFrom('identities')
    .select(['id', 'external_id', 'person_id', 'attributes', 'active', 'removed_at', 'version'])
    .where('source_id', '=', source.id)
    .execute()) {
    identities.set(row.external_id, {
      id: row.id,
      personId: row.person_id,
      json: canonicalJson(row.attributes) ?? '{}',
      active: row.active,
      removed: row.removed_at !== null,
      version: row.version,
    })
  }
  const sourcePeople = [...identities.values()].filter((i) => !i.removed && i.personId).length

  const ranked = new Map<string, RankedSource>(
    (await db.selectFrom('sources').select(['id', 'precedence', 'policy', 'created_at']).execute()).map(
      (s) => [s.id, { id: s.id, precedence: s.precedence, createdAt: s.created_at, policy: s.policy }],
    ),
  )
  const me: RankedSource = ranked.get(source.id) ?? {
    id: source.id,
    precedence: source.precedence,
    createdAt: source.created_at,
    policy: source.policy,
  }
  /** Whether source `other` outranks this one for `attr`. */
  const outranksMe = (other: string, attr: PersonAttribute): boolean => {
    const o = ranked.get(other)
    return o !== undefined && outranks(o, me, attr)
  }
  const protectedNames = new Set(policy.protectedUserNames.map((n) => n.toLowerCase()))

  // ---- departments ------------------------------------------------------------------------------
  const deptRef = new Map<string, string>() // remote externalId → department id or "d:" ref
  // A department the plan creates has no id yet: changes inside it are filed under its nearest
  // existing ancestor, so GET /plans/{id}/changes?departmentId= finds them.
  const deptAnchor = new Map<string, string | null>() // "d:" ref → nearest existing ancestor id
  const anchorOf = (ref: string | null): string | null =>
    ref === null ? null : ref.startsWith('d:') ? (deptAnchor.get(ref) ?? null) : ref
  const remoteDepts: RemoteDepartment[] = []
  for await (const items of pages(
    ctx.connector.listDepartments.bind(ctx.connector),
    ctx.signal,
    'list departments',
  )) {
    remoteDepts.push(...items)
  }
  const owned = new Map(
    (
      await db
        .selectFrom('departments')
        .select(['id', 'name', 'parent_id', 'external_id', 'version', 'virtual'])
        .where('source_id', '=', source.id)
        .execute()
    ).map((d) => [d.external_id ?? '', d]),
  )
  // Existing departments by parent and lower-cased name, to adopt rather than duplicate. Not one of
  // this source's own that it still lists under its own id: that one stays itself (perhaps being
  // renamed away from the name), and merging a new department into it would mix their people.
  const listedIds = new Set(remoteDepts.map((d) => d.externalId))
  const byParentName = new Map<string, string>()
  for (const d of await db
    .selectFrom('departments')
    .select(['id', 'parent_id', 'name', 'source_id', 'external_id'])
    .execute()) {
    if (d.source_id === source.id && d.external_id !== null && listedIds.has(d.external_id)) continue
    byParentName.set(`${d.parent_id ?? ''}\u0000${d.name.toLowerCase()}`, d.id)
  }
  const adoptedIds = new Set<string>() // existing departments that listed ones map onto
  const remoteById = new Map(remoteDepts.map((d) => [d.externalId, d]))
  const movedAway = new Set<string>() // departments the plan moves to another parent
  const ordered: RemoteDepartment[] = []
  const placed = new Set<string>()
  const place = (d: RemoteDepartment, trail: string[]) => {
    if (placed.has(d.externalId)) return
    if (trail.includes(d.externalId))
      throw new PlanError(`department cycle in the source: ${[...trail, d.externalId].join(' → ')}`)
    const parent = d.parentExternalId ? remoteById.get(d.parentExternalId) : undefined
    if (d.parentExternalId && !parent)
      warn(`department ${d.externalId} names an unknown parent ${d.parentExternalId}: placed at the top`)
    if (parent) place(parent, [...trail, d.externalId])
    placed.add(d.externalId)
    ordered.push(d)
  }
  for (const d of remoteDepts) place(d, [])

  // Renames first: a department the plan creates (or moves) may take the name another one is
  // giving up in the same plan, and sibling names are unique at every step of the apply.
  for (const d of ordered) {
    const existing = owned.get(d.externalId)
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
    const parentRef = d.parentExternalId ? (deptRef.get(d.parentExternalId) ?? null) : null
    const existing = owned.get(d.externalId)
    if (existing) {
      deptRef.set(d.externalId, existing.id)
      if (existing.virtual) continue
      if ((existing.parent_id ?? null) !== parentRef) {
        if (existing.parent_id) movedAway.add(existing.id)
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
    const adopted = parentRef?.startsWith('d:')
      ? undefined
      : byParentName.get(`${parentRef ?? ''}\u0000${d.name.trim().toLowerCase()}`)
    if (adopted) {
      deptRef.set(d.externalId, adopted)
      adoptedIds.add(adopted)
      continue
    }
    const ref = `d:${d.externalId}`
    deptRef.set(d.externalId, ref)
    deptAnchor.set(ref, anchorOf(parentRef))
    await writer.add({
      kind: 'department.create',
      ref,
      departmentId: anchorOf(parentRef),
      after: { name: d.name.trim(), parentRef, externalId: d.externalId },
    })
  }
  const resolveDept = (ext: string | null): string | null => {
    if (ext === null) return null
    const ref = deptRef.get(ext)
    if (ref === undefined)
      warn(`a user's department ${ext} is not in the source's department listing: left without one`)
    return ref ?? null
  }

  // ---- users ------------------------------------------------------------------------------------
  const seen = new Set<string>()
  const personOf = new Map<string, string>() // remote externalId → person id or "p:" ref
  const byEmail = new Map<string, string>()
  const byEmployeeNumber = new Map<string, string>()
  const pendingManagers: PendingManager[] = []
  const movedOut = new Map<string, number>() // department id → people the plan moves out of it
  const claimed = new Set<string>() // people linked by this plan (one identity per source each)
  const names = new Map<string, string>() // person id or "p:" ref → user name, for messages
  let usersRead = 0

  for await (const page of pages(ctx.connector.listUsers.bind(ctx.connector), ctx.signal, 'list users')) {
    const users: { remote: RemoteUser; n: Normalised; state: IdentityState | undefined }[] = []
    for (const remote of page) {
      if (!remote.externalId || seen.has(remote.externalId)) {
        if (remote.externalId) warn(`user ${remote.externalId} is listed twice: the first one counts`)
        continue
      }
      if (!remote.userName?.trim()) {
        warn(`user ${remote.externalId} has no user name: skipped`)
        continue
      }
      seen.add(remote.externalId)
      users.push({ remote, n: normalise(remote), state: identities.get(remote.externalId) })
    }
    usersRead += page.length
    ctx.onProgress?.(usersRead)

    // People linked already, and those the matching rule finds for new identities.
    const linkedIds = users.map((u) => u.state?.personId).filter((id): id is string => !!id)
    const matchKeys = users
      .filter((u) => !u.state?.personId && u.n.active)
      .map((u) =>
        policy.matchBy === 'email'
          ? u.n.email
          : policy.matchBy === 'employeeNumber'
            ? u.n.employeeNumber
            : u.n.userName,
      )
      .filter((k): k is string => !!k)
    const people = new Map<string, PersonRow>()
    for (const ids of chunks(linkedIds)) {
      for (const p of await db.selectFrom('people').select(personColumns).where('id', 'in', ids).execute())
        people.set(p.id, p)
    }
    const matched = new Map<string, PersonRow>()
    for (const keys of chunks(matchKeys)) {
      const column =
        policy.matchBy === 'email'
          ? 'email'
          : policy.matchBy === 'employeeNumber'
            ? 'employee_number'
            : 'user_name'
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
      return !saying.some((o) => outranksMe(o.sourceId, attr))
    }

    for (const { remote, n, state } of users) {
      const identityJson = canonicalJson(n) ?? '{}'
      const departmentRef = resolveDept(n.departmentExternalId)
      const identityPayload = {
        externalId: remote.externalId,
        userName: n.userName,
        attributes: n,
        active: n.active,
        raw: remote.raw ?? null,
      }
      let person: PersonRow | undefined = state?.personId ? people.get(state.personId) : undefined
      let personRef: string | null = person?.id ?? null

      if (!person && n.active) {
        const key =
          policy.matchBy === 'email'
            ? n.email
            : policy.matchBy === 'employeeNumber'
              ? n.employeeNumber
              : n.userName.toLowerCase()
        const candidate = key
          ? matched.get(policy.matchBy === 'employeeNumber' ? key : key.toLowerCase())
          : undefined
        if (candidate && !claimed.has(candidate.id)) {
          person = candidate
          personRef = candidate.id
          claimed.add(candidate.id)
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
          await writer.add({
            kind: 'person.create',
            ref: personRef,
            departmentId: anchorOf(departmentRef),
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
        names.set(personRef, n.userName)
        personOf.set(remote.externalId, personRef)
        if (n.email) byEmail.set(n.email, personRef)
        if (n.employeeNumber) byEmployeeNumber.set(n.employeeNumber, personRef)
      }
      if (!person) {
        if (personRef && n.manager)
          pendingManagers.push({
            person: personRef,
            manager: n.manager,
            current: null,
            baseVersion: null,
            departmentId: anchorOf(departmentRef),
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
          movedOut.set(person.department_id, (movedOut.get(person.department_id) ?? 0) + 1)
      }
      // A dropped manager goes through planManagers too: the cycle check and the order managers are
      // applied in must know that this link goes away.
      if ((n.manager || person.manager_id) && wins(person.id, 'managerId', 'manager', n.manager)) {
        pendingManagers.push({
          person: person.id,
          manager: n.manager,
          current: person.manager_id,
          baseVersion: person.version,
          departmentId: person.department_id,
        })
      }
      const isProtected = person.protected || protectedNames.has(person.user_name.toLowerCase())
      if (!n.active && person.status === 'active') {
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
  }

  // ---- leavers: identities this full listing no longer has ------------------------------------
  const gone = [...identities.entries()].filter(([ext, s]) => !seen.has(ext) && !s.removed)
  for (const batch of chunks(gone)) {
    const personIds = batch.map(([, s]) => s.personId).filter((id): id is string => !!id)
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
    for (const [ext, s] of batch) {
      const person = s.personId ? people.get(s.personId) : undefined
      await writer.add({
        kind: 'identity.remove',
        targetId: s.id,
        baseVersion: s.version,
        departmentId: person?.department_id ?? null,
        before: { externalId: ext },
      })
      if (person && person.status === 'active' && !vouched.has(person.id)) {
        await writer.add({
          kind: 'person.suspend',
          targetId: person.id,
          baseVersion: person.version,
          departmentId: person.department_id,
          protected: person.protected || protectedNames.has(person.user_name.toLowerCase()),
          before: { status: person.status },
          after: { status: 'suspended', reason: `no longer in ${source.name}` },
        })
      }
    }
  }

  // ---- managers, once every person of the run is known ------------------------------------------
  await planManagers(ctx, pendingManagers, { personOf, byEmail, byEmployeeNumber, identities, names }, warn)

  // ---- groups ------------------------------------------------------------------------------------
  await planGroups(ctx, personOf, identities, warn)

  // ---- departments this source made that are gone and will be empty -----------------------------
  const listed = new Set(remoteDepts.map((d) => d.externalId))
  // Not one a listed department was adopted onto (the source re-keyed it): it is in use.
  const candidates = [...owned.values()].filter(
    (d) => !d.virtual && !listed.has(d.external_id ?? '') && !adoptedIds.has(d.id),
  )
  if (candidates.length > 0) {
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
      const remaining = (peopleIn.get(d.id) ?? 0) - (movedOut.get(d.id) ?? 0)
      // Children the plan deletes first or moves elsewhere do not keep a department.
      const children = (childrenOf.get(d.id) ?? []).filter((c) => !deleted.has(c) && !movedAway.has(c))
      if (remaining > 0 || children.length > 0) {
        warn(`department ${d.name} is gone from the source but still has people or sub-departments: kept`)
        continue
      }
      deleted.add(d.id)
      await writer.add({
        kind: 'department.delete',
        targetId: d.id,
        baseVersion: d.version,
        departmentId: d.id,
        before: { name: d.name },
      })
    }
  }

  await writer.flush()
  return { warnings, sourcePeople }
}

async function planManagers(
  ctx: BuildContext,
  pending: PendingManager[],
  known: {
    personOf: Map<string, string>
    byEmail: Map<string, string>
    byEmployeeNumber: Map<string, string>
    identities: Map<string, IdentityState>
    names: Map<string, string>
  },
  warn: (m: string) => void,
): Promise<void> {
  const { db } = ctx
  // Managers named by email or employee number that this run did not list: look them up once.
  const emails = [
    ...new Set(
      pending
        .map((p) => p.manager?.email?.toLowerCase())
        .filter((e): e is string => !!e && !known.byEmail.has(e)),
    ),
  ]
  const numbers = [
    ...new Set(
      pending
        .map((p) => p.manager?.employeeNumber)
        .filter((e): e is string => !!e && !known.byEmployeeNumber.has(e)),
    ),
  ]
  for (const part of chunks(emails)) {
    for (const r of await db
      .selectFrom('people')
      .select(['id', sql<string>`lower(email)`.as('email')])
      .where(sql`lower(email)`, 'in', part)
      .where('status', '<>', 'deprovisioned')
      .execute()) {
      if (!known.byEmail.has(r.email)) known.byEmail.set(r.email, r.id)
    }
  }
  for (const part of chunks(numbers)) {
    for (const r of await db
      .selectFrom('people')
      .select(['id', 'employee_number'])
      .where('employee_number', 'in', part)
      .where('status', '<>', 'deprovisioned')
      .execute()) {
      if (!known.byEmployeeNumber.has(r.employee_number!))
        known.byEmployeeNumber.set(r.employee_number!, r.id)
    }
  }

  const resolve = (m: NonNullable<PendingManager['manager']>): string | undefined => {
    if (m.externalId)
      return known.personOf.get(m.externalId) ?? known.identities.get(m.externalId)?.personId ?? undefined
    if (m.email) return known.byEmail.get(m.email.toLowerCase())
    if (m.employeeNumber) return known.byEmployeeNumber.get(m.employeeNumber)
    return undefined
  }
  const dbNames = new Map<string, string>()
  const nameOf = (id: string) => known.names.get(id) ?? dbNames.get(id) ?? id

  // The reporting lines after this plan: planned links (removals included) over the database's.
  const planned = new Map<string, string | null>()
  const changes: { p: PendingManager; managerRef: string | null }[] = []
  for (const p of pending) {
    let managerRef: string | null = null
    if (p.manager) {
      const found = resolve(p.manager)
      if (found === undefined) {
        warn(`manager ${JSON.stringify(p.manager)} of ${nameOf(p.person)} is not known: left unchanged`)
        continue
      }
      managerRef = found
    }
    if (managerRef === p.person) {
      throw new PlanError(`reporting cycle: ${nameOf(p.person)} is named as their own manager`, {
        cycle: [nameOf(p.person), nameOf(p.person)],
      })
    }
    if (managerRef !== p.current) {
      planned.set(p.person, managerRef)
      changes.push({ p, managerRef })
    }
  }
  if (changes.length === 0) return

  const dbManager = new Map<string, string | null>()
  let frontier = [...new Set([...planned.values()].filter((v): v is string => !!v && !v.startsWith('p:')))]
  while (frontier.length > 0) {
    const next: string[] = []
    for (const part of chunks(frontier.filter((id) => !dbManager.has(id)))) {
      for (const r of await db
        .selectFrom('people')
        .select(['id', 'manager_id', 'user_name'])
        .where('id', 'in', part)
        .execute()) {
        dbManager.set(r.id, r.manager_id)
        dbNames.set(r.id, r.user_name)
        if (r.manager_id && !dbManager.has(r.manager_id)) next.push(r.manager_id)
      }
    }
    frontier = next
  }
  const managerOf = (id: string): string | null =>
    planned.has(id) ? planned.get(id)! : (dbManager.get(id) ?? null)

  // Every person's depth in the reporting tree after the plan (0 = no manager); walking up from
  // each changed person finds any cycle the plan would close.
  const depth = new Map<string, number>()
  for (const start of planned.keys()) {
    const trail: string[] = []
    const onTrail = new Set<string>()
    let at: string | null = start
    while (at !== null && !depth.has(at)) {
      if (onTrail.has(at)) {
        const cycle = [...trail.slice(trail.indexOf(at)), at].map(nameOf)
        throw new PlanError(`reporting cycle: ${cycle.join(' → ')}`, { cycle })
      }
      onTrail.add(at)
      trail.push(at)
      at = managerOf(at)
    }
    let d = at === null ? -1 : depth.get(at)!
    for (let i = trail.length - 1; i >= 0; i--) depth.set(trail[i]!, ++d)
  }
  // Applied top-down (managers before their reports): every link the store checks then points at
  // a chain that is already as the plan leaves it, so no step makes a temporary cycle even when
  // the plan reverses a reporting line (the store refuses any cycle, temporary or not).
  changes.sort((x, y) => depth.get(x.p.person)! - depth.get(y.p.person)!)
  for (const { p, managerRef } of changes) {
    await ctx.writer.add({
      kind: 'person.manager',
      targetId: p.person.startsWith('p:') ? null : p.person,
      ref: p.person.startsWith('p:') ? p.person : null,
      baseVersion: p.baseVersion,
      departmentId: p.departmentId,
      before: { managerId: p.current },
      after: { managerRef },
    })
  }
}

async function planGroups(
  ctx: BuildContext,
  personOf: Map<string, string>,
  identities: Map<string, IdentityState>,
  warn: (m: string) => void,
): Promise<void> {
  const { db, source, writer } = ctx
  const owned = new Map(
    (
      await db
        .selectFrom('groups')
        .select(['id', 'display_name', 'description', 'external_id', 'version'])
        .where('source_id', '=', source.id)
        .execute()
    ).map((g) => [g.external_id ?? '', g]),
  )
  const listed = new Set<string>()
  for await (const page of pages(ctx.connector.listGroups.bind(ctx.connector), ctx.signal, 'list groups')) {
    for (const g of page as RemoteGroup[]) {
      if (listed.has(g.externalId)) continue
      listed.add(g.externalId)
      const desired = new Set<string>()
      for (const ext of g.memberExternalIds) {
        const ref = personOf.get(ext) ?? identities.get(ext)?.personId
        if (ref) desired.add(ref)
        else warn(`group ${g.displayName}: member ${ext} is not a known user of this source: skipped`)
      }
      const existing = owned.get(g.externalId)
      let groupRef: string
      if (!existing) {
        groupRef = `g:${g.externalId}`
        await writer.add({
          kind: 'group.create',
          ref: groupRef,
          after: { displayName: g.displayName, description: g.description ?? null, externalId: g.externalId },
        })
      } else {
        groupRef = existing.id
        const description = g.description ?? null
        if (existing.display_name !== g.displayName || existing.description !== description) {
          await writer.add({
            kind: 'group.update',
            targetId: existing.id,
            baseVersion: existing.version,
            before: { displayName: existing.display_name, description: existing.description },
            after: { displayName: g.displayName, description },
          })
        }
      }
      const current = new Set<string>()
      if (existing) {
        for (const m of await db
          .selectFrom('group_members')
          .select('person_id')
          .where('group_id', '=', existing.id)
          .execute()) {
          current.add(m.person_id)
        }
      }
      const add = [...desired].filter((id) => !current.has(id))
      const remove = [...current].filter((id) => !desired.has(id))
      for (const part of chunks(add, 5000)) {
        await writer.add({
          kind: 'group.members.add',
          targetId: existing?.id ?? null,
          ref: existing ? null : groupRef,
          after: { members: part },
        })
      }
      for (const part of chunks(remove, 5000)) {
        await writer.add({ kind: 'group.members.remove', targetId: groupRef, after: { members: part } })
      }
    }
  }
  for (const [ext, g] of owned) {
    if (!listed.has(ext)) {
      await writer.add({
        kind: 'group.delete',
        targetId: g.id,
        baseVersion: g.version,
        before: { displayName: g.display_name },
      })
    }
  }
}
