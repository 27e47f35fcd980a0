import type { Selectable } from 'kysely'
import type { DepartmentsTable, GroupsTable, IdentitiesTable, PeopleTable, PersonStatus } from '../db/schema'

/** The org store's records as the rest of the app sees them (camelCase, no storage columns). */

export interface Department {
  id: string
  name: string
  parentId: string | null
  path: string
  depth: number
  virtual: boolean
  sourceId: string | null
  externalId: string | null
  createdAt: Date
  updatedAt: Date
}

export interface Person {
  id: string
  userName: string
  displayName: string | null
  givenName: string | null
  familyName: string | null
  email: string | null
  employeeNumber: string | null
  title: string | null
  departmentId: string | null
  managerId: string | null
  status: PersonStatus
  suspendedReason: string | null
  suspendedAt: Date | null
  suspendedBySourceId: string | null
  removeAfter: Date | null
  protected: boolean
  provenance: Record<string, unknown>
  version: number
  createdAt: Date
  updatedAt: Date
}

export interface Group {
  id: string
  displayName: string
  description: string | null
  sourceId: string | null
  externalId: string | null
  version: number
  createdAt: Date
  updatedAt: Date
}

export interface Identity {
  id: string
  sourceId: string
  externalId: string
  personId: string | null
  userName: string | null
  attributes: Record<string, unknown>
  active: boolean
  removedAt: Date | null
  version: number
  createdAt: Date
  updatedAt: Date
}

export function toDepartment(r: Selectable<DepartmentsTable>): Department {
  return {
    id: r.id,
    name: r.name,
    parentId: r.parent_id,
    path: r.path,
    depth: r.depth,
    virtual: r.virtual,
    sourceId: r.source_id,
    externalId: r.external_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

export function toPerson(r: Omit<Selectable<PeopleTable>, 'search_text'>): Person {
  return {
    id: r.id,
    userName: r.user_name,
    displayName: r.display_name,
    givenName: r.given_name,
    familyName: r.family_name,
    email: r.email,
    employeeNumber: r.employee_number,
    title: r.title,
    departmentId: r.department_id,
    managerId: r.manager_id,
    status: r.status,
    suspendedReason: r.suspended_reason,
    suspendedAt: r.suspended_at,
    suspendedBySourceId: r.suspended_by_source_id,
    removeAfter: r.remove_after,
    protected: r.protected,
    provenance: r.provenance,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

export function toGroup(r: Selectable<GroupsTable>): Group {
  return {
    id: r.id,
    displayName: r.display_name,
    description: r.description,
    sourceId: r.source_id,
    externalId: r.external_id,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

export function toIdentity(r: Selectable<IdentitiesTable>): Identity {
  return {
    id: r.id,
    sourceId: r.source_id,
    externalId: r.external_id,
    personId: r.person_id,
    userName: r.user_name,
    attributes: r.attributes,
    active: r.active,
    removedAt: r.removed_at,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

/** Columns of people without the generated search column. */
export const personColumns = [
  'id',
  'user_name',
  'display_name',
  'given_name',
  'family_name',
  'email',
  'employee_number',
  'title',
  'department_id',
  'manager_id',
  'status',
  'suspended_reason',
  'suspended_at',
  'suspended_by_source_id',
  'remove_after',
  'protected',
  'provenance',
  'version',
  'created_at',
  'updated_at',
] as const
