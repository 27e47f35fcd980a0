import type { ErrorRequestHandler, RequestHandler } from 'express'
import { AppError, type ErrorKind } from '../errors'

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  unavailable: 503,
}

export interface ErrorBody {
  error: { code: string; message: string; requestId?: string; details?: unknown }
}

function body(code: string, message: string, requestId: unknown, details?: unknown): ErrorBody {
  return {
    error: {
      code,
      message,
      ...(typeof requestId === 'string' ? { requestId } : {}),
      ...(details === undefined ? {} : { details }),
    },
  }
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json(body('not-found', `no route for ${req.method} ${req.path}`, req.id))
}

/** Body-parser failures carry a status and a type; everything else unknown is a 500. */
function parserError(err: unknown): { status: number; code: string; message: string } | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err)) return undefined
  const type = (err as { type: unknown }).type
  if (type === 'entity.parse.failed')
    return { status: 400, code: 'invalid', message: 'request body is not valid JSON' }
  if (type === 'entity.too.large')
    return { status: 413, code: 'too-large', message: 'request body is too large' }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return { status: 415, code: 'unsupported', message: 'request body encoding is not supported' }
  }
  return undefined
}

export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) return next(err)
  if (err instanceof AppError) {
    if (err.kind === 'unauthorized') res.setHeader('WWW-Authenticate', 'Bearer realm="orgsync"')
    res.status(STATUS[err.kind]).json(body(err.kind, err.message, req.id, err.details))
    return
  }
  const parser = parserError(err)
  if (parser) {
    res.status(parser.status).json(body(parser.code, parser.message, req.id))
    return
  }
  req.log.error({ err }, 'request failed')
  res.status(500).json(body('internal', 'internal error: see the server log for this request id', req.id))
}
