import type { PersonClaim } from '../org/identity-claims'
import { ENTERPRISE_USER_URN } from './filter'
import { ORGSYNC_USER_URN, type ScimUserDoc } from './schema'

type Obj = Record<string, unknown>

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null)
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {})

/** The address a person is reached at: the primary email, else the work one, else the first. */
function emailOf(doc: ScimUserDoc): string | null {
  const emails = Array.isArray(doc.emails) ? (doc.emails as Obj[]) : []
  const pick =
    emails.find((e) => e.primary === true) ??
    emails.find((e) => typeof e.type === 'string' && e.type.toLowerCase() === 'work') ??
    emails[0]
  return str(pick?.value)
}

/**
 * What a SCIM user says about the person: core name, email and title; the enterprise extension's
 * employeeNumber, department (a "/"-separated path, as in CSV uploads) and manager (that user's SCIM
 * id in this source); the orgsync extension's departmentPath, which wins over `department`.
 */
export function claimOf(doc: ScimUserDoc): PersonClaim {
  const name = obj(doc.name)
  const enterprise = obj(doc[ENTERPRISE_USER_URN])
  const orgsync = obj(doc[ORGSYNC_USER_URN])
  const givenName = str(name.givenName)
  const familyName = str(name.familyName)
  const joined = [givenName, familyName].filter((p) => p !== null).join(' ')
  return {
    userName: String(doc.userName).trim(),
    displayName: str(doc.displayName) ?? str(name.formatted) ?? (joined || null),
    givenName,
    familyName,
    email: emailOf(doc),
    employeeNumber: str(enterprise.employeeNumber),
    title: str(doc.title),
    departmentPath: str(orgsync.departmentPath) ?? str(enterprise.department),
    managerExternalId: str(obj(enterprise.manager).value),
    active: doc.active !== false,
  }
}
