import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runTs, type Child } from '../helpers/child-process'

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
      .on('error', reject)
      .end()
  })
}

describe('graceful shutdown', () => {
  let dataDir: string
  let child: Child | undefined

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'orgsync-shutdown-'))
  })
  afterEach(async () => {
    if (child && child.process.exitCode === null) child.process.kill('SIGKILL')
    await child?.exited
    await rm(dataDir, { recursive: true, force: true })
  })

  test('SIGTERM lets slow requests in flight finish, refuses new connections, and exits 0', async () => {
    child = runTs('test/fixtures/slow-service.ts', [], { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir })
    const [, url] = await child.waitFor(/READY (\S+)/)
    const base = url!.replace('localhost', '127.0.0.1')

    const inFlight = [get(`${base}/slow`), get(`${base}/slow`), get(`${base}/slow`)]
    await child.waitFor(/(SLOW_STARTED\n[^]*){3}/)

    child.process.kill('SIGTERM')
    await child.waitFor(/no longer accepting connections/)
    await expect(get(`${base}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' })

    child.process.stdin.write('release\n')
    const responses = await Promise.all(inFlight)
    expect(responses.map((r) => [r.status, JSON.parse(r.body)])).toEqual([
      [200, { finished: true }],
      [200, { finished: true }],
      [200, { finished: true }],
    ])
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.stdout()).toMatch(/"msg":"stopped"/)
  }, 60_000)

  test('a second signal exits at once, even with a request still held', async () => {
    child = runTs('test/fixtures/slow-service.ts', [], { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir })
    const [, url] = await child.waitFor(/READY (\S+)/)
    const held = get(`${url!.replace('localhost', '127.0.0.1')}/slow`).then(
      () => 'completed',
      (err: NodeJS.ErrnoException) => err.code,
    )
    await child.waitFor(/SLOW_STARTED/)
    child.process.kill('SIGTERM')
    await child.waitFor(/shutting down/)
    child.process.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 143, signal: null })
    expect(await held).toBe('ECONNRESET')
  }, 60_000)
})
