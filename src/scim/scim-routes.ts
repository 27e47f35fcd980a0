import express, { Router, type Request, type RequestHandler, type Response } from 'express'
import type { Logger } from '../logger'
import type { OrgStore } from '../org/org-store'
import { runBulk, type BulkOperation, type BulkOutcome } from './bulk'
import {
  BULK_MAX_PAYLOAD_BYTES,
  MAX_BODY_BYTES,
  resourceTypes,
  schemas,
  serviceProviderConfig,
} from './discovery'
import { groupResource, listGroups, membersOf, type GroupRow } from './group-resources'
import { ScimGroupService } from './group-service'
import { parseListParams, parseProjection, type ListParams } from './list-params'
import { excludes, project } from './projection'
import { etagOf, versionsIn, type ResourceContext } from './resource-location'
import type { ScimCaller } from './scim-caller'
import { ScimError, badRequest } from './scim-error'
import { toScimError } from './to-scim-error'
import { USER_EXTENSION_URNS, listUsers, userResource, type UserRow } from './user-resources'
import { ScimUserService } from './user-service'

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8'
const LIST_RESPONSE_URN = 'urn:ietf:params:scim:api:messages:2.0:ListResponse'
const SEARCH_REQUEST_URN = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest'
const JSON_TYPES = ['application/scim+json', 'application/json']

export interface ScimDeps {
  store: OrgStore
  logger: Logger
  /**
   * Resolves the bearer token to its source (res.locals.scim: sourceId, sourceName, tokenId) or throws
   * a 401; runs before any body is read.
   */
  authenticate: RequestHandler
}

type Params = Pick<ListParams, 'attributes' | 'excludedAttributes'>

/**
 * Writes the answer as is: resources carry their own ETag (meta.version), so express's hash of every
 * body (its automatic weak ETag, and the freshness check that goes with it) is work for nothing.
 */
function send(res: Response, status: number, body?: unknown, etag?: string): void {
  if (etag) res.setHeader('ETag', etag)
  res.status(status)
  if (body === undefined) {
    res.end()
    return
  }
  const text = JSON.stringify(body)
  res.setHeader('Content-Type', SCIM_CONTENT_TYPE)
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}

function contextOf(req: Request): ResourceContext {
  return { baseUrl: `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}` }
}

function callerOf(req: Request, res: Response): ScimCaller {
  const caller = res.locals.scim as Omit<ScimCaller, 'ip' | 'requestId'> | undefined
  if (!caller) throw new ScimError(401, undefined, 'missing SCIM bearer token')
  return {
    ...caller,
    ip: req.ip ?? null,
    requestId: typeof req.id === 'string' ? req.id : String(req.id ?? ''),
  }
}

/** If-Match as the versions the write may apply to (undefined: unconditional; `*`: any existing one). */
function ifMatch(req: Request): number[] | undefined {
  const header = req.headers['if-match']
  if (header === undefined) return undefined
  const { any, versions } = versionsIn(String(header))
  if (any) return undefined
  // An If-Match naming none of our ETags matches nothing: the write fails with 412.
  return [...versions]
}

function notModified(req: Request, version: number): boolean {
  const header = req.headers['if-none-match']
  if (header === undefined) return false
  const { any, versions } = versionsIn(String(header))
  return any || versions.has(version)
}

/** Rejects a body in anything but JSON before it is read (express.json would leave it unparsed). */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
  if (hasBody && !req.is(JSON_TYPES)) {
    throw new ScimError(
      415,
      undefined,
      `send the request body as application/scim+json or application/json, not ${req.headers['content-type'] ?? 'an unlabelled body'}`,
    )
  }
  next()
}

const bodyOf = (req: Request): unknown => {
  if (req.body === undefined) throw badRequest('invalidSyntax', 'this request needs a JSON body')
  return req.body
}

function searchParams(body: unknown): ListParams {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('invalidSyntax', 'a search request must be a JSON object')
  const b = body as Record<string, unknown>
  if (!Array.isArray(b.schemas) || !b.schemas.includes(SEARCH_REQUEST_URN))
    throw badRequest('invalidSyntax', `a search request's schemas must include ${SEARCH_REQUEST_URN}`)
  const known = new Set([
    'schemas',
    'attributes',
    'excludedAttributes',
    'filter',
    'sortBy',
    'sortOrder',
    'startIndex',
    'count',
  ])
  const unknown = Object.keys(b).find((k) => !known.has(k))
  if (unknown)
    throw badRequest('invalidSyntax', `a search request has no attribute ${JSON.stringify(unknown)}`)
  return parseListParams(b)
}

/** The SCIM 2.0 service provider (RFC 7644) at /scim/v2; the caller's source comes from its token. */
export function scimRoutes(deps: ScimDeps): Router {
  const users = new ScimUserService(deps.store)
  const groups = new ScimGroupService(deps.store)
  const db = deps.store.db
  const router = Router()
  router.use(deps.authenticate)
  const json = (limit: number) => express.json({ limit, type: JSON_TYPES, strict: true })

  const serveUser = (row: UserRow, ctx: ResourceContext, params: Params) =>
    project(userResource(row, ctx), params, USER_EXTENSION_URNS)

  const serveGroups = async (rows: GroupRow[], ctx: ResourceContext, params: Params) => {
    const withMembers = !excludes(params, 'members')
    const members = withMembers
      ? await membersOf(
          db,
          rows.map((r) => r.id),
        )
      : undefined
    return rows.map((r) => project(groupResource(r, members?.get(r.id) ?? [], ctx), params, []))
  }

  const listResponse = (total: number, params: ListParams, resources: unknown[]) => ({
    schemas: [LIST_RESPONSE_URN],
    totalResults: total,
    startIndex: params.startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  })

  const searchUsers = async (req: Request, res: Response, params: ListParams) => {
    const caller = callerOf(req, res)
    const { total, rows } = await listUsers(db, caller.sourceId, params)
    const ctx = contextOf(req)
    send(
      res,
      200,
      listResponse(
        total,
        params,
        rows.map((r) => serveUser(r, ctx, params)),
      ),
    )
  }
  const searchGroups = async (req: Request, res: Response, params: ListParams) => {
    const caller = callerOf(req, res)
    const { total, rows } = await listGroups(db, caller.sourceId, params)
    send(res, 200, listResponse(total, params, await serveGroups(rows, contextOf(req), params)))
  }

  // ---- discovery ----------------------------------------------------------------------------------
  router.get('/ServiceProviderConfig', (req, res) => send(res, 200, serviceProviderConfig(contextOf(req))))
  router.get('/ResourceTypes', (req, res) => {
    const all = resourceTypes(contextOf(req))
    send(res, 200, {
      schemas: [LIST_RESPONSE_URN],
      totalResults: all.length,
      startIndex: 1,
      itemsPerPage: all.length,
      Resources: all,
    })
  })
  router.get('/ResourceTypes/:id', (req, res) => {
    const found = resourceTypes(contextOf(req)).find(
      (r) => String(r.id).toLowerCase() === String(req.params.id).toLowerCase(),
    )
    if (!found) throw new ScimError(404, undefined, `ResourceType ${String(req.params.id)} not found`)
    send(res, 200, found)
  })
  router.get('/Schemas', (req, res) => {
    const all = schemas(contextOf(req))
    send(res, 200, {
      schemas: [LIST_RESPONSE_URN],
      totalResults: all.length,
      startIndex: 1,
      itemsPerPage: all.length,
      Resources: all,
    })
  })
  router.get('/Schemas/:id', (req, res) => {
    const found = schemas(contextOf(req)).find(
      (s) => String(s.id).toLowerCase() === String(req.params.id).toLowerCase(),
    )
    if (!found) throw new ScimError(404, undefined, `Schema ${String(req.params.id)} not found`)
    send(res, 200, found)
  })

  // ---- users --------------------------------------------------------------------------------------
  router.get('/Users', (req, res) =>
    searchUsers(req, res, parseListParams(req.query as Record<string, unknown>)),
  )
  router.post('/Users/.search', requireJsonBody, json(MAX_BODY_BYTES), (req, res) =>
    searchUsers(req, res, searchParams(bodyOf(req))),
  )
  router.post('/Users', requireJsonBody, json(MAX_BODY_BYTES), async (req, res) => {
    const params = parseProjection(req.query as Record<string, unknown>)
    const row = await users.create(callerOf(req, res), bodyOf(req))
    const ctx = contextOf(req)
    res.location(`${ctx.baseUrl}/Users/${row.id}`)
    send(res, 201, serveUser(row, ctx, params), etagOf(row.version))
  })
  router.get('/Users/:id', async (req, res) => {
    const params = parseProjection(req.query as Record<string, unknown>)
    const row = await users.read(callerOf(req, res), String(req.params.id))
    if (notModified(req, row.version)) return send(res, 304, undefined, etagOf(row.version))
    send(res, 200, serveUser(row, contextOf(req), params), etagOf(row.version))
  })
  router.put('/Users/:id', requireJsonBody, json(MAX_BODY_BYTES), async (req, res) => {
    const params = parseProjection(req.query as Record<string, unknown>)
    const row = await users.replace(callerOf(req, res), String(req.params.id), bodyOf(req), ifMatch(req))
    send(res, 200, serveUser(row, contextOf(req), params), etagOf(row.version))
  })
  router.patch('/Users/:id', requireJsonBody, json(MAX_BODY_BYTES), async (req, res) => {
    const params = parseProjection(req.query as Record<string, unknown>)
    const row = await users.patch(callerOf(req, res), String(req.params.id), bodyOf(req), ifMatch(req))
    send(res, 200, serveUser(row, contextOf(req), params), etagOf(row.version))
  })
  router.delete('/Users/:id', async (req, res) => {
    await users.remove(callerOf(req, res), String(req.params.id), ifMatch(req))
    send(res, 204)
  })

  // ---- groups -------------------------------------------------------------------------------------
  router.get('/Groups', (req, res) =>
    searchGroups(req, res, parseListParams(req.query as Record<string, unknown>)),
  )
  router.post('/Groups/.search', requireJsonBody, json(MAX_BODY_BYTES), (req, res) =>
    searchGroups(req, res, searchParams(bodyOf(req))),
  )
  router.post('/Groups', requireJsonBody, json(MAX_BODY_BYTES), async (req, res) => {
    const params = parseProjection(req.query as Record<string, unknown>)
    const row = await groups.create(callerOf(req, res), bodyOf(req))
    const ctx = contextOf(req)
    res.location(`${ctx.baseUrl}/Groups/${row.id}`)
    send(res, 201, (await serveGroups([row], ctx, params))[0], etagOf(row.version))
  })
  router.get('/Groups/:id', async (req, res) => {
    const params = parseProjection(req.query as Record<string, unknown>)
    const row = await groups.read(callerOf(req, res), String(req.params.id))
    if (notModified(req, row.version)) return send(res, 304, undefined, etagOf(row.version))
    send(res, 200, (await serveGroups([row], contextOf(req), params))[0], etagOf(row.version))
  })
  router.put('/Groups/:id', requireJsonBody, json(MAX_BODY_BYTES), async (req, res) => {
    const params = parseProjection(req.query as Record<string, unknown>)
    const row = await groups.replace(callerOf(req, res), String(req.params.id), bodyOf(req), ifMatch(req))
    send(res, 200, (await serveGroups([row], contextOf(req), params))[0], etagOf(row.version))
  })
  router.patch('/Groups/:id', requireJsonBody, json(MAX_BODY_BYTES), async (req, res) => {
    const query = req.query as Record<string, unknown>
    const version = await groups.patch(callerOf(req, res), String(req.params.id), bodyOf(req), ifMatch(req))
    // The whole group (perhaps 50,000 members) only when asked for: a member change stays O(change).
    if (query.attributes !== undefined || query.excludedAttributes !== undefined) {
      const params = parseProjection(query)
      const row = await groups.read(callerOf(req, res), String(req.params.id))
      return send(res, 200, (await serveGroups([row], contextOf(req), params))[0], etagOf(row.version))
    }
    send(res, 204, undefined, etagOf(version))
  })
  router.delete('/Groups/:id', async (req, res) => {
    await groups.remove(callerOf(req, res), String(req.params.id), ifMatch(req))
    send(res, 204)
  })

  // ---- across resource types ----------------------------------------------------------------------
  router.post('/.search', requireJsonBody, json(MAX_BODY_BYTES), async (req, res) => {
    const params = searchParams(bodyOf(req))
    const caller = callerOf(req, res)
    const ctx = contextOf(req)
    // Users first, then groups, as one list. A filter naming attributes one type lacks selects none of
    // that type; a filter neither type understands is a 400.
    const totals = async <T>(list: (p: ListParams) => Promise<{ total: number; rows: T[] }>) => {
      try {
        return await list({ ...params, startIndex: 1, count: 0 })
      } catch (err) {
        if (toScimError(err)?.scimType === 'invalidFilter') return undefined
        throw err
      }
    }
    const userCount = await totals((p) => listUsers(db, caller.sourceId, p))
    const groupCount = await totals((p) => listGroups(db, caller.sourceId, p))
    if (!userCount && !groupCount) {
      await listUsers(db, caller.sourceId, { ...params, count: 0 }) // throws the filter's error
    }
    const nUsers = userCount?.total ?? 0
    const nGroups = groupCount?.total ?? 0
    const resources: unknown[] = []
    const first = params.startIndex - 1
    if (params.count > 0 && userCount && first < nUsers) {
      const { rows } = await listUsers(db, caller.sourceId, params)
      resources.push(...rows.map((r) => serveUser(r, ctx, params)))
    }
    const left = params.count - resources.length
    if (left > 0 && groupCount && first + resources.length < nUsers + nGroups) {
      const startIndex = Math.max(1, first + resources.length - nUsers + 1)
      const { rows } = await listGroups(db, caller.sourceId, { ...params, startIndex, count: left })
      resources.push(...(await serveGroups(rows, ctx, params)))
    }
    send(res, 200, listResponse(nUsers + nGroups, params, resources))
  })

  router.post('/Bulk', requireJsonBody, json(BULK_MAX_PAYLOAD_BYTES), async (req, res) => {
    const caller = callerOf(req, res)
    const ctx = contextOf(req)
    const execute = async (op: BulkOperation): Promise<BulkOutcome> => {
      try {
        return await runOperation(op, caller, ctx)
      } catch (err) {
        const scim = toScimError(err)
        if (!scim) {
          req.log.error({ err, bulkId: op.bulkId }, 'bulk operation failed')
          return { status: 500, response: new ScimError(500, undefined, 'internal error').toJSON() }
        }
        return { status: scim.status, response: scim.toJSON() }
      }
    }
    send(res, 200, await runBulk(bodyOf(req), execute))
  })

  const runOperation = async (
    op: BulkOperation,
    caller: ScimCaller,
    ctx: ResourceContext,
  ): Promise<BulkOutcome> => {
    const m = /^\/(Users|Groups)(?:\/([^/]+))?$/i.exec(op.path)
    if (!m)
      throw badRequest(
        'invalidValue',
        `bulk path ${op.path} is not /Users, /Groups or one of their resources`,
      )
    const type = m[1]!.toLowerCase() === 'users' ? 'Users' : 'Groups'
    const id = m[2]
    const match = op.version ? [...versionsIn(op.version).versions] : undefined
    if ((op.method === 'POST') !== (id === undefined))
      throw badRequest(
        'invalidValue',
        `bulk ${op.method} ${op.path}: ${op.method === 'POST' ? 'POST goes to the collection' : 'name the resource'}`,
      )
    const located = (rid: string, version: number, status: number): BulkOutcome => ({
      status,
      id: rid,
      location: `${ctx.baseUrl}/${type}/${rid}`,
      version: etagOf(version),
    })
    if (type === 'Users') {
      if (op.method === 'POST') {
        const row = await users.create(caller, op.data)
        return located(row.id, row.version, 201)
      }
      if (op.method === 'PUT') {
        const row = await users.replace(caller, id!, op.data, match)
        return located(row.id, row.version, 200)
      }
      if (op.method === 'PATCH') {
        const row = await users.patch(caller, id!, op.data, match)
        return located(row.id, row.version, 200)
      }
      await users.remove(caller, id!, match)
      return { status: 204, location: `${ctx.baseUrl}/Users/${id}` }
    }
    if (op.method === 'POST') {
      const row = await groups.create(caller, op.data)
      return located(row.id, row.version, 201)
    }
    if (op.method === 'PUT') {
      const row = await groups.replace(caller, id!, op.data, match)
      return located(row.id, row.version, 200)
    }
    if (op.method === 'PATCH') {
      const version = await groups.patch(caller, id!, op.data, match)
      return located(id!, version, 200)
    }
    await groups.remove(caller, id!, match)
    return { status: 204, location: `${ctx.baseUrl}/Groups/${id}` }
  }

  router.use((req) => {
    throw new ScimError(404, undefined, `no SCIM endpoint ${req.method} ${req.path}`)
  })
  router.use(scimErrorHandler(deps.logger))
  return router
}

/** Every failure of a SCIM request as an RFC 7644 §3.12 error body; server faults are logged, never leaked. */
export function scimErrorHandler(logger: Logger): express.ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err)
    const scim = toScimError(err)
    if (scim) {
      if (scim.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="orgsync SCIM"')
      if (scim.status >= 500) (req.log ?? logger).error({ err }, 'SCIM request failed: store unavailable')
      return send(res, scim.status, scim.toJSON())
    }
    ;(req.log ?? logger).error({ err }, 'SCIM request failed')
    send(
      res,
      500,
      new ScimError(500, undefined, 'internal error: see the server log for this request id').toJSON(),
    )
  }
}
