import { randomBytes, randomUUID } from 'node:crypto'
import { hashToken } from '../../src/crypto/api-token'
import { systemActor } from '../../src/org/actor'
import { dept, fakeSource, personByUserName, plan, planAndApply, reseed, u } from './sync-fixture'
import type { TestApp } from './test-app'

export interface GrantSpec {
  role: string
  departmentId?: string
  sourceId?: string
  expiresAt?: Date
}

export interface TestAdmin {
  adminId: string
  name: string
  token: string
  /** fetch as this admin (bearer token). */
  api(method: string, path: string, body?: unknown): Promise<Response>
}

/** An admin with a personal bearer token and exactly these grants, written straight to the tables. */
export async function adminWith(app: TestApp, name: string, grants: GrantSpec[]): Promise<TestAdmin> {
  const adminId = randomUUID()
  const token = `osa_${randomBytes(24).toString('base64url')}`
  await app.db.store.write(systemActor('test'), async (w) => {
    await w.transaction.insertInto('admins').values({ id: adminId, name }).execute()
    await w.transaction
      .insertInto('admin_tokens')
      .values({
        id: randomUUID(),
        admin_id: adminId,
        name: 'test',
        token_hash: hashToken(token),
        origin: 'api',
      })
      .execute()
    for (const g of grants) {
      await w.transaction
        .insertInto('admin_role_grants')
        .values({
          id: randomUUID(),
          admin_id: adminId,
          role: g.role,
          scope_department_id: g.departmentId ?? null,
          scope_source_id: g.sourceId ?? null,
          expires_at: g.expiresAt ?? null,
          granted_by: 'test',
        })
        .execute()
    }
  })
  return {
    adminId,
    name,
    token,
    api: (method, path, body) =>
      fetch(`${app.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
  }
}

export interface OrgFixture {
  /** Department ids by name: A (A1, A2 below it), B (B1 below it). */
  dept: Record<'A' | 'A1' | 'A2' | 'B' | 'B1', string>
  /** Person ids by user name prefix: pa1 (A1), pa2 (A2), pb1 (B1), pb2 (B). */
  person: Record<'pa1' | 'pa2' | 'pb1' | 'pb2', string>
  /** Two sources; each has one plan (a title change for everyone) that was not applied. */
  source: { S1: string; S2: string }
  plan: { S1: string; S2: string }
}

const TREE = [
  dept('a', 'A'),
  dept('a1', 'A1', 'a'),
  dept('a2', 'A2', 'a'),
  dept('b', 'B'),
  dept('b1', 'B1', 'b'),
]
const PEOPLE: [string, string][] = [
  ['pa1', 'a1'],
  ['pa2', 'a2'],
  ['pb1', 'b1'],
  ['pb2', 'b'],
]

/**
 * A tree of two branches with people in each, synced from source S1; S2 lists nobody. Each source
 * then gets a pending plan: S1's changes every title (a change filed under each person's department).
 */
export async function orgFixture(app: TestApp): Promise<OrgFixture> {
  const users = (title: string) => PEOPLE.map(([id, d]) => u(id, { departmentExternalId: d, title }))
  const S1 = await fakeSource(
    app,
    { users: users('Engineer'), departments: TREE },
    { name: 'HR main', mode: 'review' },
  )
  const S2 = await fakeSource(app, { users: [], departments: [] }, { name: 'Other', mode: 'review' })
  await planAndApply(app, S1)
  await reseed(app, S1, { users: users('Senior engineer') })
  const p1 = await plan(app, S1)
  const p2 = await plan(app, S2)
  const byName = async (name: string) =>
    (
      await app.db.handle.db
        .selectFrom('departments')
        .select('id')
        .where('name', '=', name)
        .executeTakeFirstOrThrow()
    ).id
  const person = async (id: string) => (await personByUserName(app.db.handle.db, `${id}@corp.test`)).id
  return {
    dept: {
      A: await byName('A'),
      A1: await byName('A1'),
      A2: await byName('A2'),
      B: await byName('B'),
      B1: await byName('B1'),
    },
    person: {
      pa1: await person('pa1'),
      pa2: await person('pa2'),
      pb1: await person('pb1'),
      pb2: await person('pb2'),
    },
    source: { S1, S2 },
    plan: { S1: p1.id, S2: p2.id },
  }
}
