import { randomUUID } from 'node:crypto'
import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import {
  CORE_GROUP,
  CORE_USER,
  ENTERPRISE,
  ERROR,
  LIST_RESPONSE,
  PATCH_OP,
  createScimSource,
  scimClient,
  type ScimClient,
  type ScimResponse,
} from '../helpers/scim-client'

/**
 * Microsoft Entra ID's provisioning service against a running orgsync, request for request as
 * Microsoft documents them: "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft
 * Entra ID" (user and group operations, their request bodies) and "Known issues and resolutions with
 * SCIM 2.0 protocol compliance" (what the service sends without and with the aadOptscim062020 flag:
 * capitalised ops, "active": "False", path-less replace maps, member removal by value array or by
 * `members[value eq "…"]`). The manager goes as a bare id string, in a PATCH after both users exist
 * (Entra's "round trip" for reference attributes).
 */

const ORGSYNC = 'urn:orgsync:scim:schemas:extension:2.0:User'
const ADSCIM_GROUP = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'
const MANAGER = `${ENTERPRISE}:manager`
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DAY = 86_400_000

type Json = ScimResponse['body']

interface PersonView {
  id: string
  userName: string
  displayName: string | null
  givenName: string | null
  familyName: string | null
  email: string | null
  employeeNumber: string | null
  title: string | null
  status: 'active' | 'suspended' | 'deprovisioned'
  suspendedReason: string | null
  suspendedBySourceId: string | null
  removeAfter: string | null
  departmentId: string | null
  managerId: string | null
  department: { id: string; name: string; path: string } | null
  manager: { id: string; userName: string; displayName: string | null } | null
  identities: {
    id: string
    source: { id: string; name: string; type: string }
    externalId: string
    active: boolean
    removedAt: string | null
  }[]
}

interface DepartmentView {
  id: string
  name: string
  parentId: string | null
  path: string
  depth: number
  virtual: boolean
  sourceId: string | null
  memberCount: number
}

/** A query string as Entra sends it (`filter=userName+eq+%22…%22`). */
const query = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`

function expectStatus(res: ScimResponse, status: number): ScimResponse {
  if (res.status !== status)
    throw new Error(`expected HTTP ${status}, got ${res.status}: ${res.text || '(empty body)'}`)
  return res
}

/** A SCIM error body (RFC 7644 §3.12): the error URN, the status as a string, a detail. */
function expectScimError(res: ScimResponse, status: number): void {
  expectStatus(res, status)
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/)
  expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status), detail: expect.any(String) })
  expect(res.body.detail).not.toBe('')
}

/** Entra's Create User body (the tutorial's, with this test's values). */
function entraUser(tag: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemas: [CORE_USER, ENTERPRISE],
    externalId: randomUUID(),
    userName: `Test_User_${tag}`,
    active: true,
    emails: [{ primary: true, type: 'work', value: `Test_User_${tag}@testuser.com` }],
    meta: { resourceType: 'User' },
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    roles: [],
    ...extra,
  }
}

const patch = (...operations: Record<string, unknown>[]) => ({ schemas: [PATCH_OP], Operations: operations })

describeEachDatabase('SCIM: Microsoft Entra ID provisioning', (db) => {
  let app: TestApp
  beforeAll(async () => {
    app = await startTestApp(db())
  }, 60_000)
  afterAll(() => app?.close())

  async function personOf(personId: string): Promise<PersonView> {
    const res = await app.api('GET', `/api/v1/people/${personId}`)
    const text = await res.text()
    if (res.status !== 200) throw new Error(`GET /api/v1/people/${personId}: ${res.status} ${text}`)
    return JSON.parse(text) as PersonView
  }

  async function createUser(scim: ScimClient, body: Record<string, unknown>): Promise<Json> {
    return expectStatus(await scim.request('POST', '/Users', body), 201).body
  }

  async function findByUserName(scim: ScimClient, userName: string): Promise<Json> {
    return expectStatus(
      await scim.request('GET', `/Users${query({ filter: `userName eq "${userName}"` })}`),
      200,
    ).body
  }

  describe('test connection', () => {
    let scim: ScimClient
    beforeAll(async () => {
      scim = await createScimSource(app, { name: 'Microsoft Entra ID (test connection)' })
    })

    test('a query for a random GUID user name is a 200 ListResponse with no results', async () => {
      const res = expectStatus(
        await scim.request('GET', `/Users${query({ filter: `userName eq "${randomUUID()}"` })}`),
        200,
      )
      expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/)
      expect(res.body).toMatchObject({ schemas: [LIST_RESPONSE], totalResults: 0, startIndex: 1 })
      expect(res.body.Resources ?? []).toEqual([])
    })

    test('so is a query for a random GUID group name, members excluded', async () => {
      const res = expectStatus(
        await scim.request(
          'GET',
          `/Groups${query({ excludedAttributes: 'members', filter: `displayName eq "${randomUUID()}"` })}`,
        ),
        200,
      )
      expect(res.body).toMatchObject({ schemas: [LIST_RESPONSE], totalResults: 0 })
      expect(res.body.Resources ?? []).toEqual([])
    })

    test('a wrong secret token fails the connection with 401 and a SCIM error', async () => {
      const wrong = scimClient(app.url, scim.sourceId, scim.tokenId, `${scim.token}x`)
      const res = await wrong.request('GET', `/Users${query({ filter: `userName eq "${randomUUID()}"` })}`)
      expectScimError(res, 401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
    })
  })

  describe('user operations, in the tutorial’s order', () => {
    let scim: ScimClient
    const tag = randomUUID()
    const createBody = entraUser(tag, {
      [ENTERPRISE]: { department: 'Support/Tier 1', employeeNumber: 'E-1001' },
    })
    let created: Json
    let userName = String(createBody.userName)
    const user = () => {
      if (!created) throw new Error('Create User failed: nothing to go on with')
      return created as { id: string; [ORGSYNC]: { personId: string } }
    }
    const personId = () => user()[ORGSYNC].personId

    beforeAll(async () => {
      scim = await createScimSource(app, { name: 'Microsoft Entra ID' })
    })

    test('Create User: 201 with Location, ETag, meta.version and the server’s id', async () => {
      const res = expectStatus(await scim.request('POST', '/Users', createBody), 201)
      created = res.body
      const id = res.body.id
      expect(id).toEqual(expect.any(String))
      expect(id).not.toBe('')
      expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/)
      expect(res.headers.get('location')).toBe(`${scim.base}/Users/${id}`)
      const etag = res.headers.get('etag')
      expect(etag).toMatch(/^W\/"\d+"$/)
      // meta is the server's, not the client's { resourceType } echoed back.
      expect(res.body.meta).toEqual({
        resourceType: 'User',
        created: expect.any(String),
        lastModified: expect.any(String),
        location: `${scim.base}/Users/${id}`,
        version: etag,
      })
      expect(Number.isNaN(Date.parse(res.body.meta.created))).toBe(false)
      expect(res.body.schemas).toEqual(expect.arrayContaining([CORE_USER, ENTERPRISE]))
      expect(res.body).toMatchObject({
        externalId: createBody.externalId,
        userName: createBody.userName,
        active: true,
        emails: createBody.emails,
        name: createBody.name,
        [ENTERPRISE]: { department: 'Support/Tier 1', employeeNumber: 'E-1001' },
      })
      expect(res.body[ORGSYNC].personId).toMatch(UUID)

      // The user is a person in the org tree, in the department the path names.
      const person = await personOf(personId())
      expect(person).toMatchObject({
        userName: createBody.userName,
        displayName: 'givenName familyName',
        givenName: 'givenName',
        familyName: 'familyName',
        email: `Test_User_${tag}@testuser.com`,
        employeeNumber: 'E-1001',
        status: 'active',
        department: { name: 'Tier 1', path: 'Support/Tier 1' },
        manager: null,
      })
      expect(person.identities).toEqual([
        expect.objectContaining({
          id,
          source: expect.objectContaining({ id: scim.sourceId, type: 'scim' }),
          active: true,
          removedAt: null,
        }),
      ])
    })

    test('Get User: the same resource and ETag as the create returned', async () => {
      const res = expectStatus(await scim.request('GET', `/Users/${user().id}`), 200)
      expect(res.body).toEqual(created)
      expect(res.headers.get('etag')).toBe(created.meta.version)
    })

    test('Get User by query: userName eq "…" finds exactly the user', async () => {
      const byName = await findByUserName(scim, userName)
      expect(byName).toMatchObject({
        schemas: [LIST_RESPONSE],
        totalResults: 1,
        startIndex: 1,
        itemsPerPage: 1,
      })
      expect(byName.Resources).toHaveLength(1)
      expect(byName.Resources[0]).toEqual(created)
      // Entra's user names are case-insensitive too.
      expect((await findByUserName(scim, userName.toUpperCase())).Resources.map((r: Json) => r.id)).toEqual([
        user().id,
      ])
    })

    test('Get User by query: emails[type eq "work"].value eq "…", the other query Entra documents', async () => {
      // "if user uniqueness is evaluated for both userName and emails[type eq "work"], a GET to /Users
      // with a filter must allow for both userName eq … and emails[type eq "work"].value eq … queries"
      const byMail = expectStatus(
        await scim.request(
          'GET',
          `/Users${query({ filter: `emails[type eq "work"].value eq "Test_User_${tag}@testuser.com"` })}`,
        ),
        200,
      ).body
      expect(byMail.totalResults).toBe(1)
      expect(byMail.Resources.map((r: Json) => r.id)).toEqual([user().id])
    })

    test('Get User by query - Zero results', async () => {
      const res = await findByUserName(scim, 'non-existent user')
      expect(res).toMatchObject({ schemas: [LIST_RESPONSE], totalResults: 0, startIndex: 1 })
      expect(res.Resources ?? []).toEqual([])
    })

    test('Update User [Multi-valued properties]: Replace emails[type eq "work"].value and name.familyName', async () => {
      const before = created.meta.version
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch(
            { op: 'Replace', path: 'emails[type eq "work"].value', value: `updated_${tag}@microsoft.com` },
            { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
          ),
        ),
        200,
      )
      // The work email's value changes in place: still the one primary work email.
      expect(res.body.emails).toEqual([
        { value: `updated_${tag}@microsoft.com`, type: 'work', primary: true },
      ])
      expect(res.body.name).toMatchObject({ familyName: 'updatedFamilyName', givenName: 'givenName' })
      expect(res.headers.get('etag')).toBe(res.body.meta.version)
      expect(res.body.meta.version).not.toBe(before)

      const person = await personOf(personId())
      expect(person).toMatchObject({ email: `updated_${tag}@microsoft.com`, familyName: 'updatedFamilyName' })
    })

    test('Update User [Multi-valued properties]: Add creates the work email, phones and address Entra maps', async () => {
      // A user Entra created without mail, phones or address: its later updates are "Add"s.
      const plainTag = randomUUID()
      const plain = await createUser(scim, { ...entraUser(plainTag), emails: undefined })
      expect(plain.emails ?? []).toEqual([])
      expect((await personOf(plain[ORGSYNC].personId)).email).toBeNull()

      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${plain.id}`,
          patch(
            { op: 'Add', path: 'emails[type eq "work"].value', value: `work_${plainTag}@testuser.com` },
            { op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 425 555 0100' },
            { op: 'Add', path: 'phoneNumbers[type eq "work"].value', value: '+1 425 555 0199' },
            { op: 'Add', path: 'addresses[type eq "work"].streetAddress', value: '1 Microsoft Way' },
            { op: 'Add', path: 'addresses[type eq "work"].postalCode', value: '98052' },
            // Entra's default mapping spells these sub-attributes with capitals; names are case-insensitive.
            { op: 'Add', path: 'emails[type eq "other"].Value', value: `alias_${plainTag}@testuser.com` },
            { op: 'Add', path: 'addresses[type eq "other"].Formatted', value: 'Building 92' },
          ),
        ),
        200,
      )
      const body = res.body
      expect(body.emails).toHaveLength(2)
      expect(body.emails).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'work', value: `work_${plainTag}@testuser.com` }),
          expect.objectContaining({ type: 'other', value: `alias_${plainTag}@testuser.com` }),
        ]),
      )
      expect(body.phoneNumbers).toHaveLength(2)
      expect(body.phoneNumbers).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'mobile', value: '+1 425 555 0100' }),
          expect.objectContaining({ type: 'work', value: '+1 425 555 0199' }),
        ]),
      )
      // Both work-address sub-attributes land on one new work address.
      expect(body.addresses).toHaveLength(2)
      expect(body.addresses).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'work', streetAddress: '1 Microsoft Way', postalCode: '98052' }),
          expect.objectContaining({ type: 'other', formatted: 'Building 92' }),
        ]),
      )
      // Canonical names only: no "Value" / "Formatted" keys beside the schema's own.
      expect(JSON.stringify(body)).not.toMatch(/"(Value|Formatted)"/)

      // The person's address is the work email now there.
      expect((await personOf(plain[ORGSYNC].personId)).email).toBe(`work_${plainTag}@testuser.com`)
      // And it stuck: a GET serves what the PATCH answered.
      expect(expectStatus(await scim.request('GET', `/Users/${plain.id}`), 200).body).toEqual(body)
    })

    test('Update User [Single-valued properties]: Replace userName', async () => {
      const next = `${randomUUID()}@testuser.com`
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch({ op: 'Replace', path: 'userName', value: next }),
        ),
        200,
      )
      expect(res.body.userName).toBe(next)
      expect((await personOf(personId())).userName).toBe(next)
      const old = userName
      userName = next
      expect((await findByUserName(scim, next)).Resources.map((r: Json) => r.id)).toEqual([user().id])
      expect((await findByUserName(scim, old)).totalResults).toBe(0)
    })

    test('Update User [Single-valued properties]: several Replace ops, one per attribute (no flag)', async () => {
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch(
            { op: 'Replace', path: 'displayName', value: 'Pvlo' },
            { op: 'Replace', path: 'emails[type eq "work"].value', value: `pvlo_${tag}@test.microsoft.com` },
            { op: 'Replace', path: 'name.givenName', value: 'Gtfd' },
            { op: 'Replace', path: 'name.familyName', value: 'Pkqf' },
            { op: 'Replace', path: 'externalId', value: 'Eqpj' },
            { op: 'Replace', path: `${ENTERPRISE}:employeeNumber`, value: 'Eqpj' },
          ),
        ),
        200,
      )
      expect(res.body).toMatchObject({
        displayName: 'Pvlo',
        externalId: 'Eqpj',
        name: { givenName: 'Gtfd', familyName: 'Pkqf' },
        emails: [{ value: `pvlo_${tag}@test.microsoft.com`, type: 'work', primary: true }],
        [ENTERPRISE]: { employeeNumber: 'Eqpj', department: 'Support/Tier 1' },
      })
      expect(await personOf(personId())).toMatchObject({
        displayName: 'Pvlo',
        givenName: 'Gtfd',
        familyName: 'Pkqf',
        email: `pvlo_${tag}@test.microsoft.com`,
        employeeNumber: 'Eqpj',
      })
    })

    test('Update User [Single-valued properties]: a path-less replace map with dotted and URN keys (flag)', async () => {
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch(
            {
              op: 'replace',
              path: 'emails[type eq "work"].value',
              value: `mhvaes_${tag}@test.microsoft.com`,
            },
            {
              op: 'replace',
              value: {
                displayName: 'Bjfe',
                'name.givenName': 'Kkom',
                'name.familyName': 'Unua',
                [`${ENTERPRISE}:employeeNumber`]: 'Aklq',
              },
            },
          ),
        ),
        200,
      )
      expect(res.body).toMatchObject({
        displayName: 'Bjfe',
        name: { givenName: 'Kkom', familyName: 'Unua' },
        emails: [{ value: `mhvaes_${tag}@test.microsoft.com`, type: 'work', primary: true }],
        [ENTERPRISE]: { employeeNumber: 'Aklq', department: 'Support/Tier 1' },
      })
      // The keys are paths into the resource, not attributes of their own.
      expect(Object.keys(res.body)).not.toContain('name.givenName')
      expect(Object.keys(res.body)).not.toContain('name.familyName')
      expect(Object.keys(res.body)).not.toContain(`${ENTERPRISE}:employeeNumber`)
      expect(Object.keys(res.body[ENTERPRISE])).toEqual(
        expect.not.arrayContaining([expect.stringMatching(/:/)]),
      )
      expect(await personOf(personId())).toMatchObject({
        displayName: 'Bjfe',
        givenName: 'Kkom',
        familyName: 'Unua',
        employeeNumber: 'Aklq',
        email: `mhvaes_${tag}@test.microsoft.com`,
      })
    })

    test('Update User [Single-valued properties]: Replace the enterprise department moves the person', async () => {
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch({ op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Support/Tier 2' }),
        ),
        200,
      )
      expect(res.body[ENTERPRISE].department).toBe('Support/Tier 2')
      expect((await personOf(personId())).department).toMatchObject({
        name: 'Tier 2',
        path: 'Support/Tier 2',
      })
    })

    test('manager: Add with the manager’s id as a bare string links the reporting line; Remove unlinks it', async () => {
      const boss = await createUser(scim, entraUser(randomUUID(), { displayName: 'The Boss' }))
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch({ op: 'Add', path: MANAGER, value: boss.id }),
        ),
        200,
      )
      // Served as the complex attribute RFC 7643 §4.3 defines.
      expect(res.body[ENTERPRISE].manager).toEqual(expect.objectContaining({ value: boss.id }))
      const person = await personOf(personId())
      expect(person.managerId).toBe(boss[ORGSYNC].personId)
      expect(person.manager).toMatchObject({ id: boss[ORGSYNC].personId, userName: boss.userName })

      // Before updating a reference Entra asks whether it already holds (the tutorial's Example 4).
      const holds = async (managerId: string) =>
        expectStatus(
          await scim.request(
            'GET',
            `/Users${query({ filter: `id eq "${user().id}" and manager eq "${managerId}"`, attributes: 'id' })}`,
          ),
          200,
        ).body
      const yes = await holds(boss.id)
      expect(yes.totalResults).toBe(1)
      expect(yes.Resources[0].id).toBe(user().id)
      expect((await holds(randomUUID())).totalResults).toBe(0)

      // Entra re-sends the same reference on later cycles: nothing changes, the version stays.
      const again = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch({ op: 'Replace', path: MANAGER, value: boss.id }),
        ),
        200,
      )
      expect(again.body.meta.version).toBe(res.body.meta.version)

      const removed = expectStatus(
        await scim.request('PATCH', `/Users/${user().id}`, patch({ op: 'Remove', path: MANAGER })),
        200,
      )
      expect(removed.body[ENTERPRISE]?.manager).toBeUndefined()
      expect((await personOf(personId())).managerId).toBeNull()
    })

    test('Disable User: Replace active "False" (a string) suspends the person; the user is still served', async () => {
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch({ op: 'Replace', path: 'active', value: 'False' }),
        ),
        200,
      )
      expect(res.body.active).toBe(false)
      expect(await personOf(personId())).toMatchObject({
        status: 'suspended',
        suspendedReason: expect.stringMatching(/disabled/i),
        suspendedBySourceId: scim.sourceId,
        removeAfter: null,
      })
      // A disabled user is still a user: Entra finds it by its query and reads it.
      const found = await findByUserName(scim, userName)
      expect(found.totalResults).toBe(1)
      expect(found.Resources[0]).toMatchObject({ id: user().id, active: false })
      expect(expectStatus(await scim.request('GET', `/Users/${user().id}`), 200).body.active).toBe(false)
    })

    test('restore: Replace active "True" makes the person active again', async () => {
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user().id}`,
          patch({ op: 'Replace', path: 'active', value: 'True' }),
        ),
        200,
      )
      expect(res.body.active).toBe(true)
      expect(await personOf(personId())).toMatchObject({
        status: 'active',
        suspendedReason: null,
        removeAfter: null,
      })
    })

    test('Delete User: 204, then 404 with a SCIM error; the person is suspended with a removal date', async () => {
      const res = expectStatus(await scim.request('DELETE', `/Users/${user().id}`), 204)
      expect(res.text).toBe('')

      expectScimError(await scim.request('GET', `/Users/${user().id}`), 404)
      expect((await findByUserName(scim, userName)).totalResults).toBe(0)
      // Deleting it again: it is gone.
      expectScimError(await scim.request('DELETE', `/Users/${user().id}`), 404)

      const person = await personOf(personId())
      expect(person).toMatchObject({
        status: 'suspended',
        suspendedReason: expect.stringMatching(/deleted/i),
        suspendedBySourceId: scim.sourceId,
      })
      const removeAfter = Date.parse(person.removeAfter ?? '')
      // The source's default grace period: 30 days.
      expect(removeAfter).toBeGreaterThan(Date.now() + 29 * DAY)
      expect(removeAfter).toBeLessThan(Date.now() + 31 * DAY)
      expect(person.identities).toEqual([
        expect.objectContaining({ id: user().id, removedAt: expect.any(String) }),
      ])
    })

    test('a user disabled with active false (flag), then deleted, gets its removal date', async () => {
      const u = await createUser(scim, entraUser(randomUUID()))
      expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${u.id}`,
          // The tutorial's Disable User request, Operations first.
          { Operations: [{ op: 'Replace', path: 'active', value: false }], schemas: [PATCH_OP] },
        ),
        200,
      )
      expect(await personOf(u[ORGSYNC].personId)).toMatchObject({ status: 'suspended', removeAfter: null })
      expectStatus(await scim.request('DELETE', `/Users/${u.id}`), 204)
      const person = await personOf(u[ORGSYNC].personId)
      expect(person.status).toBe('suspended')
      expect(Date.parse(person.removeAfter ?? '')).toBeGreaterThan(Date.now() + 29 * DAY)
    })
  })

  describe('group operations, in the tutorial’s order', () => {
    let scim: ScimClient
    const members: Json[] = []
    const displayName = `displayName ${randomUUID()}`
    const renamed = `${randomUUID()}updatedDisplayName`
    let group: Json
    const groupId = (): string => {
      if (!group) throw new Error('Create Group failed: nothing to go on with')
      return group.id
    }
    const memberIds = async (): Promise<string[]> => {
      const res = expectStatus(await scim.request('GET', `/Groups/${groupId()}`), 200)
      return ((res.body.members ?? []) as Json[]).map((m) => m.value).sort()
    }
    const sorted = (...ids: string[]) => [...ids].sort()

    beforeAll(async () => {
      scim = await createScimSource(app, { name: 'Microsoft Entra ID (groups)' })
      for (let i = 0; i < 3; i++) members.push(await createUser(scim, entraUser(randomUUID())))
    })

    test('Create Group: 201 with Location and ETag, and no members', async () => {
      const externalId = randomUUID()
      // What the SCIM job sends since Microsoft's 2018 fix of the group schema URI (see below).
      const res = expectStatus(
        await scim.request('POST', '/Groups', {
          schemas: [CORE_GROUP],
          externalId,
          displayName,
          meta: { resourceType: 'Group' },
        }),
        201,
      )
      group = res.body
      expect(res.headers.get('location')).toBe(`${scim.base}/Groups/${res.body.id}`)
      expect(res.headers.get('etag')).toMatch(/^W\/"\d+"$/)
      expect(res.body.schemas).toContain(CORE_GROUP)
      expect(res.body).toMatchObject({ id: expect.any(String), externalId, displayName })
      expect(res.body.members ?? []).toEqual([])
      expect(res.body.meta).toMatchObject({
        resourceType: 'Group',
        location: `${scim.base}/Groups/${res.body.id}`,
        version: res.headers.get('etag'),
      })
    })

    test('Create Group exactly as the tutorial shows it, with the ADSCIM group schema URI', async () => {
      const name = `tutorial ${randomUUID()}`
      const res = await scim.request('POST', '/Groups', {
        schemas: [CORE_GROUP, ADSCIM_GROUP],
        externalId: randomUUID(),
        displayName: name,
        meta: { resourceType: 'Group' },
      })
      expectStatus(res, 201)
      expect(res.body).toMatchObject({ displayName: name })
      expectStatus(await scim.request('DELETE', `/Groups/${res.body.id}`), 204)
    })

    test('Get Group with excludedAttributes=members: no members key at all', async () => {
      const res = expectStatus(
        await scim.request('GET', `/Groups/${groupId()}${query({ excludedAttributes: 'members' })}`),
        200,
      )
      expect(res.body).toMatchObject({ id: groupId(), displayName, externalId: group.externalId })
      expect(res.body).not.toHaveProperty('members')
      expect(res.body.meta.resourceType).toBe('Group')
    })

    test('Get Group by displayName, members excluded', async () => {
      const res = expectStatus(
        await scim.request(
          'GET',
          `/Groups${query({ excludedAttributes: 'members', filter: `displayName eq "${displayName}"` })}`,
        ),
        200,
      )
      expect(res.body).toMatchObject({ schemas: [LIST_RESPONSE], totalResults: 1, startIndex: 1 })
      expect(res.body.Resources).toHaveLength(1)
      expect(res.body.Resources[0].id).toBe(groupId())
      expect(res.body.Resources[0]).not.toHaveProperty('members')
    })

    test('Update Group [Non-member attributes]: Replace displayName, 204', async () => {
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Groups/${groupId()}`,
          patch({ op: 'Replace', path: 'displayName', value: renamed }),
        ),
        204,
      )
      expect(res.text).toBe('')
      const read = expectStatus(await scim.request('GET', `/Groups/${groupId()}`), 200)
      expect(read.body.displayName).toBe(renamed)
      expect(read.headers.get('etag')).toBe(res.headers.get('etag'))
      expect(read.body.meta.version).not.toBe(group.meta.version)
      const byName = (name: string) =>
        scim.request(
          'GET',
          `/Groups${query({ excludedAttributes: 'members', filter: `displayName eq "${name}"` })}`,
        )
      expect(expectStatus(await byName(renamed), 200).body.totalResults).toBe(1)
      expect(expectStatus(await byName(displayName), 200).body.totalResults).toBe(0)
    })

    test('Update Group [Add Members]: 204; the user is a member', async () => {
      const [a, b, c] = members
      expectStatus(
        await scim.request(
          'PATCH',
          `/Groups/${groupId()}`,
          patch({ op: 'Add', path: 'members', value: [{ $ref: null, value: a.id }] }),
        ),
        204,
      )
      expect(await memberIds()).toEqual([a.id])
      const read = expectStatus(await scim.request('GET', `/Groups/${groupId()}`), 200)
      expect(read.body.members).toEqual([
        expect.objectContaining({ value: a.id, $ref: `${scim.base}/Users/${a.id}` }),
      ])

      // Entra batches member adds into one operation.
      expectStatus(
        await scim.request(
          'PATCH',
          `/Groups/${groupId()}`,
          patch({
            op: 'Add',
            path: 'members',
            value: [
              { $ref: null, value: b.id },
              { $ref: null, value: c.id },
            ],
          }),
        ),
        204,
      )
      expect(await memberIds()).toEqual(sorted(a.id, b.id, c.id))
    })

    test('a reference query about the members attribute: is this user a member?', async () => {
      const [a] = members
      const isMember = async (userId: string) =>
        expectStatus(
          await scim.request(
            'GET',
            `/Groups${query({ excludedAttributes: 'members', filter: `id eq "${groupId()}" and members eq "${userId}"` })}`,
          ),
          200,
        ).body
      const yes = await isMember(a.id)
      expect(yes.totalResults).toBe(1)
      expect(yes.Resources[0].id).toBe(groupId())
      expect(yes.Resources[0]).not.toHaveProperty('members')
      const outsider = await createUser(scim, entraUser(randomUUID()))
      expect((await isMember(outsider.id)).totalResults).toBe(0)
    })

    test('Update Group [Remove Members]: Remove with a value array (no flag)', async () => {
      const [a, b, c] = members
      expectStatus(
        await scim.request(
          'PATCH',
          `/Groups/${groupId()}`,
          patch({ op: 'Remove', path: 'members', value: [{ $ref: null, value: a.id }] }),
        ),
        204,
      )
      expect(await memberIds()).toEqual(sorted(b.id, c.id))
    })

    test('Update Group [Remove Members]: remove by a members[value eq "…"] path (flag)', async () => {
      const [, b, c] = members
      expectStatus(
        await scim.request(
          'PATCH',
          `/Groups/${groupId()}`,
          patch({ op: 'remove', path: `members[value eq "${b.id}"]` }),
        ),
        204,
      )
      expect(await memberIds()).toEqual([c.id])
    })

    test('Delete Group: 204, then 404', async () => {
      const res = expectStatus(await scim.request('DELETE', `/Groups/${groupId()}`), 204)
      expect(res.text).toBe('')
      expectScimError(await scim.request('GET', `/Groups/${groupId()}`), 404)
      const list = expectStatus(
        await scim.request(
          'GET',
          `/Groups${query({ excludedAttributes: 'members', filter: `displayName eq "${renamed}"` })}`,
        ),
        200,
      )
      expect(list.body.totalResults).toBe(0)
      // Its former members are still users.
      expectStatus(await scim.request('GET', `/Users/${members[2].id}`), 200)
    })
  })

  describe('a 200-user push with departments and managers', () => {
    // A department path per enterprise `department` value, shared between users, three levels deep.
    const DEPARTMENTS = [
      'Engineering',
      'Engineering/Platform',
      'Engineering/Platform/Storage',
      'Engineering/Platform/Networking',
      'Engineering/Product',
      'Engineering/Product/Mobile',
      'Sales',
      'Sales/EMEA',
      'Sales/EMEA/Field',
      'Sales/Americas',
      'Finance',
      'Finance/Payroll',
    ]
    const ROOTS = ['Engineering', 'Sales', 'Finance']
    const N = 200
    const parentPath = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : null)

    // User 0 is the CEO (no department, no manager); users 1..12 head the departments, reporting to
    // the head of the parent department (or the CEO); everyone else works in a department, reporting
    // to its head.
    const departmentOf: (string | null)[] = []
    const managerOf: (number | null)[] = []
    const headOf = new Map<string, number>()
    departmentOf.push(null)
    managerOf.push(null)
    DEPARTMENTS.forEach((path, k) => {
      headOf.set(path, k + 1)
      departmentOf.push(path)
      const parent = parentPath(path)
      managerOf.push(parent === null ? 0 : headOf.get(parent)!)
    })
    for (let i = departmentOf.length; i < N; i++) {
      const path = DEPARTMENTS[i % DEPARTMENTS.length]!
      departmentOf.push(path)
      managerOf.push(headOf.get(path)!)
    }

    const runTag = randomUUID().slice(0, 8)
    const userNameOf = (i: number) => `user${i}.${runTag}@contoso.test`
    const scimIds = new Map<number, string>()
    const personIds = new Map<number, string>()
    /** Reports Entra pushed before their manager, whose manager link it set once the manager was there. */
    const lateLinked: number[] = []
    let scim: ScimClient

    /** A deterministic shuffle (mulberry32), so the push order is the same each run. */
    function shuffled(n: number, seed: number): number[] {
      let s = seed
      const random = () => {
        s = (s + 0x6d2b79f5) | 0
        let t = Math.imul(s ^ (s >>> 15), 1 | s)
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296
      }
      const out = Array.from({ length: n }, (_, i) => i)
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        ;[out[i], out[j]] = [out[j]!, out[i]!]
      }
      return out
    }

    async function setManager(report: number, manager: number): Promise<void> {
      const res = await scim.request(
        'PATCH',
        `/Users/${scimIds.get(report)}`,
        patch({ op: 'Add', path: MANAGER, value: scimIds.get(manager) }),
      )
      expectStatus(res, 200)
    }

    beforeAll(async () => {
      scim = await createScimSource(app, { name: 'Microsoft Entra ID (contoso)' })
      const waiting = new Map<number, number[]>()
      for (const i of shuffled(N, 7)) {
        const userName = userNameOf(i)
        // Entra first looks the user up by its matching attribute, then creates it.
        const found = await findByUserName(scim, userName)
        if (found.totalResults !== 0) throw new Error(`${userName} found before it was created`)
        const department = departmentOf[i]
        const created = await createUser(scim, {
          schemas: [CORE_USER, ENTERPRISE],
          externalId: randomUUID(),
          userName,
          active: true,
          displayName: `Given${i} Family${i}`,
          emails: [{ primary: true, type: 'work', value: userName }],
          meta: { resourceType: 'User' },
          name: { formatted: `Given${i} Family${i}`, familyName: `Family${i}`, givenName: `Given${i}` },
          title: i <= DEPARTMENTS.length ? 'Head' : 'Staff',
          [ENTERPRISE]: {
            employeeNumber: `E${1000 + i}`,
            ...(department === null ? {} : { department }),
          },
        })
        scimIds.set(i, created.id)
        personIds.set(i, created[ORGSYNC].personId)
        // The reference round trip: the manager link goes in a PATCH once both users exist.
        const manager = managerOf[i]
        if (manager !== null && manager !== undefined) {
          if (scimIds.has(manager)) await setManager(i, manager)
          else waiting.set(manager, [...(waiting.get(manager) ?? []), i])
        }
        for (const report of waiting.get(i) ?? []) {
          await setManager(report, i)
          lateLinked.push(report)
        }
        waiting.delete(i)
      }
      if (waiting.size > 0) throw new Error(`managers never pushed: ${[...waiting.keys()].join(', ')}`)
    }, 120_000)

    test('every user was pushed, and many reports before their manager', async () => {
      expect(scimIds.size).toBe(N)
      expect(new Set(personIds.values()).size).toBe(N)
      // The shuffle puts a good share of reports ahead of their managers: the case under test.
      expect(lateLinked.length).toBeGreaterThan(20)
      const res = expectStatus(await scim.request('GET', `/Users${query({ count: '1' })}`), 200)
      expect(res.body.totalResults).toBe(N)
    })

    test('GET /api/v1/departments shows the tree: names, parents, depths and head counts', async () => {
      const res = await app.api('GET', '/api/v1/departments?limit=1000')
      expect(res.status).toBe(200)
      const { items } = (await res.json()) as { items: DepartmentView[] }
      const ours = items.filter((d) => ROOTS.some((r) => d.path === r || d.path.startsWith(`${r}/`)))
      expect(ours.map((d) => d.path).sort()).toEqual([...DEPARTMENTS].sort())
      const byPath = new Map(ours.map((d) => [d.path, d]))
      for (const path of DEPARTMENTS) {
        const d = byPath.get(path)!
        const parent = parentPath(path)
        const expected = departmentOf.filter((p) => p === path).length
        expect(d).toMatchObject({
          path,
          name: path.split('/').at(-1),
          parentId: parent === null ? null : byPath.get(parent)!.id,
          depth: path.split('/').length - 1,
          virtual: false,
          sourceId: scim.sourceId,
          memberCount: expected,
        })
      }
    })

    /** What the org should say of user i: department path and manager (by person id and user name). */
    const expectedOf = (i: number) => {
      const manager = managerOf[i]
      return {
        userName: userNameOf(i),
        status: 'active',
        department: departmentOf[i] ?? null,
        managerId: manager === null || manager === undefined ? null : personIds.get(manager)!,
        manager: manager === null || manager === undefined ? null : userNameOf(manager),
      }
    }

    test('GET /api/v1/people/{id} shows the department and reporting line (heads, late-linked reports)', async () => {
      const departments = (await (await app.api('GET', '/api/v1/departments?limit=1000')).json()) as {
        items: DepartmentView[]
      }
      const idOf = new Map(departments.items.map((d) => [d.path, d.id]))
      const sample = [...new Set([...Array(DEPARTMENTS.length + 1).keys(), ...lateLinked])]
      const mismatches: string[] = []
      for (let k = 0; k < sample.length; k += 10) {
        const batch = sample.slice(k, k + 10)
        const people = await Promise.all(batch.map((i) => personOf(personIds.get(i)!)))
        people.forEach((person, n) => {
          const i = batch[n]!
          const expected = {
            ...expectedOf(i),
            employeeNumber: `E${1000 + i}`,
            departmentId: departmentOf[i] ? idOf.get(departmentOf[i]!) : null,
          }
          const actual = {
            userName: person.userName,
            status: person.status,
            department: person.department?.path ?? null,
            managerId: person.managerId,
            manager: person.manager?.userName ?? null,
            employeeNumber: person.employeeNumber,
            departmentId: person.departmentId,
          }
          if (JSON.stringify(actual) !== JSON.stringify(expected))
            mismatches.push(`user ${i}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`)
        })
      }
      expect(mismatches).toEqual([])
    })

    test('GET /api/v1/people lists all 200 with their department and manager', async () => {
      const byId = new Map<
        string,
        { userName: string; status: string; department: { path: string } | null; managerId: string | null }
      >()
      let cursor: string | null = null
      do {
        const res = await app.api(
          'GET',
          `/api/v1/people?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        )
        expect(res.status).toBe(200)
        const page = (await res.json()) as {
          items: {
            id: string
            userName: string
            status: string
            department: { path: string } | null
            managerId: string | null
          }[]
          nextCursor: string | null
        }
        for (const p of page.items) byId.set(p.id, p)
        cursor = page.nextCursor
      } while (cursor)
      const mismatches: string[] = []
      for (let i = 0; i < N; i++) {
        const p = byId.get(personIds.get(i)!)
        const { manager: _manager, ...expected } = expectedOf(i)
        const actual = p && {
          userName: p.userName,
          status: p.status,
          department: p.department?.path ?? null,
          managerId: p.managerId,
        }
        if (JSON.stringify(actual) !== JSON.stringify(expected))
          mismatches.push(`user ${i}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`)
      }
      expect(mismatches).toEqual([])
    })

    test('the people listing of a department subtree holds exactly its people', async () => {
      const departments = (await (await app.api('GET', '/api/v1/departments?limit=1000')).json()) as {
        items: DepartmentView[]
      }
      const engineering = departments.items.find((d) => d.path === 'Engineering')!
      const res = await app.api('GET', `/api/v1/people?departmentId=${engineering.id}&limit=1000`)
      expect(res.status).toBe(200)
      const { items } = (await res.json()) as { items: { id: string; managerId: string | null }[] }
      const expected = [...Array(N).keys()]
        .filter((i) => departmentOf[i]?.split('/')[0] === 'Engineering')
        .map((i) => personIds.get(i)!)
      expect(items.map((p) => p.id).sort()).toEqual(expected.sort())
    })

    test('a report pushed before its manager carries the manager reference in SCIM too', async () => {
      expect(lateLinked.length).toBeGreaterThan(0)
      for (const report of lateLinked.slice(0, 5)) {
        const res = expectStatus(await scim.request('GET', `/Users/${scimIds.get(report)}`), 200)
        expect(res.body[ENTERPRISE]).toMatchObject({
          manager: expect.objectContaining({ value: scimIds.get(managerOf[report]!) }),
          department: departmentOf[report],
        })
      }
    })
  })
})
