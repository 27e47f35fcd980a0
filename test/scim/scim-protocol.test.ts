import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'
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
} from '../helpers/scim-client'

const user = (userName: string, extra: Record<string, unknown> = {}) => ({
  schemas: [CORE_USER],
  userName,
  name: { givenName: userName.split('@')[0], familyName: 'Tester' },
  emails: [{ value: userName, type: 'work', primary: true }],
  active: true,
  ...extra,
})

describeEachDatabase('SCIM protocol', (db) => {
  let app: TestApp
  let scim: ScimClient

  beforeAll(async () => {
    app = await startTestApp(db())
    scim = await createScimSource(app, { name: 'protocol-idp' })
  })
  afterAll(async () => {
    await app?.close()
  })

  describe('tokens', () => {
    test('a token works until revoked; several live tokens allow rotation; secrets are never listed', async () => {
      const second = await app.api('POST', `/api/v1/sources/${scim.sourceId}/scim-tokens`, {
        name: 'rotation',
      })
      expect(second.status).toBe(201)
      const { id, token } = (await second.json()) as { id: string; token: string }
      expect(token).toMatch(/^oss_/)
      const rotated = scimClient(app.url, scim.sourceId, id, token)
      expect((await rotated.request('GET', '/Users?count=0')).status).toBe(200)
      expect((await scim.request('GET', '/Users?count=0')).status).toBe(200)

      const listed = await app.api('GET', `/api/v1/sources/${scim.sourceId}/scim-tokens`)
      const text = await listed.text()
      expect(text).not.toContain(token)
      expect(JSON.parse(text).items.map((t: { id: string }) => t.id)).toEqual(
        expect.arrayContaining([scim.tokenId, id]),
      )

      expect((await app.api('DELETE', `/api/v1/sources/${scim.sourceId}/scim-tokens/${id}`)).status).toBe(204)
      const denied = await rotated.request('GET', '/Users')
      expect(denied.status).toBe(401)
      expect(denied.body).toMatchObject({ schemas: [ERROR], status: '401' })
      expect(denied.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect((await scim.request('GET', '/Users?count=0')).status).toBe(200)
    })

    test('tokens only for scim sources; an admin token is not a SCIM token', async () => {
      const csv = await app.api('POST', '/api/v1/sources', { type: 'csv', name: 'hr-csv-for-tokens' })
      const { id } = (await csv.json()) as { id: string }
      expect((await app.api('POST', `/api/v1/sources/${id}/scim-tokens`, {})).status).toBe(409)
      const asAdmin = scimClient(app.url, scim.sourceId, 'x', app.token)
      expect((await asAdmin.request('GET', '/Users')).status).toBe(401)
      const none = await fetch(`${scim.base}/Users`)
      expect(none.status).toBe(401)
      expect(none.headers.get('content-type')).toMatch(/application\/scim\+json/)
    })
  })

  describe('resources, ETags and paging', () => {
    test('POST → 201 with Location, ETag = meta.version; If-None-Match → 304; stale If-Match → 412', async () => {
      const created = await scim.request('POST', '/Users', user('etag@corp.example'))
      expect(created.status).toBe(201)
      expect(created.headers.get('content-type')).toMatch(/^application\/scim\+json/)
      const { id, meta } = created.body
      expect(created.headers.get('location')).toBe(`${scim.base}/Users/${id}`)
      expect(created.headers.get('etag')).toBe(meta.version)
      expect(meta).toMatchObject({ resourceType: 'User', location: `${scim.base}/Users/${id}` })

      const cached = await scim.request('GET', `/Users/${id}`, undefined, { 'if-none-match': meta.version })
      expect(cached.status).toBe(304)

      const replaced = await scim.request(
        'PUT',
        `/Users/${id}`,
        user('etag@corp.example', { title: 'Engineer' }),
        {
          'if-match': meta.version,
        },
      )
      expect(replaced.status).toBe(200)
      expect(replaced.body.meta.version).not.toBe(meta.version)

      const stale = await scim.request(
        'PATCH',
        `/Users/${id}`,
        { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Manager' }] },
        { 'if-match': meta.version },
      )
      expect(stale.status).toBe(412)
      expect(stale.body).toMatchObject({ schemas: [ERROR], status: '412' })
      expect((await scim.request('GET', `/Users/${id}`)).body.title).toBe('Engineer')

      const fresh = await scim.request('GET', `/Users/${id}`, undefined, { 'if-none-match': meta.version })
      expect(fresh.status).toBe(200)
      expect(
        (await scim.request('DELETE', `/Users/${id}`, undefined, { 'if-match': meta.version })).status,
      ).toBe(412)
    })

    test('paging, sorting and counts run in SQL with exact totals', async () => {
      const paging = await createScimSource(app, { name: 'paging-idp' })
      const names = ['delta', 'alpha', 'echo', 'charlie', 'bravo'].map((n) => `${n}@paging.example`)
      for (const n of names) expect((await paging.request('POST', '/Users', user(n))).status).toBe(201)

      const page = await paging.request('GET', '/Users?sortBy=userName&startIndex=2&count=2')
      expect(page.body).toMatchObject({
        schemas: [LIST_RESPONSE],
        totalResults: 5,
        startIndex: 2,
        itemsPerPage: 2,
      })
      expect(page.body.Resources.map((r: { userName: string }) => r.userName)).toEqual([
        'bravo@paging.example',
        'charlie@paging.example',
      ])
      const desc = await paging.request('GET', '/Users?sortBy=userName&sortOrder=descending&count=1')
      expect(desc.body.Resources[0].userName).toBe('echo@paging.example')

      const past = await paging.request('GET', '/Users?startIndex=99')
      expect(past.body).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] })
      const zero = await paging.request('GET', '/Users?count=0')
      expect(zero.body).toMatchObject({ totalResults: 5, itemsPerPage: 0 })
      expect(zero.body.Resources ?? []).toEqual([])
      const big = await paging.request('GET', '/Users?count=100000')
      expect(big.body.itemsPerPage).toBe(5)

      const config = await paging.request('GET', '/ServiceProviderConfig')
      expect(config.body.filter).toEqual({ supported: true, maxResults: 1000 })
      expect(config.body.etag).toEqual({ supported: true })

      expect((await paging.request('GET', '/Users?sortBy=nickName')).body.scimType).toBe('invalidValue')
      expect((await paging.request('GET', '/Users?count=abc')).status).toBe(400)
      // Another source's users are not this source's.
      const other = await scim.request('GET', '/Users?filter=userName eq "alpha@paging.example"')
      expect(other.body.totalResults).toBe(0)
    })

    test('attributes and excludedAttributes', async () => {
      const created = await scim.request('POST', '/Users', user('proj@corp.example', { title: 'Lead' }))
      const only = await scim.request('GET', `/Users/${created.body.id}?attributes=userName,name.givenName`)
      expect(Object.keys(only.body).sort()).toEqual(['id', 'name', 'schemas', 'userName'])
      expect(only.body.name).toEqual({ givenName: 'proj' })
      const without = await scim.request('GET', `/Users/${created.body.id}?excludedAttributes=emails,title`)
      expect(without.body.emails).toBeUndefined()
      expect(without.body.title).toBeUndefined()
      expect(without.body.userName).toBe('proj@corp.example')

      const group = await scim.request('POST', '/Groups', {
        schemas: [CORE_GROUP],
        displayName: 'Projection',
        members: [{ value: created.body.id }],
      })
      expect(group.status).toBe(201)
      expect(group.body.members).toEqual([expect.objectContaining({ value: created.body.id })])
      const slim = await scim.request('GET', `/Groups/${group.body.id}?excludedAttributes=members`)
      expect(slim.body.members).toBeUndefined()
      expect(slim.body.displayName).toBe('Projection')
      const byMember = await scim.request(
        'GET',
        `/Groups?filter=${encodeURIComponent(`members[value eq "${created.body.id}"]`)}&excludedAttributes=members`,
      )
      expect(byMember.body.Resources.map((g: { id: string }) => g.id)).toEqual([group.body.id])
    })

    test('POST .search at the root spans users and groups; per type too', async () => {
      const s = await createScimSource(app, { name: 'search-idp' })
      const u = await s.request('POST', '/Users', user('searcher@corp.example'))
      await s.request('POST', '/Groups', { schemas: [CORE_GROUP], displayName: 'Searchers' })
      const search = { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'] }
      const all = await s.request('POST', '/.search', { ...search, count: 10 })
      expect(all.body.totalResults).toBe(2)
      expect(all.body.Resources.map((r: { meta: { resourceType: string } }) => r.meta.resourceType)).toEqual([
        'User',
        'Group',
      ])
      const second = await s.request('POST', '/.search', { ...search, startIndex: 2, count: 1 })
      expect(second.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual(['Searchers'])
      const users = await s.request('POST', '/Users/.search', {
        ...search,
        filter: 'userName sw "SEARCH"',
        attributes: ['userName'],
      })
      expect(users.body.Resources).toEqual([
        { schemas: expect.any(Array), id: u.body.id, userName: 'searcher@corp.example' },
      ])
      const bad = await s.request('POST', '/Users/.search', { ...search, filter: 'userName eq' })
      expect(bad.body).toMatchObject({ status: '400', scimType: 'invalidFilter' })
    })

    test('discovery: ResourceTypes and Schemas', async () => {
      const types = await scim.request('GET', '/ResourceTypes')
      expect(types.body.Resources.map((r: { id: string }) => r.id)).toEqual(['User', 'Group'])
      const schemas = await scim.request('GET', '/Schemas')
      const ids = schemas.body.Resources.map((s: { id: string }) => s.id)
      expect(ids).toEqual(expect.arrayContaining([CORE_USER, CORE_GROUP, ENTERPRISE]))
      const userSchema = await scim.request('GET', `/Schemas/${CORE_USER}`)
      const userName = userSchema.body.attributes.find((a: { name: string }) => a.name === 'userName')
      expect(userName).toMatchObject({ uniqueness: 'server', caseExact: false, required: true })
    })
  })

  describe('bad input changes nothing', () => {
    const count = async (client: ScimClient) =>
      (await client.request('GET', '/Users?count=0')).body.totalResults

    test.each([
      ['malformed JSON', '{"schemas": [', 'application/scim+json', 400, 'invalidSyntax'],
      ['a wrong content type', JSON.stringify(user('ct@corp.example')), 'text/plain', 415, undefined],
      [
        'unknown attribute',
        JSON.stringify(user('unk@corp.example', { shoeSize: 44 })),
        'application/scim+json',
        400,
        'invalidSyntax',
      ],
      [
        'wrong type',
        JSON.stringify(user('type@corp.example', { active: 17 })),
        'application/scim+json',
        400,
        'invalidValue',
      ],
      [
        'no userName',
        JSON.stringify({ schemas: [CORE_USER], displayName: 'x' }),
        'application/json',
        400,
        'invalidValue',
      ],
      [
        'a bad email',
        JSON.stringify(user('bad', { emails: [{ value: 'not an email' }] })),
        'application/json',
        400,
        'invalidValue',
      ],
    ])('%s → %d %s', async (_what, body, type, status, scimType) => {
      const before = await count(scim)
      const res = await scim.request('POST', '/Users', body, { 'content-type': type })
      expect(res.status).toBe(status)
      expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status) })
      if (scimType) expect(res.body.scimType).toBe(scimType)
      expect(await count(scim)).toBe(before)
    })

    test('an oversized body → 413, a Bulk beyond maxOperations → 413', async () => {
      const huge = JSON.stringify(user('huge@corp.example', { title: 'x'.repeat(9 * 1024 * 1024) }))
      const res = await scim.request('POST', '/Users', huge)
      expect(res.status).toBe(413)
      expect(res.body).toMatchObject({ schemas: [ERROR], status: '413' })
      const ops = Array.from({ length: 1001 }, (_, i) => ({
        method: 'POST',
        bulkId: `b${i}`,
        path: '/Users',
        data: user(`bulk${i}@corp.example`),
      }))
      const bulk = await scim.request('POST', '/Bulk', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        Operations: ops,
      })
      expect(bulk.status).toBe(413)
      // maxPayloadSize (1 MiB) is smaller than the limit of other requests.
      const config = (await scim.request('GET', '/ServiceProviderConfig')).body
      const heavy = await scim.request('POST', '/Bulk', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        Operations: [
          {
            method: 'POST',
            bulkId: 'heavy',
            path: '/Users',
            data: user('heavy@corp.example', { title: 'x'.repeat(config.bulk.maxPayloadSize) }),
          },
        ],
      })
      expect(heavy.status).toBe(413)
      expect(heavy.body).toMatchObject({ schemas: [ERROR], status: '413' })
    })

    test('the same user POSTed concurrently: exactly one 201, the others 409 uniqueness', async () => {
      const racers = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          scim.request('POST', '/Users', user(i % 2 ? 'RACE@corp.example' : 'race@corp.example')),
        ),
      )
      const statuses = racers.map((r) => r.status).sort()
      expect(statuses).toEqual([201, 409, 409, 409, 409, 409])
      for (const r of racers.filter((r) => r.status === 409)) expect(r.body.scimType).toBe('uniqueness')
      const found = await scim.request('GET', '/Users?filter=userName eq "Race@Corp.Example"')
      expect(found.body.totalResults).toBe(1)
    })

    test('a burst of creates (they share transactions) gives each request its own outcome, id and audit trail', async () => {
      await scim.request('POST', '/Users', user('burst-taken@corp.example'))
      const names = Array.from({ length: 24 }, (_, i) => `burst-${i}@corp.example`)
      // One of them clashes with an existing user: its 409 must not cost the others their 201.
      names[11] = 'BURST-TAKEN@corp.example'
      const answers = await Promise.all(
        names.map((n, i) => scim.request('POST', '/Users', user(n), { 'X-Request-Id': `burst-req-${i}` })),
      )
      answers.forEach((a, i) => expect([i, a.status]).toEqual([i, i === 11 ? 409 : 201]))
      const created = answers.filter((a) => a.status === 201)
      expect(new Set(created.map((a) => a.body.id)).size).toBe(23)
      for (const [i, a] of answers.entries()) {
        if (a.status !== 201) continue
        expect(a.body.userName).toBe(names[i])
        const read = await scim.request('GET', `/Users/${a.body.id}`)
        expect(read.body.userName).toBe(names[i])
      }
      // Each identity.create names the request that made it.
      const events = await db()
        .handle.db.selectFrom('audit_events')
        .select(['target_id', 'request_id'])
        .where('action', '=', 'identity.create')
        .where(
          'target_id',
          'in',
          created.map((a) => a.body.id as string),
        )
        .execute()
      const byTarget = new Map(events.map((e) => [e.target_id, e.request_id]))
      answers.forEach((a, i) => {
        if (a.status === 201) expect(byTarget.get(a.body.id)).toBe(`burst-req-${i}`)
      })
    })

    test('unknown ids → 404 SCIM errors, unknown endpoints too', async () => {
      for (const path of [
        '/Users/00000000-0000-4000-8000-000000000000',
        '/Users/not-a-uuid',
        '/Groups/nope',
        '/Nothing',
      ]) {
        const res = await scim.request('GET', path)
        expect(res.status).toBe(404)
        expect(res.body).toMatchObject({ schemas: [ERROR], status: '404' })
      }
    })
  })

  describe('groups and gone users', () => {
    test('a group write naming an unknown member changes nothing; If-Match guards group writes too', async () => {
      const g = await createScimSource(app, { name: 'groups-idp' })
      const a = await g.request('POST', '/Users', user('ga@corp.example'))
      const group = await g.request('POST', '/Groups', {
        schemas: [CORE_GROUP],
        displayName: 'Guarded',
        members: [{ value: a.body.id }],
      })
      const version = group.headers.get('etag')!
      const bad = await g.request('PATCH', `/Groups/${group.body.id}`, {
        schemas: [PATCH_OP],
        Operations: [
          { op: 'replace', path: 'displayName', value: 'Renamed' },
          { op: 'add', path: 'members', value: [{ value: '00000000-0000-4000-8000-000000000000' }] },
        ],
      })
      expect(bad.status).toBe(400)
      expect(bad.body.scimType).toBe('invalidValue')
      const after = await g.request('GET', `/Groups/${group.body.id}`)
      expect(after.body.displayName).toBe('Guarded')
      expect(after.headers.get('etag')).toBe(version)

      const renamed = await g.request(
        'PATCH',
        `/Groups/${group.body.id}`,
        { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Renamed' }] },
        { 'if-match': version },
      )
      expect(renamed.status).toBe(204)
      expect(renamed.headers.get('etag')).not.toBe(version)
      const stale = await g.request(
        'PATCH',
        `/Groups/${group.body.id}`,
        { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Again' }] },
        { 'if-match': version },
      )
      expect(stale.status).toBe(412)
      // Another source's token does not see this group at all.
      expect((await scim.request('GET', `/Groups/${group.body.id}`)).status).toBe(404)
    })

    test('a deleted user is gone for every verb; deleting twice is a 404', async () => {
      const u = await scim.request('POST', '/Users', user('gone@corp.example'))
      expect((await scim.request('DELETE', `/Users/${u.body.id}`)).status).toBe(204)
      expect((await scim.request('DELETE', `/Users/${u.body.id}`)).status).toBe(404)
      const patch = await scim.request('PATCH', `/Users/${u.body.id}`, {
        schemas: [PATCH_OP],
        Operations: [{ op: 'replace', path: 'title', value: 'x' }],
      })
      expect(patch.status).toBe(404)
      expect((await scim.request('PUT', `/Users/${u.body.id}`, user('gone@corp.example'))).status).toBe(404)
      // The user name is free again: the provider may create the user anew.
      const again = await scim.request('POST', '/Users', user('gone@corp.example'))
      expect(again.status).toBe(201)
      expect(again.body.id).not.toBe(u.body.id)
      // …and the person, suspended in their grace period, comes back with their history.
      const personId = u.body['urn:orgsync:scim:schemas:extension:2.0:User'].personId
      expect(again.body['urn:orgsync:scim:schemas:extension:2.0:User'].personId).toBe(personId)
      const p = (await (await app.api('GET', `/api/v1/people/${personId}`)).json()) as {
        status: string
        removeAfter: string | null
      }
      expect(p).toMatchObject({ status: 'active', removeAfter: null })
    })
  })

  describe('Bulk', () => {
    test('bulkId references, forward ones included; failOnErrors stops the rest', async () => {
      const b = await createScimSource(app, { name: 'bulk-idp' })
      const res = await b.request('POST', '/Bulk', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        Operations: [
          {
            method: 'POST',
            bulkId: 'g',
            path: '/Groups',
            data: {
              schemas: [CORE_GROUP],
              displayName: 'Bulk team',
              members: [{ value: 'bulkId:u1' }, { value: 'bulkId:u2' }],
            },
          },
          { method: 'POST', bulkId: 'u1', path: '/Users', data: user('b1@corp.example') },
          {
            method: 'POST',
            bulkId: 'u2',
            path: '/Users',
            data: user('b2@corp.example', {
              [ENTERPRISE]: { manager: { value: 'bulkId:u1' } },
              schemas: [CORE_USER, ENTERPRISE],
            }),
          },
          { method: 'DELETE', path: '/Users/00000000-0000-4000-8000-000000000000' },
        ],
      })
      expect(res.status).toBe(200)
      const byId = Object.fromEntries(
        res.body.Operations.map((o: { bulkId?: string; status: string }) => [o.bulkId ?? 'delete', o]),
      )
      expect(byId.u1.status).toBe('201')
      expect(byId.u2.status).toBe('201')
      expect(byId.g.status).toBe('201')
      expect(byId.delete.status).toBe('404')
      const group = await b.request('GET', byId.g.location.replace(b.base, ''))
      expect(group.body.members.map((m: { value: string }) => m.value).sort()).toEqual(
        [byId.u1.location.split('/').pop(), byId.u2.location.split('/').pop()].sort(),
      )

      const stopped = await b.request('POST', '/Bulk', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        failOnErrors: 1,
        Operations: [
          { method: 'POST', bulkId: 'x', path: '/Users', data: { schemas: [CORE_USER] } },
          { method: 'POST', bulkId: 'y', path: '/Users', data: user('never@corp.example') },
        ],
      })
      expect(stopped.body.Operations).toHaveLength(1)
      expect(stopped.body.Operations[0]).toMatchObject({ bulkId: 'x', status: '400' })
      expect(
        (await b.request('GET', '/Users?filter=userName eq "never@corp.example"')).body.totalResults,
      ).toBe(0)
    })
  })
})
