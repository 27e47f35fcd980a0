import { adminWith, orgFixture, type OrgFixture, type TestAdmin } from '../helpers/admin-fixture'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'

/**
 * Cross-department data isolation: a department admin's people list, search, export, status
 * lookup, department list and plan view never include anyone outside their subtree(s).
 */
describeEachDatabase('department admin data isolation', (db) => {
  let app: TestApp
  let f: OrgFixture
  let adminA: TestAdmin
  let adminA1B1: TestAdmin

  beforeAll(async () => {
    app = await startTestApp(db())
    f = await orgFixture(app)
    adminA = await adminWith(app, 'dept-a', [{ role: 'department-admin', departmentId: f.dept.A }])
    // Two grants on leaves of different branches: the union of both, nothing else.
    adminA1B1 = await adminWith(app, 'dept-a1-b1', [
      { role: 'department-admin', departmentId: f.dept.A1 },
      { role: 'department-admin', departmentId: f.dept.B1 },
    ])
  }, 60_000)
  afterAll(() => app?.close())

  const json = async <T>(res: Response): Promise<T> => {
    expect(res.status).toBe(200)
    return (await res.json()) as T
  }
  const userNames = (items: { userName: string }[]) => items.map((p) => p.userName).sort()

  test('the people list and search hold only the subtree', async () => {
    type Page = { items: { userName: string }[] }
    expect(userNames((await json<Page>(await adminA.api('GET', '/api/v1/people'))).items)).toEqual([
      'pa1@corp.test',
      'pa2@corp.test',
    ])
    // A search matching everyone still returns only the subtree.
    expect(
      userNames((await json<Page>(await adminA.api('GET', '/api/v1/people?q=corp.test'))).items),
    ).toEqual(['pa1@corp.test', 'pa2@corp.test'])
    // Asking for another branch explicitly does not widen the view.
    expect(
      (await json<Page>(await adminA.api('GET', `/api/v1/people?departmentId=${f.dept.B}`))).items,
    ).toEqual([])
    expect(userNames((await json<Page>(await adminA1B1.api('GET', '/api/v1/people'))).items)).toEqual([
      'pa1@corp.test',
      'pb1@corp.test',
    ])
    // The global admin sees all four: the filter is the scope, not a bug hiding people.
    expect(userNames((await json<Page>(await app.api('GET', '/api/v1/people'))).items)).toEqual([
      'pa1@corp.test',
      'pa2@corp.test',
      'pb1@corp.test',
      'pb2@corp.test',
    ])
  })

  test('exports, as NDJSON and CSV, hold only the subtree', async () => {
    const ndjson = await adminA.api('GET', '/api/v1/people/export?format=ndjson')
    expect(ndjson.status).toBe(200)
    expect(ndjson.headers.get('content-type')).toMatch(/ndjson/)
    const rows = (await ndjson.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { userName: string; department: string })
    expect(userNames(rows)).toEqual(['pa1@corp.test', 'pa2@corp.test'])
    expect(rows.every((r) => r.department.startsWith('A/'))).toBe(true)

    const csv = await adminA1B1.api('GET', '/api/v1/people/export?format=csv')
    const lines = (await csv.text()).trim().split('\r\n')
    expect(lines[0]).toBe('id,userName,displayName,email,title,status,department,managerId')
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',')[1])
        .sort(),
    ).toEqual(['pa1@corp.test', 'pb1@corp.test'])
  })

  test('status lookup outside the subtree reads as absent', async () => {
    expect((await adminA.api('GET', '/api/v1/people/status?userName=pa2@corp.test')).status).toBe(200)
    const outside = await adminA.api('GET', '/api/v1/people/status?userName=pb1@corp.test')
    expect(outside.status).toBe(404)
    expect(await outside.text()).not.toContain(f.person.pb1)
  })

  test('department list holds only the subtree', async () => {
    const page = await json<{ items: { name: string }[] }>(await adminA.api('GET', '/api/v1/departments'))
    expect(page.items.map((d) => d.name).sort()).toEqual(['A', 'A1', 'A2'])
  })

  test("a plan's changes are filtered to the subtree", async () => {
    type Changes = { items: { kind: string; targetId: string | null; departmentId: string | null }[] }
    const people = (c: Changes) =>
      c.items
        .filter((x) => x.kind.startsWith('person.'))
        .map((x) => x.targetId)
        .sort()
    const branchA = new Set([f.dept.A, f.dept.A1, f.dept.A2])
    const all = await json<Changes>(await app.api('GET', `/api/v1/plans/${f.plan.S1}/changes`))
    expect(people(all)).toEqual(Object.values(f.person).sort())
    expect(all.items.some((c) => c.departmentId && !branchA.has(c.departmentId))).toBe(true)

    const mine = await json<Changes>(await adminA.api('GET', `/api/v1/plans/${f.plan.S1}/changes`))
    expect(people(mine)).toEqual([f.person.pa1, f.person.pa2].sort())
    expect(mine.items.length).toBeGreaterThan(0)
    expect(mine.items.every((c) => c.departmentId !== null && branchA.has(c.departmentId))).toBe(true)
    const two = await json<Changes>(await adminA1B1.api('GET', `/api/v1/plans/${f.plan.S1}/changes`))
    expect(people(two)).toEqual([f.person.pa1, f.person.pb1].sort())
    expect(two.items.every((c) => c.departmentId === f.dept.A1 || c.departmentId === f.dept.B1)).toBe(true)
    // Filtering by another branch does not widen it either.
    const other = await json<Changes>(
      await adminA.api('GET', `/api/v1/plans/${f.plan.S1}/changes?departmentId=${f.dept.B}`),
    )
    expect(other.items).toEqual([])
  })

  test('the review queue lists only plans touching the subtree, counted there', async () => {
    type Queue = { items: { id: string; changes: number; sourceName: string }[] }
    const all = await json<Queue>(await app.api('GET', '/api/v1/plans'))
    expect(all.items.map((p) => p.id).sort()).toEqual([f.plan.S1, f.plan.S2].sort())
    const mine = await json<Queue>(await adminA.api('GET', '/api/v1/plans'))
    expect(mine.items.map((p) => p.id)).toEqual([f.plan.S1])
    const inA = await json<{ items: unknown[] }>(
      await adminA.api('GET', `/api/v1/plans/${f.plan.S1}/changes?limit=1000`),
    )
    expect(mine.items[0]!.changes).toBe(inA.items.length)
    expect(mine.items[0]!.changes).toBeLessThan(all.items.find((p) => p.id === f.plan.S1)!.changes)
  })

  test('edits stay inside: moving someone out of the subtree is refused, within it allowed', async () => {
    const out = await adminA.api('PATCH', `/api/v1/people/${f.person.pa1}`, { departmentId: f.dept.B1 })
    expect(out.status).toBe(403)
    const within = await adminA.api('PATCH', `/api/v1/people/${f.person.pa1}`, { departmentId: f.dept.A2 })
    expect(within.status).toBe(200)
    expect(((await within.json()) as { departmentId: string }).departmentId).toBe(f.dept.A2)
    // Suspend and reactivate inside; outside refused.
    expect(
      (await adminA.api('POST', `/api/v1/people/${f.person.pa2}/suspend`, { reason: 'leave' })).status,
    ).toBe(200)
    expect((await adminA.api('POST', `/api/v1/people/${f.person.pa2}/reactivate`)).status).toBe(200)
    expect((await adminA.api('POST', `/api/v1/people/${f.person.pb2}/suspend`, { reason: 'x' })).status).toBe(
      403,
    )
    // The subtree's own root is not theirs to rename; a department below it is.
    expect((await adminA.api('PATCH', `/api/v1/departments/${f.dept.A}`, { name: 'A!' })).status).toBe(403)
    expect((await adminA.api('POST', '/api/v1/departments', { name: 'A3', parentId: f.dept.A })).status).toBe(
      201,
    )
    expect((await adminA.api('POST', '/api/v1/departments', { name: 'Top' })).status).toBe(403)
  })
})
