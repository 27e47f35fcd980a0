import type { Kysely } from 'kysely'
import type { DB } from '../db/schema'
import { notFound } from '../errors'
import type { Actor } from '../org/actor'
import type { ClaimSource, HeldLeaver } from '../org/identity-claims'
import type { OrgStore } from '../org/org-store'
import { parseSourcePolicy } from '../org/source-policy'
import { isUuid } from '../org/write-context'

export interface HeldLeaverView extends HeldLeaver {
  userName: string | null
  displayName: string | null
  personStatus: string | null
}

/**
 * Leavers a SCIM source pushed past its leaver guard: accepted at the protocol level, waiting for an
 * admin to approve (suspend or deprovision them now) or discard (leave the people as they are).
 */
export class HeldLeaverService {
  constructor(private readonly store: OrgStore) {}

  private async source(db: Kysely<DB>, id: string): Promise<ClaimSource> {
    const row = isUuid(id)
      ? await db
          .selectFrom('sources')
          .select(['id', 'name', 'precedence', 'created_at', 'policy'])
          .where('id', '=', id)
          .executeTakeFirst()
      : undefined
    if (!row) throw notFound(`source ${id} does not exist`)
    return {
      id: row.id,
      name: row.name,
      precedence: row.precedence,
      createdAt: row.created_at,
      policy: parseSourcePolicy(row.policy),
    }
  }

  async list(sourceId: string): Promise<HeldLeaverView[]> {
    const source = await this.source(this.store.db, sourceId)
    const rows = await this.store.db
      .selectFrom('scim_leaver_events as e')
      .leftJoin('people as p', 'p.id', 'e.person_id')
      .select([
        'e.id',
        'e.identity_id',
        'e.person_id',
        'e.action',
        'e.requested_by',
        'e.at',
        'p.user_name',
        'p.display_name',
        'p.status',
      ])
      .where('e.source_id', '=', source.id)
      .where('e.status', '=', 'held')
      .orderBy('e.at')
      .orderBy('e.id')
      .execute()
    return rows.map((r) => ({
      id: r.id,
      identityId: r.identity_id,
      personId: r.person_id,
      action: r.action,
      requestedBy: r.requested_by,
      at: r.at,
      userName: r.user_name,
      displayName: r.display_name,
      personStatus: r.status,
    }))
  }

  /** Approves or discards the given held leavers of the source, or all of them when ids is omitted. */
  async decide(
    actor: Actor,
    sourceId: string,
    decision: 'approve' | 'discard',
    ids?: readonly string[],
  ): Promise<HeldLeaver[]> {
    return this.store.write(actor, async (w) => {
      const source = await this.source(w.transaction, sourceId)
      return w.decideHeldLeavers(source, decision, ids)
    })
  }
}
