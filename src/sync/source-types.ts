import { z } from 'zod'

/**
 * What a source of each type may be configured with. The connectors that read these sources
 * arrive with their own issues and register the same schemas; until then a source of a known
 * type can be created and configured, and an unknown type is refused.
 */
export interface SourceType {
  readonly type: string
  readonly description: string
  readonly configSchema: z.ZodType<Record<string, unknown>>
  /** Config keys stored encrypted and never returned by the API. */
  readonly secretKeys: readonly string[]
}

const url = (what: string) => z.string().url({ message: `${what} must be a URL` })

const departmentMapping = {
  departmentAttribute: z.string().min(1).optional(),
  departmentDelimiter: z.string().min(1).max(8).optional(),
  departmentRoot: z.string().min(1).optional(),
}

export const sourceTypes: Readonly<Record<string, SourceType>> = {
  scim: {
    type: 'scim',
    description: 'An identity provider pushes users and groups over SCIM 2.0',
    configSchema: z.object({}).strict(),
    secretKeys: [],
  },
  csv: {
    type: 'csv',
    description: 'CSV files uploaded from an HR system',
    configSchema: z
      .object({
        delimiter: z.string().length(1).optional(),
        departmentDelimiter: z.string().min(1).max(8).optional(),
        columns: z.record(z.string(), z.string()).optional(),
      })
      .strict(),
    secretKeys: [],
  },
  fake: {
    type: 'fake',
    description: 'A connector seeded from JSON, for tests and demos',
    configSchema: z
      .object({
        users: z.array(z.record(z.string(), z.unknown())).optional(),
        departments: z.array(z.record(z.string(), z.unknown())).optional(),
        groups: z.array(z.record(z.string(), z.unknown())).optional(),
      })
      .strict(),
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

export function knownSourceTypes(): string[] {
  return Object.keys(sourceTypes).sort()
}
