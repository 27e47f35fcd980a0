import type { Kysely } from 'kysely'
import type { DB } from '../db/schema'
import type { Actor } from './actor'
import {
  asBuffer,
  CHAIN_COLUMNS,
  ChainWalker,
  eventHash,
  eventJson,
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

/**
 * Appends audit events to the hash chain inside the caller's transaction (it must be one), so they
 * commit or roll back with the change. Holds the chain lock from here until the transaction ends:
 * call it once, as the transaction's last step (the store does, through WriteContext.flushAudit).
 *
 * `at` is set here, not by the database's now(), so the hashed timestamp is exactly the stored one
 * (timestamptz keeps microseconds, a JS Date milliseconds).
 */
export async function recordAuditEvents(
  trx: Kysely<DB>,
  actor: Actor,
  entries: readonly AuditEntry[],
  at: Date = new Date(),
): Promise<void> {
  if (entries.length === 0) return
  const head = await lockChainHead(trx)
  const base = {
    at,
    actorType: actor.type,
    actorId: actor.id,
    actorName: actor.name,
    ip: actor.ip ?? null,
    userAgent: actor.userAgent ? actor.userAgent.slice(0, MAX_USER_AGENT) : null,
    requestId: actor.requestId ?? null,
  }
  let prevHash = asBuffer(head.lastHash)
  let lastSeq = head.lastSeq
  for (let i = 0; i < entries.length; i += CHUNK) {
    const rows = entries.slice(i, i + CHUNK).map((entry) => {
      const fields: AuditEventFields = {
        ...base,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId,
      }
      const before = valueJson(entry.before)
      const after = valueJson(entry.after)
      const hash = eventHash(prevHash, eventJson(fields, before, after))
      const row = {
        at,
        actor_type: fields.actorType,
        actor_id: fields.actorId,
        actor_name: fields.actorName,
        ip: fields.ip,
        user_agent: fields.userAgent,
        request_id: fields.requestId,
        action: fields.action,
        target_type: fields.targetType,
        target_id: fields.targetId,
        // The canonical text itself goes to jsonb: what verify reads back re-serialises to it.
        before: before === 'null' ? null : before,
        after: after === 'null' ? null : after,
        prev_hash: prevHash,
        hash,
      }
      prevHash = hash
      return row
    })
    // An identity column numbers a multi-row insert in VALUES order, so seq follows the chain.
    const inserted = await trx.insertInto('audit_events').values(rows).returning('seq').execute()
    for (const { seq } of inserted) if (seq > lastSeq) lastSeq = seq
  }
  await saveChainHead(trx, { ...head, lastSeq, lastHash: prevHash })
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
