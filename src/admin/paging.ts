import { z } from 'zod'

/** `?limit=&cursor=` with a default and a hard maximum per listing. */
export function pagingQuery(defaultLimit: number, maxLimit: number) {
  return z.object({
    limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit),
    cursor: z.string().min(1).optional(),
  })
}
