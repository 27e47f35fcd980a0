import { randomUUID } from 'node:crypto'
import { describeEachDatabase } from '../helpers/test-database'
import { startTestApp, type TestApp } from '../helpers/test-app'
import {
  CORE_GROUP,
  CORE_USER,
  ERROR,
  LIST_RESPONSE,
  PATCH_OP,
  createScimSource,
  scimClient,
  type ScimClient,
  type ScimResponse,
} from '../helpers/scim-client'

/**
 * Okta against a running orgsync: the "Okta SCIM 2.0 SPEC Test" suite (the Runscope test Okta gives
 * integrators: paging with count=1&startIndex=1, a random user name, an unknown id, the duplicate
 * create, the upper-cased user name) and the requests of Okta's "SCIM 2.0 Protocol Reference"
 * (create with password and groups, PUT updates, deactivation by PATCH and by PUT, group push with
 * renames, membership PATCHes, full-list replace and PUT).
 */

const ORGSYNC = 'urn:orgsync:scim:schemas:extension:2.0:User'

type Json = ScimResponse['body']

/** What Okta's test suite sends on every read. */
const OKTA_HEADERS = {
  'accept-charset': 'utf-8',
  accept: 'application/scim+json',
  'user-agent': 'OKTA SCIM Integration',
}
/** Okta's creates go as plain JSON. */
const OKTA_JSON = { 'content-type': 'application/json', accept: 'application/scim+json; charset=utf-8' }

interface PersonView {
  id: string
  userName: string
  displayName: string | null
  givenName: string | null
  familyName: string | null
  email: string | null
  status: 'active' | 'suspended' | 'deprovisioned'
  suspendedReason: string | null
  suspendedBySourceId: string | null
  removeAfter: string | null
}

const query = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`

function expectStatus(res: ScimResponse, status: number): ScimResponse {
  if (res.status !== status)
    throw new Error(`expected HTTP ${status}, got ${res.status}: ${res.text || '(empty body)'}`)
  return res
}

function expectScimError(res: ScimResponse, status: number): void {
  expectStatus(res, status)
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/)
  expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status), detail: expect.any(String) })
  expect(res.body.detail).not.toBe('')
}

const patch = (...operations: Record<string, unknown>[]) => ({ schemas: [PATCH_OP], Operations: operations })

/** Okta's Create User body (SCIM 2.0 Protocol Reference), with this test's values. */
function oktaUser(tag: string, given = 'Test', family = 'User'): Record<string, unknown> {
  return {
    schemas: [CORE_USER],
    userName: `${given.toLowerCase()}.${family.toLowerCase()}.${tag}@okta.local`,
    name: { givenName: given, familyName: family },
    emails: [
      {
        primary: true,
        value: `${given.toLowerCase()}.${family.toLowerCase()}.${tag}@okta.local`,
        type: 'work',
      },
    ],
    displayName: `${given} ${family}`,
    locale: 'en-US',
    externalId: `00u${tag.replace(/-/g, '').slice(0, 17)}`,
    groups: [],
    password: '1mz050nq',
    active: true,
  }
}

describeEachDatabase('SCIM: Okta provisioning', (db) => {
  let app: TestApp
  let scim: ScimClient
  beforeAll(async () => {
    app = await startTestApp(db())
    scim = await createScimSource(app, { name: 'Okta' })
  }, 60_000)
  afterAll(() => app?.close())

  async function personOf(personId: string): Promise<PersonView> {
    const res = await app.api('GET', `/api/v1/people/${personId}`)
    const text = await res.text()
    if (res.status !== 200) throw new Error(`GET /api/v1/people/${personId}: ${res.status} ${text}`)
    return JSON.parse(text) as PersonView
  }

  const get = (path: string) => scim.request('GET', path, undefined, OKTA_HEADERS)
  const byUserName = async (userName: string): Promise<Json> =>
    expectStatus(await get(`/Users${query({ filter: `userName eq "${userName}"` })}`), 200).body

  describe('users: the Okta SCIM 2.0 SPEC test and the protocol reference', () => {
    let first: Json
    let second: Json
    const secondTag = randomUUID()
    const realistic = {
      schemas: [CORE_USER],
      userName: `Runscope.${secondTag}@Example.com`,
      name: { givenName: 'Runscope', familyName: 'Tester' },
      emails: [{ primary: true, value: `runscope.${secondTag}@example.com`, type: 'work' }],
      displayName: 'Runscope Tester',
      active: true,
    }
    const users = () => {
      if (!first || !second) throw new Error('creating the users failed: nothing to go on with')
      return { first, second }
    }

    test('Create User as the protocol reference sends it: 201, the user, never the password', async () => {
      const body = oktaUser(randomUUID())
      const res = expectStatus(await scim.request('POST', '/Users', body, OKTA_JSON), 201)
      first = res.body
      expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/)
      expect(res.headers.get('location')).toBe(`${scim.base}/Users/${res.body.id}`)
      expect(res.body.schemas).toContain(CORE_USER)
      expect(res.body).toMatchObject({
        id: expect.any(String),
        userName: body.userName,
        name: body.name,
        emails: body.emails,
        displayName: body.displayName,
        locale: 'en-US',
        externalId: body.externalId,
        active: true,
        meta: { resourceType: 'User' },
      })
      // password is writeOnly, returned never (RFC 7643 §4.1.1).
      expect(res.body).not.toHaveProperty('password')
      expect(res.text).not.toContain('1mz050nq')
      const read = expectStatus(await get(`/Users/${res.body.id}`), 200)
      expect(read.body).not.toHaveProperty('password')
      expect(read.text).not.toContain('1mz050nq')

      expect(await personOf(res.body[ORGSYNC].personId)).toMatchObject({
        userName: body.userName,
        displayName: 'Test User',
        givenName: 'Test',
        familyName: 'User',
        email: body.userName,
        status: 'active',
      })
    })

    test('Required Test: Create Okta user with realistic values', async () => {
      const res = expectStatus(await scim.request('POST', '/Users', realistic, OKTA_JSON), 201)
      second = res.body
      expect(res.body).toMatchObject({
        active: true,
        id: expect.any(String),
        name: { familyName: 'Tester', givenName: 'Runscope' },
        userName: realistic.userName,
      })
      expect(res.body.schemas).toContain(CORE_USER)
    })

    test('Required Test: Verify that user was created', async () => {
      const res = expectStatus(await get(`/Users/${users().second.id}`), 200)
      expect(res.body).toMatchObject({
        id: second.id,
        userName: realistic.userName,
        name: { familyName: 'Tester', givenName: 'Runscope' },
      })
    })

    test('Required Test: Test Users endpoint, count=1&startIndex=1', async () => {
      users()
      const res = expectStatus(await get(`/Users?count=1&startIndex=1`), 200)
      expect(res.body.schemas).toContain(LIST_RESPONSE)
      // Integers, not strings.
      expect(res.body).toMatchObject({ itemsPerPage: 1, startIndex: 1 })
      expect(typeof res.body.totalResults).toBe('number')
      expect(res.body.totalResults).toBeGreaterThanOrEqual(2)
      expect(res.body.Resources).toHaveLength(1)
      const [one] = res.body.Resources
      expect(one.id).toEqual(expect.any(String))
      expect(one.name.familyName).toEqual(expect.any(String))
      expect(one.name.givenName).toEqual(expect.any(String))
      expect(one.userName).toEqual(expect.any(String))
      expect(typeof one.active).toBe('boolean')
      expect(one.emails[0].value).toEqual(expect.any(String))

      // Pages keep one order whatever their size: page by page is the full list, in order.
      const all = expectStatus(await get(`/Users?startIndex=1&count=100`), 200).body
      expect(all.totalResults).toBe(res.body.totalResults)
      const pages: string[] = []
      for (let i = 1; i <= all.totalResults; i++) {
        const page = expectStatus(await get(`/Users?count=1&startIndex=${i}`), 200).body
        expect(page).toMatchObject({ startIndex: i, itemsPerPage: 1, totalResults: all.totalResults })
        pages.push(page.Resources[0].id)
      }
      expect(pages).toEqual(all.Resources.map((r: Json) => r.id))
      expect(pages).toEqual(expect.arrayContaining([first.id, second.id]))
      // Past the end: an empty page, still counting everything.
      const past = expectStatus(await get(`/Users?count=1&startIndex=${all.totalResults + 1}`), 200).body
      expect(past).toMatchObject({ totalResults: all.totalResults, itemsPerPage: 0 })
      expect(past.Resources ?? []).toEqual([])
    })

    test('Required Test: Get Users/{id}', async () => {
      const res = expectStatus(await get(`/Users/${users().first.id}`), 200)
      expect(res.body).toEqual(first)
    })

    test('Required Test: Test invalid User by username / make sure random user doesn’t exist', async () => {
      for (const userName of [`${randomUUID()}@example.com`, `invalid-${randomUUID()}`]) {
        const res = await byUserName(userName)
        expect(res.schemas).toContain(LIST_RESPONSE)
        expect(res.totalResults).toBe(0)
      }
    })

    test('Required Test: Test invalid User by ID: 404 with the Error URN, status "404" and a detail', async () => {
      expectScimError(await get(`/Users/${randomUUID()}`), 404)
      // Not even a uuid: still a 404, not a 400 or 500.
      expectScimError(await get(`/Users/010101001010101`), 404)
    })

    test('Required Test: Expect failure when recreating user with same values: 409 uniqueness', async () => {
      users()
      const again = await scim.request(
        'POST',
        '/Users',
        { ...realistic, emails: [{ primary: true, value: realistic.userName, type: 'work' }] },
        OKTA_JSON,
      )
      expectScimError(again, 409)
      expect(again.body.scimType).toBe('uniqueness')
      // The user name in another case is the same user name.
      for (const userName of [realistic.userName.toUpperCase(), realistic.userName.toLowerCase()]) {
        const res = await scim.request('POST', '/Users', { ...realistic, userName }, OKTA_JSON)
        expectScimError(res, 409)
        expect(res.body.scimType).toBe('uniqueness')
      }
      // Nothing of the refused creates stayed behind: one user, one person.
      expect((await byUserName(realistic.userName)).totalResults).toBe(1)
      const people = await app.api('GET', `/api/v1/people${query({ q: secondTag, limit: '100' })}`)
      expect(people.status).toBe(200)
      expect(((await people.json()) as { items: unknown[] }).items).toHaveLength(1)
    })

    test('Required Test: Username Case Sensitivity Check', async () => {
      users()
      for (const userName of [realistic.userName.toUpperCase(), realistic.userName.toLowerCase()]) {
        const res = await byUserName(userName)
        expect(res.totalResults).toBe(1)
        expect(res.Resources.map((r: Json) => r.id)).toEqual([second.id])
      }
    })

    test('a bad token is a 401 with a SCIM error, as is a revoked one and none at all', async () => {
      const bad = scimClient(app.url, scim.sourceId, scim.tokenId, 'not-a-real-token')
      const res = await bad.request('GET', '/Users?count=1&startIndex=1', undefined, OKTA_HEADERS)
      expectScimError(res, 401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect(res.text).not.toContain(users().first.id)

      const minted = await app.api('POST', `/api/v1/sources/${scim.sourceId}/scim-tokens`, {})
      expect(minted.status).toBe(201)
      const { id: tokenId, token } = (await minted.json()) as { id: string; token: string }
      const revokable = scimClient(app.url, scim.sourceId, tokenId, token)
      expectStatus(await revokable.request('GET', '/Users?count=1'), 200)
      expect(
        (await app.api('DELETE', `/api/v1/sources/${scim.sourceId}/scim-tokens/${tokenId}`)).status,
      ).toBe(204)
      expectScimError(await revokable.request('GET', '/Users?count=1'), 401)

      const none = await fetch(`${scim.base}/Users?count=1`, { headers: { accept: 'application/scim+json' } })
      expect(none.status).toBe(401)
    })

    test('deactivate with PATCH replace {active: false}; activate with {active: true}', async () => {
      const { first: user } = users()
      const res = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user.id}`,
          patch({ op: 'replace', value: { active: false } }),
          OKTA_HEADERS,
        ),
        200,
      )
      expect(res.body).toMatchObject({ id: user.id, userName: user.userName, active: false })
      expect(await personOf(user[ORGSYNC].personId)).toMatchObject({
        status: 'suspended',
        suspendedReason: expect.stringMatching(/disabled/i),
        suspendedBySourceId: scim.sourceId,
        removeAfter: null,
      })
      // Okta's import still sees the deactivated user.
      expect((await byUserName(user.userName)).Resources[0]).toMatchObject({ id: user.id, active: false })

      const back = expectStatus(
        await scim.request(
          'PATCH',
          `/Users/${user.id}`,
          patch({ op: 'replace', value: { active: true } }),
          OKTA_HEADERS,
        ),
        200,
      )
      expect(back.body.active).toBe(true)
      expect(await personOf(user[ORGSYNC].personId)).toMatchObject({
        status: 'active',
        suspendedReason: null,
        suspendedBySourceId: null,
      })
    })

    test('update with PUT: the whole user as Okta holds it, attributes changed', async () => {
      const { first: user } = users()
      const current = expectStatus(await get(`/Users/${user.id}`), 200)
      const res = expectStatus(
        await scim.request(
          'PUT',
          `/Users/${user.id}`,
          {
            schemas: [CORE_USER],
            id: user.id,
            userName: user.userName,
            name: { givenName: 'Another', middleName: 'Excited', familyName: 'User' },
            emails: [{ primary: true, value: user.userName, type: 'work', display: user.userName }],
            active: true,
            groups: [],
            meta: { resourceType: 'User' },
          },
          OKTA_HEADERS,
        ),
        200,
      )
      expect(res.body).toMatchObject({
        id: user.id,
        userName: user.userName,
        name: { givenName: 'Another', middleName: 'Excited', familyName: 'User' },
        active: true,
      })
      expect(res.headers.get('etag')).toBe(res.body.meta.version)
      expect(res.body.meta.version).not.toBe(current.body.meta.version)
      expect(expectStatus(await get(`/Users/${user.id}`), 200).body).toEqual(res.body)
      expect(await personOf(user[ORGSYNC].personId)).toMatchObject({
        givenName: 'Another',
        familyName: 'User',
        status: 'active',
      })
    })

    test('deactivate with PUT active:false (custom app integrations); reactivate with PUT active:true', async () => {
      const { second: user } = users()
      const put = (active: boolean) =>
        scim.request(
          'PUT',
          `/Users/${user.id}`,
          {
            schemas: [CORE_USER],
            id: user.id,
            userName: realistic.userName,
            name: realistic.name,
            emails: realistic.emails,
            displayName: realistic.displayName,
            active,
            groups: [],
            meta: { resourceType: 'User' },
          },
          OKTA_HEADERS,
        )
      const off = expectStatus(await put(false), 200)
      expect(off.body).toMatchObject({ id: user.id, active: false })
      expect(await personOf(user[ORGSYNC].personId)).toMatchObject({
        status: 'suspended',
        suspendedBySourceId: scim.sourceId,
        removeAfter: null,
      })
      const on = expectStatus(await put(true), 200)
      expect(on.body.active).toBe(true)
      expect(await personOf(user[ORGSYNC].personId)).toMatchObject({
        status: 'active',
        suspendedReason: null,
        removeAfter: null,
      })
    })
  })

  describe('groups: push, rename, membership', () => {
    const members: Json[] = []
    let group: Json
    const groupId = (): string => {
      if (!group) throw new Error('pushing the group failed: nothing to go on with')
      return group.id
    }
    const memberIds = async (): Promise<string[]> => {
      const res = expectStatus(await get(`/Groups/${groupId()}`), 200)
      return ((res.body.members ?? []) as Json[]).map((m) => m.value).sort()
    }
    const sorted = (...ids: string[]) => [...ids].sort()
    const displayName = `Test SCIMv2 ${randomUUID()}`

    beforeAll(async () => {
      for (const given of ['Ada', 'Grace', 'Linus']) {
        const res = await scim.request('POST', '/Users', oktaUser(randomUUID(), given, 'Member'), OKTA_JSON)
        members.push(expectStatus(res, 201).body)
      }
    })

    test('Create Groups: POST with an empty member list, 201 with the group', async () => {
      const res = expectStatus(
        await scim.request('POST', '/Groups', { schemas: [CORE_GROUP], displayName, members: [] }, OKTA_JSON),
        201,
      )
      group = res.body
      expect(res.body).toMatchObject({
        schemas: [CORE_GROUP],
        id: expect.any(String),
        displayName,
        members: [],
        meta: { resourceType: 'Group' },
      })
      const read = expectStatus(await get(`/Groups/${res.body.id}`), 200)
      expect(read.body).toEqual(res.body)
    })

    test('Update a specific Group name: PATCH replace {id, displayName}', async () => {
      const name = `Test SCIMv20 ${randomUUID()}`
      const res = await scim.request(
        'PATCH',
        `/Groups/${groupId()}`,
        patch({ op: 'replace', value: { id: groupId(), displayName: name } }),
        OKTA_HEADERS,
      )
      if (res.status !== 200) expectStatus(res, 204)
      const read = expectStatus(await get(`/Groups/${groupId()}`), 200)
      expect(read.body).toMatchObject({ id: groupId(), displayName: name })
      group = read.body
    })

    test('Update specific Group membership: add, then remove by path and add in one PATCH', async () => {
      const [ada, grace, linus] = members
      const add = await scim.request(
        'PATCH',
        `/Groups/${groupId()}`,
        patch({
          op: 'add',
          path: 'members',
          value: [
            { value: ada.id, display: ada.userName },
            { value: grace.id, display: grace.userName },
          ],
        }),
        OKTA_HEADERS,
      )
      if (add.status !== 200) expectStatus(add, 204)
      expect(await memberIds()).toEqual(sorted(ada.id, grace.id))

      // The protocol reference's membership update, verbatim in shape.
      const res = await scim.request(
        'PATCH',
        `/Groups/${groupId()}`,
        patch(
          { op: 'remove', path: `members[value eq "${ada.id}"]` },
          { op: 'add', path: 'members', value: [{ value: linus.id, display: linus.userName }] },
        ),
        OKTA_HEADERS,
      )
      if (res.status !== 200) expectStatus(res, 204)
      expect(await memberIds()).toEqual(sorted(grace.id, linus.id))
      const read = expectStatus(await get(`/Groups/${groupId()}`), 200)
      expect(read.body.displayName).toBe(group.displayName)
    })

    test('a full push of the membership: PATCH replace members', async () => {
      const [ada, grace] = members
      const res = await scim.request(
        'PATCH',
        `/Groups/${groupId()}`,
        patch({
          op: 'replace',
          path: 'members',
          value: [
            { value: ada.id, display: ada.userName },
            { value: grace.id, display: grace.userName },
          ],
        }),
        OKTA_HEADERS,
      )
      if (res.status !== 200) expectStatus(res, 204)
      expect(await memberIds()).toEqual(sorted(ada.id, grace.id))
    })

    test('PUT the group with its full member list (custom app integrations)', async () => {
      const [, grace, linus] = members
      const res = expectStatus(
        await scim.request(
          'PUT',
          `/Groups/${groupId()}`,
          {
            schemas: [CORE_GROUP],
            id: groupId(),
            displayName: group.displayName,
            members: [
              { value: grace.id, display: grace.userName },
              { value: linus.id, display: linus.userName },
            ],
          },
          OKTA_HEADERS,
        ),
        200,
      )
      expect(res.body).toMatchObject({ id: groupId(), displayName: group.displayName })
      expect(((res.body.members ?? []) as Json[]).map((m) => m.value).sort()).toEqual(
        sorted(grace.id, linus.id),
      )
      expect(await memberIds()).toEqual(sorted(grace.id, linus.id))

      // An empty list empties the group.
      expectStatus(
        await scim.request(
          'PUT',
          `/Groups/${groupId()}`,
          { schemas: [CORE_GROUP], id: groupId(), displayName: group.displayName, members: [] },
          OKTA_HEADERS,
        ),
        200,
      )
      expect(await memberIds()).toEqual([])
    })

    test('Retrieve Groups: startIndex=1&count=100 lists the group', async () => {
      const res = expectStatus(await get('/Groups?startIndex=1&count=100'), 200)
      expect(res.body).toMatchObject({ schemas: [LIST_RESPONSE], startIndex: 1 })
      expect(res.body.Resources.map((g: Json) => g.id)).toContain(groupId())
      expect(res.body.itemsPerPage).toBe(res.body.Resources.length)
    })

    test('Delete a specific Group: 204, then 404', async () => {
      const res = expectStatus(
        await scim.request('DELETE', `/Groups/${groupId()}`, undefined, OKTA_HEADERS),
        204,
      )
      expect(res.text).toBe('')
      expectScimError(await get(`/Groups/${groupId()}`), 404)
      // The members are still users, and still active people.
      for (const m of members) {
        expectStatus(await get(`/Users/${m.id}`), 200)
        expect((await personOf(m[ORGSYNC].personId)).status).toBe('active')
      }
    })
  })

  test('Okta never deletes users: a user deactivated by Okta keeps no removal date', async () => {
    const res = await scim.request('POST', '/Users', oktaUser(randomUUID(), 'Leaver', 'Person'), OKTA_JSON)
    const user = expectStatus(res, 201).body
    expectStatus(
      await scim.request('PATCH', `/Users/${user.id}`, patch({ op: 'replace', value: { active: false } })),
      200,
    )
    const person = await personOf(user[ORGSYNC].personId)
    expect(person.status).toBe('suspended')
    // Suspended, not scheduled for removal: only a delete (which Okta never sends) starts the grace period.
    expect(person.removeAfter).toBeNull()
  })
})
