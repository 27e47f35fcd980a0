import { Router } from 'express'
import { z } from 'zod'
import { authorize, principalOf } from '../authz/route-rule'
import { adminActor, parseWith } from '../request-actor'
import type { ApprovalService } from './approval-service'

const listQuery = z
  .object({
    status: z
      .enum(['pending', 'expired', 'executing', 'executed', 'rejected', 'cancelled', 'failed'])
      .optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict()
const requestBody = z.object({ operation: z.string().min(1).max(100), payload: z.unknown() }).strict()
const global = () => ({ type: 'global' as const })

/** `/approvals`: dual-approval requests — list, ask, approve, reject, cancel. */
export function approvalsRoutes(approvals: ApprovalService): Router {
  const router = Router()
  router.get(
    '/',
    authorize({ kind: 'permission', action: 'approval.read', resource: global }),
    async (req, res) => {
      const q = parseWith(listQuery, req.query, 'query')
      res.json({ items: await approvals.list(q), operations: approvals.operations() })
    },
  )
  // Asking needs the operation's own permission (checked by the service), not approval rights.
  router.post('/', authorize({ kind: 'self' }), async (req, res) => {
    const body = parseWith(requestBody, req.body, 'approval request')
    const created = await approvals.request(
      principalOf(res),
      adminActor(req, res),
      body.operation,
      body.payload,
    )
    res.status(201).location(`${req.baseUrl}/${created.id}`).json(created)
  })
  router.get(
    '/:id',
    authorize({ kind: 'permission', action: 'approval.read', resource: global }),
    async (req, res) => {
      res.json(await approvals.get(String(req.params.id)))
    },
  )
  router.post(
    '/:id/approve',
    authorize({ kind: 'permission', action: 'approval.decide', resource: global }),
    async (req, res) => {
      res.json(await approvals.approve(principalOf(res), adminActor(req, res), String(req.params.id)))
    },
  )
  router.post(
    '/:id/reject',
    authorize({ kind: 'permission', action: 'approval.decide', resource: global }),
    async (req, res) => {
      res.json(
        await approvals.decline(principalOf(res), adminActor(req, res), String(req.params.id), 'reject'),
      )
    },
  )
  // The requester withdraws their own request (the service checks it is theirs).
  router.post('/:id/cancel', authorize({ kind: 'self' }), async (req, res) => {
    res.json(await approvals.decline(principalOf(res), adminActor(req, res), String(req.params.id), 'cancel'))
  })
  return router
}
