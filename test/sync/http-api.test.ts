import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import type { ChangeView, PlanView } from '../../src/sync/plan-service'
import type { RunView } from '../../src/sync/run-service'
import {
  admin,
  dept,
  fakeSource,
  orgState,
  personByUserName,
  planAndApply,
  reseed,
  resetOrg,
  u,
} from '../helpers/sync-fixture'

/** Dates arrive as strings over HTTP. */
type Json<T> = { [K in keyof T]: T[K] extends Date | null ? string | null : T[K] }

const GOOD_CSV = [
  'employee_id,name,email,title,department,manager',
  '1001,张伟,zhang.wei@corp.test,总经理,总部,',
  '1002,王芳,wang.fang@corp.test,财务经理,总部/财务部,1001',
  '1003,李娜,li.na@corp.test,会计,总部/财务部/审计,1002',
  '1004,刘洋,liu.yang@corp.test,工程师,总部/研发部,1001',
  '1005,"陈静",chen.jing@corp.test,"工程师, 后端",总部/研发部,liu.yang@corp.test',
].join('\r\n')

// Rows 3, 5 and 7 are bad (line 1 is the header): a broken email, no employee_id, an unknown manager.
const BAD_CSV = [
  'employee_id,name,email,title,department,manager',
  '1001,张伟,zhang.wei@corp.test,总经理,总部,',
  '1002,王芳,wang.fang(at)corp.test,财务经理,总部/财务部,1001',
  '1003,李娜,li.na@corp.test,会计,总部/财务部/审计,1002',
  ',刘洋,liu.yang@corp.test,工程师,总部/研发部,1001',
  '1005,陈静,chen.jing@corp.test,工程师,总部/研发部,1001',
  '1006,赵磊,zhao.lei@corp.test,工程师,总部/研发部,9999',
].join('\n')

describeEachDatabase('sync: HTTP API', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())
  beforeEach(() => resetOrg(db().handle.db)) // keeps the app's admin token

  const q = () => db().handle.db
  const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    app.api(method, `/api/v1${path}`, body, headers)
  async function json<T>(res: Response, status: number): Promise<T> {
    const text = await res.text()
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`)
    return JSON.parse(text) as T
  }
  const csvSource = async () =>
    (await app.services.sources.create(admin, { type: 'csv', name: 'HR upload', config: {} })).id
  const upload = (sourceId: string, csv: string) =>
    api('POST', `/sources/${sourceId}/plans`, `\uFEFF${csv}`, { 'content-type': 'text/csv; charset=utf-8' })

  test('POST /sources/{id}/plans makes a plan (201 with its Location); GET reads it back', async () => {
    const source = await fakeSource(app, { users: [u('a'), u('b')] })
    const res = await api('POST', `/sources/${source}/plans`)
    const plan = await json<Json<PlanView>>(res, 201)
    expect(res.headers.get('location')).toBe(`/api/v1/plans/${plan.id}`)
    expect(plan).toMatchObject({
      sourceId: source,
      status: 'ready',
      trigger: 'manual',
      changeCount: 2,
      summary: { people: { create: 2 } },
      createdBy: 'admin',
    })
    expect(await json(await app.api('GET', res.headers.get('location')!), 200)).toEqual(plan)
    const list = await json<{ items: Json<PlanView>[] }>(await api('GET', `/sources/${source}/plans`), 200)
    expect(list.items.map((p) => p.id)).toEqual([plan.id])
    await json(await api('GET', '/plans/00000000-0000-4000-8000-000000000000'), 404)
    await json(await api('POST', '/sources/00000000-0000-4000-8000-000000000000/plans'), 404)
  })

  test('POST /sources/{id}/plans?full=true reads a change-tracking source whole; a bad flag is 400', async () => {
    const source = await fakeSource(app, { users: [u('a')], incremental: { rounds: [] } } as never)
    await json(
      await api(
        'POST',
        `/plans/${(await json<Json<PlanView>>(await api('POST', `/sources/${source}/plans`), 201)).id}/apply`,
      ),
      200,
    )
    const quick = await json<Json<PlanView>>(await api('POST', `/sources/${source}/plans`), 201)
    expect(quick).toMatchObject({ listing: 'incremental', changeCount: 0 })
    const full = await json<Json<PlanView>>(await api('POST', `/sources/${source}/plans?full=true`), 201)
    expect(full).toMatchObject({ listing: 'full', changeCount: 0, resyncReason: null })
    await json(await api('POST', `/sources/${source}/plans?full=yes`), 400)
  })

  test('a CSV upload with Chinese names makes a ready plan that applies', async () => {
    const source = await csvSource()
    const plan = await json<Json<PlanView>>(await upload(source, GOOD_CSV), 201)
    expect(plan).toMatchObject({
      status: 'ready',
      trigger: 'upload',
      summary: { people: { create: 5, manager: 4 }, departments: { create: 4 } },
    })
    expect(await json(await api('POST', `/plans/${plan.id}/apply`), 200)).toMatchObject({ status: 'applied' })
    const chen = await personByUserName(q(), 'chen.jing@corp.test')
    expect(chen).toMatchObject({
      displayName: '陈静',
      title: '工程师, 后端',
      employeeNumber: '1005',
      department: { path: '总部/研发部' },
      manager: { userName: 'liu.yang@corp.test' },
    })
    expect(await personByUserName(q(), 'li.na@corp.test')).toMatchObject({
      department: { path: '总部/财务部/审计' },
    })
    // The same file again changes nothing.
    expect(await json(await upload(source, GOOD_CSV), 201)).toMatchObject({ status: 'ready', changeCount: 0 })
  })

  test('a CSV with bad rows fails the plan, reports every bad row, and applies nothing', async () => {
    const source = await csvSource()
    await json(
      await api('POST', `/plans/${(await json<PlanView>(await upload(source, GOOD_CSV), 201)).id}/apply`),
      200,
    )
    const state = await orgState(q())

    const plan = await json<Json<PlanView>>(await upload(source, BAD_CSV), 201)
    expect(plan).toMatchObject({
      status: 'failed',
      changeCount: 0,
      error: expect.stringMatching(/3 invalid rows/),
    })
    const errors = (plan.errorDetails as { errors: { row: number; column: string | null; reason: string }[] })
      .errors
    expect(errors.map((e) => [e.row, e.column])).toEqual([
      [3, 'email'],
      [5, 'employee_id'],
      [7, 'manager'],
    ])
    expect(errors[0]!.reason).toMatch(/wang\.fang\(at\)corp\.test/)
    expect(errors[2]!.reason).toMatch(/9999/)
    // Nobody left out of the partial file is suspended; nothing at all changes.
    expect(await orgState(q())).toEqual(state)
    const res = await api('POST', `/plans/${plan.id}/apply`)
    expect(res.status).toBe(409)
  })

  test('a CSV source needs the file as the body', async () => {
    const source = await csvSource()
    const err = await json<{ error: { message: string } }>(await api('POST', `/sources/${source}/plans`), 400)
    expect(err.error.message).toMatch(/send it as the request body/)
  })

  test('GET /plans/{id}/changes pages and filters by kind and department subtree', async () => {
    const source = await fakeSource(app, {
      departments: [dept('hq', 'HQ'), dept('fin', 'Finance', 'hq'), dept('eng', 'Engineering')],
      users: [
        u('f1', { departmentExternalId: 'fin' }),
        u('h1', { departmentExternalId: 'hq' }),
        u('e1', { departmentExternalId: 'eng' }),
      ],
    })
    await planAndApply(app, source)
    const hq = (await personByUserName(q(), 'h1@corp.test')).departmentId!
    await reseed(app, source, {
      departments: [
        dept('hq', 'HQ'),
        dept('fin', 'Finance', 'hq'),
        dept('eng', 'Engineering'),
        dept('audit', 'Audit', 'fin'),
      ],
      users: [
        u('f1', { departmentExternalId: 'fin', title: 'Controller' }),
        u('h1', { departmentExternalId: 'hq', title: 'CEO' }),
        u('e1', { departmentExternalId: 'eng', title: 'Engineer' }),
        u('a1', { departmentExternalId: 'audit', manager: { externalId: 'f1' } }),
        u('e2', { departmentExternalId: 'eng' }),
      ],
    })
    const plan = await json<Json<PlanView>>(await api('POST', `/sources/${source}/plans`), 201)
    expect(plan.changeCount).toBeGreaterThan(5)

    const seen: ChangeView[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: { items: ChangeView[]; nextCursor: string | null } = await json(
        await api('GET', `/plans/${plan.id}/changes?limit=2${cursor ? `&cursor=${cursor}` : ''}`),
        200,
      )
      expect(page.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.items)
      cursor = page.nextCursor
      pages++
    } while (cursor)
    expect(seen).toHaveLength(plan.changeCount)
    expect(pages).toBe(Math.ceil(plan.changeCount / 2))
    expect(seen.map((c) => c.seq)).toEqual([...Array(plan.changeCount).keys()])

    const creates = await json<{ items: ChangeView[] }>(
      await api('GET', `/plans/${plan.id}/changes?kind=person.create`),
      200,
    )
    expect(creates.items.map((c) => c.after?.userName).sort()).toEqual(['a1@corp.test', 'e2@corp.test'])

    // HQ's subtree: HQ and Finance people, and Audit (new, inside Finance) with the person joining it.
    const subtree = await json<{ items: ChangeView[] }>(
      await api('GET', `/plans/${plan.id}/changes?departmentId=${hq}`),
      200,
    )
    const described = subtree.items.map(
      (c) => `${c.kind} ${String(c.after?.userName ?? c.after?.name ?? c.targetId)}`,
    )
    expect(described).toEqual(
      expect.arrayContaining(['department.create Audit', 'person.create a1@corp.test']),
    )
    expect(subtree.items.filter((c) => c.kind === 'person.update')).toHaveLength(2) // f1 and h1, not e1
    expect(subtree.items.some((c) => c.kind === 'person.manager')).toBe(true) // a1 → f1, inside Audit
    expect(described.some((d) => d.includes('e2@corp.test'))).toBe(false)
    const both = await json<{ items: ChangeView[] }>(
      await api('GET', `/plans/${plan.id}/changes?departmentId=${hq}&kind=person.update`),
      200,
    )
    expect(both.items).toHaveLength(2)

    await json(await api('GET', `/plans/${plan.id}/changes?kind=person.explode`), 400)
    await json(
      await api('GET', `/plans/${plan.id}/changes?departmentId=00000000-0000-4000-8000-000000000000`),
      404,
    )
    await json(await api('GET', `/plans/${plan.id}/changes?limit=0`), 400)
  })

  test('apply, approve and reject answer 200, and 409 for held, stale and decided plans', async () => {
    const source = await fakeSource(
      app,
      { users: [u('a'), u('b'), u('c')] },
      { policy: { deletionThreshold: { count: 1, share: 1 } } },
    )
    const first = await json<PlanView>(await api('POST', `/sources/${source}/plans`), 201)
    await json(await api('POST', `/plans/${first.id}/apply`), 200)
    expect(
      (await json<{ error: { message: string } }>(await api('POST', `/plans/${first.id}/apply`), 409)).error
        .message,
    ).toMatch(/is applied/)

    await reseed(app, source, { users: [u('a')] })
    const held = await json<PlanView>(await api('POST', `/sources/${source}/plans`), 201)
    expect(held.status).toBe('held')
    expect(
      (await json<{ error: { message: string } }>(await api('POST', `/plans/${held.id}/apply`), 409)).error
        .message,
    ).toMatch(/held/)
    const rejected = await json<PlanView>(await api('POST', `/plans/${held.id}/reject`), 200)
    expect(rejected).toMatchObject({ status: 'rejected', decidedBy: 'admin' })
    await json(await api('POST', `/plans/${held.id}/approve`), 409)
    await json(await api('POST', `/plans/${held.id}/reject`), 409)

    const heldAgain = await json<PlanView>(await api('POST', `/sources/${source}/plans`), 201)
    const stale = await json<PlanView>(await api('POST', `/sources/${source}/plans`), 201)
    expect(await json(await api('POST', `/plans/${heldAgain.id}/approve`), 200)).toMatchObject({
      status: 'applied',
      approvedBy: 'admin',
    })
    expect((await personByUserName(q(), 'b@corp.test')).status).toBe('suspended')
    const err = await json<{ error: { message: string } }>(
      await api('POST', `/plans/${stale.id}/approve`),
      409,
    )
    expect(err.error.message).toMatch(/stale/)
    expect(await json(await api('GET', `/plans/${stale.id}`), 200)).toMatchObject({ status: 'stale' })

    await reseed(app, source, { users: [u('a', { title: 'T' })] })
    const ready = await json<PlanView>(await api('POST', `/sources/${source}/plans`), 201)
    expect(await json(await api('POST', `/plans/${ready.id}/reject`), 200)).toMatchObject({
      status: 'rejected',
    })
    await json(await api('POST', `/plans/${ready.id}/apply`), 409)
    expect((await personByUserName(q(), 'a@corp.test')).title).toBeNull()
    await json(await api('POST', '/plans/not-a-uuid/apply'), 404)
  })

  test('POST /sources/{id}/runs?wait=true runs now and answers with the run; GET lists the runs', async () => {
    const source = await fakeSource(app, { users: [u('a')] }, { mode: 'auto' })
    const run = await json<Json<RunView>>(await api('POST', `/sources/${source}/runs?wait=true`), 201)
    expect(run).toMatchObject({ sourceId: source, status: 'succeeded', trigger: 'manual', attempts: 1 })
    expect(await json(await api('GET', `/plans/${run.planId}`), 200)).toMatchObject({ status: 'applied' })

    // Without wait the run starts in the background; its outcome shows in the run history.
    const started = await json<{ status: string; runs: string }>(
      await api('POST', `/sources/${source}/runs`),
      202,
    )
    expect(started).toEqual({ status: 'started', runs: `/api/v1/sources/${source}/runs` })
    const finished = await until(async () => {
      const list = await json<{ items: Json<RunView>[] }>(await app.api('GET', started.runs), 200)
      return list.items.length === 2 && list.items.every((r) => r.status !== 'running') ? list : undefined
    })
    expect(finished.items.map((r) => r.status)).toEqual(['succeeded', 'succeeded'])
    expect(finished.items[1]!.id).toBe(run.id) // newest first
    await json(await api('GET', `/sources/${source}/runs?limit=0`), 400)

    // A disabled source does not run, whoever asks; nothing is recorded.
    await json(await api('PATCH', `/sources/${source}`, { enabled: false }), 200)
    const refused = await json<{ error: { message: string } }>(
      await api('POST', `/sources/${source}/runs`),
      409,
    )
    expect(refused.error.message).toMatch(/disabled/)
    await json(await api('POST', `/sources/${source}/runs?wait=true`), 409)
    const after = await json<{ items: unknown[] }>(await app.api('GET', started.runs), 200)
    expect(after.items).toHaveLength(2)
  })

  test('POST /sources/{id}/check reports what an admin can act on', async () => {
    const ok = await fakeSource(app, { users: [u('a')] }, { name: 'ok' })
    expect(await json(await api('POST', `/sources/${ok}/check`), 200)).toEqual({
      ok: true,
      checks: [{ name: 'seed', ok: true, message: '1 users seeded' }],
    })
    const broken = await fakeSource(app, { fail: { what: 'check', kind: 'auth' } }, { name: 'broken' })
    expect(await json(await api('POST', `/sources/${broken}/check`), 200)).toEqual({
      ok: false,
      checks: [{ name: 'auth', ok: false, message: 'fake: check page 0 failed (auth, as configured)' }],
    })
    const csv = await csvSource()
    expect(await json(await api('POST', `/sources/${csv}/check`), 200)).toMatchObject({ ok: true })
  })
})

/** Polls `probe` until it returns a value (a state the test waits for), failing after 10 s. */
async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
