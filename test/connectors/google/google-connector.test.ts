import { generateKeyPairSync } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import pino from 'pino'
import { googleConfigSchema, googleConnector, type GoogleConfig } from '../../../connectors/google'
import { DirectoryClient } from '../../../connectors/google/google-directory'
import { GroupListing } from '../../../connectors/google/group-listing'
import { type Connector, ConnectorError, type Page, type RemoteUser } from '../../../src/sync/connector'
import { startGoogleFake, type GoogleFake } from '../../fakes/google/google-fake'
import { type GoogleUser, type SeededWorkspace } from '../../fakes/google/google-types'
import { seedWorkspace } from '../../fakes/google/seed-workspace'

const live = () => new AbortController().signal
const silent = pino({ level: 'silent' })

let fake: GoogleFake
let ws: SeededWorkspace
/** Users added by hand, with literal expectations below. */
let ada: GoogleUser
let grace: GoogleUser
let taro: GoogleUser

/** A log whose lines a test can read: to prove nothing secret is written. */
function recordingLogger() {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

function config(extra: Partial<GoogleConfig> = {}): GoogleConfig {
  return googleConfigSchema.parse({
    serviceAccountKey: fake.serviceAccountKey,
    subject: fake.subject,
    rootUrl: fake.rootUrl,
    tokenUrl: fake.tokenUrl,
    ...extra,
  })
}

function open(extra: Partial<GoogleConfig> = {}, logger = silent): Connector {
  return googleConnector.open(config(extra), { logger, fetch })
}

async function all<T>(list: (cursor: string | undefined, signal: AbortSignal) => Promise<Page<T>>) {
  const items: T[] = []
  const cursors: (string | undefined)[] = []
  let cursor: string | undefined
  do {
    const page = await list(cursor, live())
    items.push(...page.items)
    cursors.push(page.nextCursor)
    cursor = page.nextCursor
  } while (cursor !== undefined)
  return { items, pages: cursors.length, cursors }
}

async function failure(promise: Promise<unknown>): Promise<ConnectorError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof ConnectorError)) throw new Error(`expected a ConnectorError, got ${String(error)}`)
  return error
}

const key = () => JSON.parse(fake.serviceAccountKey) as Record<string, string>

beforeAll(async () => {
  fake = await startGoogleFake({ domain: 'acme.test', customerId: 'C01acme00' })
  ws = seedWorkspace({ users: 1100, orgUnits: 30, groups: 210, seed: 7, domain: 'acme.test' })
  fake.seed(ws)
  grace = fake.addUser({
    primaryEmail: 'grace@acme.test',
    name: { givenName: 'Grace', familyName: 'Hopper' },
    orgUnitPath: '/Engineering',
    organizations: [{ title: 'CTO', department: 'Technology', primary: true }],
  })
  ada = fake.addUser({
    primaryEmail: 'ada@acme.test',
    name: { givenName: 'Ada', familyName: 'Lovelace' },
    orgUnitPath: '/Engineering/Analytical Engines',
    relations: [
      { type: 'assistant', value: 'charles@acme.test' },
      { type: 'manager', value: 'grace@acme.test' },
    ],
    organizations: [
      { title: 'Consultant', department: 'Old', primary: false },
      { title: 'Engineer', department: 'R&D', primary: true, costCenter: 'CC-1' },
    ],
    externalIds: [
      { type: 'account', value: 'ACC-1' },
      { type: 'organization', value: 'E-42' },
    ],
  })
  taro = fake.addUser({
    primaryEmail: 'yamada@acme.test',
    name: { givenName: '太郎', familyName: '山田' },
    orgUnitPath: '/Engineering/Analytical Engines',
    relations: [{ type: 'manager', value: 'Ada Lovelace' }],
  })
  fake.addUser({ primaryEmail: 'sam@acme.test', suspended: true, orgUnitPath: '/Sales' })
  fake.addUser({ primaryEmail: 'olga@acme.test', archived: true, name: { givenName: 'Ольга' } })
}, 30_000)

afterAll(async () => {
  await fake.close()
})

afterEach(() => {
  fake.quirks.quota = null
})

describe('configSchema', () => {
  const base = () => ({ serviceAccountKey: fake.serviceAccountKey, subject: 'admin@acme.test' })

  it('accepts the keys sources were saved with before this connector, and no others', () => {
    expect(
      googleConfigSchema.safeParse({
        ...base(),
        customer: 'C01acme00',
        rootUrl: 'https://admin.googleapis.com/',
        tokenUrl: 'https://oauth2.googleapis.com/token',
        departmentsFrom: 'organization',
      }).success,
    ).toBe(true)
    const extra = googleConfigSchema.safeParse({ ...base(), domain: 'acme.test' })
    expect(extra.success).toBe(false)
    expect(extra.error?.issues[0]?.code).toBe('unrecognized_keys')
    expect(googleConfigSchema.safeParse({ ...base(), departmentsFrom: 'ou' }).success).toBe(false)
    expect(googleConfigSchema.safeParse({ ...base(), subject: 'admin' }).error?.issues[0]?.message).toBe(
      'subject must be the email of a Workspace admin',
    )
  })

  it('refuses a malformed service account key with a message that names the problem, not the key', () => {
    const { private_key } = key()
    const cases: [string, RegExp][] = [
      ['not json at all', /^serviceAccountKey is not JSON: paste the whole JSON key file/],
      ['["a"]', /^serviceAccountKey is not a JSON object/],
      [
        JSON.stringify({ type: 'authorized_user', client_id: 'x', refresh_token: 'secret-refresh' }),
        /^serviceAccountKey has no client_email or private_key \(its type is "authorized_user"\)/,
      ],
      [JSON.stringify({ client_email: 'a@b.iam.gserviceaccount.com' }), /has no private_key/],
      [
        JSON.stringify({ client_email: 'a@b.iam.gserviceaccount.com', private_key: 'hunter2-secret' }),
        /has a private_key that is not a PEM private key/,
      ],
    ]
    for (const [text, message] of cases) {
      const result = googleConfigSchema.safeParse({ ...base(), serviceAccountKey: text })
      expect(result.success).toBe(false)
      const messages = result.error?.issues.map((i) => i.message) ?? []
      expect(messages).toHaveLength(1)
      expect(messages[0]).toMatch(message)
      for (const secret of ['not json', 'secret-refresh', 'hunter2', private_key?.slice(40, 80) ?? '-'])
        expect(messages[0]).not.toContain(secret)
    }
  })
})

describe('listDepartments (org units)', () => {
  it('gives one department per org unit, keyed by orgUnitId, with the root left out', async () => {
    const connector = open()
    const { items, pages } = await all(connector.listDepartments.bind(connector))
    expect(pages).toBe(1)
    const paths = [...ws.orgUnitPaths, '/Engineering/Analytical Engines']
    expect(items).toHaveLength(paths.length)
    const byId = new Map(items.map((d) => [d.externalId, d]))
    const pathOf = (id: string): string => {
      const d = byId.get(id)!
      return d.parentExternalId === null ? `/${d.name}` : `${pathOf(d.parentExternalId)}/${d.name}`
    }
    for (const d of items) {
      expect(d.externalId).toBe(fake.getOrgUnit(pathOf(d.externalId))?.orgUnitId)
    }
    expect(items.map((d) => pathOf(d.externalId)).sort()).toEqual([...paths].sort())
    expect(items.filter((d) => d.parentExternalId === null).map((d) => d.name)).toEqual(
      expect.arrayContaining(['Engineering', 'Sales']),
    )
    expect(byId.get(fake.getOrgUnit('/Engineering/Analytical Engines')!.orgUnitId)).toEqual({
      externalId: fake.getOrgUnit('/Engineering/Analytical Engines')!.orgUnitId,
      name: 'Analytical Engines',
      parentExternalId: fake.getOrgUnit('/Engineering')!.orgUnitId,
    })
    expect(fake.requests.at(-1)).toMatchObject({
      path: '/admin/directory/v1/customer/my_customer/orgunits',
      query: '?type=all',
      status: 200,
    })
  })

  it('lists none when departments come from the users’ organizations', async () => {
    const before = fake.requests.length
    expect(await open({ departmentsFrom: 'organization' }).listDepartments(undefined, live())).toEqual({
      items: [],
    })
    expect(fake.requests.length).toBe(before)
  })
})

describe('listUsers', () => {
  let users: RemoteUser[]
  let pages: number
  let cursors: (string | undefined)[]
  const requestsBefore = { n: 0 }

  beforeAll(async () => {
    const connector = open()
    requestsBefore.n = fake.requests.length
    await connector.listDepartments(undefined, live())
    ;({ items: users, pages, cursors } = await all(connector.listUsers.bind(connector)))
  })

  const user = (email: string) => users.find((u) => u.userName === email)

  it('reads every user, 500 a page with projection full, through every page token', () => {
    // 1,100 seeded, the fake's own admin and five added here.
    expect(users).toHaveLength(1106)
    expect(new Set(users.map((u) => u.externalId)).size).toBe(1106)
    expect(pages).toBe(3)
    expect(cursors[2]).toBeUndefined()
    const listed = fake.requests.slice(requestsBefore.n).filter((r) => r.path === '/admin/directory/v1/users')
    expect(listed).toHaveLength(3)
    for (const r of listed) {
      const q = new URLSearchParams(r.query)
      expect([q.get('customer'), q.get('maxResults'), q.get('projection')]).toEqual([
        'my_customer',
        '500',
        'full',
      ])
    }
    expect(new URLSearchParams(listed[1]!.query).get('pageToken')).toBe(cursors[0])
  })

  it('maps names, email, title, employee number, manager and org unit', () => {
    expect(user('ada@acme.test')).toEqual({
      externalId: ada.id,
      userName: 'ada@acme.test',
      displayName: 'Ada Lovelace',
      givenName: 'Ada',
      familyName: 'Lovelace',
      email: 'ada@acme.test',
      employeeNumber: 'E-42',
      title: 'Engineer',
      departmentExternalId: fake.getOrgUnit('/Engineering/Analytical Engines')!.orgUnitId,
      manager: { email: 'grace@acme.test' },
      active: true,
      raw: expect.objectContaining({ id: ada.id, orgUnitPath: '/Engineering/Analytical Engines' }),
    })
    expect(user('grace@acme.test')).toMatchObject({
      title: 'CTO',
      employeeNumber: null,
      manager: null,
      departmentExternalId: fake.getOrgUnit('/Engineering')!.orgUnitId,
    })
  })

  it('keeps non-Latin names as they are, and ignores a manager relation that is not an email', () => {
    expect(user('yamada@acme.test')).toMatchObject({
      externalId: taro.id,
      displayName: '太郎 山田',
      givenName: '太郎',
      familyName: '山田',
      manager: null,
      title: null,
    })
    expect(user('olga@acme.test')).toMatchObject({ givenName: 'Ольга', displayName: 'Ольга' })
  })

  it('makes suspended and archived accounts leavers, and a user in the root one with no department', () => {
    expect(user('sam@acme.test')).toMatchObject({ active: false })
    expect(user('olga@acme.test')).toMatchObject({ active: false, departmentExternalId: null })
    expect(user(fake.subject)).toMatchObject({ active: true, departmentExternalId: null })
  })

  it('maps every seeded user the way the workspace holds them', () => {
    for (const seeded of ws.users) {
      const org = seeded.organizations?.[0]
      expect(user(seeded.primaryEmail)).toEqual({
        externalId: seeded.id,
        userName: seeded.primaryEmail,
        email: seeded.primaryEmail,
        displayName: seeded.name.fullName,
        givenName: seeded.name.givenName,
        familyName: seeded.name.familyName,
        employeeNumber: seeded.externalIds?.[0]?.value ?? null,
        title: org?.title ?? null,
        manager: seeded.relations ? { email: seeded.relations[0]!.value } : null,
        departmentExternalId:
          seeded.orgUnitPath === '/' ? null : fake.getOrgUnit(seeded.orgUnitPath)!.orgUnitId,
        active: !seeded.suspended && !seeded.archived,
        raw: expect.objectContaining({ id: seeded.id }),
      })
    }
    // The seed has each kind of leaver and users in the root, so the loop above covered them.
    expect(ws.users.some((u) => u.suspended)).toBe(true)
    expect(ws.users.some((u) => u.archived)).toBe(true)
    expect(ws.users.some((u) => u.orgUnitPath === '/')).toBe(true)
  })

  it('reads the org units itself when asked for users first', async () => {
    const connector = open()
    const before = fake.requests.length
    const page = await connector.listUsers(undefined, live())
    expect(
      fake.requests
        .slice(before)
        .filter((r) => r.path !== '/token')
        .map((r) => r.path),
    ).toEqual(['/admin/directory/v1/customer/my_customer/orgunits', '/admin/directory/v1/users'])
    const expected = (u: RemoteUser) => {
      const path = (u.raw as { orgUnitPath: string }).orgUnitPath
      return path === '/' ? null : fake.getOrgUnit(path)!.orgUnitId
    }
    expect(page.items).toHaveLength(500)
    expect(page.items.filter((u) => u.departmentExternalId !== null).length).toBeGreaterThan(400)
    for (const u of page.items) expect(u.departmentExternalId).toBe(expected(u))
  })

  it('fails the listing, to be retried, when a user is in an org unit made after the tree was read', async () => {
    const connector = open()
    await connector.listDepartments(undefined, live())
    const newcomer = fake.addUser({ primaryEmail: 'newcomer@acme.test', orgUnitPath: '/Brand New' })
    try {
      const error = await failure(all(connector.listUsers.bind(connector)))
      expect(error.kind).toBe('transient')
      expect(error.message).toBe(
        'google: list users: newcomer@acme.test is in org unit /Brand New, which the org unit listing did ' +
          'not have (the tree changed during the run): listing again',
      )
      // What the engine's retry does: list again from the top, with the same connector.
      const departments = await connector.listDepartments(undefined, live())
      const { items } = await all(connector.listUsers.bind(connector))
      const id = fake.getOrgUnit('/Brand New')!.orgUnitId
      expect(departments.items.map((d) => d.externalId)).toContain(id)
      expect(items.find((u) => u.externalId === newcomer.id)?.departmentExternalId).toBe(id)
    } finally {
      fake.deleteUser(newcomer.id)
      fake.deleteOrgUnit('/Brand New')
    }
  })

  it('gives a department path from the primary organization when configured so', async () => {
    const connector = open({ departmentsFrom: 'organization' })
    const { items } = await all(connector.listUsers.bind(connector))
    const byEmail = new Map(items.map((u) => [u.userName, u]))
    expect(byEmail.get('ada@acme.test')).toMatchObject({ departmentPath: ['R&D'], title: 'Engineer' })
    expect(byEmail.get('ada@acme.test')).not.toHaveProperty('departmentExternalId')
    expect(byEmail.get('grace@acme.test')?.departmentPath).toEqual(['Technology'])
    expect(byEmail.get('yamada@acme.test')?.departmentPath).toEqual([])
    const seeded = ws.users.find((u) => u.organizations?.[0]?.department === 'Finance')!
    expect(byEmail.get(seeded.primaryEmail)?.departmentPath).toEqual(['Finance'])
    // No org unit listing is needed in this mode.
    expect(fake.requests.slice(-3).every((r) => r.path === '/admin/directory/v1/users')).toBe(true)
  })

  it('fetches a new access token when Google has dropped the one held, without failing', async () => {
    const connector = open()
    await connector.listDepartments(undefined, live())
    const before = fake.tokensIssued
    fake.expireAccessTokens()
    const page = await connector.listUsers(undefined, live())
    expect(page.items).toHaveLength(500)
    expect(fake.tokensIssued).toBe(before + 1)
    expect(fake.requests.slice(-3).map((r) => [r.path, r.status])).toEqual([
      ['/admin/directory/v1/users', 401],
      ['/token', 200],
      ['/admin/directory/v1/users', 200],
    ])
  })

  it('stops at once for an aborted signal, without a request', async () => {
    const connector = open()
    const before = fake.requests.length
    const controller = new AbortController()
    controller.abort(new Error('shutting down'))
    await expect(connector.listUsers(undefined, controller.signal)).rejects.toThrow('shutting down')
    expect(fake.requests.length).toBe(before)
  })

  it('aborts a token request in flight', async () => {
    // A token endpoint that never answers: only the signal can end the call.
    const hanging = createServer()
    const controller = new AbortController()
    hanging.on('request', () => controller.abort(new Error('run cancelled')))
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve))
    try {
      const tokenUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/token`
      await expect(open({ tokenUrl }).listGroups(undefined, controller.signal)).rejects.toThrow(
        'run cancelled',
      )
    } finally {
      hanging.closeAllConnections()
      await new Promise<void>((resolve) => hanging.close(() => resolve()))
    }
  })

  it('never logs the key or a token', async () => {
    const { logger, lines } = recordingLogger()
    const connector = open({}, logger)
    await all(connector.listDepartments.bind(connector))
    await all(connector.listUsers.bind(connector))
    const text = lines.join('\n')
    expect(text).toContain('google: users listed')
    expect(text).not.toContain('PRIVATE KEY')
    expect(text).not.toMatch(/ya29\./)
  })
})

describe('listGroups', () => {
  it('pages through 210 groups with every user member, leaving nested groups and the customer out', async () => {
    const inner = fake.addGroup({ email: 'inner@acme.test', name: 'Inner', memberIds: [grace.id] })
    const outer = fake.addGroup({ email: 'outer@acme.test', name: '  Outer  ', description: 'Nested' })
    fake.addMembers(outer.id, [{ id: ada.id, role: 'OWNER' }, inner.id, fake.customerId, taro.id])
    try {
      const connector = open()
      const before = fake.requests.length
      const { items, pages } = await all(connector.listGroups.bind(connector))
      expect(pages).toBe(2)
      expect(items).toHaveLength(212)
      const groupRequests = fake.requests.slice(before).filter((r) => r.path === '/admin/directory/v1/groups')
      expect(groupRequests.map((r) => new URLSearchParams(r.query).get('maxResults'))).toEqual(['200', '200'])
      const byId = new Map(items.map((g) => [g.externalId, g]))
      expect(byId.get(outer.id)).toEqual({
        externalId: outer.id,
        displayName: 'Outer',
        description: 'Nested',
        memberExternalIds: [ada.id, taro.id],
      })
      expect(byId.get(inner.id)).toMatchObject({ description: null, memberExternalIds: [grace.id] })
      for (const seeded of ws.groups) {
        const now = fake.getGroup(seeded.id)!
        expect(byId.get(seeded.id)).toEqual({
          externalId: seeded.id,
          displayName: seeded.name,
          description: seeded.description,
          memberExternalIds: now.members.filter((m) => m.type === 'USER').map((m) => m.id),
        })
      }
      // The everyone-list takes several member pages of 200.
      const everyone = ws.groups[0]!
      const memberPages = fake.requests
        .slice(before)
        .filter((r) => r.path === `/admin/directory/v1/groups/${everyone.id}/members`)
      expect(memberPages.length).toBe(Math.ceil(everyone.members.length / 200))
      expect(memberPages.every((r) => new URLSearchParams(r.query).get('maxResults') === '200')).toBe(true)
    } finally {
      fake.deleteGroup(outer.id)
      fake.deleteGroup(inner.id)
    }
  })

  it('splits a Google page of groups when their members pass the budget, and resumes where it left off', async () => {
    const listing = new GroupListing(new DirectoryClient(config(), fetch), silent, 100)
    const before = fake.requests.length
    const { items, pages, cursors } = await all(listing.page.bind(listing))
    expect(items.map((g) => g.externalId)).toEqual(ws.groups.map((g) => g.id))
    expect(pages).toBeGreaterThan(20)
    // Each groups page of Google's was read once, however many engine pages it made.
    expect(fake.requests.slice(before).filter((r) => r.path === '/admin/directory/v1/groups')).toHaveLength(2)
    expect(cursors.filter((c) => c !== undefined && c.startsWith('0:'))).toHaveLength(1)
  })

  it('leaves out a group deleted between the groups page and its members', async () => {
    const doomed = fake.addGroup({ email: 'doomed@acme.test', name: 'Doomed', memberIds: [ada.id] })
    // A small budget splits Google's second page (ws.groups[200..209], then doomed) into several.
    const listing = new GroupListing(new DirectoryClient(config(), fetch), silent, 100)
    const secondPage = new Set(ws.groups.slice(200).map((g) => g.id))
    const listed: string[] = []
    let deleted = false
    let cursor: string | undefined
    do {
      const page = await listing.page(cursor, live())
      listed.push(...page.items.map((g) => g.externalId))
      // Google's second page is held now, doomed still on it: delete it before its members are read.
      if (!deleted && page.items.some((g) => secondPage.has(g.externalId))) {
        expect(listed).not.toContain(doomed.id)
        fake.deleteGroup(doomed.id)
        deleted = true
      }
      cursor = page.nextCursor
    } while (cursor !== undefined)
    expect(deleted).toBe(true)
    expect(listed).toEqual(ws.groups.map((g) => g.id))
    expect(fake.requests.some((r) => r.path.endsWith(`${doomed.id}/members`) && r.status === 404)).toBe(true)
  })
})

describe('errors an admin can act on', () => {
  it('quota: 403 userRateLimitExceeded and quotaExceeded, 429 with Retry-After → throttled', async () => {
    const connector = open()
    fake.quirks.quota = { status: 403, times: 1 }
    const rate = await failure(connector.listDepartments(undefined, live()))
    expect(rate).toMatchObject({ kind: 'throttled', retryAfterMs: undefined })
    expect(rate.message).toBe(
      'google: list org units: Directory API quota exceeded (403 userRateLimitExceeded: User Rate Limit Exceeded)',
    )
    fake.quirks.quota = { status: 403, times: 1, reason: 'quotaExceeded' }
    expect(await failure(connector.listDepartments(undefined, live()))).toMatchObject({ kind: 'throttled' })

    const first = await connector.listUsers(undefined, live())
    fake.quirks.quota = { status: 429, times: 1, retryAfterSeconds: 7 }
    const limited = await failure(connector.listUsers(first.nextCursor, live()))
    expect(limited).toMatchObject({ kind: 'throttled', retryAfterMs: 7000 })
    expect(limited.message).toMatch(
      /^google: list users \(after 500 users\): Directory API quota exceeded \(429 rateLimitExceeded: Quota exceeded .*\); Google asks to retry after 7 s$/,
    )
    // The client library's own retry is off: one request, one failure, and the engine decides.
    expect(fake.requests.at(-1)).toMatchObject({ path: '/admin/directory/v1/users', status: 429 })
    expect(fake.quirks.quota).toBeNull()
    // The same cursor works once the quota allows.
    expect((await connector.listUsers(first.nextCursor, live())).items).toHaveLength(500)
  })

  it('domain-wide delegation missing → auth, naming the scopes, the console path and the client id', async () => {
    const saved = fake.quirks.delegationScopes
    fake.quirks.delegationScopes = ['https://www.googleapis.com/auth/admin.directory.user.readonly']
    try {
      const error = await failure(open().listUsers(undefined, live()))
      expect(error.kind).toBe('auth')
      expect(error.message).toBe(
        'google: list org units: domain-wide delegation is not granted for scopes ' +
          'https://www.googleapis.com/auth/admin.directory.user.readonly, ' +
          'https://www.googleapis.com/auth/admin.directory.orgunit.readonly, ' +
          'https://www.googleapis.com/auth/admin.directory.group.readonly, ' +
          'https://www.googleapis.com/auth/admin.directory.group.member.readonly ' +
          `(Admin console → Security → API controls → Domain-wide delegation, client id ${key().client_id}) ` +
          '[unauthorized_client: Client is unauthorized to retrieve access tokens using this method, or client ' +
          'not authorized for any of the scopes requested.]',
      )
    } finally {
      fake.quirks.delegationScopes = saved
    }
  })

  it('invalid_grant for an unknown subject → auth, blaming the subject', async () => {
    const error = await failure(open({ subject: 'nobody@acme.test' }).listDepartments(undefined, live()))
    expect(error.kind).toBe('auth')
    expect(error.message).toBe(
      'google: list org units: the subject nobody@acme.test is not a user of this Workspace: set subject to ' +
        'the email of a Workspace admin [invalid_grant: Invalid email or User ID]',
    )
  })

  it('invalid_grant for a bad signature → auth, blaming the key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const other = JSON.stringify({
      ...key(),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    })
    const error = await failure(open({ serviceAccountKey: other }).listUsers(undefined, live()))
    expect(error.kind).toBe('auth')
    expect(error.message).toMatch(
      /^google: list org units: Google does not accept the service account key of orgsync-sync@orgsync-fake\.iam\.gserviceaccount\.com .*create a new JSON key.*\[invalid_grant: Invalid JWT Signature\.\]$/,
    )
  })

  it('a private key Node cannot read → invalid-config', async () => {
    const broken = JSON.stringify({
      ...key(),
      private_key: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n',
    })
    const error = await failure(open({ serviceAccountKey: broken }).listGroups(undefined, live()))
    expect(error.kind).toBe('invalid-config')
    expect(error.message).toMatch(/^google: list groups: the private_key of serviceAccountKey cannot sign/)
  })

  it('a subject who is not an admin → permission', async () => {
    const plain = ws.users.find((u) => !u.isAdmin && !u.suspended && !u.archived)!.primaryEmail
    const error = await failure(open({ subject: plain }).listGroups(undefined, live()))
    expect(error.kind).toBe('permission')
    expect(error.message).toBe(
      `google: list groups: ${plain} may not read the directory: the subject must be a Workspace admin with ` +
        'read access to users, organizational units and groups (403 forbidden: Not Authorized to access this ' +
        'resource/api)',
    )
  })

  describe('against a Directory API that is down', () => {
    let down: Server
    let downUrl: string
    beforeAll(async () => {
      // Google's front end answering 503, as it does in an outage; the token still comes from the fake.
      down = createServer((_req, res) => {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' })
        res.end(JSON.stringify({ error: { code: 503, message: 'The service is currently unavailable.' } }))
      })
      await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve))
      downUrl = `http://127.0.0.1:${(down.address() as AddressInfo).port}/`
    })
    afterAll(
      () =>
        new Promise<void>((resolve) => {
          down.closeAllConnections()
          down.close(() => resolve())
        }),
    )

    it('5xx → transient, keeping Retry-After', async () => {
      const error = await failure(open({ rootUrl: downUrl }).listUsers(undefined, live()))
      expect(error).toMatchObject({ kind: 'transient', retryAfterMs: 2000 })
      expect(error.message).toBe('google: list org units: 503: The service is currently unavailable.')
    })

    it('no answer at all → transient', async () => {
      const closed = createServer()
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
      const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`
      await new Promise<void>((resolve) => closed.close(() => resolve()))
      const error = await failure(open({ rootUrl: url }).listGroups(undefined, live()))
      expect(error.kind).toBe('transient')
      expect(error.message).toMatch(/^google: list groups: Google could not be reached/)
    })
  })
})

describe('check', () => {
  it('gets a token and reads one user, the org units and one group', async () => {
    const result = await open().check(live())
    expect(result).toEqual({
      ok: true,
      checks: [
        {
          name: 'token',
          ok: true,
          message:
            'orgsync-sync@orgsync-fake.iam.gserviceaccount.com got an access token acting as ' +
            `${fake.subject} (domain-wide delegation)`,
        },
        {
          name: 'users',
          ok: true,
          message: expect.stringMatching(/^can read users \(e\.g\. .+@acme\.test\)$/),
        },
        { name: 'org units', ok: true, message: 'can read org units (8 top-level units)' },
        {
          name: 'groups',
          ok: true,
          message: expect.stringMatching(/^can read groups \(e\.g\. .+@acme\.test\)$/),
        },
      ],
    })
  })

  it('says which step fails and why, without throwing', async () => {
    const plain = ws.users.find((u) => !u.isAdmin && !u.suspended && !u.archived)!.primaryEmail
    const notAdmin = await open({ subject: plain }).check(live())
    expect(notAdmin.ok).toBe(false)
    expect(notAdmin.checks.map((c) => [c.name, c.ok])).toEqual([
      ['token', true],
      ['users', false],
      ['org units', false],
      ['groups', false],
    ])
    expect(notAdmin.checks[1]?.message).toMatch(
      new RegExp(`^google: check: list one user: ${plain.replace('.', '\\.')} may not read the directory`),
    )

    const saved = fake.quirks.delegationScopes
    fake.quirks.delegationScopes = []
    try {
      const undelegated = await open().check(live())
      expect(undelegated.ok).toBe(false)
      expect(undelegated.checks[0]).toMatchObject({
        name: 'token',
        ok: false,
        message: expect.stringMatching(/^google: get an access token: domain-wide delegation is not granted/),
      })
      expect(undelegated.checks.slice(1)).toEqual(
        ['users', 'org units', 'groups'].map((name) => ({
          name,
          ok: false,
          message: 'not checked: no access token (see the token step)',
        })),
      )
    } finally {
      fake.quirks.delegationScopes = saved
    }

    fake.quirks.quota = { status: 429, times: 1, retryAfterSeconds: 3 }
    const throttled = await open().check(live())
    expect(throttled.checks.map((c) => c.ok)).toEqual([true, false, true, true])
    expect(throttled.checks[1]?.message).toMatch(/quota exceeded .*retry after 3 s$/)
  })
})
