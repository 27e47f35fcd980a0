import type { RequestHandler } from 'express'
import { ipAllowed, normalizeAddress, pathOf } from '../admin/network-policy'
import type { ScimTokenAuthenticator } from '../admin/scim-tokens'
import { ScimError } from '../scim/scim-error'

const BEARER = /^Bearer\s+(\S+)\s*$/i

/**
 * SCIM bearer tokens: the token names the source the request is for. A token with an allowlist
 * works only from its addresses (`req.ip`, after the trusted-proxy rules); from elsewhere the
 * request is a 403 and a `network.denied` audit event, so the IdP's admin sees why and ours sees who.
 */
export function requireScimToken(tokens: ScimTokenAuthenticator): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization
    if (!header)
      throw new ScimError(401, undefined, 'missing bearer token: send Authorization: Bearer <SCIM token>')
    const token = BEARER.exec(header)?.[1]
    if (!token) throw new ScimError(401, undefined, 'the Authorization header must be "Bearer <SCIM token>"')
    const principal = await tokens.authenticate(token)
    if (!principal)
      throw new ScimError(
        401,
        undefined,
        'the SCIM token is not valid (unknown or revoked, or its source is disabled)',
      )
    if (principal.allowedCidrs && !ipAllowed(principal.allowedCidrs, req.ip)) {
      const ip = normalizeAddress(req.ip) ?? req.ip ?? 'unknown'
      try {
        await tokens.recordDenial(principal, {
          ip,
          path: pathOf(req.originalUrl),
          method: req.method,
          requestId: typeof req.id === 'string' ? req.id : null,
          userAgent: req.get('user-agent'),
        })
      } catch (err) {
        // The refusal stands either way: a 500 would only make the provider retry.
        req.log?.error({ err, ip }, 'could not record the network.denied audit event')
      }
      throw new ScimError(
        403,
        undefined,
        `requests from ${ip} may not use this SCIM token: the address is not in the token's allowed CIDRs`,
      )
    }
    res.locals.scim = principal
    next()
  }
}
