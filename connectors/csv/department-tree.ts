import { escapeSegment } from '../../src/department-path'
import { type RemoteDepartment } from '../../src/sync/connector'

/**
 * Builds departments from the path strings of an HR file ("Head Office/Finance/Audit"): one department
 * per distinct prefix, so the engine gets every ancestor before its children.
 */

export type DepartmentLookup = { ok: true; externalId: string | null } | { ok: false; reason: string }

export class DepartmentTree {
  /** By the lower-cased path, so "Sales/EMEA" and "sales/emea" are one department (first spelling wins). */
  private readonly byKey = new Map<string, RemoteDepartment>()
  /** By the path exactly as written in the file. */
  private readonly byPath = new Map<string, DepartmentLookup>()
  readonly departments: RemoteDepartment[] = []

  constructor(private readonly delimiter: string) {}

  /** Adds a path and its prefixes; returns the externalId of the deepest one (null for an empty path). */
  add(path: string): DepartmentLookup {
    // HR files repeat the same few department strings across thousands of rows.
    let found = this.byPath.get(path)
    if (found === undefined) {
      found = this.resolve(path)
      this.byPath.set(path, found)
    }
    return found
  }

  private resolve(path: string): DepartmentLookup {
    if (path.trim() === '') return { ok: true, externalId: null }
    const names = path.split(this.delimiter).map((s) => s.trim())
    if (names.some((s) => s === '')) {
      return {
        ok: false,
        reason: `department "${path}" has an empty name between "${this.delimiter}" separators (or at its start or end)`,
      }
    }
    let parentId: string | null = null
    let key = ''
    for (const name of names) {
      // NFC so the same name typed on a Mac (decomposed accents) and on Windows is one department.
      key += `/${escapeSegment(name.normalize('NFC').toLowerCase())}`
      let department = this.byKey.get(key)
      if (department === undefined) {
        const segment = escapeSegment(name)
        department = {
          externalId: parentId === null ? segment : `${parentId}/${segment}`,
          name,
          parentExternalId: parentId,
        }
        this.byKey.set(key, department)
        this.departments.push(department)
      }
      parentId = department.externalId
    }
    return { ok: true, externalId: parentId }
  }
}
