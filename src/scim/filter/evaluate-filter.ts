import { bindFilter, type BoundFilter, type ValueRef } from './bind-filter'
import { parseDateTime } from './date-time'
import { satisfiesOrder, type CompareOperator, type FilterNode } from './filter-ast'
import type { ResourceFilterSchema } from './resource-schema'

/** A SCIM resource as served: canonical attribute names, extensions under their URN. */
export type ScimResource = Readonly<Record<string, unknown>>

/**
 * The reference semantics of filterToSql, evaluated on a resource in memory. It reads the SCIM
 * document by attribute name and never looks at the storage mapping, so comparing the two on random
 * data checks the SQL, the mapping and this file against each other. For tests: production filters
 * run in SQL, never over a loaded table.
 *
 * Like the SQL, it assumes stored resources are schema-valid (validated on write): a value of the
 * wrong JSON type counts as missing here, where SQL might read it as text.
 */
export function matchesFilter(
  node: FilterNode,
  resource: ScimResource,
  schema: ResourceFilterSchema,
): boolean {
  return evaluate(bindFilter(node, schema), resource)
}

function evaluate(node: BoundFilter, scope: unknown): boolean {
  switch (node.kind) {
    case 'and':
      return node.filters.every((f) => evaluate(f, scope))
    case 'or':
      return node.filters.some((f) => evaluate(f, scope))
    case 'not':
      return !evaluate(node.filter, scope)
    case 'compare':
      return compare(node.ref, node.op, node.value, read(scope, node.ref.scimPath))
    case 'present':
      return isPresent(node.ref, read(scope, node.ref.scimPath))
    case 'any': {
      const value = read(scope, node.container.scimPath)
      if (node.container.attribute.multiValued)
        return Array.isArray(value) && value.some((v) => evaluate(node.filter, v))
      return isObject(value) && evaluate(node.filter, value)
    }
  }
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Keys from `root`; an empty path is `root` itself (an element of a multi-valued attribute). */
function read(root: unknown, path: readonly string[]): unknown {
  let value = root
  for (const key of path) value = isObject(value) ? value[key] : undefined
  return value
}

function isPresent(ref: ValueRef, value: unknown): boolean {
  switch (ref.attribute.type) {
    case 'string':
    case 'reference':
    case 'dateTime':
      return typeof value === 'string' && value !== ''
    case 'boolean':
      return typeof value === 'boolean'
    case 'integer':
    case 'decimal':
      return typeof value === 'number'
    case 'complex':
      throw new Error('pr on a complex attribute is bound to its sub-attributes')
  }
}

function compare(
  ref: ValueRef,
  op: CompareOperator,
  operand: string | number | boolean,
  value: unknown,
): boolean {
  switch (ref.attribute.type) {
    case 'string':
    case 'reference': {
      if (typeof value !== 'string' || typeof operand !== 'string') return false
      const fold = ref.attribute.caseExact ? (s: string) => s : foldCase
      return compareStrings(op, fold(value), fold(operand))
    }
    case 'boolean':
      if (typeof value !== 'boolean') return false
      return op === 'eq' ? value === operand : value !== operand
    case 'integer':
    case 'decimal':
      return (
        typeof value === 'number' &&
        typeof operand === 'number' &&
        satisfiesOrder(op, Math.sign(value - operand))
      )
    case 'dateTime': {
      const stored = typeof value === 'string' ? parseDateTime(value) : undefined
      const wanted = typeof operand === 'string' ? parseDateTime(operand) : undefined
      if (!stored || !wanted) return false
      return satisfiesOrder(op, stored.micros === wanted.micros ? 0 : stored.micros < wanted.micros ? -1 : 1)
    }
    case 'complex':
      return false
  }
}

function compareStrings(op: CompareOperator, value: string, operand: string): boolean {
  switch (op) {
    case 'co':
      return value.includes(operand)
    case 'sw':
      return value.startsWith(operand)
    case 'ew':
      return value.endsWith(operand)
    default:
      return satisfiesOrder(op, compareCodePoints(value, operand))
  }
}

/** Code point order, as COLLATE "C" on UTF-8 (JavaScript's < compares UTF-16 units, which differs). */
function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/**
 * PostgreSQL's lower(): each code point mapped on its own (towlower), so no final-sigma rule, and
 * İ becomes a plain i rather than JavaScript's i + combining dot.
 */
export function foldCase(text: string): string {
  let out = ''
  for (const ch of text) {
    const lower = ch.toLowerCase()
    out += String.fromCodePoint(lower.codePointAt(0) ?? 0)
  }
  return out
}
