import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type Request, type Response } from 'express'
import { sql } from 'kysely'
import { requestLogging } from '../../src/http/request-logging'
import { auditRoutes } from '../../src/admin/audit-routes'
import { csvCell, type AuditRecord } from '../../src/admin/audit-service'
import type { AdminPrincipal } from '../../src/admin/authz/principal'
import type { RouteRule } from '../../src/admin/authz/route-rule'
import { forbidden } from '../../src/errors'
import { errorHandler } from '../../src/http/error-handler'
import { createLogger } from '../../src/logger'
import type { Actor } from '../../src/org/actor'
import type { AuditEntry } from '../../src/org/audit-log'
import { describeEachDatabase } from '../helpers/test-database'

const principal: AdminPrincipal = {
  adminId: '0b6c8d5e-57a7-4c0a-9a43-8f1f0e1c2d3e',
  name: 'auditor',
  via: 'token',
  grants: [],
}
const alice: Actor = { type: 'admin', id: 'a-1', name: 'Alice', ip: '192.0.2.1', userAgent: 'ua/1' }
const bob: Actor = { type: 'admin', id: 'b-2', name: 'bob' }

/** Parses RFC 4180 CSV (quoted cells, doubled quotes, CRLF) back into rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"'
        i++
      } else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(cell)
      cell = ''
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell)
      rows.push(row)
      row = []
      cell = ''
      i++
    } else cell += c
  }
  if (cell !== '' || row.length) rows.push([...row, cell])
  return rows
}

describeEachDatabase('audit routes', (db) => {
  let server: Server
  let base: string
  const rules: { path: string; rule: RouteRule }[] = []
  let denyExport = false
  let gate: { calls: number; allow: boolean } = { calls: 0, allow: true }

  beforeAll(async () => {
    const app = express()
    app.use(requestLogging(createLogger('silent')))
    app.locals.authorizer = {
      enforce: async (_p: AdminPrincipal, rule: RouteRule, req: Request) => {
        rules.push({ path: req.path, rule })
        if (denyExport && rule.kind === 'permission' && rule.action === 'audit.export')
          throw forbidden('no audit.export')
      },
    }
    app.use((_req, res, next) => {
      res.locals.admin = principal
      next()
    })
    app.use(
      '/api/v1/audit',
      auditRoutes({
        db: db().handle.db,
        gateWholeExport: async (_req: Request, res: Response) => {
          gate.calls++
          if (gate.allow) return true
          res.status(202).json({ approval: { status: 'pending' } })
          return false
        },
      }),
    )
    app.use(errorHandler)
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/audit`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  beforeEach(async () => {
    await db().reset()
    await db().handle.db.deleteFrom('audit_chain_head').execute()
    rules.length = 0
    denyExport = false
    gate = { calls: 0, allow: true }
  })

  const write = (actor: Actor, entries: AuditEntry[]) =>
    db().store.write(actor, async (w) => {
      for (const e of entries) await w.audit(e)
    })

  async function seed(): Promise<void> {
    await write(alice, [
      {
        action: 'person.update',
        targetType: 'person',
        targetId: 'p-1',
        before: { title: 'A' },
        after: { title: 'B' },
      },
      { action: 'admin.grant', targetType: 'admin', targetId: 'b-2', after: { role: 'auditor' } },
    ])
    await write(bob, [
      { action: 'admin.grant.revoke', targetType: 'admin', targetId: 'b-2', before: { role: 'auditor' } },
      {
        action: 'role.create',
        targetType: 'role',
        targetId: 'helpdesk',
        after: { permissions: ['person.read'] },
      },
      { action: 'admin_grant', targetType: 'admin', targetId: 'x' }, // `_` must not act as a wildcard
      { action: 'source.update', targetType: 'source', targetId: 's-1', after: { name: '=HYPERLINK("x")' } },
    ])
  }

  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`)
    return { status: res.status, headers: res.headers, text: await res.text() }
  }
  const json = async (path: string) => {
    const r = await get(path)
    return {
      ...r,
      body: JSON.parse(r.text) as { items: AuditRecord[]; nextCursor: string | null } & Record<
        string,
        unknown
      >,
    }
  }

  test('every route declares its authorization rule first', async () => {
    await seed()
    await get('/')
    await get('/verify')
    await get('/export?format=ndjson&actor=bob')
    expect(rules.map((r) => [r.path, r.rule.kind === 'permission' ? r.rule.action : r.rule.kind])).toEqual([
      ['/', 'audit.read'],
      ['/verify', 'audit.read'],
      ['/export', 'audit.export'],
    ])
    denyExport = true
    expect((await get('/export?actor=bob')).status).toBe(403)
  })

  test('lists newest first, keyset-paged, with the hash of each event', async () => {
    await seed()
    const first = await json('/?limit=4')
    expect(first.status).toBe(200)
    expect(first.body.items.map((i) => i.seq)).toEqual([6, 5, 4, 3])
    expect(first.body.items[0]).toMatchObject({ actorName: 'bob', action: 'source.update', targetId: 's-1' })
    expect(first.body.items[0]!.hash).toMatch(/^[0-9a-f]{64}$/)
    const second = await json(`/?limit=4&cursor=${first.body.nextCursor}`)
    expect(second.body.items.map((i) => i.seq)).toEqual([2, 1])
    expect(second.body.nextCursor).toBeNull()
    expect(second.body.items[1]).toMatchObject({
      actorType: 'admin',
      actorId: 'a-1',
      ip: '192.0.2.1',
      userAgent: 'ua/1',
      before: { title: 'A' },
      after: { title: 'B' },
    })
    expect((await json('/?order=asc&limit=2')).body.items.map((i) => i.seq)).toEqual([1, 2])
  })

  test.each([
    ['actor=alice', [1, 2]],
    ['actor=b-2', [3, 4, 5, 6]],
    ['action=admin.grant', [2]],
    ['action=admin.grant*', [2, 3]],
    ['action=admin_*', [5]],
    ['rbac=true', [2, 3, 4]],
    ['targetType=admin&targetId=b-2', [2, 3]],
    ['targetType=admin&actor=bob', [3, 5]],
  ])('filters: %s', async (query, seqs) => {
    await seed()
    const { body } = await json(`/?order=asc&${query}`)
    expect(body.items.map((i) => i.seq)).toEqual(seqs)
    const ndjson = await get(`/export?format=ndjson&${query}`)
    expect(
      ndjson.text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditRecord).seq),
    ).toEqual(seqs)
  })

  test('filters by time', async () => {
    await seed()
    const all = (await json('/?order=asc')).body.items
    const at = all[0]!.at
    expect((await json(`/?from=${encodeURIComponent(at)}`)).body.items).toHaveLength(6)
    expect((await json(`/?to=${encodeURIComponent(at)}`)).body.items).toHaveLength(0)
    expect((await json('/?from=2999-01-01')).body.items).toHaveLength(0)
  })

  test.each([
    ['limit=0'],
    ['limit=5000'],
    ['cursor=bm9wZQ'],
    ['from=yesterday'],
    ['from=2025-01-01T10:00:00'],
    ['action=*'],
    ['action=a*b'],
    ['rbac=yes'],
    ['unknown=1'],
  ])('rejects a bad query: %s', async (query) => {
    const r = await json(`/?${query}`)
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ error: { code: 'invalid' } })
  })

  test('verify names the first broken event', async () => {
    await seed()
    expect((await json('/verify')).body).toMatchObject({ ok: true, checked: 6, anchorSeq: 0, lastSeq: 6 })
    await sql`update audit_events set target_id = 'p-2' where seq = 1`.execute(db().handle.db)
    expect((await json('/verify')).body).toEqual({
      ok: false,
      checked: 0,
      firstBroken: { seq: 1, reason: 'hash mismatch: row content changed' },
    })
  })

  test('exports CSV: a header, RFC 4180 quoting, JSON before/after, no formulas', async () => {
    await seed()
    await write({ type: 'anonymous', id: null, name: '@evil, "quoted"\nname', userAgent: '-cmd|calc' }, [
      { action: 'auth.sign-in.failed', targetType: 'admin', targetId: '+1' },
    ])
    const r = await get('/export?format=csv&targetType=admin')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(r.headers.get('content-disposition')).toMatch(
      /^attachment; filename="orgsync-audit-\d{8}T\d{6}Z\.csv"$/,
    )
    const rows = parseCsv(r.text)
    expect(rows[0]).toEqual([
      'seq',
      'at',
      'actorType',
      'actorId',
      'actorName',
      'ip',
      'userAgent',
      'requestId',
      'action',
      'targetType',
      'targetId',
      'before',
      'after',
      'prevHash',
      'hash',
    ])
    expect(rows.map((row) => row[0])).toEqual(['seq', '2', '3', '5', '7'])
    const grant = rows[1]!
    expect(grant.slice(2, 5)).toEqual(['admin', 'a-1', 'Alice'])
    expect(grant[11]).toBe('')
    expect(grant[12]).toBe('{"role":"auditor"}')
    const failed = rows[4]!
    expect(failed[4]).toBe(`'@evil, "quoted"\nname`)
    expect(failed[6]).toBe(`'-cmd|calc`)
    expect(failed[10]).toBe(`'+1`)
    expect(r.text.endsWith('\r\n')).toBe(true)
    // The same formula guard applies inside JSON: the cell is the JSON text, which starts with {.
    const source = parseCsv((await get('/export?format=csv&targetType=source')).text)[1]!
    expect(source[12]).toBe('{"name":"=HYPERLINK(\\"x\\")"}')
  })

  test('csvCell guards every formula lead and quotes only when needed', () => {
    expect(['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx'].map(csvCell)).toEqual([
      "'=1+1",
      "'+1",
      "'-1",
      "'@SUM(A1)",
      "'\tx",
      `"'\rx"`,
    ])
    expect(csvCell('plain')).toBe('plain')
    expect(csvCell('a,b')).toBe('"a,b"')
    expect(csvCell('say "hi"')).toBe('"say ""hi"""')
    expect(csvCell(null)).toBe('')
    expect(csvCell(42)).toBe('42')
    expect(csvCell({ b: 1, a: [2] })).toBe('"{""a"":[2],""b"":1}"')
  })

  test('exports a large log page by page, in seq order, as NDJSON', async () => {
    await write(
      alice,
      Array.from({ length: 2600 }, (_, i) => ({
        action: 'person.create',
        targetType: 'person',
        targetId: `p-${i}`,
      })),
    )
    const r = await get('/export?format=ndjson&actor=alice')
    expect(r.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8')
    expect(r.headers.get('content-disposition')).toMatch(/filename="orgsync-audit-\d{8}T\d{6}Z\.ndjson"/)
    const lines = r.text.trimEnd().split('\n')
    expect(lines).toHaveLength(2600)
    expect(lines.map((l) => (JSON.parse(l) as AuditRecord).seq)).toEqual(
      Array.from({ length: 2600 }, (_, i) => i + 1),
    )
  })

  test('a client leaving mid-export stops it without harm', async () => {
    await write(
      alice,
      Array.from({ length: 5000 }, (_, i) => ({
        action: 'person.create',
        targetType: 'person',
        targetId: `p-${i}`,
      })),
    )
    const abort = new AbortController()
    const res = await fetch(`${base}/export?format=csv&actor=alice`, { signal: abort.signal })
    const reader = res.body!.getReader()
    expect((await reader.read()).done).toBe(false)
    abort.abort()
    await expect(reader.read()).rejects.toThrow()
    expect((await json('/verify')).body).toMatchObject({ ok: true })
  })

  test('the whole log goes through the gate; a filtered export does not; every export is audited', async () => {
    await seed()
    gate.allow = false
    const held = await get('/export?format=csv')
    expect(held.status).toBe(202)
    expect(JSON.parse(held.text)).toEqual({ approval: { status: 'pending' } })
    expect(gate.calls).toBe(1)

    gate.allow = true
    const whole = await get('/export')
    expect(whole.status).toBe(200)
    // NDJSON by default; it ends with its own audit.export event, written before it started.
    const lines = whole.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord)
    expect(lines.map((l) => l.action)).toEqual([
      'person.update',
      'admin.grant',
      'admin.grant.revoke',
      'role.create',
      'admin_grant',
      'source.update',
      'audit.export',
    ])
    expect(gate.calls).toBe(2)

    await get('/export?rbac=true')
    expect(gate.calls).toBe(2)

    const exports = await db()
      .handle.db.selectFrom('audit_events')
      .select(['actor_id', 'actor_name', 'after'])
      .where('action', '=', 'audit.export')
      .orderBy('seq')
      .execute()
    expect(exports).toEqual([
      { actor_id: principal.adminId, actor_name: 'auditor', after: { format: 'ndjson', filter: {} } },
      {
        actor_id: principal.adminId,
        actor_name: 'auditor',
        after: { format: 'ndjson', filter: { rbac: true } },
      },
    ])
    expect((await json('/verify')).body).toMatchObject({ ok: true, checked: 8 })
  })
})
