import { randomBytes } from 'node:crypto'
import { Migrator, sql, type Kysely } from 'kysely'
import { migrations } from '../../src/db/migrations'
import { migrateToLatest } from '../../src/db/migrate'
import { openDatabase, type DatabaseHandle } from '../../src/db/open-database'
import { BROKEN, verifyAuditChain } from '../../src/org/audit-chain'
import { OrgStore } from '../../src/org/org-store'
import { databaseUrl, onServer } from '../helpers/postgres-admin'
import { databaseKinds, type DatabaseKind } from '../helpers/test-database'

/** A database migrated up to just before the audit chain, as a deployment of the previous release. */
async function openAtPreviousRelease(
  kind: DatabaseKind,
): Promise<{ handle: DatabaseHandle; drop(): Promise<void> }> {
  let handle: DatabaseHandle
  let drop = async (): Promise<void> => undefined
  if (kind === 'pglite') {
    handle = await openDatabase({ kind: 'pglite' })
  } else {
    const server = process.env.TEST_DATABASE_URL!
    const name = `orgsync_test_${randomBytes(6).toString('hex')}`
    await onServer(server, [`create database ${name}`])
    handle = await openDatabase({ kind: 'postgres', url: databaseUrl(server, name), poolMax: 2 })
    drop = () => onServer(server, [`drop database if exists ${name} with (force)`])
  }
  const migrator = new Migrator({
    db: handle.db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableName: 'orgsync_migrations',
    migrationLockTableName: 'orgsync_migrations_lock',
  })
  const result = await migrator.migrateTo('0007-admin-security')
  if (result.error) throw result.error
  return { handle, drop }
}

for (const kind of databaseKinds()) {
  describe(`audit chain migration [${kind}]`, () => {
    let handle: DatabaseHandle
    let drop: () => Promise<void>
    beforeAll(async () => {
      ;({ handle, drop } = await openAtPreviousRelease(kind))
    }, 60_000)
    afterAll(async () => {
      await handle?.close()
      await drop?.()
    })

    test('seals the events written before it, so verify covers them, and the chain goes on', async () => {
      const db = handle.db as unknown as Kysely<unknown>
      // As the previous release wrote them: at from now() (microseconds), JSON text from JSON.stringify.
      for (let i = 0; i < 2300; i += 100) {
        const values = Array.from({ length: 100 }, (_, j) => {
          const n = i + j
          return sql`(${n % 3 ? 'admin' : 'source'}, ${`id-${n}`}, ${n % 7 ? `name ${n} 😀` : null}, ${
            n % 2 ? '10.0.0.1' : null
          }, ${'person.update'}, ${'person'}, ${`p-${n}`}, ${JSON.stringify({ z: n, a: [1.5, { y: 'é', b: null }] })}::jsonb, ${
            n % 5 ? null : JSON.stringify('text')
          }::jsonb, now() - make_interval(secs => ${n * 0.000123}))`
        })
        await sql`insert into audit_events (actor_type, actor_id, actor_name, ip, action, target_type, target_id, before, after, at)
                  values ${sql.join(values)}`.execute(db)
      }
      expect(await migrateToLatest(handle.db)).toEqual([
        '0008-audit-chain',
        '0009-audit-append',
        '0010-audit-append-events',
      ])

      const head = await handle.db.selectFrom('audit_chain_head').selectAll().executeTakeFirstOrThrow()
      expect(head).toMatchObject({ last_seq: 2300, anchor_seq: 0 })
      expect(await verifyAuditChain(handle.db)).toMatchObject({ ok: true, checked: 2300, lastSeq: 2300 })

      const store = new OrgStore(handle.db)
      await store.write({ type: 'anonymous', id: null, name: 'who?' }, (w) =>
        w.audit({ action: 'admin.signin.failure', targetType: 'admin', targetId: null }),
      )
      expect(await verifyAuditChain(handle.db)).toMatchObject({ ok: true, checked: 2301, lastSeq: 2301 })

      // The sealed rows are as tamper-evident as new ones.
      await sql`update audit_events set actor_name = 'x' where seq = 1000`.execute(handle.db)
      expect(await verifyAuditChain(handle.db)).toMatchObject({
        ok: false,
        firstBroken: { seq: 1000, reason: BROKEN.content },
      })
    })

    test('every event from now on must be chained', async () => {
      await expect(
        sql`insert into audit_events (at, actor_type, action, target_type) values (now(), 'system', 'x', 'x')`.execute(
          handle.db,
        ),
      ).rejects.toThrow(/null value in column "prev_hash"/)
    })
  })
}
