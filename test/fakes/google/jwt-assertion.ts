import { createVerify, type KeyObject } from 'node:crypto'

export interface JwtAssertion {
  header: Record<string, unknown>
  claims: Record<string, unknown>
  signingInput: string
  signature: Buffer
}

function decodeJsonSegment(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}

/** Splits a compact JWS; null when it is not three base64url segments with JSON header and claims. */
export function parseJwt(token: string): JwtAssertion | null {
  const parts = token.split('.')
  if (parts.length !== 3) return null
  const [h, c, s] = parts as [string, string, string]
  const header = decodeJsonSegment(h)
  const claims = decodeJsonSegment(c)
  if (!header || !claims) return null
  return { header, claims, signingInput: `${h}.${c}`, signature: Buffer.from(s, 'base64url') }
}

export function verifyRs256(jwt: JwtAssertion, publicKey: KeyObject): boolean {
  if (jwt.header.alg !== 'RS256') return false
  return createVerify('RSA-SHA256').update(jwt.signingInput).verify(publicKey, jwt.signature)
}
