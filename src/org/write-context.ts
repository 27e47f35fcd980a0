import { sql, type Transaction } from 'kysely'
import type { DB } from '../db/schema'
import { invalid } from '../errors'
import type { Actor } from './actor'
import { recordAuditBatches, recordAuditEvents, type AuditEntry } from './audit-log'

/** What every write function gets: the open transaction and who is acting. */
export class WriteContext {
  constructor(
    readonly trx: Transaction<DB>,
    readonly actor: Actor,
  ) {}

  /**
   * Audit events wait here until the transaction's work is done (flushAudit, called by the store
   * just before it commits): appending takes the audit chain's lock until commit, so it comes last
   * to keep that lock short. A transaction that piles up more than AUDIT_SPILL (2,000) events (a big plan
   * apply) appends them as it goes instead, so its memory stays bounded; it then holds the chain
   * lock from its first spill to its commit, and other writers wait for it. They still commit or
   * roll back with the change.
   */
  private pending: AuditEntry[] = []

  async audit(entry: AuditEntry): Promise<void> {
    this.pending.push(entry)
    if (this.pending.length >= AUDIT_SPILL) await this.flushAudit()
  }

  async auditMany(entries: readonly AuditEntry[]): Promise<void> {
    for (const entry of entries) this.pending.push(entry)
    if (this.pending.length >= AUDIT_SPILL) await this.flushAudit()
  }

  /**
   * `beforeCommit`: this is the transaction's last statement, so it may travel with the COMMIT
   * (one round trip fewer, and the chain's lock is held for no client round trip at all); an
   * error then surfaces from the commit, and nothing commits.
   */
  async flushAudit(options: { beforeCommit?: boolean } = {}): Promise<void> {
    if (this.pending.length === 0) return
    const entries = this.pending
    this.pending = []
    await recordAuditEvents(this.trx, this.actor, entries, { withCommit: options.beforeCommit })
  }

  /**
   * The pending events of several units of one transaction (OrgStore.writeEach), each under its own
   * actor, appended in one call: the chain's head is locked, read and moved once, not once per unit.
   */
  static async flushAuditTogether(
    contexts: readonly WriteContext[],
    options: { beforeCommit?: boolean } = {},
  ): Promise<void> {
    const batches = contexts.map((ctx) => {
      const entries = ctx.pending
      ctx.pending = []
      return { actor: ctx.actor, entries }
    })
    if (contexts.length === 0) return
    await recordAuditBatches(contexts[0]!.trx, batches, { withCommit: options.beforeCommit })
  }

  /**
   * Serialises changes of one kind across transactions and replicas until this transaction ends.
   * Tree moves rewrite a whole subtree by path prefix, and manager changes walk the chain for
   * cycles: both must not race a concurrent change of the same structure.
   */
  async lock(what: 'department-tree' | 'manager-chains'): Promise<void> {
    const key = what === 'department-tree' ? 1 : 2
    await sql`select pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${key})`.execute(this.trx)
  }

  /** Serialises work on one named thing (e.g. one source's leaver ledger) across transactions and replicas. */
  async lockNamed(name: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(${NAMED_LOCK_NAMESPACE}, hashtext(${name}))`.execute(this.trx)
  }
}

const AUDIT_SPILL = 2000
const LOCK_NAMESPACE = 0x6f72 // "or": orgsync's advisory-lock namespace
const NAMED_LOCK_NAMESPACE = 0x6f73 // "os": named locks, keyed by a hash of the name

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(value: string): boolean {
  return UUID.test(value)
}

/** A referenced id that is not even a uuid is bad input, not a database error. */
export function requireUuid(value: string, what: string): string {
  if (!isUuid(value)) throw invalid(`${what} must be a uuid, got ${JSON.stringify(value)}`)
  return value.toLowerCase()
}

/** Trims a display text and rejects empty or control-character values. */
export function cleanText(value: string, what: string, max = 256): string {
  const v = value.trim()
  if (v.length === 0) throw invalid(`${what} must not be empty`)
  if (v.length > max) throw invalid(`${what} must be at most ${max} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw invalid(`${what} must not contain control characters`)
  return v
}

export function cleanOptionalText(value: string | null | undefined, what: string, max = 256): string | null {
  if (value === null || value === undefined) return null
  const v = value.trim()
  return v === '' ? null : cleanText(v, what, max)
}
