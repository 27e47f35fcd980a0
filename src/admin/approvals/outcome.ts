import type { Response } from 'express'
import type { Outcome } from './approval-service'

/**
 * Answers a critical endpoint: what the operation returned when it ran, or 202 with the
 * approval request a second global admin must approve (`POST /api/v1/approvals/{id}/approve`).
 */
export function sendOutcome(res: Response, outcome: Outcome, ran: (result: unknown) => void): void {
  if (!outcome.executed) {
    res
      .status(202)
      .location(`/api/v1/approvals/${outcome.approval.id}`)
      .json({ status: 'pending-approval', approval: outcome.approval })
    return
  }
  if (outcome.waived) res.setHeader('X-Orgsync-Approval', outcome.waived)
  ran(outcome.result)
}
