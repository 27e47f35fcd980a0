import type { Request, Response } from 'express'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema'
import { AppError } from '../../errors'
import { isUuid } from '../../org/write-context'
import { PERMISSIONS, type Permission } from './permissions'
import type { AdminPrincipal, Grant } from './principal'
import { roleDefinitions, type RoleDefinition } from './roles'
import type { Reach, ResourceRef, RouteAuthorizer, RouteRule } from './route-rule'

/** Where a resource sits, as far as scopes are concerned. */
type Location =
  | { kind: 'global'; label: string }
  | { kind: 'source'; sourceId: string; label: string }
  /** idPath null: outside every department (the top of the tree, or a person with none). */
  | { kind: 'department'; idPath: string | null; label: string }
  /** A plan's changes: visible per department subtree, or whole to its source's scope. */
  | { kind: 'plan-changes'; sourceId: string; label: string }
  | { kind: 'missing'; label: string }

export interface ScopeView {
  kind: 'global' | 'department' | 'source'
  id: string | null
  /** The department's path or the source's name, for people to read. */
  label: string
}

export interface GrantVerdict {
  grantId: string
  role: string
  scope: ScopeView
  expiresAt: Date | null
  allows: boolean
  why: string
}

export interface Decision {
  allowed: boolean
  action: Permission
  resource: ResourceRef
  /** One sentence: which grant allowed it, or what is missing. */
  reason: string
  /** Every grant, each with its verdict: overlapping grants are all listed, not guessed at. */
  grants: GrantVerdict[]
  /** Allowed only for part of the resource (a department admin sees a plan's changes in their subtree). */
  partial?: boolean
}

/** Actions on a department itself exclude the scope's own root: that one belongs to whoever granted it. */
const STRICTLY_BELOW = new Set<Permission>(['department.update', 'department.delete'])

/**
 * Decides whether an admin's grants allow an action on a resource, and explains why. Route rules,
 * in-handler checks and the simulation endpoint all go through `decide`, so what the simulation
 * says is what the API does.
 */
export class Authorizer implements RouteAuthorizer {
  constructor(private readonly db: Kysely<DB>) {}

  async enforce(principal: AdminPrincipal, rule: RouteRule, req: Request, res: Response): Promise<void> {
    if (rule.kind === 'public') return
    if (principal.restricted && rule.kind !== 'self') throw new AppError('forbidden', principal.restricted)
    if (rule.kind === 'self') return
    if (rule.kind === 'collection') {
      res.locals.reach = await this.reachFor(principal, rule.action)
      return
    }
    const resource = await rule.resource(req, res)
    await this.require(principal, rule.action, resource)
  }

  /** Throws 403 with the reason unless allowed; returns the decision (e.g. to filter when partial). */
  async require(principal: AdminPrincipal, action: Permission, resource: ResourceRef): Promise<Decision> {
    if (principal.restricted) throw new AppError('forbidden', principal.restricted)
    const decision = await this.decide(principal.grants, action, resource)
    if (!decision.allowed) {
      throw new AppError('forbidden', `admin "${principal.name}" may not ${action}: ${decision.reason}`, {
        action,
        resource,
      })
    }
    return decision
  }

  async reachFor(principal: AdminPrincipal, action: Permission): Promise<Reach> {
    const reach = await this.reach(principal.grants, action)
    if (!reach.all && reach.departmentIds.length === 0 && reach.sourceIds.length === 0) {
      throw new AppError(
        'forbidden',
        `admin "${principal.name}" may not ${action}: no grant gives ${action}`,
        {
          action,
        },
      )
    }
    return reach
  }

  /** Where the grants let an admin do `action`: everywhere, or in these subtrees and sources. */
  async reach(grants: readonly Grant[], action: Permission): Promise<Reach> {
    const roles = await roleDefinitions(
      this.db,
      grants.map((g) => g.role),
    )
    const reach: Reach = { all: false, departmentIds: [], sourceIds: [] }
    for (const g of grants) {
      if (!roles.get(g.role)?.permissions.includes(action)) continue
      // A scope of the wrong kind for the action (a department for a source action) reaches nothing.
      if (g.scopeDepartmentId) {
        if (PERMISSIONS[action].on === 'department') reach.departmentIds.push(g.scopeDepartmentId)
      } else if (g.scopeSourceId) {
        if (PERMISSIONS[action].on === 'source') reach.sourceIds.push(g.scopeSourceId)
      } else reach.all = true
    }
    return reach
  }

  async decide(grants: readonly Grant[], action: Permission, resource: ResourceRef): Promise<Decision> {
    const [roles, location, scopes] = await Promise.all([
      roleDefinitions(
        this.db,
        grants.map((g) => g.role),
      ),
      this.locate(action, resource),
      this.scopeViews(grants),
    ])
    const verdicts = grants.map((g) => verdict(g, roles.get(g.role), action, location, scopes.get(g.id)!))
    const allowing = verdicts.filter((v) => v.allows)
    const target = location.label
    if (allowing.length > 0) {
      const partial = location.kind === 'plan-changes' && allowing.every((v) => v.scope.kind === 'department')
      const by = allowing.map((v) => `${v.role} on ${scopeText(v.scope)} (grant ${v.grantId})`).join('; ')
      return {
        allowed: true,
        action,
        resource,
        reason: `${action} on ${target} is allowed by ${by}${partial ? ', within those subtrees only' : ''}`,
        grants: verdicts,
        ...(partial ? { partial } : {}),
      }
    }
    const withAction = verdicts.filter((v) => roles.get(v.role)?.permissions.includes(action))
    const reason =
      grants.length === 0
        ? `no live grant (none, or all expired or revoked)`
        : withAction.length === 0
          ? `no grant gives ${action} (roles held: ${[...new Set(grants.map((g) => g.role))].join(', ')})`
          : `${target} is outside the scope of every grant that gives ${action}: ${withAction
              .map((v) => `${v.role} on ${scopeText(v.scope)}`)
              .join('; ')}`
    return { allowed: false, action, resource, reason, grants: verdicts }
  }

  /** Human-readable scopes of grants: department paths and source names. */
  async scopeViews(grants: readonly Grant[]): Promise<Map<string, ScopeView & { idPath?: string }>> {
    const deptIds = [...new Set(grants.flatMap((g) => (g.scopeDepartmentId ? [g.scopeDepartmentId] : [])))]
    const sourceIds = [...new Set(grants.flatMap((g) => (g.scopeSourceId ? [g.scopeSourceId] : [])))]
    const [depts, sources] = await Promise.all([
      deptIds.length
        ? this.db
            .selectFrom('departments')
            .select(['id', 'path', 'id_path'])
            .where('id', 'in', deptIds)
            .execute()
        : [],
      sourceIds.length
        ? this.db.selectFrom('sources').select(['id', 'name']).where('id', 'in', sourceIds).execute()
        : [],
    ])
    const out = new Map<string, ScopeView & { idPath?: string }>()
    for (const g of grants) {
      if (g.scopeDepartmentId) {
        const d = depts.find((x) => x.id === g.scopeDepartmentId)
        out.set(g.id, {
          kind: 'department',
          id: g.scopeDepartmentId,
          label: d?.path ?? `(deleted department ${g.scopeDepartmentId})`,
          ...(d ? { idPath: d.id_path } : {}),
        })
      } else if (g.scopeSourceId) {
        const s = sources.find((x) => x.id === g.scopeSourceId)
        out.set(g.id, {
          kind: 'source',
          id: g.scopeSourceId,
          label: s?.name ?? `(deleted source ${g.scopeSourceId})`,
        })
      } else {
        out.set(g.id, { kind: 'global', id: null, label: 'the whole organisation' })
      }
    }
    return out
  }

  private async locate(action: Permission, resource: ResourceRef): Promise<Location> {
    switch (resource.type) {
      case 'global':
        return { kind: 'global', label: 'the organisation' }
      case 'source': {
        const row = isUuid(resource.id)
          ? await this.db
              .selectFrom('sources')
              .select(['id', 'name'])
              .where('id', '=', resource.id)
              .executeTakeFirst()
          : undefined
        return row
          ? { kind: 'source', sourceId: row.id, label: `source "${row.name}"` }
          : { kind: 'missing', label: `source ${resource.id}` }
      }
      case 'plan': {
        const row = isUuid(resource.id)
          ? await this.db
              .selectFrom('plans as p')
              .innerJoin('sources as s', 's.id', 'p.source_id')
              .select(['p.source_id', 's.name'])
              .where('p.id', '=', resource.id)
              .executeTakeFirst()
          : undefined
        if (!row) return { kind: 'missing', label: `plan ${resource.id}` }
        const label = `plan ${resource.id} of source "${row.name}"`
        return PERMISSIONS[action].on === 'department'
          ? { kind: 'plan-changes', sourceId: row.source_id, label }
          : { kind: 'source', sourceId: row.source_id, label }
      }
      case 'department': {
        if (resource.id === null)
          return { kind: 'department', idPath: null, label: 'the top of the department tree' }
        const row = isUuid(resource.id)
          ? await this.db
              .selectFrom('departments')
              .select(['id_path', 'path'])
              .where('id', '=', resource.id)
              .executeTakeFirst()
          : undefined
        return row
          ? { kind: 'department', idPath: row.id_path, label: `department "${row.path}"` }
          : { kind: 'missing', label: `department ${resource.id}` }
      }
      case 'person': {
        const row = isUuid(resource.id)
          ? await this.db
              .selectFrom('people as p')
              .leftJoin('departments as d', 'd.id', 'p.department_id')
              .select(['p.user_name', 'd.id_path', 'd.path'])
              .where('p.id', '=', resource.id)
              .executeTakeFirst()
          : undefined
        if (!row) return { kind: 'missing', label: `person ${resource.id}` }
        return {
          kind: 'department',
          idPath: row.id_path ?? null,
          label: `person "${row.user_name}" (${row.path ? `in "${row.path}"` : 'in no department'})`,
        }
      }
    }
  }
}

function verdict(
  grant: Grant,
  role: RoleDefinition | undefined,
  action: Permission,
  location: Location,
  scope: ScopeView & { idPath?: string },
): GrantVerdict {
  const base = { grantId: grant.id, role: grant.role, scope, expiresAt: grant.expiresAt }
  if (!role) return { ...base, allows: false, why: `role "${grant.role}" no longer exists` }
  if (!role.permissions.includes(action))
    return { ...base, allows: false, why: `${grant.role} does not include ${action}` }
  if (scope.kind === 'global') return { ...base, allows: true, why: 'the whole organisation is in scope' }
  if (location.kind === 'missing') {
    return {
      ...base,
      allows: false,
      why: `${location.label} does not exist, so it is in no scoped grant's reach`,
    }
  }
  if (scope.kind === 'source') {
    const sourceId =
      location.kind === 'source' || location.kind === 'plan-changes' ? location.sourceId : undefined
    return sourceId === scope.id
      ? { ...base, allows: true, why: `${location.label} belongs to ${scopeText(scope)}` }
      : { ...base, allows: false, why: `${location.label} is not in ${scopeText(scope)}` }
  }
  // A department scope.
  if (location.kind === 'plan-changes') {
    return { ...base, allows: true, why: `only the plan's changes in ${scopeText(scope)} are visible` }
  }
  if (location.kind !== 'department' || location.idPath === null || scope.idPath === undefined) {
    return {
      ...base,
      allows: false,
      why: `${location.label} is not in ${scopeText(scope)}`,
    }
  }
  if (!location.idPath.startsWith(scope.idPath)) {
    return { ...base, allows: false, why: `${location.label} is outside ${scopeText(scope)}` }
  }
  if (STRICTLY_BELOW.has(action) && location.idPath === scope.idPath) {
    return {
      ...base,
      allows: false,
      why: `${location.label} is the root of the scope itself: only departments below it may be changed`,
    }
  }
  return { ...base, allows: true, why: `${location.label} is within ${scopeText(scope)}` }
}

function scopeText(scope: ScopeView): string {
  if (scope.kind === 'global') return 'the whole organisation'
  if (scope.kind === 'source') return `source "${scope.label}"`
  return `the "${scope.label}" subtree`
}
