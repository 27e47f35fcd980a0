import { startGraphFake, type GraphFake } from './graph-fake'
import { GraphTestClient } from './graph-test-client'

/** Each quirk switch, observed over HTTPS the way a connector would meet it. */

let fake: GraphFake
let client: GraphTestClient
let ids: string[]
const usersDelta = () => `${fake.graphBaseUrl}/v1.0/users/delta?$select=displayName,manager`
type ErrorBody = { error: { code: string; message: string } }

beforeAll(async () => {
  fake = await startGraphFake({ pageSize: 4 })
  client = new GraphTestClient(fake)
  ids = Array.from(
    { length: 10 },
    (_, i) => fake.addUser({ userPrincipalName: `u${i}@contoso.example`, displayName: `U${i}` }).id,
  )
  await client.accessToken()
})

afterEach(() => fake.quirks.reset())

afterAll(async () => {
  await client.close()
  await fake.close()
})

test('without quirks a round lists users in a stable order, once each', async () => {
  const round = await client.round(usersDelta())
  expect(round.items.map((i) => i.id)).toEqual(ids)
})

test('duplicates: an object from one page is repeated on the next', async () => {
  fake.quirks.duplicates = true
  const round = await client.round(usersDelta())
  const seen = round.items.map((i) => i.id)
  expect(seen.length).toBeGreaterThan(ids.length)
  expect(new Set(seen)).toEqual(new Set(ids))
  for (let p = 1; p < round.pages.length; p++) {
    const previous = round.pages[p - 1]!.value
    expect(round.pages[p]!.value[0]).toEqual(previous[previous.length - 1])
  }
})

test('reorder: the same users arrive in a different order across pages', async () => {
  fake.quirks.reorder = true
  const round = await client.round(usersDelta())
  const seen = round.items.map((i) => i.id)
  expect([...seen].sort()).toEqual([...ids].sort())
  expect(seen).not.toEqual(ids)
})

test('emptyPages: empty pages still carry a nextLink and the round completes', async () => {
  fake.quirks.emptyPages = true
  const round = await client.round(usersDelta())
  const empties = round.pages.filter((p) => p.value.length === 0)
  expect(empties.length).toBeGreaterThanOrEqual(3)
  for (const page of empties) expect(page['@odata.nextLink']).toBeDefined()
  expect(round.items.map((i) => i.id)).toEqual(ids)
})

test.each([
  [429 as const, 'TooManyRequests'],
  [503 as const, 'ServiceUnavailable'],
])(
  'throttle %i: the next N Graph requests fail with Retry-After, then requests succeed',
  async (status, code) => {
    fake.quirks.throttle = { status, times: 2, retryAfterSeconds: 7 }
    const before = fake.requests.length
    for (let i = 0; i < 2; i++) {
      const reply = await client.get<ErrorBody>(usersDelta())
      expect(reply.status).toBe(status)
      expect(reply.headers.get('retry-after')).toBe('7')
      expect(reply.body.error.code).toBe(code)
    }
    expect((await client.get(usersDelta())).status).toBe(200)
    expect(fake.requests.slice(before).map((r) => r.status)).toEqual([status, status, 200])
    expect(fake.quirks.throttle).toBeNull()
  },
)

test.each(['syncStateNotFound' as const, 'resyncRequired' as const])(
  'expireDeltaTokens: delta tokens issued before the switch answer 410 %s with a restart Location',
  async (code) => {
    const before = await client.round(usersDelta())
    fake.quirks.deltaTokenExpiryCode = code
    fake.quirks.expireDeltaTokens = true
    const gone = await client.get<ErrorBody>(before.deltaLink)
    expect(gone.status).toBe(410)
    expect(gone.body.error.code).toBe(code)
    const restart = gone.headers.get('location')
    expect(restart).toBe(`${fake.graphBaseUrl}/v1.0/users/delta?$deltatoken=&$select=displayName,manager`)
    // Restarting gives a full round whose new deltaLink is valid while the switch stays on.
    const fresh = await client.round(restart!)
    expect(fresh.items).toHaveLength(ids.length)
    expect((await client.get(fresh.deltaLink)).status).toBe(200)
  },
)

test('denyUsers / denyGroups: 403 Authorization_RequestDenied on that collection only', async () => {
  fake.quirks.denyUsers = true
  const users = await client.get<ErrorBody>(usersDelta())
  expect(users.status).toBe(403)
  expect(users.body.error).toMatchObject({
    code: 'Authorization_RequestDenied',
    message: 'Insufficient privileges to complete the operation.',
  })
  expect((await client.get(`${fake.graphBaseUrl}/v1.0/groups/delta`)).status).toBe(200)
  fake.quirks.reset()
  fake.quirks.denyGroups = true
  expect((await client.get(`${fake.graphBaseUrl}/v1.0/groups/delta`)).status).toBe(403)
  expect((await client.get(usersDelta())).status).toBe(200)
})
