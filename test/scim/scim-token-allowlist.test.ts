import { startTestApp, type TestApp } from '../helpers/test-app'
import { createScimSource, ERROR, scimClient, type ScimClient } from '../helpers/scim-client'
import { describeEachDatabase } from '../helpers/test-database'

// The test app listens on 127.0.0.1 and sees every request come from there.
const LOOPBACK = ['127.0.0.0/8', '::1']
const ELSEWHERE = ['203.0.113.0/24', '2001:db8::/32']

interface TokenView {
  id: string
  name: string | null
  allowedCidrs: string[] | null
}

interface ErrorBody {
  error: { code: string; message: string; details?: { issues?: Array<{ path: string; message: string }> } }
}

describeEachDatabase('SCIM token allowlists', (db) => {
  let app: TestApp
  let scim: ScimClient

  beforeAll(async () => {
    app = await startTestApp(db())
    scim = await createScimSource(app)
  })
  afterAll(async () => {
    await app?.close()
  })

  const tokensPath = () => `/api/v1/sources/${scim.sourceId}/scim-tokens`

  async function mint(body: Record<string, unknown>): Promise<ScimClient & { view: TokenView }> {
    const res = await app.api('POST', tokensPath(), body)
    expect(res.status).toBe(201)
    const created = (await res.json()) as TokenView & { token: string }
    return { ...scimClient(app.url, scim.sourceId, created.id, created.token), view: created }
  }

  const patchToken = (tokenId: string, body: unknown) => app.api('PATCH', `${tokensPath()}/${tokenId}`, body)

  async function listed(): Promise<Map<string, TokenView>> {
    const res = await app.api('GET', tokensPath())
    expect(res.status).toBe(200)
    const { items } = (await res.json()) as { items: TokenView[] }
    return new Map(items.map((t) => [t.id, t]))
  }

  const auditOf = (action: string, targetId: string) =>
    db()
      .handle.db.selectFrom('audit_events')
      .select(['actor_type', 'actor_id', 'actor_name', 'ip', 'target_type', 'target_id', 'before', 'after'])
      .where('action', '=', action)
      .where('target_id', '=', targetId)
      .orderBy('seq')
      .execute()

  const tokenAudit = async (action: string, tokenId: string) =>
    (await auditOf(action, scim.sourceId)).filter(
      (e) => (e.after as { tokenId?: string } | null)?.tokenId === tokenId,
    )

  test('a token without an allowlist works from anywhere and lists allowedCidrs null', async () => {
    expect((await scim.request('GET', '/Users?count=1')).status).toBe(200)
    expect((await listed()).get(scim.tokenId)?.allowedCidrs).toBeNull()
  })

  test('a token used from outside its allowlist is a SCIM 403 naming the address, and audited', async () => {
    const outside = await mint({ name: 'office only', allowedCidrs: ELSEWHERE })
    expect(outside.view).toMatchObject({ name: 'office only', allowedCidrs: ELSEWHERE })
    expect((await listed()).get(outside.tokenId)?.allowedCidrs).toEqual(ELSEWHERE)

    // Twice: the second answer comes from the authenticator's cache and must be refused as well.
    for (let i = 0; i < 2; i++) {
      const res = await outside.request('GET', '/Users?filter=userName%20eq%20%22ada%22')
      expect(res.status).toBe(403)
      expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/)
      expect(res.body).toEqual({
        schemas: [ERROR],
        status: '403',
        detail:
          "requests from 127.0.0.1 may not use this SCIM token: the address is not in the token's allowed CIDRs",
      })
    }
    const events = await auditOf('network.denied', outside.tokenId)
    expect(events).toHaveLength(2)
    expect(events[0]).toEqual({
      actor_type: 'source',
      actor_id: scim.sourceId,
      actor_name: expect.stringContaining(`(SCIM token ${outside.tokenId})`),
      ip: '127.0.0.1',
      target_type: 'scim-token',
      target_id: outside.tokenId,
      before: null,
      after: { ip: '127.0.0.1', path: '/scim/v2/Users', method: 'GET' },
    })

    // The source's other tokens are not affected.
    expect((await scim.request('GET', '/Users?count=1')).status).toBe(200)
  })

  test('a token used from inside its allowlist works', async () => {
    const inside = await mint({ allowedCidrs: LOOPBACK })
    expect((await inside.request('GET', '/Users?count=1')).status).toBe(200)
    expect(await auditOf('network.denied', inside.tokenId)).toEqual([])
  })

  test('PATCH replaces the allowlist at once, audited with before and after; null lifts it', async () => {
    const token = await mint({ allowedCidrs: ELSEWHERE })
    expect((await token.request('GET', '/Users?count=1')).status).toBe(403)

    const widened = await patchToken(token.tokenId, { allowedCidrs: ['198.51.100.0/24', ...LOOPBACK] })
    expect(widened.status).toBe(200)
    expect(await widened.json()).toMatchObject({
      id: token.tokenId,
      sourceId: scim.sourceId,
      allowedCidrs: ['198.51.100.0/24', ...LOOPBACK],
    })
    // No waiting for the authenticator's cache: this process forgets the token on change.
    expect((await token.request('GET', '/Users?count=1')).status).toBe(200)

    const narrowed = await patchToken(token.tokenId, { allowedCidrs: ['198.51.100.0/24'] })
    expect(narrowed.status).toBe(200)
    expect((await token.request('GET', '/Users?count=1')).status).toBe(403)

    const lifted = await patchToken(token.tokenId, { allowedCidrs: null })
    expect(lifted.status).toBe(200)
    expect(await lifted.json()).toMatchObject({ id: token.tokenId, allowedCidrs: null })
    expect((await token.request('GET', '/Users?count=1')).status).toBe(200)
    expect((await listed()).get(token.tokenId)?.allowedCidrs).toBeNull()

    const updates = await tokenAudit('scim-token.update', token.tokenId)
    expect(updates.map((e) => [e.before, e.after])).toEqual([
      [
        { tokenId: token.tokenId, allowedCidrs: ELSEWHERE },
        { tokenId: token.tokenId, allowedCidrs: ['198.51.100.0/24', ...LOOPBACK] },
      ],
      [
        { tokenId: token.tokenId, allowedCidrs: ['198.51.100.0/24', ...LOOPBACK] },
        { tokenId: token.tokenId, allowedCidrs: ['198.51.100.0/24'] },
      ],
      [
        { tokenId: token.tokenId, allowedCidrs: ['198.51.100.0/24'] },
        { tokenId: token.tokenId, allowedCidrs: null },
      ],
    ])
    expect(updates.every((e) => e.actor_type === 'admin' && e.target_type === 'source')).toBe(true)
  })

  test('a bad CIDR in a PATCH is a 400 naming it, and nothing changes', async () => {
    const token = await mint({ allowedCidrs: LOOPBACK })
    const res = await patchToken(token.tokenId, { allowedCidrs: ['10.0.0.0/8', '10.0.0.0/33', 'office'] })
    expect(res.status).toBe(400)
    const body = (await res.json()) as ErrorBody
    expect(body.error.code).toBe('invalid')
    expect(body.error.message).toContain('allowedCidrs.1: "10.0.0.0/33" is not an IPv4 or IPv6 address')
    expect(body.error.message).toContain('allowedCidrs.2: "office" is not an IPv4 or IPv6 address')
    expect(body.error.details?.issues?.map((i) => i.path)).toEqual(['allowedCidrs.1', 'allowedCidrs.2'])

    expect((await listed()).get(token.tokenId)?.allowedCidrs).toEqual(LOOPBACK)
    expect(await tokenAudit('scim-token.update', token.tokenId)).toEqual([])
    expect((await token.request('GET', '/Users?count=1')).status).toBe(200)
  })

  test.each([
    [{ allowedCidrs: [] }, 'allowedCidrs: must list at least one CIDR block; send null to allow any address'],
    [{}, 'allowedCidrs'],
    [{ allowedCidrs: '10.0.0.0/8' }, 'allowedCidrs'],
    [{ allowedCidrs: null, name: 'renamed' }, 'name'],
  ])('PATCH %j is a 400 (%s)', async (body, mentions) => {
    const token = await mint({ allowedCidrs: LOOPBACK })
    const res = await patchToken(token.tokenId, body)
    expect(res.status).toBe(400)
    expect(((await res.json()) as ErrorBody).error.message).toContain(mentions)
    expect((await listed()).get(token.tokenId)?.allowedCidrs).toEqual(LOOPBACK)
  })

  test('PATCH of a token that is not live, or not this source’s, is a 404', async () => {
    const token = await mint({})
    expect((await app.api('DELETE', `${tokensPath()}/${token.tokenId}`)).status).toBe(204)
    const revoked = await patchToken(token.tokenId, { allowedCidrs: LOOPBACK })
    expect(revoked.status).toBe(404)
    expect(((await revoked.json()) as ErrorBody).error.message).toContain(
      `no live SCIM token ${token.tokenId}`,
    )
    expect((await patchToken('not-a-uuid', { allowedCidrs: LOOPBACK })).status).toBe(404)

    const other = await createScimSource(app)
    const elsewhere = await app.api(
      'PATCH',
      `/api/v1/sources/${other.sourceId}/scim-tokens/${scim.tokenId}`,
      {
        allowedCidrs: LOOPBACK,
      },
    )
    expect(elsewhere.status).toBe(404)
    expect((await listed()).get(scim.tokenId)?.allowedCidrs).toBeNull()
  })

  test('a bad CIDR on create is a 400 naming it, and no token is made', async () => {
    const before = (await listed()).size
    const res = await app.api('POST', tokensPath(), { name: 'bad', allowedCidrs: ['2001:db8::/129'] })
    expect(res.status).toBe(400)
    expect(((await res.json()) as ErrorBody).error.message).toContain(
      'allowedCidrs.0: "2001:db8::/129" is not an IPv4 or IPv6 address',
    )
    expect((await listed()).size).toBe(before)
  })

  test('create audits the allowlist the token starts with', async () => {
    const token = await mint({ allowedCidrs: LOOPBACK })
    const [created] = await tokenAudit('scim-token.create', token.tokenId)
    expect(created?.after).toEqual({ tokenId: token.tokenId, name: null, allowedCidrs: LOOPBACK })
  })
})
