import { CompiledQuery, sql, type Kysely } from 'kysely'
import {
  MAX_PREPARED_STATEMENTS,
  preparedName,
  prepareOnEachConnection,
} from '../../src/db/prepared-statements'
import { describeEachDatabase } from '../helpers/test-database'

/** The names the connection running `db` has prepared (run in a transaction: one connection). */
async function preparedOn(db: Kysely<unknown>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(db)
  return rows.map((r) => r.name)
}

describeEachDatabase('prepared statements', (db) => {
  const kysely = () => db().handle.db as unknown as Kysely<unknown>

  test('a registered statement is parsed once per connection, then only bound, with the same answers', async () => {
    const text = 'select $1::int + 1 as n, $2::text as label /* prepared-statements test 1 */'
    const name = prepareOnEachConnection(text)
    expect(name).toMatch(/^orgsync_[0-9a-f]{24}$/)
    expect(prepareOnEachConnection(text)).toBe(name)
    await kysely()
      .transaction()
      .execute(async (trx) => {
        for (let i = 0; i < 7; i++) {
          const { rows } = await trx.executeQuery(CompiledQuery.raw(text, [i, `run ${i}`]))
          expect(rows).toEqual([{ n: i + 1, label: `run ${i}` }])
        }
        const names = await preparedOn(trx)
        expect(names.filter((n) => n === name)).toHaveLength(1)
      })
  })

  test('an unregistered statement runs unnamed: nothing is prepared for it', async () => {
    const text = 'select $1::text as unnamed /* prepared-statements test 2 */'
    expect(preparedName(text)).toBeUndefined()
    await kysely()
      .transaction()
      .execute(async (trx) => {
        const before = await preparedOn(trx)
        expect((await trx.executeQuery(CompiledQuery.raw(text, ['x']))).rows).toEqual([{ unnamed: 'x' }])
        expect(await preparedOn(trx)).toEqual(before)
      })
  })

  test('a registered statement that cannot be parsed fails the same way every time, and the connection stays usable', async () => {
    const text = 'select * from no_such_table_for_prepared_statements where id = $1'
    prepareOnEachConnection(text)
    for (let i = 0; i < 2; i++) {
      // 42P01 each time: never 42P05 (a name prepared twice), which would mean we lost track.
      await expect(kysely().executeQuery(CompiledQuery.raw(text, [1]))).rejects.toMatchObject({
        code: '42P01',
      })
    }
    expect((await sql<{ one: number }>`select 1 as one`.execute(kysely())).rows).toEqual([{ one: 1 }])
  })

  test(`the registry holds at most ${MAX_PREPARED_STATEMENTS} statements; past that they run unnamed`, async () => {
    const texts = Array.from(
      { length: MAX_PREPARED_STATEMENTS + 3 },
      (_, i) => `select $1::int * ${i + 2} as product /* cap */`,
    )
    const names = texts.map((t) => prepareOnEachConnection(t))
    const named = names.filter((n) => n !== undefined)
    expect(named.length).toBeLessThanOrEqual(MAX_PREPARED_STATEMENTS)
    expect(names.at(-1)).toBeUndefined()
    expect(new Set(named).size).toBe(named.length)
    // Named or not, each one runs and answers.
    for (const [i, text] of [...texts.entries()].slice(-5)) {
      const { rows } = await kysely().executeQuery(CompiledQuery.raw(text, [3]))
      expect(rows).toEqual([{ product: 3 * (i + 2) }])
    }
  })
})
