import type { RemoteUser } from '../../src/sync/connector'
import { accountExpiry, guidFromBuffer, UAC_DISABLED } from './ad-values'
import { parseExtendedDn } from './distinguished-name'
import type { LdapConfig } from './ldap-config'
import { buffer, many, one, type LdapEntry } from './ldap-session'

export const AD_USER_ATTRIBUTES = [
  'objectGUID',
  'sAMAccountName',
  'userPrincipalName',
  'mail',
  'displayName',
  'givenName',
  'sn',
  'title',
  'department',
  'employeeID',
  'manager',
  'userAccountControl',
  'accountExpires',
  'uSNChanged',
]

export const GENERIC_USER_ATTRIBUTES = [
  'entryUUID',
  'uid',
  'mail',
  'displayName',
  'cn',
  'givenName',
  'sn',
  'title',
  'departmentNumber',
  'ou',
  'employeeNumber',
  'manager',
  'modifyTimestamp',
]

/** What to read of each user: the flavour's attributes and, in attribute mode, the department's. */
export function userAttributes(config: LdapConfig): string[] {
  const base = config.flavour === 'ad' ? AD_USER_ATTRIBUTES : GENERIC_USER_ATTRIBUTES
  const extra = config.departmentsFrom === 'attribute' ? config.departmentAttribute : undefined
  return extra && !base.some((a) => a.toLowerCase() === extra.toLowerCase()) ? [...base, extra] : base
}

/** The stable id: objectGUID (AD) or entryUUID (other servers), as a lower-case GUID string. */
export function entryId(entry: LdapEntry, config: LdapConfig): string | undefined {
  if (config.flavour === 'ad') {
    const b = buffer(entry, 'objectGUID')
    return b ? guidFromBuffer(b) : undefined
  }
  return one(entry, 'entryUUID')?.toLowerCase()
}

/** The readable part of an entry for the identity's raw record (binary values as text or hex). */
export function rawEntry(entry: LdapEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(entry)) {
    const conv = (x: unknown) => (Buffer.isBuffer(x) ? x.toString('hex') : x)
    out[k] = Array.isArray(v) ? v.map(conv) : conv(v)
  }
  if (Buffer.isBuffer(entry.objectGUID)) out.objectGUID = guidFromBuffer(entry.objectGUID)
  return out
}

/** Whether AD says the account can no longer be used: disabled, or past its expiry date. */
export function adInactive(entry: LdapEntry, now: Date): boolean {
  const uac = Number(one(entry, 'userAccountControl') ?? '0')
  if (Number.isFinite(uac) && (uac & UAC_DISABLED) !== 0) return true
  const expires = accountExpiry(one(entry, 'accountExpires'))
  return expires !== null && expires.getTime() <= now.getTime()
}

export interface DepartmentResolver {
  /** The department of an entry by where it sits (its OU), or null. */
  byPlacement(dn: string): string | null
}

export function toRemoteUser(
  entry: LdapEntry,
  config: LdapConfig,
  departments: DepartmentResolver,
  managerId: (value: string) => string | undefined,
  now: Date,
): RemoteUser | undefined {
  const externalId = entryId(entry, config)
  if (!externalId) return undefined
  const ad = config.flavour === 'ad'
  const userName = ad
    ? (one(entry, 'userPrincipalName') ?? one(entry, 'sAMAccountName'))
    : (one(entry, 'uid') ?? one(entry, 'mail'))
  if (!userName) return undefined
  const managerValue = one(entry, 'manager')
  const managerGuid = managerValue ? managerId(managerValue) : undefined
  const user: RemoteUser = {
    externalId,
    userName,
    displayName: one(entry, 'displayName') ?? (ad ? null : (one(entry, 'cn') ?? null)),
    givenName: one(entry, 'givenName') ?? null,
    familyName: one(entry, 'sn') ?? null,
    email: one(entry, 'mail') ?? null,
    employeeNumber: one(entry, ad ? 'employeeID' : 'employeeNumber') ?? null,
    title: one(entry, 'title') ?? null,
    manager: managerGuid ? { externalId: managerGuid } : null,
    active: ad ? !adInactive(entry, now) : true,
    raw: rawEntry(entry),
  }
  if (config.departmentsFrom === 'attribute') {
    const value = one(entry, config.departmentAttribute)
    user.departmentPath = value ? value.split(config.departmentDelimiter) : []
  } else {
    user.departmentExternalId = departments.byPlacement(parseExtendedDn(entry.dn).dn)
  }
  return user
}

/** Member values of a group entry, including AD's ranged `member;range=0-1499` form. */
export function memberValues(entry: LdapEntry): { values: string[]; nextRange?: number } {
  const keys = Object.keys(entry).filter(
    (k) => /^member(;range=\d+-(\d+|\*))?$/i.test(k) || /^uniqueMember$/i.test(k),
  )
  // A ranged answer may also carry an empty plain `member`: the ranged key holds the values.
  const key = keys.find((k) => many(entry, k).length > 0) ?? keys[0]
  if (!key) return { values: [] }
  const values = many(entry, key)
  const range = /;range=(\d+)-(\d+|\*)$/i.exec(key)
  if (range && range[2] !== '*') return { values, nextRange: Number(range[2]) + 1 }
  return { values }
}
