/**
 * Department move benchmark.
 *
 * Measures what one department move (and one rename) costs through the real org store: a single
 * `store.write(actor, (w) => w.moveDepartment(id, parentId))` transaction, which takes the tree lock,
 * rewrites path / id_path / depth of the whole subtree with one UPDATE by id_path prefix, and records
 * its audit event. The department "Moving" has a subtree of 1,000 departments (itself, 9 units, 90
 * teams, 900 squads) holding 10,000 people; "Elsewhere" holds 220 more departments and 5,000 people
 * that a move must not touch. "Moving" goes back and forth between the top-level departments
 * "Target A" and "Target B", then is renamed back and forth.
 *
 * Seeding is bulk SQL and is not measured. Paths are built with the store's own joinPath/joinIdPath;
 * after seeding and after every timed write, every department's path, id_path and depth is recomputed
 * from the parent links with a recursive CTE and compared, and people must still reference the same
 * departments. Any mismatch makes the process exit non-zero.
 *
 * Run:   npx tsx bench/department-move.ts        (or: npm run bench:department-move)
 * Env:   BENCH_DATABASE_URL  server to create the scratch database on
 *                            (default postgres://postgres@127.0.0.1:5432/postgres)
 *        BENCH_PGLITE=1      also run the same measurements on PGlite in memory
 *        BENCH_REPEAT=5      timed repetitions per operation (no warm-up runs)
 *
 * A scratch database orgsync_bench_<random> is created, migrated, and dropped at the end, also when
 * the run fails or is interrupted.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import { migrateToLatest } from '../src/db/migrate'
import { openDatabase, type DatabaseHandle } from '../src/db/open-database'
import type { DB } from '../src/db/schema'
import { systemActor } from '../src/org/actor'
import { joinIdPath, joinPath } from '../src/department-path'
import { OrgStore } from '../src/org/org-store'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const WITH_PGLITE = process.env.BENCH_PGLITE === '1'
const REPEAT = positiveInt(process.env.BENCH_REPEAT, 5)

const MOVING_PEOPLE = 10_000
const OTHER_PEOPLE = 5_000
const PEOPLE_BATCH = 2_500
const actor = systemActor('department-move-bench')

// ---------------------------------------------------------------------------------------------------
// Interruption: the first Ctrl-C stops the run at its next step, which then closes its connections
// and drops the scratch database normally (dropping it under open connections instead makes pg emit
// an unhandled 'error' from a checked-out client). A second Ctrl-C drops it with force and exits.

class Interrupted extends Error {}
let interrupted: NodeJS.Signals | undefined

function stopIfInterrupted(): void {
  if (interrupted) throw new Interrupted(`interrupted by ${interrupted}`)
}

function onSignal(signal: NodeJS.Signals): void {
  if (!interrupted) {
    interrupted = signal
    process.stderr.write(`\n  ${signal}: stopping after the current step (again to quit at once)\n`)
    return
  }
  // Dropping with force kills the run's connections under it; a pooled client that is checked out
  // then emits an unhandled 'error'. We are quitting anyway: let nothing stop the drop.
  process.on('uncaughtException', () => undefined)
  const drop = dropScratchNow ?? (() => Promise.resolve())
  drop()
    .catch((err: unknown) => process.stderr.write(`  could not drop the scratch database: ${String(err)}\n`))
    .finally(() => process.exit(130))
}

// ---------------------------------------------------------------------------------------------------
// The tree, built in JavaScript with the store's own path functions

interface SeedDepartment {
  id: string
  parentId: string | null
  name: string
  path: string
  idPath: string
  depth: number
}

interface SeedTree {
  departments: SeedDepartment[]
  moving: SeedDepartment
  targetA: SeedDepartment
  targetB: SeedDepartment
  /** Every department of Moving's subtree, Moving included. */
  movingSubtree: SeedDepartment[]
  /** Departments elsewhere in the tree that hold the other people. */
  elsewhere: SeedDepartment[]
}

function buildTree(): SeedTree {
  const departments: SeedDepartment[] = []
  const add = (parent: SeedDepartment | null, name: string): SeedDepartment => {
    const id = randomUUID()
    const d: SeedDepartment = {
      id,
      parentId: parent?.id ?? null,
      name,
      path: joinPath(parent?.path ?? null, name),
      idPath: joinIdPath(parent?.idPath ?? null, id),
      depth: parent ? parent.depth + 1 : 0,
    }
    departments.push(d)
    return d
  }
  /** Adds `fanouts[k]` children to every department of level k below root; returns root and all below. */
  const subtree = (
    root: SeedDepartment,
    fanouts: readonly number[],
    name: (level: number, i: number) => string,
  ): SeedDepartment[] => {
    const all = [root]
    let level = [root]
    fanouts.forEach((fanout, depth) => {
      const next: SeedDepartment[] = []
      for (const parent of level) {
        for (let i = 1; i <= fanout; i++) next.push(add(parent, name(depth, i)))
      }
      all.push(...next)
      level = next
    })
    return all
  }

  const targetA = add(null, 'Target A')
  const targetB = add(null, 'Target B')
  subtree(targetA, [5], (_, i) => `Team ${i}`)
  subtree(targetB, [5], (_, i) => `Team ${i}`)
  // Moving starts under Target A, so every timed move goes from one sibling to the other.
  const moving = add(targetA, 'Moving')
  // 1 + 9 + 90 + 900 = 1,000 departments. Two units have a "/" and a "\" in their names, which
  // puts escaped segments into 222 of the subtree's paths.
  const escaped = ['Sales/EMEA', 'Ops\\Infra']
  const movingSubtree = subtree(moving, [9, 10, 10], (level, i) =>
    level === 0 ? (escaped[i - 1] ?? `Unit ${i}`) : `${level === 1 ? 'Team' : 'Squad'} ${i}`,
  )
  const elsewhere = subtree(
    add(null, 'Elsewhere'),
    [20, 10],
    (level, i) => `${level === 0 ? 'Division' : 'Group'} ${i}`,
  )
  add(null, 'Board')
  return { departments, moving, targetA, targetB, movingSubtree, elsewhere }
}

// ---------------------------------------------------------------------------------------------------
// Seeding (bulk SQL, not measured)

/** One progress line on a terminal (rewritten in place), one line per step otherwise. */
function progress(message: string): void {
  stopIfInterrupted()
  if (process.stderr.isTTY) process.stderr.write(`\r  seeding: ${message}`.padEnd(72))
  else process.stderr.write(`  seeding: ${message}\n`)
}

async function seed(db: Kysely<DB>, tree: SeedTree): Promise<void> {
  const started = performance.now()
  const d = tree.departments
  progress(`${d.length.toLocaleString('en')} departments`)
  await sql`
    insert into departments (id, parent_id, name, path, id_path, depth)
    select * from unnest(
      ${d.map((x) => x.id)}::uuid[], ${d.map((x) => x.parentId)}::uuid[], ${d.map((x) => x.name)}::text[],
      ${d.map((x) => x.path)}::text[], ${d.map((x) => x.idPath)}::text[], ${d.map((x) => x.depth)}::int[])
  `.execute(db)

  const groups = [
    { departments: tree.movingSubtree, count: MOVING_PEOPLE, prefix: 'm' },
    { departments: tree.elsewhere, count: OTHER_PEOPLE, prefix: 'e' },
  ]
  const total = MOVING_PEOPLE + OTHER_PEOPLE
  let done = 0
  for (const group of groups) {
    const ids = group.departments.map((x) => x.id)
    for (let from = 1; from <= group.count; from += PEOPLE_BATCH) {
      const to = Math.min(group.count, from + PEOPLE_BATCH - 1)
      // Person n of a group goes to department n mod (departments of that group): evenly spread.
      await sql`
        insert into people (user_name, display_name, given_name, family_name, email, employee_number, title,
                            department_id)
        select ${group.prefix} || n || '@bench.example', 'Person ' || ${group.prefix} || n, 'Given' || n,
               'Family' || n, ${group.prefix} || n || '@bench.example', ${group.prefix} || lpad(n::text, 7, '0'),
               'Engineer', (${ids}::uuid[])[1 + n % ${ids.length}::int]
        from generate_series(${from}::int, ${to}::int) as n
      `.execute(db)
      done += to - from + 1
      progress(
        `${d.length.toLocaleString('en')} departments, people ${done.toLocaleString('en')}/${total.toLocaleString('en')}`,
      )
    }
  }
  progress('analyze')
  // A steady-state database has planner statistics (autovacuum); a freshly loaded one does not.
  await sql`analyze departments`.execute(db)
  await sql`analyze people`.execute(db)
  progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  if (process.stderr.isTTY) process.stderr.write('\n')
}

// ---------------------------------------------------------------------------------------------------
// Consistency check

interface TreeCheck {
  departments: number
  /** Departments reachable from a root through parent links. */
  reached: number
  pathMismatches: number
  idPathMismatches: number
  depthMismatches: number
  /** People in Moving's subtree (by its current id_path). */
  peopleInSubtree: number
  /** Departments in Moving's subtree (by its current id_path). */
  subtreeDepartments: number
  /** Did every person keep the department it had after seeding? */
  assignmentsUnchanged: boolean
}

/** What must hold after every write: Moving's subtree and everyone's department stay the same. */
interface Expected {
  movingId: string
  subtreeDepartments: number
  peopleInSubtree: number
  /** assignmentDigest() right after seeding. */
  digest: string
}

function checkFailures(c: TreeCheck, e: Expected): number {
  return (
    c.departments -
    c.reached +
    c.pathMismatches +
    c.idPathMismatches +
    c.depthMismatches +
    (c.subtreeDepartments === e.subtreeDepartments ? 0 : 1) +
    (c.peopleInSubtree === e.peopleInSubtree ? 0 : 1) +
    (c.assignmentsUnchanged ? 0 : 1)
  )
}

function describeCheck(c: TreeCheck, e: Expected): string {
  const failures = checkFailures(c, e)
  const verdict = failures === 0 ? 'ok' : `FAILED (${failures})`
  return (
    `check ${verdict}: ${c.reached}/${c.departments} departments reached, mismatches path ${c.pathMismatches} ` +
    `id_path ${c.idPathMismatches} depth ${c.depthMismatches}; subtree ${c.subtreeDepartments} departments, ` +
    `${c.peopleInSubtree} people; assignments ${c.assignmentsUnchanged ? 'unchanged' : 'CHANGED'}`
  )
}

/** A digest of who is in which department, to prove a move left every assignment alone. */
async function assignmentDigest(db: Kysely<DB>): Promise<string> {
  const { rows } = await sql<{ digest: string }>`
    select md5(string_agg(id::text || ':' || coalesce(department_id::text, '-'), ',' order by id)) as digest
    from people
  `.execute(db)
  return rows[0]?.digest ?? ''
}

async function checkTree(db: Kysely<DB>, e: Expected): Promise<TreeCheck> {
  // Expected values from parent links alone; the name escaping mirrors escapeSegment() in
  // src/department-path.ts ("\" → "\\", "/" → "\/"). The depth guard stops a cycle.
  const { rows } = await sql<{
    departments: number
    reached: number
    path_mismatches: number
    id_path_mismatches: number
    depth_mismatches: number
  }>`
    with recursive expected (id, path, id_path, depth) as (
      select id, replace(replace(name, '\\', '\\\\'), '/', '\\/'), '/' || id::text || '/', 0
      from departments where parent_id is null
      union all
      select d.id, e.path || '/' || replace(replace(d.name, '\\', '\\\\'), '/', '\\/'),
             e.id_path || d.id::text || '/', e.depth + 1
      from departments d join expected e on d.parent_id = e.id
      where e.depth < 1000
    )
    select count(*)::int as departments,
           count(e.id)::int as reached,
           count(*) filter (where d.path is distinct from e.path)::int as path_mismatches,
           count(*) filter (where d.id_path is distinct from e.id_path)::int as id_path_mismatches,
           count(*) filter (where d.depth is distinct from e.depth)::int as depth_mismatches
    from departments d left join expected e on e.id = d.id
  `.execute(db)
  const tree = rows[0]
  if (!tree) throw new Error('tree check returned no row')
  const { rows: subtree } = await sql<{ departments: number; people: number }>`
    with sub as (
      select d.id from departments d, departments m
      where m.id = ${e.movingId} and d.id_path like m.id_path || '%'
    )
    select (select count(*)::int from sub) as departments,
           (select count(*)::int from people p where p.department_id in (select id from sub)) as people
  `.execute(db)
  return {
    departments: tree.departments,
    reached: tree.reached,
    pathMismatches: tree.path_mismatches,
    idPathMismatches: tree.id_path_mismatches,
    depthMismatches: tree.depth_mismatches,
    subtreeDepartments: subtree[0]?.departments ?? 0,
    peopleInSubtree: subtree[0]?.people ?? 0,
    assignmentsUnchanged: (await assignmentDigest(db)) === e.digest,
  }
}

// ---------------------------------------------------------------------------------------------------
// Measurement

interface Measurement {
  database: string
  operation: 'move' | 'rename'
  timesMs: number[]
  /** Departments the store reports it rewrote (its audit event's subtreeSize), per run. */
  rows: number[]
  failures: number
}

/**
 * The subtree size the write's own audit event reports (committed with it), or NaN when the latest
 * event on the department is not of the expected action.
 */
async function rewrittenRows(db: Kysely<DB>, departmentId: string, action: string): Promise<number> {
  const event = await db
    .selectFrom('audit_events')
    .select(['action', 'after'])
    .where('target_type', '=', 'department')
    .where('target_id', '=', departmentId)
    .orderBy('seq', 'desc')
    .executeTakeFirst()
  const after = event?.after
  if (event?.action !== action || typeof after !== 'object' || after === null || !('subtreeSize' in after)) {
    return Number.NaN
  }
  return Number(after.subtreeSize)
}

async function runOn(
  label: string,
  handle: DatabaseHandle,
): Promise<{ results: Measurement[]; version: string }> {
  const db = handle.db
  const { rows: versionRows } = await sql<{ version: string }>`select version() as version`.execute(db)
  const version = versionRows[0]?.version ?? 'unknown'
  console.log(`\n[${label}] ${version}`)
  stopIfInterrupted()
  await migrateToLatest(db as Kysely<unknown>)

  const tree = buildTree()
  await seed(db, tree)
  const expected: Expected = {
    movingId: tree.moving.id,
    subtreeDepartments: tree.movingSubtree.length,
    peopleInSubtree: MOVING_PEOPLE,
    digest: await assignmentDigest(db),
  }
  const seeded = await checkTree(db, expected)
  console.log(
    `[${label}] seeded ${tree.departments.length.toLocaleString('en')} departments, ` +
      `${(MOVING_PEOPLE + OTHER_PEOPLE).toLocaleString('en')} people; ${describeCheck(seeded, expected)}`,
  )
  if (checkFailures(seeded, expected) > 0)
    throw new Error(`[${label}] the seeded tree is inconsistent; nothing measured`)

  const store = new OrgStore(db)
  const results: Measurement[] = []
  const measure = async (
    operation: Measurement['operation'],
    step: (run: number) => { describe: string; write: () => Promise<unknown> },
  ): Promise<void> => {
    const m: Measurement = { database: label, operation, timesMs: [], rows: [], failures: 0 }
    for (let run = 0; run < REPEAT; run++) {
      stopIfInterrupted()
      const { describe, write } = step(run)
      const t0 = performance.now()
      await write()
      const ms = performance.now() - t0
      const rows = await rewrittenRows(db, tree.moving.id, `department.${operation}`)
      const check = await checkTree(db, expected)
      const failures = checkFailures(check, expected) + (rows === expected.subtreeDepartments ? 0 : 1)
      m.timesMs.push(ms)
      m.rows.push(rows)
      m.failures += failures
      console.log(
        `[${label}] ${operation} ${run + 1}/${REPEAT} ${describe}: ${ms.toFixed(1)} ms, ${rows} rows; ${describeCheck(check, expected)}`,
      )
    }
    results.push(m)
  }

  await measure('move', (run) => {
    const target = run % 2 === 0 ? tree.targetB : tree.targetA
    return {
      describe: `→ "${target.name}"`,
      write: () => store.write(actor, (w) => w.moveDepartment(tree.moving.id, target.id)),
    }
  })
  await measure('rename', (run) => {
    const name = run % 2 === 0 ? 'Moving (renamed)' : 'Moving'
    return {
      describe: `→ "${name}"`,
      write: () => store.write(actor, (w) => w.renameDepartment(tree.moving.id, name)),
    }
  })
  return { results, version }
}

// ---------------------------------------------------------------------------------------------------
// Scratch database on the PostgreSQL server

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'orgsync-bench' })
  client.on('error', () => undefined) // a dropped connection fails the query instead
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

/** Drops the scratch database at once; set while one exists (for a second Ctrl-C). */
let dropScratchNow: (() => Promise<void>) | undefined

async function runOnPostgres(): Promise<{ results: Measurement[]; version: string }> {
  const name = `orgsync_bench_${randomBytes(6).toString('hex')}`
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  const created = adminQuery(`create database "${name}"`)
  // One drop, however many callers (the run's cleanup and a second Ctrl-C) wait for it.
  let dropping: Promise<void> | undefined
  const drop = (): Promise<void> =>
    (dropping ??= (async () => {
      await created.catch(() => undefined)
      await adminQuery(`drop database if exists "${name}" with (force)`)
      process.stderr.write(`  dropped scratch database ${name}\n`)
    })())
  dropScratchNow = drop
  await created
  process.stderr.write(`  created scratch database ${name}\n`)
  let handle: DatabaseHandle | undefined
  try {
    handle = await openDatabase({ kind: 'postgres', url: url.toString(), poolMax: 4 })
    return await runOn('postgres', handle)
  } finally {
    await handle?.close()
    await drop()
    dropScratchNow = undefined
  }
}

async function runOnPglite(): Promise<{ results: Measurement[]; version: string }> {
  const handle = await openDatabase({ kind: 'pglite' })
  try {
    return await runOn('pglite', handle)
  } finally {
    await handle.close()
  }
}

// ---------------------------------------------------------------------------------------------------
// Report

function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function report(results: readonly Measurement[], versions: readonly string[]): void {
  const rows = results.map((m) => [
    m.database,
    m.operation,
    String(m.timesMs.length),
    [...new Set(m.rows)].join('/'),
    Math.min(...m.timesMs).toFixed(1),
    median(m.timesMs).toFixed(1),
    Math.max(...m.timesMs).toFixed(1),
    m.failures === 0 ? 'ok' : `${m.failures} FAILED`,
  ])
  console.log(
    `\nMoving "Moving" (1,000 departments, ${MOVING_PEOPLE.toLocaleString('en')} people) in one store.write ` +
      `transaction; ${OTHER_PEOPLE.toLocaleString('en')} other people elsewhere\n`,
  )
  console.log(
    table(['database', 'operation', 'runs', 'rows', 'min ms', 'median ms', 'max ms', 'check'], rows),
  )
  const cpus = os.cpus()
  const memGiB = (os.totalmem() / 1024 ** 3).toFixed(1)
  console.log(
    `\nmachine: ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${memGiB} GiB RAM, ` +
      `node ${process.version}; ${versions.join('; ')}`,
  )
}

async function main(): Promise<void> {
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const results: Measurement[] = []
  const versions: string[] = []
  const pgRun = await runOnPostgres()
  results.push(...pgRun.results)
  versions.push(pgRun.version.replace(/ on .*$/, ''))
  if (WITH_PGLITE) {
    stopIfInterrupted()
    const liteRun = await runOnPglite()
    results.push(...liteRun.results)
    versions.push(`PGlite ${liteRun.version.replace(/ on .*$/, '')}`)
  }
  report(results, versions)
  if (results.some((m) => m.failures > 0)) {
    console.error('\nthe tree is wrong after a move or rename: see the check lines above')
    process.exitCode = 1
  }
}

main()
  .catch((err: unknown) => {
    if (err instanceof Interrupted || interrupted) {
      console.error(`\ninterrupted by ${interrupted ?? 'a signal'}: nothing reported`)
      process.exitCode = 130
    } else {
      console.error('\nbenchmark failed:', err)
      process.exitCode = 1
    }
  })
  .finally(() => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  })
