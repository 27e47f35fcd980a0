import type { Kysely } from 'kysely'
import type { DB } from '../db/schema'
import type { Actor } from '../org/actor'
import type { ClaimSource } from '../org/identity-claims'
import { parseSourcePolicy } from '../org/source-policy'
import { ScimError } from './scim-error'

/** Who is calling: the SCIM source the bearer token belongs to, and that token. */
export interface ScimCaller {
  sourceId: string
  sourceName: string
  tokenId: string
  ip: string | null
  requestId: string | null
}

/** Every SCIM write is audited as the source, naming the token that made it. */
export function scimActor(caller: ScimCaller): Actor {
  return {
    type: 'source',
    id: caller.sourceId,
    name: `${caller.sourceName} (SCIM token ${caller.tokenId})`,
    ip: caller.ip,
    requestId: caller.requestId,
  }
}

/** The source's reconciliation settings, read at each write so a policy change applies at once. */
export async function claimSource(db: Kysely<DB>, caller: ScimCaller): Promise<ClaimSource> {
  const row = await db
    .selectFrom('sources')
    .select(['id', 'name', 'precedence', 'created_at', 'policy'])
    .where('id', '=', caller.sourceId)
    .executeTakeFirst()
  // The token was checked a moment ago: a source gone since is a conflict of timing, not bad input.
  if (!row) throw new ScimError(401, undefined, `source ${caller.sourceId} no longer exists`)
  return {
    id: row.id,
    name: row.name,
    precedence: row.precedence,
    createdAt: row.created_at,
    policy: parseSourcePolicy(row.policy),
  }
}
