import { randomBytes } from 'node:crypto'
import { get } from 'node:http'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { describeWithPostgresCopy } from '../helpers/postgres-admin'
import { runTs, type Child } from '../helpers/child-process'

/** One request on a connection of its own, so the cluster hands each to the next worker. */
function status(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', reject)
  })
}

interface LogLine {
  msg?: string
  worker?: number
  pid?: number
}

function logLines(child: Child): LogLine[] {
  return child
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
}

/** The workers the pool started, from its `worker started` log lines. */
const startedPids = (child: Child): number[] =>
  logLines(child)
    .filter((l) => l.msg === 'worker started')
    .map((l) => l.pid!)

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('the worker pool', () => {
  test('replaces workers that die, then gives up when too many die within the window', async () => {
    const child = runTs('test/fixtures/crashing-workers.ts', ['--crash'], {})
    expect(await child.exited).toEqual({ code: 1, signal: null })
    const out = child.stdout()
    expect(out).toMatch(/^STARTED tcp:\/\/127\.0\.0\.1:\d+$/m)
    // maxRestarts 2: the first worker and two replacements die, the third death ends it.
    expect(out.match(/worker died \(exit code 3\): starting another/g)).toHaveLength(2)
    expect(out).toMatch(/^GAVE_UP 3 workers died within 60 s, the last with exit code 3$/m)
    const pids = startedPids(child)
    expect(pids).toHaveLength(3)
    expect(pids.some(alive)).toBe(false)
  }, 60_000)

  test('a worker that fails to start stops the start, even while another is still starting', async () => {
    const child = runTs('test/fixtures/crashing-workers.ts', ['--hang'], {})
    expect(await child.exited).toEqual({ code: 1, signal: null })
    expect(child.stdout()).toMatch(
      /^FAILED Error: worker 1 \(pid \d+\) exited with exit code 4 before listening$/m,
    )
    const pids = startedPids(child)
    expect(pids).toHaveLength(2)
    expect(pids.some(alive)).toBe(false)
  }, 60_000)
})

describeWithPostgresCopy('HTTP workers (ORGSYNC_WORKERS) on PostgreSQL', (url) => {
  let child: Child | undefined
  let env: Record<string, string>
  beforeAll(() => {
    env = {
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: url,
      ORGSYNC_SECRET_KEY: randomBytes(32).toString('base64'),
      ORGSYNC_WORKERS: '2',
    }
  })
  afterEach(async () => {
    if (child && child.process.exitCode === null) child.process.kill('SIGKILL')
    await child?.exited
    child = undefined
  })

  test('workers share the port, a dead one is replaced, SIGTERM stops them all and exits 0', async () => {
    child = runTs('src/cli/main.ts', ['serve'], env)
    const [, url] = await child.waitFor(/orgsync is ready at (\S+) with 2 workers/)
    const base = url!.replace('localhost', '127.0.0.1')
    // The primary prepared the database once: one admin, one banner.
    const out = child.stdout()
    expect(out.match(/no admin existed/g)).toHaveLength(1)
    const token = /Bearer (osa_[\w-]{43})/.exec(out)![1]!
    // The primary's log lines are written asynchronously: its ready line may come first.
    await child.waitFor(/("msg":"worker listening"[^]*){2}/)
    const started = logLines(child).filter((l) => l.msg === 'worker listening')
    const pids = started.map((l) => l.pid!)
    expect(new Set(pids).size).toBe(2)
    expect(pids.every(alive)).toBe(true)

    const statuses = await Promise.all(
      Array.from({ length: 12 }, () => status(`${base}/api/v1/sources`, token)),
    )
    expect(statuses).toEqual(Array(12).fill(200))
    await child.waitFor(/("msg":"request completed"[^]*){12}/)
    const servedBy = new Set(
      logLines(child)
        .filter((l) => l.msg === 'request completed')
        .map((l) => l.worker),
    )
    expect(servedBy).toEqual(new Set([1, 2]))

    process.kill(pids[0]!, 'SIGKILL')
    await child.waitFor(/worker died \(signal SIGKILL\): starting another/)
    await child.waitFor(/("msg":"worker listening"[^]*){3}/)
    const replacement = logLines(child).filter((l) => l.msg === 'worker listening')[2]!.pid!
    expect(alive(replacement)).toBe(true)
    expect(await status(`${base}/api/v1/sources`, token)).toBe(200)

    child.process.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 0, signal: null })
    const lines = logLines(child)
    const workerOf = new Map(lines.filter((l) => l.msg === 'worker listening').map((l) => [l.pid, l.worker]))
    const stopped = lines.filter((l) => l.msg === 'stopped').map((l) => l.worker ?? 'primary')
    expect(new Set(stopped)).toEqual(new Set([workerOf.get(pids[1]), workerOf.get(replacement), 'primary']))
    expect([pids[1]!, replacement].some(alive)).toBe(false)
  }, 90_000)

  test('a worker that cannot listen fails the start: exit 1 with the reason, no worker left behind', async () => {
    const taken: Server = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    try {
      const port = (taken.address() as AddressInfo).port
      child = runTs('src/cli/main.ts', ['serve'], { ...env, PORT: String(port) })
      expect(await child.exited).toEqual({ code: 1, signal: null })
      expect(child.stderr()).toMatch(/EADDRINUSE/)
      expect(child.stderr()).toMatch(
        /^orgsync: worker \d+ \(pid \d+\) exited with exit code 1 before listening$/m,
      )
      expect(child.stdout()).not.toMatch(/orgsync is ready/)
      const pids = startedPids(child)
      expect(pids).toHaveLength(2)
      expect(pids.some(alive)).toBe(false)
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  }, 90_000)
})
