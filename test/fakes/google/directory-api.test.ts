import { type admin_directory_v1 } from '@googleapis/admin'
import { GaxiosError } from 'gaxios'
import { startGoogleFake, type GoogleFake } from './google-fake'
import { type SeededWorkspace } from './google-types'
import { directoryFor, jwtFor } from './real-clients'
import { seedWorkspace } from './seed-workspace'

let fake: GoogleFake
let ws: SeededWorkspace
let directory: admin_directory_v1.Admin

beforeAll(async () => {
  fake = await startGoogleFake({ domain: 'acme.test', customerId: 'C01abcdef' })
  ws = seedWorkspace({ users: 1100, orgUnits: 30, groups: 250, seed: 42, domain: 'acme.test' })
  fake.seed(ws)
  directory = directoryFor(fake)
})

afterAll(async () => {
  await fake.close()
})

async function failure(promise: Promise<unknown>): Promise<GaxiosError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof GaxiosError)) throw new Error(`expected a GaxiosError, got ${String(error)}`)
  return error
}

async function allUsers(
  client: admin_directory_v1.Admin,
  params: admin_directory_v1.Params$Resource$Users$List,
): Promise<{ users: admin_directory_v1.Schema$User[]; tokens: string[] }> {
  const users: admin_directory_v1.Schema$User[] = []
  const tokens: string[] = []
  let pageToken = params.pageToken
  do {
    const { data } = await client.users.list({ ...params, pageToken })
    users.push(...(data.users ?? []))
    pageToken = data.nextPageToken ?? undefined
    if (pageToken) tokens.push(pageToken)
  } while (pageToken)
  return { users, tokens }
}

function lastDirectoryRequests(n: number) {
  return fake.requests.filter((r) => r.path.startsWith('/admin/')).slice(-n)
}

describe('users.list with the real client libraries', () => {
  it('pages through every user with opaque tokens, fetching one access token', async () => {
    const client = directoryFor(fake)
    const before = fake.tokensIssued
    const { users, tokens } = await allUsers(client, { customer: 'my_customer', maxResults: 500 })
    expect(users).toHaveLength(1101)
    expect(new Set(users.map((u) => u.id))).toEqual(
      new Set([...ws.users.map((u) => u.id), fake.getUser(fake.subject)?.id]),
    )
    expect(tokens).toHaveLength(2)
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{24,}$/)
    expect(fake.tokensIssued).toBe(before + 1)
    expect(lastDirectoryRequests(3).map((r) => [r.path, r.status])).toEqual([
      ['/admin/directory/v1/users', 200],
      ['/admin/directory/v1/users', 200],
      ['/admin/directory/v1/users', 200],
    ])
  })

  it('defaults to 100 per page and refuses more than 500', async () => {
    const { data } = await directory.users.list({ customer: 'C01abcdef' })
    expect(data.users).toHaveLength(100)
    const error = await failure(directory.users.list({ customer: 'my_customer', maxResults: 501 }))
    expect(error.status).toBe(400)
  })

  it('returns User resources carrying the seeded fields', async () => {
    const seeded = ws.users.find((u) => u.relations && u.externalIds && u.organizations && !u.suspended)
    if (!seeded) throw new Error('seed has no fully populated user')
    const { users } = await allUsers(directory, {
      customer: 'my_customer',
      maxResults: 500,
      projection: 'full',
    })
    const listed = users.find((u) => u.id === seeded.id)
    expect(listed).toMatchObject({
      kind: 'admin#directory#user',
      primaryEmail: seeded.primaryEmail,
      name: seeded.name,
      suspended: false,
      archived: seeded.archived,
      orgUnitPath: seeded.orgUnitPath,
      isAdmin: seeded.isAdmin,
      customerId: 'C01abcdef',
      relations: seeded.relations,
      externalIds: seeded.externalIds,
      organizations: seeded.organizations,
      creationTime: seeded.creationTime,
    })
    expect(listed?.etag).toMatch(/^".+"$/)
    expect(users.find((u) => u.primaryEmail === fake.subject)?.isAdmin).toBe(true)
    const suspended = users.find((u) => u.suspended)
    expect(suspended?.suspensionReason).toBe('ADMIN')
  })

  it('sorts by email when asked', async () => {
    const { users } = await allUsers(directory, {
      customer: 'my_customer',
      maxResults: 500,
      orderBy: 'email',
      sortOrder: 'DESCENDING',
    })
    const emails = users.map((u) => u.primaryEmail ?? '')
    expect(emails).toEqual([...emails].sort().reverse())
  })

  it('answers 400 Invalid Input to a page token it never issued or issued for another query', async () => {
    const forged = await failure(directory.users.list({ customer: 'my_customer', pageToken: 'MTAw' }))
    expect(forged.status).toBe(400)
    expect(forged.response?.data).toEqual({
      error: {
        code: 400,
        message: 'Invalid Input',
        errors: [{ message: 'Invalid Input', domain: 'global', reason: 'invalid' }],
      },
    })
    const { data } = await directory.groups.list({ customer: 'my_customer', maxResults: 10 })
    const crossed = await failure(
      directory.users.list({ customer: 'my_customer', pageToken: data.nextPageToken ?? undefined }),
    )
    expect(crossed.status).toBe(400)
  })

  it('requires customer or domain, and only knows its own customer', async () => {
    expect((await failure(directory.users.list({}))).status).toBe(400)
    expect((await failure(directory.users.list({ customer: 'C09999999' }))).status).toBe(400)
    const { data } = await directory.users.list({ domain: 'acme.test', maxResults: 5 })
    expect(data.users).toHaveLength(5)
  })

  it('keeps a listing consistent when users are deleted between pages', async () => {
    const first = await directory.users.list({ customer: 'my_customer', maxResults: 400 })
    const victim = ws.users[1050] as (typeof ws.users)[number]
    const alreadySeen = (first.data.users ?? []).some((u) => u.id === victim.id)
    fake.deleteUser(victim.id)
    try {
      const rest = await allUsers(directory, {
        customer: 'my_customer',
        maxResults: 400,
        pageToken: first.data.nextPageToken ?? undefined,
      })
      const ids = [...(first.data.users ?? []), ...rest.users].map((u) => u.id)
      expect(new Set(ids).size).toBe(ids.length)
      expect(ids).toHaveLength(alreadySeen ? 1101 : 1100)
      const { data } = await directory.users.list({ customer: 'my_customer', showDeleted: 'true' })
      expect(data.users?.map((u) => u.id)).toEqual([victim.id])
      expect(data.users?.[0]?.deletionTime).toEqual(expect.any(String))
    } finally {
      fake.addUser(victim)
    }
  })
})

describe('orgunits.list', () => {
  it('returns the whole tree without paging for type=all', async () => {
    const { data } = await directory.orgunits.list({ customerId: 'my_customer', type: 'all' })
    const units = data.organizationUnits ?? []
    expect(data.kind).toBe('admin#directory#orgUnits')
    expect(data).not.toHaveProperty('nextPageToken')
    expect(units.map((u) => u.orgUnitPath).sort()).toEqual([...ws.orgUnitPaths].sort())
    const ids = new Map(units.map((u) => [u.orgUnitPath, u.orgUnitId]))
    const rootId = fake.getOrgUnit('/')?.orgUnitId
    for (const u of units) {
      expect(u.orgUnitId).toMatch(/^id:/)
      expect(u.orgUnitPath).toBe(`${u.parentOrgUnitPath === '/' ? '' : u.parentOrgUnitPath}/${u.name}`)
      expect(u.parentOrgUnitId).toBe(
        u.parentOrgUnitPath === '/' ? rootId : ids.get(u.parentOrgUnitPath ?? ''),
      )
    }
    expect(Math.max(...units.map((u) => (u.orgUnitPath ?? '').split('/').length - 1))).toBeGreaterThanOrEqual(
      3,
    )
  })

  it('returns only direct children by default, from a path or an id', async () => {
    const parent = fake.getOrgUnit(ws.orgUnitPaths[0] as string)
    const expected = ws.orgUnitPaths.filter(
      (p) => p.startsWith(`${parent?.orgUnitPath}/`) && p.split('/').length === 3,
    )
    const byPath = await directory.orgunits.list({
      customerId: 'C01abcdef',
      orgUnitPath: parent?.orgUnitPath ?? '',
    })
    const byId = await directory.orgunits.list({
      customerId: 'C01abcdef',
      orgUnitPath: parent?.orgUnitId ?? '',
    })
    expect((byPath.data.organizationUnits ?? []).map((u) => u.orgUnitPath).sort()).toEqual(expected.sort())
    expect(byId.data.organizationUnits).toEqual(byPath.data.organizationUnits)
  })

  it('reflects a rename in org units and in users', async () => {
    const user = fake.addUser({ primaryEmail: 'mover@acme.test', orgUnitPath: '/Renamed/Team' })
    fake.renameOrgUnit('/Renamed', 'Retitled')
    const { data } = await directory.orgunits.list({ customerId: 'my_customer', orgUnitPath: '/Retitled' })
    expect(data.organizationUnits?.map((u) => u.orgUnitPath)).toEqual(['/Retitled/Team'])
    expect(fake.getUser(user.id)?.orgUnitPath).toBe('/Retitled/Team')
    fake.deleteUser(user.id)
  })
})

describe('groups.list and members.list', () => {
  it('pages through groups at most 200 at a time', async () => {
    const first = await directory.groups.list({ customer: 'my_customer' })
    expect(first.data.groups).toHaveLength(200)
    const second = await directory.groups.list({
      customer: 'my_customer',
      pageToken: first.data.nextPageToken ?? '',
    })
    expect(second.data.groups).toHaveLength(50)
    expect(second.data).not.toHaveProperty('nextPageToken')
    const group = first.data.groups?.[0]
    expect(group).toMatchObject({
      kind: 'admin#directory#group',
      id: ws.groups[0]?.id,
      email: 'all-staff@acme.test',
      directMembersCount: expect.stringMatching(/^\d+$/),
    })
    expect((await failure(directory.groups.list({ customer: 'my_customer', maxResults: 201 }))).status).toBe(
      400,
    )
  })

  it('pages through a large group’s members', async () => {
    const everyone = ws.groups[0]
    const members: admin_directory_v1.Schema$Member[] = []
    let pageToken: string | undefined
    let pages = 0
    do {
      const { data } = await directory.members.list({ groupKey: everyone?.email ?? '', pageToken })
      members.push(...(data.members ?? []))
      pageToken = data.nextPageToken ?? undefined
      pages++
    } while (pageToken)
    expect(pages).toBe(Math.ceil((everyone?.members.length ?? 0) / 200))
    // Compared with the fake's current state: users deleted by earlier tests have left the group.
    expect(members.map((m) => m.id)).toEqual(fake.getGroup(everyone?.id ?? '')?.members.map((m) => m.id))
    expect(new Set(members.map((m) => `${m.type}/${m.role}/${m.status}`))).toEqual(
      new Set(['USER/MEMBER/ACTIVE']),
    )
  })

  it('lists nested groups, the customer, roles and suspended members as Google does', async () => {
    const [alice, bob] = [
      fake.addUser({ primaryEmail: 'alice@acme.test' }),
      fake.addUser({ primaryEmail: 'bob@acme.test' }),
    ]
    const inner = fake.addGroup({ email: 'inner@acme.test', name: 'Inner', memberIds: [bob.id] })
    const outer = fake.addGroup({ email: 'outer@acme.test', name: 'Outer' })
    fake.addMembers(outer.id, [{ id: alice.id, role: 'OWNER' }, inner.id, fake.customerId])
    fake.updateUser(alice.id, { suspended: true })
    const { data } = await directory.members.list({ groupKey: outer.id })
    expect(
      data.members?.map(({ id, email, role, type, status }) => ({ id, email, role, type, status })),
    ).toEqual([
      { id: alice.id, email: 'alice@acme.test', role: 'OWNER', type: 'USER', status: 'SUSPENDED' },
      { id: inner.id, email: 'inner@acme.test', role: 'MEMBER', type: 'GROUP', status: 'ACTIVE' },
      { id: 'C01abcdef', email: undefined, role: 'MEMBER', type: 'CUSTOMER', status: 'ACTIVE' },
    ])
    const owners = await directory.members.list({ groupKey: 'outer@acme.test', roles: 'OWNER' })
    expect(owners.data.members?.map((m) => m.id)).toEqual([alice.id])
    fake.removeMembers(inner.id, [bob.id])
    const empty = await directory.members.list({ groupKey: 'inner@acme.test' })
    expect(empty.data).not.toHaveProperty('members')
    fake.deleteGroup(outer.id)
    fake.deleteGroup(inner.id)
    fake.deleteUser(alice.id)
    fake.deleteUser(bob.id)
    const gone = await failure(directory.members.list({ groupKey: 'outer@acme.test' }))
    expect(gone.status).toBe(404)
    expect(gone.message).toBe('Resource Not Found: groupKey')
  })
})

describe('authorisation', () => {
  const forbidden = {
    error: {
      code: 403,
      message: 'Not Authorized to access this resource/api',
      errors: [
        { message: 'Not Authorized to access this resource/api', domain: 'global', reason: 'forbidden' },
      ],
    },
  }

  it('refuses a delegated subject who is not an admin, and the service account acting as itself', async () => {
    const plain = ws.users.find((u) => !u.isAdmin && !u.suspended)?.primaryEmail
    const asUser = await failure(
      directoryFor(fake, { subject: plain }).users.list({ customer: 'my_customer' }),
    )
    expect(asUser.status).toBe(403)
    expect(asUser.response?.data).toEqual(forbidden)
    const asRobot = await failure(
      directoryFor(fake, { subject: null }).users.list({ customer: 'my_customer' }),
    )
    expect(asRobot.response?.data).toEqual(forbidden)
  })

  it('follows adminEmails at runtime', async () => {
    const plain = ws.users.find((u) => !u.isAdmin && !u.suspended)?.primaryEmail ?? ''
    const client = directoryFor(fake, { subject: plain })
    fake.quirks.adminEmails.push(plain)
    try {
      expect((await client.users.list({ customer: 'my_customer', maxResults: 1 })).status).toBe(200)
    } finally {
      fake.quirks.adminEmails = fake.quirks.adminEmails.filter((e) => e !== plain)
    }
    expect((await failure(client.users.list({ customer: 'my_customer', maxResults: 1 }))).status).toBe(403)
  })

  it('refuses a token whose scopes do not cover the call', async () => {
    const usersOnly = directoryFor(fake, {
      scopes: ['https://www.googleapis.com/auth/admin.directory.user.readonly'],
    })
    const error = await failure(usersOnly.groups.list({ customer: 'my_customer' }))
    expect(error.status).toBe(403)
    expect(error.response?.data).toMatchObject({
      error: { status: 'PERMISSION_DENIED', errors: [{ reason: 'insufficientPermissions' }] },
    })
  })

  it('answers 401 without a bearer token and for an unknown or expired one', async () => {
    const url = `${fake.rootUrl}admin/directory/v1/users?customer=my_customer`
    const missing = await fetch(url)
    expect(missing.status).toBe(401)
    expect(await missing.json()).toMatchObject({
      error: {
        code: 401,
        status: 'UNAUTHENTICATED',
        errors: [{ reason: 'required', location: 'Authorization' }],
      },
    })
    const { access_token } = await jwtFor(fake).authorize()
    expect((await fetch(url, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200)
    fake.expireAccessTokens()
    const expired = await fetch(url, { headers: { authorization: `Bearer ${access_token}` } })
    expect(expired.status).toBe(401)
    expect(await expired.json()).toMatchObject({ error: { errors: [{ reason: 'authError' }] } })
    // The real client does not refresh on 401 while its token is unexpired by its own clock, so later
    // tests need a client with a fresh token.
    await expect(directory.users.list({ customer: 'my_customer' })).rejects.toThrow(/invalid authentication/)
    directory = directoryFor(fake)
  })
})

describe('quota faults', () => {
  afterEach(() => {
    fake.quirks.quota = null
  })

  it('fails the next N calls with 403 userRateLimitExceeded, which the client does not retry', async () => {
    fake.quirks.quota = { status: 403, times: 2 }
    for (let i = 0; i < 2; i++) {
      const error = await failure(directory.users.list({ customer: 'my_customer', maxResults: 1 }))
      expect(error.status).toBe(403)
      expect(error.response?.data).toEqual({
        error: {
          code: 403,
          message: 'User Rate Limit Exceeded',
          errors: [
            { message: 'User Rate Limit Exceeded', domain: 'usageLimits', reason: 'userRateLimitExceeded' },
          ],
        },
      })
    }
    expect((await directory.users.list({ customer: 'my_customer', maxResults: 1 })).status).toBe(200)
    expect(fake.quirks.quota).toBeNull()
  })

  it('answers 429 RESOURCE_EXHAUSTED with an optional Retry-After', async () => {
    fake.quirks.quota = { status: 429, times: 1, retryAfterSeconds: 7 }
    const error = await failure(directory.groups.list({ customer: 'my_customer' }, { retry: false }))
    expect(error.status).toBe(429)
    expect(error.response?.headers.get('retry-after')).toBe('7')
    expect(error.response?.data).toMatchObject({
      error: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        errors: [{ reason: 'rateLimitExceeded', domain: 'usageLimits' }],
      },
    })
  })

  it('lets the client’s own retry of a 429 succeed', async () => {
    fake.quirks.quota = { status: 429, times: 1 }
    const { data } = await directory.members.list({ groupKey: ws.groups[1]?.id ?? '' })
    expect(data.members?.length).toBeGreaterThan(0)
    expect(lastDirectoryRequests(2).map((r) => r.status)).toEqual([429, 200])
  })
})
