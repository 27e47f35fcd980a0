import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { GLOBAL_ADMIN } from '../admin/admin-tokens'
import { generateToken, hashToken } from '../crypto/api-token'
import { systemActor } from '../org/actor'
import type { OrgStore, OrgWriter } from '../org/org-store'

export const ADMIN_TOKEN_PREFIX = 'osa'

export interface BootstrapResult {
  /** Set only when this start generated the first admin's token: print it once, then forget it. */
  generatedToken?: string
  /** What happened, for the start-up log (never the secret). */
  outcome: 'env-token-present' | 'env-token-installed' | 'generated' | 'admins-exist'
}

const BOOTSTRAP_ADMIN = 'admin'

async function ensureGlobalAdmin(w: OrgWriter): Promise<string> {
  const trx = w.transaction
  const existing = await trx
    .selectFrom('admins')
    .select(['id', 'disabled_at'])
    .where(sql`lower(name)`, '=', BOOTSTRAP_ADMIN)
    .executeTakeFirst()
  const adminId = existing?.id ?? randomUUID()
  if (!existing) {
    await trx.insertInto('admins').values({ id: adminId, name: BOOTSTRAP_ADMIN }).execute()
    await w.audit({
      action: 'admin.create',
      targetType: 'admin',
      targetId: adminId,
      after: { name: BOOTSTRAP_ADMIN },
    })
  } else if (existing.disabled_at !== null) {
    // Re-enabling an admin someone disabled is a change like any other: it is audited.
    await trx.updateTable('admins').set({ disabled_at: null }).where('id', '=', adminId).execute()
    await w.audit({
      action: 'admin.enable',
      targetType: 'admin',
      targetId: adminId,
      before: { disabledAt: existing.disabled_at },
      after: { disabledAt: null, reason: 'ORGSYNC_ADMIN_TOKEN' },
    })
  }
  const grant = await trx
    .selectFrom('admin_role_grants')
    .select('id')
    .where('admin_id', '=', adminId)
    .where('role', '=', GLOBAL_ADMIN)
    .where('scope_department_id', 'is', null)
    .where('expires_at', 'is', null)
    .executeTakeFirst()
  if (!grant) {
    const id = randomUUID()
    await trx
      .insertInto('admin_role_grants')
      .values({ id, admin_id: adminId, role: GLOBAL_ADMIN, granted_by: 'bootstrap' })
      .execute()
    await w.audit({
      action: 'admin.grant',
      targetType: 'admin',
      targetId: adminId,
      after: { role: GLOBAL_ADMIN },
    })
  }
  return adminId
}

async function installToken(w: OrgWriter, adminId: string, token: string, origin: 'env' | 'generated') {
  const id = randomUUID()
  await w.transaction
    .insertInto('admin_tokens')
    .values({
      id,
      admin_id: adminId,
      name: origin === 'env' ? 'ORGSYNC_ADMIN_TOKEN' : 'generated at first start',
      token_hash: hashToken(token),
      origin,
    })
    .execute()
  await w.audit({
    action: 'admin.token.create',
    targetType: 'admin-token',
    targetId: id,
    after: { adminId, origin },
  })
}

/**
 * Makes sure someone can get in. With ORGSYNC_ADMIN_TOKEN, a global admin holds a live token with
 * exactly that secret (a changed value replaces the previous one). Without it, and with no admin
 * at all, a token is generated for a new global admin. Replicas starting together take turns.
 */
export async function bootstrapAdmin(
  store: OrgStore,
  envToken: string | undefined,
): Promise<BootstrapResult> {
  return store.write(systemActor('bootstrap'), async (w) => {
    await sql`select pg_advisory_xact_lock(${0x6f72}, 3)`.execute(w.transaction)
    if (envToken) {
      const digest = hashToken(envToken)
      const present = await w.transaction
        .selectFrom('admin_tokens')
        .select(['id', 'admin_id', 'revoked_at', 'expires_at'])
        .where('token_hash', '=', digest)
        .executeTakeFirst()
      if (present && present.revoked_at === null && present.expires_at === null) {
        const adminId = await ensureGlobalAdmin(w)
        if (present.admin_id === adminId) return { outcome: 'env-token-present' }
      }
      const adminId = await ensureGlobalAdmin(w)
      const replaced = await w.transaction
        .updateTable('admin_tokens')
        .set({ revoked_at: sql`now()` })
        .where('origin', '=', 'env')
        .where('revoked_at', 'is', null)
        .returning('id')
        .execute()
      for (const r of replaced) {
        await w.audit({
          action: 'admin.token.revoke',
          targetType: 'admin-token',
          targetId: r.id,
          after: { reason: 'ORGSYNC_ADMIN_TOKEN changed' },
        })
      }
      if (present) {
        // The same secret as a revoked, expiring or other admin's token: the digest is unique, so
        // that row makes way for the env token.
        await w.transaction.deleteFrom('admin_tokens').where('id', '=', present.id).execute()
        await w.audit({
          action: 'admin.token.delete',
          targetType: 'admin-token',
          targetId: present.id,
          before: { adminId: present.admin_id, revokedAt: present.revoked_at, expiresAt: present.expires_at },
          after: { reason: 'replaced by ORGSYNC_ADMIN_TOKEN' },
        })
      }
      await installToken(w, adminId, envToken, 'env')
      return { outcome: 'env-token-installed' }
    }
    const admins = await w.transaction
      .selectFrom('admins')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    if (Number(admins.n) > 0) return { outcome: 'admins-exist' }
    const adminId = await ensureGlobalAdmin(w)
    const token = generateToken(ADMIN_TOKEN_PREFIX)
    await installToken(w, adminId, token, 'generated')
    return { outcome: 'generated', generatedToken: token }
  })
}
