/**
 * SCIM server benchmark (issue 3, "Performance").
 *
 * Boots the real server (openDatabase → migrate → bootstrapAdmin → buildServices → createApp, on
 * 127.0.0.1:0) over each store and drives it over HTTP, as an identity provider would:
 *
 *   load users          100,000 × POST /scim/v2/Users, 32 in flight: 100 departments ("Div 3/Dept 27"),
 *                       managers (enterprise `manager`, always an earlier user) for 95% of the users
 *   load groups         group 0 gets 50,000 members in PATCH chunks of 1,000 values (sequential); the other
 *                       999 groups are created with 5 members each, 32 in flight
 *   filtered GET        autocannon, 32 connections, BENCH_DURATION s: GET /Users?filter=userName eq "…" for a
 *                       random loaded user each request
 *   POST /Users         autocannon, 32 connections, BENCH_DURATION s: a new unique userName each request
 *   member add          50 sequential single-member PATCH adds to the 50,000-member group, then 50 to a
 *                       5-member group (the reference: what one add costs when the group is small)
 *
 * Three processes per store: the parent (reports), the store's child (the server and its database —
 * PGlite runs inside it — with a worker thread sampling its RSS every 100 ms) and, spawned by that child,
 * the client (the loader, autocannon and the checks), so load generation never shares the server's event
 * loop and the RSS figures are the server's alone. Per phase: wall time, rate, latency p50/p99/max,
 * non-2xx answers, the server process's CPU, the local PostgreSQL server's CPU (all postgres processes,
 * from /proc), the client's CPU, and the server's peak RSS.
 *
 * Correctness is checked, not assumed: after the load, GET /Users?count=0 reports every user and 20
 * filtered GETs return exactly the user created; the big group has all its members (GET /Groups/{id} and
 * a `members[value eq "…"]` filter, for a member and a non-member); every filtered GET under load must
 * answer totalResults 1; after the POST phase the user count grew by the creates counted; after the member
 * adds both groups hold the members added. A failed check makes the exit code 1. The issue's targets are
 * printed beside the figures, not asserted.
 *
 * Run:   npx tsx bench/scim.ts        (or: npm run bench:scim)
 * Env:   BENCH_DATABASE_URL   server for the scratch database (default postgres://postgres@127.0.0.1:5432/postgres)
 *        BENCH_POSTGRES=0     skip PostgreSQL        BENCH_PGLITE=0   skip PGlite (in memory)
 *        BENCH_USERS=100000   users loaded (the targets are stated for 100,000; other sizes are labelled)
 *        BENCH_GROUPS=1000    groups (the first holds half the users, at most 50,000)
 *        BENCH_DURATION=10    seconds per autocannon phase
 *        BENCH_CONNECTIONS=32 autocannon connections, and requests in flight while loading
 *        BENCH_POOL_MAX=10    PostgreSQL pool size of the server (the service's default), per worker
 *        BENCH_WORKERS=1      HTTP worker processes on PostgreSQL (the service's ORGSYNC_WORKERS), started by
 *                             the service's own worker pool; the server's CPU and RSS are then the workers'
 *                             and the primary's together. PGlite always has one process
 *        BENCH_PHASE_TIMEOUT=900   seconds a phase may take before the run stops with a message
 *        BENCH_START_TIMEOUT=120   seconds the server may take to start
 *        BENCH_LOG_LEVEL=warn the server's log level (pino, to stderr)
 *
 * Planner statistics: the server process refreshes them every 15 s (src/db/statistics-keeper.ts, as
 * autovacuum would; this machine's PostgreSQL runs with autovacuum off and PGlite has none), and a VACUUM
 * ANALYZE runs once between the load and the timed phases.
 *
 * The PostgreSQL scratch database orgsync_bench_<random> is created, migrated and dropped at the end,
 * also when a phase fails, times out or the run is interrupted (Ctrl-C); should the store's process die
 * without dropping it, the parent drops it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import http, { type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import pino from 'pino'
import { connectorRegistry } from '../connectors'
import { MB, postgresCpuMs, processesCpuMs } from './bench-support'
import { SecretBox } from '../src/crypto/secret-box'
import { migrateToLatest } from '../src/db/migrate'
import { keepStatistics, type StatisticsKeeper } from '../src/db/statistics-keeper'
import { openDatabase, type DatabaseHandle } from '../src/db/open-database'
import { createApp } from '../src/http/app'
import { createLogger } from '../src/logger'
import { OrgStore } from '../src/org/org-store'
import { bootstrapAdmin } from '../src/startup/bootstrap-admin'
import { buildServices } from '../src/wiring'
import {
  isShutdown,
  startWorkerPool,
  type WorkerListening,
  type WorkerPool,
} from '../src/startup/worker-pool'

// autocannon ships no type declarations: the part of its API this file uses.
interface CannonRequest {
  method?: string
  path?: string
  body?: string
  headers?: Record<string, string>
  setupRequest?: (req: CannonRequest, context: Record<string, unknown>) => CannonRequest
  onResponse?: (status: number, body: string, context: Record<string, unknown>) => void
}
interface CannonResult {
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  '2xx': number
  statusCodeStats: Record<string, { count: number }>
  latency: { p50: number; p99: number; max: number; totalCount: number }
  requests: { total: number; sent: number }
}
type Cannon = (options: {
  url: string
  connections: number
  duration: number
  headers?: Record<string, string>
  requests: CannonRequest[]
  timeout?: number
}) => Promise<CannonResult>
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Cannon

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const WITH_POSTGRES = process.env.BENCH_POSTGRES !== '0'
const WITH_PGLITE = process.env.BENCH_PGLITE !== '0'
const USERS = positiveInt(process.env.BENCH_USERS, 100_000)
const GROUPS = positiveInt(process.env.BENCH_GROUPS, 1_000)
const DURATION_S = positiveInt(process.env.BENCH_DURATION, 10)
const CONNECTIONS = positiveInt(process.env.BENCH_CONNECTIONS, 32)
const POOL_MAX = positiveInt(process.env.BENCH_POOL_MAX, 10)
/** HTTP worker processes on PostgreSQL (the service's ORGSYNC_WORKERS); PGlite always has one. */
const WORKERS = positiveInt(process.env.BENCH_WORKERS, 1)
const PHASE_TIMEOUT_MS = positiveInt(process.env.BENCH_PHASE_TIMEOUT, 900) * 1000
const START_TIMEOUT_MS = positiveInt(process.env.BENCH_START_TIMEOUT, 120) * 1000
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn'

const MIN_USERS = 200
/** The big group: half the users (every even index), at most 50,000. */
const BIG_GROUP = Math.min(50_000, Math.floor(USERS / 2))
const PATCH_CHUNK = 1_000
const SMALL_GROUP = 5
const MEMBER_ADDS = 50
const SPOT_CHECKS = 20
const DEPARTMENTS = 100
const FULL_SCALE = USERS === 100_000 && GROUPS === 1_000

const USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:User'
const ENTERPRISE_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'
const GROUP_URN = 'urn:ietf:params:scim:schemas:core:2.0:Group'
const PATCH_URN = 'urn:ietf:params:scim:api:messages:2.0:PatchOp'
const SCIM_JSON = 'application/scim+json'

type StoreKind = 'postgres' | 'pglite'

// ---------------------------------------------------------------------------------------------------
// The pushed organisation: a pure function of the index, so the client keeps only the ids it was given.

const GIVEN = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Radia', 'Zoë', 'José', 'Łukasz', '伟']
const FAMILY = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Núñez', 'Brontë', '王']
const TITLES = ['Engineer', 'Analyst', 'Designer', 'Accountant', 'Recruiter', 'Consultant', 'Researcher']

const userName = (i: number) => `u${i}@bench.example`

/** 100 departments under 10 divisions, spread over the users. */
function department(i: number): string {
  const d = i % DEPARTMENTS
  return `Div ${1 + Math.floor(d / 10)}/Dept ${1 + d}`
}

/** An earlier user, for 95% of them: a tree about 3 levels deep under user 0. */
function managerOf(i: number): number | null {
  if (i === 0 || i % 20 === 0) return null
  return Math.floor(i / 50)
}

function userBody(name: string, i: number, managerId: string | null): Record<string, unknown> {
  const given = GIVEN[i % GIVEN.length]!
  const family = FAMILY[(i * 7) % FAMILY.length]!
  return {
    schemas: [USER_URN, ENTERPRISE_URN],
    userName: name,
    name: { givenName: given, familyName: family },
    displayName: `${given} ${family}`,
    title: TITLES[i % TITLES.length],
    emails: [{ value: name, type: 'work', primary: true }],
    active: true,
    [ENTERPRISE_URN]: {
      department: department(i),
      employeeNumber: String(i),
      ...(managerId ? { manager: { value: managerId } } : {}),
    },
  }
}

/** Members of the big group (group 0), by user index: every even one. */
const bigMember = (j: number) => 2 * j
/** Members of small group g ≥ 1: five users spread over the org. */
function smallMembers(g: number): number[] {
  const start = (g * 7_919) % USERS
  return Array.from({ length: SMALL_GROUP }, (_, k) => (start + k * 13) % USERS)
}
/** Who the member-add phase adds: odd users to the big group (never members), others to group 1. */
const bigAdd = (j: number) => 2 * j + 1
function smallAdds(): number[] {
  const present = new Set(smallMembers(1))
  const adds: number[] = []
  for (let k = 0; adds.length < MEMBER_ADDS; k++) {
    const i = (USERS - 1 - 3 * k + USERS) % USERS
    if (!present.has(i) && !adds.includes(i)) adds.push(i)
  }
  return adds
}

// ---------------------------------------------------------------------------------------------------
// Results and messages

interface PhaseResult {
  store: StoreKind
  phase: string
  /** Requests (or users, groups, PATCHes) the phase made. */
  ops: number
  ms: number
  /** Per second: users, groups, requests or creates, as the phase says. */
  rate: number | null
  p50: number | null
  p99: number | null
  max: number | null
  non2xx: number | null
  serverCpuMs: number | null
  pgCpuMs: number | null
  clientCpuMs: number | null
  peakRssMb: number | null
  checks: string[]
  failures: number
  target: string
}

interface ServerMeasures {
  peakRssMb: number
  cpuMs: number
  pgCpuMs: number | null
}

/** client → its store's process */
type ToServer =
  | { type: 'mark' }
  | { type: 'settle' }
  | { type: 'measure' }
  | { type: 'phase'; result: PhaseResult }
  | { type: 'fatal'; message: string }
/** store's process → client */
type ToClient =
  | { type: 'start'; url: string; adminToken: string }
  | { type: 'marked' }
  | { type: 'settled'; ms: number }
  | ({ type: 'measured' } & ServerMeasures)
/** store's process → parent */
type ToParent =
  | { type: 'phase'; result: PhaseResult }
  | { type: 'version'; store: StoreKind; version: string }
  | { type: 'fatal'; store: StoreKind; message: string }
  | { type: 'scratch'; name: string }

class PhaseTimeout extends Error {}
/** A failure the run explains in its message (a wrong answer, a missing route): no stack trace. */
class BenchError extends Error {}

// ---------------------------------------------------------------------------------------------------
// Measurement in the store's process: RSS (a worker thread samples it every 100 ms, even while the
// main thread is busy), CPU of this process and of the local PostgreSQL server.

class RssSampler {
  private readonly peak: BigInt64Array
  private readonly worker: Worker

  constructor() {
    const buffer = new SharedArrayBuffer(8)
    this.peak = new BigInt64Array(buffer)
    // With HTTP workers (BENCH_WORKERS) the server's RSS is this process's plus theirs.
    this.worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads')
       const { readFileSync } = require('node:fs')
       const peak = new BigInt64Array(workerData)
       let pids = []
       parentPort.on('message', (m) => { pids = m })
       const rssOf = (pid) => {
         try { return BigInt(readFileSync('/proc/' + pid + '/statm', 'utf8').split(' ')[1]) * 4096n } catch { return 0n }
       }
       setInterval(() => {
         let rss = BigInt(process.memoryUsage.rss())
         for (const pid of pids) rss += rssOf(pid)
         if (rss > Atomics.load(peak, 0)) Atomics.store(peak, 0, rss)
       }, 100)`,
      { eval: true, workerData: buffer },
    )
    this.worker.unref()
    this.reset()
  }

  /** Adds these processes' RSS to every sample from now on. */
  follow(pids: number[]): void {
    this.followed = pids
    this.worker.postMessage(pids)
  }

  private followed: number[] = []

  private now(): bigint {
    return this.followed.reduce(
      (sum, pid) => sum + BigInt(rssMb(pid) * MB),
      BigInt(process.memoryUsage.rss()),
    )
  }

  reset(): void {
    Atomics.store(this.peak, 0, this.now())
  }

  get peakMb(): number {
    const now = this.now()
    if (now > Atomics.load(this.peak, 0)) Atomics.store(this.peak, 0, now)
    return Number(Atomics.load(this.peak, 0)) / MB
  }
}

function rssMb(pid: number): number {
  try {
    return (Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096) / MB
  } catch {
    return 0
  }
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000

// ---------------------------------------------------------------------------------------------------
// The store's process: the server, its database, the scratch database's life

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'orgsync-bench' })
  client.on('error', () => undefined)
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

/** Resolves once the message is handed to the channel, so a process.exit() after it cannot lose it. */
function toParent(message: ToParent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve()
    process.send(message, undefined, undefined, () => resolve())
  })
}

async function serverProcess(store: StoreKind): Promise<void> {
  let dropNow: (() => Promise<void>) | undefined
  /** The client process, once spawned (quit stops it). */
  const spawned: { client?: ChildProcess } = {}
  let stopping = false
  const quit = (code: number, message?: string) => {
    if (stopping) return
    stopping = true
    const told = message ? toParent({ type: 'fatal', store, message }) : Promise.resolve()
    if (message) console.error(`\n[${store}] ${message}`)
    const client = spawned.client
    if (client && client.exitCode === null) client.kill('SIGTERM')
    // Requests may still be running: let nothing stop the drop, then leave without waiting for them.
    process.on('uncaughtException', () => undefined)
    process.on('unhandledRejection', () => undefined)
    const drop = dropNow ?? (() => Promise.resolve())
    void drop()
      .catch((err: unknown) => console.error(`  could not drop the scratch database: ${String(err)}`))
      .then(() => told)
      .finally(() => process.exit(code))
  }
  process.on('SIGINT', () => quit(130, 'interrupted'))
  process.on('SIGTERM', () => quit(130, 'terminated'))
  process.on('disconnect', () => quit(130, 'the benchmark parent went away'))
  process.on('uncaughtException', (err) => quit(1, `server crashed: ${err.stack ?? err.message}`))
  process.on('unhandledRejection', (err) =>
    quit(1, `server crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
  )

  const sampler = new RssSampler()
  let pool: WorkerPool | undefined
  let statistics: StatisticsKeeper | undefined
  const t0 = performance.now()
  /** This process and its HTTP workers, if any. */
  const serverCpu = () => cpuMs(process.cpuUsage()) + processesCpuMs(pool?.pids() ?? [])
  const cpu0 = serverCpu()
  const pg0 = store === 'postgres' ? postgresCpuMs(ADMIN_URL) : null
  let handle: DatabaseHandle | undefined
  let server: Server | undefined
  let dbUrl: string | undefined
  const secretKey = randomBytes(32)
  const adminToken = `bench-admin-${randomBytes(16).toString('hex')}`
  const boot = async (): Promise<string> => {
    let open: () => Promise<DatabaseHandle>
    if (store === 'postgres') {
      const name = `orgsync_bench_${randomBytes(6).toString('hex')}`
      const url = new URL(ADMIN_URL)
      url.pathname = `/${name}`
      await adminQuery(`create database "${name}"`).catch((err: unknown) => {
        throw new BenchError(`cannot create the scratch database on ${ADMIN_URL}: ${String(err)}`)
      })
      toParent({ type: 'scratch', name })
      let dropping: Promise<void> | undefined
      dropNow = () =>
        (dropping ??= adminQuery(`drop database if exists "${name}" with (force)`).then(() => {
          process.stderr.write(`  dropped scratch database ${name}\n`)
        }))
      process.stderr.write(`  created scratch database ${name}\n`)
      const target = url.toString()
      dbUrl = target
      open = () => openDatabase({ kind: 'postgres', url: target, poolMax: POOL_MAX })
    } else {
      open = () => openDatabase({ kind: 'pglite' })
    }
    handle = await open()
    await migrateToLatest(handle.db)
    const { rows } = await sql<{ version: string }>`select version() as version`.execute(handle.db)
    const version = (rows[0]?.version ?? 'unknown').replace(/ on .*$/, '')
    toParent({ type: 'version', store, version: store === 'pglite' ? `PGlite (${version})` : version })
    console.log(`[${store}] ${version}`)
    const logger = createLogger(LOG_LEVEL, pino.destination({ fd: 2, sync: false }))
    const orgStore = new OrgStore(handle.db, { parallelWrites: handle.parallelWrites })
    // As the service does where the database keeps no statistics of its own (PGlite; this machine's
    // PostgreSQL runs with autovacuum off), at autovacuum's pace rather than the service's minute.
    statistics = keepStatistics(handle.db as unknown as Kysely<never>, logger, 15_000)
    await bootstrapAdmin(orgStore, adminToken)
    const services = buildServices({
      store: orgStore,
      box: new SecretBox(secretKey),
      connectors: connectorRegistry,
      logger,
    })
    if (store === 'postgres' && WORKERS > 1) {
      pool = await startWorkerPool({
        size: WORKERS,
        logger,
        env: { BENCH_CHILD: 'worker', BENCH_WORKER_DB: dbUrl!, BENCH_WORKER_KEY: secretKey.toString('hex') },
        onGiveUp: (reason) => quit(1, `server workers keep dying: ${reason}`),
      })
      sampler.follow(pool.pids())
      return pool.url
    }
    const app = createApp({ store: orgStore, ...services, logger })
    const listening = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
      s.once('error', reject)
    })
    server = listening
    return `http://127.0.0.1:${(listening.address() as AddressInfo).port}`
  }

  let url: string
  try {
    let timer: NodeJS.Timeout | undefined
    url = await Promise.race([
      boot(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new BenchError(`did not start within ${START_TIMEOUT_MS / 1000} s (BENCH_START_TIMEOUT)`)),
          START_TIMEOUT_MS,
        )
      }),
    ]).finally(() => clearTimeout(timer))
  } catch (err) {
    return quit(
      1,
      `the server failed to start: ${err instanceof BenchError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    )
  }
  const bootMs = performance.now() - t0
  const pgBoot = store === 'postgres' ? postgresCpuMs(ADMIN_URL) : null
  const bootResult: PhaseResult = {
    store,
    phase: 'start: open, migrate, listen',
    ops: 0,
    ms: bootMs,
    rate: null,
    p50: null,
    p99: null,
    max: null,
    non2xx: null,
    serverCpuMs: serverCpu() - cpu0,
    pgCpuMs: pg0 !== null && pgBoot !== null ? pgBoot - pg0 : null,
    clientCpuMs: null,
    peakRssMb: sampler.peakMb,
    checks: [],
    failures: 0,
    target: '',
  }
  toParent({ type: 'phase', result: bootResult })
  console.log(
    `[${store}] server listening on ${url} after ${fmtMs(bootMs)}, RSS ${bootResult.peakRssMb!.toFixed(0)} MB`,
  )

  // The client: a process of its own, so load generation never runs on the server's event loop.
  let mark = { cpu: serverCpu(), pg: store === 'postgres' ? postgresCpuMs(ADMIN_URL) : null }
  const c = spawn(process.execPath, [...process.execArgv, __filename], {
    env: { ...process.env, BENCH_CHILD: 'client', BENCH_STORE: store },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  spawned.client = c
  let clientFatal = false
  c.on('message', (m: ToServer) => {
    switch (m.type) {
      case 'mark':
        sampler.reset()
        mark = { cpu: serverCpu(), pg: store === 'postgres' ? postgresCpuMs(ADMIN_URL) : null }
        c.send({ type: 'marked' } satisfies ToClient)
        break
      case 'settle': {
        // Steady state before the timed phases: what autovacuum would do after the load (planner
        // statistics, the GIN pending list, dead tuples), done now rather than during the measurement.
        const t = performance.now()
        void sql`vacuum analyze`
          .execute(handle!.db)
          .then(() => (store === 'postgres' ? sql`checkpoint`.execute(handle!.db) : undefined))
          .then(() => c.send({ type: 'settled', ms: performance.now() - t } satisfies ToClient))
        break
      }
      case 'measure': {
        const pgNow = store === 'postgres' ? postgresCpuMs(ADMIN_URL) : null
        c.send({
          type: 'measured',
          peakRssMb: sampler.peakMb,
          cpuMs: serverCpu() - mark.cpu,
          pgCpuMs: mark.pg !== null && pgNow !== null ? pgNow - mark.pg : null,
        } satisfies ToClient)
        break
      }
      case 'phase':
        toParent({ type: 'phase', result: m.result })
        break
      case 'fatal':
        clientFatal = true
        toParent({ type: 'fatal', store, message: m.message })
        break
    }
  })
  c.send({ type: 'start', url, adminToken } satisfies ToClient)
  const code = await new Promise<number>((resolve) => {
    c.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)))
  })
  if (stopping) return
  if (code !== 0) {
    return quit(code, clientFatal ? undefined : `the client ended with exit code ${code}`)
  }
  const told = toParent({
    type: 'phase',
    result: {
      ...bootResult,
      phase: 'whole run (maxRSS of the server process)',
      ms: performance.now() - t0,
      serverCpuMs: serverCpu() - cpu0,
      pgCpuMs: pg0 !== null ? (postgresCpuMs(ADMIN_URL) ?? pg0) - pg0 : null,
      peakRssMb: pool ? sampler.peakMb : process.resourceUsage().maxRSS / 1024,
    },
  })
  stopping = true
  try {
    await pool?.close()
    // A refresh due now would run on a closed database.
    await statistics?.stop()
    server?.closeAllConnections()
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    await handle?.close()
    await dropNow?.()
  } catch (err) {
    console.error(`[${store}] shutting down: ${String(err)}`)
    await dropNow?.().catch(() => undefined)
  }
  await told
  process.exit(0)
}

/**
 * One HTTP worker of the PostgreSQL server process (BENCH_WORKERS > 1), started by the service's own
 * worker pool: the app on the scratch database the primary created and migrated, on the shared port.
 */
async function workerProcess(): Promise<void> {
  const handle = await openDatabase({
    kind: 'postgres',
    url: process.env.BENCH_WORKER_DB!,
    poolMax: POOL_MAX,
  })
  const logger = createLogger(LOG_LEVEL, pino.destination({ fd: 2, sync: false }))
  const store = new OrgStore(handle.db, { parallelWrites: handle.parallelWrites })
  const box = new SecretBox(Buffer.from(process.env.BENCH_WORKER_KEY!, 'hex'))
  const services = buildServices({ store, box, connectors: connectorRegistry, logger })
  const app = createApp({ store, ...services, logger })
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
  const stop = () => {
    server.closeAllConnections()
    server.close(() => void handle.close().finally(() => process.exit(0)))
  }
  process.on('message', (m: unknown) => {
    if (isShutdown(m)) stop()
  })
  process.on('disconnect', stop)
  process.send?.({
    type: 'orgsync:listening',
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  } satisfies WorkerListening)
}

// ---------------------------------------------------------------------------------------------------
// The client process: loads, measures, checks

interface Reply {
  status: number
  body: string
  ms: number
}

class Api {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  private readonly base: URL

  constructor(url: string) {
    this.base = new URL(url)
  }

  call(method: string, path: string, token: string, body?: unknown, timeoutMs = 60_000): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      const t0 = performance.now()
      const req = http.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          method,
          path,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            authorization: `Bearer ${token}`,
            accept: SCIM_JSON,
            ...(payload ? { 'content-type': SCIM_JSON, 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('error', reject)
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: performance.now() - t0,
            }),
          )
        },
      )
      req.on('timeout', () =>
        req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs / 1000} s`)),
      )
      req.on('error', reject)
      req.end(payload)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim()
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat || '(empty body)'
}

function expectStatus(reply: Reply, ok: readonly number[], what: string): void {
  if (!ok.includes(reply.status))
    throw new BenchError(`${what} → ${reply.status} (expected ${ok.join(' or ')}): ${excerpt(reply.body)}`)
}

function json<T>(reply: Reply, what: string): T {
  try {
    return JSON.parse(reply.body) as T
  } catch {
    throw new BenchError(`${what}: the answer is not JSON: ${excerpt(reply.body)}`)
  }
}

function idOf(reply: Reply, what: string): string {
  const id = json<{ id?: unknown }>(reply, what).id
  if (typeof id !== 'string' || !id) throw new BenchError(`${what}: no id in ${excerpt(reply.body)}`)
  return id
}

/** Nearest-rank percentile of ascending-sorted values. */
function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(sorted.length, rank) - 1]!
}

function latencyStats(values: Float64Array | number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(values).sort()
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN }
}

function progressLine(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r  ${text}`.padEnd(100))
  else process.stderr.write(`  ${text}\n`)
}

function endProgress(): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${' '.repeat(100)}\r`)
}

class ClientRunner {
  private readonly waiting = new Map<string, (m: ToClient) => void>()

  constructor(readonly store: StoreKind) {
    process.on('message', (m: ToClient) => {
      const resolve = this.waiting.get(m.type)
      if (resolve) {
        this.waiting.delete(m.type)
        resolve(m)
      }
    })
  }

  ask<T extends ToClient>(message: ToServer, reply: T['type']): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.set(reply, resolve as (m: ToClient) => void)
      process.send?.(message)
    })
  }

  waitFor<T extends ToClient>(type: T['type']): Promise<T> {
    return new Promise((resolve) => this.waiting.set(type, resolve as (m: ToClient) => void))
  }

  /**
   * Runs one phase with the server's measurements and a timeout; `work` may call `note` to show progress.
   * The result's figures are filled in by `describe` from what `work` returned.
   */
  async phase<T>(
    name: string,
    timeoutMs: number,
    work: (note: (text: string) => void) => Promise<T>,
    describe: (value: T, ms: number) => Partial<PhaseResult> & { ops: number },
  ): Promise<{ value: T; result: PhaseResult }> {
    await this.ask({ type: 'mark' }, 'marked')
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    let note = ''
    const beatEvery = process.stderr.isTTY ? 1000 : 10_000
    const ticker = setInterval(() => {
      const s = ((performance.now() - t0) / 1000).toFixed(0)
      progressLine(`[${this.store}] ${name}: ${s} s${note ? `, ${note}` : ''}`)
    }, beatEvery)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PhaseTimeout(
              `${name} did not finish within ${timeoutMs / 1000} s (BENCH_PHASE_TIMEOUT): stopped`,
            ),
          ),
        timeoutMs,
      )
    })
    let value: T
    try {
      value = await Promise.race([work((text) => (note = text)), timeout])
    } finally {
      clearTimeout(timer)
      clearInterval(ticker)
      endProgress()
    }
    const ms = performance.now() - t0
    const clientCpu = cpuMs(process.cpuUsage(cpu0))
    const m = await this.ask<{ type: 'measured' } & ServerMeasures>({ type: 'measure' }, 'measured')
    const result: PhaseResult = {
      store: this.store,
      phase: name,
      ms,
      rate: null,
      p50: null,
      p99: null,
      max: null,
      non2xx: null,
      serverCpuMs: m.cpuMs,
      pgCpuMs: m.pgCpuMs,
      clientCpuMs: clientCpu,
      peakRssMb: m.peakRssMb,
      checks: [],
      failures: 0,
      target: '',
      ...describe(value, ms),
    }
    const lat =
      result.p50 === null
        ? ''
        : `, p50 ${fmtLatency(result.p50)} / p99 ${fmtLatency(result.p99)} / max ${fmtLatency(result.max)} ms`
    console.log(
      `[${this.store}] ${name}: ${result.ops.toLocaleString('en')} in ${fmtMs(ms)}` +
        (result.rate === null ? '' : `, ${fmtRate(result.rate)}/s`) +
        lat +
        (result.non2xx ? `, ${result.non2xx.toLocaleString('en')} non-2xx` : '') +
        `; CPU server ${fmtMs(result.serverCpuMs ?? 0)}` +
        (result.pgCpuMs === null ? '' : `, postgres ${fmtMs(result.pgCpuMs)}`) +
        `, client ${fmtMs(clientCpu)}; server peak RSS ${m.peakRssMb.toFixed(0)} MB`,
    )
    return { value, result }
  }

  check(result: PhaseResult, ok: boolean, description: string): void {
    result.checks.push(`${ok ? 'ok' : 'FAILED'}: ${description}`)
    if (!ok) result.failures++
    console.log(`[${this.store}]   ${ok ? 'ok    ' : 'FAILED'} ${description}`)
  }

  publish(result: PhaseResult): void {
    process.send?.({ type: 'phase', result } satisfies ToServer)
  }

  /** A round trip through the store's process: every message sent before it has arrived there. */
  async flush(): Promise<void> {
    await this.ask({ type: 'measure' }, 'measured')
  }
}

interface ListResponse {
  totalResults?: number
  Resources?: { id?: string; userName?: string; displayName?: string; members?: unknown[] }[]
}

async function clientProcess(store: StoreKind): Promise<void> {
  const run = new ClientRunner(store)
  const fail = (code: number, message: string) => {
    console.error(`\n[${store}] ${message}`)
    process.send?.({ type: 'fatal', message } satisfies ToServer, () => process.exit(code))
    setTimeout(() => process.exit(code), 2000).unref()
  }
  process.on('SIGINT', () => process.exit(130))
  process.on('SIGTERM', () => process.exit(130))
  process.on('disconnect', () => process.exit(130))
  const start = await run.waitFor<{ type: 'start'; url: string; adminToken: string }>('start')
  const api = new Api(start.url)
  try {
    await drive(run, api, start.url, start.adminToken)
  } catch (err) {
    api.close()
    if (err instanceof PhaseTimeout) return fail(3, err.message)
    if (err instanceof BenchError) return fail(1, `failed: ${err.message}`)
    return fail(1, `failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  }
  api.close()
  await run.flush()
  process.exit(0)
}

async function drive(run: ClientRunner, api: Api, url: string, adminToken: string): Promise<void> {
  const store = run.store
  // ---- 0. a SCIM source and its token, through the admin API; is the SCIM API there? ----------------
  const source = await api.call('POST', '/api/v1/sources', adminToken, { type: 'scim', name: 'bench' })
  expectStatus(source, [201], 'POST /api/v1/sources {"type":"scim"}')
  const sourceId = idOf(source, 'POST /api/v1/sources')
  const minted = await api.call('POST', `/api/v1/sources/${sourceId}/scim-tokens`, adminToken, {})
  if (minted.status === 404)
    throw new BenchError(
      `the SCIM API is not available: POST /api/v1/sources/{id}/scim-tokens → 404: ${excerpt(minted.body)}`,
    )
  expectStatus(minted, [201], `POST /api/v1/sources/{id}/scim-tokens`)
  const token = json<{ token?: unknown }>(minted, 'scim-tokens').token
  if (typeof token !== 'string' || !token)
    throw new BenchError(`POST /api/v1/sources/{id}/scim-tokens: no token in ${excerpt(minted.body)}`)
  const spc = await api.call('GET', '/scim/v2/ServiceProviderConfig', token)
  if (spc.status !== 200)
    throw new BenchError(
      `the SCIM API is not available: GET /scim/v2/ServiceProviderConfig → ${spc.status}: ${excerpt(spc.body)}`,
    )

  // ---- 1. users --------------------------------------------------------------------------------------
  const ids: string[] = new Array<string>(USERS)
  const loaded = await run.phase(
    'load users (POST /Users)',
    PHASE_TIMEOUT_MS,
    async (note) => {
      const inflight = new Map<number, Promise<string>>()
      const latencies = new Float64Array(USERS)
      let next = 0
      let done = 0
      let failed = false
      const t0 = performance.now()
      const create = async (i: number): Promise<string> => {
        const m = managerOf(i)
        // The manager is an earlier user: created already, or in flight (then wait for its id).
        const managerId = m === null ? null : (ids[m] ?? (await inflight.get(m)) ?? null)
        if (m !== null && !managerId) throw new BenchError(`user ${m} (a manager) was not created`)
        const reply = await api.call('POST', '/scim/v2/Users', token, userBody(userName(i), i, managerId))
        expectStatus(reply, [201], `POST /scim/v2/Users (${userName(i)})`)
        latencies[i] = reply.ms
        return idOf(reply, `POST /scim/v2/Users (${userName(i)})`)
      }
      const worker = async () => {
        while (next < USERS && !failed) {
          const i = next++
          const p = create(i)
          inflight.set(i, p)
          try {
            ids[i] = await p
          } catch (err) {
            failed = true
            throw err
          } finally {
            inflight.delete(i)
          }
          done++
          if (done % 100 === 0)
            note(
              `${done.toLocaleString('en')} / ${USERS.toLocaleString('en')} users, ` +
                `${fmtRate((1000 * done) / (performance.now() - t0))}/s`,
            )
        }
      }
      await Promise.all(Array.from({ length: CONNECTIONS }, worker))
      return latencyStats(latencies)
    },
    (lat, ms) => ({ ops: USERS, rate: (1000 * USERS) / ms, ...lat, non2xx: 0 }),
  )
  const count0 = await api.call('GET', '/scim/v2/Users?count=0', token)
  expectStatus(count0, [200], 'GET /scim/v2/Users?count=0')
  const total0 = json<ListResponse>(count0, 'GET /Users?count=0').totalResults
  run.check(loaded.result, total0 === USERS, `GET /Users?count=0: totalResults ${total0} (want ${USERS})`)
  run.publish(loaded.result)

  // ---- 2. groups: the big one in PATCH chunks, then the small ones ------------------------------------
  const chunks = Math.ceil(BIG_GROUP / PATCH_CHUNK)
  const big = await run.phase(
    `load: ${BIG_GROUP.toLocaleString('en')}-member group (${chunks} PATCHes × ${PATCH_CHUNK.toLocaleString('en')})`,
    PHASE_TIMEOUT_MS,
    async (note) => {
      const created = await api.call('POST', '/scim/v2/Groups', token, {
        schemas: [GROUP_URN],
        displayName: 'Everyone (bench)',
        members: [],
      })
      expectStatus(created, [201], 'POST /scim/v2/Groups (the big group)')
      const id = idOf(created, 'POST /scim/v2/Groups')
      const latencies: number[] = []
      for (let c = 0; c < chunks; c++) {
        const value: { value: string }[] = []
        for (let j = c * PATCH_CHUNK; j < Math.min(BIG_GROUP, (c + 1) * PATCH_CHUNK); j++)
          value.push({ value: ids[bigMember(j)]! })
        const reply = await api.call('PATCH', `/scim/v2/Groups/${id}`, token, {
          schemas: [PATCH_URN],
          Operations: [{ op: 'add', path: 'members', value }],
        })
        expectStatus(reply, [200, 204], `PATCH /scim/v2/Groups/{big} (chunk ${c + 1} of ${chunks})`)
        latencies.push(reply.ms)
        note(`${c + 1} / ${chunks} chunks`)
      }
      return { id, lat: latencyStats(latencies) }
    },
    (v, ms) => ({ ops: chunks, rate: (1000 * BIG_GROUP) / ms, ...v.lat }),
  )
  const bigId = big.value.id
  const smallCount = Math.max(0, GROUPS - 1)
  const small = await run.phase(
    `load: ${smallCount.toLocaleString('en')} groups × ${SMALL_GROUP} members (POST /Groups)`,
    PHASE_TIMEOUT_MS,
    async (note) => {
      const latencies = new Float64Array(smallCount)
      let next = 1
      let firstId = ''
      let failed = false
      const worker = async () => {
        while (next < GROUPS && !failed) {
          const g = next++
          try {
            const reply = await api.call('POST', '/scim/v2/Groups', token, {
              schemas: [GROUP_URN],
              displayName: `Group ${g}`,
              members: smallMembers(g).map((i) => ({ value: ids[i]! })),
            })
            expectStatus(reply, [201], `POST /scim/v2/Groups (Group ${g})`)
            latencies[g - 1] = reply.ms
            if (g === 1) firstId = idOf(reply, 'POST /scim/v2/Groups (Group 1)')
          } catch (err) {
            failed = true
            throw err
          }
          if (g % 100 === 0) note(`${g} / ${GROUPS} groups`)
        }
      }
      await Promise.all(Array.from({ length: Math.min(CONNECTIONS, Math.max(1, smallCount)) }, worker))
      return { firstId, lat: latencyStats(latencies) }
    },
    (v, ms) => ({
      ops: smallCount,
      rate: smallCount ? (1000 * smallCount) / ms : null,
      ...(smallCount ? v.lat : {}),
    }),
  )
  const smallId = small.value.firstId
  await checkGroupSize(run, api, token, big.result, bigId, BIG_GROUP, 'the big group')
  // A member and a non-member, through the members filter (the members list itself left out).
  const memberOf = async (userIndex: number): Promise<string[] | null> => {
    const filter = encodeURIComponent(`members[value eq "${ids[userIndex]}"]`)
    const reply = await api.call(
      'GET',
      `/scim/v2/Groups?filter=${filter}&excludedAttributes=members&count=${GROUPS}`,
      token,
    )
    if (reply.status !== 200) {
      console.log(`[${store}]   members filter → ${reply.status}: ${excerpt(reply.body)}`)
      return null
    }
    return (json<ListResponse>(reply, 'GET /Groups?filter=members').Resources ?? []).map((r) => r.id ?? '')
  }
  const ofMember = await memberOf(bigMember(BIG_GROUP - 1))
  const ofOther = await memberOf(bigAdd(0))
  run.check(
    big.result,
    ofMember !== null && ofMember.includes(bigId) && ofOther !== null && !ofOther.includes(bigId),
    `filter members[value eq "…"]: the big group ${ofMember?.includes(bigId) ? 'found' : 'NOT found'} for its ` +
      `last member, ${ofOther?.includes(bigId) ? 'WRONGLY found' : 'not found'} for a non-member`,
  )
  const groupCount = await api.call('GET', '/scim/v2/Groups?count=0', token)
  expectStatus(groupCount, [200], 'GET /scim/v2/Groups?count=0')
  const totalGroups = json<ListResponse>(groupCount, 'GET /Groups?count=0').totalResults
  run.check(
    small.result,
    totalGroups === GROUPS,
    `GET /Groups?count=0: totalResults ${totalGroups} (want ${GROUPS})`,
  )
  run.publish(big.result)
  run.publish(small.result)

  // ---- 3. filtered GETs under load --------------------------------------------------------------------
  const settled = await run.ask<{ type: 'settled'; ms: number }>({ type: 'settle' }, 'settled')
  console.log(`[${store}] vacuum analyze after the load: ${fmtMs(settled.ms)}`)
  const filterPath = (i: number) =>
    `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${userName(i)}"`)}`
  const spotWrong: string[] = []
  for (let k = 0; k < SPOT_CHECKS; k++) {
    const i = Math.floor(Math.random() * USERS)
    const reply = await api.call('GET', filterPath(i), token)
    const body = reply.status === 200 ? json<ListResponse>(reply, 'filtered GET') : {}
    const r = body.Resources?.[0]
    if (reply.status !== 200 || body.totalResults !== 1 || r?.id !== ids[i] || r?.userName !== userName(i))
      spotWrong.push(`${userName(i)}: ${reply.status} ${excerpt(reply.body).slice(0, 120)}`)
  }
  const getHeaders = { authorization: `Bearer ${token}`, accept: SCIM_JSON }
  const postHeaders = { ...getHeaders, 'content-type': SCIM_JSON }
  let notOne = 0
  const get = await run.phase(
    `filtered GET, ${CONNECTIONS} connections`,
    DURATION_S * 1000 + 60_000,
    () =>
      autocannon({
        url,
        connections: CONNECTIONS,
        duration: DURATION_S,
        headers: getHeaders,
        requests: [
          {
            method: 'GET',
            setupRequest: (req) => {
              req.path = filterPath(Math.floor(Math.random() * USERS))
              return req
            },
            onResponse: (status, body) => {
              if (status === 200 && !/"totalResults"\s*:\s*1\b/.test(body)) notOne++
            },
          },
        ],
      }),
    (r) => cannonFigures(r, r.requests.total),
  )
  get.result.target = targetVerdict(
    '≥ 1,500/s, p99 < 50 ms',
    (get.result.rate ?? 0) >= 1500 && (get.result.p99 ?? Infinity) < 50,
  )
  run.check(
    get.result,
    spotWrong.length === 0,
    `${SPOT_CHECKS} filtered GETs before the load return exactly their user` +
      (spotWrong.length ? ` — ${spotWrong.length} wrong, e.g. ${spotWrong[0]}` : ''),
  )
  run.check(get.result, notOne === 0, `every 200 under load has totalResults 1 (${notOne} did not)`)
  run.publish(get.result)

  // ---- 4. creates under load --------------------------------------------------------------------------
  const tag = randomBytes(3).toString('hex')
  let n = 0
  const post = await run.phase(
    `POST /Users, ${CONNECTIONS} connections`,
    DURATION_S * 1000 + 60_000,
    () =>
      autocannon({
        url,
        connections: CONNECTIONS,
        duration: DURATION_S,
        headers: postHeaders,
        requests: [
          {
            method: 'POST',
            path: '/scim/v2/Users',
            setupRequest: (req) => {
              const k = n++
              const i = USERS + k
              const manager = k % 4 === 0 ? null : ids[Math.floor(Math.random() * USERS)]!
              req.body = JSON.stringify(userBody(`c${k}-${tag}@bench.example`, i, manager))
              return req
            },
          },
        ],
      }),
    (r) => cannonFigures(r, r.statusCodeStats['201']?.count ?? 0),
  )
  post.result.target = targetVerdict('≥ 500 creates/s', (post.result.rate ?? 0) >= 500)
  const created = post.value.statusCodeStats['201']?.count ?? 0
  const count1 = await api.call('GET', '/scim/v2/Users?count=0', token)
  expectStatus(count1, [200], 'GET /scim/v2/Users?count=0')
  const total1 = json<ListResponse>(count1, 'GET /Users?count=0').totalResults ?? NaN
  // Requests in flight when autocannon stopped may still have been committed: up to one per connection.
  run.check(
    post.result,
    total1 >= USERS + created && total1 <= USERS + created + CONNECTIONS,
    `GET /Users?count=0: ${total1} = ${USERS} loaded + ${created} created (+ up to ${CONNECTIONS} cut off in flight)`,
  )
  const codes = Object.entries(post.value.statusCodeStats)
    .map(([code, { count }]) => `${code} × ${count}`)
    .join(', ')
  console.log(`[${store}]   POST status codes: ${codes || 'none'}`)
  run.publish(post.result)

  // ---- 5. one member at a time ------------------------------------------------------------------------
  const addMembers = async (groupId: string, members: number[]) => {
    const latencies: number[] = []
    const statuses = new Set<number>()
    for (const i of members) {
      const reply = await api.call('PATCH', `/scim/v2/Groups/${groupId}`, token, {
        schemas: [PATCH_URN],
        Operations: [{ op: 'add', path: 'members', value: [{ value: ids[i]! }] }],
      })
      expectStatus(reply, [200, 204], 'PATCH /scim/v2/Groups/{id} (one member)')
      latencies.push(reply.ms)
      statuses.add(reply.status)
    }
    return { lat: latencyStats(latencies), statuses: [...statuses].join('/') }
  }
  const addBig = await run.phase(
    `member add → ${BIG_GROUP.toLocaleString('en')}-member group (${MEMBER_ADDS} × PATCH)`,
    PHASE_TIMEOUT_MS,
    () =>
      addMembers(
        bigId,
        Array.from({ length: MEMBER_ADDS }, (_, j) => bigAdd(j)),
      ),
    (v) => ({ ops: MEMBER_ADDS, ...v.lat }),
  )
  addBig.result.target = targetVerdict('< 20 ms (p99)', (addBig.result.p99 ?? Infinity) < 20)
  console.log(`[${store}]   answered ${addBig.value.statuses}`)
  await checkGroupSize(run, api, token, addBig.result, bigId, BIG_GROUP + MEMBER_ADDS, 'the big group')
  run.publish(addBig.result)
  if (smallId) {
    const addSmall = await run.phase(
      `member add → ${SMALL_GROUP}-member group (${MEMBER_ADDS} × PATCH)`,
      PHASE_TIMEOUT_MS,
      () => addMembers(smallId, smallAdds()),
      (v) => ({ ops: MEMBER_ADDS, ...v.lat }),
    )
    addSmall.result.target = 'reference'
    await checkGroupSize(run, api, token, addSmall.result, smallId, SMALL_GROUP + MEMBER_ADDS, 'Group 1')
    run.publish(addSmall.result)
  }
}

function cannonFigures(r: CannonResult, ok: number): Partial<PhaseResult> & { ops: number } {
  const errors = r.errors + r.timeouts
  if (errors) console.log(`  autocannon: ${r.errors} connection errors, ${r.timeouts} timeouts`)
  return {
    ops: r.requests.total,
    rate: r.duration > 0 ? ok / r.duration : null,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    non2xx: r.non2xx + errors,
  }
}

/** Counts a group's members from GET /Groups/{id} (one large answer for the big group, parsed and dropped). */
async function checkGroupSize(
  run: ClientRunner,
  api: Api,
  token: string,
  result: PhaseResult,
  groupId: string,
  want: number,
  label: string,
): Promise<void> {
  const reply = await api.call('GET', `/scim/v2/Groups/${groupId}`, token)
  if (reply.status !== 200) {
    run.check(result, false, `GET /Groups/{${label}} → ${reply.status}: ${excerpt(reply.body)}`)
    return
  }
  const members = json<{ members?: unknown[] }>(reply, `GET /Groups/{${label}}`).members
  const got = Array.isArray(members) ? members.length : 0
  run.check(
    result,
    got === want,
    `GET /Groups/{${label}}: ${got.toLocaleString('en')} members (want ${want.toLocaleString('en')}, ` +
      `answer ${(reply.body.length / MB).toFixed(1)} MB in ${fmtMs(reply.ms)})`,
  )
}

function targetVerdict(target: string, met: boolean): string {
  return `${target}: ${met ? 'met' : 'MISSED'}`
}

// ---------------------------------------------------------------------------------------------------
// Parent: runs each store in its own process and reports

function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

function fmtMs(ms: number): string {
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${ms.toFixed(0)} ms`
}

function fmtRate(rate: number): string {
  return rate >= 100 ? Math.round(rate).toLocaleString('en') : rate.toFixed(1)
}

function fmtLatency(ms: number | null): string {
  if (ms === null || Number.isNaN(ms)) return ''
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)
}

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], left = 2): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    `| ${cells
      .map((c, i) => (i < left || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join(' | ')} |`
  const rule = `| ${widths
    .map((w, i) => (i < left || i === widths.length - 1 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`))
    .join(' | ')} |`
  return [line(header), rule, ...rows.map(line)].join('\n')
}

function machine(): string {
  let model = os.cpus()[0]?.model.trim() ?? 'unknown CPU'
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'))
    if (line) model = line.slice(line.indexOf(':') + 1).trim()
  } catch {
    // not Linux: os.cpus() it is
  }
  return `${model}, ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`
}

function report(results: PhaseResult[], versions: string[], fatal: string[]): void {
  const scale = FULL_SCALE
    ? `${USERS.toLocaleString('en')} users, ${GROUPS.toLocaleString('en')} groups`
    : `SCALED DOWN: ${USERS.toLocaleString('en')} users, ${GROUPS.toLocaleString('en')} groups ` +
      '(the targets are for 100,000 users and 1,000 groups)'
  console.log(
    `\nSCIM server over HTTP: ${scale}; big group ${BIG_GROUP.toLocaleString('en')} members; ` +
      `${CONNECTIONS} connections, ${DURATION_S} s per autocannon phase; ` +
      `${WORKERS > 1 ? `PostgreSQL served by ${WORKERS} HTTP workers (server CPU and RSS are their sum with the primary's)` : 'one server process'}\n`,
  )
  const rows = results.map((r) => [
    r.store === 'postgres' ? 'PostgreSQL' : 'PGlite',
    r.phase,
    r.ops ? r.ops.toLocaleString('en') : '',
    fmtMs(r.ms),
    r.rate === null ? '' : fmtRate(r.rate),
    fmtLatency(r.p50),
    fmtLatency(r.p99),
    fmtLatency(r.max),
    r.non2xx === null ? '' : r.non2xx.toLocaleString('en'),
    r.serverCpuMs === null ? '' : fmtMs(r.serverCpuMs),
    r.pgCpuMs === null ? '-' : fmtMs(r.pgCpuMs),
    r.clientCpuMs === null ? '' : fmtMs(r.clientCpuMs),
    r.peakRssMb === null ? '' : r.peakRssMb.toFixed(0),
    r.checks.length === 0 ? '' : r.failures === 0 ? `ok (${r.checks.length})` : `${r.failures} FAILED`,
    r.target,
  ])
  console.log(
    markdownTable(
      [
        'store',
        'phase',
        'ops',
        'time',
        'per s',
        'p50 ms',
        'p99 ms',
        'max ms',
        'non-2xx',
        'server CPU',
        'pg CPU',
        'client CPU',
        'server RSS MB',
        'checks',
        'target (issue 3)',
      ],
      rows,
    ),
  )
  console.log(
    '\nper s: users, members (big group), groups, requests (filtered GET) or 201s (POST /Users) per second;' +
      '\nlatencies per request as the client saw them; non-2xx includes connection errors and timeouts;' +
      '\nserver CPU: the server process (PGlite runs inside it); pg CPU: every local postgres process;' +
      '\nclient CPU: the load generator (same machine); server RSS: peak, sampled every 100 ms.',
  )
  for (const f of fatal) console.log(`\n${f}`)
  console.log(
    `\nmachine: ${machine()}; node ${process.version}; ${[...versions, ''].join('; ')}` +
      `${new Date().toISOString().slice(0, 10)}`,
  )
}

let running: ChildProcess | undefined
let interrupted = false

function runStoreProcess(
  store: StoreKind,
  results: PhaseResult[],
  versions: string[],
  fatal: string[],
): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [...process.execArgv, __filename], {
      env: { ...process.env, BENCH_CHILD: store },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    running = c
    let scratch: string | undefined
    c.on('message', (m: ToParent) => {
      if (m.type === 'phase') results.push(m.result)
      else if (m.type === 'version') versions.push(m.version)
      else if (m.type === 'scratch') scratch = m.name
      else fatal.push(`[${m.store}] ${m.message.split('\n')[0]}`)
    })
    c.on('exit', (code, signal) => {
      running = undefined
      if (code !== 0 && !fatal.some((f) => f.startsWith(`[${store}]`)))
        fatal.push(`[${store}] the run ended with ${signal ?? `exit code ${code}`}`)
      if (code === 0 || !scratch) return resolve(code ?? 1)
      // The store's process normally drops its database; if it died first, do it here.
      adminQuery(`drop database if exists "${scratch}" with (force)`)
        .catch((err: unknown) => console.error(`  could not drop ${scratch}: ${String(err)}`))
        .finally(() => resolve(code ?? 1))
    })
  })
}

async function parent(): Promise<void> {
  if (USERS < MIN_USERS) throw new Error(`BENCH_USERS must be at least ${MIN_USERS}`)
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
    console.log(`\n== ${store} ==`)
    const code = await runStoreProcess(store, results, versions, fatal)
    if (code !== 0) failed = true
  }
  if (interrupted) console.error('\ninterrupted: partial results below')
  report(results, versions, fatal)
  if (results.some((r) => r.failures > 0)) {
    console.error('\na correctness check failed: see the check lines above')
    process.exitCode = 1
  } else if (failed) {
    process.exitCode = interrupted ? 130 : 1
  }
}

const role = process.env.BENCH_CHILD
if (role === 'postgres' || role === 'pglite') void serverProcess(role)
else if (role === 'worker') void workerProcess()
else if (role === 'client') {
  const store = process.env.BENCH_STORE === 'pglite' ? 'pglite' : 'postgres'
  void clientProcess(store)
} else
  parent().catch((err: unknown) => {
    console.error('\nbenchmark failed:', err instanceof Error ? err.message : err)
    process.exitCode = 1
  })
