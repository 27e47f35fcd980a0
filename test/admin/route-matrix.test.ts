import { randomUUID } from 'node:crypto'
import { adminWith, orgFixture, type OrgFixture, type TestAdmin } from '../helpers/admin-fixture'
import { mountedRoutes } from '../helpers/admin-routes'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'

/**
 * The authorisation matrix: every admin API route × each built-in role × a target inside and
 * outside the admin's scope → allowed (any status but 401/403, never a 5xx) or 403.
 *
 * The expectations come from this file's own statement of the roles (ROLE_PERMISSIONS below,
 * written from the issue, not imported from the code), so a route wired to the wrong permission,
 * a role given too much, or a scope check missing fails here. A route the app serves that has no
 * authorize rule, or no row in ROUTES, fails the suite too.
 */

type Target = 'global' | 'collection' | 'self' | 'public' | 'source' | 'plan' | 'department' | 'person'
type RoleKey = 'global' | 'app' | 'department' | 'support'

const ROLE_PERMISSIONS: Record<RoleKey, '*' | string[]> = {
  global: '*',
  app: [
    'source.read',
    'source.update',
    'source.run',
    'source.tokens',
    'run.read',
    'plan.read',
    'plan.apply',
    'plan.reject',
  ],
  department: [
    'person.read',
    'person.status',
    'person.update',
    'person.suspend',
    'department.read',
    'department.create',
    'department.update',
    'department.delete',
    'plan.changes',
  ],
  support: ['person.status', 'run.read'],
}
/** Where each role's grant in this test reaches: app admin one source, department admin subtree A. */
const ROLE_SCOPE: Record<RoleKey, 'global' | 'source' | 'department'> = {
  global: 'global',
  app: 'source',
  department: 'department',
  support: 'global',
}

interface Case {
  action: string
  target: Target
  /** Path with :params filled for the in- or outside-scope target. */
  path?: (f: OrgFixture, inside: boolean) => string
  body?: (f: OrgFixture, inside: boolean) => unknown
}

const src = (f: OrgFixture, inside: boolean) => (inside ? f.source.S1 : f.source.S2)
const pln = (f: OrgFixture, inside: boolean) => (inside ? f.plan.S1 : f.plan.S2)
const dep = (f: OrgFixture, inside: boolean) => (inside ? f.dept.A1 : f.dept.B1)
const per = (f: OrgFixture, inside: boolean) => (inside ? f.person.pa1 : f.person.pb1)
const junk = () => ({ notAField: true })
const rnd = randomUUID()

// Bodies and queries are chosen so that an allowed call is harmless: it fails validation (400),
// finds nothing (404), conflicts (409), or files an approval request (202). Authorisation runs
// first, so 403 versus anything else is exactly the authorisation decision.
const ROUTES: Record<string, Case> = {
  'POST /api/v1/auth/sign-in': { action: '-', target: 'public', body: junk },
  'POST /api/v1/auth/sign-out': { action: '-', target: 'self' },
  'GET /api/v1/auth/me': { action: '-', target: 'self' },
  'POST /api/v1/auth/2fa/enrol': { action: '-', target: 'self', body: junk },
  'POST /api/v1/auth/2fa/confirm': { action: '-', target: 'self', body: junk },
  'POST /api/v1/auth/2fa/recovery-codes': { action: '-', target: 'self', body: junk },
  'DELETE /api/v1/auth/2fa': { action: '-', target: 'self', body: junk },
  'GET /api/v1/auth/tokens': { action: '-', target: 'self' },
  'POST /api/v1/auth/tokens': { action: '-', target: 'self', body: junk },
  'DELETE /api/v1/auth/tokens/:id': { action: '-', target: 'self', path: () => `/api/v1/auth/tokens/${rnd}` },

  'GET /api/v1/sources': { action: 'source.read', target: 'collection' },
  'POST /api/v1/sources': { action: 'source.create', target: 'global', body: junk },
  'GET /api/v1/sources/:id': { action: 'source.read', target: 'source' },
  'PATCH /api/v1/sources/:id': { action: 'source.update', target: 'source', body: junk },
  'DELETE /api/v1/sources/:id': { action: 'source.delete', target: 'source' },
  'POST /api/v1/sources/:id/check': { action: 'source.run', target: 'source' },
  'POST /api/v1/sources/:id/plans': {
    action: 'source.run',
    target: 'source',
    path: (f, i) => `/api/v1/sources/${src(f, i)}/plans?full=maybe`,
  },
  'GET /api/v1/sources/:id/plans': { action: 'plan.read', target: 'source' },
  'POST /api/v1/sources/:id/runs': {
    action: 'source.run',
    target: 'source',
    path: (f, i) => `/api/v1/sources/${src(f, i)}/runs?wait=maybe`,
  },
  'GET /api/v1/sources/:id/runs': { action: 'run.read', target: 'source' },
  'POST /api/v1/sources/:id/scim-tokens': { action: 'source.tokens', target: 'source', body: junk },
  'GET /api/v1/sources/:id/scim-tokens': { action: 'source.tokens', target: 'source' },
  'DELETE /api/v1/sources/:id/scim-tokens': { action: 'source.tokens', target: 'source' },
  'PATCH /api/v1/sources/:id/scim-tokens/:tokenId': {
    action: 'source.tokens',
    target: 'source',
    path: (f, i) => `/api/v1/sources/${src(f, i)}/scim-tokens/${rnd}`,
    body: junk,
  },
  'DELETE /api/v1/sources/:id/scim-tokens/:tokenId': {
    action: 'source.tokens',
    target: 'source',
    path: (f, i) => `/api/v1/sources/${src(f, i)}/scim-tokens/${rnd}`,
  },
  'GET /api/v1/sources/:id/held-leavers': { action: 'plan.changes', target: 'source' },
  'POST /api/v1/sources/:id/held-leavers/approve': { action: 'plan.approve', target: 'source', body: junk },
  'POST /api/v1/sources/:id/held-leavers/discard': { action: 'plan.reject', target: 'source', body: junk },

  'GET /api/v1/plans': { action: 'plan.changes', target: 'collection' },
  'GET /api/v1/plans/:id': { action: 'plan.read', target: 'plan' },
  'GET /api/v1/plans/:id/changes': { action: 'plan.changes', target: 'plan' },
  'POST /api/v1/plans/:id/apply': { action: 'plan.apply', target: 'plan' },
  'POST /api/v1/plans/:id/approve': { action: 'plan.approve', target: 'plan' },
  'POST /api/v1/plans/:id/reject': { action: 'plan.reject', target: 'plan' },

  'GET /api/v1/departments': { action: 'department.read', target: 'collection' },
  'POST /api/v1/departments': {
    action: 'department.create',
    target: 'department',
    path: () => '/api/v1/departments',
    body: (f, i) => ({ parentId: dep(f, i), notAField: true }),
  },
  'GET /api/v1/departments/:id': { action: 'department.read', target: 'department' },
  'PATCH /api/v1/departments/:id': { action: 'department.update', target: 'department', body: junk },
  'DELETE /api/v1/departments/:id': { action: 'department.delete', target: 'department' },

  'GET /api/v1/people': { action: 'person.read', target: 'collection' },
  'GET /api/v1/people/export': { action: 'person.read', target: 'collection' },
  'GET /api/v1/people/status': {
    action: 'person.status',
    target: 'collection',
    path: () => '/api/v1/people/status?userName=pa1@corp.test',
  },
  'GET /api/v1/people/:id': { action: 'person.read', target: 'person' },
  'GET /api/v1/people/:id/status': { action: 'person.status', target: 'person' },
  'PATCH /api/v1/people/:id': { action: 'person.update', target: 'person', body: junk },
  'POST /api/v1/people/:id/suspend': { action: 'person.suspend', target: 'person', body: junk },
  'POST /api/v1/people/:id/reactivate': { action: 'person.suspend', target: 'person' },

  'GET /api/v1/admins': { action: 'admin.read', target: 'global' },
  'POST /api/v1/admins': { action: 'admin.manage', target: 'global', body: junk },
  'GET /api/v1/admins/:id': { action: 'admin.read', target: 'global', path: () => `/api/v1/admins/${rnd}` },
  'PATCH /api/v1/admins/:id': {
    action: 'admin.manage',
    target: 'global',
    path: () => `/api/v1/admins/${rnd}`,
    body: junk,
  },
  'POST /api/v1/admins/:id/credentials/reset': {
    action: 'admin.manage',
    target: 'global',
    path: () => `/api/v1/admins/${rnd}/credentials/reset`,
    body: junk,
  },
  'GET /api/v1/admins/:id/grants': {
    action: 'admin.read',
    target: 'global',
    path: () => `/api/v1/admins/${rnd}/grants`,
  },
  'POST /api/v1/admins/:id/grants': {
    action: 'admin.manage',
    target: 'global',
    path: () => `/api/v1/admins/${rnd}/grants`,
    body: junk,
  },
  'DELETE /api/v1/admins/:id/grants/:grantId': {
    action: 'admin.manage',
    target: 'global',
    path: () => `/api/v1/admins/${rnd}/grants/${rnd}`,
  },
  'GET /api/v1/admins/:id/effective-permissions': {
    action: 'authz.simulate',
    target: 'global',
    path: () => `/api/v1/admins/${rnd}/effective-permissions`,
  },
  'GET /api/v1/roles': { action: 'admin.read', target: 'global' },
  'POST /api/v1/roles': { action: 'role.manage', target: 'global', body: junk },
  'PUT /api/v1/roles/:name': {
    action: 'role.manage',
    target: 'global',
    path: () => '/api/v1/roles/no-such-role',
    body: junk,
  },
  'DELETE /api/v1/roles/:name': {
    action: 'role.manage',
    target: 'global',
    path: () => '/api/v1/roles/no-such-role',
  },
  'GET /api/v1/authz/permissions': { action: 'admin.read', target: 'global' },
  'POST /api/v1/authz/simulate': { action: 'authz.simulate', target: 'global', body: junk },
  'GET /api/v1/approvals': { action: 'approval.read', target: 'global' },
  'POST /api/v1/approvals': { action: '-', target: 'self', body: junk },
  'GET /api/v1/approvals/:id': {
    action: 'approval.read',
    target: 'global',
    path: () => `/api/v1/approvals/${rnd}`,
  },
  'POST /api/v1/approvals/:id/approve': {
    action: 'approval.decide',
    target: 'global',
    path: () => `/api/v1/approvals/${rnd}/approve`,
  },
  'POST /api/v1/approvals/:id/reject': {
    action: 'approval.decide',
    target: 'global',
    path: () => `/api/v1/approvals/${rnd}/reject`,
  },
  'POST /api/v1/approvals/:id/cancel': {
    action: '-',
    target: 'self',
    path: () => `/api/v1/approvals/${rnd}/cancel`,
  },
  'GET /api/v1/policy': { action: 'policy.read', target: 'global' },
  'PUT /api/v1/policy': { action: 'policy.update', target: 'global', body: junk },

  'GET /api/v1/audit': { action: 'audit.read', target: 'global' },
  'GET /api/v1/audit/verify': { action: 'audit.read', target: 'global' },
  'GET /api/v1/audit/export': {
    action: 'audit.export',
    target: 'global',
    path: () => '/api/v1/audit/export?format=ndjson&action=admin.grant*',
  },
}

/** What the issue says each role may do, as a yes/no for one call. */
function expectedAllowed(role: RoleKey, c: Case, inside: boolean): boolean {
  if (c.target === 'public' || c.target === 'self') return true
  const perms = ROLE_PERMISSIONS[role]
  if (perms !== '*' && !perms.includes(c.action)) return false
  const scope = ROLE_SCOPE[role]
  if (scope === 'global' || c.target === 'collection') return true
  // A plan's changes are shown to a department admin filtered to their subtree, for any plan.
  if (c.action === 'plan.changes' && c.target === 'plan' && scope === 'department') return true
  if (!inside) return false
  if (scope === 'source') return c.target === 'source' || c.target === 'plan'
  return c.target === 'department' || c.target === 'person'
}

function defaultPath(routePath: string, target: Target, f: OrgFixture, inside: boolean): string {
  const id =
    target === 'source'
      ? src(f, inside)
      : target === 'plan'
        ? pln(f, inside)
        : target === 'department'
          ? dep(f, inside)
          : target === 'person'
            ? per(f, inside)
            : rnd
  return routePath.replace(':id', id)
}

describeEachDatabase('admin route authorisation matrix', (db) => {
  let app: TestApp
  let fixture: OrgFixture
  let admins: Record<RoleKey, TestAdmin>

  beforeAll(async () => {
    app = await startTestApp(db())
    fixture = await orgFixture(app)
    // Decided plans: an allowed apply/approve/reject is a harmless 409.
    for (const id of Object.values(fixture.plan)) await app.api('POST', `/api/v1/plans/${id}/reject`)
    admins = {
      global: await adminWith(app, 'matrix-global', [{ role: 'global-admin' }]),
      app: await adminWith(app, 'matrix-app', [{ role: 'app-admin', sourceId: fixture.source.S1 }]),
      department: await adminWith(app, 'matrix-department', [
        { role: 'department-admin', departmentId: fixture.dept.A },
      ]),
      support: await adminWith(app, 'matrix-support', [{ role: 'support-admin' }]),
    }
  }, 60_000)
  afterAll(() => app?.close())

  test('every admin route has an authorize rule and a row in the matrix, and every row a route', () => {
    const admin = mountedRoutes(app.app).filter((r) => r.path.startsWith('/api/v1/'))
    const problems: string[] = []
    for (const r of admin) {
      const key = `${r.method} ${r.path}`
      if (!r.rule) problems.push(`${key}: no authorize rule`)
      if (!ROUTES[key]) problems.push(`${key}: not in the matrix`)
      const expected = ROUTES[key]
      if (r.rule && expected) {
        const declared = r.rule.kind === 'permission' || r.rule.kind === 'collection' ? r.rule.action : '-'
        if (declared !== expected.action)
          problems.push(`${key}: declares ${declared}, matrix says ${expected.action}`)
      }
    }
    const served = new Set(admin.map((r) => `${r.method} ${r.path}`))
    for (const key of Object.keys(ROUTES))
      if (!served.has(key)) problems.push(`${key}: in the matrix but not served`)
    expect(problems).toEqual([])
  })

  test('each role × each route × inside and outside the scope gets the expected answer', async () => {
    const mismatches: string[] = []
    for (const [key, c] of Object.entries(ROUTES)) {
      const [method, routePath] = key.split(' ') as [string, string]
      for (const role of Object.keys(admins) as RoleKey[]) {
        for (const inside of [true, false]) {
          // Targets without a scope of their own are asked once.
          if (!inside && ['global', 'collection', 'self', 'public'].includes(c.target)) continue
          const path = c.path ? c.path(fixture, inside) : defaultPath(routePath, c.target, fixture, inside)
          const res = await admins[role].api(method, path, c.body?.(fixture, inside))
          const body = await res.text()
          const allowed = expectedAllowed(role, c, inside)
          const ok = allowed
            ? res.status !== 401 && res.status !== 403 && res.status < 500
            : res.status === 403
          if (!ok) {
            mismatches.push(
              `${role} ${inside ? 'inside' : 'outside'} ${key}: expected ${allowed ? 'allowed' : '403'}, got ${res.status} ${body.slice(0, 160)}`,
            )
          }
        }
      }
    }
    expect(mismatches).toEqual([])
  }, 120_000)

  test('an anonymous caller gets 401 on every route but sign-in', async () => {
    const wrong: string[] = []
    for (const [key, c] of Object.entries(ROUTES)) {
      if (c.target === 'public') continue
      const [method, routePath] = key.split(' ') as [string, string]
      const path = c.path ? c.path(fixture, true) : defaultPath(routePath, c.target, fixture, true)
      const res = await fetch(`${app.url}${path}`, { method })
      if (res.status !== 401) wrong.push(`${key}: ${res.status}`)
    }
    expect(wrong).toEqual([])
  })
})
