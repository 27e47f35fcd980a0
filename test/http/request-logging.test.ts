import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import express from 'express'
import { requestLogging } from '../../src/http/request-logging'
import { createLogger } from '../../src/logger'

/** An app behind requestLogging whose log lines land in `lines`. */
async function serve(level: string) {
  const lines: Record<string, unknown>[] = []
  const waiting: { n: number; resolve: () => void }[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>)
      for (const w of waiting.filter((w) => lines.length >= w.n)) w.resolve()
      done()
    },
  })
  /** Resolves once `n` lines have been written (the line is written on the response's close). */
  const linesWritten = (n: number) =>
    new Promise<void>((resolve) => (lines.length >= n ? resolve() : waiting.push({ n, resolve })))
  const app = express()
  app.use(requestLogging(createLogger(level, sink)))
  app.get('/ok', (_req, res) => res.json({ ok: true }))
  app.get('/missing', (_req, res) => res.status(404).json({}))
  app.get('/boom', (req, res) => {
    req.log.error({ detail: 'inside' }, 'handler saw a failure')
    res.status(500).json({})
  })
  app.get('/healthz', (_req, res) => res.json({ ok: true }))
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { headers })
    await res.arrayBuffer()
    return res
  }
  return { lines, linesWritten, get, close: () => new Promise((resolve) => server.close(resolve)) }
}

describe('request logging', () => {
  test('one compact line per request at info: id, method, url, status, time; no headers', async () => {
    const app = await serve('info')
    try {
      const res = await app.get('/ok?x=1', {
        authorization: 'Bearer secret-token',
        'x-request-id': 'trace-1',
      })
      expect(res.headers.get('x-request-id')).toBe('trace-1')
      await app.linesWritten(1)
      const [line] = app.lines
      expect(app.lines).toHaveLength(1)
      expect(line).toMatchObject({
        level: 30,
        msg: 'request completed',
        req: { id: 'trace-1', method: 'GET', url: '/ok?x=1' },
        res: { statusCode: 200 },
      })
      expect(typeof line!.responseTime).toBe('number')
      expect(JSON.stringify(line)).not.toContain('secret-token')
    } finally {
      await app.close()
    }
  })

  test('4xx at warn, 5xx at error as "request errored", with what the handler logged on req.log; probes not logged', async () => {
    const app = await serve('info')
    try {
      // The probe first: a line of its own would come before the others.
      await app.get('/healthz')
      await app.get('/missing')
      await app.get('/boom', { 'x-request-id': 'trace-boom' })
      await app.linesWritten(3)
      expect(app.lines.map((l) => [l.level, l.msg])).toEqual([
        [40, 'request completed'],
        [50, 'handler saw a failure'],
        [50, 'request errored'],
      ])
      expect(app.lines[1]).toMatchObject({ req: { id: 'trace-boom', url: '/boom' }, detail: 'inside' })
    } finally {
      await app.close()
    }
  })

  test('below the level nothing is written, and a sane request id is still handed out', async () => {
    const app = await serve('warn')
    try {
      const res = await app.get('/ok')
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      await app.get('/missing')
      await app.linesWritten(1)
      expect(app.lines.map((l) => [l.level, l.msg])).toEqual([[40, 'request completed']])
    } finally {
      await app.close()
    }
  })
})
