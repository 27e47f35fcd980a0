import { z } from 'zod'

const url = (what: string) => z.string().url({ message: `${what} must be a URL` })

/** Graph user properties a department may be read from (they must be selectable on users/delta). */
export const DEPARTMENT_ATTRIBUTES = ['department', 'officeLocation', 'companyName', 'jobTitle'] as const

/**
 * An Entra ID source: the app registration (client credentials: a secret, or a certificate with its
 * private key in one PEM), where the tenant lives (national clouds have other hosts), how a user's
 * department attribute becomes a department path, and which groups scope the sync.
 */
export const entraConfigSchema = z
  .object({
    tenantId: z.string().min(1),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1).optional(),
    /** PEM holding the certificate and its private key (as exported for the app registration). */
    certificate: z
      .string()
      .min(1)
      .refine((pem) => /-----BEGIN CERTIFICATE-----/.test(pem) && /PRIVATE KEY-----/.test(pem), {
        message: 'certificate must be a PEM holding both the certificate and its private key',
      })
      .optional(),
    authorityHost: url('authorityHost').optional(),
    graphBaseUrl: url('graphBaseUrl').optional(),
    /** Only members of these groups (object ids) are synced; direct members, users only. */
    scopeGroups: z.array(z.string().min(1)).max(50).optional(),
    departmentAttribute: z.enum(DEPARTMENT_ATTRIBUTES).optional(),
    departmentDelimiter: z.string().min(1).max(8).optional(),
    /** A path every department goes under ("Contoso" → "Contoso/Finance"). */
    departmentRoot: z.string().min(1).optional(),
    /** Objects per Graph page (Prefer: odata.maxpagesize). */
    pageSize: z.number().int().min(1).max(999).optional(),
  })
  .strict()
  .refine((c) => c.clientSecret !== undefined || c.certificate !== undefined, {
    message: 'clientSecret or certificate is required',
  })

/** The settings as saved (what the admin gave; defaults are not stored, so they can improve). */
export type EntraSettings = z.infer<typeof entraConfigSchema>

const DEFAULTS = {
  authorityHost: 'https://login.microsoftonline.com',
  graphBaseUrl: 'https://graph.microsoft.com',
  departmentAttribute: 'department',
  departmentDelimiter: '/',
  pageSize: 999,
} satisfies Partial<EntraSettings>

/** The settings with every default filled in, as the connector uses them. */
export type EntraConfig = Omit<EntraSettings, keyof typeof DEFAULTS> &
  Required<Pick<EntraSettings, keyof typeof DEFAULTS>>

export function withDefaults(settings: EntraSettings): EntraConfig {
  const given = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined))
  return { ...DEFAULTS, ...given } as EntraConfig
}
