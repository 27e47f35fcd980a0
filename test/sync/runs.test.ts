import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { fakeConnector, type FakeConfig } from '../../connectors/fake'
import { connectorRegistry } from '../../connectors'
import { SecretBox } from '../../src/crypto/secret-box'
import { openDatabase, type DatabaseHandle } from '../../src/db/open-database'
import { createLogger } from '../../src/logger'
import { systemActor } from '../../src/org/actor'
import { OrgStore } from '../../src/org/org-store'
import { deprovisionExpired } from '../../src/sync/deprovision-job'
import { ConnectorError, type ConnectorDefinition } from '../../src/sync/connector'
import { PlanService } from '../../src/sync/plan-service'
import { RunService } from '../../src/sync/run-service'
import { buildServices, type Services } from '../../src/wiring'
import { runTs } from '../helpers/child-process'
import {
  databaseKinds,
  describeEachDatabase,
  openTestDatabase,
  type TestDatabase,
} from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import {
  admin,
  fakeSource,
  orgState,
  personByUserName,
  reseed,
  resetOrg,
  sourceState,
  u,
} from '../helpers/sync-fixture'

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent')
const scheduler = systemActor('scheduler')

/**
 * A fake connector whose user listing waits at a gate: `entered` resolves once a run is inside its
 * listing, and the run stays there until `release()`. Lets a test hold a run in progress without
 * sleeping.
 */
function gatedFake() {
  let entered!: () => void
  let release!: () => void
  const inside = new Promise<void>((resolve) => (entered = resolve))
  const gate = new Promise<void>((resolve) => (release = resolve))
  const definition: ConnectorDefinition<FakeConfig> = {
    ...fakeConnector,
    open(config, deps) {
      const inner = fakeConnector.open(config, deps)
      return {
        ...inner,
        async listUsers(cursor, signal) {
          entered()
          await gate
          return inner.listUsers(cursor, signal)
        },
      }
    },
  }
  return { definition, inside, release }
}

describeEachDatabase('sync: runs', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => resetOrg(db().handle.db)) // keeps the app's admin token

  const q = () => db().handle.db
  const runs = () => app.services.runs

  test('a run in auto mode plans and applies, and records what it did', async () => {
    const source = await fakeSource(app, { users: [u('a'), u('b')] }, { mode: 'auto' })
    const run = await runs().run(source, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      trigger: 'manual',
      error: null,
      counts: { 'people.create': 2, 'identities.create': 2 },
      finishedAt: expect.any(Date),
    })
    expect(await app.services.plans.get(run!.planId!)).toMatchObject({ status: 'applied' })
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(2)
    expect(await runs().list(source, 10)).toEqual([expect.objectContaining({ id: run!.id })])
  })

  test('in review mode a run leaves its plan for an admin; a held plan holds the run', async () => {
    const source = await fakeSource(
      app,
      { users: [u('a'), u('b')] },
      { mode: 'review', policy: { deletionThreshold: { count: 0, share: 1 } } },
    )
    const review = await runs().run(source, { trigger: 'manual', actor: admin })
    expect(review).toMatchObject({ status: 'awaiting-review', error: null })
    expect(await app.services.plans.get(review!.planId!)).toMatchObject({ status: 'ready' })
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(0)
    await app.services.plans.apply(review!.planId!, admin)

    await app.services.sources.update(admin, source, { mode: 'auto' })
    await reseed(app, source, { users: [u('a')] })
    const held = await runs().run(source, { trigger: 'manual', actor: admin })
    expect(held).toMatchObject({ status: 'held', error: expect.stringMatching(/would suspend/) })
    expect(await app.services.plans.get(held!.planId!)).toMatchObject({ status: 'held' })
    expect((await personByUserName(q(), 'b@corp.test')).status).toBe('active')
  })

  test('a transient connector error is retried with backoff and the run succeeds', async () => {
    const source = await fakeSource(
      app,
      { users: [u('a'), u('b')], pageSize: 1, fail: { what: 'users', page: 1, kind: 'transient', times: 1 } },
      { mode: 'auto' },
    )
    const run = await runs().run(source, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({ status: 'succeeded', attempts: 2, error: null })
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(2)
    // Only the successful attempt left a plan.
    expect(await app.services.plans.listForSource(source, 10)).toEqual([
      expect.objectContaining({ id: run!.planId, status: 'applied' }),
    ])
  })

  test('a connector that stays unavailable fails the run after the last attempt, changing nothing', async () => {
    const source = await fakeSource(app, { users: [u('a')] }, { mode: 'auto' })
    await runs().run(source, { trigger: 'manual', actor: admin })
    await reseed(app, source, { users: [], fail: { what: 'users', page: 0, kind: 'throttled' } })
    const state = await orgState(q())
    const run = await runs().run(source, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({ status: 'failed', attempts: 4, error: expect.stringMatching(/throttled/) })
    expect(await app.services.plans.get(run!.planId!)).toMatchObject({ status: 'failed' })
    // Nothing changed but the record of the run itself: one audit event saying it failed.
    const after = await orgState(q())
    const [finish, ...more] = after.audit.slice(state.audit.length)
    expect(more).toEqual([])
    expect(finish).toMatchObject({ action: 'run.finish', target_id: source })
    expect({ ...after, audit: after.audit.slice(0, state.audit.length) }).toEqual(state)
    const event = await q()
      .selectFrom('audit_events')
      .select('after')
      .where('action', '=', 'run.finish')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow()
    expect(event.after).toMatchObject({ runId: run!.id, status: 'failed', attempts: 4 })
  })

  test('a permanent connector error is not retried', async () => {
    const source = await fakeSource(
      app,
      { users: [u('a')], fail: { what: 'users', page: 0, kind: 'auth' } },
      { mode: 'auto' },
    )
    const run = await runs().run(source, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: 'fake: users page 0 failed (auth, as configured)',
    })
    expect((await sourceState(q(), source)).generation).toBe(0)
  })

  test('a connector that cannot open (bad settings) fails the run at once, without retries', async () => {
    const refusing: ConnectorDefinition<FakeConfig> = {
      ...fakeConnector,
      open() {
        throw new ConnectorError('invalid-config', 'fake: the settings cannot work')
      },
    }
    const services = buildServices({
      store: db().store,
      box: new SecretBox(randomBytes(32)),
      connectors: { fake: refusing },
      logger: createLogger('silent'),
      runs: { backoffMs: 5 },
    })
    const source = await services.sources.create(admin, {
      type: 'fake',
      name: 'Refusing',
      config: { users: [] },
      mode: 'auto',
    })
    const run = await services.runs.run(source.id, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({ status: 'failed', attempts: 1, error: 'fake: the settings cannot work' })
  })

  test('a scheduled slot runs once, however often it fires', async () => {
    const source = await fakeSource(app, { users: [u('a')] }, { mode: 'auto' })
    const slot = '2026-01-01T00:00Z'
    const first = await runs().run(source, { trigger: 'schedule', actor: scheduler, slot })
    expect(first).toMatchObject({ status: 'succeeded', slot })
    expect(await runs().run(source, { trigger: 'schedule', actor: scheduler, slot })).toBeUndefined()
    const next = await runs().run(source, {
      trigger: 'schedule',
      actor: scheduler,
      slot: '2026-01-01T01:00Z',
    })
    expect(next).toMatchObject({ status: 'succeeded' })
    expect(await runs().list(source, 10)).toHaveLength(2)
  })

  test('runs of one source never overlap: a manual run while one is in progress is 409, a scheduled one skips', async () => {
    const source = await fakeSource(app, { users: [u('a')] }, { mode: 'auto' })
    const gated = gatedFake()
    const slow = new RunService(
      new PlanService({
        store: db().store,
        connectors: { fake: gated.definition },
        readConfig: (id) => app.sources.connectorConfig(id),
        logger,
      }),
      q(),
      logger,
      { backoffMs: 5 },
    )
    const inProgress = slow.run(source, { trigger: 'manual', actor: admin })
    await gated.inside

    await expect(runs().run(source, { trigger: 'manual', actor: admin })).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/already in progress/),
    })
    const res = await app.api('POST', `/api/v1/sources/${source}/runs?wait=true`)
    expect(res.status).toBe(409)
    expect(
      await runs().run(source, { trigger: 'schedule', actor: scheduler, slot: '2026-01-01T00:00Z' }),
    ).toBeUndefined()
    // Another source is not held up.
    const other = await fakeSource(app, { users: [u('o')] }, { mode: 'auto', name: 'Other' })
    expect(await runs().run(other, { trigger: 'manual', actor: admin })).toMatchObject({
      status: 'succeeded',
    })

    gated.release()
    expect(await inProgress).toMatchObject({ status: 'succeeded' })
    const listed = await runs().list(source, 10)
    expect(listed.map((r) => r.status)).toEqual(['succeeded'])
    // Free again once it finished.
    expect(await runs().run(source, { trigger: 'manual', actor: admin })).toMatchObject({
      status: 'succeeded',
    })
  })

  test('a run whose process died (no heartbeat) is taken over and marked abandoned', async () => {
    const source = await fakeSource(app, { users: [u('a')] }, { mode: 'auto' })
    const dead = await q()
      .insertInto('runs')
      .values({
        source_id: source,
        trigger: 'schedule',
        status: 'running',
        claimed_by: 'gone-host:1',
        heartbeat_at: sql<Date>`now() - interval '1 hour'`,
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    const run = await runs().run(source, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({ status: 'succeeded' })
    const abandoned = await q()
      .selectFrom('runs')
      .selectAll()
      .where('id', '=', dead.id)
      .executeTakeFirstOrThrow()
    expect(abandoned).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/abandoned: gone-host:1/),
    })
  })
})

const PGLITE_SKIP_REASON =
  'PGlite is one in-process connection: a second handle on the same database (another "process") cannot exist, ' +
  'so the race between processes runs on PostgreSQL only (set TEST_DATABASE_URL)'

/** Builds the services another orgsync process would have: its own pool, its own RunService. */
function servicesOn(handle: DatabaseHandle): Services {
  return buildServices({
    store: new OrgStore(handle.db),
    box: new SecretBox(randomBytes(32)),
    connectors: connectorRegistry,
    logger,
    runs: { backoffMs: 5 },
  })
}

for (const kind of databaseKinds()) {
  describe(`sync: processes racing one scheduled run [${kind}]`, () => {
    if (kind === 'pglite') {
      process.stdout.write(`[orgsync tests] racing-runs suite skipped on PGlite: ${PGLITE_SKIP_REASON}\n`)
      test.skip(`skipped: ${PGLITE_SKIP_REASON}`, () => undefined)
      return
    }
    let db: TestDatabase
    let app: TestApp
    let second: DatabaseHandle
    beforeAll(async () => {
      db = await openTestDatabase('postgres')
      app = await startTestApp(db)
      second = await openDatabase({ kind: 'postgres', url: db.url!, poolMax: 4 })
    }, 60_000)
    afterAll(async () => {
      await app?.close()
      await second?.close()
      await db?.close()
    })
    beforeEach(() => db.reset())

    test('two RunServices on separate connections racing the same slots: each slot runs once', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b'), u('c')] }, { mode: 'auto' })
      const other = servicesOn(second)
      const slots = ['2026-01-01T00:00Z', '2026-01-01T00:01Z', '2026-01-01T00:02Z', '2026-01-01T00:03Z']
      for (const slot of slots) {
        const results = await Promise.all([
          app.services.runs.run(source, { trigger: 'schedule', actor: scheduler, slot }),
          other.runs.run(source, { trigger: 'schedule', actor: scheduler, slot }),
        ])
        const ran = results.filter((r) => r !== undefined)
        expect(ran).toHaveLength(1)
        expect(ran[0]).toMatchObject({ status: 'succeeded', slot })
      }
      const rows = await db.handle.db.selectFrom('runs').select(['slot', 'status']).orderBy('slot').execute()
      expect(rows).toEqual(slots.map((slot) => ({ slot, status: 'succeeded' })))
      const plans = await db.handle.db.selectFrom('plans').select('status').execute()
      expect(plans).toHaveLength(slots.length)
      expect(plans.every((p) => p.status === 'applied')).toBe(true)
      expect(await db.handle.db.selectFrom('people').select('id').execute()).toHaveLength(3)
      expect((await sourceState(db.handle.db, source)).generation).toBe(slots.length)
    })

    test('a manual run on one connection while a run holds the claim on another is 409', async () => {
      const source = await fakeSource(app, { users: [u('a')] }, { mode: 'auto' })
      const gated = gatedFake()
      const store = new OrgStore(second.db)
      const slow = new RunService(
        new PlanService({
          store,
          connectors: { fake: gated.definition },
          readConfig: (id) => app.sources.connectorConfig(id),
          logger,
        }),
        second.db,
        logger,
      )
      const inProgress = slow.run(source, {
        trigger: 'schedule',
        actor: scheduler,
        slot: '2026-02-01T00:00Z',
      })
      await gated.inside
      await expect(app.services.runs.run(source, { trigger: 'manual', actor: admin })).rejects.toMatchObject({
        kind: 'conflict',
      })
      gated.release()
      expect(await inProgress).toMatchObject({ status: 'succeeded' })
    })

    test('the daily deprovisioning job on two connections at once deprovisions each leaver once', async () => {
      const ids = ['l1', 'l2', 'l3', 'l4', 'l5']
      const source = await fakeSource(
        app,
        { users: ids.map((id) => u(id)) },
        { mode: 'auto', policy: { deletionThreshold: { count: 100, share: 1 } } },
      )
      await app.services.runs.run(source, { trigger: 'manual', actor: admin })
      await reseed(app, source, { users: [] })
      await app.services.runs.run(source, { trigger: 'manual', actor: admin })
      const later = new Date(Date.now() + 31 * 86_400_000)
      const done = await Promise.all([
        deprovisionExpired(db.store, later),
        deprovisionExpired(new OrgStore(second.db), later),
      ])
      expect(done[0] + done[1]).toBe(ids.length)
      const events = await db.handle.db
        .selectFrom('audit_events')
        .select('target_id')
        .where('action', '=', 'person.deprovision')
        .execute()
      expect(events).toHaveLength(ids.length)
      expect(new Set(events.map((e) => e.target_id)).size).toBe(ids.length)
    })

    test('three orgsync processes firing the same slot at once: it runs once', async () => {
      const source = await fakeSource(app, { users: [u('a'), u('b')] }, { mode: 'auto' })
      const slot = '2026-03-01T00:00Z'
      const children = [0, 1, 2].map(() =>
        runTs('test/sync/fixtures/run-slot.ts', [db.url!, source, slot], {}),
      )
      try {
        await Promise.all(children.map((c) => c.waitFor(/^ready$/m)))
        for (const c of children) c.process.stdin.write('go\n')
        const exits = await Promise.all(children.map((c) => c.exited))
        expect(exits.map((e) => e.code)).toEqual([0, 0, 0])
      } finally {
        for (const c of children) if (c.process.exitCode === null) c.process.kill()
      }
      const results = children.map((c) => {
        const line = c.stdout().match(/^result (.*)$/m)
        if (!line) throw new Error(`no result from a child; stderr:\n${c.stderr()}`)
        return JSON.parse(line[1]!) as { status: string; slot: string } | null
      })
      const ran = results.filter((r) => r !== null)
      expect(ran).toHaveLength(1)
      expect(ran[0]).toMatchObject({ status: 'succeeded', slot })
      expect(await db.handle.db.selectFrom('runs').select('slot').execute()).toEqual([{ slot }])
      expect(await db.handle.db.selectFrom('plans').select('status').execute()).toEqual([
        { status: 'applied' },
      ])
      expect(await db.handle.db.selectFrom('people').select('id').execute()).toHaveLength(2)
    }, 60_000)
  })
}
