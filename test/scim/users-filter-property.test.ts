import { formatFilter, parseFilter } from '../../src/scim/filter'
import { matchesFilter, type ScimResource } from '../../src/scim/filter/evaluate-filter'
import { USER_FILTER_SCHEMA } from '../../src/scim/user-resources'
import { createScimSource, type ScimClient } from '../helpers/scim-client'
import { startTestApp, type TestApp } from '../helpers/test-app'
import { describeEachDatabase } from '../helpers/test-database'
import { FilterGenerator, Random, randomUsers } from './filter/random-filters'

/**
 * The filter property end to end: random users pushed through POST /Users, random filters through
 * GET /Users?filter= — the server's answer (SQL over the stored users) must be the set the in-memory
 * reference evaluator picks from the users as the server serves them. SCIM_FILTER_SEED=<seed> replays.
 */
const USERS = 40
const FILTERS = 200
const seed = process.env.SCIM_FILTER_SEED
  ? Number(process.env.SCIM_FILTER_SEED)
  : Math.floor(Math.random() * 2 ** 32)

describeEachDatabase('GET /Users?filter= agrees with the reference evaluator', (db) => {
  let app: TestApp
  let scim: ScimClient
  const served: ScimResource[] = []

  beforeAll(async () => {
    app = await startTestApp(db())
    scim = await createScimSource(app, { name: 'filter-property' })
    const rng = new Random(seed)
    for (const u of randomUsers(rng, USERS)) {
      const { id: _id, meta: _meta, ...body } = u as Record<string, unknown>
      // Users our validation refuses (two primary emails, an email without a value…) are not stored.
      const res = await scim.request('POST', '/Users', body)
      if (res.status !== 201 && res.status !== 400) throw new Error(`POST /Users: ${res.status} ${res.text}`)
    }
    const all = await scim.request('GET', '/Users?count=1000')
    served.push(...(all.body.Resources as ScimResource[]))
  })
  afterAll(async () => {
    await app?.close()
  })

  test(`${FILTERS} random filters over the stored users (seed ${seed})`, async () => {
    expect(served.length).toBeGreaterThan(USERS / 2)
    const generator = new FilterGenerator(new Random(seed + 1), served)
    const failures: string[] = []
    let selective = 0
    for (let n = 0; n < FILTERS; n++) {
      const text = formatFilter(generator.filter())
      const node = parseFilter(text)
      const expected = served
        .filter((u) => matchesFilter(node, u, USER_FILTER_SCHEMA))
        .map((u) => String(u.id))
        .sort()
      const res = await scim.request('GET', `/Users?count=1000&filter=${encodeURIComponent(text)}`)
      if (res.status !== 200) {
        failures.push(`${text} → ${res.status} ${res.text}`)
        continue
      }
      const actual = (res.body.Resources as { id: string }[]).map((r) => r.id).sort()
      expect(res.body.totalResults).toBe(actual.length)
      if (expected.length > 0 && expected.length < served.length) selective++
      if (JSON.stringify(actual) !== JSON.stringify(expected))
        failures.push(`${text}\n    server: ${actual.length} users, evaluator: ${expected.length}`)
    }
    if (failures.length > 0)
      throw new Error(
        `SCIM_FILTER_SEED=${seed}: ${failures.length} filters disagree:\n${failures.slice(0, 10).join('\n')}`,
      )
    expect(selective).toBeGreaterThan(FILTERS * 0.25)
  })
})
