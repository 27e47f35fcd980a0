import type { Actor } from '../org/actor'
import type { ClaimSource } from '../org/identity-claims'
import { parseSourcePolicy } from '../org/source-policy'

/** Who is calling: the SCIM source the bearer token belongs to, and that token. */
export interface ScimCaller {
  sourceId: string
  sourceName: string
  tokenId: string
  sourcePrecedence: number
  sourceCreatedAt: Date
  sourcePolicy: unknown
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

/** The source's reconciliation settings, as read with the token on this request. */
export function claimSource(caller: ScimCaller): ClaimSource {
  return {
    id: caller.sourceId,
    name: caller.sourceName,
    precedence: caller.sourcePrecedence,
    createdAt: caller.sourceCreatedAt,
    policy: parseSourcePolicy(caller.sourcePolicy),
  }
}
