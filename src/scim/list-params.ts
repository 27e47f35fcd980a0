import { parseFilter, type FilterNode } from './filter'
import { badRequest } from './scim-error'

/** RFC 7644 §3.4.2: what a list or search asks for, checked once at the edge. */
export interface ListParams {
  filter: FilterNode | undefined
  /** The filter as sent, for messages. */
  filterText: string | undefined
  sortBy: string | undefined
  descending: boolean
  /** 1-based. */
  startIndex: number
  count: number
  attributes: string[] | undefined
  excludedAttributes: string[] | undefined
}

/** Advertised in ServiceProviderConfig (filter.maxResults) and enforced: a larger count gets this many. */
export const MAX_PAGE_SIZE = 1000
export const DEFAULT_PAGE_SIZE = 100

type Raw = Record<string, unknown>

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (Array.isArray(value)) throw badRequest('invalidValue', `${name} is given more than once`)
  if (typeof value === 'number') return String(value)
  if (typeof value !== 'string') throw badRequest('invalidValue', `${name} must be a string`)
  return value
}

function integer(value: unknown, name: string): number | undefined {
  const text = single(value, name)
  if (text === undefined || text.trim() === '') return undefined
  if (!/^[+-]?\d{1,15}$/.test(text.trim()))
    throw badRequest('invalidValue', `${name} must be an integer, got ${JSON.stringify(text)}`)
  return Number(text)
}

function attributeList(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined
  const parts = Array.isArray(value) ? value : [value]
  const out: string[] = []
  for (const part of parts) {
    if (typeof part !== 'string') throw badRequest('invalidValue', `${name} must be a comma-separated list`)
    for (const a of part.split(',')) if (a.trim() !== '') out.push(a.trim())
  }
  return out.length > 0 ? out : undefined
}

/**
 * Reads list parameters from a query string (GET) or a SearchRequest body (POST .search): same
 * names, same rules. startIndex below 1 counts as 1 and a negative count as 0 (RFC 7644 §3.4.2.4).
 */
export function parseListParams(source: Raw): ListParams {
  const filterText = single(source.filter, 'filter')
  const filter = filterText === undefined || filterText.trim() === '' ? undefined : parseFilter(filterText)
  const sortOrder = single(source.sortOrder, 'sortOrder')
  if (sortOrder !== undefined && !/^(ascending|descending)$/i.test(sortOrder))
    throw badRequest(
      'invalidValue',
      `sortOrder must be "ascending" or "descending", got ${JSON.stringify(sortOrder)}`,
    )
  const sortBy = single(source.sortBy, 'sortBy')?.trim() || undefined
  const attributes = attributeList(source.attributes, 'attributes')
  const excludedAttributes = attributeList(source.excludedAttributes, 'excludedAttributes')
  if (attributes && excludedAttributes)
    throw badRequest('invalidValue', 'attributes and excludedAttributes cannot be used together')
  return {
    filter,
    filterText,
    sortBy,
    descending: sortOrder !== undefined && sortOrder.toLowerCase() === 'descending',
    startIndex: Math.max(1, integer(source.startIndex, 'startIndex') ?? 1),
    count: Math.min(MAX_PAGE_SIZE, Math.max(0, integer(source.count, 'count') ?? DEFAULT_PAGE_SIZE)),
    attributes,
    excludedAttributes,
  }
}

/** attributes / excludedAttributes for a single resource (GET by id, POST, PUT, PATCH responses). */
export function parseProjection(source: Raw): Pick<ListParams, 'attributes' | 'excludedAttributes'> {
  const attributes = attributeList(source.attributes, 'attributes')
  const excludedAttributes = attributeList(source.excludedAttributes, 'excludedAttributes')
  if (attributes && excludedAttributes)
    throw badRequest('invalidValue', 'attributes and excludedAttributes cannot be used together')
  return { attributes, excludedAttributes }
}
