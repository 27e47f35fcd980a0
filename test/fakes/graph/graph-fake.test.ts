import { startGraphFake, type GraphFake } from './graph-fake'
import { GraphTestClient, type DeltaItem, type DeltaPage } from './graph-test-client'

/** Delta rounds against the fake over real HTTPS, checked against the behaviour Graph documents. */

let fake: GraphFake
let client: GraphTestClient
const USERS_SELECT =
  'id,userPrincipalName,mail,displayName,givenName,surname,department,jobTitle,employeeId,accountEnabled,manager'

const usersDelta = (query = `?$select=${USERS_SELECT}`) => `${fake.graphBaseUrl}/v1.0/users/delta${query}`
const groupsDelta = (query = '?$select=displayName,description,members') =>
  `${fake.graphBaseUrl}/v1.0/groups/delta${query}`
const byId = (items: DeltaItem[]) => new Map(items.map((i) => [i.id, i]))

beforeAll(async () => {
  fake = await startGraphFake({ pageSize: 5 })
  client = new GraphTestClient(fake)
})

afterAll(async () => {
  await client.close()
  await fake.close()
})

describe('users/delta', () => {
  let alice: string
  let bob: string
  let carol: string
  let dave: string
  let erin: string
  let deltaLink: string

  beforeAll(() => {
    alice = fake.addUser({
      userPrincipalName: 'alice@contoso.example',
      displayName: 'Alice',
      department: 'Head Office',
    }).id
    bob = fake.addUser({ userPrincipalName: 'bob@contoso.example', displayName: 'Bob', managerId: alice }).id
    carol = fake.addUser({
      userPrincipalName: 'carol@contoso.example',
      displayName: 'Carol',
      jobTitle: 'Engineer',
    }).id
    dave = fake.addUser({
      userPrincipalName: 'dave@contoso.example',
      displayName: 'Dave',
      accountEnabled: false,
    }).id
    erin = fake.addUser({ userPrincipalName: 'erin@contoso.example', displayName: 'Erin' }).id
    for (let i = 0; i < 7; i++)
      fake.addUser({ userPrincipalName: `filler${i}@contoso.example`, displayName: `Filler ${i}` })
  })

  test('the initial round pages through every user with nextLinks and ends with a deltaLink', async () => {
    const round = await client.round(usersDelta())
    expect(round.pages.map((p) => p.value.length)).toEqual([5, 5, 2])
    expect(round.items).toHaveLength(12)
    expect(new Set(round.items.map((i) => i.id)).size).toBe(12)
    for (const page of round.pages.slice(0, -1)) {
      expect(page['@odata.nextLink']).toMatch(
        new RegExp(`^${fake.graphBaseUrl}/v1\\.0/users/delta\\?\\$skiptoken=[\\w-]+$`),
      )
      expect(page['@odata.deltaLink']).toBeUndefined()
    }
    expect(round.deltaLink).toMatch(
      new RegExp(`^${fake.graphBaseUrl}/v1\\.0/users/delta\\?\\$deltatoken=[\\w-]+$`),
    )
    const users = byId(round.items)
    expect(users.get(bob)).toEqual({
      id: bob,
      userPrincipalName: 'bob@contoso.example',
      displayName: 'Bob',
      accountEnabled: true,
      'manager@delta': [{ '@odata.type': '#microsoft.graph.user', id: alice }],
    })
    // Disabled accounts are still listed.
    expect(users.get(dave)?.accountEnabled).toBe(false)
    deltaLink = round.deltaLink
  })

  test('a delta round with no changes returns an empty value and a deltaLink', async () => {
    const reply = await client.get<DeltaPage>(deltaLink)
    expect(reply.status).toBe(200)
    expect(reply.body.value).toEqual([])
    expect(reply.body['@odata.deltaLink']).toBeDefined()
  })

  test('a delta round returns exactly the changes since the token, each in its documented shape', async () => {
    const frank = fake.addUser({
      userPrincipalName: 'frank@contoso.example',
      displayName: 'Frank',
      managerId: alice,
    })
    fake.updateUser(carol, { jobTitle: 'Staff Engineer', department: 'Head Office/Engineering' })
    fake.softDeleteUser(dave)
    fake.hardDeleteUser(erin)
    fake.setManager(carol, bob)
    fake.setManager(bob, null)

    const round = await client.round(deltaLink)
    const items = byId(round.items)
    expect([...items.keys()].sort()).toEqual([frank.id, carol, dave, erin, bob].sort())
    expect(items.get(frank.id)).toEqual({
      id: frank.id,
      userPrincipalName: 'frank@contoso.example',
      displayName: 'Frank',
      accountEnabled: true,
      'manager@delta': [{ '@odata.type': '#microsoft.graph.user', id: alice }],
    })
    expect(items.get(carol)).toEqual({
      id: carol,
      jobTitle: 'Staff Engineer',
      department: 'Head Office/Engineering',
      'manager@delta': [{ '@odata.type': '#microsoft.graph.user', id: bob }],
    })
    expect(items.get(dave)).toEqual({ id: dave, '@removed': { reason: 'changed' } })
    expect(items.get(erin)).toEqual({ id: erin, '@removed': { reason: 'deleted' } })
    expect(items.get(bob)).toEqual({
      id: bob,
      'manager@delta': [
        { '@odata.type': '#microsoft.graph.user', id: alice, '@removed': { reason: 'deleted' } },
      ],
    })
    deltaLink = round.deltaLink
  })

  test('a restored user comes back as a full object without annotation', async () => {
    fake.restoreUser(dave)
    const round = await client.round(deltaLink)
    expect(round.items).toEqual([
      { id: dave, userPrincipalName: 'dave@contoso.example', displayName: 'Dave', accountEnabled: false },
    ])
    deltaLink = round.deltaLink
  })

  test('the full-objects switch and Prefer: return=minimal decide what an updated user carries', async () => {
    fake.updateUser(alice, { displayName: 'Alice A.' })
    fake.quirks.fullObjectsOnUpdate = true
    try {
      const full = await client.round(deltaLink)
      expect(full.items).toEqual([
        {
          id: alice,
          userPrincipalName: 'alice@contoso.example',
          displayName: 'Alice A.',
          department: 'Head Office',
          accountEnabled: true,
        },
      ])
      const minimal = await client.round(deltaLink, { prefer: 'return=minimal' })
      expect(minimal.items).toEqual([{ id: alice, displayName: 'Alice A.' }])
      deltaLink = full.deltaLink
    } finally {
      fake.quirks.fullObjectsOnUpdate = false
    }
  })

  test('changes to properties outside $select do not surface the user', async () => {
    const narrow = await client.round(usersDelta('?$select=displayName'))
    expect(narrow.items.every((i) => Object.keys(i).every((k) => k === 'id' || k === 'displayName'))).toBe(
      true,
    )
    fake.updateUser(carol, { employeeId: 'E-77' })
    const after = await client.round(narrow.deltaLink)
    expect(after.items).toEqual([])
    const wide = await client.round(deltaLink)
    expect(wide.items).toEqual([{ id: carol, employeeId: 'E-77' }])
    deltaLink = wide.deltaLink
  })

  test('without $select Graph default properties are returned and department is not', async () => {
    const round = await client.round(usersDelta(''))
    const alices = round.items.find((i) => i.id === alice)
    expect(alices).toEqual({ id: alice, userPrincipalName: 'alice@contoso.example', displayName: 'Alice A.' })
  })

  test('Prefer: odata.maxpagesize sets the page size and is reported as applied', async () => {
    const reply = await client.get(usersDelta(), { headers: { prefer: 'odata.maxpagesize=3' } })
    expect(reply.body.value).toHaveLength(3)
    expect(reply.headers.get('preference-applied')).toContain('odata.maxpagesize=3')
    const round = await client.round(usersDelta(), { prefer: 'odata.maxpagesize=999' })
    expect(round.pages).toHaveLength(1)
  })

  test('$deltatoken=latest returns no objects and a deltaLink that sees only later changes', async () => {
    const latest = await client.round(usersDelta('?$deltatoken=latest&$select=displayName'))
    expect(latest.items).toEqual([])
    fake.updateUser(bob, { displayName: 'Robert' })
    const next = await client.round(latest.deltaLink)
    expect(next.items).toEqual([{ id: bob, displayName: 'Robert' }])
  })

  test('a tampered or foreign state token is rejected with a Graph error', async () => {
    const page = await client.get(usersDelta())
    const nextLink = page.body['@odata.nextLink'] as string
    const token = new URL(nextLink).searchParams.get('$skiptoken') as string
    const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`
    for (const bad of [`?$skiptoken=${flipped}`, '?$skiptoken=1', '?$deltatoken=not-a-token']) {
      const reply = await client.get<Record<string, { code: string }>>(usersDelta(bad))
      expect(reply.status).toBe(400)
      expect(reply.body.error?.code).toBe('Directory_ExpiredPageToken')
    }
    // A users token is not a groups token.
    const cross = await client.get<Record<string, { code: string }>>(groupsDelta(`?$skiptoken=${token}`))
    expect(cross.status).toBe(400)
  })

  test('an unknown $select property is a 400 naming it', async () => {
    const reply = await client.get<{ error: { code: string; message: string } }>(
      usersDelta('?$select=shoeSize'),
    )
    expect(reply.status).toBe(400)
    expect(reply.body.error.message).toContain("'shoeSize'")
  })
})

describe('groups/delta', () => {
  let members: string[]
  let small: string
  let big: string
  let deltaLink: string

  beforeAll(() => {
    members = Array.from(
      { length: 25 },
      (_, i) => fake.addUser({ userPrincipalName: `m${i}@contoso.example` }).id,
    )
    small = fake.addGroup({ displayName: 'Small', description: 'A few', memberIds: members.slice(0, 3) }).id
    big = fake.addGroup({ displayName: 'Big', memberIds: members }).id
    fake.addGroup({ displayName: 'Empty' })
    fake.membersPerPage = 10
  })

  afterAll(() => {
    fake.membersPerPage = 1000
  })

  test('the initial round lists every member, splitting a large group over consecutive pages', async () => {
    const round = await client.round(groupsDelta())
    const bigParts = round.pages.flatMap((p, page) =>
      p.value.filter((g) => g.id === big).map((g) => ({ page, g })),
    )
    expect(bigParts.length).toBeGreaterThanOrEqual(3)
    // Consecutive pages, the same group properties on each, and together every member exactly once.
    expect(bigParts.map((p) => p.page)).toEqual(bigParts.map((_, i) => bigParts[0]!.page + i))
    for (const { g } of bigParts) expect(g.displayName).toBe('Big')
    const bigMembers = bigParts.flatMap(({ g }) => g['members@delta'] ?? []).map((m) => m.id)
    expect(bigMembers.sort()).toEqual([...members].sort())
    const groups = byId(round.items)
    expect(groups.get(small)).toEqual({
      id: small,
      displayName: 'Small',
      description: 'A few',
      'members@delta': members.slice(0, 3).map((id) => ({ '@odata.type': '#microsoft.graph.user', id })),
    })
    // A group without members carries no members@delta at all.
    const empty = round.items.find((g) => g.displayName === 'Empty')
    expect(empty && 'members@delta' in empty).toBe(false)
    deltaLink = round.deltaLink
  })

  test('member additions and removals come as members@delta, removals annotated', async () => {
    fake.addMembers(small, [members[10]!])
    fake.removeMembers(small, [members[0]!])
    const round = await client.round(deltaLink)
    expect(round.items).toEqual([
      {
        id: small,
        'members@delta': [
          { '@odata.type': '#microsoft.graph.user', id: members[10] },
          { '@odata.type': '#microsoft.graph.user', id: members[0], '@removed': { reason: 'deleted' } },
        ],
      },
    ])
    deltaLink = round.deltaLink
  })

  test('deleting a user removes it from its groups; deleting a group is @removed', async () => {
    fake.hardDeleteUser(members[1]!)
    fake.deleteGroup(big)
    fake.updateGroup(small, { description: 'Fewer' })
    const round = await client.round(deltaLink)
    const groups = byId(round.items)
    expect(groups.get(big)).toEqual({ id: big, '@removed': { reason: 'deleted' } })
    expect(groups.get(small)).toEqual({
      id: small,
      description: 'Fewer',
      'members@delta': [
        { '@odata.type': '#microsoft.graph.user', id: members[1], '@removed': { reason: 'deleted' } },
      ],
    })
    expect(groups.size).toBe(2)
  })
})

describe('requests to Graph', () => {
  test('need a valid bearer token and carry request ids', async () => {
    const missing = await client.get<{ error: { code: string; message: string } }>(usersDelta(), {
      token: null,
    })
    expect(missing.status).toBe(401)
    expect(missing.body.error.code).toBe('InvalidAuthenticationToken')
    const forged = await client.get<{ error: { code: string; innerError: Record<string, string> } }>(
      usersDelta(),
      {
        token: 'eyJ0eXAiOiJKV1QifQ.eyJleHAiOjk5OTk5OTk5OTl9.c2lnbmF0dXJl',
        headers: { 'client-request-id': 'my-correlation' },
      },
    )
    expect(forged.status).toBe(401)
    expect(forged.body.error.code).toBe('InvalidAuthenticationToken')
    expect(forged.headers.get('client-request-id')).toBe('my-correlation')
    expect(forged.body.error.innerError['client-request-id']).toBe('my-correlation')
    expect(forged.body.error.innerError['request-id']).toBe(forged.headers.get('request-id'))
    expect(forged.body.error.innerError.date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/)
  })

  test('an unknown segment is a Graph 400 and the request log records every answer', async () => {
    const before = fake.requests.length
    const reply = await client.get<{ error: { code: string } }>(`${fake.graphBaseUrl}/v1.0/users/deltas`)
    expect(reply.status).toBe(400)
    expect(fake.requests.slice(before)).toEqual([{ method: 'GET', path: '/v1.0/users/deltas', status: 400 }])
  })
})
