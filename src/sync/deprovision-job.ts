import { sql } from 'kysely'
import { systemActor } from '../org/actor'
import type { OrgStore } from '../org/org-store'

const BATCH = 500

/**
 * Deprovisions leavers whose grace period is over. Idempotent; one replica at a time does the work
 * (the others find the lock taken and skip). Protected people (marked so, or named in any source's
 * protectedUserNames) are never touched.
 */
export async function deprovisionExpired(store: OrgStore, now: Date = new Date()): Promise<number> {
  let total = 0
  for (;;) {
    const done = await store.write(systemActor('deprovision'), async (w) => {
      const got = await sql<{ got: boolean }>`select pg_try_advisory_xact_lock(${0x6f72}, 4) as got`.execute(
        w.transaction,
      )
      if (!got.rows[0]?.got) return -1
      const due = await w.transaction
        .selectFrom('people')
        .select(['id', 'suspended_reason'])
        .where('status', '=', 'suspended')
        .where('protected', '=', false)
        // Nor anyone a source's policy protects by user name: the name may have been put on the list
        // after the person was suspended, and the job must honour it as a plan would.
        .where(
          sql<boolean>`not exists (
            select 1 from sources s, jsonb_array_elements_text(coalesce(s.policy -> 'protectedUserNames', '[]'::jsonb)) n
            where lower(n) = lower(people.user_name))`,
        )
        .where('remove_after', '<=', now)
        .orderBy('remove_after')
        .limit(BATCH)
        .execute()
      for (const p of due) {
        const why = p.suspended_reason ? `${p.suspended_reason}; ` : ''
        await w.deprovisionPerson(p.id, { reason: `${why}deprovisioned after the grace period` })
      }
      return due.length
    })
    if (done <= 0) return total
    total += done
    if (done < BATCH) return total
  }
}
