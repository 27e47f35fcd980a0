import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../src/db/schema'
import { managerLookup } from '../../src/org/identity-claims'
import { describeEachDatabase } from '../helpers/test-database'

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

function scansOf(node: PlanNode): PlanNode[] {
  return [...(node['Node Type'].includes('Scan') ? [node] : []), ...(node.Plans ?? []).flatMap(scansOf)]
}

// Every SCIM create with a manager runs this lookup as part of a prepared statement. Its generic plan
// is made once per connection, often early in a first big push, when the planner's statistics still
// describe an empty table: then it must still take the unique key, not read the whole source.
describeEachDatabase('the manager lookup of a claim', (db) => {
  const PEOPLE = 3000
  let source: string

  beforeAll(async () => {
    await db().reset()
    const q = db().handle.db
    source = randomUUID()
    await q.insertInto('sources').values({ id: source, type: 'scim', name: 'Okta', config: '{}' }).execute()
    // Statistics from before the push: every table empty.
    await sql`analyze`.execute(q)
    await sql`insert into people (id, user_name)
              select gen_random_uuid(), 'user' || g from generate_series(1, ${PEOPLE}) g`.execute(q)
    await sql`insert into identities (source_id, external_id, user_name, person_id, attributes, raw, active)
              select ${source}, 'ext-' || substr(user_name, 5), user_name, id, '{}', '{}', true
              from people`.execute(q)
    await sql`update identities set removed_at = now() where external_id = 'ext-7'`.execute(q)
  }, 60_000)

  async function generic<T>(
    externalId: string,
    run: (name: string, trx: Kysely<DB>) => Promise<T>,
  ): Promise<T> {
    const q = db().handle.db
    const compiled = sql`select ${managerLookup(source, externalId)} as person_id`.compile(q)
    const name = `manager_lookup_${randomUUID().replace(/-/g, '')}`
    // One connection for the session settings and the statement: a transaction pins it.
    return q.transaction().execute(async (trx) => {
      await sql`set local plan_cache_mode = force_generic_plan`.execute(trx)
      await sql.raw(`prepare ${name}(uuid, text) as ${compiled.sql}`).execute(trx)
      try {
        return await run(name, trx)
      } finally {
        await sql.raw(`deallocate ${name}`).execute(trx)
      }
    })
  }

  test('its generic plan probes the unique key, even with statistics from an empty table', async () => {
    const scans = await generic('ext-1500', async (name, trx) => {
      const { rows } = await sql
        .raw<{ 'QUERY PLAN': [{ Plan: PlanNode }] | string }>(
          `explain (analyze, format json) execute ${name}('${source}', 'ext-1500')`,
        )
        .execute(trx)
      const raw = rows[0]!['QUERY PLAN']
      const plan = (typeof raw === 'string' ? (JSON.parse(raw) as [{ Plan: PlanNode }]) : raw)[0].Plan
      return scansOf(plan).filter(
        (s) => s['Index Name']?.startsWith('identities') || s['Node Type'] === 'Seq Scan',
      )
    })
    expect(scans).toHaveLength(1)
    expect(scans[0]).toMatchObject({
      'Node Type': 'Index Scan',
      'Index Name': 'identities_source_id_external_id_key',
    })
    expect(scans[0]!['Rows Removed by Filter'] ?? 0).toBe(0)
  })

  test('it finds the person of a live identity, and nobody for a removed or unknown one', async () => {
    const q = db().handle.db
    const person = await q
      .selectFrom('identities')
      .select('person_id')
      .where('external_id', '=', 'ext-1500')
      .executeTakeFirstOrThrow()
    const answer = (externalId: string) =>
      generic(externalId, async (name, trx) => {
        const { rows } = await sql
          .raw<{ person_id: string | null }>(`execute ${name}('${source}', '${externalId}')`)
          .execute(trx)
        return rows[0]?.person_id
      })
    expect(await answer('ext-1500')).toBe(person.person_id)
    expect(await answer('ext-7')).toBeNull()
    expect(await answer('ext-nobody')).toBeNull()
  })
})
