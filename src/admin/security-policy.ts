import { sql, type Kysely } from 'kysely'
import { isIP } from 'node:net'
import { z } from 'zod'
import type { DB } from '../db/schema'

/** Operations that need a second global admin when the policy lists them (all, by default). */
export const CRITICAL_OPERATIONS = [
  'plan.approve',
  'held-leavers.approve',
  'grant.global-admin',
  'grant.revoke-global-admin',
  'grant.long-temporary',
  'source.delete',
  'source.revoke-all-tokens',
  'policy.update',
  'audit.export-all',
] as const
export type CriticalOperation = (typeof CRITICAL_OPERATIONS)[number]

/** An IPv4 or IPv6 address or CIDR block, e.g. `10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`. */
export const cidr = z.string().refine(
  (text) => {
    const [address, bits, extra] = text.split('/')
    if (extra !== undefined || !address) return false
    const family = isIP(address)
    if (family === 0) return false
    if (bits === undefined) return true
    if (!/^\d{1,3}$/.test(bits)) return false
    return Number(bits) <= (family === 4 ? 32 : 128)
  },
  { message: 'must be an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)' },
)

export const securityPolicySchema = z
  .object({
    twoFactor: z
      .object({
        /** Global admins must sign in with a second factor. */
        requiredForGlobalAdmins: z.boolean().default(true),
        /** Further roles (built-in or custom) whose holders must use a second factor. */
        requiredForRoles: z.array(z.string().min(1)).max(100).default([]),
      })
      .strict()
      .prefault({}),
    dualApproval: z
      .object({
        operations: z.array(z.enum(CRITICAL_OPERATIONS)).default([...CRITICAL_OPERATIONS]),
        requestTtlHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 14)
          .default(24),
        /**
         * With a single active global admin nobody could approve: operations then proceed, audited
         * as `approval waived: sole global admin`. Set false to make them wait for a second one.
         */
        allowSoleGlobalAdmin: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    grants: z
      .object({
        /** A temporary grant longer than this needs a second global admin. */
        maxTemporaryHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 365)
          .default(72),
      })
      .strict()
      .prefault({}),
    network: z
      .object({
        /** CIDRs the admin API may be used from; empty: from anywhere. */
        adminAllowlist: z.array(cidr).max(1000).default([]),
      })
      .strict()
      .prefault({}),
    signIn: z
      .object({
        maxFailures: z.number().int().min(1).max(100).default(5),
        lockoutMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(15),
        sessionHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 30)
          .default(12),
        idleMinutes: z
          .number()
          .int()
          .min(5)
          .max(24 * 60)
          .default(60),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** Days audit events are kept; null: forever. */
        retentionDays: z.number().int().min(1).max(36500).nullable().default(null),
      })
      .strict()
      .prefault({}),
  })
  .strict()

export type SecurityPolicy = z.infer<typeof securityPolicySchema>

export const DEFAULT_POLICY: SecurityPolicy = securityPolicySchema.parse({})

const KEY = 'security-policy'
const CACHE_MS = 5000

/**
 * The security policy, stored in `settings` and read through a short cache: every admin request
 * consults it (allowlist, 2FA), and a change made on another replica takes effect within seconds.
 * A change made here takes effect at once.
 */
export class SecurityPolicyStore {
  #cached: { policy: SecurityPolicy; at: number } | undefined

  constructor(private readonly db: Kysely<DB>) {}

  async get(): Promise<SecurityPolicy> {
    const now = Date.now()
    if (this.#cached && now - this.#cached.at < CACHE_MS) return this.#cached.policy
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', KEY).executeTakeFirst()
    // A stored policy from an older release gains the defaults of fields added since.
    const policy = row ? securityPolicySchema.parse(row.value) : DEFAULT_POLICY
    this.#cached = { policy, at: now }
    return policy
  }

  /** Writes inside the caller's transaction (the caller audits the change). */
  async save(trx: Kysely<DB>, policy: SecurityPolicy): Promise<void> {
    const value = JSON.stringify(policy)
    await trx
      .insertInto('settings')
      .values({ key: KEY, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: sql`now()` }))
      .execute()
    this.#cached = undefined
  }

  /** Forget the cached copy (after a transaction that saved a policy commits). */
  invalidate(): void {
    this.#cached = undefined
  }
}
