import { sql, type Kysely } from 'kysely'

/**
 * Why a plan read the source in full when an incremental round was due (an expired delta token, a
 * source whose state was reset): admins see it on the plan and the run.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table plans add column resync_reason text`.execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table plans drop column if exists resync_reason`.execute(db)
}
