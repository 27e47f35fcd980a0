import { startGraphFake, type GraphFake } from './graph-fake'
import { GraphTestClient } from './graph-test-client'
import { seedOrg } from './seed-org'

describe('seedOrg', () => {
  test('is deterministic for a seed and differs across seeds', () => {
    const a = seedOrg({ users: 300, departments: 30, seed: 42 })
    expect(seedOrg({ users: 300, departments: 30, seed: 42 })).toEqual(a)
    expect(seedOrg({ users: 300, departments: 30, seed: 43 }).users[0]!.id).not.toBe(a.users[0]!.id)
  })

  test('builds a deep department tree, a cycle-free management tree and varied accounts', () => {
    const { users, groups } = seedOrg({ users: 2000, departments: 120, groups: 8, seed: 3 })
    const byId = new Map(users.map((u) => [u.id, u]))
    expect(byId.size).toBe(2000)
    const paths = new Set(users.map((u) => u.department!))
    expect(paths.size).toBe(120)
    expect(Math.max(...[...paths].map((p) => p.split('/').length))).toBeGreaterThanOrEqual(4)
    expect([...paths].filter((p) => !p.startsWith('Head Office'))).toEqual([])
    // Every parent path of a department is itself a department.
    const orphans = [...paths].filter((p) => p.includes('/') && !paths.has(p.slice(0, p.lastIndexOf('/'))))
    expect(orphans).toEqual([])

    expect(users.filter((u) => !u.managerId)).toHaveLength(1)
    const broken: string[] = []
    for (const u of users) {
      const seen = new Set<string>()
      for (let m = u.managerId; m; m = byId.get(m)?.managerId) {
        if (seen.has(m) || !byId.has(m)) {
          broken.push(`${u.id} -> ${m}`)
          break
        }
        seen.add(m)
      }
    }
    expect(broken).toEqual([])
    expect(users.filter((u) => u.accountEnabled === false).length).toBeGreaterThanOrEqual(3)
    expect(users.filter((u) => /[^\p{Script=Latin}\s.]/u.test(u.displayName!)).length).toBeGreaterThanOrEqual(
      3,
    )
    expect(new Set(users.map((u) => u.employeeId)).size).toBe(2000)
    expect(new Set(users.map((u) => u.userPrincipalName)).size).toBe(2000)
    expect(groups).toHaveLength(8)
    expect(groups.flatMap((g) => g.memberIds).filter((m) => !byId.has(m))).toEqual([])
  })

  test('makes 100,000 users in linear time (well under 15 s of CPU; ~1 s on a quiet machine)', () => {
    // CPU time rather than wall time, so a busy CI machine running other suites cannot fail it.
    const started = process.cpuUsage()
    const org = seedOrg({ users: 100_000, departments: 500, seed: 9 })
    const used = process.cpuUsage(started)
    // A generous bound: it catches accidental quadratic work, not a busy machine (bench/ measures speed).
    expect((used.user + used.system) / 1000).toBeLessThan(15_000)
    expect(org.users).toHaveLength(100_000)
  })
})

describe('serving a large seeded org', () => {
  let fake: GraphFake
  let client: GraphTestClient

  beforeAll(async () => {
    fake = await startGraphFake()
    client = new GraphTestClient(fake)
  })

  afterAll(async () => {
    await client.close()
    await fake.close()
  })

  test('pulls 100,000 users through users/delta at 999 a page, each once', async () => {
    const org = seedOrg({ users: 100_000, departments: 300, seed: 5 })
    fake.seed(org)
    const round = await client.round(
      `${fake.graphBaseUrl}/v1.0/users/delta?$select=displayName,department,accountEnabled,manager`,
      { prefer: 'odata.maxpagesize=999' },
    )
    expect(round.pages).toHaveLength(Math.ceil(100_000 / 999))
    expect(new Set(round.items.map((i) => i.id)).size).toBe(100_000)
    const sample = round.items[12_345]!
    const source = org.users.find((u) => u.id === sample.id)!
    expect(sample.department).toBe(source.department)
    expect(sample['manager@delta']).toEqual(
      source.managerId ? [{ '@odata.type': '#microsoft.graph.user', id: source.managerId }] : undefined,
    )
    // A later change to one of them surfaces alone in the next round.
    fake.updateUser(source.id, { department: 'Head Office/Moved' })
    const next = await client.round(round.deltaLink)
    expect(next.items).toEqual([{ id: source.id, department: 'Head Office/Moved' }])
  })
})
