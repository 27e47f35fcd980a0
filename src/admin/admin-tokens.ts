import { sql, type Kysely } from 'kysely'
import type { DB } from '../db/schema'
import { hashToken } from '../crypto/api-token'

export const GLOBAL_ADMIN = 'global-admin'

export interface AdminPrincipal {
  adminId: string
  name: string
  tokenId: string
  /** Live grants only: expired ones are gone from here the moment they expire. */
  grants: { role: string; scopeDepartmentId: string | null }[]
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
  const grants = await db
    .selectFrom('admin_role_grants')
    .select(['role', 'scope_department_id'])
    .where('admin_id', '=', row.admin_id)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .execute()
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
  return {
    adminId: row.admin_id,
    name: row.name,
    tokenId: row.token_id,
    grants: grants.map((g) => ({ role: g.role, scopeDepartmentId: g.scope_department_id })),
  }
}
