import { z } from 'zod'
import {
  ConnectorError,
  type Connector,
  type ConnectorDefinition,
  type Page,
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
  manager: z
    .object({
      externalId: z.string().optional(),
      email: z.string().optional(),
      employeeNumber: z.string().optional(),
    })
    .nullish(),
  active: z.boolean().default(true),
})

export const fakeConfigSchema = z
  .object({
    users: z.array(user).default([]),
    departments: z
      .array(
        z.object({
          externalId: z.string().min(1),
          name: z.string().min(1),
          parentExternalId: z.string().nullable(),
        }),
      )
      .default([]),
    groups: z
      .array(
        z.object({
          externalId: z.string().min(1),
          displayName: z.string().min(1),
          description: z.string().nullish(),
          memberExternalIds: z.array(z.string()).default([]),
        }),
      )
      .default([]),
    pageSize: z.number().int().min(1).max(10000).default(500),
    /** Fail listing `what` at page `page` (0-based) with an error of `kind`. */
    fail: z
      .object({
        what: z.enum(['users', 'departments', 'groups', 'check']),
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

export function openFake(data: FakeData, config: Pick<FakeConfig, 'pageSize' | 'fail'>): Connector {
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
  return {
    type: 'fake',
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
