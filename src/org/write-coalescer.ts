import type { Actor } from './actor'
import type { OrgStore, OrgWriter } from './org-store'

export interface CoalescerOptions<I, T> {
  /** One unit's work. It may run twice: see WriteCoalescer. */
  one: (w: OrgWriter, input: I) => Promise<T>
  /**
   * The work of several units at once, in one transaction, one writer per unit (e.g. one multi-row
   * insert for all of them): it must give each unit the outcome `one` would, in order. Default: `one`
   * for each unit in turn.
   */
  many?: (writers: readonly OrgWriter[], inputs: readonly I[]) => Promise<T[]>
  /** Units one transaction takes at most. */
  maxBatch?: number
  /**
   * Transactions in flight at once; the rest of the units queue for the next free one. Default: the
   * store's parallelWrites (one on PGlite: with one connection, more would only make smaller batches
   * that queue inside the driver).
   */
  maxInFlight?: number
}

interface Unit<I, T> {
  actor: Actor
  input: I
  resolve: (value: T) => void
  reject: (err: unknown) => void
}

/**
 * Group commit for independent writes that arrive at once (an identity provider pushing users, 32
 * requests in flight): units that queue while transactions are busy share the next transaction, so
 * its BEGIN, COMMIT and audit-chain append are paid once per batch instead of once per unit, and
 * `many` can do their work in fewer statements.
 *
 * A unit starts on the event loop's next turn (setImmediate), with the units that arrive in this one:
 * no timer, no waiting for company. That turn is what lets requests read from their sockets together
 * share a batch on PGlite, whose statements run synchronously: a transaction started at once would
 * finish before the next request is even parsed, so every unit would run alone.
 *
 * Each unit keeps its own actor and audit events and gets its own result. When a shared
 * transaction fails, nothing of it commits, and each of its units runs again alone (`one`), in
 * arrival order, so every caller gets the outcome its own write has (a duplicate gets its conflict,
 * the others commit). The work must therefore depend only on its input and the database: it may run
 * twice.
 */
export class WriteCoalescer<I, T> {
  private readonly queue: Unit<I, T>[] = []
  private inFlight = 0
  private pumpScheduled = false
  private readonly maxBatch: number
  private readonly maxInFlight: number

  constructor(
    private readonly store: OrgStore,
    private readonly options: CoalescerOptions<I, T>,
  ) {
    this.maxBatch = options.maxBatch ?? 50
    this.maxInFlight = options.maxInFlight ?? store.parallelWrites
  }

  write(actor: Actor, input: I): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ actor, input, resolve, reject })
      if (this.pumpScheduled) return
      this.pumpScheduled = true
      setImmediate(() => {
        this.pumpScheduled = false
        this.pump()
      })
    })
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch)
      this.inFlight++
      void this.run(batch).finally(() => {
        this.inFlight--
        this.pump()
      })
    }
  }

  private async run(batch: Unit<I, T>[]): Promise<void> {
    const { one, many } = this.options
    if (batch.length > 1) {
      let results: T[] | undefined
      try {
        results = many
          ? await this.store.writeTogether(batch, many)
          : await this.store.writeEach(batch.map((u) => ({ actor: u.actor, work: (w) => one(w, u.input) })))
      } catch {
        // One unit's failure (or the database's) undid them all: each runs alone below.
      }
      if (results) {
        batch.forEach((unit, i) => unit.resolve(results[i]!))
        return
      }
    }
    for (const unit of batch) {
      try {
        unit.resolve(await this.store.write(unit.actor, (w) => one(w, unit.input)))
      } catch (err) {
        unit.reject(err)
      }
    }
  }
}
