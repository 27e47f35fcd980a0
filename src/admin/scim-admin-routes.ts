import { Router } from 'express'
import { z } from 'zod'
import type { HeldLeaverService } from './held-leavers'
import { adminActor, parseWith } from './request-actor'
import type { ScimTokenService } from './scim-tokens'

const tokenBody = z.object({ name: z.string().trim().min(1).max(200).optional() }).strict()
const decisionBody = z.object({ ids: z.array(z.string()).min(1).max(10000).optional() }).strict()

/** Under /sources/{id}: a SCIM source's bearer tokens and the leavers its guard holds. */
export function scimAdminRoutes(tokens: ScimTokenService, held: HeldLeaverService): Router {
  const router = Router()
  router.post('/:id/scim-tokens', async (req, res) => {
    const body = parseWith(tokenBody, req.body, 'SCIM token')
    const created = await tokens.create(adminActor(req, res), req.params.id, body.name)
    // The secret is in this response only: never cached by anything in between.
    res.setHeader('Cache-Control', 'no-store')
    res.status(201).location(`${req.baseUrl}/${req.params.id}/scim-tokens/${created.id}`).json(created)
  })
  router.get('/:id/scim-tokens', async (req, res) => {
    res.json({ items: await tokens.list(req.params.id) })
  })
  router.delete('/:id/scim-tokens/:tokenId', async (req, res) => {
    await tokens.revoke(adminActor(req, res), req.params.id, req.params.tokenId)
    res.status(204).end()
  })
  router.get('/:id/held-leavers', async (req, res) => {
    res.json({ items: await held.list(req.params.id) })
  })
  for (const decision of ['approve', 'discard'] as const) {
    router.post(`/:id/held-leavers/${decision}`, async (req, res) => {
      const body = parseWith(decisionBody, req.body, `held leavers ${decision}`)
      const items = await held.decide(adminActor(req, res), req.params.id, decision, body.ids)
      res.json({ decision, items })
    })
  }
  return router
}
