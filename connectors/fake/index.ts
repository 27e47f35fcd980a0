import { z } from 'zod'
import {
  ConnectorError,
  type Connector,
  type ConnectorDefinition,
  type ChangePage,
  type Page,
  type RemoteChange,
  type RemoteDepartment,
  type RemoteGroup,
  type RemoteUser,
} from '../../src/sync/connector'

/**
 * A connector that serves records it was given: from its config (JSON seeded through the API, for
 * demos and tests) or from generator functions (benchmarks). It pages like a real one and can be
 * told to fail part-way, so the engine's handling of a broken listing is testable.
 */

const user = z.object({
  externalId: z.string().min(1),
  userName: z.string().min(1),
  displayName: z.string().nullish(),
  givenName: z.string().nullish(),
  familyName: z.string().nullish(),
  email: z.string().nullish(),
  employeeNumber: z.string().nullish(),
  title: z.string().nullish(),
  departmentExternalId: z.string().nullish(),
  departmentPath: z.array(z.string()).nullish(),
  manager: z
    .object({
      externalId: z.string().optional(),
      email: z.string().optional(),
      employeeNumber: z.string().optional(),
    })
    .nullish(),
  active: z.boolean().default(true),
})

const department = z.object({
  externalId: z.string().min(1),
  name: z.string().min(1),
  parentExternalId: z.string().nullable(),
})

const group = z.object({
  externalId: z.string().min(1),
  displayName: z.string().min(1),
  description: z.string().nullish(),
  memberExternalIds: z.array(z.string()).default([]),
})

const change = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('user'), user }),
  z.object({
    kind: z.literal('user.partial'),
    user: user.partial().extend({ externalId: z.string().min(1), active: z.boolean().optional() }),
  }),
  z.object({ kind: z.literal('user.removed'), externalId: z.string().min(1), deleted: z.boolean() }),
  z.object({ kind: z.literal('department'), department }),
  z.object({ kind: z.literal('department.removed'), externalId: z.string().min(1) }),
  z.object({ kind: z.literal('group'), group }),
  z.object({
    kind: z.literal('group.delta'),
    externalId: z.string().min(1),
    displayName: z.string().optional(),
    description: z.string().nullable().optional(),
    added: z.array(z.string()).default([]),
    removed: z.array(z.string()).default([]),
  }),
  z.object({ kind: z.literal('group.removed'), externalId: z.string().min(1) }),
  z.object({ kind: z.literal('user.roster'), externalIds: z.array(z.string()) }),
])

export const fakeConfigSchema = z
  .object({
    users: z.array(user).default([]),
    departments: z.array(department).default([]),
    groups: z.array(group).default([]),
    /**
     * Change tracking, like a directory with delta tokens: a full listing ends at token "round:0";
     * `changes` from "round:N" reports rounds[N] and ends at "round:N+1" (past the last round:
     * nothing changed). `expired`: every token is refused, so the engine must list in full.
     */
    incremental: z
      .object({ rounds: z.array(z.array(change)).default([]), expired: z.boolean().default(false) })
      .optional(),
    pageSize: z.number().int().min(1).max(10000).default(500),
    /** Fail listing `what` at page `page` (0-based) with an error of `kind`. */
    fail: z
      .object({
        what: z.enum(['users', 'departments', 'groups', 'check', 'changes']),
        page: z.number().int().min(0).default(0),
        kind: z.enum(['auth', 'permission', 'throttled', 'transient', 'invalid-config', 'permanent']),
        /** Fail only this many times, then succeed (to exercise retries). */
        times: z.number().int().min(1).optional(),
      })
      .optional(),
  })
  .strict()

export type FakeConfig = z.infer<typeof fakeConfigSchema>

/** Records by index, so a benchmark can serve 100,000 users without holding them all. */
export interface FakeData {
  users: { count: number; at(i: number): RemoteUser }
  departments: { count: number; at(i: number): RemoteDepartment }
  groups: { count: number; at(i: number): RemoteGroup }
}

function fromArrays(config: FakeConfig): FakeData {
  const wrap = <T>(items: T[]) => ({ count: items.length, at: (i: number) => items[i]! })
  return {
    users: wrap(config.users.map((u) => ({ ...u, raw: u }))),
    departments: wrap(config.departments),
    groups: wrap(config.groups.map((g) => ({ ...g, description: g.description ?? null }))),
  }
}

export function openFake(
  data: FakeData,
  config: Pick<FakeConfig, 'pageSize' | 'fail' | 'incremental'>,
): Connector {
  let failures = 0
  const maybeFail = (what: string, page: number) => {
    const f = config.fail
    if (!f || f.what !== what || f.page !== page) return
    if (f.times !== undefined && failures >= f.times) return
    failures++
    throw new ConnectorError(f.kind, `fake: ${what} page ${page} failed (${f.kind}, as configured)`)
  }
  function list<T>(what: 'users' | 'departments' | 'groups', source: { count: number; at(i: number): T }) {
    return async (cursor: string | undefined, signal: AbortSignal): Promise<Page<T>> => {
      signal.throwIfAborted()
      const start = cursor === undefined ? 0 : Number(cursor)
      if (!Number.isInteger(start) || start < 0)
        throw new ConnectorError('permanent', `fake: bad cursor ${cursor}`)
      maybeFail(what, Math.floor(start / config.pageSize))
      const end = Math.min(source.count, start + config.pageSize)
      const items: T[] = []
      for (let i = start; i < end; i++) items.push(source.at(i))
      return end < source.count ? { items, nextCursor: String(end) } : { items }
    }
  }
  const incremental = config.incremental
  const tracking: Pick<Connector, 'deltaToken' | 'changes'> = incremental
    ? {
        deltaToken: () => 'round:0',
        async changes(token, cursor, signal): Promise<ChangePage> {
          signal.throwIfAborted()
          const round = /^round:(\d+)$/.exec(token)
          if (incremental.expired || !round)
            throw new ConnectorError('resync-required', `fake: delta token ${token} is no longer valid`)
          maybeFail('changes', cursor === undefined ? 0 : Number(cursor) / config.pageSize)
          const n = Number(round[1])
          const all = (incremental.rounds[n] ?? []) as RemoteChange[]
          const start = cursor === undefined ? 0 : Number(cursor)
          const end = Math.min(all.length, start + config.pageSize)
          const changes = all.slice(start, end)
          return end < all.length
            ? { changes, nextCursor: String(end) }
            : { changes, deltaToken: `round:${Math.min(n + 1, incremental.rounds.length)}` }
        },
      }
    : {}
  return {
    type: 'fake',
    ...tracking,
    async check(signal) {
      signal.throwIfAborted()
      maybeFail('check', 0)
      return { ok: true, checks: [{ name: 'seed', ok: true, message: `${data.users.count} users seeded` }] }
    },
    listUsers: list('users', data.users),
    listDepartments: list('departments', data.departments),
    listGroups: list('groups', data.groups),
  }
}

export const fakeConnector: ConnectorDefinition<FakeConfig> = {
  type: 'fake',
  description: 'A connector seeded from JSON, for tests and demos',
  configSchema: fakeConfigSchema,
  secretKeys: [],
  open: (config) => openFake(fromArrays(config), config),
}

/** A fake whose records come from generators (benchmarks); its config only sets paging and failures. */
export function generatedFakeConnector(data: FakeData): ConnectorDefinition<FakeConfig> {
  return { ...fakeConnector, open: (config) => openFake(data, config) }
}
