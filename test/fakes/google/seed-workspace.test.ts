import { performance } from 'node:perf_hooks'
import { startGoogleFake } from './google-fake'
import { seedWorkspace } from './seed-workspace'

describe('seedWorkspace', () => {
  const ws = seedWorkspace({ users: 3000, orgUnits: 120, seed: 9 })

  it('is deterministic per seed, ids included', () => {
    // Compared as JSON: jest's deep equality is slow on thousands of users.
    expect(JSON.stringify(seedWorkspace({ users: 3000, orgUnits: 120, seed: 9 }))).toBe(JSON.stringify(ws))
    expect(seedWorkspace({ users: 3000, orgUnits: 120, seed: 10 }).users[5]?.id).not.toBe(ws.users[5]?.id)
  })

  it('builds an org-unit tree several levels deep, parents first', () => {
    expect(ws.orgUnitPaths).toHaveLength(120)
    expect(new Set(ws.orgUnitPaths.map((p) => p.toLowerCase())).size).toBe(120)
    const seen = new Set<string>(['/'])
    for (const path of ws.orgUnitPaths) {
      const parent = path.slice(0, path.lastIndexOf('/')) || '/'
      expect(seen.has(parent)).toBe(true)
      seen.add(path)
    }
    expect(Math.max(...ws.orgUnitPaths.map((p) => p.split('/').length - 1))).toBeGreaterThanOrEqual(4)
  })

  it('gives users unique ids and ASCII addresses, placed in existing units', () => {
    const units = new Set(['/', ...ws.orgUnitPaths])
    expect(new Set(ws.users.map((u) => u.id)).size).toBe(3000)
    expect(new Set(ws.users.map((u) => u.primaryEmail)).size).toBe(3000)
    expect(ws.users.filter((u) => !/^[a-z0-9.]+@example\.com$/.test(u.primaryEmail))).toEqual([])
    expect(ws.users.filter((u) => !units.has(u.orgUnitPath))).toEqual([])
  })

  it('forms a manager tree: every manager exists and precedes the report; only the first user has none by rule', () => {
    const index = new Map(ws.users.map((u, i) => [u.primaryEmail, i]))
    const managerOf = (i: number): number | undefined => {
      const email = ws.users[i]?.relations?.find((r) => r.type === 'manager')?.value
      return email === undefined ? undefined : index.get(email)
    }
    const broken = ws.users.filter((u, i) => u.relations !== undefined && !((managerOf(i) ?? i) < i))
    expect(broken).toEqual([])
    expect(ws.users[0]?.relations).toBeUndefined()
    let depth = 0
    for (let i: number | undefined = ws.users.length - 1; i !== undefined && i > 0; i = managerOf(i)) depth++
    expect(depth).toBeGreaterThanOrEqual(3)
  })

  it('includes the awkward cases a connector must handle', () => {
    expect(ws.users.filter((u) => u.suspended).length).toBeGreaterThan(20)
    expect(ws.users.filter((u) => u.archived).length).toBeGreaterThan(5)
    expect(ws.users.some((u) => u.suspended && u.archived)).toBe(false)
    expect(ws.users.filter((u) => /[^\p{Script=Latin}\s]/u.test(u.name.fullName)).length).toBeGreaterThan(50)
    expect(ws.users.filter((u) => !u.relations).length).toBeGreaterThan(1)
    expect(ws.users.filter((u) => u.externalIds?.[0]?.type === 'organization').length).toBeGreaterThan(2700)
    expect(
      ws.users.filter((u) => u.organizations?.[0]?.title && u.organizations[0].department).length,
    ).toBeGreaterThan(2800)
  })

  it('makes groups whose members exist, with acyclic nesting and an everyone-list', () => {
    const ids = new Set(ws.users.map((u) => u.id))
    const position = new Map(ws.groups.map((g, i) => [g.id, i]))
    expect(ws.groups).toHaveLength(30)
    expect(ws.groups[0]?.members.length).toBe(ws.users.filter((u) => !u.suspended).length)
    const dangling = ws.groups.flatMap((g, i) =>
      g.members.filter((m) => {
        const nested = position.get(m.id)
        return nested === undefined ? !ids.has(m.id) : nested >= i
      }),
    )
    expect(dangling).toEqual([])
  })

  it('seeds 20,000 users into a running fake in linear time', async () => {
    const fake = await startGoogleFake()
    try {
      const started = performance.now()
      const big = seedWorkspace({ users: 20_000, orgUnits: 300, seed: 3 })
      fake.seed(big)
      // Generous: it catches quadratic work, not a busy machine (under 1 s when quiet).
      expect(performance.now() - started).toBeLessThan(15_000)
      expect(fake.getUser(big.users[19_999]?.id ?? '')?.primaryEmail).toBe(big.users[19_999]?.primaryEmail)
    } finally {
      await fake.close()
    }
  })
})
