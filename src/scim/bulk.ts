import { BULK_MAX_OPERATIONS } from './discovery'
import { ScimError, badRequest } from './scim-error'

export const BULK_REQUEST_URN = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest'
export const BULK_RESPONSE_URN = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse'

export interface BulkOperation {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  bulkId?: string
  path: string
  data?: unknown
  /** An ETag the resource must match (If-Match). */
  version?: string
}

/** What one operation did, as the BulkResponse reports it. */
export interface BulkOutcome {
  status: number
  location?: string
  version?: string
  /** The new resource's id (for bulkId references). */
  id?: string
  /** An error body, for failed operations. */
  response?: unknown
}

export type BulkExecutor = (op: BulkOperation) => Promise<BulkOutcome>

const BULK_REF = /^bulkId:(.+)$/

function parseRequest(body: unknown): { operations: BulkOperation[]; failOnErrors: number | undefined } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('invalidSyntax', 'a Bulk request must be a JSON object')
  const b = body as Record<string, unknown>
  if (!Array.isArray(b.schemas) || !b.schemas.includes(BULK_REQUEST_URN))
    throw badRequest('invalidSyntax', `a Bulk request's schemas must include ${BULK_REQUEST_URN}`)
  const ops = b.Operations ?? b.operations
  if (!Array.isArray(ops) || ops.length === 0)
    throw badRequest('invalidSyntax', 'a Bulk request needs a non-empty Operations array')
  if (ops.length > BULK_MAX_OPERATIONS)
    throw new ScimError(
      413,
      undefined,
      `a Bulk request may hold at most ${BULK_MAX_OPERATIONS} operations, this one has ${ops.length}`,
    )
  const failOnErrors = b.failOnErrors
  if (
    failOnErrors !== undefined &&
    (typeof failOnErrors !== 'number' || !Number.isInteger(failOnErrors) || failOnErrors < 1)
  )
    throw badRequest('invalidValue', 'failOnErrors must be a positive integer')
  const seen = new Set<string>()
  const operations = ops.map((raw, i): BulkOperation => {
    const where = `Operations[${i}]`
    if (typeof raw !== 'object' || raw === null)
      throw badRequest('invalidSyntax', `${where} must be an object`)
    const o = raw as Record<string, unknown>
    const method = typeof o.method === 'string' ? o.method.toUpperCase() : ''
    if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method))
      throw badRequest('invalidValue', `${where}.method must be POST, PUT, PATCH or DELETE`)
    if (typeof o.path !== 'string' || !o.path.startsWith('/'))
      throw badRequest('invalidValue', `${where}.path must be a resource path like /Users or /Users/{id}`)
    if (o.bulkId !== undefined && (typeof o.bulkId !== 'string' || o.bulkId === ''))
      throw badRequest('invalidValue', `${where}.bulkId must be a non-empty string`)
    if (method === 'POST' && o.bulkId === undefined)
      throw badRequest('invalidValue', `${where}: a POST needs a bulkId`)
    if (typeof o.bulkId === 'string') {
      if (seen.has(o.bulkId)) throw badRequest('invalidValue', `${where}: bulkId ${o.bulkId} is used twice`)
      seen.add(o.bulkId)
    }
    if (method !== 'DELETE' && o.data === undefined)
      throw badRequest('invalidSyntax', `${where}: ${method} needs data`)
    return {
      method: method as BulkOperation['method'],
      path: o.path,
      ...(typeof o.bulkId === 'string' ? { bulkId: o.bulkId } : {}),
      ...(o.data === undefined ? {} : { data: o.data }),
      ...(typeof o.version === 'string' ? { version: o.version } : {}),
    }
  })
  return { operations, failOnErrors: failOnErrors as number | undefined }
}

/** bulkId references an operation's data or path makes (`"bulkId:qwerty"` as a value). */
function references(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    const m = BULK_REF.exec(value)
    if (m) out.add(m[1]!)
  } else if (Array.isArray(value)) for (const v of value) references(v, out)
  else if (typeof value === 'object' && value !== null)
    for (const v of Object.values(value)) references(v, out)
  return out
}

function substitute(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') {
    const m = BULK_REF.exec(value)
    return m && ids.has(m[1]!) ? ids.get(m[1]!) : value
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, ids))
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, ids)]))
  return value
}

/**
 * RFC 7644 §3.7: runs the operations one by one, each in its own transaction (a bulk request is not
 * atomic). An operation referring to another's bulkId waits until that one has run, so references
 * may point forwards; one that refers to a failed, unknown or circular bulkId fails itself. After
 * failOnErrors errors the rest is not run.
 */
export async function runBulk(body: unknown, execute: BulkExecutor): Promise<Record<string, unknown>> {
  const { operations, failOnErrors } = parseRequest(body)
  const ids = new Map<string, string>()
  const failed = new Set<string>()
  const declared = new Set(operations.flatMap((o) => (o.bulkId ? [o.bulkId] : [])))
  const results: Record<string, unknown>[] = []
  let errors = 0
  let pending = operations.map((op, index) => ({ op, index, refs: references([op.path, op.data]) }))
  const fail = (op: BulkOperation, err: ScimError) => {
    errors++
    if (op.bulkId) failed.add(op.bulkId)
    results.push({
      method: op.method,
      ...(op.bulkId ? { bulkId: op.bulkId } : {}),
      status: String(err.status),
      response: err.toJSON(),
    })
  }
  while (pending.length > 0 && (failOnErrors === undefined || errors < failOnErrors)) {
    const ready = pending.filter((p) =>
      [...p.refs].every((r) => ids.has(r) || failed.has(r) || !declared.has(r)),
    )
    // Nothing can run: what is left refers in a circle.
    const batch = ready.length > 0 ? [ready[0]!] : [pending[0]!]
    const { op, refs } = batch[0]!
    pending = pending.filter((p) => p !== batch[0])
    const broken = [...refs].find((r) => !ids.has(r))
    if (broken !== undefined) {
      const why = !declared.has(broken)
        ? 'is not declared in this request'
        : failed.has(broken)
          ? 'failed'
          : 'refers back to this one'
      fail(op, new ScimError(409, 'invalidValue', `bulkId ${broken} ${why}`))
      continue
    }
    try {
      const outcome = await execute({
        ...op,
        path: substitute(op.path, ids) as string,
        data: substitute(op.data, ids),
      })
      if (op.bulkId && outcome.id) ids.set(op.bulkId, outcome.id)
      if (outcome.status >= 400) {
        errors++
        if (op.bulkId) failed.add(op.bulkId)
      }
      results.push({
        method: op.method,
        ...(op.bulkId ? { bulkId: op.bulkId } : {}),
        ...(outcome.version ? { version: outcome.version } : {}),
        ...(outcome.location ? { location: outcome.location } : {}),
        status: String(outcome.status),
        ...(outcome.response === undefined ? {} : { response: outcome.response }),
      })
    } catch (err) {
      if (!(err instanceof ScimError)) throw err
      fail(op, err)
    }
  }
  return { schemas: [BULK_RESPONSE_URN], Operations: results }
}
