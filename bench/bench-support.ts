/**
 * Measurement shared by the benchmarks that run the engine in a child process per store (sync.ts,
 * connectors.ts): statement counting, CPU, peak RSS and heap, CPU profiles, phases with a timeout,
 * the scratch database and the report's formatting.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely'
import pg from 'pg'
import type { PlanSummary } from '../src/sync/plan-changes'
import type { PlanView } from '../src/sync/plan-service'

// ---------------------------------------------------------------------------------------------------
// Measurement: round trips (a Kysely plugin), CPU, memory

/** Counts every statement the engine sends, with the time from compiling it to its result. */
export class QueryCounter implements KyselyPlugin {
  total = 0
  waitMs = 0
  readonly byKind = new Map<string, { n: number; ms: number }>()
  private readonly started = new Map<string, { kind: string; at: number }>()
  /**
   * Called before every statement. PGlite answers in microtasks, so a long apply on it never lets
   * timers run: progress, memory samples and the phase timeout are also driven from here.
   */
  onQuery: (() => void) | undefined

  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    this.onQuery?.()
    this.started.set(queryId.queryId, { kind: describeNode(node), at: performance.now() })
    return node
  }

  async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const s = this.started.get(queryId.queryId)
    if (s) {
      this.started.delete(queryId.queryId)
      const ms = performance.now() - s.at
      this.total++
      this.waitMs += ms
      const k = this.byKind.get(s.kind) ?? { n: 0, ms: 0 }
      k.n++
      k.ms += ms
      this.byKind.set(s.kind, k)
    }
    return result
  }

  snapshot(): { total: number; waitMs: number; byKind: Map<string, { n: number; ms: number }> } {
    return {
      total: this.total,
      waitMs: this.waitMs,
      byKind: new Map([...this.byKind].map(([k, v]) => [k, { ...v }])),
    }
  }
}

function describeNode(node: RootOperationNode): string {
  const verb: Record<string, string> = {
    SelectQueryNode: 'select',
    InsertQueryNode: 'insert',
    UpdateQueryNode: 'update',
    DeleteQueryNode: 'delete',
  }
  if (node.kind === 'RawNode') {
    const text = (node as unknown as { sqlFragments: string[] }).sqlFragments
      .join('?')
      .replace(/\s+/g, ' ')
      .trim()
    return `sql: ${text.slice(0, 48)}`
  }
  const table = firstTable(node, 0) ?? '?'
  const locking =
    node.kind === 'SelectQueryNode' && (node as { endModifiers?: unknown[] }).endModifiers?.length
  return `${verb[node.kind] ?? node.kind} ${table}${locking ? ' for update' : ''}`
}

function firstTable(value: unknown, depth: number): string | undefined {
  if (depth > 6 || value === null || typeof value !== 'object') return undefined
  const v = value as { kind?: string; table?: { identifier?: { name?: string } } }
  if (v.kind === 'TableNode') return v.table?.identifier?.name
  for (const key of ['into', 'table', 'from', 'froms', 'node']) {
    const child = (value as Record<string, unknown>)[key]
    const items = Array.isArray(child) ? child : [child]
    for (const item of items) {
      const found = firstTable(item, depth + 1)
      if (found) return found
    }
  }
  return undefined
}

/** CPU of the local PostgreSQL server (every postgres process and its reaped children), in ms. */
const CLOCK_TICK_MS = 10
export function postgresCpuMs(adminUrl: string): number | null {
  const host = new URL(adminUrl).hostname
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) return null
  let ticks = 0
  let found = false
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue
    }
    const close = stat.lastIndexOf(')')
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue
    ticks += cpuTicks(stat, true)
    found = true
  }
  return found ? ticks * CLOCK_TICK_MS : null
}

/** utime + stime (and, with `children`, the reaped children's) of one /proc/<pid>/stat line. */
function cpuTicks(stat: string, children: boolean): number {
  // Fields after the command: state(3) ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)
}

/** CPU of these processes of ours (a server's HTTP workers), from /proc, in ms; exited ones count 0. */
export function processesCpuMs(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    try {
      ticks += cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'), false)
    } catch {
      // exited: its time is no longer readable
    }
  }
  return ticks * CLOCK_TICK_MS
}

export const MB = 1024 * 1024

/**
 * Peak RSS, sampled every 100 ms by a worker thread (it runs even while the main thread is busy), and
 * peak V8 heap in use, sampled on the main thread (by a timer, and between statements).
 */
export class MemorySampler {
  private static shared: BigInt64Array | undefined
  private static worker: Worker | undefined
  peakHeap = 0
  private lastHeapSample = 0

  constructor() {
    if (!MemorySampler.worker) {
      const buffer = new SharedArrayBuffer(8)
      MemorySampler.shared = new BigInt64Array(buffer)
      MemorySampler.worker = new Worker(
        `const { workerData } = require('node:worker_threads')
         const peak = new BigInt64Array(workerData)
         setInterval(() => {
           const rss = BigInt(process.memoryUsage.rss())
           if (rss > Atomics.load(peak, 0)) Atomics.store(peak, 0, rss)
         }, 100)`,
        { eval: true, workerData: buffer },
      )
      MemorySampler.worker.unref()
    }
  }

  get peak(): number {
    return Number(Atomics.load(MemorySampler.shared!, 0))
  }

  /** Samples the heap if 100 ms have passed since the last sample. */
  poke(): void {
    const now = performance.now()
    if (now - this.lastHeapSample < 100) return
    this.lastHeapSample = now
    this.sample()
  }

  private sample(): void {
    const m = process.memoryUsage()
    this.peakHeap = Math.max(this.peakHeap, m.heapUsed)
    if (BigInt(m.rss) > Atomics.load(MemorySampler.shared!, 0))
      Atomics.store(MemorySampler.shared!, 0, BigInt(m.rss))
  }

  start(): void {
    Atomics.store(MemorySampler.shared!, 0, 0n)
    this.peakHeap = 0
    this.sample()
  }

  stop(): void {
    this.sample()
  }
}

/**
 * BENCH_CPU_PROF=DIR: a V8 CPU profile of the main thread per phase, through the inspector (so
 * tsx's loader thread stays out, and phases do not mix). Open them in Chrome DevTools or speedscope.
 */
const PROFILE_DIR = process.env.BENCH_CPU_PROF
export class PhaseProfiler {
  private session: Session | undefined
  private post<T>(method: string): Promise<T> {
    return new Promise((resolve, reject) =>
      this.session!.post(method, (err, result) => (err ? reject(err) : resolve(result as T))),
    )
  }
  async start(): Promise<void> {
    if (!PROFILE_DIR) return
    this.session ??= new Session()
    this.session.connect()
    await this.post('Profiler.enable')
    await this.post('Profiler.start')
  }
  async stop(file: string): Promise<void> {
    if (!PROFILE_DIR || !this.session) return
    const { profile } = await this.post<{ profile: unknown }>('Profiler.stop')
    this.session.disconnect()
    mkdirSync(PROFILE_DIR, { recursive: true })
    writeFileSync(join(PROFILE_DIR, file), JSON.stringify(profile))
  }
}

// ---------------------------------------------------------------------------------------------------
// Phases (in the child process of one store)

export interface PhaseResult {
  store: string
  phase: string
  ms: number
  changes: number | null
  queries: number
  dbWaitMs: number
  nodeCpuMs: number
  pgCpuMs: number | null
  peakRssMb: number
  peakHeapMb: number
  maxRssMb: number
  checks: string[]
  failures: number
  topQueries: { kind: string; n: number; ms: number }[]
}

/** The measured columns of a phase's row, shared by every bench that reports PhaseResults. */
export const PHASE_COLUMNS = [
  'time',
  'changes',
  'queries',
  'query wait',
  'node CPU',
  'pg CPU',
  'peak RSS MB',
  'heap MB',
  'maxRSS MB',
] as const

export function phaseCells(r: PhaseResult): string[] {
  return [
    fmtSeconds(r.ms),
    r.changes === null ? '' : r.changes.toLocaleString('en'),
    r.queries.toLocaleString('en'),
    fmtSeconds(r.dbWaitMs),
    fmtSeconds(r.nodeCpuMs),
    r.pgCpuMs === null ? '-' : fmtSeconds(r.pgCpuMs),
    r.peakRssMb.toFixed(0),
    r.peakHeapMb.toFixed(0),
    r.maxRssMb.toFixed(0),
  ]
}

export type Message =
  | { type: 'phase'; result: PhaseResult }
  | { type: 'version'; store: string; version: string }
  | { type: 'fatal'; store: string; message: string }

export function send(message: Message): void {
  process.send?.(message)
}

export class PhaseTimeout extends Error {}

export function progressLine(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r  ${text}`.padEnd(100))
  else process.stderr.write(`  ${text}\n`)
}

export function endProgress(): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${' '.repeat(100)}\r`)
}

export class Runner {
  readonly results: PhaseResult[] = []
  constructor(
    readonly store: string,
    readonly counter: QueryCounter,
    /** adminUrl: the server whose CPU is measured (store 'postgres'); timeoutMs: per phase. */
    private readonly options: { adminUrl: string; timeoutMs: number },
  ) {}

  /**
   * Runs one phase with its measurements and a timeout. `work` returns the change count (or null)
   * and may call `note` to show progress in the heartbeat.
   */
  async phase<T>(
    name: string,
    work: (note: (text: string) => void) => Promise<{ value: T; changes: number | null }>,
  ): Promise<{ value: T; result: PhaseResult }> {
    const sampler = new MemorySampler()
    const profiler = new PhaseProfiler()
    await profiler.start()
    const q0 = this.counter.snapshot()
    const cpu0 = process.cpuUsage()
    const pg0 = this.store === 'postgres' ? postgresCpuMs(this.options.adminUrl) : null
    let note = ''
    const t0 = performance.now()
    const timeoutMs = this.options.timeoutMs
    const deadline = t0 + timeoutMs
    const timeoutMessage = `${name} did not finish within ${timeoutMs / 1000} s (BENCH_PHASE_TIMEOUT): stopped`
    const beatEvery = process.stderr.isTTY ? 1000 : 10_000
    let lastBeat = t0
    const tick = () => {
      sampler.poke()
      const now = performance.now()
      if (now - lastBeat < beatEvery) return
      lastBeat = now
      const rss = (process.memoryUsage.rss() / MB).toFixed(0)
      const queries = (this.counter.total - q0.total).toLocaleString('en')
      progressLine(
        `[${this.store}] ${name}: ${((now - t0) / 1000).toFixed(0)} s, ${queries} queries, rss ${rss} MB` +
          (note ? `, ${note}` : ''),
      )
    }
    sampler.start()
    const ticker = setInterval(tick, 100)
    ticker.unref()
    // The timer covers a phase waiting on I/O; the statement hook one whose loop never lets timers run.
    // Fails one statement once the deadline has passed; the engine may then record its failure
    // (the rollback and a failed plan) before the error reaches here, whatever it became by then.
    let timedOut = false
    this.counter.onQuery = () => {
      tick()
      if (!timedOut && performance.now() > deadline) {
        timedOut = true
        throw new PhaseTimeout(timeoutMessage)
      }
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PhaseTimeout(timeoutMessage)), timeoutMs)
    })
    let outcome: { value: T; changes: number | null }
    try {
      outcome = await Promise.race([work((text) => (note = text)), timeout])
    } catch (err) {
      throw timedOut ? new PhaseTimeout(timeoutMessage) : err
    } finally {
      clearTimeout(timer)
      clearInterval(ticker)
      this.counter.onQuery = undefined
      endProgress()
    }
    const ms = performance.now() - t0
    sampler.stop()
    await profiler.stop(`${this.store}-${name.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '')}.cpuprofile`)
    const cpu = process.cpuUsage(cpu0)
    const pg1 = this.store === 'postgres' ? postgresCpuMs(this.options.adminUrl) : null
    const q1 = this.counter.snapshot()
    const top = [...q1.byKind]
      .map(([kind, v]) => {
        const before = q0.byKind.get(kind) ?? { n: 0, ms: 0 }
        return { kind, n: v.n - before.n, ms: v.ms - before.ms }
      })
      .filter((k) => k.n > 0)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 8)
    const result: PhaseResult = {
      store: this.store,
      phase: name,
      ms,
      changes: outcome.changes,
      queries: q1.total - q0.total,
      dbWaitMs: q1.waitMs - q0.waitMs,
      nodeCpuMs: (cpu.user + cpu.system) / 1000,
      pgCpuMs: pg0 !== null && pg1 !== null ? pg1 - pg0 : null,
      peakRssMb: sampler.peak / MB,
      peakHeapMb: sampler.peakHeap / MB,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      checks: [],
      failures: 0,
      topQueries: top,
    }
    console.log(
      `[${this.store}] ${name}: ${fmtSeconds(ms)}` +
        (outcome.changes === null ? '' : `, ${outcome.changes.toLocaleString('en')} changes`) +
        `, ${result.queries.toLocaleString('en')} queries (${fmtSeconds(result.dbWaitMs)} waiting on them)` +
        `, node CPU ${fmtSeconds(result.nodeCpuMs)}` +
        (result.pgCpuMs === null ? '' : `, postgres CPU ${fmtSeconds(result.pgCpuMs)}`) +
        `, peak RSS ${result.peakRssMb.toFixed(0)} MB, heap ${result.peakHeapMb.toFixed(0)} MB ` +
        `(maxRSS ${result.maxRssMb.toFixed(0)} MB)`,
    )
    this.results.push(result)
    return { value: outcome.value, result }
  }

  /** Records a check on a phase's result (printed now, shown in the table). */
  check(result: PhaseResult, ok: boolean, description: string): void {
    result.checks.push(`${ok ? 'ok' : 'FAILED'}: ${description}`)
    if (!ok) result.failures++
    console.log(`[${this.store}]   ${ok ? 'ok    ' : 'FAILED'} ${description}`)
  }

  publish(result: PhaseResult): void {
    send({ type: 'phase', result })
  }

  /** Two consecutive phases as one row (plan + apply): times and counts add, peaks take the larger. */
  combine(label: string, a: PhaseResult, b: PhaseResult): PhaseResult {
    const r: PhaseResult = {
      store: this.store,
      phase: label,
      ms: a.ms + b.ms,
      changes: b.changes,
      queries: a.queries + b.queries,
      dbWaitMs: a.dbWaitMs + b.dbWaitMs,
      nodeCpuMs: a.nodeCpuMs + b.nodeCpuMs,
      pgCpuMs: a.pgCpuMs !== null && b.pgCpuMs !== null ? a.pgCpuMs + b.pgCpuMs : null,
      peakRssMb: Math.max(a.peakRssMb, b.peakRssMb),
      peakHeapMb: Math.max(a.peakHeapMb, b.peakHeapMb),
      maxRssMb: Math.max(a.maxRssMb, b.maxRssMb),
      checks: [],
      failures: 0,
      topQueries: [],
    }
    this.results.push(r)
    return r
  }
}

/** Summary counts as one short line: only what is non-zero. */
export function describeSummary(s: PlanSummary): string {
  const parts: string[] = []
  const add = (area: string, counts: Record<string, number>) => {
    for (const [k, v] of Object.entries(counts)) if (v) parts.push(`${area}.${k} ${v.toLocaleString('en')}`)
  }
  add('people', s.people)
  add('departments', s.departments)
  add('groups', s.groups)
  add('memberships', s.memberships)
  add('identities', s.identities)
  if (s.protectedSkipped) parts.push(`protectedSkipped ${s.protectedSkipped}`)
  return parts.join(', ') || 'nothing'
}

export function warningsOf(plan: PlanView): string[] {
  const d = plan.errorDetails as { warnings?: string[] } | null
  return d?.warnings ?? []
}

export async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'orgsync-bench' })
  client.on('error', () => undefined)
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

export function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n > 0 ? n : fallback
}

export function fmtSeconds(ms: number): string {
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${ms.toFixed(0)} ms`
}

export function table(header: readonly string[], rows: readonly (readonly string[])[], left = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) =>
        i < left || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/**
 * A scratch database orgsync_bench_<random> on the server: created now; `drop` is idempotent and
 * also meant for failure and Ctrl-C paths (it forces other sessions off).
 */
export async function scratchDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `orgsync_bench_${randomBytes(6).toString('hex')}`
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  await adminQuery(adminUrl, `create database "${name}"`)
  process.stderr.write(`  created scratch database ${name}\n`)
  let dropping: Promise<void> | undefined
  const drop = () =>
    (dropping ??= adminQuery(adminUrl, `drop database if exists "${name}" with (force)`).then(() => {
      process.stderr.write(`  dropped scratch database ${name}\n`)
    }))
  return { url: url.toString(), drop }
}

/** CPU model, cores and RAM, from /proc where it has them. */
export function machine(): string {
  let model = os.cpus()[0]?.model.trim() ?? 'unknown CPU'
  let ramKb = os.totalmem() / 1024
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model
    ramKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? ramKb)
  } catch {
    // not Linux: os has the same figures
  }
  return `${model}, ${os.cpus().length} cores, ${(ramKb / 1024 ** 2).toFixed(1)} GiB RAM, node ${process.version}`
}
