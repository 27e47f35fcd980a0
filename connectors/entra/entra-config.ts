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
    authorityHost: url('authorityHost').default('https://login.microsoftonline.com'),
    graphBaseUrl: url('graphBaseUrl').default('https://graph.microsoft.com'),
    /** Only members of these groups (object ids) are synced; direct members, users only. */
    scopeGroups: z.array(z.string().min(1)).max(50).optional(),
    departmentAttribute: z.enum(DEPARTMENT_ATTRIBUTES).default('department'),
    departmentDelimiter: z.string().min(1).max(8).default('/'),
    /** A path every department goes under ("Contoso" → "Contoso/Finance"). */
    departmentRoot: z.string().min(1).optional(),
    /** Objects per Graph page (Prefer: odata.maxpagesize). */
    pageSize: z.number().int().min(1).max(999).default(999),
  })
  .strict()
  .refine((c) => c.clientSecret !== undefined || c.certificate !== undefined, {
    message: 'clientSecret or certificate is required',
  })

export type EntraConfig = z.infer<typeof entraConfigSchema>
