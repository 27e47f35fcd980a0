import { sql, type Kysely } from 'kysely'
import { analyzeChangedTables, autovacuumRuns } from '../../src/db/statistics-keeper'
import { describeEachDatabase } from '../helpers/test-database'

describeEachDatabase('statistics keeper', (db) => {
  const k = () => db().handle.db as unknown as Kysely<never>

  test('analyzes a table that changed by more than a tenth since its last analyze, and only then', async () => {
    await sql`create table stats_probe (id int primary key, v text)`.execute(k())
    await sql`insert into stats_probe select g, 'v' || g from generate_series(1, 2000) g`.execute(k())
    // The cumulative statistics are flushed at transaction end; PostgreSQL may hold them up to a second.
    await sql`select pg_stat_force_next_flush()`.execute(k()).catch(() => undefined)
    const first = await analyzeChangedTables(k())
    expect(first).toContain('stats_probe')
    const { rows } = await sql<{ reltuples: number }>`
      select reltuples::int as reltuples from pg_class where relname = 'stats_probe'`.execute(k())
    expect(Number(rows[0]?.reltuples)).toBe(2000)
    // Analyzed now: a few more rows are below the threshold.
    await sql`insert into stats_probe values (2001, 'x')`.execute(k())
    await sql`select pg_stat_force_next_flush()`.execute(k()).catch(() => undefined)
    expect(await analyzeChangedTables(k())).not.toContain('stats_probe')
  })

  test('PGlite never runs autovacuum; a server says whether it does', async () => {
    const runs = await autovacuumRuns(k(), db().kind)
    if (db().kind === 'pglite') expect(runs).toBe(false)
    else {
      const { rows } = await sql<{ a: string }>`show autovacuum`.execute(k())
      expect(runs).toBe(rows[0]?.a === 'on')
    }
  })
})
