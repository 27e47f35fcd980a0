import { type RemoteUser } from '../../src/sync/connector'
import { type GoogleUser } from './google-directory'

/**
 * A Directory API user as a RemoteUser. organizations, relations and externalIds are typed `any`
 * by the generated client, so they are read field by field here.
 */

/** Where the user's department comes from: their org unit (resolved by the caller), or the organization's department. */
export type DepartmentSource =
  | {
      from: 'orgUnitPath'
      departmentOf: (orgUnitPath: string | null | undefined, userName: string) => string | null
    }
  | { from: 'organization' }

interface Organization {
  title?: string
  department?: string
  primary?: boolean
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value)
    ? value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)
    : []
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

/** The primary organization, or the only one when none is marked primary. */
export function primaryOrganization(user: GoogleUser): Organization | undefined {
  const orgs = records(user.organizations)
  const chosen = orgs.find((o) => o.primary === true) ?? (orgs.length === 1 ? orgs[0] : undefined)
  if (!chosen) return undefined
  return { title: str(chosen.title), department: str(chosen.department), primary: chosen.primary === true }
}

/** The manager relation's value: Google keeps what the admin typed, normally the manager's email. */
export function managerEmail(user: GoogleUser): string | undefined {
  const relation = records(user.relations).find((r) => r.type === 'manager')
  const value = str(relation?.value)
  return value !== undefined && value.includes('@') ? value : undefined
}

/** The employee id: the externalId of type "organization". */
export function employeeNumber(user: GoogleUser): string | undefined {
  return str(records(user.externalIds).find((e) => e.type === 'organization')?.value)
}

export function toRemoteUser(user: GoogleUser, departments: DepartmentSource): RemoteUser | null {
  const id = str(user.id)
  const email = str(user.primaryEmail)
  if (id === undefined || email === undefined) return null
  const name = user.name ?? {}
  const givenName = str(name.givenName) ?? null
  const familyName = str(name.familyName) ?? null
  const org = primaryOrganization(user)
  const manager = managerEmail(user)
  const remote: RemoteUser = {
    externalId: id,
    userName: email,
    displayName: str(name.fullName) ?? ([givenName, familyName].filter(Boolean).join(' ') || null),
    givenName,
    familyName,
    email,
    employeeNumber: employeeNumber(user) ?? null,
    title: org?.title ?? null,
    manager: manager === undefined ? null : { email: manager },
    // A suspended account is a leaver; so is an archived one (kept for its data, not for work).
    active: user.suspended !== true && user.archived !== true,
    raw: user,
  }
  if (departments.from === 'organization') {
    remote.departmentPath = org?.department === undefined ? [] : [org.department]
  } else {
    remote.departmentExternalId = departments.departmentOf(user.orgUnitPath, email)
  }
  return remote
}
