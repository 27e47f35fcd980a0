import net, { type AddressInfo } from 'node:net'
import { CompiledQuery, sql } from 'kysely'
import { openDatabase, type DatabaseHandle } from '../../src/db/open-database'
import { randomUUID } from 'node:crypto'
import { executeTogether, sendWithCommit } from '../../src/db/pipelined-postgres'
import { prepareOnEachConnection } from '../../src/db/prepared-statements'
import { parseSourcePolicy } from '../../src/org/source-policy'
import { systemActor } from '../../src/org/actor'
import { OrgStore } from '../../src/org/org-store'
import { databaseKinds, openTestDatabase, type TestDatabase } from '../helpers/test-database'

/**
 * A TCP relay between the pool and PostgreSQL that counts what the client sends, burst by burst: with
 * one connection, every round trip the client waits for is one burst, so the count is the number of
 * round trips.
 */
async function countingRelay(
  target: URL,
): Promise<{ port: number; bursts: () => number; close(): Promise<void> }> {
  let bursts = 0
  const [host, port] = [target.hostname, Number(target.port || 5432)]
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host)
    // As pg's own socket: no Nagle delay on the relay's hops.
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    sockets.add(client).add(upstream)
    client.on('data', (chunk) => {
      bursts++
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => client.write(chunk))
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    bursts: () => bursts,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

// The pipelining is PostgreSQL's driver (PGlite is in-process: no round trips to save); without
// TEST_DATABASE_URL global setup says the PostgreSQL runs are skipped.
if (!databaseKinds().includes('postgres')) {
  // A file without tests fails the run; this one says why it has none here.
  test.skip('pipelined PostgreSQL transactions: skipped, TEST_DATABASE_URL is not set (PostgreSQL only)', () => {})
}

for (const kind of databaseKinds().filter((k) => k === 'postgres')) {
  describe(`pipelined PostgreSQL transactions [${kind}]`, () => {
    let db: TestDatabase
    let relay: Awaited<ReturnType<typeof countingRelay>>
    let handle: DatabaseHandle
    beforeAll(async () => {
      db = await openTestDatabase(kind)
      const url = new URL(db.url!)
      relay = await countingRelay(url)
      url.hostname = '127.0.0.1'
      url.port = String(relay.port)
      // One connection: every statement below shares it, so bursts are round trips.
      handle = await openDatabase({ kind: 'postgres', url: url.toString(), poolMax: 1 })
      await sql`create table pipeline_probe (id int primary key)`.execute(handle.db)
    })
    afterAll(async () => {
      await handle?.close()
      await relay?.close()
      await db?.close()
    })
    beforeEach(async () => {
      await sql`truncate pipeline_probe`.execute(handle.db)
    })

    const probeIds = async () =>
      (await sql<{ id: number }>`select id from pipeline_probe order by id`.execute(handle.db)).rows.map(
        (r) => r.id,
      )

    /** Round trips `work` takes on the relay's one connection. */
    async function roundTrips(work: () => Promise<unknown>): Promise<number> {
      const before = relay.bursts()
      await work()
      return relay.bursts() - before
    }

    test('BEGIN travels with the first statement and a deferred statement with COMMIT: two round trips, not four', async () => {
      const trips = await roundTrips(() =>
        handle.db.transaction().execute(async (trx) => {
          await sql`insert into pipeline_probe values (1)`.execute(trx)
          await sendWithCommit(trx, sql`insert into pipeline_probe values (2)`.compile(trx))
        }),
      )
      expect(trips).toBe(2)
      expect(await probeIds()).toEqual([1, 2])
    })

    test('a deferred statement that fails makes the commit throw its error, and nothing commits', async () => {
      const failed = handle.db.transaction().execute(async (trx) => {
        await sql`insert into pipeline_probe values (1)`.execute(trx)
        await sendWithCommit(trx, sql`insert into pipeline_probe values (1)`.compile(trx))
        return 'committed'
      })
      await expect(failed).rejects.toMatchObject({ code: '23505' })
      expect(await probeIds()).toEqual([])
      // The connection is back in the pool and works.
      expect((await sql<{ n: number }>`select 1 as n`.execute(handle.db)).rows).toEqual([{ n: 1 }])
    })

    test('a transaction that runs nothing costs no round trip; one that fails before running anything neither', async () => {
      expect(await roundTrips(() => handle.db.transaction().execute(async () => 'nothing'))).toBe(0)
      const trips = await roundTrips(() =>
        handle.db
          .transaction()
          .execute(async () => {
            throw new Error('changed my mind')
          })
          .catch((err: Error) => err.message),
      )
      expect(trips).toBe(0)
    })

    test('an error in the work rolls back what ran, and the connection is reused', async () => {
      const failed = handle.db.transaction().execute(async (trx) => {
        await sql`insert into pipeline_probe values (7)`.execute(trx)
        throw new Error('work failed')
      })
      await expect(failed).rejects.toThrow('work failed')
      expect(await probeIds()).toEqual([])
      await handle.db.transaction().execute((trx) => sql`insert into pipeline_probe values (8)`.execute(trx))
      expect(await probeIds()).toEqual([8])
    })

    test('a statement error inside the transaction rolls it back as before', async () => {
      const failed = handle.db.transaction().execute(async (trx) => {
        await sql`insert into pipeline_probe values (3)`.execute(trx)
        await sql`insert into pipeline_probe values (3)`.execute(trx)
      })
      await expect(failed).rejects.toMatchObject({ code: '23505' })
      expect(await probeIds()).toEqual([])
    })

    test('isolation level and access mode still apply', async () => {
      const seen = await handle.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(async (trx) => {
          const iso = await sql<{ v: string }>`show transaction_isolation`.execute(trx)
          const ro = await sql<{ v: string }>`show transaction_read_only`.execute(trx)
          return [iso.rows[0], ro.rows[0]].map((r) => Object.values(r!)[0])
        })
      expect(seen).toEqual(['repeatable read', 'on'])
    })

    test('statements sent together share one round trip and report their outcomes one by one', async () => {
      let outcomes: Awaited<ReturnType<typeof executeTogether>> = []
      const trips = await roundTrips(() =>
        handle.db
          .transaction()
          .execute(async (trx) => {
            outcomes = await executeTogether(trx, [
              sql`insert into pipeline_probe values (4) returning id`.compile(trx),
              sql`insert into pipeline_probe values (4) returning id`.compile(trx),
              sql`select 1`.compile(trx),
            ])
          })
          .catch(() => undefined),
      )
      // BEGIN and the three statements in one round trip; the COMMIT (which the failure turns into a
      // rollback) in another.
      expect(trips).toBe(2)
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected'])
      expect(outcomes[0]).toMatchObject({ value: { rows: [{ id: 4 }] } })
      expect(outcomes[1]).toMatchObject({ reason: { code: '23505' } })
      expect(outcomes[2]).toMatchObject({ reason: { code: '25P02' } })
    })

    test('a SCIM-style create (new person, new identity, audit) is three round trips', async () => {
      const store = new OrgStore(handle.db)
      const sourceId = randomUUID()
      await handle.db
        .insertInto('sources')
        .values({ id: sourceId, type: 'scim', name: 'IdP', config: '{}' })
        .execute()
      const source = {
        id: sourceId,
        name: 'IdP',
        precedence: 100,
        createdAt: new Date(),
        policy: parseSourcePolicy({}),
      }
      const claim = {
        userName: 'trips@corp.example',
        displayName: 'Round Trips',
        givenName: null,
        familyName: null,
        email: 'trips@corp.example',
        employeeNumber: null,
        title: null,
        departmentPath: null,
        managerExternalId: null,
        active: true,
      }
      let personId = ''
      const trips = await roundTrips(async () => {
        personId = (await store.write(systemActor('test'), (w) => w.applyClaim(source, { claim, raw: {} })))
          .personId
      })
      // BEGIN + the look-up; the person and identity inserts; the audit append + COMMIT.
      expect(trips).toBe(3)
      const actions = await handle.db
        .selectFrom('audit_events')
        .select('action')
        .where('target_id', 'in', [personId])
        .execute()
      expect(actions.map((a) => a.action)).toEqual(['person.create'])
      const identity = await handle.db
        .selectFrom('identities')
        .select('person_id')
        .where('source_id', '=', sourceId)
        .execute()
      expect(identity).toEqual([{ person_id: personId }])
    })

    test('a store write whose audit append fails (it travels with COMMIT) leaves nothing behind', async () => {
      const store = new OrgStore(handle.db)
      await sql`alter function orgsync_audit_append_events rename to orgsync_audit_append_events_away`.execute(
        handle.db,
      )
      try {
        const write = store.write(systemActor('test'), (w) =>
          w.createDepartment({ name: 'Pipelined', parentId: null }),
        )
        await expect(write).rejects.toMatchObject({ code: '42883' })
      } finally {
        await sql`alter function orgsync_audit_append_events_away rename to orgsync_audit_append_events`.execute(
          handle.db,
        )
      }
      const rows = await handle.db
        .selectFrom('departments')
        .select('id')
        .where('name', '=', 'Pipelined')
        .execute()
      expect(rows).toEqual([])
      // And with the function back, the same write commits, audited.
      const created = await store.write(systemActor('test'), (w) =>
        w.createDepartment({ name: 'Pipelined', parentId: null }),
      )
      const audited = await handle.db
        .selectFrom('audit_events')
        .select('action')
        .where('target_id', '=', created.id)
        .execute()
      expect(audited.map((a) => a.action)).toEqual(['department.create'])
    })

    describe('prepared statements outside a transaction (the shared lane)', () => {
      const echo = 'select $1::int as n, pg_backend_pid() as pid'
      const divide = 'select 10 / $1::int as n'
      const sleeper = 'select pg_sleep($1::float8) as slept'
      beforeAll(() => {
        for (const text of [echo, divide, sleeper]) prepareOnEachConnection(text)
      })
      const run = <R>(text: string, value: number) =>
        handle.db.executeQuery<R>(CompiledQuery.raw(text, [value])).then((r) => r.rows[0]!)
      /** The lane's backend: the connection of the process other than the pool's one client. */
      const lanePid = async () => (await run<{ pid: number }>(echo, 0)).pid

      test('concurrent ones share one connection and one write, each with its own answer', async () => {
        const pid = await lanePid()
        let answers: { n: number; pid: number }[] = []
        const trips = await roundTrips(async () => {
          answers = await Promise.all(
            Array.from({ length: 20 }, (_, i) => run<{ n: number; pid: number }>(echo, i)),
          )
        })
        // Through the pool's one client they would take 20 round trips, one after another.
        expect(trips).toBe(1)
        expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => ({ n: i, pid })))
        // Not the pool's client: a transaction runs on another backend.
        const inTransaction = await handle.db
          .transaction()
          .execute(
            async (trx) => (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]!,
          )
        expect(inTransaction.pid).not.toBe(pid)
      })

      test('one that fails fails alone: those sent with it still answer', async () => {
        const outcomes = await Promise.allSettled([
          run<{ n: number }>(divide, 5),
          run<{ n: number }>(divide, 0),
          run<{ n: number }>(divide, 2),
        ])
        expect(outcomes).toEqual([
          { status: 'fulfilled', value: { n: 2 } },
          { status: 'rejected', reason: expect.objectContaining({ code: '22012' }) },
          { status: 'fulfilled', value: { n: 5 } },
        ])
      })

      test('behind a slow one, new ones take a pooled client instead of waiting', async () => {
        const pid = await lanePid()
        let slowDone = false
        const slow = run(sleeper, 2).then(() => (slowDone = true))
        // Wait until the server reports the slow statement running for longer than the lane's limit.
        for (;;) {
          const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
            where pid = ${pid} and state = 'active' and now() - query_start > interval '20 ms'`.execute(
            handle.db,
          )
          if (rows[0]!.n === 1) break
        }
        const fast = await run<{ n: number; pid: number }>(echo, 42)
        expect(fast.n).toBe(42)
        expect(fast.pid).not.toBe(pid)
        expect(slowDone).toBe(false)
        await slow
      })

      test('a lane whose backend is killed costs at most the statement in flight; the next ones reconnect', async () => {
        const pid = await lanePid()
        await sql`select pg_terminate_backend(${pid})`.execute(handle.db)
        const first = await run<{ n: number; pid: number }>(echo, 1).catch((err: Error) => err)
        if (first instanceof Error) expect(first.message).toMatch(/terminat|closed|Connection/i)
        else expect(first.pid).not.toBe(pid)
        const next = await run<{ n: number; pid: number }>(echo, 2)
        expect(next.n).toBe(2)
        expect(next.pid).not.toBe(pid)
      })
    })
  })
}
