import { Router } from 'express'
import { conflict } from '../errors'
import type { ApprovalService } from './approvals/approval-service'
import { sendOutcome } from './approvals/outcome'
import { authorize, principalOf } from './authz/route-rule'
import { wouldLockOut } from './network-policy'
import { adminActor, parseWith } from './request-actor'
import { securityPolicySchema, type SecurityPolicyStore } from './security-policy'

const global = () => ({ type: 'global' as const })

/** `/policy`: the security policy (2FA, dual approval, grants, network, sign-in, audit retention). */
export function policyRoutes(policy: SecurityPolicyStore, approvals: ApprovalService): Router {
  const router = Router()
  router.get(
    '/',
    authorize({ kind: 'permission', action: 'policy.read', resource: global }),
    async (_req, res) => {
      res.json(await policy.get())
    },
  )
  // The whole policy: sections left out take their defaults, so a client sees exactly what it set.
  router.put(
    '/',
    authorize({ kind: 'permission', action: 'policy.update', resource: global }),
    async (req, res) => {
      const next = parseWith(securityPolicySchema, req.body, 'security policy')
      if (wouldLockOut(next.network.adminAllowlist, req.ip)) {
        throw conflict(
          `refused: the new admin allowlist does not include your address ${req.ip ?? '(unknown)'}, so it would lock you out; add it (or a block containing it) first`,
          { ip: req.ip ?? null },
        )
      }
      const outcome = await approvals.perform(principalOf(res), adminActor(req, res), 'policy.update', {
        policy: next,
      })
      sendOutcome(res, outcome, (result) => res.json(result))
    },
  )
  return router
}
