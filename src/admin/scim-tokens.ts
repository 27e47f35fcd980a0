import { sql, type Kysely } from 'kysely'
import { generateToken, hashToken } from '../crypto/api-token'
import type { DB } from '../db/schema'
import { conflict, notFound } from '../errors'
import type { Actor } from '../org/actor'
import { OrgStore } from '../org/org-store'
import { isUuid } from '../org/write-context'
import { allowedCidrsSchema, auditDenial, type DeniedRequest } from './network-policy'
import { parseWith } from './request-actor'

export interface ScimTokenView {
  id: string
  sourceId: string
  name: string | null
  createdAt: Date
  createdBy: string | null
  lastUsedAt: Date | null
  /** Where the token may be used from; null: no restriction of its own. */
  allowedCidrs: string[] | null
}

/** A token's allowlist as given to the service: validated here too, as the CLI calls it directly. */
function checkedCidrs(cidrs: readonly string[] | null | undefined): string[] | null {
  if (cidrs === null || cidrs === undefined) return null
  return parseWith(allowedCidrsSchema, cidrs, 'SCIM token allowedCidrs')
}

/** The stored column; anything but a list of strings is refused rather than read as "anywhere". */
function storedCidrs(value: unknown, tokenId: string): string[] | null {
  if (value === null || value === undefined) return null
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value
  throw new Error(`scim_tokens.allowed_cidrs of token ${tokenId} is not a list of strings`)
}

/** Bearer tokens of a SCIM source. Several may be live at once, so a provider can rotate without downtime. */
export class ScimTokenService {
  constructor(
    private readonly store: OrgStore,
    /** Told about revocations, so this process stops accepting a revoked token at once. */
    private readonly authenticator?: ScimTokenAuthenticator,
  ) {}

  private async requireScimSource(db: Kysely<DB>, sourceId: string): Promise<{ id: string; name: string }> {
    const source = isUuid(sourceId)
      ? await db
          .selectFrom('sources')
          .select(['id', 'name', 'type'])
          .where('id', '=', sourceId)
          .executeTakeFirst()
      : undefined
    if (!source) throw notFound(`source ${sourceId} does not exist`)
    if (source.type !== 'scim')
      throw conflict(`source "${source.name}" is of type ${source.type}: only scim sources have SCIM tokens`)
    return source
  }

  /** Creates a token; its secret is returned this once and only its digest is stored. */
  async create(
    actor: Actor,
    sourceId: string,
    name?: string,
    allowedCidrs?: readonly string[] | null,
  ): Promise<{ id: string; token: string; name: string | null; allowedCidrs: string[] | null }> {
    const cidrs = checkedCidrs(allowedCidrs)
    return this.store.write(actor, async (w) => {
      const source = await this.requireScimSource(w.transaction, sourceId)
      const token = generateToken('oss')
      const row = await w.transaction
        .insertInto('scim_tokens')
        .values({
          source_id: source.id,
          name: name ?? null,
          token_hash: hashToken(token),
          created_by: actor.id,
          allowed_cidrs: cidrs === null ? null : JSON.stringify(cidrs),
        })
        .returning(['id', 'name'])
        .executeTakeFirstOrThrow()
      await w.audit({
        action: 'scim-token.create',
        targetType: 'source',
        targetId: source.id,
        after: { tokenId: row.id, name: row.name, allowedCidrs: cidrs },
      })
      return { id: row.id, token, name: row.name, allowedCidrs: cidrs }
    })
  }

  /**
   * Replaces a live token's allowlist (null lifts it). Takes effect at once in this process, and
   * within the authenticator's cache time on other replicas.
   */
  async setAllowedCidrs(
    actor: Actor,
    sourceId: string,
    tokenId: string,
    allowedCidrs: readonly string[] | null,
  ): Promise<ScimTokenView> {
    const cidrs = checkedCidrs(allowedCidrs)
    const view = await this.store.write(actor, async (w) => {
      const source = await this.requireScimSource(w.transaction, sourceId)
      const current = isUuid(tokenId)
        ? await w.transaction
            .selectFrom('scim_tokens')
            .select(['id', 'allowed_cidrs'])
            .where('id', '=', tokenId)
            .where('source_id', '=', source.id)
            .where('revoked_at', 'is', null)
            .forUpdate()
            .executeTakeFirst()
        : undefined
      if (!current) throw notFound(`source "${source.name}" has no live SCIM token ${tokenId}`)
      const row = await w.transaction
        .updateTable('scim_tokens')
        .set({ allowed_cidrs: cidrs === null ? null : JSON.stringify(cidrs) })
        .where('id', '=', current.id)
        .returning(['id', 'source_id', 'name', 'created_at', 'created_by', 'last_used_at', 'allowed_cidrs'])
        .executeTakeFirstOrThrow()
      await w.audit({
        action: 'scim-token.update',
        targetType: 'source',
        targetId: source.id,
        before: { tokenId: current.id, allowedCidrs: storedCidrs(current.allowed_cidrs, current.id) },
        after: { tokenId: row.id, allowedCidrs: cidrs },
      })
      return toView(row)
    })
    // After the commit: forgetting earlier would let a concurrent request re-cache the old list.
    this.authenticator?.forgetToken(view.id)
    return view
  }

  async list(sourceId: string): Promise<ScimTokenView[]> {
    const source = await this.requireScimSource(this.store.db, sourceId)
    const rows = await this.store.db
      .selectFrom('scim_tokens')
      .select(['id', 'source_id', 'name', 'created_at', 'created_by', 'last_used_at', 'allowed_cidrs'])
      .where('source_id', '=', source.id)
      .where('revoked_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute()
    return rows.map(toView)
  }

  /** Revokes one token at once: the next request with it is a 401. */
  async revoke(actor: Actor, sourceId: string, tokenId: string): Promise<void> {
    await this.store.write(actor, async (w) => {
      const source = await this.requireScimSource(w.transaction, sourceId)
      const row = isUuid(tokenId)
        ? await w.transaction
            .updateTable('scim_tokens')
            .set({ revoked_at: sql`now()` })
            .where('id', '=', tokenId)
            .where('source_id', '=', source.id)
            .where('revoked_at', 'is', null)
            .returning(['id'])
            .executeTakeFirst()
        : undefined
      if (!row) throw notFound(`source "${source.name}" has no live SCIM token ${tokenId}`)
      this.authenticator?.forgetToken(row.id)
      await w.audit({
        action: 'scim-token.revoke',
        targetType: 'source',
        targetId: source.id,
        before: { tokenId: row.id },
      })
    })
  }
}

function toView(r: {
  id: string
  source_id: string
  name: string | null
  created_at: Date
  created_by: string | null
  last_used_at: Date | null
  allowed_cidrs: unknown
}): ScimTokenView {
  return {
    id: r.id,
    sourceId: r.source_id,
    name: r.name,
    createdAt: r.created_at,
    createdBy: r.created_by,
    lastUsedAt: r.last_used_at,
    allowedCidrs: storedCidrs(r.allowed_cidrs, r.id),
  }
}

export interface ScimPrincipal {
  sourceId: string
  sourceName: string
  tokenId: string
  /** The source's reconciliation settings as stored, read with the token (no second query per write). */
  sourcePrecedence: number
  sourceCreatedAt: Date
  sourcePolicy: unknown
  /** The token's own allowlist; null: none. */
  allowedCidrs: string[] | null
}

/**
 * Resolves a SCIM bearer token to its source by digest (unique index: no secret compared in app code).
 * A disabled source's tokens do not work.
 */
export async function authenticateScimToken(
  db: Kysely<DB>,
  token: string,
): Promise<ScimPrincipal | undefined> {
  const row = await db
    .selectFrom('scim_tokens as t')
    .innerJoin('sources as s', 's.id', 't.source_id')
    .select([
      't.id',
      't.source_id',
      's.name',
      't.last_used_at',
      't.allowed_cidrs',
      's.precedence',
      's.created_at',
      's.policy',
    ])
    .where('t.token_hash', '=', hashToken(token))
    .where('t.revoked_at', 'is', null)
    .where('s.enabled', '=', true)
    .where('s.type', '=', 'scim')
    .executeTakeFirst()
  if (!row) return undefined
  // At most one write a minute per token: "last used" is for admins, not a per-request log.
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    await db
      .updateTable('scim_tokens')
      .set({ last_used_at: sql`now()` })
      .where('id', '=', row.id)
      .where((eb) =>
        eb.or([
          eb('last_used_at', 'is', null),
          eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`),
        ]),
      )
      .execute()
  }
  return {
    sourceId: row.source_id,
    sourceName: row.name,
    tokenId: row.id,
    sourcePrecedence: row.precedence,
    sourceCreatedAt: row.created_at,
    sourcePolicy: row.policy,
    allowedCidrs: storedCidrs(row.allowed_cidrs, row.id),
  }
}

/**
 * Remembers recent token lookups for a moment, so a provider's burst of requests costs one lookup per
 * token and second, not one per request (the lookup is half the database work of a filtered GET).
 * A revocation made through this process takes effect at once; one made on another replica, or a
 * source disabled or re-configured, within `ttlMs`.
 */
export class ScimTokenAuthenticator {
  private readonly cache = new Map<string, { principal: ScimPrincipal; until: number }>()
  /** Only for denials' audit events; OrgStore holds nothing but the database handle. */
  private readonly store: OrgStore

  constructor(
    private readonly db: Kysely<DB>,
    private readonly ttlMs = 2000,
  ) {
    this.store = new OrgStore(db)
  }

  async authenticate(token: string): Promise<ScimPrincipal | undefined> {
    const key = hashToken(token).toString('base64')
    const now = Date.now()
    const hit = this.cache.get(key)
    if (hit && hit.until > now) return hit.principal
    const principal = await authenticateScimToken(this.db, token)
    if (!principal) {
      this.cache.delete(key)
      return undefined
    }
    // Bounded: a flood of distinct valid tokens cannot grow it without end.
    if (this.cache.size >= 10_000) this.cache.clear()
    this.cache.set(key, { principal, until: now + this.ttlMs })
    return principal
  }

  /** Audits a request with a valid token from outside the token's allowlist, as its source. */
  async recordDenial(
    principal: ScimPrincipal,
    request: DeniedRequest & { requestId: string | null; userAgent?: string },
  ): Promise<void> {
    const { requestId, userAgent, ...denied } = request
    await auditDenial(
      this.store,
      {
        type: 'source',
        id: principal.sourceId,
        name: `${principal.sourceName} (SCIM token ${principal.tokenId})`,
        ip: denied.ip,
        requestId,
        userAgent,
      },
      { type: 'scim-token', id: principal.tokenId },
      denied,
    )
  }

  forgetToken(tokenId: string): void {
    for (const [key, entry] of this.cache) if (entry.principal.tokenId === tokenId) this.cache.delete(key)
  }
}
