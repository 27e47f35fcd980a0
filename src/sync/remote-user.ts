import { escapeSegment } from '../department-path'
import type { RemoteUser } from './connector'

/**
 * What a source says about a person, in the org's terms: trimmed, emails lower-cased, the department
 * as this source's department externalId. Stored as the identity's attributes, so an unchanged
 * record compares equal from run to run.
 */
export interface Normalised {
  userName: string
  displayName: string | null
  givenName: string | null
  familyName: string | null
  email: string | null
  employeeNumber: string | null
  title: string | null
  departmentExternalId: string | null
  manager: { externalId?: string; email?: string; employeeNumber?: string } | null
  active: boolean
}

/** A department path's names, cleaned; null when the path names no department. */
export function cleanPath(path: readonly string[] | null | undefined): string[] | null {
  if (!path) return null
  const names = path.map((n) => n.normalize('NFC').trim()).filter((n) => n !== '')
  return names.length > 0 ? names : null
}

/**
 * The externalId the engine gives the department at a path (see RemoteUser.departmentPath). Case
 * and Unicode form do not make another department: "Sales/EMEA" and "sales/emea" are one, and a
 * change of case renames it.
 */
export function pathExternalId(names: readonly string[]): string {
  return `path:${names.map((n) => escapeSegment(n.toLowerCase())).join('/')}`
}

function text(v: string | null | undefined): string | null {
  if (v === undefined || v === null) return null
  const t = v.trim()
  return t === '' ? null : t
}

export function normalise(u: RemoteUser): Normalised {
  const manager =
    u.manager && (u.manager.externalId || u.manager.email || u.manager.employeeNumber)
      ? Object.fromEntries(
          Object.entries(u.manager).filter(([, v]) => typeof v === 'string' && v.trim() !== ''),
        )
      : null
  const path = u.departmentPath === undefined ? undefined : cleanPath(u.departmentPath)
  return {
    userName: u.userName.trim(),
    displayName: text(u.displayName),
    givenName: text(u.givenName),
    familyName: text(u.familyName),
    email: text(u.email)?.toLowerCase() ?? null,
    employeeNumber: text(u.employeeNumber),
    title: text(u.title),
    departmentExternalId:
      path === undefined ? text(u.departmentExternalId) : path === null ? null : pathExternalId(path),
    manager,
    active: u.active,
  }
}

/**
 * A whole record from a partial one: the fields it gives over what the engine has stored for the
 * identity. Without a stored record the partial one stands alone (absent fields: the source does
 * not say).
 */
export function mergePartial(
  stored: { attributes: Normalised; raw: unknown } | undefined,
  partial: Partial<RemoteUser> & { externalId: string },
): Partial<RemoteUser> & { externalId: string } {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined))
  if (!stored) return defined as Partial<RemoteUser> & { externalId: string }
  const base: Partial<RemoteUser> = { ...stored.attributes }
  if ('departmentPath' in defined) delete base.departmentExternalId
  const raw =
    isObject(stored.raw) && isObject(partial.raw)
      ? { ...stored.raw, ...partial.raw }
      : (partial.raw ?? stored.raw)
  return { ...base, ...defined, externalId: partial.externalId, raw } as Partial<RemoteUser> & {
    externalId: string
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
