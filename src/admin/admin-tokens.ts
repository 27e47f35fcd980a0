import { sql, type Kysely } from 'kysely'
import type { DB } from '../db/schema'
import { hashToken } from '../crypto/api-token'
import type { AdminPrincipal, Grant } from './authz/principal'

export { GLOBAL_ADMIN } from './authz/roles'

/** An admin's live grants: expired or revoked ones stop counting the moment they lapse. */
export async function liveGrants(db: Kysely<DB>, adminId: string): Promise<Grant[]> {
  const rows = await db
    .selectFrom('admin_role_grants')
    .select(['id', 'role', 'scope_department_id', 'scope_source_id', 'expires_at'])
    .where('admin_id', '=', adminId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  return rows.map((g) => ({
    id: g.id,
    role: g.role,
    scopeDepartmentId: g.scope_department_id,
    scopeSourceId: g.scope_source_id,
    expiresAt: g.expires_at,
  }))
}

/**
 * Resolves a bearer token to its admin. Lookup goes by the token's digest (unique index), so no
 * secret is ever compared byte by byte in application code.
 */
export async function authenticateAdminToken(
  db: Kysely<DB>,
  token: string,
): Promise<AdminPrincipal | undefined> {
  const digest = hashToken(token)
  const row = await db
    .selectFrom('admin_tokens as t')
    .innerJoin('admins as a', 'a.id', 't.admin_id')
    .select(['t.id as token_id', 'a.id as admin_id', 'a.name'])
    .where('t.token_hash', '=', digest)
    .where('t.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', sql<Date>`now()`)]))
    .where('a.disabled_at', 'is', null)
    .executeTakeFirst()
  if (!row) return undefined
  const grants = await liveGrants(db, row.admin_id)
  // At most one write a minute per token: "last used" is for admins, not a per-request log.
  await db
    .updateTable('admin_tokens')
    .set({ last_used_at: sql`now()` })
    .where('id', '=', row.token_id)
    .where((eb) =>
      eb.or([
        eb('last_used_at', 'is', null),
        eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`),
      ]),
    )
    .execute()
  return { adminId: row.admin_id, name: row.name, via: 'token', tokenId: row.token_id, grants }
}
