import cluster, { type Worker } from 'node:cluster'
import type { Logger } from '../logger'

/**
 * ORGSYNC_WORKERS > 1: the primary forks HTTP workers that share the listening port (node's cluster
 * hands connections out round robin). Each worker is a full replica on the one PostgreSQL database,
 * which the service already coordinates through (scheduled runs, uniqueness, approvals), so the pool
 * adds no shared state of its own: it starts workers, replaces one that dies and stops them all.
 */

/** Worker → primary, once its server is listening. */
export interface WorkerListening {
  type: 'orgsync:listening'
  url: string
}
/** Primary → worker: stop gracefully, as on SIGTERM. */
export interface WorkerShutdown {
  type: 'orgsync:shutdown'
}

export const isListening = (m: unknown): m is WorkerListening =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'orgsync:listening'
export const isShutdown = (m: unknown): m is WorkerShutdown =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'orgsync:shutdown'

export interface WorkerPoolOptions {
  size: number
  logger: Logger
  /** A worker that dies is replaced, unless more than this many died within restartWindowMs. */
  maxRestarts?: number
  restartWindowMs?: number
  /** Added to each worker's environment (the benchmark passes its scratch database). */
  env?: Record<string, string>
  /** Called once when the pool gives up on crashing workers (after stopping the rest). */
  onGiveUp: (reason: string) => void
}

export interface WorkerPool {
  readonly url: string
  readonly size: number
  /** Process ids of the live workers. */
  pids(): number[]
  /** Asks every worker to stop gracefully; resolves when all have exited. Idempotent. */
  close(): Promise<void>
  /** Passes a signal on to every live worker (a second Ctrl-C: they exit at once too). */
  signal(signal: NodeJS.Signals): void
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `exit code ${code ?? 'unknown'}`
}

/** Forks the workers and resolves once every one is listening; rejects if one dies before that. */
export function startWorkerPool(options: WorkerPoolOptions): Promise<WorkerPool> {
  if (!cluster.isPrimary) throw new Error('worker pool: only the cluster primary starts workers')
  const { size, logger } = options
  const maxRestarts = options.maxRestarts ?? 5
  const windowMs = options.restartWindowMs ?? 60_000
  const live = new Set<Worker>()
  const restarts: number[] = []
  let started = false
  let closing: Promise<void> | undefined
  let url = ''

  /** `message`: finish requests in flight first; `signal`: SIGTERM, for workers that never served. */
  const stopAll = (how: 'message' | 'signal' = 'message'): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      if (live.size === 0) return resolve()
      const done = () => {
        if (live.size === 0) resolve()
      }
      for (const worker of live) {
        worker.once('exit', done)
        if (how === 'signal') worker.process.kill('SIGTERM')
        // A worker still starting reads the message once it has started (see the CLI's worker).
        else worker.send({ type: 'orgsync:shutdown' } satisfies WorkerShutdown, () => undefined)
      }
    }))

  return new Promise<WorkerPool>((resolve, reject) => {
    let listeningCount = 0
    const fork = (): Worker => {
      const worker = cluster.fork(options.env)
      live.add(worker)
      logger.info({ worker: worker.id, pid: worker.process.pid }, 'worker started')
      worker.on('message', (m: unknown) => {
        if (!isListening(m)) return
        logger.info({ worker: worker.id, pid: worker.process.pid, url: m.url }, 'worker listening')
        if (started) return
        url = m.url
        listeningCount += 1
        if (listeningCount === size) {
          started = true
          resolve(pool)
        }
      })
      worker.on('exit', (code, signal) => {
        live.delete(worker)
        if (closing) return
        const how = describeExit(code, signal)
        if (!started) {
          // A worker that cannot start (bad database, port taken) would fail again: stop the rest.
          // Nothing has been served yet, so a signal will do: one still starting (its database
          // unreachable, say) would only read a message once started, which may be never.
          void stopAll('signal').then(() =>
            reject(
              new Error(
                `worker ${worker.id} (pid ${worker.process.pid}) exited with ${how} before listening`,
              ),
            ),
          )
          return
        }
        const now = Date.now()
        restarts.push(now)
        while (restarts.length > 0 && restarts[0]! < now - windowMs) restarts.shift()
        if (restarts.length > maxRestarts) {
          const reason = `${restarts.length} workers died within ${windowMs / 1000} s, the last with ${how}`
          logger.fatal({ worker: worker.id, pid: worker.process.pid }, `giving up: ${reason}`)
          void stopAll().then(() => options.onGiveUp(reason))
          return
        }
        logger.error(
          { worker: worker.id, pid: worker.process.pid, code, signal },
          `worker died (${how}): starting another`,
        )
        fork()
      })
      return worker
    }
    const pool: WorkerPool = {
      get url() {
        return url
      },
      size,
      pids: () => [...live].map((w) => w.process.pid).filter((pid): pid is number => pid !== undefined),
      close: () => stopAll(),
      signal(signal) {
        for (const worker of live) worker.process.kill(signal)
      },
    }
    for (let i = 0; i < size; i += 1) fork()
  })
}
