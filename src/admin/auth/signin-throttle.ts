import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema'

/** Failed sign-ins allowed from one address per window, whichever accounts they try. */
export const IP_MAX_FAILURES = 20
export const IP_WINDOW_MINUTES = 15

export interface ThrottleClaim {
  key: string
  /** The window's start as the database wrote it (text: a Date would lose the microseconds). */
  windowStart: string
  /** False: over the limit; the attempt must not be tried. */
  allowed: boolean
  /** Seconds until the window ends (for Retry-After). */
  retryAfterSeconds: number
}

/**
 * Counts one sign-in attempt against a key (`ip:<address>`) in its fixed window, in the shared
 * table so every replica sees the same count. The attempt is counted before it is tried, so many
 * requests racing in parallel cannot all slip under the limit; a success gives its count back.
 */
export async function claimAttempt(db: Kysely<DB>, key: string): Promise<ThrottleClaim> {
  const window = sql`make_interval(mins => ${IP_WINDOW_MINUTES})`
  const expired = sql`signin_throttle.window_start <= now() - ${window}`
  const row = await db
    .insertInto('signin_throttle')
    .values({ key, window_start: sql<Date>`now()`, failures: 1 })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        failures: sql<number>`case when ${expired} then 1 else signin_throttle.failures + 1 end`,
        window_start: sql<Date>`case when ${expired} then now() else signin_throttle.window_start end`,
      }),
    )
    .returning([
      'failures',
      sql<string>`window_start::text`.as('window_start'),
      sql<number>`ceil(extract(epoch from (window_start + ${window} - now())))`.as('retry_after'),
    ])
    .executeTakeFirstOrThrow()
  // Now and then, forget addresses whose window is long over (the table holds one row per address).
  if (Math.random() < 0.02) {
    await db
      .deleteFrom('signin_throttle')
      .where('window_start', '<', sql<Date>`now() - ${window}`)
      .execute()
  }
  return {
    key,
    windowStart: row.window_start,
    allowed: Number(row.failures) <= IP_MAX_FAILURES,
    retryAfterSeconds: Math.max(1, Number(row.retry_after)),
  }
}

/** A successful sign-in was no failure: its claim is given back (if its window is still the same). */
export async function refundAttempt(db: Kysely<DB>, claim: ThrottleClaim): Promise<void> {
  await db
    .updateTable('signin_throttle')
    .set({ failures: sql`failures - 1` })
    .where('key', '=', claim.key)
    .where('window_start', '=', sql<Date>`${claim.windowStart}::timestamptz`)
    .where('failures', '>', 0)
    .execute()
}
