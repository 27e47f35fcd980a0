import type { Kysely } from 'kysely'
import type { DB, RoleScopeKind } from '../../db/schema'
import { PERMISSION_NAMES, type Permission } from './permissions'

export interface RoleDefinition {
  name: string
  builtIn: boolean
  description: string
  permissions: readonly Permission[]
  /** The kinds of scope a grant of this role may carry ('global': the whole organisation). */
  scopes: readonly RoleScopeKind[]
}

export const GLOBAL_ADMIN = 'global-admin'
export const APP_ADMIN = 'app-admin'
export const DEPARTMENT_ADMIN = 'department-admin'
export const SUPPORT_ADMIN = 'support-admin'

export const BUILT_IN_ROLES: Readonly<Record<string, RoleDefinition>> = {
  [GLOBAL_ADMIN]: {
    name: GLOBAL_ADMIN,
    builtIn: true,
    description: 'Everything: security policy, roles, sources, people, audit export.',
    permissions: PERMISSION_NAMES,
    scopes: ['global'],
  },
  [APP_ADMIN]: {
    name: APP_ADMIN,
    builtIn: true,
    description:
      'The sources assigned to them: connection settings, schedules, checks, runs, plan summaries. No personal data beyond counts, no people edits, no roles or policies.',
    permissions: [
      'source.read',
      'source.update',
      'source.run',
      'source.tokens',
      'run.read',
      'plan.read',
      'plan.apply',
      'plan.reject',
    ],
    scopes: ['source', 'global'],
  },
  [DEPARTMENT_ADMIN]: {
    name: DEPARTMENT_ADMIN,
    builtIn: true,
    description:
      'People and sub-departments within their department subtree: view, edit, move within the subtree, suspend and reactivate, review plan changes touching it.',
    permissions: [
      'person.read',
      'person.status',
      'person.update',
      'person.suspend',
      'department.read',
      'department.create',
      'department.update',
      'department.delete',
      'plan.changes',
    ],
    scopes: ['department'],
  },
  [SUPPORT_ADMIN]: {
    name: SUPPORT_ADMIN,
    builtIn: true,
    description:
      "Read-only lookup of a person's status and why (suspension reason, last sync), and run errors.",
    permissions: ['person.status', 'run.read'],
    scopes: ['global', 'department'],
  },
}

/** Built-in roles from code, custom ones from `admin_roles`. */
export async function roleDefinitions(
  db: Kysely<DB>,
  names: Iterable<string>,
): Promise<Map<string, RoleDefinition>> {
  const found = new Map<string, RoleDefinition>()
  const custom: string[] = []
  for (const name of new Set(names)) {
    const builtIn = BUILT_IN_ROLES[name]
    if (builtIn) found.set(name, builtIn)
    else custom.push(name)
  }
  if (custom.length > 0) {
    const rows = await db.selectFrom('admin_roles').selectAll().where('name', 'in', custom).execute()
    for (const r of rows) found.set(r.name, customRole(r))
  }
  return found
}

export function customRole(row: {
  name: string
  description: string | null
  permissions: string[]
  scope_kind: RoleScopeKind
}): RoleDefinition {
  return {
    name: row.name,
    builtIn: false,
    description: row.description ?? '',
    permissions: row.permissions.filter((p): p is Permission => (PERMISSION_NAMES as string[]).includes(p)),
    scopes: row.scope_kind === 'global' ? ['global'] : [row.scope_kind, 'global'],
  }
}
