import type { AddressInfo } from 'node:net'
import express, { type RequestHandler } from 'express'
import helmet from 'helmet'
import { securityHeaders } from '../../src/http/security-headers'

/** The headers one GET answer carries behind `middleware`, without the transport's own. */
async function headersBehind(middleware: RequestHandler, path = '/'): Promise<Record<string, string>> {
  const app = express()
  app.disable('x-powered-by')
  app.use(middleware)
  app.get('/', (_req, res) => res.json({ ok: true }))
  app.get('/own', (_req, res) => res.set('X-Frame-Options', 'DENY').json({ ok: true }))
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`)
    await res.arrayBuffer()
    const transport = new Set(['date', 'connection', 'keep-alive', 'content-length', 'etag'])
    return Object.fromEntries([...res.headers].filter(([name]) => !transport.has(name)))
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
}

describe('security headers', () => {
  test("are exactly helmet's defaults", async () => {
    const ours = await headersBehind(securityHeaders())
    expect(ours).toEqual(await headersBehind(helmet()))
    expect(ours).toMatchObject({
      'content-security-policy': expect.stringContaining("default-src 'self'"),
      'strict-transport-security': expect.stringContaining('max-age='),
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
    })
  })

  test('a route can still set one of them its own way', async () => {
    expect((await headersBehind(securityHeaders(), '/own'))['x-frame-options']).toBe('DENY')
  })
})
