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

/** Appends an audit event inside the caller's transaction, so it commits or rolls back with the change. */
export async function recordAuditEvent(trx: Kysely<DB>, actor: Actor, entry: AuditEntry): Promise<void> {
  await trx
    .insertInto('audit_events')
    .values({
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
    })
    .execute()
}
