import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { migrateToLatest } from '../../src/db/migrate'
import { openDatabase } from '../../src/db/open-database'
import type { Actor } from '../../src/org/actor'
import { OrgStore } from '../../src/org/org-store'
import { runTs } from '../helpers/child-process'
import { databaseKinds, openTestDatabase, type TestDatabase } from '../helpers/test-database'

const cli = (args: string[], env: Record<string, string>) => runTs('src/cli/main.ts', args, env)
const admin: Actor = { type: 'admin', id: 'a-1', name: 'alice' }
const SECRET_KEY = Buffer.alloc(32, 7).toString('base64')

async function writeThree(store: OrgStore): Promise<void> {
  for (let i = 0; i < 3; i++)
    await store.write(admin, (w) =>
      w.audit({ action: 'person.update', targetType: 'person', targetId: `p-${i}` }),
    )
}

describe('orgsync audit verify [pglite data dir]', () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'orgsync-audit-cli-'))
  })
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  /** The embedded store belongs to one process at a time: open, change, close before the CLI runs. */
  async function withStore(work: (store: OrgStore) => Promise<unknown>): Promise<void> {
    const handle = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'pglite') })
    try {
      await migrateToLatest(handle.db)
      await work(new OrgStore(handle.db))
    } finally {
      await handle.close()
    }
  }

  test('prints the result and exits 1 when the chain is broken', async () => {
    await withStore(writeThree)
    const ok = cli(['audit', 'verify'], { DATA_DIR: dataDir })
    expect(await ok.exited).toEqual({ code: 0, signal: null })
    expect(ok.stdout()).toMatch(
      /^audit log intact: 3 event\(s\) checked, seq 1 to 3\nhead hash [0-9a-f]{64} /,
    )

    await withStore((store) => sql`delete from audit_events where seq = 2`.execute(store.db))
    const broken = cli(['audit', 'verify'], { DATA_DIR: dataDir })
    expect(await broken.exited).toEqual({ code: 1, signal: null })
    expect(broken.stdout()).toBe(
      'audit log BROKEN at seq 3: chain broken: previous row missing or changed (1 event(s) before it verified)\n',
    )
  }, 90_000)
})

const onPostgres = databaseKinds().includes('postgres') ? describe : describe.skip

onPostgres('orgsync audit verify [postgres]', () => {
  let db: TestDatabase | undefined
  beforeAll(async () => {
    db = await openTestDatabase('postgres')
  }, 60_000)
  afterAll(() => db?.close())

  test('--json', async () => {
    await writeThree(db!.store)
    const env = { DATABASE_URL: db!.url!, ORGSYNC_SECRET_KEY: SECRET_KEY }
    const ok = cli(['audit', 'verify', '--json'], env)
    expect(await ok.exited).toEqual({ code: 0, signal: null })
    expect(JSON.parse(ok.stdout())).toMatchObject({ ok: true, checked: 3, anchorSeq: 0, lastSeq: 3 })

    await sql`delete from audit_events where seq = 3`.execute(db!.handle.db)
    const broken = cli(['audit', 'verify', '--json'], env)
    expect(await broken.exited).toEqual({ code: 1, signal: null })
    expect(JSON.parse(broken.stdout())).toEqual({
      ok: false,
      checked: 2,
      firstBroken: { seq: 3, reason: 'head mismatch: newest rows deleted' },
    })
  }, 90_000)
})
