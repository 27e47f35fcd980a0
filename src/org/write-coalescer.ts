import type { Actor } from './actor'
import type { OrgStore, OrgWriter } from './org-store'

export interface CoalescerOptions {
  /** Units one transaction takes at most. */
  maxBatch?: number
  /**
   * Transactions in flight at once; the rest of the units queue for the next free one. Default: the
   * store's parallelWrites (one on PGlite: with one connection, more would only make smaller batches
   * that queue inside the driver).
   */
  maxInFlight?: number
}

interface Unit<T> {
  actor: Actor
  work: (w: OrgWriter) => Promise<T>
  resolve: (value: T) => void
  reject: (err: unknown) => void
}

/**
 * Group commit for independent writes that arrive at once (an identity provider pushing users, 32
 * requests in flight): units that queue while transactions are busy share the next transaction, so
 * its BEGIN, COMMIT and audit-chain append are paid once per batch instead of once per unit. An idle
 * store runs a unit at once, alone: no waiting for company.
 *
 * Each unit keeps its own actor and audit events and gets its own result. When a shared
 * transaction fails, nothing of it commits, and each of its units runs again alone, in arrival
 * order, so every caller gets the outcome its own write has (a duplicate gets its conflict, the
 * others commit). `work` must therefore depend only on its inputs and the database: it may run twice.
 */
export class WriteCoalescer<T> {
  private readonly queue: Unit<T>[] = []
  private inFlight = 0
  private readonly maxBatch: number
  private readonly maxInFlight: number

  constructor(
    private readonly store: OrgStore,
    options: CoalescerOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 50
    this.maxInFlight = options.maxInFlight ?? store.parallelWrites
  }

  write(actor: Actor, work: (w: OrgWriter) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ actor, work, resolve, reject })
      this.pump()
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

  private async run(batch: Unit<T>[]): Promise<void> {
    if (batch.length > 1) {
      let results: T[] | undefined
      try {
        results = await this.store.writeEach(batch)
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
        unit.resolve(await this.store.write(unit.actor, unit.work))
      } catch (err) {
        unit.reject(err)
      }
    }
  }
}
