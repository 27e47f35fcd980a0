import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type RequestHandler } from 'express'
import type { AdminPrincipal } from '../../src/admin/authz/principal'
import { adminAllowlist } from '../../src/admin/network-policy'
import { DEFAULT_POLICY, SecurityPolicyStore } from '../../src/admin/security-policy'
import { trustProxies } from '../../src/http/client-ip'
import { errorHandler } from '../../src/http/error-handler'
import { describeEachDatabase } from '../helpers/test-database'

const ADMIN: AdminPrincipal = { adminId: 'admin-7', name: 'Ada', via: 'token', grants: [] }

describeEachDatabase('the admin API allowlist', (db) => {
  let policy: SecurityPolicyStore
  let url: string
  let server: Server

  beforeAll(async () => {
    policy = new SecurityPolicyStore(db().handle.db)
    const app = express()
    // The test client is on loopback; as a trusted proxy it can claim any client address.
    app.set('trust proxy', trustProxies(['127.0.0.1']))
    const guard = adminAllowlist({ policy, store: db().store })
    const ok: RequestHandler = (_req, res) => {
      res.json({ ok: true })
    }
    app.use('/api/v1', guard, ok)
    // Mounted after authentication, the event names the admin.
    const signedIn: RequestHandler = (_req, res, next) => {
      res.locals.admin = ADMIN
      next()
    }
    app.use('/signed-in', signedIn, guard, ok)
    app.use(errorHandler)
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  })

  beforeEach(async () => {
    await db().reset()
    policy.invalidate()
  })

  const setAllowlist = (adminAllowlist: string[]) =>
    policy.save(db().handle.db, { ...DEFAULT_POLICY, network: { adminAllowlist } })

  const from = (client: string, path = '/api/v1/sources') =>
    fetch(`${url}${path}`, { headers: { 'x-forwarded-for': client, 'user-agent': 'curl/8.5' } })

  const denials = () =>
    db()
      .handle.db.selectFrom('audit_events')
      .select(['actor_type', 'actor_id', 'actor_name', 'ip', 'action', 'target_type', 'target_id', 'after'])
      .where('action', '=', 'network.denied')
      .orderBy('seq')
      .execute()

  test('with no allowlist (the default) the API is open from anywhere', async () => {
    expect((await from('203.0.113.9')).status).toBe(200)
    expect(await denials()).toEqual([])
  })

  test('addresses inside the allowlist pass, IPv4 and IPv6, without an audit event', async () => {
    await setAllowlist(['198.51.100.0/24', '2001:db8::/32'])
    expect((await from('198.51.100.7')).status).toBe(200)
    expect((await from('::ffff:198.51.100.7')).status).toBe(200)
    expect((await from('2001:db8::5')).status).toBe(200)
    expect(await denials()).toEqual([])
  })

  test('an address outside is refused with 403 and a network.denied audit event', async () => {
    await setAllowlist(['198.51.100.0/24', '2001:db8::/32'])
    const res = await from('203.0.113.9', '/api/v1/people?filter=name%20eq%20%22Ada%22')
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({
      error: {
        code: 'forbidden',
        message: "your address 203.0.113.9 is not in the admin API's IP allowlist",
      },
    })
    expect(await denials()).toEqual([
      {
        actor_type: 'system',
        actor_id: 'network-policy',
        actor_name: 'network-policy',
        ip: '203.0.113.9',
        action: 'network.denied',
        target_type: 'network',
        target_id: null,
        // the path without its query: filters may carry personal data
        after: { ip: '203.0.113.9', path: '/api/v1/people', method: 'GET' },
      },
    ])
  })

  test('an IPv6 address outside is named as such', async () => {
    await setAllowlist(['198.51.100.0/24'])
    const res = await from('2001:DB8::9')
    expect(res.status).toBe(403)
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      "your address 2001:db8::9 is not in the admin API's IP allowlist",
    )
    expect((await denials()).map((d) => d.ip)).toEqual(['2001:db8::9'])
  })

  test('after authentication the event names the admin', async () => {
    await setAllowlist(['198.51.100.0/24'])
    const res = await from('203.0.113.9', '/signed-in/x')
    expect(res.status).toBe(403)
    expect(await denials()).toMatchObject([
      {
        actor_type: 'admin',
        actor_id: 'admin-7',
        actor_name: 'Ada',
        ip: '203.0.113.9',
        after: { path: '/signed-in/x' },
      },
    ])
  })

  test('an allowlist saved on this replica applies to the next request', async () => {
    await setAllowlist(['203.0.113.0/24'])
    expect((await from('203.0.113.9')).status).toBe(200)
    await setAllowlist(['198.51.100.0/24'])
    expect((await from('203.0.113.9')).status).toBe(403)
    await setAllowlist([])
    expect((await from('203.0.113.9')).status).toBe(200)
  })
})
