import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** A new bearer secret: a recognisable prefix (secret scanners, logs) and 256 random bits. */
export function generateToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`
}

/**
 * Tokens are stored as SHA-256 digests. They carry 256 bits of entropy (or at least 24 chars when an
 * operator sets one), so a fast hash suffices and lookups can go by digest.
 */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}
