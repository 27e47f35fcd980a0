import type { RemoteUser } from '../../src/sync/connector'
import type { EntraConfig } from './entra-config'

/** A user object as users/delta returns it (only the properties we select, and annotations). */
export interface GraphUserObject {
  id: string
  userPrincipalName?: string | null
  mail?: string | null
  displayName?: string | null
  givenName?: string | null
  surname?: string | null
  department?: string | null
  officeLocation?: string | null
  companyName?: string | null
  jobTitle?: string | null
  employeeId?: string | null
  accountEnabled?: boolean | null
  'manager@delta'?: { id: string; '@odata.type'?: string; '@removed'?: { reason: string } }[]
  '@removed'?: { reason: 'changed' | 'deleted' | string }
}

export const USER_SELECT = [
  'id',
  'userPrincipalName',
  'mail',
  'displayName',
  'givenName',
  'surname',
  'jobTitle',
  'employeeId',
  'accountEnabled',
  'manager',
]

/** The department attribute as a path: root first, then the value split on the delimiter. */
function departmentPath(value: string | null | undefined, config: EntraConfig): string[] {
  if (!value || value.trim() === '') return []
  const root = config.departmentRoot ? config.departmentRoot.split(config.departmentDelimiter) : []
  return [...root, ...value.split(config.departmentDelimiter)].map((n) => n.trim()).filter((n) => n !== '')
}

/**
 * A Graph user as the engine's record. A `whole` object (a full listing) says everything: what it
 * lacks is empty. Otherwise (a delta round's update) only the properties present changed, and
 * the rest stay undefined so the engine keeps what it has — Graph's users/delta documents
 * "at least the updated properties" for updates.
 */
export function toRemoteUser(
  u: GraphUserObject,
  config: EntraConfig,
  whole: boolean,
): Partial<RemoteUser> & { externalId: string } {
  const has = (key: keyof GraphUserObject) => whole || key in u
  const pick = <K extends keyof GraphUserObject>(key: K) => (has(key) ? (u[key] ?? null) : undefined)
  const managers = u['manager@delta']
  const manager =
    managers !== undefined
      ? managers.length === 0 || managers[managers.length - 1]!['@removed']
        ? null
        : { externalId: managers[managers.length - 1]!.id }
      : whole
        ? null
        : undefined
  const attribute = config.departmentAttribute
  return {
    externalId: u.id,
    userName: (pick('userPrincipalName') as string | null | undefined) ?? undefined,
    email: pick('mail') as string | null | undefined,
    displayName: pick('displayName') as string | null | undefined,
    givenName: pick('givenName') as string | null | undefined,
    familyName: pick('surname') as string | null | undefined,
    title: pick('jobTitle') as string | null | undefined,
    employeeNumber: pick('employeeId') as string | null | undefined,
    active: has('accountEnabled') ? u.accountEnabled !== false : undefined,
    departmentPath: has(attribute)
      ? departmentPath(u[attribute] as string | null | undefined, config)
      : undefined,
    manager,
    raw: u,
  }
}
