/**
 * Sync engine benchmark (issue 4, "Performance").
 *
 * Runs the real engine — buildServices → PlanService.createPlan / apply, through the org store — on a
 * generated organisation served by the fake connector (records are produced by index, so the
 * connector holds none of them), and on a 300-row CSV upload:
 *
 *   first plan, first apply     100,000 people in 2,000 departments (3 levels), managers by externalId
 *                               (chains up to 6 deep, no cycles, listed in a shuffled order so many
 *                               managers come after their reports), 200 groups (one of 20,000 members)
 *   re-plan, nothing changed    must find 0 changes; once right after the first apply (its tables have no
 *                               planner statistics yet), once after an ANALYZE (steady state, as after
 *                               autovacuum; the 1% phase runs on that state too)
 *   1% changed                  700 title changes, 250 department moves, 50 leavers (under the default
 *                               deletion threshold of 500), leavers dropped from their groups
 *   CSV, 300 rows               a second source (type csv): plan + apply into the same org
 *
 * Every phase records wall time, its round trips through Kysely (counted by a plugin, with the time
 * spent waiting on each kind of statement), the node process's CPU, the local PostgreSQL server's
 * CPU (all postgres processes, from /proc), the peak RSS and V8 heap sampled every 100 ms and
 * process.resourceUsage().maxRSS. A first row times the fake connector alone (generating every page),
 * the floor under every plan. Each store runs in its own child process, so RSS figures are that
 * store's alone. Correctness is checked after the first apply (counts; 100 sampled people have the
 * right department, manager and title; groups) and after the 1% change (the plan's summary, every
 * changed person, 100 unchanged ones); any failed check makes the exit code 1. Targets from the issue
 * are printed beside the figures, not asserted.
 *
 * Run:   npx tsx bench/sync.ts        (or: npm run bench:sync)
 * Env:   BENCH_DATABASE_URL   server for the scratch database (default postgres://postgres@127.0.0.1:5432/postgres)
 *        BENCH_POSTGRES=0     skip PostgreSQL        BENCH_PGLITE=0   skip PGlite (in memory)
 *        BENCH_USERS=100000   people (targets are stated for 100,000; smaller runs are labelled)
 *        BENCH_DEPARTMENTS    default 2,000 (at most a fifth of the users)
 *        BENCH_GROUPS=200     groups (the first has a fifth of all users)
 *        BENCH_PHASE_TIMEOUT=900   seconds a phase may take before the run stops with a message
 *        BENCH_CPU_PROF=DIR   write a V8 CPU profile of every phase into DIR (<store>-<phase>.cpuprofile)
 *        BENCH_LOG_LEVEL=warn engine log level (pino, to stderr)
 *
 * The PostgreSQL scratch database orgsync_bench_<random> is created, migrated and dropped at the end,
 * also when a phase fails, times out or the run is interrupted (Ctrl-C).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { sql, type Kysely } from 'kysely'
import pino from 'pino'
import { csvConnector } from '../connectors/csv'
import { generatedFakeConnector, type FakeData } from '../connectors/fake'
import { SecretBox } from '../src/crypto/secret-box'
import { migrateToLatest } from '../src/db/migrate'
import { openDatabase, type DatabaseHandle } from '../src/db/open-database'
import type { DB } from '../src/db/schema'
import { createLogger } from '../src/logger'
import type { Actor } from '../src/org/actor'
import { OrgStore } from '../src/org/org-store'
import type { RemoteDepartment, RemoteGroup, RemoteUser } from '../src/sync/connector'
import type { PlanSummary } from '../src/sync/plan-changes'
import type { PlanView } from '../src/sync/plan-service'
import { buildServices, type Services } from '../src/wiring'
import {
  describeSummary,
  fmtSeconds,
  machine,
  MB,
  PhaseTimeout,
  positiveInt,
  QueryCounter,
  Runner,
  scratchDatabase,
  send,
  table,
  warningsOf,
  type Message,
  type PhaseResult,
  phaseCells,
  PHASE_COLUMNS,
} from './bench-support'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const WITH_POSTGRES = process.env.BENCH_POSTGRES !== '0'
const WITH_PGLITE = process.env.BENCH_PGLITE !== '0'
const USERS = positiveInt(process.env.BENCH_USERS, 100_000)
const DEPARTMENTS = Math.min(positiveInt(process.env.BENCH_DEPARTMENTS, 2_000), Math.floor(USERS / 5))
const GROUPS = positiveInt(process.env.BENCH_GROUPS, 200)
const PHASE_TIMEOUT_MS = positiveInt(process.env.BENCH_PHASE_TIMEOUT, 900) * 1000
const CSV_ROWS = 300
const FULL_SCALE = USERS === 100_000 && DEPARTMENTS === 2_000

const actor: Actor = { type: 'admin', id: null, name: 'sync-bench' }

type StoreKind = 'postgres' | 'pglite'

// ---------------------------------------------------------------------------------------------------
// The generated organisation. Everything is a pure function of the index, so the connector serves
// records without holding them and the checks know what every person should look like.

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}

/** The smallest number ≥ start that is coprime with n (a stride that visits every index once). */
function coprime(n: number, start: number): number {
  let a = start
  while (gcd(a, n) !== 1) a++
  return a
}

const pad = (i: number, width = 6) => String(i).padStart(width, '0')
const GIVEN = [
  'Ada',
  'Grace',
  'Alan',
  'Edsger',
  'Barbara',
  'Donald',
  'Frances',
  'Ken',
  'Radia',
  'Tim',
  'Margaret',
  'Linus',
  'Sophie',
  'Yukihiro',
  'Anita',
  'Guido',
  'Hedy',
  'John',
  'Katherine',
  'Dennis',
  '伟',
  '芳',
  'Zoë',
  'José',
  'Łukasz',
]
const FAMILY = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Perlman',
  'Berners-Lee',
  'Hamilton',
  'Torvalds',
  'Wilson',
  'Matsumoto',
  'Borg',
  'van Rossum',
  'Lamarr',
  'McCarthy',
  'Johnson',
  'Ritchie',
  '王',
  '李',
  'Brontë',
  'Núñez',
  'Wąsik',
]
const TITLES = [
  'Engineer',
  'Analyst',
  'Designer',
  'Accountant',
  'Recruiter',
  'Consultant',
  'Product Manager',
  'Support Specialist',
  'Researcher',
  'Administrator',
  'Sales Representative',
]
const GROUP_SIZES = [10, 25, 50, 100, 250, 500, 1000, 2500]

type ChangeKind = 'title' | 'move' | 'leaver'

interface ExpectedUser {
  externalId: string
  title: string
  departmentExternalId: string
  managerExternalId: string | null
}

class GeneratedOrg {
  readonly top: number
  readonly middle: number
  /** Listing position → user index: a shuffled order, so many managers are listed after their reports. */
  private readonly stride: number
  private readonly groupStride: number
  /** Changed users (the 1% phase), by user index. */
  readonly changes = new Map<number, ChangeKind>()

  constructor(
    readonly users: number,
    readonly departments: number,
    readonly groups: number,
  ) {
    this.top = Math.max(1, Math.round(departments / 200))
    this.middle = Math.min(departments - this.top, this.top * 9)
    this.stride = coprime(users, 7919)
    this.groupStride = coprime(users, 13)
    // Exactly 1% of users, evenly spread over the staff (people nobody reports to): every 20th a
    // leaver, 5 in 20 moved to another department, the rest get a new title.
    const staffFrom = 3 * departments
    const count = Math.floor(users / 100)
    const step = Math.max(1, Math.floor((users - staffFrom) / Math.max(1, count)))
    for (let j = 0; j < count && staffFrom + j * step < users; j++) {
      const kind: ChangeKind = j % 20 === 0 ? 'leaver' : j % 20 <= 5 ? 'move' : 'title'
      this.changes.set(staffFrom + j * step, kind)
    }
  }

  count(kind: ChangeKind): number {
    let n = 0
    for (const k of this.changes.values()) if (k === kind) n++
    return n
  }

  // -- departments: `top` divisions, `middle` departments under them, teams under those ------------
  departmentParent(d: number): number | null {
    if (d < this.top) return null
    if (d < this.top + this.middle) return (d - this.top) % this.top
    return this.top + ((d - this.top - this.middle) % this.middle)
  }
  departmentExternalId(d: number): string {
    return `ou-${pad(d, 5)}`
  }
  departmentName(d: number): string {
    return d < this.top
      ? `Division ${d + 1}`
      : d < this.top + this.middle
        ? `Department ${d + 1}`
        : `Team ${d + 1}`
  }
  department(d: number): RemoteDepartment {
    const parent = this.departmentParent(d)
    return {
      externalId: this.departmentExternalId(d),
      name: this.departmentName(d),
      parentExternalId: parent === null ? null : this.departmentExternalId(parent),
    }
  }

  // -- people: user d heads department d, users D+d and 2D+d lead teams in it, the rest are staff ----
  userExternalId(i: number): string {
    return `emp-${pad(i)}`
  }
  homeDepartment(i: number): number {
    return i % this.departments
  }
  /** Where a moved user goes: a team elsewhere. */
  movedDepartment(i: number): number {
    const d = this.homeDepartment(i)
    return (d + 1 + (i % 97)) % this.departments
  }
  manager(i: number): number | null {
    const D = this.departments
    const d = i % D
    const rank = Math.floor(i / D)
    if (rank === 0) return this.departmentParent(d) ?? (d === 0 ? null : 0)
    if (rank <= 2) return d
    if (i % 53 === 0) return null // a few people without a manager
    return (rank % 2 === 1 ? D : 2 * D) + d
  }
  title(i: number): string {
    const rank = Math.floor(i / this.departments)
    if (rank === 0) return `Head of ${this.departmentName(i % this.departments)}`
    if (rank <= 2) return 'Team Lead'
    return TITLES[(i * 31) % TITLES.length]!
  }

  expected(i: number, changed: boolean): ExpectedUser {
    const kind = changed ? this.changes.get(i) : undefined
    const manager = this.manager(i)
    return {
      externalId: this.userExternalId(i),
      title: kind === 'title' ? `Senior ${this.title(i)}` : this.title(i),
      departmentExternalId: this.departmentExternalId(
        kind === 'move' ? this.movedDepartment(i) : this.homeDepartment(i),
      ),
      managerExternalId: manager === null ? null : this.userExternalId(manager),
    }
  }

  user(i: number, changed: boolean): RemoteUser {
    const e = this.expected(i, changed)
    const given = GIVEN[i % GIVEN.length]!
    const family = FAMILY[(i * 7) % FAMILY.length]!
    const record = {
      externalId: e.externalId,
      userName: `user${pad(i)}@corp.example`,
      displayName: `${given} ${family}`,
      givenName: given,
      familyName: family,
      email: `user${pad(i)}@corp.example`,
      employeeNumber: `E${pad(i)}`,
      title: e.title,
      departmentExternalId: e.departmentExternalId,
      manager: e.managerExternalId === null ? null : { externalId: e.managerExternalId },
      active: true,
    }
    // What a directory would send: the record as a JSON object, a few hundred bytes.
    return { ...record, raw: { ...record, objectClass: 'user', source: 'bench' } }
  }

  groupMembers(g: number, changed: boolean): number[] {
    const members: number[] = []
    if (g === 0) {
      for (let i = 0; i < this.users; i += 5) members.push(i)
    } else {
      const size = Math.min(this.users, GROUP_SIZES[g % GROUP_SIZES.length]!)
      const start = (g * 104_729) % this.users
      for (let j = 0; j < size; j++) members.push((start + j * this.groupStride) % this.users)
    }
    return changed ? members.filter((i) => this.changes.get(i) !== 'leaver') : members
  }
  group(g: number, changed: boolean): RemoteGroup {
    const members = this.groupMembers(g, changed)
    return {
      externalId: `grp-${pad(g, 4)}`,
      displayName: g === 0 ? 'Everyone (sample)' : `Group ${g}`,
      description: `Benchmark group ${g}`,
      memberExternalIds: members.map((i) => this.userExternalId(i)),
    }
  }

  /** What the fake connector lists: before (`changed` false) or after the 1% change. */
  data(changed: boolean): FakeData {
    const order: number[] = []
    for (let pos = 0; pos < this.users; pos++) {
      const i = (pos * this.stride) % this.users
      if (!(changed && this.changes.get(i) === 'leaver')) order.push(i)
    }
    const listed = Int32Array.from(order)
    return {
      users: { count: listed.length, at: (pos) => this.user(listed[pos]!, changed) },
      departments: { count: this.departments, at: (d) => this.department(d) },
      groups: { count: this.groups, at: (g) => this.group(g, changed) },
    }
  }

  memberships(changed: boolean): number {
    let n = 0
    for (let g = 0; g < this.groups; g++) n += this.groupMembers(g, changed).length
    return n
  }
}

// ---------------------------------------------------------------------------------------------------
// The CSV: 300 rows, "HR Upload/Region r/Team t", managers by employee_id (a tree, no cycles)

interface CsvRow {
  id: string
  name: string
  email: string
  title: string
  department: string
  manager: string
}

function csvRows(): CsvRow[] {
  const rows: CsvRow[] = []
  for (let i = 0; i < CSV_ROWS; i++) {
    const region = 1 + (i % 3)
    const team = 1 + (Math.floor(i / 3) % 5)
    rows.push({
      id: `H${pad(i, 4)}`,
      name:
        i % 10 === 0
          ? `${FAMILY[20 + (i % 2)]}${GIVEN[20 + (i % 2)]}`
          : `${GIVEN[i % 20]} "${i}" ${FAMILY[i % 20]}`,
      email: `h${pad(i, 4)}@hr.example`,
      title: TITLES[i % TITLES.length]!,
      department: `HR Upload/Region ${region}/Team ${team}`,
      manager: i === 0 ? '' : `H${pad(Math.floor((i - 1) / 10), 4)}`,
    })
  }
  return rows
}

function csvBody(rows: CsvRow[]): Buffer {
  const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)
  const lines = ['employee_id,name,email,title,department,manager']
  for (const r of rows)
    lines.push([r.id, r.name, r.email, r.title, r.department, r.manager].map(quote).join(','))
  return Buffer.from(`\uFEFF${lines.join('\r\n')}\r\n`, 'utf8')
}

async function runStore(
  store: StoreKind,
  open: () => Promise<DatabaseHandle>,
  opened: (handle: DatabaseHandle) => void,
): Promise<void> {
  const counter = new QueryCounter()
  const run = new Runner(store, counter, { adminUrl: ADMIN_URL, timeoutMs: PHASE_TIMEOUT_MS })
  // The store's own footprint (PGlite's is large), before any sync work.
  const { value: handle, result: setup } = await run.phase('open + migrate', async () => {
    const h = await open()
    opened(h)
    await migrateToLatest(h.db as Kysely<unknown>)
    return { value: h, changes: null }
  })
  run.publish(setup)
  const raw = handle.db
  const { rows: v } = await sql<{ version: string }>`select version() as version`.execute(raw)
  const version = (v[0]?.version ?? 'unknown').replace(/ on .*$/, '')
  send({ type: 'version', store, version: store === 'pglite' ? `PGlite (${version})` : version })
  console.log(`[${store}] ${version}`)
  const db = raw.withPlugin(counter)
  const org = new GeneratedOrg(USERS, DEPARTMENTS, GROUPS)
  // Swapped between the phases: the connector is opened per plan and reads it then.
  const data: FakeData = org.data(false)
  const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'warn', pino.destination({ fd: 2, sync: true }))
  const services: Services = buildServices({
    store: new OrgStore(db),
    box: new SecretBox(randomBytes(32)),
    connectors: { fake: generatedFakeConnector(data), csv: csvConnector },
    logger,
  })
  const fake = await services.sources.create(actor, {
    type: 'fake',
    name: 'Directory',
    config: { pageSize: 500 },
  })
  const memberships = org.memberships(false)
  // What the connector itself costs (generating records), part of every plan's time.
  const listing = await run.phase('fake listing alone', async () => {
    const definition = generatedFakeConnector(data)
    const connector = definition.open(definition.configSchema.parse({ pageSize: 500 }), {
      logger,
      fetch,
    })
    const signal = new AbortController().signal
    let records = 0
    const lists: ((
      cursor: string | undefined,
      signal: AbortSignal,
    ) => Promise<{ items: unknown[]; nextCursor?: string }>)[] = [
      (c, sg) => connector.listDepartments(c, sg),
      (c, sg) => connector.listUsers(c, sg),
      (c, sg) => connector.listGroups(c, sg),
    ]
    for (const list of lists) {
      let cursor: string | undefined
      do {
        const page = await list(cursor, signal)
        records += page.items.length
        cursor = page.nextCursor
      } while (cursor !== undefined)
    }
    return { value: records, changes: null }
  })
  run.publish(listing.result)
  console.log(
    `[${store}] org: ${USERS.toLocaleString('en')} users, ${DEPARTMENTS.toLocaleString('en')} departments ` +
      `(${org.top} / ${org.middle} / ${DEPARTMENTS - org.top - org.middle} by level), ${GROUPS} groups with ` +
      `${memberships.toLocaleString('en')} memberships (largest ${org.groupMembers(0, false).length.toLocaleString('en')})`,
  )

  const plan = async (label: string, sourceId: string, upload?: Buffer) =>
    run.phase(label, async (note) => {
      const p = await services.plans.createPlan(sourceId, {
        trigger: upload ? 'upload' : 'manual',
        actor,
        upload: upload ? { contentType: 'text/csv', body: upload } : undefined,
        onProgress: (n) => note(`${n.toLocaleString('en')} users read`),
      })
      return { value: p, changes: p.changeCount }
    })
  const apply = async (label: string, planId: string) =>
    run.phase(label, async () => {
      const p = await services.plans.apply(planId, actor)
      return { value: p, changes: p.changeCount }
    })
  const combined = (label: string, a: PhaseResult, b: PhaseResult) => run.combine(label, a, b)
  const requireStatus = (result: PhaseResult, p: PlanView, status: PlanView['status']): boolean => {
    const ok = p.status === status
    run.check(
      result,
      ok,
      `plan is ${p.status}${ok ? '' : ` (expected ${status}): ${p.error ?? p.heldReason ?? ''}`.trimEnd()}`,
    )
    return ok
  }

  // ---- 1. first plan and apply ----------------------------------------------------------------------
  const first = await plan('first plan', fake.id)
  const firstPlan = first.value
  const s1 = firstPlan.summary as PlanSummary
  console.log(`[${store}]   summary: ${describeSummary(s1)}`)
  const firstReady = requireStatus(first.result, firstPlan, 'ready')
  if (firstReady) {
    const managers = org.users - countNoManager(org)
    run.check(
      first.result,
      s1.people.create === USERS &&
        s1.departments.create === DEPARTMENTS &&
        s1.groups.create === GROUPS &&
        s1.memberships.added === memberships &&
        s1.people.manager === managers,
      `summary: ${USERS} people, ${DEPARTMENTS} departments, ${GROUPS} groups, ${memberships} memberships, ` +
        `${managers} manager links to create`,
    )
    const warnings = warningsOf(firstPlan)
    run.check(
      first.result,
      warnings.length === 0,
      `${warnings.length} warnings${warnings.length ? `: ${warnings[0]}` : ''}`,
    )
  }
  run.publish(first.result)
  if (!firstReady) throw new Error('the first plan is not ready: nothing more to measure')

  const firstApply = await apply('first apply', firstPlan.id)
  requireStatus(firstApply.result, firstApply.value, 'applied')
  await checkAfterFirstApply(run, firstApply.result, raw, org, fake.id)
  run.publish(firstApply.result)
  const firstTotal = combined('first plan + apply', first.result, firstApply.result)
  run.publish(firstTotal)

  // ---- 2. re-plan, nothing changed: at once, and once the planner has statistics -------------------------
  // Right after the first apply the tables were filled in one transaction and have no planner
  // statistics yet (autovacuum analyzes them within a minute or so): some lookups then choose
  // sequential scans. The second re-plan runs after an explicit ANALYZE (not timed), as a steady-state
  // database would; the 1% phase runs on that state too.
  const replan = async (label: string) => {
    const again = await plan(label, fake.id)
    requireStatus(again.result, again.value, 'ready')
    run.check(
      again.result,
      again.value.changeCount === 0,
      `${again.value.changeCount} changes (expected 0)${again.value.changeCount ? `: ${describeSummary(again.value.summary as PlanSummary)}` : ''}`,
    )
    run.publish(again.result)
    // Leave nothing pending for the source.
    if (again.value.status === 'ready') await services.plans.reject(again.value.id, actor)
  }
  await replan('re-plan, no change')
  const analyzed = performance.now()
  await sql`analyze`.execute(raw)
  console.log(`[${store}] (analyze: ${fmtSeconds(performance.now() - analyzed)}, not timed)`)
  await replan('re-plan, after ANALYZE')

  // ---- 3. 1% changed -------------------------------------------------------------------------------------
  Object.assign(data, org.data(true))
  const changed = await plan('1% changed: plan', fake.id)
  const s2 = changed.value.summary as PlanSummary
  console.log(`[${store}]   summary: ${describeSummary(s2)}`)
  const changedReady = requireStatus(changed.result, changed.value, 'ready')
  const titles = org.count('title')
  const moves = org.count('move')
  const leavers = org.count('leaver')
  const removedMemberships = memberships - org.memberships(true)
  if (changedReady) {
    const expected: Record<string, [number, number]> = {
      'people.update (titles)': [s2.people.update, titles],
      'people.move': [s2.people.move, moves],
      'people.suspend (leavers)': [s2.people.suspend, leavers],
      'people.create': [s2.people.create, 0],
      'people.manager': [s2.people.manager, 0],
      'identities.update': [s2.identities.update, titles + moves],
      'identities.remove': [s2.identities.remove, leavers],
      'memberships.removed': [s2.memberships.removed, removedMemberships],
      'memberships.added': [s2.memberships.added, 0],
    }
    const wrong = Object.entries(expected).filter(([, [got, want]]) => got !== want)
    run.check(
      changed.result,
      wrong.length === 0,
      `summary: ${titles} title changes, ${moves} moves, ${leavers} leavers, ${removedMemberships} memberships removed` +
        (wrong.length
          ? ` — got ${wrong.map(([k, [got, want]]) => `${k} ${got} (want ${want})`).join(', ')}`
          : ''),
    )
  }
  run.publish(changed.result)
  if (changedReady) {
    const changedApply = await apply('1% changed: apply', changed.value.id)
    requireStatus(changedApply.result, changedApply.value, 'applied')
    await checkAfterChange(run, changedApply.result, raw, org, fake.id)
    run.publish(changedApply.result)
    run.publish(combined('1% changed: plan + apply', changed.result, changedApply.result))
  }

  // ---- 4. a 300-row CSV upload -------------------------------------------------------------------------
  const rows = csvRows()
  const csv = await services.sources.create(actor, { type: 'csv', name: 'HR upload', config: {} })
  const csvPlan = await plan('CSV 300 rows: plan', csv.id, csvBody(rows))
  const csvReady = requireStatus(csvPlan.result, csvPlan.value, 'ready')
  if (csvReady) {
    const s3 = csvPlan.value.summary as PlanSummary
    run.check(
      csvPlan.result,
      s3.people.create === CSV_ROWS && s3.departments.create === 1 + 3 + 15,
      `summary: ${describeSummary(s3)} (want ${CSV_ROWS} people, 19 departments)`,
    )
  }
  run.publish(csvPlan.result)
  if (csvReady) {
    const csvApply = await apply('CSV 300 rows: apply', csvPlan.value.id)
    requireStatus(csvApply.result, csvApply.value, 'applied')
    await checkCsv(run, csvApply.result, raw, rows, csv.id)
    run.publish(csvApply.result)
    run.publish(combined('CSV 300 rows: plan + apply', csvPlan.result, csvApply.result))
  }

  // What the run left in the database (for PGlite in memory, this lives in the process).
  const { rows: sizes } = await sql<{ name: string; bytes: number }>`
    select c.relname as name, pg_total_relation_size(c.oid)::float8 as bytes
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r'
    order by 2 desc limit 5`.execute(raw)
  const { rows: total } = await sql<{ bytes: number }>`
    select pg_database_size(current_database())::float8 as bytes`.execute(raw)
  console.log(
    `[${store}] database size at the end: ${((total[0]?.bytes ?? 0) / MB).toFixed(0)} MB (` +
      sizes.map((r) => `${r.name} ${(r.bytes / MB).toFixed(0)} MB`).join(', ') +
      ')',
  )
}

function countNoManager(org: GeneratedOrg): number {
  let n = 0
  for (let i = 0; i < org.users; i++) if (org.manager(i) === null) n++
  return n
}

// ---------------------------------------------------------------------------------------------------
// Correctness checks (through the raw database handle, so they are not counted as the engine's queries)

interface PersonFacts {
  external_id: string
  status: string
  title: string | null
  department: string | null
  manager: string | null
  removed: boolean
}

async function facts(
  db: Kysely<DB>,
  sourceId: string,
  externalIds: string[],
): Promise<Map<string, PersonFacts>> {
  const { rows } = await sql<PersonFacts>`
    select i.external_id, p.status, p.title, d.external_id as department, mi.external_id as manager,
           i.removed_at is not null as removed
    from identities i
    join people p on p.id = i.person_id
    left join departments d on d.id = p.department_id
    left join identities mi on mi.person_id = p.manager_id and mi.source_id = i.source_id
    where i.source_id = ${sourceId} and i.external_id = any(${externalIds}::text[])
  `.execute(db)
  return new Map(rows.map((r) => [r.external_id, r]))
}

function compare(org: GeneratedOrg, f: PersonFacts | undefined, i: number, changed: boolean): string | null {
  const e = org.expected(i, changed)
  if (!f) return `${e.externalId}: no person`
  const diffs: string[] = []
  if (f.status !== 'active') diffs.push(`status ${f.status}`)
  if (f.title !== e.title) diffs.push(`title ${JSON.stringify(f.title)} ≠ ${JSON.stringify(e.title)}`)
  if (f.department !== e.departmentExternalId)
    diffs.push(`department ${f.department} ≠ ${e.departmentExternalId}`)
  if (f.manager !== e.managerExternalId) diffs.push(`manager ${f.manager} ≠ ${e.managerExternalId}`)
  return diffs.length ? `${e.externalId}: ${diffs.join(', ')}` : null
}

/** 100 people spread over the org: heads, leads and staff. */
function sample(org: GeneratedOrg, exclude: (i: number) => boolean = () => false): number[] {
  const picked = new Set<number>([0, 1, org.top, org.top + org.middle, org.departments, 2 * org.departments])
  for (let j = 0; picked.size < Math.min(100, org.users) && j < 10 * org.users; j++) {
    const i = (j * 7_927 + 11) % org.users
    if (!exclude(i)) picked.add(i)
  }
  return [...picked].filter((i) => !exclude(i)).slice(0, 100)
}

async function count(db: Kysely<DB>, query: ReturnType<typeof sql<{ n: number }>>): Promise<number> {
  const { rows } = await query.execute(db)
  return Number(rows[0]?.n ?? NaN)
}

async function checkAfterFirstApply(
  run: Runner,
  r: PhaseResult,
  db: Kysely<DB>,
  org: GeneratedOrg,
  sourceId: string,
): Promise<void> {
  const people = await count(db, sql`select count(*)::int as n from people`)
  const linked = await count(
    db,
    sql`select count(*)::int as n from identities i join people p on p.id = i.person_id
        where i.source_id = ${sourceId} and p.status = 'active'`,
  )
  run.check(
    r,
    people === org.users && linked === org.users,
    `people ${people}, linked to the source ${linked} (want ${org.users})`,
  )
  const departments = await count(db, sql`select count(*)::int as n from departments`)
  const owned = await count(db, sql`select count(*)::int as n from departments where source_id = ${sourceId}`)
  run.check(
    r,
    departments === org.departments && owned === org.departments,
    `departments ${departments} (want ${org.departments})`,
  )
  const { rows: tree } = await sql<{ external_id: string; parent: string | null; depth: number }>`
    select d.external_id, p.external_id as parent, d.depth
    from departments d left join departments p on p.id = d.parent_id
    where d.source_id = ${sourceId}`.execute(db)
  const treeWrong = tree.filter((t) => {
    const d = Number(t.external_id.slice(3))
    const parent = org.departmentParent(d)
    const depth = parent === null ? 0 : org.departmentParent(parent) === null ? 1 : 2
    return t.parent !== (parent === null ? null : org.departmentExternalId(parent)) || t.depth !== depth
  })
  run.check(
    r,
    treeWrong.length === 0,
    `every department has the right parent and depth${treeWrong.length ? ` — ${treeWrong.length} wrong, e.g. ${treeWrong[0]!.external_id}` : ''}`,
  )
  const groups = await count(db, sql`select count(*)::int as n from groups where source_id = ${sourceId}`)
  const members = await count(db, sql`select count(*)::int as n from group_members`)
  const largest = await count(
    db,
    sql`select count(*)::int as n from group_members m join groups g on g.id = m.group_id
        where g.external_id = 'grp-0000' and g.source_id = ${sourceId}`,
  )
  const wantMembers = org.memberships(false)
  run.check(
    r,
    groups === org.groups && members === wantMembers && largest === org.groupMembers(0, false).length,
    `groups ${groups}, memberships ${members}, largest ${largest} (want ${org.groups}, ${wantMembers}, ${org.groupMembers(0, false).length})`,
  )
  const picked = sample(org)
  const got = await facts(
    db,
    sourceId,
    picked.map((i) => org.userExternalId(i)),
  )
  const wrong = picked
    .map((i) => compare(org, got.get(org.userExternalId(i)), i, false))
    .filter((x) => x !== null)
  run.check(
    r,
    wrong.length === 0,
    `${picked.length} sampled people: department, manager, title${wrong.length ? ` — ${wrong.length} wrong, e.g. ${wrong[0]}` : ''}`,
  )
  const chains = await sql<{ depth: number }>`
    with recursive chain (id, depth) as (
      select id, 0 from people where manager_id is null
      union all
      select p.id, c.depth + 1 from people p join chain c on p.manager_id = c.id where c.depth < 50
    ) select max(depth)::int as depth from chain`.execute(db)
  console.log(`[${run.store}]   deepest reporting chain: ${chains.rows[0]?.depth ?? '?'} levels`)
}

async function checkAfterChange(
  run: Runner,
  r: PhaseResult,
  db: Kysely<DB>,
  org: GeneratedOrg,
  sourceId: string,
): Promise<void> {
  const changed = [...org.changes.keys()]
  const got = await facts(
    db,
    sourceId,
    changed.map((i) => org.userExternalId(i)),
  )
  const wrong: string[] = []
  for (const i of changed) {
    const f = got.get(org.userExternalId(i))
    if (org.changes.get(i) === 'leaver') {
      if (!f || f.status !== 'suspended' || !f.removed)
        wrong.push(
          `${org.userExternalId(i)}: leaver is ${f ? `${f.status}, identity ${f.removed ? 'removed' : 'kept'}` : 'gone'}`,
        )
    } else {
      const w = compare(org, f, i, true)
      if (w) wrong.push(w)
    }
  }
  run.check(
    r,
    wrong.length === 0,
    `all ${changed.length} changed people (titles, moves, leavers suspended)${wrong.length ? ` — ${wrong.length} wrong, e.g. ${wrong[0]}` : ''}`,
  )
  const unchanged = sample(org, (i) => org.changes.has(i))
  const got2 = await facts(
    db,
    sourceId,
    unchanged.map((i) => org.userExternalId(i)),
  )
  const wrong2 = unchanged
    .map((i) => compare(org, got2.get(org.userExternalId(i)), i, true))
    .filter((x) => x !== null)
  run.check(
    r,
    wrong2.length === 0,
    `${unchanged.length} unchanged people as they were${wrong2.length ? ` — e.g. ${wrong2[0]}` : ''}`,
  )
  const active = await count(db, sql`select count(*)::int as n from people where status = 'active'`)
  const want = org.users - org.count('leaver')
  run.check(r, active === want, `${active} active people (want ${want})`)
  const members = await count(db, sql`select count(*)::int as n from group_members`)
  run.check(r, members === org.memberships(true), `memberships ${members} (want ${org.memberships(true)})`)
}

async function checkCsv(
  run: Runner,
  r: PhaseResult,
  db: Kysely<DB>,
  rows: CsvRow[],
  sourceId: string,
): Promise<void> {
  const { rows: got } = await sql<{
    external_id: string
    title: string | null
    department: string | null
    manager: string | null
  }>`
    select i.external_id, p.title, d.path as department, mi.external_id as manager
    from identities i
    join people p on p.id = i.person_id
    left join departments d on d.id = p.department_id
    left join identities mi on mi.person_id = p.manager_id and mi.source_id = i.source_id
    where i.source_id = ${sourceId}
  `.execute(db)
  const byId = new Map(got.map((g) => [g.external_id, g]))
  const wrong = rows.filter((row) => {
    const g = byId.get(row.id)
    return !g || g.title !== row.title || g.department !== row.department || (g.manager ?? '') !== row.manager
  })
  run.check(
    r,
    got.length === rows.length && wrong.length === 0,
    `${got.length} people from the CSV (want ${rows.length}); department, manager, title${wrong.length ? ` — ${wrong.length} wrong, e.g. ${wrong[0]!.id}` : ''}`,
  )
}

// ---------------------------------------------------------------------------------------------------
// Child process: one store

async function child(store: StoreKind): Promise<void> {
  let dropNow: (() => Promise<void>) | undefined
  let stopping = false
  const quit = (code: number, message?: string) => {
    if (stopping) return
    stopping = true
    if (message) {
      console.error(`\n[${store}] ${message}`)
      send({ type: 'fatal', store, message })
    }
    // Queries may still be running: let nothing stop the drop, then leave without waiting for them.
    process.on('uncaughtException', () => undefined)
    process.on('unhandledRejection', () => undefined)
    const drop = dropNow ?? (() => Promise.resolve())
    void drop()
      .catch((err: unknown) => console.error(`  could not drop the scratch database: ${String(err)}`))
      .finally(() => process.exit(code))
  }
  process.on('SIGINT', () => quit(130, 'interrupted'))
  process.on('SIGTERM', () => quit(130, 'terminated'))

  let handle: DatabaseHandle | undefined
  try {
    if (store === 'postgres') {
      const scratch = await scratchDatabase(ADMIN_URL)
      dropNow = scratch.drop
      const target = scratch.url
      await runStore(
        store,
        () => openDatabase({ kind: 'postgres', url: target, poolMax: 4 }),
        (h) => (handle = h),
      )
    } else {
      await runStore(
        store,
        () => openDatabase({ kind: 'pglite' }),
        (h) => (handle = h),
      )
    }
  } catch (err) {
    if (err instanceof PhaseTimeout) return quit(3, err.message)
    return quit(1, `failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  }
  await handle?.close()
  await dropNow?.()
  process.exit(0)
}

// ---------------------------------------------------------------------------------------------------
// Parent: runs each store in its own process and reports

function target(r: PhaseResult, firstApplyMs: number | undefined): string {
  switch (r.phase) {
    case 'first plan + apply':
      return '≤ 60 s, RSS ≤ 512 MB'
    case 're-plan, no change':
    case 're-plan, after ANALYZE':
      return '≤ 15 s, 0 changes'
    case '1% changed: apply':
      return firstApplyMs
        ? `≪ first apply (${((100 * r.ms) / firstApplyMs).toFixed(1)}% of it)`
        : '≪ first apply'
    case 'CSV 300 rows: plan + apply':
      return '< 1 s'
    default:
      return ''
  }
}

function verdict(r: PhaseResult): string {
  if (r.checks.length === 0) return ''
  return r.failures === 0 ? `ok (${r.checks.length})` : `${r.failures} FAILED`
}

function report(results: PhaseResult[], versions: string[], fatal: string[]): void {
  const scale = FULL_SCALE
    ? `${USERS.toLocaleString('en')} people, ${DEPARTMENTS.toLocaleString('en')} departments, ${GROUPS} groups`
    : `SCALED DOWN: ${USERS.toLocaleString('en')} people, ${DEPARTMENTS.toLocaleString('en')} departments, ${GROUPS} groups ` +
      '(the targets are for 100,000 people in 2,000 departments)'
  console.log(`\nSync engine through the fake connector: ${scale}; then a ${CSV_ROWS}-row CSV upload\n`)
  const rows = results.map((r) => {
    const firstApply = results.find((x) => x.store === r.store && x.phase === 'first apply')
    return [r.store, r.phase, ...phaseCells(r), verdict(r), target(r, firstApply?.ms)]
  })
  console.log(table(['store', 'phase', ...PHASE_COLUMNS, 'checks', 'target'], rows))
  console.log(
    '\nquery wait: time from sending each statement to its result, summed (the rest of "time" is JavaScript);' +
      '\npg CPU: every local postgres process (server-wide, other clients included); PGlite runs inside node, so its' +
      '\nwork is in node CPU. peak RSS / heap MB (V8 heap in use): sampled every 100 ms; maxRSS: resourceUsage, the' +
      '\nprocess high-water mark so far (each store runs in its own process). "fake listing alone": the connector' +
      "\ngenerating every page with no engine, part of each plan's time.",
  )
  const withQueries = results.filter((r) => r.topQueries.length > 0 && r.queries > 0)
  if (withQueries.length) {
    console.log('\nWhere the round trips go (statement kinds by time waited, per phase):')
    for (const r of withQueries) {
      console.log(`  ${r.store} / ${r.phase}:`)
      for (const q of r.topQueries) {
        console.log(
          `    ${q.kind.padEnd(58)} ${q.n.toLocaleString('en').padStart(10)} × ${((1000 * q.ms) / q.n).toFixed(0).padStart(5)} µs = ${fmtSeconds(q.ms)}`,
        )
      }
    }
  }
  for (const f of fatal) console.log(`\n${f}`)
  console.log(`\nmachine: ${machine()}; ${versions.join('; ')}`)
}

let running: ChildProcess | undefined
let interrupted = false

function runChild(
  store: StoreKind,
  results: PhaseResult[],
  versions: string[],
  fatal: string[],
): Promise<number> {
  const args = [...process.execArgv, __filename]
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, {
      env: { ...process.env, BENCH_CHILD: store },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    running = c
    c.on('message', (m: Message) => {
      if (m.type === 'phase') results.push(m.result)
      else if (m.type === 'version') versions.push(m.version)
      else fatal.push(`[${m.store}] ${m.message.split('\n')[0]}`)
    })
    c.on('exit', (code, signal) => {
      running = undefined
      if (code !== 0 && !fatal.some((f) => f.startsWith(`[${store}]`)))
        fatal.push(`[${store}] the run ended with ${signal ?? `exit code ${code}`}`)
      resolve(code ?? 1)
    })
  })
}

async function parent(): Promise<void> {
  const forward = (signal: NodeJS.Signals) => {
    interrupted = true
    running?.kill(signal)
  }
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  const results: PhaseResult[] = []
  const versions: string[] = []
  const fatal: string[] = []
  let failed = false
  const stores: StoreKind[] = [
    ...(WITH_POSTGRES ? ['postgres' as const] : []),
    ...(WITH_PGLITE ? ['pglite' as const] : []),
  ]
  for (const store of stores) {
    if (interrupted) break
    const code = await runChild(store, results, versions, fatal)
    if (code !== 0) failed = true
  }
  if (interrupted) {
    console.error('\ninterrupted: partial results below')
  }
  report(results, versions, fatal)
  if (results.some((r) => r.failures > 0)) {
    console.error('\na correctness check failed: see the check lines above')
    process.exitCode = 1
  } else if (failed) {
    process.exitCode = interrupted ? 130 : 1
  }
}

const role = process.env.BENCH_CHILD
if (role === 'postgres' || role === 'pglite') void child(role)
else
  parent().catch((err: unknown) => {
    console.error('\nbenchmark failed:', err)
    process.exitCode = 1
  })
