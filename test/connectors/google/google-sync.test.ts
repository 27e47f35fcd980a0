import { googleConnector } from '../../../connectors/google'
import { AppError } from '../../../src/errors'
import { startGoogleFake, type GoogleFake } from '../../fakes/google/google-fake'
import { type GoogleUser, type SeededWorkspace } from '../../fakes/google/google-types'
import { seedWorkspace } from '../../fakes/google/seed-workspace'
import { admin, allChanges } from '../../helpers/sync-fixture'
import { startTestApp, type TestApp } from '../../helpers/test-app'
import { describeEachDatabase } from '../../helpers/test-database'

/**
 * The "done when" for Google: a seeded Workspace syncs through the engine into the org tree,
 * and a handful of changes made in Google come back as exactly those changes in the next plan.
 */

const emptyPeople = { create: 0, update: 0, move: 0, manager: 0, suspend: 0, reactivate: 0, deprovision: 0 }
const emptyDepartments = { create: 0, rename: 0, move: 0, delete: 0 }

describeEachDatabase('google: a Workspace through the engine', (db) => {
  let fake: GoogleFake
  let ws: SeededWorkspace
  let app: TestApp
  let sourceId: string
  const q = () => db().handle.db

  beforeAll(async () => {
    fake = await startGoogleFake({ domain: 'example.com' })
    ws = seedWorkspace({ users: 2000, orgUnits: 50, seed: 2024 })
    fake.seed(ws)
    app = await startTestApp(db(), { connectors: { google: googleConnector } })
  }, 60_000)
  afterAll(async () => {
    await app?.close()
    await fake?.close()
  })

  /** Every listed user as the fake has them now (the seed plus the fake's own admin). */
  function workspaceUsers(): GoogleUser[] {
    return [...ws.users.map((u) => fake.getUser(u.id)), fake.getUser(fake.subject)].filter(
      (u): u is GoogleUser => u !== undefined,
    )
  }
  const isActive = (u: GoogleUser) => !u.suspended && !u.archived

  /** The org tree as people see it: user name → status, department path and manager's email. */
  async function orgTree() {
    const rows = await q()
      .selectFrom('people as p')
      .leftJoin('departments as d', 'd.id', 'p.department_id')
      .leftJoin('people as m', 'm.id', 'p.manager_id')
      .select(['p.user_name', 'p.status', 'p.title', 'p.employee_number', 'd.path', 'm.email as manager'])
      .execute()
    return new Map(rows.map((r) => [r.user_name, r]))
  }

  it('refuses a malformed key when the source is saved, and keeps the key secret', async () => {
    const bad = app.services.sources.create(admin, {
      type: 'google',
      name: 'Broken',
      config: { serviceAccountKey: '{"type": "service_account"}', subject: fake.subject },
    })
    await expect(bad).rejects.toThrow(AppError)
    await expect(bad).rejects.toThrow(
      /^config is not valid for a google source: serviceAccountKey: serviceAccountKey has no client_email or private_key/,
    )

    const source = await app.services.sources.create(admin, {
      type: 'google',
      name: 'Google Workspace',
      mode: 'auto',
      config: {
        serviceAccountKey: fake.serviceAccountKey,
        subject: fake.subject,
        rootUrl: fake.rootUrl,
        tokenUrl: fake.tokenUrl,
      },
    })
    sourceId = source.id
    expect(JSON.stringify(await app.services.sources.get(sourceId))).not.toContain('PRIVATE KEY')
    const check = await app.services.plans.check(sourceId, new AbortController().signal)
    expect(check.checks.map((c) => [c.name, c.ok])).toEqual([
      ['token', true],
      ['users', true],
      ['org units', true],
      ['groups', true],
    ])
  })

  it('syncs the whole Workspace: departments with Google’s paths, people, managers, leavers left out', async () => {
    const users = workspaceUsers()
    const active = users.filter(isActive)
    const activeEmails = new Set(active.map((u) => u.primaryEmail))
    const managerOf = (u: GoogleUser) => u.relations?.find((r) => r.type === 'manager')?.value
    const managed = active.filter((u) => {
      const m = managerOf(u)
      return m !== undefined && activeEmails.has(m)
    })

    const plan = await app.services.plans.createPlan(sourceId, { trigger: 'manual', actor: admin })
    expect(plan.status).toBe('ready')
    expect(plan.summary).toMatchObject({
      people: { ...emptyPeople, create: active.length, manager: managed.length },
      departments: { ...emptyDepartments, create: 50 },
      groups: { create: ws.groups.length },
    })
    expect((await app.services.plans.apply(plan.id, admin)).status).toBe('applied')

    const departments = await q()
      .selectFrom('departments')
      .select(['path', 'external_id'])
      .where('source_id', '=', sourceId)
      .execute()
    expect(departments.map((d) => `/${d.path}`).sort()).toEqual([...ws.orgUnitPaths].sort())
    for (const d of departments) expect(d.external_id).toBe(fake.getOrgUnit(`/${d.path}`)?.orgUnitId)

    const tree = await orgTree()
    expect(tree.size).toBe(active.length)
    for (const u of active) {
      const org = u.organizations?.[0]
      const manager = managerOf(u)
      expect(tree.get(u.primaryEmail)).toEqual({
        user_name: u.primaryEmail,
        status: 'active',
        title: org?.title ?? null,
        employee_number: u.externalIds?.[0]?.value ?? null,
        path: u.orgUnitPath === '/' ? null : u.orgUnitPath.slice(1),
        manager: manager !== undefined && activeEmails.has(manager) ? manager : null,
      })
    }
    // Nothing changed in Google: a second full listing finds nothing to do.
    const again = await app.services.plans.createPlan(sourceId, { trigger: 'manual', actor: admin })
    expect(again.changeCount).toBe(0)
  })

  it('turns two suspensions, a move, an org unit rename, a new manager and a deletion into exactly those changes', async () => {
    const users = workspaceUsers()
    const managers = new Set(users.flatMap((u) => u.relations?.map((r) => r.value) ?? []))
    // Leaves of the reporting tree, so no one else's manager is touched by their going.
    const leaves = users.filter(
      (u) => isActive(u) && !managers.has(u.primaryEmail) && u.orgUnitPath !== '/' && !u.isAdmin,
    )
    const [suspended1, suspended2, deleted, mover, report] = [
      leaves[10]!,
      leaves[20]!,
      leaves[30]!,
      leaves[40]!,
      leaves[50]!,
    ]
    const deletedGroups = ws.groups.filter((g) => g.members.some((m) => m.id === deleted.id)).length

    const target = ws.orgUnitPaths.find(
      (p) => p !== mover.orgUnitPath && !p.startsWith(`${mover.orgUnitPath}/`),
    )!
    const renamed = ws.orgUnitPaths.find((p) => p.split('/').length === 3 && p !== target)!
    const renamedUnit = fake.getOrgUnit(renamed)!
    const newName = `${renamedUnit.name} (renamed)`
    const oldManager = report.relations?.[0]?.value
    const newManager = users.find(
      (u) => isActive(u) && u.primaryEmail !== oldManager && u.primaryEmail !== report.primaryEmail,
    )!

    fake.updateUser(suspended1.id, { suspended: true })
    fake.updateUser(suspended2.id, { archived: true })
    fake.updateUser(mover.id, { orgUnitPath: target })
    fake.renameOrgUnit(renamed, newName)
    fake.updateUser(report.id, { relations: [{ type: 'manager', value: newManager.primaryEmail }] })
    fake.deleteUser(deleted.id)

    const plan = await app.services.plans.createPlan(sourceId, { trigger: 'manual', actor: admin })
    expect(plan.status).toBe('ready')
    expect(plan.summary).toMatchObject({
      people: { ...emptyPeople, suspend: 3, move: 1, manager: 1 },
      departments: { ...emptyDepartments, rename: 1 },
      groups: { create: 0, update: 0, delete: 0 },
      // Google takes a deleted user out of their groups; suspended ones stay members.
      memberships: { added: 0, removed: deletedGroups },
    })
    const changes = await allChanges(app, plan.id)
    const people = new Map(
      (await q().selectFrom('people').select(['id', 'user_name']).execute()).map((p) => [p.id, p.user_name]),
    )
    const byKind = (kind: string) => changes.filter((c) => c.kind === kind)
    expect(
      byKind('person.suspend')
        .map((c) => people.get(c.targetId!))
        .sort(),
    ).toEqual([suspended1.primaryEmail, suspended2.primaryEmail, deleted.primaryEmail].sort())
    expect(byKind('person.move').map((c) => people.get(c.targetId!))).toEqual([mover.primaryEmail])
    expect(byKind('person.manager').map((c) => people.get(c.targetId!))).toEqual([report.primaryEmail])
    expect(byKind('department.rename').map((c) => [c.before, c.after])).toEqual([
      [{ name: renamedUnit.name }, { name: newName }],
    ])
    expect(byKind('person.update')).toEqual([])
    expect(byKind('department.move')).toEqual([])

    expect((await app.services.plans.apply(plan.id, admin)).status).toBe('applied')
    const tree = await orgTree()
    expect(tree.get(suspended1.primaryEmail)?.status).toBe('suspended')
    expect(tree.get(suspended2.primaryEmail)?.status).toBe('suspended')
    expect(tree.get(deleted.primaryEmail)?.status).toBe('suspended')
    expect(tree.get(mover.primaryEmail)?.path).toBe(fake.getUser(mover.id)!.orgUnitPath.slice(1))
    expect(tree.get(report.primaryEmail)?.manager).toBe(newManager.primaryEmail)
    const renamedPath = await q()
      .selectFrom('departments')
      .select('path')
      .where('external_id', '=', renamedUnit.orgUnitId)
      .executeTakeFirstOrThrow()
    expect(`/${renamedPath.path}`).toBe(fake.getOrgUnit(renamedUnit.orgUnitId)!.orgUnitPath)

    const again = await app.services.plans.createPlan(sourceId, { trigger: 'manual', actor: admin })
    expect(again.changeCount).toBe(0)
  })

  it('rides out a quota error: the run retries after Retry-After and succeeds', async () => {
    fake.quirks.quota = { status: 429, times: 1, retryAfterSeconds: 0 }
    const someone = workspaceUsers().find((u) => isActive(u) && u.orgUnitPath !== '/' && !u.isAdmin)!
    fake.updateUser(someone.id, { organizations: [{ title: 'Chief Quota Officer', primary: true }] })
    const run = await app.services.runs.run(sourceId, { trigger: 'manual', actor: admin })
    expect(run).toMatchObject({ status: 'succeeded', attempts: 2, error: null })
    expect(fake.quirks.quota).toBeNull()
    expect((await orgTree()).get(someone.primaryEmail)?.title).toBe('Chief Quota Officer')
  })
})
