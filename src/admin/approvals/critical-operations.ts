import { sql } from 'kysely'
import { z } from 'zod'
import type { OrgStore } from '../../org/org-store'
import type { PlanService } from '../../sync/plan-service'
import { createGrant, getGrant, grantInput, revokeGrant } from '../grants'
import type { HeldLeaverService } from '../held-leavers'
import type { ScimTokenAuthenticator } from '../scim-tokens'
import { securityPolicySchema, type SecurityPolicyStore } from '../security-policy'
import type { SourceService } from '../source-service'
import { disableAdmin } from '../admin-accounts'
import type { ApprovalService } from './approval-service'

export interface CriticalOperationDeps {
  store: OrgStore
  sources: SourceService
  plans: PlanService
  held: HeldLeaverService
  scimTokens: ScimTokenAuthenticator
  policy: SecurityPolicyStore
}

const planPayload = z.object({ planId: z.uuid() }).strict()
const sourcePayload = z.object({ sourceId: z.uuid() }).strict()
const heldPayload = z
  .object({ sourceId: z.uuid(), ids: z.array(z.string()).min(1).max(10000).optional() })
  .strict()
const revokePayload = z.union([
  z.object({ grantId: z.uuid() }).strict(),
  z.object({ disableAdminId: z.uuid() }).strict(),
])
const policyPayload = z.object({ policy: securityPolicySchema }).strict()

/** The operations the dual-approval policy may list, each with who may ask and how it runs. */
export function registerCriticalOperations(approvals: ApprovalService, deps: CriticalOperationDeps): void {
  const { store } = deps
  approvals.register({
    operation: 'plan.approve',
    permission: 'plan.approve',
    payload: planPayload,
    resource: (p) => ({ type: 'plan', id: p.planId }),
    summary: async (p) => {
      const plan = await deps.plans.get(p.planId)
      return `approve held plan ${plan.id} of source ${plan.sourceId} (${plan.heldReason ?? 'not held'})`
    },
    execute: (p, actor) => deps.plans.approve(p.planId, actor),
  })
  approvals.register({
    operation: 'held-leavers.approve',
    permission: 'plan.approve',
    payload: heldPayload,
    resource: (p) => ({ type: 'source', id: p.sourceId }),
    summary: async (p) => {
      const source = await deps.sources.get(p.sourceId)
      return `apply ${p.ids ? p.ids.length : 'all'} held leaver(s) of source "${source.name}"`
    },
    execute: async (p, actor) => ({
      decision: 'approve',
      items: await deps.held.decide(actor, p.sourceId, 'approve', p.ids),
    }),
  })
  for (const operation of ['grant.global-admin', 'grant.long-temporary'] as const) {
    approvals.register({
      operation,
      permission: 'admin.manage',
      payload: grantInput,
      resource: () => ({ type: 'global' }),
      summary: async (p) => {
        const admin = await store.db
          .selectFrom('admins')
          .select('name')
          .where('id', '=', p.adminId)
          .executeTakeFirst()
        const scope = p.departmentId
          ? `department ${p.departmentId}`
          : p.sourceId
            ? `source ${p.sourceId}`
            : 'the whole organisation'
        return `grant ${p.role} on ${scope} to admin "${admin?.name ?? p.adminId}"${p.expiresAt ? ` until ${p.expiresAt}` : ''}`
      },
      execute: (p, actor) => store.write(actor, (w) => createGrant(w, p, actor.name ?? String(actor.id))),
    })
  }
  approvals.register({
    operation: 'grant.revoke-global-admin',
    permission: 'admin.manage',
    payload: revokePayload,
    resource: () => ({ type: 'global' }),
    summary: async (p) => {
      if ('grantId' in p) {
        const grant = await getGrant(store.db, p.grantId)
        return `revoke ${grant.role} grant ${grant.id} of admin ${grant.adminId}`
      }
      return `disable admin ${p.disableAdminId}, a global admin`
    },
    execute: (p, actor) =>
      store.write<unknown>(actor, (w) =>
        'grantId' in p
          ? revokeGrant(w, p.grantId, actor.name ?? String(actor.id))
          : disableAdmin(w, p.disableAdminId),
      ),
  })
  approvals.register({
    operation: 'source.delete',
    permission: 'source.delete',
    payload: sourcePayload,
    resource: (p) => ({ type: 'source', id: p.sourceId }),
    summary: async (p) => `delete source "${(await deps.sources.get(p.sourceId)).name}" (${p.sourceId})`,
    execute: async (p, actor) => {
      await deps.sources.delete(actor, p.sourceId)
      return { deleted: p.sourceId }
    },
  })
  approvals.register({
    operation: 'source.revoke-all-tokens',
    permission: 'source.tokens',
    payload: sourcePayload,
    resource: (p) => ({ type: 'source', id: p.sourceId }),
    summary: async (p) => `revoke every SCIM token of source "${(await deps.sources.get(p.sourceId)).name}"`,
    execute: async (p, actor) => {
      await deps.sources.get(p.sourceId)
      const revoked = await store.write(actor, async (w) => {
        const rows = await w.transaction
          .updateTable('scim_tokens')
          .set({ revoked_at: sql`now()` })
          .where('source_id', '=', p.sourceId)
          .where('revoked_at', 'is', null)
          .returning('id')
          .execute()
        for (const r of rows) {
          await w.audit({
            action: 'scim-token.revoke',
            targetType: 'scim-token',
            targetId: r.id,
            after: { sourceId: p.sourceId, all: true },
          })
        }
        return rows.map((r) => r.id)
      })
      // After the commit, so no request re-caches a token between the forget and the revocation.
      for (const id of revoked) deps.scimTokens.forgetToken(id)
      return { revoked: revoked.length }
    },
  })
  approvals.register({
    operation: 'policy.update',
    permission: 'policy.update',
    payload: policyPayload,
    resource: () => ({ type: 'global' }),
    summary: () => 'change the security policy',
    execute: async (p, actor) => {
      const before = await deps.policy.get()
      await store.write(actor, async (w) => {
        await deps.policy.save(w.transaction, p.policy)
        await w.audit({
          action: 'policy.update',
          targetType: 'policy',
          targetId: 'security-policy',
          before,
          after: p.policy,
        })
      })
      deps.policy.invalidate()
      return p.policy
    },
  })
  approvals.register({
    operation: 'audit.export-all',
    permission: 'audit.export',
    payload: z.object({}).strict(),
    resource: () => ({ type: 'global' }),
    summary: () => 'export the whole audit log (once, by the requester)',
    execute: () => Promise.resolve(null),
  })
}
