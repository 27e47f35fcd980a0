import type { Request, Response } from 'express'
import type { z } from 'zod'
import { AppError, invalid } from '../errors'
import type { Actor } from '../org/actor'
import type { AdminPrincipal } from './authz/principal'

/** The authenticated admin of this request, as the actor of the writes it makes. */
export function adminActor(req: Request, res: Response): Actor {
  const admin = res.locals.admin as AdminPrincipal | undefined
  if (!admin) throw new AppError('unauthorized', 'not signed in')
  const userAgent = req.headers['user-agent']
  return {
    type: 'admin',
    id: admin.adminId,
    name: admin.name,
    ip: req.ip ?? null,
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, 512) : null,
    requestId: String(req.id),
  }
}

/** Parses a request part with a zod schema; a mismatch is a 400 naming each bad field. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value ?? {})
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
  throw invalid(
    `${what} is not valid: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    { issues },
  )
}
