import { Router } from 'express'
import { z } from 'zod'
import { adminActor, parseWith } from './request-actor'
import type { SourceService } from './source-service'

const mode = z.enum(['auto', 'review'])
const precedence = z.number().int().min(0).max(10000)

const createBody = z
  .object({
    type: z.string().min(1),
    name: z.string().trim().min(1).max(200),
    config: z.record(z.string(), z.unknown()).optional(),
    mode: mode.optional(),
    precedence: precedence.optional(),
    schedule: z.string().min(1).max(120).nullable().optional(),
    policy: z.record(z.string(), z.unknown()).optional(),
    enabled: z.boolean().optional(),
  })
  .strict()

const patchBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
    mode: mode.optional(),
    precedence: precedence.optional(),
    schedule: z.string().min(1).max(120).nullable().optional(),
    policy: z.record(z.string(), z.unknown()).optional(),
    enabled: z.boolean().optional(),
  })
  .strict()

export function sourcesRoutes(sources: SourceService): Router {
  const router = Router()
  router.get('/', async (_req, res) => {
    res.json({ items: await sources.list() })
  })
  router.post('/', async (req, res) => {
    const body = parseWith(createBody, req.body, 'source')
    const created = await sources.create(adminActor(req, res), body)
    res.status(201).location(`${req.baseUrl}/${created.id}`).json(created)
  })
  router.get('/:id', async (req, res) => {
    res.json(await sources.get(req.params.id))
  })
  router.patch('/:id', async (req, res) => {
    const body = parseWith(patchBody, req.body, 'source patch')
    res.json(await sources.update(adminActor(req, res), req.params.id, body))
  })
  router.delete('/:id', async (req, res) => {
    await sources.delete(adminActor(req, res), req.params.id)
    res.status(204).end()
  })
  return router
}
