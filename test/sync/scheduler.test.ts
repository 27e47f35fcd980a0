import { createLogger } from '../../src/logger'
import { Scheduler, slotOf } from '../../src/sync/scheduler'
import { runTs } from '../helpers/child-process'
import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { admin, u } from '../helpers/sync-fixture'

test('a slot names the minute of a cron tick, the same on every replica', () => {
  expect(slotOf(new Date('2026-01-01T09:30:00.000Z'))).toBe('2026-01-01T09:30Z')
  expect(slotOf(new Date('2026-01-01T09:30:59.999Z'))).toBe('2026-01-01T09:30Z')
  expect(slotOf(new Date('2026-01-01T09:31:00.000Z'))).toBe('2026-01-01T09:31Z')
})

test('a scheduler nobody stopped does not keep its process alive', async () => {
  const child = runTs('test/sync/fixtures/idle-scheduler.ts', [], {})
  const timer = setTimeout(() => child.process.kill(), 40_000)
  try {
    const exit = await child.exited
    expect(child.stderr()).toBe('')
    expect(child.stdout()).toContain('ran and closed')
    // Killed by the timer above means a timer held the process open.
    expect(exit).toEqual({ code: 0, signal: null })
  } finally {
    clearTimeout(timer)
  }
}, 45_000)

describeEachDatabase('sync: the scheduler', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => db().reset())

  test('a cron schedule runs its source, each minute slot once however often it ticks; stop waits for the run', async () => {
    const q = db().handle.db
    // Every second: several ticks fall into one minute's slot, and only the first runs it.
    const source = await app.services.sources.create(admin, {
      type: 'fake',
      name: 'HR',
      mode: 'auto',
      schedule: '* * * * * *',
      config: { users: [u('a')] },
    })
    const scheduler = new Scheduler(q, db().store, app.services.runs, createLogger('silent'), {
      deprovisionSchedule: '0 0 1 1 *',
    })
    const startedAt = Date.now()
    await scheduler.start()
    try {
      // Wait for the first scheduled run to be claimed (a state in the database, polled).
      const deadline = Date.now() + 10_000
      while ((await q.selectFrom('runs').select('id').execute()).length === 0) {
        if (Date.now() > deadline) throw new Error('no scheduled run within 10 s')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    } finally {
      await scheduler.stop()
    }
    const minutes = new Set([slotOf(new Date(startedAt)), slotOf(new Date())]).size
    const runs = await q.selectFrom('runs').selectAll().where('source_id', '=', source.id).execute()
    // stop() waited: nothing is left running, and each minute slot ran at most once.
    expect(runs.every((r) => r.status === 'succeeded' && r.trigger === 'schedule')).toBe(true)
    expect(runs.length).toBeGreaterThanOrEqual(1)
    expect(runs.length).toBeLessThanOrEqual(minutes)
    expect(new Set(runs.map((r) => r.slot)).size).toBe(runs.length)
    expect(await q.selectFrom('people').select('user_name').execute()).toEqual([{ user_name: 'a@corp.test' }])
  })

  test('a tick that finds its source busy runs its slot once the other run is over', async () => {
    const q = db().handle.db
    const source = await app.services.sources.create(admin, {
      type: 'fake',
      name: 'HR',
      mode: 'auto',
      config: { users: [u('b')] },
    })
    // Someone pressed "sync now": a run of this source is in progress.
    const manual = await q
      .insertInto('runs')
      .values({ source_id: source.id, trigger: 'manual', status: 'running', claimed_by: 'someone' })
      .returning('id')
      .executeTakeFirstOrThrow()
    const scheduler = new Scheduler(q, db().store, app.services.runs, createLogger('silent'), {
      deprovisionSchedule: '0 0 1 1 *',
      busyRetryMs: 20,
      busyRetries: 1000,
    })
    const slot = '2026-01-01T09:30Z'
    try {
      expect(await scheduler.tick(source.id, 'HR', slot)).toBe('busy-retrying')
      expect(await q.selectFrom('runs').select('id').where('slot', '=', slot).execute()).toEqual([])
      await q
        .updateTable('runs')
        .set({ status: 'succeeded', finished_at: new Date() })
        .where('id', '=', manual.id)
        .execute()
      // The retry claims the slot once the source is free (a state in the database, polled).
      const deadline = Date.now() + 10_000
      while ((await q.selectFrom('runs').select('id').where('slot', '=', slot).execute()).length === 0) {
        if (Date.now() > deadline) throw new Error('the busy slot was not retried within 10 s')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    } finally {
      await scheduler.stop()
    }
    const runs = await q.selectFrom('runs').selectAll().where('slot', '=', slot).execute()
    expect(runs).toHaveLength(1)
    expect(runs[0]).toMatchObject({ trigger: 'schedule', status: 'succeeded' })
    // The same slot again is done: it ran (here or on another replica), nothing to retry.
    const again = new Scheduler(q, db().store, app.services.runs, createLogger('silent'), {
      deprovisionSchedule: '0 0 1 1 *',
    })
    expect(await again.tick(source.id, 'HR', slot)).toBe('ran-elsewhere')
    await again.stop()
  })

  test('a busy tick gives its slot up after its retries, and stop() cancels pending retries', async () => {
    const q = db().handle.db
    const source = await app.services.sources.create(admin, {
      type: 'fake',
      name: 'HR',
      config: { users: [] },
    })
    await q
      .insertInto('runs')
      .values({ source_id: source.id, trigger: 'manual', status: 'running', claimed_by: 'someone' })
      .execute()
    const scheduler = new Scheduler(q, db().store, app.services.runs, createLogger('silent'), {
      deprovisionSchedule: '0 0 1 1 *',
      busyRetries: 0,
    })
    expect(await scheduler.tick(source.id, 'HR', '2026-01-01T10:00Z')).toBe('busy-given-up')
    const waiting = new Scheduler(q, db().store, app.services.runs, createLogger('silent'), {
      deprovisionSchedule: '0 0 1 1 *',
      busyRetryMs: 60_000,
    })
    expect(await waiting.tick(source.id, 'HR', '2026-01-01T10:01Z')).toBe('busy-retrying')
    await waiting.stop()
    expect(await waiting.tick(source.id, 'HR', '2026-01-01T10:01Z')).toBe('stopped')
  })
})
