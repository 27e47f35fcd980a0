import { Router, type Request } from 'express'
import { z } from 'zod'
import type { ApprovalService } from './approvals/approval-service'
import { sendOutcome } from './approvals/outcome'
import { authorize, principalOf } from './authz/route-rule'
import type { HeldLeaverService } from './held-leavers'
import { allowedCidrsSchema } from './network-policy'
import { adminActor, parseWith } from './request-actor'
import type { ScimTokenService } from './scim-tokens'

const tokenBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    allowedCidrs: allowedCidrsSchema.nullable().optional(),
  })
  .strict()
const tokenPatchBody = z.object({ allowedCidrs: allowedCidrsSchema.nullable() }).strict()
const decisionBody = z.object({ ids: z.array(z.string()).min(1).max(10000).optional() }).strict()

const sourceRef = (req: Request) => ({ type: 'source' as const, id: String(req.params.id) })
const tokensRule = authorize({ kind: 'permission', action: 'source.tokens', resource: sourceRef })

/** Under /sources/{id}: a SCIM source's bearer tokens and the leavers its guard holds. */
export function scimAdminRoutes(
  tokens: ScimTokenService,
  held: HeldLeaverService,
  approvals: ApprovalService,
): Router {
  const router = Router()
  router.post('/:id/scim-tokens', tokensRule, async (req, res) => {
    const body = parseWith(tokenBody, req.body, 'SCIM token')
    const id = String(req.params.id)
    const created = await tokens.create(adminActor(req, res), id, body.name, body.allowedCidrs)
    // The secret is in this response only: never cached by anything in between.
    res.setHeader('Cache-Control', 'no-store')
    res.status(201).location(`${req.baseUrl}/${id}/scim-tokens/${created.id}`).json(created)
  })
  router.get('/:id/scim-tokens', tokensRule, async (req, res) => {
    res.json({ items: await tokens.list(String(req.params.id)) })
  })
  // "Reset the SCIM endpoint": every token at once, a critical operation.
  router.delete('/:id/scim-tokens', tokensRule, async (req, res) => {
    const outcome = await approvals.perform(
      principalOf(res),
      adminActor(req, res),
      'source.revoke-all-tokens',
      {
        sourceId: String(req.params.id),
      },
    )
    sendOutcome(res, outcome, (result) => res.json(result))
  })
  router.patch('/:id/scim-tokens/:tokenId', tokensRule, async (req, res) => {
    const body = parseWith(tokenPatchBody, req.body, 'SCIM token')
    const [id, tokenId] = [String(req.params.id), String(req.params.tokenId)]
    res.json(await tokens.setAllowedCidrs(adminActor(req, res), id, tokenId, body.allowedCidrs))
  })
  router.delete('/:id/scim-tokens/:tokenId', tokensRule, async (req, res) => {
    await tokens.revoke(adminActor(req, res), String(req.params.id), String(req.params.tokenId))
    res.status(204).end()
  })
  // Who is held is personal data: the same right as reading a plan's changes, organisation-wide.
  router.get(
    '/:id/held-leavers',
    authorize({ kind: 'permission', action: 'plan.changes', resource: sourceRef }),
    async (req, res) => {
      res.json({ items: await held.list(String(req.params.id)) })
    },
  )
  // Releasing held leavers is approving a held mass deletion: a second global admin's call.
  router.post(
    '/:id/held-leavers/approve',
    authorize({ kind: 'permission', action: 'plan.approve', resource: sourceRef }),
    async (req, res) => {
      const body = parseWith(decisionBody, req.body, 'held leavers approve')
      const outcome = await approvals.perform(
        principalOf(res),
        adminActor(req, res),
        'held-leavers.approve',
        {
          sourceId: String(req.params.id),
          ...(body.ids ? { ids: body.ids } : {}),
        },
      )
      sendOutcome(res, outcome, (result) => res.json(result))
    },
  )
  router.post(
    '/:id/held-leavers/discard',
    authorize({ kind: 'permission', action: 'plan.reject', resource: sourceRef }),
    async (req, res) => {
      const body = parseWith(decisionBody, req.body, 'held leavers discard')
      const items = await held.decide(adminActor(req, res), String(req.params.id), 'discard', body.ids)
      res.json({ decision: 'discard', items })
    },
  )
  return router
}
