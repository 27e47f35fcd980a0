import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema'
import type { SecurityPolicy } from '../security-policy'

export interface AccountAttempt {
  /** Consecutive failures counted so far, this attempt included. */
  failures: number
  /** Set when this attempt reached the policy's maxFailures: the account is locked until then. */
  lockedUntil?: string
}

/**
 * Counts an attempt on an account before its password is checked, so parallel guesses cannot
 * outrun the lockout: the attempt that reaches maxFailures locks the account at once (its own
 * success unlocks it again, see `clearAccountFailures`). Undefined: the account is locked. A lock
 * that has run out starts the count afresh.
 */
export async function claimAccountAttempt(
  db: Kysely<DB>,
  adminId: string,
  policy: SecurityPolicy,
): Promise<AccountAttempt | undefined> {
  const next = sql<number>`case when locked_until is not null then 1 else failed_signins + 1 end`
  const row = await db
    .updateTable('admins')
    .set({
      failed_signins: next,
      locked_until: sql<Date | null>`case when ${next} >= ${policy.signIn.maxFailures}
        then now() + make_interval(mins => ${policy.signIn.lockoutMinutes}) else null end`,
    })
    .where('id', '=', adminId)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', sql<Date>`now()`)]))
    .returning(['failed_signins', 'locked_until'])
    .executeTakeFirst()
  if (!row) return undefined
  return {
    failures: Number(row.failed_signins),
    ...(row.locked_until ? { lockedUntil: new Date(row.locked_until).toISOString() } : {}),
  }
}

/** The password (and code) were right: the count of consecutive failures starts again. */
export async function clearAccountFailures(db: Kysely<DB>, adminId: string): Promise<void> {
  await db
    .updateTable('admins')
    .set({ failed_signins: 0, locked_until: null })
    .where('id', '=', adminId)
    .execute()
}
