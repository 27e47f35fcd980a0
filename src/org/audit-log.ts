import { sql, type Kysely } from 'kysely'
import { sendWithCommit } from '../db/pipelined-postgres'
import type { DB } from '../db/schema'
import type { Actor } from './actor'
import {
  CHAIN_COLUMNS,
  ChainWalker,
  eventJsonParts,
  lockChainHead,
  saveChainHead,
  valueJson,
  type AuditEventFields,
  type ChainRow,
} from './audit-chain'

export interface AuditEntry {
  action: string
  targetType: string
  targetId: string | null
  before?: unknown
  after?: unknown
}

const CHUNK = 1000
/** A User-Agent is the client's to choose: keep what identifies it, not whatever it sends. */
const MAX_USER_AGENT = 512

/** One actor's audit events, as one unit of a transaction records them. */
export interface AuditBatch {
  actor: Actor
  entries: readonly AuditEntry[]
  /** When they happened; default now. */
  at?: Date
}

/**
 * Appends audit events to the hash chain inside the caller's transaction (it must be one), so they
 * commit or roll back with the change. The events' canonical texts are prepared here, outside any
 * lock (as parts around the before/after values, which travel once); the database function
 * orgsync_audit_append_events (migration 0010) then takes the chain head's row lock, chains the
 * hashes the way audit-chain.ts verifies them, inserts the rows and moves the head, in one round trip
 * per CHUNK events. The lock is held until the transaction ends, so every other writer waits: call it
 * once, as the transaction's last step (the store does, through WriteContext.flushAudit).
 *
 * Each batch keeps its own actor and time, so the units of a shared transaction (WriteCoalescer)
 * append all their events in one call.
 *
 * `at` is set here, not by the database's now(), so the hashed timestamp is exactly the stored one
 * (timestamptz keeps microseconds, a JS Date milliseconds).
 */
export async function recordAuditBatches(
  trx: Kysely<DB>,
  batches: readonly AuditBatch[],
  options: { withCommit?: boolean } = {},
): Promise<void> {
  if (batches.every((b) => b.entries.length === 0)) return
  // Outside a transaction the head's lock would end with the statement and two writers could fork the chain.
  if (!trx.isTransaction) throw new Error('audit chain: appending needs a transaction')
  // [at, actorType, actorId, actorName, ip, userAgent, requestId, action, targetType, targetId,
  //  before, after, head, mid, tail] per event: see migration 0010.
  let events: (string | null)[][] = []
  const send = async () => {
    const append = sql`select orgsync_audit_append_events(${JSON.stringify(events)}::jsonb)`
    events = []
    if (options.withCommit) await sendWithCommit(trx, append.compile(trx))
    else await append.execute(trx)
  }
  const now = new Date()
  for (const batch of batches) {
    const { actor } = batch
    const at = batch.at ?? now
    const base = {
      at,
      actorType: actor.type,
      actorId: actor.id,
      actorName: actor.name,
      ip: actor.ip ?? null,
      userAgent: actor.userAgent ? actor.userAgent.slice(0, MAX_USER_AGENT) : null,
      requestId: actor.requestId ?? null,
    }
    const atText = at.toISOString()
    for (const entry of batch.entries) {
      const fields: AuditEventFields = {
        ...base,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId,
      }
      const before = valueJson(entry.before)
      const after = valueJson(entry.after)
      const { head, mid, tail } = eventJsonParts(fields)
      // The canonical text itself goes to jsonb: what verify reads back re-serialises to it.
      events.push([
        atText,
        base.actorType,
        base.actorId,
        base.actorName,
        base.ip,
        base.userAgent,
        base.requestId,
        fields.action,
        fields.targetType,
        fields.targetId,
        before === 'null' ? null : before,
        after === 'null' ? null : after,
        head,
        mid,
        tail,
      ])
      if (events.length === CHUNK) await send()
    }
  }
  if (events.length > 0) await send()
}

/** One actor's events: see recordAuditBatches. */
export async function recordAuditEvents(
  trx: Kysely<DB>,
  actor: Actor,
  entries: readonly AuditEntry[],
  options: { at?: Date; withCommit?: boolean } = {},
): Promise<void> {
  await recordAuditBatches(trx, [{ actor, entries, at: options.at }], options)
}

export function recordAuditEvent(trx: Kysely<DB>, actor: Actor, entry: AuditEntry): Promise<void> {
  return recordAuditEvents(trx, actor, [entry])
}

export interface PruneStep {
  /** Events removed by this step. */
  deleted: number
  /** The anchor before and after: the chain now starts after `anchorSeq`. */
  previousAnchorSeq: number
  anchorSeq: number
  /** True when the step stopped at its limit, so older events may remain. */
  more: boolean
}

/**
 * Removes up to `limit` of the oldest events dated before `olderThan`, and makes the last one
 * removed the chain's anchor, so what remains still verifies. The chain can only be cut at its
 * start: it stops at the first event not older than the cutoff even if later ones are (replicas'
 * clocks differ a little). It checks the events it removes first and refuses to remove a broken
 * stretch: a retention prune must not launder tampering.
 *
 * Holds the chain lock until the transaction ends; the caller audits the prune in the same one.
 */
export async function pruneAuditEvents(trx: Kysely<DB>, olderThan: Date, limit: number): Promise<PruneStep> {
  const head = await lockChainHead(trx)
  const oldest: ChainRow[] = await trx
    .selectFrom('audit_events')
    .select(CHAIN_COLUMNS)
    .where('seq', '>', head.anchorSeq)
    .orderBy('seq')
    .limit(limit)
    .execute()
  const walker = new ChainWalker({ seq: head.anchorSeq, hash: head.anchorHash })
  let deleted = 0
  for (const row of oldest) {
    if (row.at >= olderThan || row.seq > head.lastSeq) break
    const reason = walker.step(row)
    if (reason)
      throw new Error(
        `audit retention: not pruning, the audit chain is broken at seq ${row.seq} (${reason}); ` +
          'run `orgsync audit verify` and investigate before pruning',
      )
    deleted++
  }
  const anchor = walker.last
  const unchanged = { deleted: 0, previousAnchorSeq: head.anchorSeq, anchorSeq: head.anchorSeq, more: false }
  if (deleted === 0) return unchanged
  await trx.deleteFrom('audit_events').where('seq', '<=', anchor.seq).execute()
  await saveChainHead(trx, { ...head, anchorSeq: anchor.seq, anchorHash: anchor.hash })
  return { deleted, previousAnchorSeq: head.anchorSeq, anchorSeq: anchor.seq, more: deleted === limit }
}
