/**
 * The permission catalogue: every admin action, what it lets an admin do, and the kind of
 * resource it is checked against. Built-in and custom roles are sets of these.
 */
export const PERMISSIONS = {
  'source.read': { on: 'source', means: 'see a source: settings (never secrets), schedule, checks' },
  'source.create': { on: 'global', means: 'add a source' },
  'source.update': { on: 'source', means: 'change a source: connection, mapping, schedule, mode, policy' },
  'source.delete': { on: 'source', means: 'delete a source (critical: dual approval)' },
  'source.run': { on: 'source', means: 'check a source, plan and run a sync' },
  'source.tokens': { on: 'source', means: "list, create and revoke a SCIM source's tokens" },
  'run.read': { on: 'source', means: 'see run history and run errors' },
  'plan.read': { on: 'source', means: 'see plan summaries (counts only)' },
  'plan.changes': {
    on: 'department',
    means: 'see the changes of a plan (personal data), within the scope',
  },
  'plan.apply': { on: 'source', means: 'apply a ready plan' },
  'plan.reject': { on: 'source', means: 'reject a plan' },
  'plan.approve': { on: 'source', means: 'approve a held plan or held leavers (critical: dual approval)' },
  'person.read': { on: 'department', means: 'see, list, search and export people' },
  'person.status': { on: 'department', means: "look up a person's status and why" },
  'person.update': { on: 'department', means: "edit a person's fields, move them within the scope" },
  'person.suspend': { on: 'department', means: 'suspend and reactivate people' },
  'department.read': { on: 'department', means: 'see departments' },
  'department.create': { on: 'department', means: 'create departments (under one in the scope)' },
  'department.update': { on: 'department', means: 'rename and move departments' },
  'department.delete': { on: 'department', means: 'delete empty departments' },
  'admin.read': { on: 'global', means: 'see admins and their grants' },
  'admin.manage': { on: 'global', means: 'create and disable admins, grant and revoke roles' },
  'role.manage': { on: 'global', means: 'define custom roles' },
  'policy.read': { on: 'global', means: 'see the security policy' },
  'policy.update': { on: 'global', means: 'change the security policy (critical: dual approval)' },
  'audit.read': { on: 'global', means: 'read and verify the audit log' },
  'audit.export': { on: 'global', means: 'export the audit log (the whole log: dual approval)' },
  'approval.read': { on: 'global', means: 'see approval requests' },
  'approval.decide': { on: 'global', means: 'approve or reject approval requests of other admins' },
  'authz.simulate': {
    on: 'global',
    means: "simulate a permission check, see an admin's effective permissions",
  },
} as const satisfies Record<string, { on: 'global' | 'source' | 'department'; means: string }>

export type Permission = keyof typeof PERMISSIONS
export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[]

export function isPermission(name: string): name is Permission {
  return Object.hasOwn(PERMISSIONS, name)
}
