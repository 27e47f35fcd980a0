import { constants, createHash, verify, X509Certificate } from 'node:crypto'
import { generate } from 'selfsigned'
import { aadErrors, type AadError } from './aad-errors'

/**
 * Certificate credentials of the Microsoft identity platform ("Microsoft identity platform application
 * authentication certificate credentials"): the client sends
 * `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a `client_assertion`
 * JWT signed with the certificate's private key (RS256 with an `x5t` SHA-1 thumbprint, or PS256 with an
 * `x5t#S256` SHA-256 one, as msal-node does when given `thumbprintSha256`), claims aud = the token
 * endpoint, iss = sub = the client id, jti, nbf, exp. Entra looks the thumbprint up among the app's
 * registered certificates and checks the signature with that certificate's public key.
 */

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** Entra's tolerance for clocks that disagree (nbf ahead of it, exp behind it). */
export const CLOCK_SKEW_SECONDS = 300

/** A certificate registered on the app (Certificates & secrets), found by either thumbprint. */
export class RegisteredCertificate {
  readonly x5t: string
  readonly x5tS256: string
  readonly cert: X509Certificate

  constructor(pem: string) {
    const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)
    if (!block) throw new Error('registerCertificate: no CERTIFICATE block in the PEM')
    this.cert = new X509Certificate(block[0])
    this.x5t = createHash('sha1').update(this.cert.raw).digest('base64url')
    this.x5tS256 = createHash('sha256').update(this.cert.raw).digest('base64url')
  }
}

export interface AssertionContext {
  clientId: string
  /** Audiences Entra accepts: the tenant's v2 and v1 token endpoints on this host. */
  audiences: string[]
  certificates: readonly RegisteredCertificate[]
  nowSeconds?: number
}

interface AssertionHeader {
  alg?: unknown
  x5t?: unknown
  'x5t#S256'?: unknown
}

interface AssertionClaims {
  aud?: unknown
  iss?: unknown
  sub?: unknown
  jti?: unknown
  nbf?: unknown
  exp?: unknown
}

function decodePart<T>(part: string): T | null {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) return null
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as T) : null
  } catch {
    return null
  }
}

/** Null when the assertion proves the client; otherwise the error Entra answers. */
export function verifyClientAssertion(assertion: string, ctx: AssertionContext): AadError | null {
  const parts = assertion.split('.')
  if (parts.length !== 3) return aadErrors.invalidJwt('Token format not valid.')
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string]
  const header = decodePart<AssertionHeader>(headerPart)
  const claims = decodePart<AssertionClaims>(claimsPart)
  if (!header || !claims || !/^[A-Za-z0-9_-]*$/.test(signaturePart)) {
    return aadErrors.invalidJwt('Token format not valid.')
  }
  if (header.alg !== 'RS256' && header.alg !== 'PS256') {
    return aadErrors.invalidJwt(`Unsupported signing algorithm '${String(header.alg)}'.`)
  }

  const s256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : null
  const sha1 = typeof header.x5t === 'string' ? header.x5t : null
  const registered = ctx.certificates.find(
    (c) => (s256 !== null && c.x5tS256 === s256) || (sha1 !== null && c.x5t === sha1),
  )
  if (!registered) {
    const given = s256 ?? sha1
    const hex = given ? Buffer.from(given, 'base64url').toString('hex').toUpperCase() : null
    return aadErrors.assertionKeyNotFound(ctx.clientId, hex)
  }

  const data = Buffer.from(`${headerPart}.${claimsPart}`, 'utf8')
  const signature = Buffer.from(signaturePart, 'base64url')
  const key = registered.cert.publicKey
  // PS256 per RFC 7518: MGF1 with SHA-256, a salt as long as the digest.
  const padding =
    header.alg === 'PS256'
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : { padding: constants.RSA_PKCS1_PADDING }
  let valid: boolean
  try {
    valid = verify('sha256', data, { key, ...padding }, signature)
  } catch {
    valid = false // not an RSA key, or a signature of the wrong length
  }
  if (!valid) return aadErrors.assertionBadSignature()

  if (claims.iss !== ctx.clientId || claims.sub !== ctx.clientId) return aadErrors.assertionClientMismatch()
  const aud = typeof claims.aud === 'string' ? claims.aud : ''
  if (!ctx.audiences.some((a) => a.toLowerCase() === aud.toLowerCase())) {
    return aadErrors.invalidJwt(`Token audience '${aud}' is not valid: it must be the token endpoint.`)
  }
  if (typeof claims.jti !== 'string' || claims.jti === '') {
    return aadErrors.invalidJwt("Token does not have a 'jti' claim.")
  }
  if (typeof claims.exp !== 'number') return aadErrors.invalidJwt("Token does not have an 'exp' claim.")
  const now = ctx.nowSeconds ?? Date.now() / 1000
  const nbf = typeof claims.nbf === 'number' ? claims.nbf : now
  if (nbf > now + CLOCK_SKEW_SECONDS || claims.exp < now - CLOCK_SKEW_SECONDS) {
    return aadErrors.assertionTimeRange(now, nbf, claims.exp)
  }
  return null
}

export interface ClientCertificate {
  /** The public certificate PEM, what is uploaded to the app registration. */
  certificate: string
  /** PKCS#8 private key PEM. */
  privateKey: string
  /** Key and certificate in one PEM, as the Entra connector's `certificate` setting takes it. */
  pem: string
}

/**
 * A throwaway certificate for client credentials. RSA, because msal-node signs PS256/RS256 (an EC key
 * cannot sign those); 2048 bits like Entra's minimum.
 */
export async function generateClientCertificate(commonName = 'orgsync test app'): Promise<ClientCertificate> {
  const notBeforeDate = new Date(Date.now() - 60_000)
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 7 * 24 * 3600_000),
  })
  return { certificate: pems.cert, privateKey: pems.private, pem: `${pems.private}\n${pems.cert}` }
}
