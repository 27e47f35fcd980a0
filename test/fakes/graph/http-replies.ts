import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Per-request identifiers, as Graph and the identity platform put on every response. */
export interface RequestIds {
  requestId: string
  clientRequestId: string
}

/**
 * What a route answers. Routes return replies instead of writing them so the server can record each
 * response in its request log before the client can possibly see it (tests read the log right after).
 */
export interface Reply {
  status: number
  /** Serialised as JSON unless already a string. */
  body: unknown
  headers?: Record<string, string>
  contentType?: string
}

/** Graph echoes a caller's `client-request-id` and otherwise reuses its own `request-id`. */
export function requestIdsFor(req: IncomingMessage): RequestIds {
  const requestId = randomUUID()
  const sent = req.headers['client-request-id']
  const clientRequestId = typeof sent === 'string' && sent.length > 0 ? sent : requestId
  return { requestId, clientRequestId }
}

export function sendReply(res: ServerResponse, ids: RequestIds, reply: Reply): void {
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body)
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'request-id': ids.requestId,
    'client-request-id': ids.clientRequestId,
    ...reply.headers,
  })
  res.end(text)
}

/** Reads a request body, refusing anything larger than a token request could plausibly be. */
export async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buf = chunk as Buffer
    size += buf.length
    if (size > limit) throw new Error(`request body larger than ${limit} bytes`)
    chunks.push(buf)
  }
  return Buffer.concat(chunks).toString('utf8')
}
