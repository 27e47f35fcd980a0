import { z } from 'zod'

/** The person attributes a source can supply, each with its own precedence between sources. */
export const PERSON_ATTRIBUTES = [
  'userName',
  'displayName',
  'givenName',
  'familyName',
  'email',
  'employeeNumber',
  'title',
  'departmentId',
  'managerId',
] as const
export type PersonAttribute = (typeof PERSON_ATTRIBUTES)[number]

/**
 * How the sync engine treats one source. Stored on the source; every field has a safe default so
 * a new source is guarded from its first run.
 */
export const sourcePolicySchema = z
  .object({
    /** How an identity of this source finds an existing person before a new one is created. */
    matchBy: z.enum(['email', 'employeeNumber', 'userName']).default('email'),
    /**
     * Lower wins. An attribute takes its value from the linked source with the lowest number for it
     * (the source's `precedence` unless overridden here per attribute).
     */
    attributePrecedence: z
      .partialRecord(z.enum(PERSON_ATTRIBUTES), z.number().int().min(0).max(10000))
      .default({}),
    /** A plan suspending or deprovisioning more than this many people, or this share of the source's, is held. */
    deletionThreshold: z
      .object({
        count: z.number().int().min(0).default(500),
        share: z.number().min(0).max(1).default(0.2),
      })
      .prefault({}),
    /**
     * SCIM pushes: more leavers (disables and deletes) than `count` within `windowMinutes` are accepted
     * at the protocol level but held for an admin instead of suspending people — a misfiring
     * assignment change in the identity provider must not suspend the company.
     */
    scimLeaverGuard: z
      .object({
        count: z.number().int().min(0).default(50),
        windowMinutes: z
          .number()
          .int()
          .min(1)
          .max(60 * 24 * 30)
          .default(60),
      })
      .prefault({}),
    /** Days between suspension (a leaver) and deprovisioning. */
    gracePeriodDays: z.number().int().min(0).max(3650).default(30),
    /** User names never suspended or deprovisioned automatically (besides people marked protected). */
    protectedUserNames: z.array(z.string().min(1)).default([]),
  })
  .strict()

export type SourcePolicy = z.infer<typeof sourcePolicySchema>

export function parseSourcePolicy(value: unknown): SourcePolicy {
  return sourcePolicySchema.parse(value ?? {})
}
