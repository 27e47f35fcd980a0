import { systemActor, type Actor } from '../org/actor'
import { pruneAuditEvents } from '../org/audit-log'
import type { OrgStore } from '../org/org-store'

/** Events removed per transaction: each holds the audit chain's lock (every audited write waits). */
const BATCH = 5000
const DAY_MS = 24 * 60 * 60 * 1000

export interface AuditPruneResult {
  /** Events removed; 0 when nothing was older than the retention period (or it is forever). */
  deleted: number
  /** Where the chain starts now (verify starts here). */
  anchorSeq: number | null
  /** The cutoff: events dated before it were removed. null: retention is forever. */
  olderThan: Date | null
}

/**
 * Removes audit events older than the retention period, a batch per transaction, each batch
 * moving the chain's anchor and recording an `audit.prune` event in the same transaction (so a
 * prune is itself on the chain). Idempotent; replicas running it at once take turns on the chain
 * lock and the later ones find nothing left to remove.
 */
export async function pruneAuditLog(
  store: OrgStore,
  retentionDays: number | null,
  options: { now?: Date; actor?: Actor } = {},
): Promise<AuditPruneResult> {
  if (retentionDays === null) return { deleted: 0, anchorSeq: null, olderThan: null }
  if (!Number.isInteger(retentionDays) || retentionDays < 1)
    throw new Error(`audit retention: retentionDays must be a positive integer or null, got ${retentionDays}`)
  const olderThan = new Date((options.now ?? new Date()).getTime() - retentionDays * DAY_MS)
  const actor = options.actor ?? systemActor('audit-retention')
  let deleted = 0
  for (;;) {
    const step = await store.write(actor, async (w) => {
      const s = await pruneAuditEvents(w.transaction, olderThan, BATCH)
      if (s.deleted > 0)
        await w.audit({
          action: 'audit.prune',
          targetType: 'audit',
          targetId: null,
          before: { anchorSeq: s.previousAnchorSeq },
          after: {
            anchorSeq: s.anchorSeq,
            deleted: s.deleted,
            olderThan: olderThan.toISOString(),
            retentionDays,
          },
        })
      return s
    })
    deleted += step.deleted
    if (!step.more) return { deleted, anchorSeq: step.anchorSeq, olderThan }
  }
}
