import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema'
import { getAdmin } from '../admin-accounts'
import type { GrantView } from '../grants'
import type { Authorizer, ScopeView } from './authorizer'
import type { Permission } from './permissions'
import type { Grant } from './principal'
import { roleDefinitions } from './roles'

export interface EffectivePermissions {
  admin: { id: string; name: string; disabled: boolean }
  /** Every grant, active or not, with what it gives: expired and revoked ones give nothing. */
  grants: (GrantView & { scopeLabel: string; permissions: readonly Permission[]; counts: boolean })[]
  /** Each permission the admin holds now, with every grant that gives it and where. */
  permissions: Partial<Record<Permission, { grantId: string; role: string; scope: ScopeView }[]>>
}

export async function effectivePermissions(
  db: Kysely<DB>,
  authorizer: Authorizer,
  adminId: string,
): Promise<EffectivePermissions> {
  const admin = await getAdmin(db, adminId)
  const asGrants: Grant[] = admin.grants.map((g) => ({
    id: g.id,
    role: g.role,
    scopeDepartmentId: g.scope.kind === 'department' ? g.scope.id : null,
    scopeSourceId: g.scope.kind === 'source' ? g.scope.id : null,
    expiresAt: g.expiresAt,
  }))
  const [roles, scopes] = await Promise.all([
    roleDefinitions(
      db,
      admin.grants.map((g) => g.role),
    ),
    authorizer.scopeViews(asGrants),
  ])
  const permissions: EffectivePermissions['permissions'] = {}
  const grants = admin.grants.map((g) => {
    const role = roles.get(g.role)
    const scope = scopes.get(g.id)!
    const counts = !admin.disabled && g.status === 'active' && role !== undefined
    if (counts) {
      for (const p of role.permissions) {
        ;(permissions[p] ??= []).push({
          grantId: g.id,
          role: g.role,
          scope: { kind: scope.kind, id: scope.id, label: scope.label },
        })
      }
    }
    return { ...g, scopeLabel: scope.label, permissions: role?.permissions ?? [], counts }
  })
  return { admin: { id: admin.id, name: admin.name, disabled: admin.disabled }, grants, permissions }
}
