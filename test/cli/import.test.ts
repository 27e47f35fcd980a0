import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { connectorRegistry } from '../../connectors'
import { loadConfig } from '../../src/config'
import { createLogger } from '../../src/logger'
import { startService } from '../../src/service'
import { runTs } from '../helpers/child-process'

const CSV = [
  'employee_id,name,email,title,department,manager',
  'E1,张伟,zhang.wei@corp.test,CEO,Head Office,',
  'E2,Łukasz Nowak,lukasz@corp.test,CFO,Head Office/Finance,E1',
  'E3,محمد علي,mohammed@corp.test,Auditor,Head Office/Finance/Audit,E2',
].join('\r\n')

describe('orgsync import', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'orgsync-import-'))
    // A CSV source, made through the running service's API, which is then stopped (one process per data dir).
    const service = await startService(
      loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dir }),
      createLogger('silent'),
      {
        connectors: connectorRegistry,
      },
    )
    try {
      const res = await fetch(`${service.url}/api/v1/sources`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${service.bootstrap.generatedToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ type: 'csv', name: 'HR CSV' }),
      })
      expect(res.status).toBe(201)
    } finally {
      await service.close()
    }
    await writeFile(path.join(dir, 'good.csv'), CSV)
    await writeFile(
      path.join(dir, 'bad.csv'),
      'employee_id,name,email\nE1,,not-an-email\n,Nobody,n@corp.test\n',
    )
  }, 60_000)
  afterAll(() => rm(dir, { recursive: true, force: true }))

  test('prints the plan summary; --apply applies it; a second run finds nothing to change', async () => {
    const plan = runTs('src/cli/main.ts', ['import', path.join(dir, 'good.csv'), '--source', 'hr csv'], {
      DATA_DIR: dir,
    })
    expect(await plan.exited).toEqual({ code: 0, signal: null })
    expect(plan.stdout()).toMatch(/: READY\n/)
    expect(plan.stdout()).toContain('People       3 new, 0 updated, 0 moved, 2 manager changes')
    expect(plan.stdout()).toContain('Departments  3 new')

    const applied = runTs(
      'src/cli/main.ts',
      ['import', path.join(dir, 'good.csv'), '--source', 'HR CSV', '--apply', '--json'],
      {
        DATA_DIR: dir,
      },
    )
    expect(await applied.exited).toEqual({ code: 0, signal: null })
    expect(JSON.parse(applied.stdout())).toMatchObject({
      status: 'applied',
      summary: { people: { create: 3 } },
    })

    const again = runTs('src/cli/main.ts', ['import', path.join(dir, 'good.csv'), '--source', 'HR CSV'], {
      DATA_DIR: dir,
    })
    expect(await again.exited).toEqual({ code: 0, signal: null })
    expect(again.stdout()).toContain('Nothing to change')
  }, 90_000)

  test('a file with bad rows reports every one and exits 1', async () => {
    const run = runTs(
      'src/cli/main.ts',
      ['import', path.join(dir, 'bad.csv'), '--source', 'HR CSV', '--apply'],
      { DATA_DIR: dir },
    )
    expect(await run.exited).toEqual({ code: 1, signal: null })
    expect(run.stdout()).toMatch(/FAILED/)
    expect(run.stdout()).toMatch(/row 2, column name: /)
    expect(run.stdout()).toMatch(/row 2, column email: /)
    expect(run.stdout()).toMatch(/row 3, column employee_id: /)
  }, 60_000)

  test('an unknown source is one clear line and exit 1', async () => {
    const run = runTs('src/cli/main.ts', ['import', path.join(dir, 'good.csv'), '--source', 'nope'], {
      DATA_DIR: dir,
    })
    expect(await run.exited).toEqual({ code: 1, signal: null })
    expect(run.stderr()).toBe('orgsync: no source named "nope" (create it with POST /api/v1/sources)\n')
  }, 60_000)
})
