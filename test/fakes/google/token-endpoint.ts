import { type AccessTokens } from './access-tokens'
import { tokenErrors, type TokenError } from './google-errors'
import { type GoogleFakeQuirks } from './google-types'
import { parseJwt, verifyRs256 } from './jwt-assertion'
import { type ServiceAccount } from './service-account-key'

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

/**
 * Audiences Google's token endpoint accepts. google-auth-library always signs
 * https://oauth2.googleapis.com/token even when the request is sent elsewhere, so the fake must accept it.
 */
const GOOGLE_AUDIENCES = [
  'https://oauth2.googleapis.com/token',
  'https://www.googleapis.com/oauth2/v4/token',
  'https://accounts.google.com/o/oauth2/token',
]

/** Tolerated clock difference between the signer and the fake (a guess; Google does not publish it). */
const CLOCK_SKEW_SECONDS = 300
const MAX_ASSERTION_LIFETIME_SECONDS = 3600

export interface TokenEndpointContext {
  serviceAccount: ServiceAccount
  tokenUrl: string
  quirks: GoogleFakeQuirks
  tokens: AccessTokens
  userExists(email: string): boolean
  now(): number
}

export interface TokenSuccess {
  status: 200
  body: { access_token: string; expires_in: number; token_type: 'Bearer' }
}

export function handleTokenRequest(
  form: URLSearchParams,
  ctx: TokenEndpointContext,
): TokenSuccess | TokenError {
  const grantType = form.get('grant_type') ?? ''
  if (grantType !== JWT_BEARER_GRANT) return tokenErrors.unsupportedGrantType(grantType)
  const assertion = form.get('assertion')
  if (!assertion) return tokenErrors.invalidRequest('Missing required parameter: assertion')
  const jwt = parseJwt(assertion)
  if (!jwt) return tokenErrors.badSignature()

  const { claims } = jwt
  if (claims.iss !== ctx.serviceAccount.json.client_email) return tokenErrors.unknownServiceAccount()
  // A key id names one of the account's keys; any other id means a deleted or foreign key.
  if (jwt.header.kid !== undefined && jwt.header.kid !== ctx.serviceAccount.json.private_key_id) {
    return tokenErrors.badSignature()
  }
  if (!verifyRs256(jwt, ctx.serviceAccount.publicKey)) return tokenErrors.badSignature()
  if (typeof claims.aud !== 'string' || ![...GOOGLE_AUDIENCES, ctx.tokenUrl].includes(claims.aud)) {
    return tokenErrors.badAudience()
  }
  const nowSeconds = Math.floor(ctx.now() / 1000)
  const { iat, exp } = claims
  if (
    typeof iat !== 'number' ||
    typeof exp !== 'number' ||
    iat > nowSeconds + CLOCK_SKEW_SECONDS ||
    exp <= nowSeconds - CLOCK_SKEW_SECONDS ||
    exp <= iat ||
    exp - iat > MAX_ASSERTION_LIFETIME_SECONDS
  ) {
    return tokenErrors.badTimes()
  }
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []
  if (scopes.length === 0) return tokenErrors.missingScope()

  let subject: string | null = null
  if (claims.sub !== undefined) {
    if (typeof claims.sub !== 'string' || !ctx.userExists(claims.sub)) return tokenErrors.unknownSubject()
    // Impersonation needs every requested scope in the admin console's delegation grant.
    const granted = new Set(ctx.quirks.delegationScopes)
    if (!scopes.every((s) => granted.has(s))) return tokenErrors.notDelegated()
    subject = claims.sub.toLowerCase()
  }
  const lifetime = ctx.quirks.tokenLifetimeSeconds
  return {
    status: 200,
    body: {
      access_token: ctx.tokens.issue(subject, scopes, lifetime, ctx.now()),
      expires_in: lifetime,
      token_type: 'Bearer',
    },
  }
}
