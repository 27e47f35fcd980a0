import { sql, type Kysely } from 'kysely'
import type { Logger } from 'pino'

/**
 * Keeps the planner's statistics current where nothing else does: embedded PGlite has no autovacuum,
 * and a PostgreSQL server may run with it off. Without statistics the planner misjudges a table that
 * grew fast (an identity provider's first push, a first sync) and lookups that should touch one row
 * read them all. Like autovacuum's analyze: a table is analyzed once more than 10% of it (plus 50
 * rows) changed since the last time.
 */
export async function analyzeChangedTables(db: Kysely<never>): Promise<string[]> {
  const { rows } = await sql<{ relname: string }>`
    select relname from pg_stat_user_tables
    where n_mod_since_analyze > 50 + 0.1 * greatest(n_live_tup, 0)`.execute(db)
  const analyzed: string[] = []
  for (const { relname } of rows) {
    // Names come from the catalogue, quoted as identifiers.
    await sql`analyze ${sql.id(relname)}`.execute(db)
    analyzed.push(relname)
  }
  return analyzed
}

export interface StatisticsKeeper {
  stop(): Promise<void>
}

/** Runs analyzeChangedTables every `intervalMs` (one at a time) until stopped; failures are logged. */
export function keepStatistics(db: Kysely<never>, logger: Logger, intervalMs = 60_000): StatisticsKeeper {
  let running: Promise<void> | undefined
  const tick = () => {
    if (running) return
    running = analyzeChangedTables(db)
      .then((tables) => {
        if (tables.length > 0) logger.debug({ tables }, 'statistics refreshed')
      })
      .catch((err: unknown) => logger.warn({ err }, 'statistics refresh failed'))
      .finally(() => {
        running = undefined
      })
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await running
    },
  }
}

/** Whether the database keeps its own statistics (a PostgreSQL server with autovacuum on). */
export async function autovacuumRuns(db: Kysely<never>, kind: 'postgres' | 'pglite'): Promise<boolean> {
  if (kind === 'pglite') return false
  const { rows } = await sql<{ autovacuum: string }>`show autovacuum`.execute(db)
  return rows[0]?.autovacuum === 'on'
}
