import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { trustProxies } from '../../src/http/client-ip'

/** A real express app on a real port that answers with what it takes the client's address to be. */
async function serve(trusted: string[], host: string): Promise<{ url: string; close(): Promise<void> }> {
  const app = express()
  app.set('trust proxy', trustProxies(trusted))
  app.get('/ip', (req, res) => {
    res.json({ ip: req.ip, ips: req.ips, protocol: req.protocol })
  })
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, host, () => resolve(s))
    s.once('error', reject)
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((err) => (err ? reject(err) : resolve()))
      }),
  }
}

async function seen(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ip: string; ips: string[]; protocol: string }> {
  const res = await fetch(`${url}/ip`, { headers })
  expect(res.status).toBe(200)
  return (await res.json()) as { ip: string; ips: string[]; protocol: string }
}

/** Whether this machine can listen on ::1 (some containers have no IPv6 loopback). */
async function hasIpv6Loopback(): Promise<boolean> {
  try {
    const probe = await serve([], '::1')
    await probe.close()
    return true
  } catch {
    return false
  }
}

describe('the trust proxy function', () => {
  test('trusts exactly the listed hops, whatever the hop number', () => {
    const trust = trustProxies(['10.0.0.0/8', '2001:db8::/32'])
    expect(trust('10.1.2.3', 0)).toBe(true)
    expect(trust('::ffff:10.1.2.3', 0)).toBe(true)
    expect(trust('2001:db8::1', 3)).toBe(true)
    expect(trust('203.0.113.9', 0)).toBe(false)
    expect(trust('garbage', 1)).toBe(false)
    expect(trust('10.1.2.3:8080', 1)).toBe(false)
  })

  test('no trusted proxies: nobody is trusted', () => {
    const trust = trustProxies([])
    expect(trust('127.0.0.1', 0)).toBe(false)
    expect(trust('::1', 0)).toBe(false)
  })

  test('a bad entry is refused naming it', () => {
    expect(() => trustProxies(['10.0.0.0/8', 'proxy.internal'])).toThrow(/"proxy\.internal" is not/)
  })
})

describe('the client address of a request to a real app', () => {
  const open: Array<{ close(): Promise<void> }> = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()))
  })
  const start = async (trusted: string[], host = '127.0.0.1') => {
    const s = await serve(trusted, host)
    open.push(s)
    return s.url
  }

  test('X-Forwarded-For is ignored when no proxy is trusted', async () => {
    const url = await start([])
    const r = await seen(url, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' })
    expect(r.ip).toBe('127.0.0.1')
    expect(r.protocol).toBe('http')
  })

  test('X-Forwarded-For is ignored from a hop that is not a trusted proxy', async () => {
    const url = await start(['10.0.0.0/8', '2001:db8::/32'])
    const r = await seen(url, { 'x-forwarded-for': '203.0.113.9' })
    expect(r.ip).toBe('127.0.0.1')
  })

  test('X-Forwarded-For is honoured from a trusted proxy', async () => {
    const url = await start(['127.0.0.1'])
    const r = await seen(url, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' })
    expect(r.ip).toBe('203.0.113.9')
    expect(r.protocol).toBe('https')
  })

  test('entries a client wrote itself, left of the trusted chain, are not believed', async () => {
    const url = await start(['127.0.0.0/8', '10.0.0.0/8'])
    // spoofed by the client · the client as our edge proxy saw it · an inner trusted proxy
    const r = await seen(url, { 'x-forwarded-for': '198.51.100.66, 203.0.113.9, 10.1.2.3' })
    expect(r.ip).toBe('203.0.113.9')
  })

  test('the chain stops at the first untrusted hop even if a trusted-looking one is further left', async () => {
    const url = await start(['127.0.0.1', '10.0.0.0/8'])
    // 10.9.9.9 is left of an untrusted hop: the client wrote it, so it proves nothing.
    const r = await seen(url, { 'x-forwarded-for': '10.9.9.9, 203.0.113.9' })
    expect(r.ip).toBe('203.0.113.9')
  })

  test('a forwarded entry that is not an address is where trust stops', async () => {
    const url = await start(['127.0.0.1'])
    const r = await seen(url, { 'x-forwarded-for': '203.0.113.9, not-an-ip' })
    expect(r.ip).toBe('not-an-ip')
  })

  test('a dual-stack socket reports an IPv4 proxy IPv4-mapped; it is trusted as the IPv4 address', async () => {
    let url: string
    try {
      url = await start(['127.0.0.1'], '::')
    } catch {
      return // no IPv6 at all here: nothing dual-stack to test
    }
    const viaV4 = `http://127.0.0.1:${new URL(url).port}`
    expect((await seen(viaV4)).ip).toBe('::ffff:127.0.0.1')
    expect((await seen(viaV4, { 'x-forwarded-for': '203.0.113.9' })).ip).toBe('203.0.113.9')
  })

  test('an IPv6 proxy and an IPv6 client', async () => {
    if (!(await hasIpv6Loopback())) return
    const untrusted = await start(['127.0.0.1'], '::1')
    expect((await seen(untrusted, { 'x-forwarded-for': '2001:db8::9' })).ip).toBe('::1')
    const trusted = await start(['::1/128'], '::1')
    expect((await seen(trusted, { 'x-forwarded-for': '2001:db8::9' })).ip).toBe('2001:db8::9')
  })
})
