import { sql } from 'kysely'
import { AuditService } from '../../src/admin/audit-service'
import { DEFAULT_POLICY, SecurityPolicyStore } from '../../src/admin/security-policy'
import type { Actor } from '../../src/org/actor'
import { BROKEN, verifyAuditChain } from '../../src/org/audit-chain'
import { pruneAuditEvents, recordAuditEvents, type AuditEntry } from '../../src/org/audit-log'
import { pruneAuditLog } from '../../src/sync/audit-retention-job'
import { describeEachDatabase } from '../helpers/test-database'

const admin: Actor = { type: 'admin', id: 'a-1', name: 'alice' }
const DAY = 24 * 60 * 60 * 1000
const NOW = new Date('2025-06-30T12:00:00.000Z')
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY)

const entry = (i: number): AuditEntry => ({
  action: 'person.update',
  targetType: 'person',
  targetId: `p-${i}`,
  after: { i },
})

describeEachDatabase('audit retention', (db) => {
  const q = () => db().handle.db

  beforeEach(async () => {
    await db().reset()
    await q().deleteFrom('audit_chain_head').execute()
  })

  /** Events dated in the past, as they would have been written then. */
  async function writeAt(at: Date, count: number, from = 0): Promise<void> {
    await q()
      .transaction()
      .execute((trx) =>
        recordAuditEvents(
          trx,
          admin,
          Array.from({ length: count }, (_, i) => entry(from + i)),
          { at },
        ),
      )
  }

  const events = () =>
    q().selectFrom('audit_events').select(['seq', 'action', 'at', 'before', 'after']).orderBy('seq').execute()

  async function history(): Promise<void> {
    await writeAt(daysAgo(100), 3, 0) // seq 1-3
    await writeAt(daysAgo(40), 3, 3) // seq 4-6
    await writeAt(daysAgo(10), 3, 6) // seq 7-9
  }

  test('removes events older than the retention, moves the anchor, audits itself, and verify still passes', async () => {
    await history()
    const result = await pruneAuditLog(db().store, 30, { now: NOW })
    expect(result).toEqual({ deleted: 6, anchorSeq: 6, olderThan: daysAgo(30) })
    const left = await events()
    expect(left.map((e) => e.seq)).toEqual([7, 8, 9, 10])
    expect(left[3]).toMatchObject({
      action: 'audit.prune',
      before: { anchorSeq: 0 },
      after: { anchorSeq: 6, deleted: 6, olderThan: daysAgo(30).toISOString(), retentionDays: 30 },
    })
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 4, anchorSeq: 6, lastSeq: 10 })

    // A second run finds nothing more to remove and records nothing.
    expect(await pruneAuditLog(db().store, 30, { now: NOW })).toMatchObject({ deleted: 0, anchorSeq: 6 })
    expect(await events()).toHaveLength(4)
  })

  test('after a prune, deleting the first remaining event still shows', async () => {
    await history()
    await pruneAuditLog(db().store, 30, { now: NOW })
    await q().deleteFrom('audit_events').where('seq', '=', 7).execute()
    expect(await verifyAuditChain(q())).toMatchObject({
      ok: false,
      firstBroken: { seq: 8, reason: BROKEN.link },
    })
  })

  test('retention null keeps everything', async () => {
    await history()
    expect(await pruneAuditLog(db().store, null, { now: NOW })).toEqual({
      deleted: 0,
      anchorSeq: null,
      olderThan: null,
    })
    expect(await events()).toHaveLength(9)
  })

  test('everything older: the whole chain goes, the prune event starts the rest', async () => {
    await history()
    expect(await pruneAuditLog(db().store, 5, { now: NOW })).toMatchObject({ deleted: 9, anchorSeq: 9 })
    expect((await events()).map((e) => [e.seq, e.action])).toEqual([[10, 'audit.prune']])
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 1, anchorSeq: 9 })
    await writeAt(NOW, 2)
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 3 })
  })

  test('cuts only at the start of the chain: an older event after a newer one waits', async () => {
    await writeAt(daysAgo(100), 2) // 1-2
    await writeAt(daysAgo(1), 1) // 3: a replica with a fast clock
    await writeAt(daysAgo(90), 2) // 4-5
    expect(await pruneAuditLog(db().store, 30, { now: NOW })).toMatchObject({ deleted: 2, anchorSeq: 2 })
    expect((await events()).map((e) => e.seq)).toEqual([3, 4, 5, 6])
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, anchorSeq: 2 })
  })

  test('prunes in batches, each one on the chain', async () => {
    await writeAt(daysAgo(100), 7)
    const store = db().store
    const steps = []
    for (;;) {
      const step = await store.write(admin, (w) => pruneAuditEvents(w.transaction, daysAgo(30), 3))
      steps.push(step)
      expect(await verifyAuditChain(q())).toMatchObject({ ok: true })
      if (!step.more) break
    }
    expect(steps.map((s) => [s.deleted, s.anchorSeq])).toEqual([
      [3, 3],
      [3, 6],
      [1, 7],
    ])
    expect(await events()).toHaveLength(0)
  })

  test('refuses to prune a stretch that was tampered with', async () => {
    await history()
    await sql`update audit_events set after = '{"i": 99}' where seq = 2`.execute(q())
    await expect(pruneAuditLog(db().store, 30, { now: NOW })).rejects.toThrow(
      /not pruning, the audit chain is broken at seq 2 \(hash mismatch: row content changed\)/,
    )
    expect(await events()).toHaveLength(9)
  })

  test('the service applies the security policy’s retentionDays', async () => {
    await history()
    const policies = new SecurityPolicyStore(q())
    const service = new AuditService(q())
    expect(await service.prune(policies, NOW)).toMatchObject({ deleted: 0, olderThan: null })
    await policies.save(q(), { ...DEFAULT_POLICY, audit: { retentionDays: 60 } })
    expect(await service.prune(policies, NOW)).toMatchObject({ deleted: 3, anchorSeq: 3 })
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, anchorSeq: 3 })
  })

  test('a bad retention is an error, not a prune of everything', async () => {
    await expect(pruneAuditLog(db().store, 0, { now: NOW })).rejects.toThrow(/positive integer/)
  })
})
