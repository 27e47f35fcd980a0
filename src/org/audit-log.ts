import type { Kysely } from 'kysely'
import type { DB } from '../db/schema'
import type { Actor } from './actor'

export interface AuditEntry {
  action: string
  targetType: string
  targetId: string | null
  before?: unknown
  after?: unknown
}

const CHUNK = 1000

/**
 * Appends audit events inside the caller's transaction, so they commit or roll back with the
 * change. Bulk writes record one event per row changed, inserted a thousand at a time.
 */
export async function recordAuditEvents(
  trx: Kysely<DB>,
  actor: Actor,
  entries: readonly AuditEntry[],
): Promise<void> {
  for (let i = 0; i < entries.length; i += CHUNK) {
    await trx
      .insertInto('audit_events')
      .values(
        entries.slice(i, i + CHUNK).map((entry) => ({
          actor_type: actor.type,
          actor_id: actor.id,
          actor_name: actor.name,
          ip: actor.ip ?? null,
          request_id: actor.requestId ?? null,
          action: entry.action,
          target_type: entry.targetType,
          target_id: entry.targetId,
          before: entry.before === undefined ? null : JSON.stringify(entry.before),
          after: entry.after === undefined ? null : JSON.stringify(entry.after),
        })),
      )
      .execute()
  }
}

export function recordAuditEvent(trx: Kysely<DB>, actor: Actor, entry: AuditEntry): Promise<void> {
  return recordAuditEvents(trx, actor, [entry])
}
