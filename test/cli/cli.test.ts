import { migrations } from '../../src/db/migrations'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { runTs } from '../helpers/child-process'

const cli = (args: string[], env: Record<string, string>) => runTs('src/cli/main.ts', args, env)

describe('orgsync CLI', () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'orgsync-cli-'))
  })
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  test.each([
    [{ PORT: 'abc' }, 'orgsync: invalid configuration: PORT must be an integer from 0 to 65535, got "abc"'],
    [
      { DATABASE_URL: 'mysql://x' },
      'orgsync: invalid configuration: DATABASE_URL must be a postgres:// or postgresql:// URL (unset it to use the embedded store), got a mysql:// URL',
    ],
  ])(
    'a bad environment %j prints one line and exits 2',
    async (env, line) => {
      const child = cli(['serve'], { ...env, DATA_DIR: dataDir })
      expect(await child.exited).toEqual({ code: 2, signal: null })
      expect(child.stderr()).toBe(`${line}\n`)
      expect(child.stdout()).toBe('')
    },
    30_000,
  )

  test('--help names the commands', async () => {
    const child = cli(['--help'], {})
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.stdout()).toMatch(/serve\s+run the HTTP service/)
    expect(child.stdout()).toMatch(/migrate\s+apply pending database migrations/)
  }, 30_000)

  test('migrate applies migrations to the embedded store once', async () => {
    const first = cli(['migrate'], { DATA_DIR: dataDir })
    expect(await first.exited).toEqual({ code: 0, signal: null })
    const names = Object.keys(migrations).sort()
    expect(names.length).toBeGreaterThan(3)
    expect(first.stdout()).toBe(`applied ${names.length} migration(s): ${names.join(', ')}\n`)
    const second = cli(['migrate'], { DATA_DIR: dataDir })
    expect(await second.exited).toEqual({ code: 0, signal: null })
    expect(second.stdout()).toBe('database is up to date\n')
  }, 60_000)
})
