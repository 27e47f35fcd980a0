import { sql } from 'kysely'
import type { Actor } from '../../src/org/actor'
import type { OrgWriter } from '../../src/org/org-store'
import { WriteCoalescer } from '../../src/org/write-coalescer'
import { describeEachDatabase } from '../helpers/test-database'

const actor = (n: number): Actor => ({
  type: 'source',
  id: `source-${n}`,
  name: `token ${n}`,
  requestId: `req-${n}`,
})

/** A promise and the function that settles it: holds a unit in flight until the test lets it go. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}

describeEachDatabase('write coalescer', (db) => {
  beforeEach(() => db().reset())

  const txid = async (w: OrgWriter) =>
    Number((await sql<{ id: string }>`select txid_current()::text as id`.execute(w.transaction)).rows[0]!.id)

  /** Work that creates a department and reports the transaction it ran in. */
  const createDept = (name: string) => async (w: OrgWriter) => {
    const d = await w.createDepartment({ name, parentId: null })
    return { id: d.id, tx: await txid(w) }
  }

  type Work = (w: OrgWriter) => Promise<{ id: string; tx: number }>
  /** A coalescer whose units are their own work. */
  const closures = (options: { maxInFlight?: number; maxBatch?: number }) =>
    new WriteCoalescer<Work, { id: string; tx: number }>(db().store, {
      one: (w, work) => work(w),
      ...options,
    })

  async function auditActors(): Promise<Map<string, string | null>> {
    const rows = await db()
      .handle.db.selectFrom('audit_events')
      .select(['target_id', 'actor_id', 'action'])
      .where('action', '=', 'department.create')
      .execute()
    return new Map(rows.map((r) => [r.target_id!, r.actor_id]))
  }

  test('writes sent in one turn of the event loop share one transaction', async () => {
    const coalescer = closures({ maxInFlight: 1 })
    // The way requests read from their sockets together reach it: no await between them.
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => coalescer.write(actor(i), createDept(`Together ${i}`))),
    )
    expect(new Set(results.map((r) => r.tx)).size).toBe(1)
    const actors = await auditActors()
    results.forEach((r, i) => expect(actors.get(r.id)).toBe(`source-${i}`))
  })

  test('a write sent to an idle store runs alone; writes sent while it runs share the next transaction', async () => {
    const coalescer = closures({ maxInFlight: 1 })
    const started = gate()
    const held = gate()
    const first = coalescer.write(actor(0), async (w) => {
      const r = await createDept('First')(w)
      started.open()
      await held.opened
      return r
    })
    await started.opened
    const queued = Array.from({ length: 6 }, (_, i) =>
      coalescer.write(actor(i + 1), createDept(`Queued ${i}`)),
    )
    held.open()
    const [a, ...rest] = await Promise.all([first, ...queued])
    expect(new Set(rest.map((r) => r.tx)).size).toBe(1)
    expect(rest[0]!.tx).not.toBe(a!.tx)
    // Each unit's audit event names its own actor.
    const actors = await auditActors()
    expect(actors.get(a!.id)).toBe('source-0')
    rest.forEach((r, i) => expect(actors.get(r.id)).toBe(`source-${i + 1}`))
  })

  test('a failing unit undoes the shared transaction; every unit then runs alone and gets its own outcome', async () => {
    const coalescer = closures({ maxInFlight: 1 })
    const started = gate()
    const held = gate()
    const first = coalescer.write(actor(0), async (w) => {
      started.open()
      await held.opened
      return createDept('Before')(w)
    })
    await started.opened
    const ok1 = coalescer.write(actor(1), createDept('Kept 1'))
    const bad = coalescer.write(actor(2), async (w) => {
      // Writes something, then fails: what it wrote must not survive.
      await w.createDepartment({ name: 'Half done', parentId: null })
      throw new Error('unit 2 failed after writing')
    })
    // The same name as ok1's: alone it is a conflict, whichever order they run in.
    const clash = coalescer.write(actor(3), createDept('Kept 1'))
    const ok2 = coalescer.write(actor(4), createDept('Kept 2'))
    held.open()
    await first
    const [r1, rBad, rClash, r2] = await Promise.allSettled([ok1, bad, clash, ok2])
    expect(r1.status).toBe('fulfilled')
    expect(r2.status).toBe('fulfilled')
    expect(rBad).toMatchObject({ status: 'rejected', reason: { message: 'unit 2 failed after writing' } })
    expect(rClash).toMatchObject({ status: 'rejected', reason: { kind: 'conflict' } })
    const names = (
      await db().handle.db.selectFrom('departments').select('name').orderBy('name').execute()
    ).map((d) => d.name)
    expect(names).toEqual(['Before', 'Kept 1', 'Kept 2'])
    // Run alone, each committed in a transaction of its own.
    const [v1, v2] = [r1, r2].map((r) => (r as PromiseFulfilledResult<{ id: string; tx: number }>).value)
    expect(v1!.tx).not.toBe(v2!.tx)
    const actors = await auditActors()
    expect(actors.get(v1!.id)).toBe('source-1')
    expect(actors.get(v2!.id)).toBe('source-4')
    expect(actors.size).toBe(3)
  })

  test('batches are bounded: no transaction takes more than maxBatch units', async () => {
    const coalescer = closures({ maxInFlight: 1, maxBatch: 3 })
    const started = gate()
    const held = gate()
    const first = coalescer.write(actor(0), async (w) => {
      started.open()
      await held.opened
      return createDept('Head')(w)
    })
    await started.opened
    const queued = Array.from({ length: 7 }, (_, i) => coalescer.write(actor(i + 1), createDept(`Unit ${i}`)))
    held.open()
    await first
    const results = await Promise.all(queued)
    const perTx = new Map<number, number>()
    for (const r of results) perTx.set(r.tx, (perTx.get(r.tx) ?? 0) + 1)
    expect([...perTx.values()]).toEqual([3, 3, 1])
  })
})
