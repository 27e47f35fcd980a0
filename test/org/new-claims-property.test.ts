import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { verifyAuditChain } from '../../src/org/audit-chain'
import { OrgStore } from '../../src/org/org-store'
import type { ScimCaller } from '../../src/scim/scim-caller'
import { ScimUserService } from '../../src/scim/user-service'
import { Random } from '../scim/filter/random-filters'
import { describeEachDatabase } from '../helpers/test-database'

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User'
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'

/**
 * The property behind applyNewClaims (src/org/new-claims.ts): SCIM creates sent together, which share a
 * transaction and one insert per table, leave the org tree exactly as the same creates sent one at a
 * time do. Random batches mix what the shared path must hand back to applyClaim or get right itself:
 * people the matching rule finds (by email for one source, employee number for the other), a second
 * source, users created inactive, new and existing departments in any letter case, managers that exist
 * or have not arrived, and the odd duplicate userName (which fails the batch, so every create runs
 * alone). NEW_CLAIMS_SEED=<seed> replays a run.
 */
const ROUNDS = 6
const CREATES = 14
const seed = process.env.NEW_CLAIMS_SEED
  ? Number(process.env.NEW_CLAIMS_SEED)
  : Math.floor(Math.random() * 2 ** 32)

interface Plan {
  source: 0 | 1
  userName: string
  email: string | null
  employeeNumber: string | null
  department: string | null
  /** An index into the managers created first, an id nobody has, or none. */
  manager: number | 'unknown' | null
  active: boolean
}

function plans(rng: Random, round: number): Plan[] {
  const duplicates = round % 3 === 2
  return Array.from({ length: CREATES }, (_, i) => ({
    source: rng.chance(0.25) ? 1 : 0,
    userName: duplicates && i === CREATES - 1 ? `U0-${round}@corp.example` : `u${i}-${round}@corp.example`,
    // Some of them the existing people's: the matching rule links those.
    email: rng.chance(0.2)
      ? rng.pick(['ada@corp.example', 'GRACE@corp.example'])
      : `e${i}-${round}@corp.example`,
    employeeNumber: rng.chance(0.2) ? rng.pick(['E-1', 'E-2']) : rng.chance(0.5) ? `N${i}` : null,
    department: rng.pick([
      null,
      'Corp',
      'corp/Engineering',
      'Corp/Engineering/Platform',
      `New ${round}/Team`,
    ]),
    manager: rng.chance(0.15) ? 'unknown' : rng.chance(0.6) ? rng.int(2) : null,
    active: !rng.chance(0.1),
  }))
}

type Outcome = string

describeEachDatabase('SCIM creates sent together end as if sent one by one', (db) => {
  const q = () => db().handle.db

  /** A fresh org: two SCIM sources, two people to match, two managers of source 0. */
  async function setUp(): Promise<{ callers: [ScimCaller, ScimCaller]; managers: string[] }> {
    await db().reset()
    const callers = [] as unknown as [ScimCaller, ScimCaller]
    for (const [name, matchBy] of [
      ['Entra', 'email'],
      ['Okta', 'employeeNumber'],
    ] as const) {
      const id = randomUUID()
      const policy = { matchBy }
      // As the token look-up gives it: the source's row, so both sources rank each other alike.
      const row = await q()
        .insertInto('sources')
        .values({ id, type: 'scim', name, config: '{}', policy: JSON.stringify(policy) })
        .returning(['precedence', 'created_at'])
        .executeTakeFirstOrThrow()
      callers.push({
        sourceId: id,
        sourceName: name,
        tokenId: 't',
        sourcePrecedence: row.precedence,
        sourceCreatedAt: row.created_at,
        sourcePolicy: policy,
        ip: null,
        requestId: null,
      })
    }
    await db().store.write({ type: 'system', id: null, name: 'seed' }, async (w) => {
      await w.createPerson({ userName: 'ada', email: 'ada@corp.example', employeeNumber: 'E-1' })
      await w.createPerson({ userName: 'grace', email: 'grace@corp.example', employeeNumber: 'E-2' })
    })
    const one = new ScimUserService(db().store)
    const managers: string[] = []
    for (const name of ['boss1', 'boss2'])
      managers.push((await one.create(callers[0], body({ ...BOSS, userName: `${name}@corp.example` }))).id)
    return { callers, managers }
  }

  const BOSS: Omit<Plan, 'userName'> = {
    source: 0,
    email: null,
    employeeNumber: null,
    department: 'Corp',
    manager: null,
    active: true,
  }

  function body(plan: Omit<Plan, 'manager' | 'source'> & { managerId?: string }) {
    return {
      schemas: [CORE, ENTERPRISE],
      userName: plan.userName,
      active: plan.active,
      ...(plan.email ? { emails: [{ value: plan.email, type: 'work' }] } : {}),
      [ENTERPRISE]: {
        ...(plan.employeeNumber ? { employeeNumber: plan.employeeNumber } : {}),
        ...(plan.department ? { department: plan.department } : {}),
        ...(plan.managerId ? { manager: { value: plan.managerId } } : {}),
      },
    }
  }

  async function run(
    list: readonly Plan[],
    together: boolean,
  ): Promise<{ outcomes: Outcome[]; org: unknown }> {
    const { callers, managers } = await setUp()
    // One write slot, as on PGlite: creates sent in one turn share one transaction.
    const users = new ScimUserService(new OrgStore(q(), { parallelWrites: 1 }))
    const send = (p: Plan, i: number) => {
      const caller = { ...callers[p.source], requestId: `req-${i}` }
      const managerId =
        p.manager === 'unknown'
          ? 'a1a1a1a1-0000-4000-8000-000000000001'
          : p.manager === null
            ? undefined
            : managers[p.manager]
      return users.create(caller, body({ ...p, managerId }))
    }
    let settled: PromiseSettledResult<unknown>[]
    if (together) settled = await Promise.allSettled(list.map(send))
    else {
      settled = []
      for (const [i, p] of list.entries()) settled.push(...(await Promise.allSettled([send(p, i)])))
    }
    const outcomes = settled.map((s) =>
      s.status === 'fulfilled' ? 'created' : `${(s.reason as { kind?: string }).kind ?? String(s.reason)}`,
    )
    // The org by names, not ids (ids are drawn afresh on each run).
    const { rows } = await sql<Record<string, unknown>>`
      select s.name as source, i.user_name as identity, i.active, p.user_name, p.email, p.employee_number,
             p.status, p.suspended_reason, d.path as department, m.user_name as manager,
             (select count(*)::int from pending_manager_links pm where pm.person_id = p.id)
               as waiting_for_managers,
             (select count(*)::int from identities i2 where i2.person_id = p.id) as identities
      from identities i join sources s on s.id = i.source_id
      left join people p on p.id = i.person_id
      left join departments d on d.id = p.department_id
      left join people m on m.id = p.manager_id
      order by s.name, i.user_name`.execute(q())
    const departments = (await q().selectFrom('departments').select('path').orderBy('path').execute()).map(
      (d) => d.path,
    )
    const people = Number(
      (await sql<{ n: number }>`select count(*)::int as n from people`.execute(q())).rows[0]!.n,
    )
    const leavers = (
      await q()
        .selectFrom('scim_leaver_events')
        .select(['action', 'status'])
        .orderBy('action')
        .orderBy('status')
        .execute()
    ).map((e) => `${e.action} ${e.status}`)
    expect(await verifyAuditChain(q())).toMatchObject({ ok: true })
    return { outcomes, org: { rows, departments, people, leavers } }
  }

  test(`${ROUNDS} random batches of ${CREATES} creates (seed ${seed})`, async () => {
    const rng = new Random(seed)
    for (let round = 0; round < ROUNDS; round++) {
      const list = plans(rng, round)
      const together = await run(list, true)
      const oneByOne = await run(list, false)
      expect({ round, ...together }).toEqual({ round, ...oneByOne })
    }
  }, 120_000)
})
