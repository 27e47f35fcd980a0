import type { Request, Response } from 'express'
import { conflict } from '../../errors'
import { principalOf } from '../authz/route-rule'
import { adminActor } from '../request-actor'
import type { ApprovalService } from './approval-service'
import { sendOutcome } from './outcome'

/**
 * Exporting the whole audit log is a critical operation. The first call files an approval request
 * (202); once another global admin approves it, the requester downloads with `?approval=<id>`,
 * once. Without dual approval in the policy (or with a sole global admin) the export runs at once.
 */
export function auditExportGate(approvals: ApprovalService) {
  return async (req: Request, res: Response): Promise<boolean> => {
    const approvalId = typeof req.query.approval === 'string' ? req.query.approval : undefined
    if (approvalId) {
      if (await approvals.consume(principalOf(res), approvalId, 'audit.export-all')) return true
      throw conflict(
        `approval ${approvalId} is not an approved, unused whole-audit-log export requested by you`,
      )
    }
    const outcome = await approvals.perform(principalOf(res), adminActor(req, res), 'audit.export-all', {})
    if (outcome.executed) {
      if (outcome.waived) res.setHeader('X-Orgsync-Approval', outcome.waived)
      return true
    }
    sendOutcome(res, outcome, () => undefined)
    return false
  }
}
