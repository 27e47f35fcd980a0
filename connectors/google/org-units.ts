import { ConnectorError, type RemoteDepartment } from '../../src/sync/connector'
import { type GoogleOrgUnit } from './google-directory'

/**
 * The org unit tree as departments, and the lookup from a user's orgUnitPath to the unit's id. Units
 * are keyed by orgUnitId, which survives renames and moves; users name their unit only by path, so
 * the paths are resolved against the same listing the departments came from.
 */
export class OrgUnitIndex {
  readonly departments: RemoteDepartment[]
  /** Lower-cased path → orgUnitId: Google treats paths case-insensitively. */
  private readonly idByPath = new Map<string, string>()

  constructor(units: readonly GoogleOrgUnit[]) {
    const ids = new Set<string>()
    for (const unit of units) {
      if (!unit.orgUnitId || !unit.orgUnitPath || unit.orgUnitPath === '/') continue
      ids.add(unit.orgUnitId)
      this.idByPath.set(unit.orgUnitPath.toLowerCase(), unit.orgUnitId)
    }
    this.departments = []
    for (const unit of units) {
      if (!unit.orgUnitId || !unit.orgUnitPath || unit.orgUnitPath === '/') continue
      this.departments.push({
        externalId: unit.orgUnitId,
        name: unit.name?.trim() || lastSegment(unit.orgUnitPath),
        parentExternalId: parentOf(unit, ids, this.idByPath),
      })
    }
  }

  /**
   * The orgUnitId of a user's unit; null for the root ("/" is the whole Workspace, not a department).
   * A path the listing does not have means the tree changed since it was read (a unit added, renamed
   * or moved): the engine retries the run, which lists the tree again.
   */
  departmentOf(orgUnitPath: string | null | undefined, userName: string): string | null {
    if (!orgUnitPath || orgUnitPath === '/') return null
    const id = this.idByPath.get(orgUnitPath.toLowerCase())
    if (id !== undefined) return id
    throw new ConnectorError(
      'transient',
      `google: list users: ${userName} is in org unit ${orgUnitPath}, which the org unit listing did not ` +
        'have (the tree changed during the run): listing again',
    )
  }
}

/** The parent's orgUnitId; null for a top-level unit (the root is not a department). */
function parentOf(
  unit: GoogleOrgUnit,
  listed: ReadonlySet<string>,
  idByPath: ReadonlyMap<string, string>,
): string | null {
  const parentPath = unit.parentOrgUnitPath ?? parentPathOf(unit.orgUnitPath ?? '/')
  if (parentPath === '/') return null
  if (unit.parentOrgUnitId && listed.has(unit.parentOrgUnitId)) return unit.parentOrgUnitId
  return idByPath.get(parentPath.toLowerCase()) ?? null
}

function parentPathOf(path: string): string {
  const cut = path.lastIndexOf('/')
  return cut <= 0 ? '/' : path.slice(0, cut)
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}
