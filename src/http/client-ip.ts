import { cidrSet } from '../admin/network-policy'

/** Express's `trust proxy` function: told each hop's address, nearest first (hop 0 is the socket's peer). */
export type TrustProxy = (address: string, hop: number) => boolean

/**
 * Trusts the hops whose address is in `cidrs` (ORGSYNC_TRUSTED_PROXIES), so that
 * `app.set('trust proxy', trustProxies(config.trustedProxies))` makes `req.ip` the address the
 * nearest untrusted hop connected from: X-Forwarded-For is read right to left only while each
 * address so far is a trusted proxy, so entries a client wrote itself further left are never
 * believed. With no trusted proxies, X-Forwarded-For is ignored and `req.ip` is the socket's peer.
 * Throws an AppError 'invalid' naming each bad entry (config validates them before this).
 */
export function trustProxies(cidrs: readonly string[]): TrustProxy {
  if (cidrs.length === 0) return () => false
  const proxies = cidrSet(cidrs)
  return (address) => proxies.has(address)
}
