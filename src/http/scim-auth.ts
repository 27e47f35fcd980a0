import type { RequestHandler } from 'express'
import type { ScimTokenAuthenticator } from '../admin/scim-tokens'
import { ScimError } from '../scim/scim-error'

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** SCIM bearer tokens: the token names the source the request is for. */
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
    res.locals.scim = principal
    next()
  }
}
