import { z } from 'zod'

/**
 * What a Google Workspace source is configured with. The keys are the ones src/sync/source-types.ts
 * has accepted since before this connector existed, so sources saved then still validate.
 */

/** The fields of a service account key file this connector uses. */
export interface ServiceAccountKey {
  client_email: string
  private_key: string
  /** The numeric id an admin grants domain-wide delegation to; absent in hand-trimmed keys. */
  client_id?: string
}

export type KeyParse = { ok: true; key: ServiceAccountKey } | { ok: false; reason: string }

const downloadHint =
  'paste the whole JSON key file of the service account (Google Cloud console → IAM & Admin → ' +
  'Service accounts → Keys → Add key → JSON)'

/**
 * Reads the key file's JSON. The reasons never quote the text: it is a secret, and JSON.parse's own
 * messages include a slice of their input.
 */
export function parseServiceAccountKey(text: string): KeyParse {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, reason: `is not JSON: ${downloadHint}` }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, reason: `is not a JSON object: ${downloadHint}` }
  }
  const fields = json as Record<string, unknown>
  const missing = ['client_email', 'private_key'].filter(
    (k) => typeof fields[k] !== 'string' || (fields[k] as string).trim() === '',
  )
  if (missing.length > 0) {
    const type = typeof fields.type === 'string' ? ` (its type is "${fields.type}")` : ''
    return {
      ok: false,
      reason: `has no ${missing.join(' or ')}${type}: it must be a service account key; ${downloadHint}`,
    }
  }
  const privateKey = fields.private_key as string
  if (!privateKey.includes('-----BEGIN') || !privateKey.includes('PRIVATE KEY-----')) {
    return { ok: false, reason: `has a private_key that is not a PEM private key: ${downloadHint}` }
  }
  const key: ServiceAccountKey = { client_email: fields.client_email as string, private_key: privateKey }
  if (typeof fields.client_id === 'string' && fields.client_id !== '') key.client_id = fields.client_id
  return { ok: true, key }
}

const url = (what: string) => z.string().url({ message: `${what} must be a URL` })

export const googleConfigSchema = z
  .object({
    serviceAccountKey: z
      .string()
      .min(1, { message: `serviceAccountKey must not be empty: ${downloadHint}` })
      .superRefine((text, ctx) => {
        const parsed = parseServiceAccountKey(text)
        if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `serviceAccountKey ${parsed.reason}` })
      }),
    /** The admin the service account acts as (domain-wide delegation). */
    subject: z.string().email({ message: 'subject must be the email of a Workspace admin' }),
    /** The Workspace customer id ("C01abcdef"); the admin's own account by default. */
    customer: z.string().min(1).optional(),
    /** Where the Directory API is (a proxy, a fake); https://admin.googleapis.com/ by default. */
    rootUrl: url('rootUrl').optional(),
    /** Where access tokens come from; Google's token endpoint by default. */
    tokenUrl: url('tokenUrl').optional(),
    /**
     * orgUnitPath: the department tree is the org unit tree. organization: each user's primary
     * organization's department names a top-level department (for Workspaces that keep org units
     * for policy, not for the org chart).
     */
    departmentsFrom: z.enum(['orgUnitPath', 'organization']).optional(),
  })
  .strict()

export type GoogleConfig = z.infer<typeof googleConfigSchema>

export const DEFAULT_CUSTOMER = 'my_customer'
