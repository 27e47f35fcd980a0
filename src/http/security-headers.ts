import type { RequestHandler } from 'express'
import helmet from 'helmet'

/**
 * helmet's default security headers, worked out once and then set on every answer.
 *
 * With its defaults helmet's headers are the same for every request, but it computes them through
 * a dozen chained middlewares per request — about a twentieth of a filtered SCIM GET's CPU. The
 * headers are captured once from helmet itself, so they stay exactly what helmet would send.
 */
export function securityHeaders(): RequestHandler {
  const headers = new Map<string, string>()
  const capture = {
    setHeader: (name: string, value: string | number | readonly string[]) =>
      headers.set(name, Array.isArray(value) ? value.join(', ') : String(value)),
    removeHeader: (name: string) => headers.delete(name),
  }
  let done = false
  helmet()({} as never, capture as never, () => {
    done = true
  })
  // helmet's defaults are synchronous; should that ever change, fail loudly at startup.
  if (!done || headers.size === 0) throw new Error('security headers: helmet did not finish synchronously')
  const entries = [...headers]
  return (_req, res, next) => {
    for (const [name, value] of entries) res.setHeader(name, value)
    next()
  }
}
