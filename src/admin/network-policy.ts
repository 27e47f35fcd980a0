import { BlockList, isIP } from 'node:net'
import type { RequestHandler } from 'express'
import { z } from 'zod'
import { AppError, invalid } from '../errors'
import type { Actor } from '../org/actor'
import type { OrgStore } from '../org/org-store'
import type { AdminPrincipal } from './authz/principal'
import type { SecurityPolicyStore } from './security-policy'

/**
 * Network policy: which addresses may use the admin API (the security policy's allowlist) or a SCIM
 * token (its own allowlist). An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket
 * reports for an IPv4 client) is the IPv4 address it carries, in rules and in clients alike; apart
 * from that, IPv4 rules match IPv4 clients only and IPv6 rules IPv6 clients only, so `::/0` does not
 * quietly admit every IPv4 address as well.
 */

const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/

/**
 * An address in the one form matching and audit events use: IPv4 as dotted quad (also when it came
 * IPv4-mapped), IPv6 compressed and lower case, with no zone id. Undefined for anything else (an
 * X-Forwarded-For entry with a port, a hostname, garbage).
 */
export function normalizeAddress(address: string | undefined | null): string | undefined {
  if (!address) return undefined
  const family = isIP(address)
  if (family === 4) return address
  if (family !== 6) return undefined
  // The zone (`fe80::1%eth0`) names a local interface, not part of who the client is.
  const bare = address.split('%')[0] ?? ''
  let canonical: string
  try {
    // WHATWG URL serialises IPv6 canonically (RFC 5952), and any embedded dotted quad as hex.
    canonical = new URL(`http://[${bare}]`).hostname.slice(1, -1)
  } catch {
    return undefined
  }
  const mapped = MAPPED_V4.exec(canonical)
  if (!mapped) return canonical
  const high = parseInt(mapped[1] ?? '0', 16)
  const low = parseInt(mapped[2] ?? '0', 16)
  return [high >> 8, high & 255, low >> 8, low & 255].join('.')
}

export interface CidrRule {
  family: 4 | 6
  address: string
  prefix: number
}

/** One allowlist entry as a rule, or why it is not one (the message names the entry). */
export function parseCidr(text: string): CidrRule | { error: string } {
  const bad = {
    error: `${JSON.stringify(text)} is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)`,
  }
  const [address = '', bits, extra] = text.split('/')
  if (extra !== undefined) return bad
  const family = isIP(address)
  if (family !== 4 && family !== 6) return bad
  const max = family === 4 ? 32 : 128
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return bad
  const prefix = bits === undefined ? max : Number(bits)
  if (prefix > max) return bad
  const normalized = normalizeAddress(address)
  if (normalized === undefined) return bad
  if (family === 6 && isIP(normalized) === 4) {
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8; a shorter prefix reaches beyond the mapped range and stays IPv6.
    if (prefix >= 96) return { family: 4, address: normalized, prefix: prefix - 96 }
    return { family: 6, address: address.toLowerCase(), prefix }
  }
  return { family, address: normalized, prefix }
}

/** A set of CIDR blocks: membership only (what an empty set means is the caller's business). */
export interface CidrSet {
  readonly size: number
  has(address: string | undefined | null): boolean
}

/** Parses every entry (an AppError 'invalid' names each bad one) into a set matched with node's BlockList. */
export function cidrSet(cidrs: readonly string[]): CidrSet {
  const errors: string[] = []
  const v4 = new BlockList()
  const v6 = new BlockList()
  for (const text of cidrs) {
    const rule = parseCidr(text)
    if ('error' in rule) errors.push(rule.error)
    else if (rule.family === 4) v4.addSubnet(rule.address, rule.prefix, 'ipv4')
    else v6.addSubnet(rule.address, rule.prefix, 'ipv6')
  }
  if (errors.length > 0) throw invalid(errors.join('; '), { invalid: errors })
  return {
    size: cidrs.length,
    has(address) {
      const client = normalizeAddress(address)
      if (client === undefined) return false
      return isIP(client) === 4 ? v4.check(client, 'ipv4') : v6.check(client, 'ipv6')
    },
  }
}

/** An allowlist: an empty one admits every address, as the policy documents. */
export interface Allowlist {
  /** True when the list is empty. */
  readonly anywhere: boolean
  allows(address: string | undefined | null): boolean
}

export function parseAllowlist(cidrs: readonly string[]): Allowlist {
  const set = cidrSet(cidrs)
  const anywhere = set.size === 0
  return { anywhere, allows: (address) => anywhere || set.has(address) }
}

// Every admin and SCIM request checks a list: parse each distinct list once. By identity first (the
// policy and token caches hand out the same, never mutated, array for a while), then by content (a
// policy or token re-read from the database).
const byIdentity = new WeakMap<readonly string[], Allowlist>()
const byContent = new Map<string, Allowlist>()
const MAX_CACHED = 1000

function cachedAllowlist(cidrs: readonly string[]): Allowlist {
  const known = byIdentity.get(cidrs)
  if (known) return known
  const key = JSON.stringify(cidrs)
  let list = byContent.get(key)
  if (!list) {
    list = parseAllowlist(cidrs)
    // Bounded: one entry per distinct list (a policy, each token's); a rare overflow just re-parses.
    if (byContent.size >= MAX_CACHED) byContent.clear()
    byContent.set(key, list)
  }
  byIdentity.set(cidrs, list)
  return list
}

/** Whether `address` may come in under `cidrs` (empty: from anywhere). Throws 'invalid' on a bad entry. */
export function ipAllowed(cidrs: readonly string[], address: string | undefined | null): boolean {
  return cachedAllowlist(cidrs).allows(address)
}

/**
 * Whether saving `newAllowlist` would shut out the admin saving it, seen from `callerIp` (the
 * request's `req.ip`, after the trusted-proxy rules). An empty list never locks anyone out; an
 * unknown caller address is locked out by any non-empty list.
 */
export function wouldLockOut(newAllowlist: readonly string[], callerIp: string | undefined | null): boolean {
  return !parseAllowlist(newAllowlist).allows(callerIp)
}

/** An allowlist in a request body: each bad entry is named in the 400. */
export const allowedCidrsSchema = z
  .array(z.string().max(100))
  .min(1, { message: 'must list at least one CIDR block; send null to allow any address' })
  .max(1000)
  .superRefine((cidrs, ctx) => {
    cidrs.forEach((text, i) => {
      const rule = parseCidr(text)
      if ('error' in rule) ctx.addIssue({ code: 'custom', path: [i], message: rule.error })
    })
  })

export interface DeniedRequest {
  ip: string
  path: string
  method: string
}

/** Records one refused request as `network.denied` (through the store, so it joins the audit chain). */
export async function auditDenial(
  store: OrgStore,
  actor: Actor,
  target: { type: string; id: string | null },
  request: DeniedRequest,
): Promise<void> {
  await store.write(actor, (w) =>
    w.audit({ action: 'network.denied', targetType: target.type, targetId: target.id, after: request }),
  )
}

/** The path without its query string: filters may carry personal data, and the route is what matters. */
export function pathOf(originalUrl: string): string {
  return originalUrl.split('?')[0] ?? originalUrl
}

/**
 * Refuses admin API and console requests from outside the policy's allowlist: 403, and a
 * `network.denied` audit event. Mount it before authentication, so a caller from elsewhere learns
 * nothing about tokens or sessions; mounted after, the event names the admin.
 */
export function adminAllowlist(deps: { policy: SecurityPolicyStore; store: OrgStore }): RequestHandler {
  return async (req, res, next) => {
    const policy = await deps.policy.get()
    const list = policy.network.adminAllowlist
    if (ipAllowed(list, req.ip)) return next()
    const ip = normalizeAddress(req.ip) ?? req.ip ?? 'unknown'
    const admin = res.locals.admin as AdminPrincipal | undefined
    const seenAs = {
      ip,
      requestId: typeof req.id === 'string' ? req.id : null,
      userAgent: req.get('user-agent'),
    }
    const actor: Actor = admin
      ? { type: 'admin', id: admin.adminId, name: admin.name, ...seenAs }
      : { type: 'system', id: 'network-policy', name: 'network-policy', ...seenAs }
    try {
      await auditDenial(
        deps.store,
        actor,
        { type: 'network', id: null },
        { ip, path: pathOf(req.originalUrl), method: req.method },
      )
    } catch (err) {
      // The refusal stands either way; a lost audit event is the log's to report, not the caller's.
      req.log?.error({ err, ip }, 'could not record the network.denied audit event')
    }
    throw new AppError('forbidden', `your address ${ip} is not in the admin API's IP allowlist`)
  }
}
