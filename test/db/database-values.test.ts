import { PGlite } from '@electric-sql/pglite'
import { Kysely, sql } from 'kysely'
import { PgliteDialect } from '../../src/db/pglite-dialect'
import { prepareOnEachConnection } from '../../src/db/prepared-statements'
import { describeEachDatabase } from '../helpers/test-database'

/**
 * Values through each store's kysely driver (pg's pipelined dialect, our PGlite dialect): what goes in
 * as a parameter comes back the same, counts of affected rows are right, and a database error keeps
 * its code and leaves the connection usable.
 */
describeEachDatabase('values through the database driver', (db) => {
  const kysely = () => db().handle.db as unknown as Kysely<Record<string, Record<string, unknown>>>

  beforeAll(async () => {
    await sql`create table driver_values (
      id int primary key, at timestamptz, tags text[], doc jsonb, bytes bytea, flag boolean,
      big int8, note text, ref uuid)`.execute(kysely())
  })

  test('parameters come back as they went in', async () => {
    const at = new Date('2026-11-30T12:34:56.789Z')
    const values = {
      id: 1,
      at,
      tags: ['plain', 'with "quotes"', 'with,comma', 'ünïcode', ''],
      doc: JSON.stringify({ nested: { list: [1, 'two', null] }, text: 'O\'Brien "quoted"' }),
      bytes: Buffer.from([0, 1, 2, 254, 255]),
      flag: false,
      big: 9_007_199_254_740_991n,
      note: null,
      ref: '7f1c1f3e-2b7a-4f7e-9a51-3f1f0e4c2a10',
    }
    await kysely().insertInto('driver_values').values(values).execute()
    const row = await kysely()
      .selectFrom('driver_values')
      .selectAll()
      .where('id', '=', 1)
      .executeTakeFirstOrThrow()
    expect(row.at).toEqual(at)
    expect(row.tags).toEqual(values.tags)
    expect(row.doc).toEqual(JSON.parse(values.doc))
    expect(Buffer.from(row.bytes as Uint8Array)).toEqual(values.bytes)
    expect(row.flag).toBe(false)
    expect(String(row.big)).toBe('9007199254740991')
    expect(row.note).toBeNull()
    expect(row.ref).toBe(values.ref)
    // An object parameter is sent as its JSON text, as node-postgres sends it.
    const { rows } = await sql<{ doc: unknown }>`select ${{ a: [1, 2] }}::jsonb as doc`.execute(kysely())
    expect(rows).toEqual([{ doc: { a: [1, 2] } }])
  })

  test('text of every width and bytes of every value, unnamed and prepared, come back byte for byte', async () => {
    const texts = [
      '',
      'ascii',
      'ünïcödé 日本語 עברית 😀 👩‍👩‍👧 e\u0301',
      '\u2028\u2029\ufeff\uffff',
      'x'.repeat(70_000) + '€',
    ]
    const bytes = [Buffer.alloc(0), Buffer.from([0, 0x50, 0x42, 0x53, 0xff]), Buffer.alloc(70_000, 0xab)]
    // A fixed text, registered: on each store the second run only binds it (see prepared-statements.ts).
    const query = (text: string | null, b: Buffer | null, n: number) =>
      sql<{ text: string | null; bytes: Uint8Array | null; n: number; length: number | null }>`
        select ${text}::text as text, ${b}::bytea as bytes, ${n}::int as n, octet_length(${text}::text) as length`
    for (const named of [false, true]) {
      for (const text of [...texts, null]) {
        for (const b of [...bytes, null]) {
          const compiled = query(text, b, 7).compile(kysely())
          if (named) prepareOnEachConnection(compiled.sql)
          const { rows } = await kysely().executeQuery(compiled)
          const row = rows[0] as {
            text: string | null
            bytes: Uint8Array | null
            n: number
            length: number | null
          }
          expect(row.text).toBe(text)
          expect(row.length).toBe(text === null ? null : Buffer.byteLength(text))
          expect(row.bytes === null ? null : Buffer.from(row.bytes)).toEqual(b)
          expect(row.n).toBe(7)
        }
      }
    }
  })

  test('inserts, updates and deletes report how many rows they touched', async () => {
    const inserted = await kysely()
      .insertInto('driver_values')
      .values([{ id: 10 }, { id: 11 }, { id: 12 }])
      .executeTakeFirstOrThrow()
    expect(inserted.numInsertedOrUpdatedRows).toBe(3n)
    const updated = await kysely()
      .updateTable('driver_values')
      .set({ note: 'x' })
      .where('id', '>=', 11)
      .executeTakeFirstOrThrow()
    expect(updated.numUpdatedRows).toBe(2n)
    const none = await kysely()
      .updateTable('driver_values')
      .set({ note: 'y' })
      .where('id', '=', 999)
      .executeTakeFirstOrThrow()
    expect(none.numUpdatedRows).toBe(0n)
    const deleted = await kysely().deleteFrom('driver_values').where('id', '>=', 10).executeTakeFirstOrThrow()
    expect(deleted.numDeletedRows).toBe(3n)
  })

  test('a failed statement keeps its error code; the transaction rolls back and the connection goes on', async () => {
    await expect(
      kysely()
        .transaction()
        .execute(async (trx) => {
          await trx.insertInto('driver_values').values({ id: 20 }).execute()
          await trx.insertInto('driver_values').values({ id: 20 }).execute()
        }),
    ).rejects.toMatchObject({ code: '23505', constraint: 'driver_values_pkey' })
    const left = await kysely().selectFrom('driver_values').select('id').where('id', '=', 20).execute()
    expect(left).toEqual([])
    await expect(sql`select 1/0`.execute(kysely())).rejects.toMatchObject({ code: '22012' })
    expect((await sql<{ two: number }>`select 2 as two`.execute(kysely())).rows).toEqual([{ two: 2 }])
  })
})

test('a statement after PGlite itself was closed fails with a clear error', async () => {
  const pglite = await PGlite.create()
  const db = new Kysely<unknown>({ dialect: new PgliteDialect(pglite) })
  expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }])
  await pglite.close()
  await expect(sql`select 1`.execute(db)).rejects.toThrow('the embedded database (PGlite) is closed')
  await db.destroy()
})
