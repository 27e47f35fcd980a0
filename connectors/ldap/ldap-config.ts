import { z } from 'zod'

/**
 * An LDAP source: where the directory is and how to reach it safely (TLS unless explicitly
 * allowed otherwise), the bind account, what to read, and how departments are formed.
 */
export const ldapConfigSchema = z
  .object({
    url: z
      .string()
      .regex(
        /^ldaps?:\/\/[^\s/]+\/?$/,
        'url must be an ldaps:// or ldap:// URL (ldaps://host[:port], no path)',
      ),
    /** A DN (CN=svc-orgsync,CN=Users,DC=corp,DC=example) or, for AD, a UPN (svc-orgsync@corp.example). */
    bindDn: z.string().min(1),
    bindPassword: z
      .string()
      .min(1, 'bindPassword must not be empty (an empty password is an anonymous bind)'),
    baseDn: z.string().min(1),
    flavour: z.enum(['ad', 'generic']).optional(),
    /** PEM of the CA that signed the directory's certificate, or a file holding it. */
    tlsCa: z.string().min(1).optional(),
    tlsCaFile: z.string().min(1).optional(),
    /** ldap:// without StartTLS: passwords cross the network in clear. Tests and labs only. */
    allowInsecure: z.boolean().optional(),
    userFilter: z.string().min(1).optional(),
    groupFilter: z.string().min(1).optional(),
    departmentsFrom: z.enum(['ou', 'attribute']).optional(),
    /** With departmentsFrom "attribute": the attribute and the delimiter splitting it into a path. */
    departmentAttribute: z.string().min(1).optional(),
    departmentDelimiter: z.string().min(1).max(8).optional(),
    /** Only entries under these DNs (OUs within baseDn) are read. */
    includeOus: z.array(z.string().min(1)).optional(),
    /** OUs (with their sub-OUs) that are not departments, e.g. OU=Groups; users in them have none. */
    ignoredOus: z.array(z.string().min(1)).optional(),
    /** Entries at or under these DNs are skipped (service accounts, test OUs, …). */
    excludeDns: z.array(z.string().min(1)).optional(),
    /**
     * How deleted users are found: `compare` (every run compares the full objectGUID listing with
     * what this source has; any account can) or `tombstones` (a Show Deleted search; the account
     * needs read access to CN=Deleted Objects).
     */
    deletedObjects: z.enum(['compare', 'tombstones']).optional(),
    /**
     * How AD incremental runs read changes: `usn` (uSNChanged since the last run; any account) or
     * `dirsync` (AD's DirSync control; the account needs "Replicating Directory Changes").
     */
    incremental: z.enum(['usn', 'dirsync']).optional(),
    pageSize: z.number().int().min(1).max(5000).optional(),
    timeoutMs: z.number().int().min(1000).max(600_000).optional(),
  })
  .strict()
  .refine((c) => !(c.tlsCa && c.tlsCaFile), { message: 'give tlsCa or tlsCaFile, not both' })
  .refine((c) => !(c.incremental === 'dirsync' && c.flavour === 'generic'), {
    message: 'incremental "dirsync" is for Active Directory (flavour "ad") only',
  })

/** The settings as saved (what the admin gave; defaults are not stored, so they can improve). */
export type LdapSettings = z.infer<typeof ldapConfigSchema>

const DEFAULTS = {
  flavour: 'ad',
  allowInsecure: false,
  departmentsFrom: 'ou',
  departmentAttribute: 'department',
  departmentDelimiter: '/',
  deletedObjects: 'compare',
  incremental: 'usn',
  pageSize: 500,
  timeoutMs: 60_000,
} satisfies Partial<LdapSettings>

/** The settings with every default filled in, as the connector uses them. */
export type LdapConfig = Omit<LdapSettings, keyof typeof DEFAULTS> &
  Required<Pick<LdapSettings, keyof typeof DEFAULTS>>

export function withDefaults(settings: LdapSettings): LdapConfig {
  const given = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined))
  // inetOrgPerson has no `department`: generic servers keep it in departmentNumber.
  const flavoured = settings.flavour === 'generic' ? { departmentAttribute: 'departmentNumber' } : {}
  return { ...DEFAULTS, ...flavoured, ...given } as LdapConfig
}

export const AD_USER_FILTER = '(&(objectCategory=person)(objectClass=user))'
export const AD_GROUP_FILTER = '(objectClass=group)'
export const GENERIC_USER_FILTER = '(|(objectClass=inetOrgPerson)(objectClass=person))'
export const GENERIC_GROUP_FILTER = '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))'
