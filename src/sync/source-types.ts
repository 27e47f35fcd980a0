import { z } from 'zod'
import type { ConnectorRegistry } from './connector'

/**
 * What a source of each type may be configured with. Types with a connector take it from the
 * connector registry; `scim` is pushed to, not pulled from. The entries below for entra, google and
 * ldap keep sources of those types valid in a build (or a test registry) without their connector:
 * a plan for such a source says the connector is not part of this build.
 */
export interface SourceType {
  readonly type: string
  readonly description: string
  readonly configSchema: z.ZodType<Record<string, unknown>>
  /** Config keys stored encrypted and never returned by the API. */
  readonly secretKeys: readonly string[]
  /** Fed by uploads (the plan request's body) rather than by reading an upstream system. */
  readonly upload?: boolean
}

const url = (what: string) => z.string().url({ message: `${what} must be a URL` })

const departmentMapping = {
  departmentAttribute: z.string().min(1).optional(),
  departmentDelimiter: z.string().min(1).max(8).optional(),
  departmentRoot: z.string().min(1).optional(),
}

const builtInSourceTypes: Readonly<Record<string, SourceType>> = {
  scim: {
    type: 'scim',
    description: 'An identity provider pushes users and groups over SCIM 2.0',
    configSchema: z.object({}).strict(),
    secretKeys: [],
  },
  entra: {
    type: 'entra',
    description: 'Microsoft Entra ID through Microsoft Graph',
    configSchema: z
      .object({
        tenantId: z.string().min(1),
        clientId: z.string().min(1),
        clientSecret: z.string().min(1).optional(),
        certificate: z.string().min(1).optional(),
        authorityHost: url('authorityHost').optional(),
        graphBaseUrl: url('graphBaseUrl').optional(),
        scopeGroups: z.array(z.string().min(1)).optional(),
        ...departmentMapping,
      })
      .strict()
      .refine((c) => c.clientSecret !== undefined || c.certificate !== undefined, {
        message: 'clientSecret or certificate is required',
      }),
    secretKeys: ['clientSecret', 'certificate'],
  },
  google: {
    type: 'google',
    description: 'Google Workspace through the Admin SDK Directory API',
    configSchema: z
      .object({
        serviceAccountKey: z.string().min(1),
        subject: z.string().email({ message: 'subject must be the email of a Workspace admin' }),
        customer: z.string().min(1).optional(),
        rootUrl: url('rootUrl').optional(),
        tokenUrl: url('tokenUrl').optional(),
        departmentsFrom: z.enum(['orgUnitPath', 'organization']).optional(),
      })
      .strict(),
    secretKeys: ['serviceAccountKey'],
  },
  ldap: {
    type: 'ldap',
    description: 'On-prem Active Directory or another LDAP directory',
    configSchema: z
      .object({
        url: z.string().regex(/^ldaps?:\/\/\S+$/, 'url must be an ldaps:// or ldap:// URL'),
        bindDn: z.string().min(1),
        bindPassword: z
          .string()
          .min(1, 'bindPassword must not be empty (an empty password is an anonymous bind)'),
        baseDn: z.string().min(1),
        flavour: z.enum(['ad', 'generic']).optional(),
        tlsCaFile: z.string().min(1).optional(),
        tlsCa: z.string().min(1).optional(),
        allowInsecure: z.boolean().optional(),
        userFilter: z.string().min(1).optional(),
        groupFilter: z.string().min(1).optional(),
        departmentsFrom: z.enum(['ou', 'attribute']).optional(),
        pageSize: z.number().int().min(1).max(5000).optional(),
      })
      .strict(),
    secretKeys: ['bindPassword'],
  },
}

export type SourceTypeCatalogue = Readonly<Record<string, SourceType>>

/** Every type a source may have: the built-in ones, and each registered connector's (which wins). */
export function sourceTypeCatalogue(registry: ConnectorRegistry): SourceTypeCatalogue {
  return { ...builtInSourceTypes, ...registry }
}
