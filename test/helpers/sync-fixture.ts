import type { Actor } from '../../src/org/actor'
import type { RemoteDepartment, RemoteGroup, RemoteUser } from '../../src/sync/connector'
import type { TestApp } from './test-app'

export const admin: Actor = { type: 'admin', id: null, name: 'test admin' }

export interface FakeSeed {
  users?: Partial<RemoteUser>[]
  departments?: RemoteDepartment[]
  groups?: Partial<RemoteGroup>[]
  pageSize?: number
  fail?: Record<string, unknown>
}

/** A user record with sensible defaults: `u('ada')` is ada@corp.test, employee ada, active. */
export function u(id: string, extra: Partial<RemoteUser> = {}): Partial<RemoteUser> {
  return {
    externalId: id,
    userName: `${id}@corp.test`,
    email: `${id}@corp.test`,
    displayName: id,
    active: true,
    ...extra,
  }
}

export function dept(id: string, name: string, parent: string | null = null): RemoteDepartment {
  return { externalId: id, name, parentExternalId: parent }
}

/** Creates a fake source through the services, seeded with `seed`; returns its id. */
export async function fakeSource(
  app: TestApp,
  seed: FakeSeed,
  extra: {
    name?: string
    policy?: Record<string, unknown>
    precedence?: number
    mode?: 'auto' | 'review'
  } = {},
): Promise<string> {
  const s = await app.services.sources.create(admin, {
    type: 'fake',
    name: extra.name ?? 'HR',
    config: seed as Record<string, unknown>,
    policy: extra.policy,
    precedence: extra.precedence,
    mode: extra.mode,
  })
  return s.id
}

/** Replaces what the fake source lists from now on. */
export async function reseed(app: TestApp, sourceId: string, seed: FakeSeed): Promise<void> {
  const current = await app.services.sources.get(sourceId)
  const config: Record<string, unknown> = {
    users: [],
    departments: [],
    groups: [],
    ...current.config,
    ...seed,
  }
  await app.services.sources.update(admin, sourceId, { config })
}

export async function planAndApply(app: TestApp, sourceId: string) {
  const plan = await app.services.plans.createPlan(sourceId, { trigger: 'manual', actor: admin })
  if (plan.status !== 'ready') throw new Error(`plan is ${plan.status}: ${plan.error ?? plan.heldReason}`)
  return app.services.plans.apply(plan.id, admin)
}
