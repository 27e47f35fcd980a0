import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { generateToken, hashToken } from '../../crypto/api-token'
import type { AdminTokenOrigin, DB } from '../../db/schema'
import { conflict, forbidden, notFound } from '../../errors'
import type { Actor } from '../../org/actor'
import type { OrgStore } from '../../org/org-store'
import type { AdminPrincipal } from '../authz/principal'

/** The same prefix as every admin token (secret scanners, logs). */
export const PERSONAL_TOKEN_PREFIX = 'osa'
export const MAX_TOKENS_LISTED = 500

export interface TokenView {
  id: string
  name: string
  origin: AdminTokenOrigin
  createdAt: Date
  lastUsedAt: Date | null
  expiresAt: Date | null
  revokedAt: Date | null
  status: 'active' | 'expired' | 'revoked'
}

/**
 * An admin's personal API tokens, for automation: hashed at rest, always expiring, shown once.
 * A token acts with its admin's live grants, so it never reaches further than the admin does.
 */
export class PersonalTokenService {
  constructor(private readonly deps: { db: Kysely<DB>; store: OrgStore }) {}

  async create(
    principal: AdminPrincipal,
    input: { name: string; expiresInDays: number },
    actor: Actor,
  ): Promise<{ id: string; name: string; token: string; expiresAt: Date }> {
    // A token is never restricted (automation has no second factor to offer), so only an admin who
    // is not restricted may mint one: otherwise a token would be a way around the 2FA policy.
    if (principal.restricted) throw forbidden(principal.restricted)
    const id = randomUUID()
    const token = generateToken(PERSONAL_TOKEN_PREFIX)
    return this.deps.store.write(actor, async (w) => {
      const row = await w.transaction
        .insertInto('admin_tokens')
        .values({
          id,
          admin_id: principal.adminId,
          name: input.name,
          token_hash: hashToken(token),
          origin: 'api',
          expires_at: sql<Date>`now() + make_interval(days => ${input.expiresInDays})`,
        })
        .returning('expires_at')
        .executeTakeFirstOrThrow()
      const expiresAt = new Date(row.expires_at!)
      await w.audit({
        action: 'admin.token.create',
        targetType: 'admin-token',
        targetId: id,
        after: {
          adminId: principal.adminId,
          origin: 'api',
          name: input.name,
          expiresAt: expiresAt.toISOString(),
        },
      })
      return { id, name: input.name, token, expiresAt }
    })
  }

  /** The admin's own tokens, newest first, without secrets (they are not stored). */
  async list(principal: AdminPrincipal): Promise<TokenView[]> {
    const rows = await this.deps.db
      .selectFrom('admin_tokens')
      .select([
        'id',
        'name',
        'origin',
        'created_at',
        'last_used_at',
        'expires_at',
        'revoked_at',
        sql<boolean>`expires_at is not null and expires_at <= now()`.as('expired'),
      ])
      .where('admin_id', '=', principal.adminId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(MAX_TOKENS_LISTED)
      .execute()
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      origin: r.origin,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      status: r.revoked_at ? 'revoked' : r.expired ? 'expired' : 'active',
    }))
  }

  /** Revokes one of the admin's own personal tokens (again: no change, no error). */
  async revoke(principal: AdminPrincipal, id: string, actor: Actor): Promise<void> {
    await this.deps.store.write(actor, async (w) => {
      const token = await w.transaction
        .selectFrom('admin_tokens')
        .select(['id', 'origin', 'revoked_at'])
        .where('id', '=', id)
        .where('admin_id', '=', principal.adminId)
        .executeTakeFirst()
      if (!token) throw notFound(`you have no token ${id}`)
      if (token.origin !== 'api') {
        throw conflict(
          `token ${id} is the operator's bootstrap token (${token.origin === 'env' ? 'ORGSYNC_ADMIN_TOKEN' : 'generated at first start'}), not a personal one: ` +
            (token.origin === 'env'
              ? 'change or unset ORGSYNC_ADMIN_TOKEN instead'
              : 'a global admin revokes it'),
        )
      }
      if (token.revoked_at) return
      await w.transaction
        .updateTable('admin_tokens')
        .set({ revoked_at: sql`now()` })
        .where('id', '=', id)
        .execute()
      await w.audit({
        action: 'admin.token.revoke',
        targetType: 'admin-token',
        targetId: id,
        after: { adminId: principal.adminId, origin: 'api' },
      })
    })
  }
}
