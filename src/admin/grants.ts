import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import type { DB } from '../db/schema'
import { conflict, invalid, notFound } from '../errors'
import type { OrgWriter } from '../org/org-store'
import { isUuid } from '../org/write-context'
import { GLOBAL_ADMIN, roleDefinitions } from './authz/roles'

export const grantInput = z
  .object({
    adminId: z.uuid(),
    role: z.string().trim().min(1).max(63),
    /** Omit both for the whole organisation. */
    departmentId: z.uuid().nullable().optional(),
    sourceId: z.uuid().nullable().optional(),
    expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
    reason: z.string().trim().max(500).nullable().optional(),
  })
  .strict()
export type GrantInput = z.infer<typeof grantInput>

export interface GrantView {
  id: string
  adminId: string
  role: string
  scope: { kind: 'global' | 'department' | 'source'; id: string | null }
  expiresAt: Date | null
  status: 'active' | 'expired' | 'revoked'
  grantedBy: string | null
  createdAt: Date
  revokedAt: Date | null
  revokedBy: string | null
  reason: string | null
}

/** Checks a grant can be made: the admin, the role, a scope of a kind the role takes, a future expiry. */
export async function validateGrant(db: Kysely<DB>, input: GrantInput): Promise<void> {
  const admin = await db
    .selectFrom('admins')
    .select(['id', 'disabled_at'])
    .where('id', '=', input.adminId)
    .executeTakeFirst()
  if (!admin) throw notFound(`admin ${input.adminId} does not exist`)
  if (admin.disabled_at)
    throw conflict(`admin ${input.adminId} is disabled: enable them before granting roles`)
  const role = (await roleDefinitions(db, [input.role])).get(input.role)
  if (!role)
    throw invalid(
      `role "${input.role}" does not exist (built-in: global-admin, app-admin, department-admin, support-admin, or a custom role)`,
    )
  if (input.departmentId && input.sourceId)
    throw invalid('a grant is scoped to a department or a source, not both')
  const kind = input.departmentId ? 'department' : input.sourceId ? 'source' : 'global'
  if (!role.scopes.includes(kind)) {
    throw invalid(`role "${role.name}" is granted on ${role.scopes.join(' or ')} scope, not ${kind}`)
  }
  if (input.departmentId) {
    const d = await db
      .selectFrom('departments')
      .select('id')
      .where('id', '=', input.departmentId)
      .executeTakeFirst()
    if (!d) throw notFound(`department ${input.departmentId} does not exist`)
  }
  if (input.sourceId) {
    const s = await db.selectFrom('sources').select('id').where('id', '=', input.sourceId).executeTakeFirst()
    if (!s) throw notFound(`source ${input.sourceId} does not exist`)
  }
  if (input.expiresAt && new Date(input.expiresAt).getTime() <= Date.now()) {
    throw invalid(`expiresAt ${input.expiresAt} is in the past`)
  }
}

export async function createGrant(w: OrgWriter, input: GrantInput, grantedBy: string): Promise<GrantView> {
  await validateGrant(w.transaction, input)
  const id = randomUUID()
  await w.transaction
    .insertInto('admin_role_grants')
    .values({
      id,
      admin_id: input.adminId,
      role: input.role,
      scope_department_id: input.departmentId ?? null,
      scope_source_id: input.sourceId ?? null,
      expires_at: input.expiresAt ? new Date(input.expiresAt) : null,
      granted_by: grantedBy,
      reason: input.reason ?? null,
    })
    .execute()
  const view = await getGrant(w.transaction, id)
  await w.audit({ action: 'admin.grant', targetType: 'admin', targetId: input.adminId, after: view })
  return view
}

/**
 * Revokes a grant at once. The last organisation-wide global admin cannot be revoked: nobody
 * could administer the service any more.
 */
export async function revokeGrant(w: OrgWriter, grantId: string, revokedBy: string): Promise<GrantView> {
  const before = await getGrant(w.transaction, grantId)
  if (before.status === 'revoked') throw conflict(`grant ${grantId} is already revoked`)
  await w.lockNamed('global-admins')
  if (before.role === GLOBAL_ADMIN && before.scope.kind === 'global' && before.status === 'active') {
    await assertAnotherGlobalAdmin(w.transaction, before.adminId, `revoking grant ${grantId}`)
  }
  await w.transaction
    .updateTable('admin_role_grants')
    .set({ revoked_at: sql`now()`, revoked_by: revokedBy })
    .where('id', '=', grantId)
    .execute()
  const after = await getGrant(w.transaction, grantId)
  await w.audit({
    action: 'admin.grant.revoke',
    targetType: 'admin',
    targetId: before.adminId,
    before,
    after,
  })
  return after
}

/** Whether an active organisation-wide global admin other than `adminId` exists. */
export async function anotherGlobalAdminExists(db: Kysely<DB>, adminId: string): Promise<boolean> {
  const other = await db
    .selectFrom('admin_role_grants as g')
    .innerJoin('admins as a', 'a.id', 'g.admin_id')
    .select('g.id')
    .where('g.role', '=', GLOBAL_ADMIN)
    .where('g.scope_department_id', 'is', null)
    .where('g.scope_source_id', 'is', null)
    .where('g.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('g.expires_at', 'is', null), eb('g.expires_at', '>', sql<Date>`now()`)]))
    .where('a.disabled_at', 'is', null)
    .where('a.id', '<>', adminId)
    .executeTakeFirst()
  return other !== undefined
}

/** Refuses a change that would leave no active organisation-wide global admin besides `adminId`. */
export async function assertAnotherGlobalAdmin(db: Kysely<DB>, adminId: string, what: string): Promise<void> {
  if (!(await anotherGlobalAdminExists(db, adminId))) {
    throw conflict(`${what} would leave no active global admin: grant global admin to someone else first`)
  }
}

const grantColumns = [
  'id',
  'admin_id',
  'role',
  'scope_department_id',
  'scope_source_id',
  'expires_at',
  'granted_by',
  'created_at',
  'revoked_at',
  'revoked_by',
  'reason',
] as const

export async function getGrant(db: Kysely<DB>, id: string): Promise<GrantView> {
  const row = isUuid(id)
    ? await db.selectFrom('admin_role_grants').select(grantColumns).where('id', '=', id).executeTakeFirst()
    : undefined
  if (!row) throw notFound(`grant ${id} does not exist`)
  return grantView(row)
}

/** Every grant an admin holds or held: active, expired and revoked, newest first. */
export async function listGrants(db: Kysely<DB>, adminId: string): Promise<GrantView[]> {
  const rows = await db
    .selectFrom('admin_role_grants')
    .select(grantColumns)
    .where('admin_id', '=', adminId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute()
  return rows.map(grantView)
}

function grantView(r: {
  id: string
  admin_id: string
  role: string
  scope_department_id: string | null
  scope_source_id: string | null
  expires_at: Date | null
  granted_by: string | null
  created_at: Date
  revoked_at: Date | null
  revoked_by: string | null
  reason: string | null
}): GrantView {
  return {
    id: r.id,
    adminId: r.admin_id,
    role: r.role,
    scope: r.scope_department_id
      ? { kind: 'department', id: r.scope_department_id }
      : r.scope_source_id
        ? { kind: 'source', id: r.scope_source_id }
        : { kind: 'global', id: null },
    expiresAt: r.expires_at,
    status: r.revoked_at
      ? 'revoked'
      : r.expires_at && r.expires_at.getTime() <= Date.now()
        ? 'expired'
        : 'active',
    grantedBy: r.granted_by,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
    reason: r.reason,
  }
}
