import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { z } from 'zod'
import type { DB } from '../db/schema'
import { conflict, invalid, notFound, sqlConstraint } from '../errors'
import type { OrgWriter } from '../org/org-store'
import { isUuid } from '../org/write-context'
import { checkPasswordRule, hashPassword } from './auth/password'
import { GLOBAL_ADMIN } from './authz/roles'
import { assertAnotherGlobalAdmin, listGrants, type GrantView } from './grants'

export const newAdminBody = z
  .object({
    name: z.string().trim().min(1).max(128),
    email: z.email().max(320).nullable().optional(),
    /** The initial password; they enrol 2FA at first sign-in. Omit for a token-only admin. */
    password: z.string().max(1024).optional(),
  })
  .strict()

export interface AdminView {
  id: string
  name: string
  email: string | null
  disabled: boolean
  disabledAt: Date | null
  hasPassword: boolean
  twoFactor: boolean
  lockedUntil: Date | null
  lastSignInAt: Date | null
  createdAt: Date
  grants: GrantView[]
}

export async function createAdmin(w: OrgWriter, body: z.infer<typeof newAdminBody>): Promise<AdminView> {
  if (body.password !== undefined) {
    const problem = checkPasswordRule(body.password, body.name)
    if (problem) throw invalid(problem)
  }
  const id = randomUUID()
  try {
    await w.transaction
      .insertInto('admins')
      .values({
        id,
        name: body.name,
        email: body.email ?? null,
        password_hash: body.password === undefined ? null : await hashPassword(body.password),
      })
      .execute()
  } catch (err) {
    if (sqlConstraint(err) === 'admins_name_unique')
      throw conflict(`an admin named "${body.name}" already exists`)
    throw err
  }
  await w.audit({
    action: 'admin.create',
    targetType: 'admin',
    targetId: id,
    after: { name: body.name, email: body.email ?? null, password: body.password !== undefined },
  })
  return getAdmin(w.transaction, id)
}

/**
 * Disables an admin: their tokens and sessions stop working at once (authentication checks the
 * flag). The last active global admin cannot be disabled.
 */
export async function disableAdmin(w: OrgWriter, adminId: string): Promise<AdminView> {
  const before = await getAdmin(w.transaction, adminId)
  if (before.disabled) throw conflict(`admin ${adminId} is already disabled`)
  await w.lockNamed('global-admins')
  if (isActiveGlobalAdmin(before))
    await assertAnotherGlobalAdmin(w.transaction, adminId, `disabling admin "${before.name}"`)
  await w.transaction
    .updateTable('admins')
    .set({ disabled_at: sql`now()` })
    .where('id', '=', adminId)
    .execute()
  await w.transaction
    .updateTable('admin_sessions')
    .set({ revoked_at: sql`now()` })
    .where('admin_id', '=', adminId)
    .where('revoked_at', 'is', null)
    .execute()
  const after = await getAdmin(w.transaction, adminId)
  await w.audit({
    action: 'admin.disable',
    targetType: 'admin',
    targetId: adminId,
    before: { disabled: false },
    after: { disabled: true },
  })
  return after
}

export async function enableAdmin(w: OrgWriter, adminId: string): Promise<AdminView> {
  const before = await getAdmin(w.transaction, adminId)
  if (!before.disabled) throw conflict(`admin ${adminId} is not disabled`)
  await w.transaction
    .updateTable('admins')
    .set({ disabled_at: null, failed_signins: 0, locked_until: null })
    .where('id', '=', adminId)
    .execute()
  await w.audit({
    action: 'admin.enable',
    targetType: 'admin',
    targetId: adminId,
    before: { disabled: true },
    after: { disabled: false },
  })
  return getAdmin(w.transaction, adminId)
}

/**
 * A global admin's help desk for another admin: a new password, 2FA reset (lost phone and
 * recovery codes), or an unlock. Each ends the admin's sessions, so the next sign-in uses it.
 */
export async function resetCredentials(
  w: OrgWriter,
  adminId: string,
  what: { password?: string; twoFactor?: boolean; unlock?: boolean },
): Promise<AdminView> {
  const before = await getAdmin(w.transaction, adminId)
  if (what.password !== undefined) {
    const problem = checkPasswordRule(what.password, before.name)
    if (problem) throw invalid(problem)
  }
  await w.transaction
    .updateTable('admins')
    .set({
      ...(what.password !== undefined ? { password_hash: await hashPassword(what.password) } : {}),
      ...(what.twoFactor ? { totp_secret: null, totp_enabled_at: null, totp_last_step: null } : {}),
      failed_signins: 0,
      locked_until: null,
    })
    .where('id', '=', adminId)
    .execute()
  if (what.twoFactor)
    await w.transaction.deleteFrom('admin_recovery_codes').where('admin_id', '=', adminId).execute()
  await w.transaction
    .updateTable('admin_sessions')
    .set({ revoked_at: sql`now()` })
    .where('admin_id', '=', adminId)
    .where('revoked_at', 'is', null)
    .execute()
  await w.audit({
    action: 'admin.credentials.reset',
    targetType: 'admin',
    targetId: adminId,
    before: { twoFactor: before.twoFactor, lockedUntil: before.lockedUntil },
    after: {
      password: what.password !== undefined,
      twoFactorCleared: what.twoFactor === true,
      unlocked: true,
    },
  })
  return getAdmin(w.transaction, adminId)
}

export function isActiveGlobalAdmin(admin: AdminView): boolean {
  return admin.grants.some(
    (g) => g.role === GLOBAL_ADMIN && g.scope.kind === 'global' && g.status === 'active',
  )
}

const columns = [
  'id',
  'name',
  'email',
  'disabled_at',
  'password_hash',
  'totp_enabled_at',
  'locked_until',
  'last_signin_at',
  'created_at',
] as const

export async function getAdmin(db: Kysely<DB>, id: string): Promise<AdminView> {
  const row = isUuid(id)
    ? await db.selectFrom('admins').select(columns).where('id', '=', id).executeTakeFirst()
    : undefined
  if (!row) throw notFound(`admin ${id} does not exist`)
  return view(row, await listGrants(db, id))
}

export async function listAdmins(db: Kysely<DB>): Promise<AdminView[]> {
  const rows = await db
    .selectFrom('admins')
    .select(columns)
    .orderBy(sql`lower(name)`)
    .limit(10000)
    .execute()
  return Promise.all(rows.map(async (r) => view(r, await listGrants(db, r.id))))
}

function view(
  r: {
    id: string
    name: string
    email: string | null
    disabled_at: Date | null
    password_hash: string | null
    totp_enabled_at: Date | null
    locked_until: Date | null
    last_signin_at: Date | null
    created_at: Date
  },
  grants: GrantView[],
): AdminView {
  return {
    id: r.id,
    name: r.name,
    email: r.email,
    disabled: r.disabled_at !== null,
    disabledAt: r.disabled_at,
    hasPassword: r.password_hash !== null,
    twoFactor: r.totp_enabled_at !== null,
    lockedUntil: r.locked_until && r.locked_until.getTime() > Date.now() ? r.locked_until : null,
    lastSignInAt: r.last_signin_at,
    createdAt: r.created_at,
    grants,
  }
}
