import { sql } from 'kysely'
import { canonicalJson } from '../../src/canonical-json'
import { openDatabase } from '../../src/db/open-database'
import type { Actor } from '../../src/org/actor'
import {
  BROKEN,
  eventHash,
  eventJson,
  eventJsonParts as eventJsonPartsOf,
  GENESIS_HASH,
  lockChainHead,
  saveChainHead,
  valueJson,
  verifyAuditChain,
  type AuditEventFields,
} from '../../src/org/audit-chain'
import { recordAuditEvents, type AuditEntry } from '../../src/org/audit-log'
import { OrgStore } from '../../src/org/org-store'
import { describeEachDatabase } from '../helpers/test-database'

const admin: Actor = {
  type: 'admin',
  id: '6f1c1e36-9a43-4a5c-8f0e-0a0d1b8c0b11',
  name: 'alice',
  ip: '192.0.2.7',
  requestId: 'req-1',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0',
}

const entry = (i: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  action: 'person.update',
  targetType: 'person',
  targetId: `p-${i}`,
  before: { title: 'Engineer', version: i },
  after: { title: 'Senior engineer', version: i + 1 },
  ...extra,
})

/** Values whose JSON a jsonb round trip could plausibly disturb: key order, numbers, unicode, nesting. */
const TRICKY: unknown[] = [
  { b: 1, a: 2, B: 3, _: 4, é: 5, '10': 6, '2': 7, '': 8, 'a b': 9, __proto__x: 10 },
  JSON.parse('{"__proto__": {"x": 1}, "z": [3, 2, 1]}'),
  {
    n: [
      0,
      -0,
      1,
      -1,
      0.1,
      1e-7,
      1.5e-10,
      1e21,
      1.7976931348623157e308,
      5e-324,
      123456789012345680000,
      2 ** 53,
    ],
  },
  { n: [3.14159, -273.15, 1e100, 0.000001, 100, 1e6] },
  { s: 'quote " backslash \\ slash / tab \t newline \n cr \r bell \u0007 del \u007f' },
  { s: 'ünïcödé 日本語 עברית العربية 😀 👩‍👩‍👧 e\u0301 \u2028 \u2029 \ufeff \uffff' },
  [[], {}, [[[]]], [{ b: [{ d: 1, c: 2 }], a: null }], [true, false, null]],
  { deep: { z: { y: { x: { w: [1, { v: 'u', t: 's' }] } } } } },
  { date: new Date('2025-03-04T05:06:07.089Z'), skipped: undefined, fn: () => 1 },
  'a plain string',
  12345,
  true,
  null,
  [undefined, () => 1],
]

describe('audit chain: canonical JSON', () => {
  test.each(TRICKY.map((v) => [v]))('valueJson(%j) is the text canonicalJson gives', (value) => {
    expect(valueJson(value)).toBe(canonicalJson(value) ?? 'null')
  })

  test('no value at all is null', () => {
    expect(valueJson(undefined)).toBe('null')
    expect(valueJson(() => 1)).toBe('null')
  })

  test('eventJson is the canonical JSON of the event as one object', () => {
    const fields: AuditEventFields = {
      at: new Date('2025-01-02T03:04:05.678Z'),
      actorType: 'anonymous',
      actorId: null,
      actorName: 'mallory "the" <script>',
      ip: '2001:db8::1',
      userAgent: 'curl/8.0',
      requestId: null,
      action: 'admin.signin.failure',
      targetType: 'admin',
      targetId: null,
    }
    for (const [before, after] of [
      [TRICKY[0], TRICKY[1]],
      [undefined, TRICKY[6]],
      [TRICKY[2], null],
    ]) {
      const text = eventJson(fields, valueJson(before), valueJson(after))
      expect(text).toBe(
        canonicalJson({
          ...fields,
          at: fields.at.toISOString(),
          before: before ?? null,
          after: after ?? null,
        }),
      )
      expect(JSON.parse(text)).toBeTruthy()
    }
  })

  test('the hash covers the previous hash and the text', () => {
    const a = eventHash(GENESIS_HASH, '{}')
    expect(a).toHaveLength(32)
    expect(eventHash(GENESIS_HASH, '{}').equals(a)).toBe(true)
    expect(eventHash(a, '{}').equals(a)).toBe(false)
    expect(eventHash(GENESIS_HASH, '{ }').equals(a)).toBe(false)
  })
})

describeEachDatabase('audit chain', (db, kind) => {
  const q = () => db().handle.db

  beforeEach(async () => {
    await db().reset()
    // reset() empties audit_events; the head goes with it so each test starts a fresh chain.
    await q().deleteFrom('audit_chain_head').execute()
  })

  const write = (entries: AuditEntry[], actor: Actor = admin) =>
    db().store.write(actor, (w) => Promise.all(entries.map((e) => w.audit(e))))

  const rows = () => q().selectFrom('audit_events').selectAll().orderBy('seq').execute()
  const head = () => q().selectFrom('audit_chain_head').selectAll().executeTakeFirstOrThrow()
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

  async function writeTen(): Promise<number[]> {
    for (let i = 0; i < 5; i++) await write([entry(2 * i), entry(2 * i + 1)])
    return (await rows()).map((r) => r.seq)
  }

  /** Event `i` as a replica on an older release writes it: as the system, its own request id, now. */
  function oldReplicaEvent(i: number): { e: AuditEntry; fields: AuditEventFields } {
    const e = entry(i)
    const fields: AuditEventFields = {
      at: new Date(),
      actorType: 'system',
      actorId: null,
      actorName: 'old-replica',
      ip: null,
      userAgent: null,
      requestId: `old-${i}`,
      action: e.action,
      targetType: e.targetType,
      targetId: e.targetId,
    }
    return { e, fields }
  }

  test('each event carries its predecessor hash; the head names the newest', async () => {
    await writeTen()
    const all = await rows()
    expect(all).toHaveLength(10)
    expect(hex(all[0]!.prev_hash)).toBe(hex(GENESIS_HASH))
    for (let i = 1; i < all.length; i++) expect(hex(all[i]!.prev_hash)).toBe(hex(all[i - 1]!.hash))
    const h = await head()
    expect(h).toMatchObject({ last_seq: all.at(-1)!.seq, anchor_seq: 0 })
    expect(hex(h.last_hash)).toBe(hex(all.at(-1)!.hash))
    expect(all[0]).toMatchObject({
      actor_type: 'admin',
      actor_id: admin.id,
      actor_name: 'alice',
      ip: '192.0.2.7',
      request_id: 'req-1',
      user_agent: admin.userAgent,
      before: { title: 'Engineer', version: 0 },
    })
    expect(await verifyAuditChain(q())).toEqual({
      ok: true,
      checked: 10,
      anchorSeq: 0,
      lastSeq: all.at(-1)!.seq,
      lastHash: hex(all.at(-1)!.hash),
    })
  })

  test('a transaction with more events than are held in memory appends them as it goes, chained in order', async () => {
    const n = 12_345
    await db().store.write(admin, async (w) => {
      for (let i = 0; i < n; i++) await w.audit(entry(i))
      // Spilled before commit: already in the table inside the transaction, at most 2,000 still held.
      const inside = await w.transaction
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<number>().as('c'))
        .executeTakeFirstOrThrow()
      expect(Number(inside.c)).toBeGreaterThanOrEqual(n - 2000)
      expect(Number(inside.c)).toBeLessThan(n)
    })
    const targets = await q().selectFrom('audit_events').select('target_id').orderBy('seq').execute()
    expect(targets.map((t) => t.target_id)).toEqual(Array.from({ length: n }, (_, i) => `p-${i}`))
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: n })
  })

  test('a spilled transaction that fails leaves no event and no head change behind', async () => {
    await write([entry(1)])
    const before = await verifyAuditChain(q())
    await expect(
      db().store.write(admin, async (w) => {
        for (let i = 0; i < 6000; i++) await w.audit(entry(i))
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await verifyAuditChain(q())).toEqual(before)
    expect((await rows()).length).toBe(1)
  })

  test('an empty log verifies', async () => {
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 0, anchorSeq: 0, lastSeq: 0 })
  })

  test('values survive the jsonb round trip: what verify re-reads hashes as written', async () => {
    await write(TRICKY.map((v, i) => entry(i, { before: v, after: { wrapped: v } })))
    const stored = await rows()
    TRICKY.forEach((v, i) => {
      expect(valueJson(stored[i]!.before)).toBe(valueJson(v))
      expect(valueJson(stored[i]!.after)).toBe(valueJson({ wrapped: v }))
    })
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: TRICKY.length })
  })

  test('a long user agent is cut; anonymous actors and missing fields are recorded', async () => {
    await write([entry(1)], { type: 'anonymous', id: null, name: 'nobody', userAgent: 'x'.repeat(2000) })
    await write([{ action: 'system.tick', targetType: 'system', targetId: null }], {
      type: 'system',
      id: 'job',
      name: 'job',
    })
    const [a, b] = await rows()
    expect(a).toMatchObject({ actor_type: 'anonymous', actor_id: null })
    expect(a!.user_agent).toHaveLength(512)
    expect(b).toMatchObject({ ip: null, user_agent: null, request_id: null, before: null, after: null })
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 2 })
  })

  test('thousands of events in one write chain in seq order across insert chunks', async () => {
    await write(Array.from({ length: 2500 }, (_, i) => entry(i)))
    const all = await rows()
    expect(all.map((r) => r.target_id)).toEqual(Array.from({ length: 2500 }, (_, i) => `p-${i}`))
    expect(await verifyAuditChain(q(), { pageSize: 700 })).toMatchObject({ ok: true, checked: 2500 })
  })

  test('a rolled-back write leaves neither events nor a moved head', async () => {
    await writeTen()
    const before = await head()
    await expect(
      db().store.write(admin, async (w) => {
        await w.audit(entry(99))
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    expect(await head()).toEqual(before)
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 10 })
  })

  test('units sharing a transaction keep their own actors; their events are appended after all their work', async () => {
    await write([entry(0)])
    const bob: Actor = { type: 'source', id: 'scim-1', name: 'Entra (SCIM token t1)', requestId: 'req-2' }
    const units = [admin, bob, { ...admin, requestId: 'req-3', ip: null }].map((actor, u) => ({
      actor,
      work: async (w: { audit: (e: AuditEntry) => Promise<void> }) => {
        await w.audit(entry(10 * u + 1))
        await w.audit(entry(10 * u + 2))
        return u
      },
    }))
    const appends: string[] = []
    const results = await db().store.writeEach(
      units.map((unit) => ({
        actor: unit.actor,
        work: async (w) => {
          const r = await unit.work(w)
          // Only the earlier write's event so far: the units' events wait for the end.
          const n = await w.transaction
            .selectFrom('audit_events')
            .select((eb) => eb.fn.countAll<number>().as('c'))
            .executeTakeFirstOrThrow()
          appends.push(String(n.c))
          return r
        },
      })),
    )
    expect(results).toEqual([0, 1, 2])
    expect(appends).toEqual(['1', '1', '1'])
    const all = await rows()
    expect(all.map((r) => [r.target_id, r.actor_name, r.request_id, r.ip])).toEqual([
      ['p-0', 'alice', 'req-1', '192.0.2.7'],
      ['p-1', 'alice', 'req-1', '192.0.2.7'],
      ['p-2', 'alice', 'req-1', '192.0.2.7'],
      ['p-11', 'Entra (SCIM token t1)', 'req-2', null],
      ['p-12', 'Entra (SCIM token t1)', 'req-2', null],
      ['p-21', 'alice', 'req-3', null],
      ['p-22', 'alice', 'req-3', null],
    ])
    expect(all[3]).toMatchObject({ actor_type: 'source', actor_id: 'scim-1', user_agent: null })
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 7 })
  })

  test('a replica still on the release before 0010 appends one actor per call alongside: one chain', async () => {
    // What that release sent: orgsync_audit_append (migration 0009), one actor and time per call.
    const oldAppend = (i: number) =>
      db()
        .store.db.transaction()
        .execute(async (trx) => {
          const { e, fields } = oldReplicaEvent(i)
          const at = fields.at
          const { head, mid, tail } = eventJsonPartsOf(fields)
          const events = [
            [e.action, e.targetType, e.targetId, valueJson(e.before), valueJson(e.after), head, mid, tail],
          ]
          await sql`select orgsync_audit_append(${at}::timestamptz, ${'system'}::text, ${null}::text,
          ${'old-replica'}::text, ${null}::text, ${null}::text, ${`old-${i}`}::text, ${JSON.stringify(events)}::jsonb)`.execute(
            trx,
          )
        })
    for (let i = 0; i < 6; i++) {
      if (i % 2) await oldAppend(i)
      else await write([entry(i), entry(i + 100)])
    }
    const all = await rows()
    expect(all.map((r) => r.request_id)).toEqual([
      'req-1',
      'req-1',
      'old-1',
      'req-1',
      'req-1',
      'old-3',
      'req-1',
      'req-1',
      'old-5',
    ])
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 9 })
  })

  test('appending outside a transaction is refused', async () => {
    await expect(recordAuditEvents(q(), admin, [entry(1)])).rejects.toThrow(/needs a transaction/)
  })

  describe('tampering shows', () => {
    test('a changed row: hash mismatch at that row', async () => {
      const seqs = await writeTen()
      await sql`update audit_events set after = '{"title": "CEO", "version": 5}' where seq = ${seqs[4]}`.execute(
        q(),
      )
      expect(await verifyAuditChain(q())).toEqual({
        ok: false,
        checked: 4,
        firstBroken: { seq: seqs[4], reason: BROKEN.content },
      })
    })

    test.each([
      ['actor_name', sql`actor_name = 'bob'`],
      ['ip', sql`ip = '198.51.100.1'`],
      ['user_agent', sql`user_agent = 'curl'`],
      ['at (a millisecond)', sql`at = at + interval '1 millisecond'`],
      ['action', sql`action = 'person.read'`],
      ['target_id', sql`target_id = 'p-x'`],
      ['before (a key added)', sql`before = '{"version": 2, "title": "Engineer", "x": 1}'`],
    ])('a changed %s', async (_what, set) => {
      const seqs = await writeTen()
      await sql`update audit_events set ${set} where seq = ${seqs[2]}`.execute(q())
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        firstBroken: { seq: seqs[2], reason: BROKEN.content },
      })
    })

    test('the same content written back in another key order still verifies', async () => {
      const seqs = await writeTen()
      await sql`update audit_events set before = '{"version": 2, "title": "Engineer"}' where seq = ${seqs[2]}`.execute(
        q(),
      )
      expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 10 })
    })

    test('a deleted middle row: chain broken at the next row', async () => {
      const seqs = await writeTen()
      await q().deleteFrom('audit_events').where('seq', '=', seqs[5]!).execute()
      expect(await verifyAuditChain(q())).toEqual({
        ok: false,
        checked: 5,
        firstBroken: { seq: seqs[6], reason: BROKEN.link },
      })
    })

    test('a deleted first row: chain broken at the new first row', async () => {
      const seqs = await writeTen()
      await q().deleteFrom('audit_events').where('seq', '=', seqs[0]!).execute()
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        firstBroken: { seq: seqs[1], reason: BROKEN.link },
      })
    })

    test('the deleted last row (or rows): head mismatch', async () => {
      const seqs = await writeTen()
      await q().deleteFrom('audit_events').where('seq', '=', seqs[9]!).execute()
      expect(await verifyAuditChain(q())).toEqual({
        ok: false,
        checked: 9,
        firstBroken: { seq: seqs[9], reason: BROKEN.headDeleted },
      })
      await q().deleteFrom('audit_events').where('seq', '>=', seqs[7]!).execute()
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        checked: 7,
        firstBroken: { reason: BROKEN.headDeleted },
      })
    })

    test('every row deleted: head mismatch', async () => {
      const seqs = await writeTen()
      await q().deleteFrom('audit_events').execute()
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        checked: 0,
        firstBroken: { seq: seqs[9] },
      })
    })

    test('a row rewritten with a recomputed hash: the next row no longer links', async () => {
      const seqs = await writeTen()
      const all = await rows()
      const victim = all[3]!
      const forged = { ...entry(3), after: { title: 'Intern', version: 4 } }
      const text = eventJson(
        {
          at: victim.at,
          actorType: 'admin',
          actorId: admin.id,
          actorName: 'alice',
          ip: admin.ip!,
          userAgent: admin.userAgent!,
          requestId: 'req-1',
          action: forged.action,
          targetType: forged.targetType,
          targetId: forged.targetId,
        },
        valueJson(forged.before),
        valueJson(forged.after),
      )
      const hash = eventHash(victim.prev_hash, text)
      await q()
        .updateTable('audit_events')
        .set({ after: valueJson(forged.after), hash })
        .where('seq', '=', victim.seq)
        .execute()
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        checked: 4,
        firstBroken: { seq: seqs[4], reason: BROKEN.link },
      })
    })

    test('the newest row rewritten with a recomputed hash: head mismatch', async () => {
      const seqs = await writeTen()
      const last = (await rows()).at(-1)!
      const text = eventJson(
        {
          at: last.at,
          actorType: 'admin',
          actorId: admin.id,
          actorName: 'alice',
          ip: admin.ip!,
          userAgent: admin.userAgent!,
          requestId: 'req-1',
          action: 'nothing',
          targetType: 'person',
          targetId: null,
        },
        'null',
        'null',
      )
      await q()
        .updateTable('audit_events')
        .set({
          action: 'nothing',
          target_id: null,
          before: null,
          after: null,
          hash: eventHash(last.prev_hash, text),
        })
        .where('seq', '=', last.seq)
        .execute()
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        checked: 9,
        firstBroken: { seq: seqs[9], reason: BROKEN.headChanged },
      })
    })

    test('a row inserted behind orgsync’s back: not in the head', async () => {
      await writeTen()
      const last = (await rows()).at(-1)!
      const at = new Date()
      const text = eventJson(
        {
          at,
          actorType: 'system',
          actorId: null,
          actorName: null,
          ip: null,
          userAgent: null,
          requestId: null,
          action: 'x',
          targetType: 'x',
          targetId: null,
        },
        'null',
        'null',
      )
      const inserted = await q()
        .insertInto('audit_events')
        .values({
          at,
          actor_type: 'system',
          actor_id: null,
          actor_name: null,
          ip: null,
          user_agent: null,
          request_id: null,
          action: 'x',
          target_type: 'x',
          target_id: null,
          prev_hash: Buffer.from(last.hash),
          hash: eventHash(last.hash, text),
        })
        .returning('seq')
        .executeTakeFirstOrThrow()
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        checked: 10,
        firstBroken: { seq: inserted.seq, reason: BROKEN.beyondHead },
      })
    })

    test('the head row deleted: the old events are not in it', async () => {
      const seqs = await writeTen()
      await q().deleteFrom('audit_chain_head').execute()
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        firstBroken: { seq: seqs[0], reason: BROKEN.beyondHead },
      })
      // Writing goes on (no outage), and the break stays visible.
      await write([entry(100)])
      expect(await verifyAuditChain(q())).toMatchObject({
        ok: false,
        firstBroken: { seq: seqs[9]! + 1, reason: BROKEN.link },
      })
    })
  })

  if (kind === 'postgres') {
    test('replicas writing at once still build one chain, in commit order', async () => {
      const second = await openDatabase({ kind: 'postgres', url: db().url!, poolMax: 4 })
      try {
        const stores = [db().store, new OrgStore(second.db)]
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            stores[i % 2]!.write({ ...admin, requestId: `r-${i}` }, async (w) => {
              await w.audit(entry(i))
              // Work inside the transaction before the flush, so transactions overlap.
              await sql`select pg_sleep(${(i % 5) / 200})`.execute(w.transaction)
              await w.audit(entry(i + 1000))
            }),
          ),
        )
      } finally {
        await second.close()
      }
      expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 80 })
      // One transaction's events stay together in the chain.
      const all = await rows()
      for (let i = 0; i < all.length; i += 2) expect(all[i]!.request_id).toBe(all[i + 1]!.request_id)
    })

    test.each([
      ['with the head row in place', true],
      ['starting from a missing head row', false],
    ])(
      'a replica still on the release before 0009 appends alongside this one, %s: one chain',
      async (_, headFirst) => {
        if (headFirst) await write([entry(999)])
        // What that release did: advisory lock, head read for update, rows hashed in JS, head written.
        const oldReleaseAppend = (i: number) =>
          db()
            .store.db.transaction()
            .execute(async (trx) => {
              const head = await lockChainHead(trx)
              const { e, fields } = oldReplicaEvent(i)
              const at = fields.at
              const before = valueJson(e.before)
              const after = valueJson(e.after)
              const hash = eventHash(head.lastHash, eventJson(fields, before, after))
              // Work under the lock, so the new release's appenders queue behind it.
              await sql`select pg_sleep(0.005)`.execute(trx)
              const { seq } = await trx
                .insertInto('audit_events')
                .values({
                  at,
                  actor_type: 'system',
                  actor_id: null,
                  actor_name: 'old-replica',
                  ip: null,
                  user_agent: null,
                  request_id: `old-${i}`,
                  action: e.action,
                  target_type: e.targetType,
                  target_id: e.targetId,
                  before,
                  after,
                  prev_hash: Buffer.from(head.lastHash),
                  hash,
                })
                .returning('seq')
                .executeTakeFirstOrThrow()
              await saveChainHead(trx, { ...head, lastSeq: seq, lastHash: hash })
            })
        await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            i % 3 === 0 ? oldReleaseAppend(i) : write([entry(i), entry(i + 100)]),
          ),
        )
        expect(await verifyAuditChain(q())).toMatchObject({
          ok: true,
          checked: 10 + 20 * 2 + (headFirst ? 1 : 0),
        })
      },
    )

    test('writers racing to a missing head row start one chain at genesis', async () => {
      await q().deleteFrom('audit_chain_head').execute()
      const second = await openDatabase({ kind: 'postgres', url: db().url!, poolMax: 4 })
      try {
        const stores = [db().store, new OrgStore(second.db)]
        await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            stores[i % 2]!.write({ ...admin, requestId: `m-${i}` }, (w) => w.audit(entry(i))),
          ),
        )
      } finally {
        await second.close()
      }
      expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 12 })
      expect(await q().selectFrom('audit_chain_head').select('id').execute()).toHaveLength(1)
    })

    test('verify reads one snapshot while writers go on', async () => {
      await write(Array.from({ length: 3000 }, (_, i) => entry(i)))
      const verifying = verifyAuditChain(q(), { pageSize: 100 })
      await Promise.all(Array.from({ length: 10 }, (_, i) => write([entry(5000 + i)])))
      expect(await verifying).toMatchObject({ ok: true })
      expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 3010 })
    })
  }
})
