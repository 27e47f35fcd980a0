import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { verifyAuditChain } from '../../src/org/audit-chain'
import { OrgStore } from '../../src/org/org-store'
import type { ScimCaller } from '../../src/scim/scim-caller'
import { ScimUserService } from '../../src/scim/user-service'
import { describeEachDatabase } from '../helpers/test-database'

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User'
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'

function user(
  userName: string,
  enterprise: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    schemas: [CORE, ENTERPRISE],
    userName,
    displayName: userName.split('@')[0],
    emails: [{ value: userName, type: 'work', primary: true }],
    active: true,
    [ENTERPRISE]: enterprise,
    ...extra,
  }
}

/**
 * New SCIM users sent together share a transaction (WriteCoalescer), and
 * applyNewClaims (src/org/new-claims.ts) creates them with one insert per table. These tests hold that
 * the outcome is what creating them one by one gives.
 */
describeEachDatabase('new SCIM users arriving together', (db) => {
  let users: ScimUserService

  beforeEach(async () => {
    await db().reset()
    // One write slot, as on PGlite: creates sent in one turn of the event loop share one transaction.
    users = new ScimUserService(new OrgStore(db().handle.db, { parallelWrites: 1 }))
  })

  const q = () => db().handle.db

  async function source(name: string, policy: Record<string, unknown> = {}) {
    const id = randomUUID()
    await q()
      .insertInto('sources')
      .values({ id, type: 'scim', name, config: '{}', policy: JSON.stringify(policy) })
      .execute()
    const caller = (n: number): ScimCaller => ({
      sourceId: id,
      sourceName: name,
      tokenId: 'token-1',
      sourcePrecedence: 100,
      sourceCreatedAt: new Date(),
      sourcePolicy: policy,
      ip: '192.0.2.9',
      requestId: `${name}-req-${n}`,
    })
    return { id, caller }
  }

  /** Sends `first` and the rest in one turn of the event loop: they share one transaction. */
  async function batch(first: () => Promise<unknown>, rest: (() => Promise<unknown>)[]) {
    const all = [first(), ...rest.map((send) => send())]
    return (await Promise.allSettled(all)).slice(1)
  }

  const value = <T>(r: PromiseSettledResult<unknown>) => (r as PromiseFulfilledResult<T>).value

  /** The transaction and the statement (command) that inserted each row. */
  async function insertedBy(table: 'people' | 'identities', column: 'user_name', values: readonly string[]) {
    const rows = await sql<{ name: string; tx: string; command: string }>`
      select ${sql.ref(column)} as name, xmin::text as tx, cmin::text as command from ${sql.table(table)}
      where ${sql.ref(column)} = any(${values}::text[])`.execute(q())
    return rows.rows
  }

  test('one transaction, one insert per table; each user gets their identity, person, department, manager and audit actor', async () => {
    const { id: sourceId, caller } = await source('Entra')
    const boss = await users.create(caller(0), user('boss@corp.example', { department: 'Corp' }))
    const unknownManager = randomUUID()
    const names = Array.from({ length: 8 }, (_, i) => `u${i}@corp.example`)
    const settled = await batch(
      () => users.create(caller(1), user('first@corp.example')),
      names.map(
        (name, i) => () =>
          users.create(
            caller(10 + i),
            user(
              name,
              {
                department: i % 2 ? 'Corp/Engineering/Platform' : 'Corp',
                employeeNumber: `E${i}`,
                ...(i === 7 ? { manager: { value: unknownManager } } : { manager: { value: boss.id } }),
              },
              { title: `Title ${i}` },
            ),
          ),
      ),
    )
    expect(settled.map((s) => s.status)).toEqual(names.map(() => 'fulfilled'))

    // Shared: one transaction, and one statement per table for the batch.
    for (const table of ['people', 'identities'] as const) {
      const rows = await insertedBy(table, 'user_name', names)
      expect(rows).toHaveLength(8)
      expect(new Set(rows.map((r) => r.tx)).size).toBe(1)
      expect(new Set(rows.map((r) => r.command)).size).toBe(1)
    }

    const departments = await q().selectFrom('departments').select(['id', 'path']).orderBy('path').execute()
    expect(departments.map((d) => d.path)).toEqual(['Corp', 'Corp/Engineering', 'Corp/Engineering/Platform'])
    const departmentId = new Map(departments.map((d) => [d.path, d.id]))

    const bossPerson = boss.person_id
    for (let i = 0; i < names.length; i++) {
      const created = value<{ id: string; person_id: string; version: number }>(settled[i]!)
      const identity = await q()
        .selectFrom('identities')
        .selectAll()
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow()
      expect(identity).toMatchObject({
        source_id: sourceId,
        external_id: created.id,
        user_name: names[i],
        person_id: created.person_id,
        version: created.version,
      })
      const person = await q()
        .selectFrom('people')
        .selectAll()
        .where('id', '=', created.person_id)
        .executeTakeFirstOrThrow()
      expect(person).toMatchObject({
        user_name: names[i],
        email: names[i],
        employee_number: `E${i}`,
        title: `Title ${i}`,
        status: 'active',
        department_id: departmentId.get(i % 2 ? 'Corp/Engineering/Platform' : 'Corp'),
        manager_id: i === 7 ? null : bossPerson,
      })
      const audit = await q()
        .selectFrom('audit_events')
        .select(['action', 'actor_id', 'request_id'])
        .where('target_id', 'in', [created.id, created.person_id])
        .orderBy('seq')
        .execute()
      expect(audit).toEqual([
        { action: 'person.create', actor_id: sourceId, request_id: `Entra-req-${10 + i}` },
        { action: 'identity.create', actor_id: sourceId, request_id: `Entra-req-${10 + i}` },
      ])
    }
    // The report whose manager has not arrived waits for them.
    const waiting = await q().selectFrom('pending_manager_links').selectAll().execute()
    expect(waiting).toEqual([
      {
        source_id: sourceId,
        person_id: value<{ person_id: string }>(settled[7]!).person_id,
        manager_external_id: unknownManager,
      },
    ])
    // The new departments' events name the unit that created them.
    const deptEvents = await q()
      .selectFrom('audit_events')
      .select(['target_id', 'request_id'])
      .where('action', '=', 'department.create')
      .execute()
    expect(deptEvents).toHaveLength(3)
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true })
  })

  test('a userName twice in a batch: one conflict, and every other user is created', async () => {
    const { caller } = await source('Okta')
    const settled = await batch(
      () => users.create(caller(0), user('first@corp.example')),
      [
        () => users.create(caller(1), user('a@corp.example')),
        () => users.create(caller(2), user('Twice@corp.example')),
        () => users.create(caller(3), user('b@corp.example')),
        () => users.create(caller(4), user('twice@corp.example')),
      ],
    )
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected'])
    expect(settled[3]).toMatchObject({ reason: { kind: 'conflict' } })
    const people = await q().selectFrom('people').select('user_name').execute()
    expect(people.map((p) => p.user_name).sort()).toEqual([
      'Twice@corp.example',
      'a@corp.example',
      'b@corp.example',
      'first@corp.example',
    ])
    expect(await q().selectFrom('identities').select('id').execute()).toHaveLength(4)
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true, checked: 8 })
  })

  test('the matching rule links a user of the batch to the person who exists, among users it creates', async () => {
    const { caller } = await source('Entra')
    const existing = await db().store.write({ type: 'system', id: null, name: 'test' }, (w) =>
      w.createPerson({ userName: 'ada', email: 'Ada@corp.example', employeeNumber: 'E1' }),
    )
    const settled = await batch(
      () => users.create(caller(0), user('first@corp.example')),
      [
        () => users.create(caller(1), user('new1@corp.example')),
        () => users.create(caller(2), user('ada@corp.example', { department: 'Corp' })),
        () => users.create(caller(3), user('new2@corp.example', { department: 'Corp' })),
      ],
    )
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled'])
    expect(value<{ person_id: string }>(settled[1]!).person_id).toBe(existing.id)
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(4)
    const linked = await q()
      .selectFrom('people')
      .select(['email', 'department_id'])
      .where('id', '=', existing.id)
      .executeTakeFirstOrThrow()
    // Linked, and the source's say applied: its department.
    expect(linked.department_id).not.toBeNull()
  })

  test('users of two sources in one batch: a later source links to the person an earlier one creates', async () => {
    const a = await source('Entra')
    const b = await source('Okta')
    const settled = await batch(
      () => users.create(a.caller(0), user('first@corp.example')),
      [
        () => users.create(a.caller(1), user('grace@corp.example')),
        () => users.create(b.caller(2), user('grace.h', {}, { emails: [{ value: 'GRACE@corp.example' }] })),
        () => users.create(b.caller(3), user('someone@corp.example')),
      ],
    )
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled'])
    const [grace, graceInB] = [settled[0]!, settled[1]!].map((s) => value<{ person_id: string }>(s))
    expect(graceInB!.person_id).toBe(grace!.person_id)
    expect(await q().selectFrom('people').select('id').execute()).toHaveLength(3)
  })

  test('a user created inactive in a batch is suspended at once', async () => {
    const { caller } = await source('Entra')
    const settled = await batch(
      () => users.create(caller(0), user('first@corp.example')),
      [
        () => users.create(caller(1), user('on@corp.example')),
        () => users.create(caller(2), user('off@corp.example', {}, { active: false })),
      ],
    )
    const [on, off] = settled.map((s) => value<{ person_id: string }>(s))
    const status = async (id: string) =>
      (await q().selectFrom('people').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status
    expect(await status(on!.person_id)).toBe('active')
    expect(await status(off!.person_id)).toBe('suspended')
  })
})
