import { randomBytes, randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildServices } from '../../src/wiring'
import { SecretBox } from '../../src/crypto/secret-box'
import { openDatabase, type DatabaseHandle } from '../../src/db/open-database'
import { createApp } from '../../src/http/app'
import { createLogger } from '../../src/logger'
import type { Actor } from '../../src/org/actor'
import { OrgStore } from '../../src/org/org-store'
import { databaseUrl, onServer } from '../helpers/postgres-admin'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase, openTestDatabase, type DatabaseKind } from '../helpers/test-database'

const setup: Actor = { type: 'admin', id: null, name: 't' }

/** The app over a database handle that is not a migrated test database (no bootstrap, no token). */
async function serveBare(handle: DatabaseHandle): Promise<{ url: string; close(): Promise<void> }> {
  const store = new OrgStore(handle.db)
  const app = createApp({
    store,
    ...buildServices({
      store,
      box: new SecretBox(randomBytes(32)),
      connectors: {},
      logger: createLogger('silent'),
    }),
    logger: createLogger('silent'),
  })
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err ? reject(err) : resolve()))
      }),
  }
}

/** An empty database that nobody migrated. */
async function openUnmigrated(
  kind: DatabaseKind,
): Promise<{ handle: DatabaseHandle; drop(): Promise<void> }> {
  if (kind === 'pglite') {
    const handle = await openDatabase({ kind: 'pglite' })
    return { handle, drop: () => handle.close() }
  }
  const server = process.env.TEST_DATABASE_URL!
  const name = `orgsync_test_bare_${randomBytes(6).toString('hex')}`
  await onServer(server, [`create database ${name}`])
  const handle = await openDatabase({ kind: 'postgres', url: databaseUrl(server, name), poolMax: 2 })
  return {
    handle,
    async drop() {
      await handle.close()
      await onServer(server, [`drop database if exists ${name} with (force)`])
    },
  }
}

/** The sample value of one series of a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)\{(.*)\} (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const got = new Map([...m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]))
    if (want.every(([k, v]) => got.get(k) === v)) return Number(m[3])
  }
  return undefined
}

describeEachDatabase('health, readiness and metrics', (db) => {
  let app: TestApp

  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(async () => {
    await app?.close()
  })

  test('/healthz answers 200 without a token', async () => {
    const res = await fetch(`${app.url}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok' })
  })

  test('/readyz is 200 once migrations are applied', async () => {
    const res = await fetch(`${app.url}/readyz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ready' })
  })

  test('/readyz is 503 naming the pending migrations on a database nobody migrated', async () => {
    const bare = await openUnmigrated(db().kind)
    const served = await serveBare(bare.handle)
    try {
      const res = await fetch(`${served.url}/readyz`)
      expect(res.status).toBe(503)
      const body = (await res.json()) as { status: string; reason: string }
      expect(body.status).toBe('unavailable')
      expect(body.reason).toMatch(/^migrations not applied: .*0001-org-store/)
      // Liveness does not depend on the database.
      expect((await fetch(`${served.url}/healthz`)).status).toBe(200)
    } finally {
      await served.close()
      await bare.drop()
    }
  }, 60_000)

  test('/readyz is 503 with a reason when the database is gone', async () => {
    const own = await openTestDatabase(db().kind)
    const ownApp = await startTestApp(own)
    try {
      expect((await fetch(`${ownApp.url}/readyz`)).status).toBe(200)
      await own.close()
      const res = await fetch(`${ownApp.url}/readyz`)
      expect(res.status).toBe(503)
      expect(await res.json()).toEqual({ status: 'unavailable', reason: 'database unreachable' })
      expect((await fetch(`${ownApp.url}/healthz`)).status).toBe(200)
    } finally {
      await ownApp.close()
    }
  }, 60_000)

  test('/metrics exposes process metrics and request durations by route pattern and status', async () => {
    // A fresh app: its own registry, so the counts below are exactly this test's requests.
    await db().reset()
    const fresh = await startTestApp(db())
    try {
      const person = await db().store.write(setup, (w) => w.createPerson({ userName: 'mia' }))
      const missing = randomUUID()
      expect((await fresh.api('GET', '/api/v1/sources')).status).toBe(200)
      expect((await fresh.api('GET', '/api/v1/sources')).status).toBe(200)
      expect((await fresh.api('POST', '/api/v1/sources', { type: 'nope', name: 'x' })).status).toBe(400)
      expect((await fresh.api('GET', `/api/v1/people/${person.id}`)).status).toBe(200)
      expect((await fresh.api('GET', `/api/v1/people/${missing}`)).status).toBe(404)
      expect((await fresh.api('GET', '/api/v1/people/not-a-uuid')).status).toBe(404)
      expect((await fresh.api('GET', '/api/v1/people?limit=0')).status).toBe(400)
      expect((await fresh.api('DELETE', `/api/v1/departments/${missing}`)).status).toBe(404)
      expect((await fetch(`${fresh.url}/api/v1/people/${missing}`)).status).toBe(401)
      expect((await fresh.api('GET', `/api/v1/nothing/${missing}`)).status).toBe(404)

      const res = await fetch(`${fresh.url}/metrics`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
      const text = await res.text()

      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m)
      expect(text).toMatch(/^process_resident_memory_bytes \d/m)
      expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m)
      expect(text).toContain('# TYPE http_request_duration_seconds histogram')

      const count = (method: string, route: string, status: string) =>
        sample(text, 'http_request_duration_seconds_count', { method, route, status_code: status })
      expect(count('GET', '/api/v1/sources', '200')).toBe(2)
      expect(count('POST', '/api/v1/sources', '400')).toBe(1)
      expect(count('GET', '/api/v1/people/:id', '200')).toBe(1)
      expect(count('GET', '/api/v1/people/:id', '404')).toBe(2)
      expect(count('GET', '/api/v1/people', '400')).toBe(1)
      expect(count('DELETE', '/api/v1/departments/:id', '404')).toBe(1)
      // Refused before any route matched, and no route at all: one label, never the path.
      expect(count('GET', 'unmatched', '401')).toBe(1)
      expect(count('GET', 'unmatched', '404')).toBe(1)
      expect(
        sample(text, 'http_request_duration_seconds_bucket', {
          route: '/api/v1/people/:id',
          status_code: '404',
          le: '+Inf',
        }),
      ).toBe(2)

      // No raw ids in any label.
      expect(text).not.toContain(person.id)
      expect(text).not.toContain(missing)
      expect(text).not.toContain('not-a-uuid')
      const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]))
      for (const r of routes) expect(r).toMatch(/^(unmatched|\/[\w/:-]*)$/)
      expect([...routes].some((r) => /[0-9a-f]{8}-/.test(r!))).toBe(false)
    } finally {
      await fresh.close()
    }
  })
})
