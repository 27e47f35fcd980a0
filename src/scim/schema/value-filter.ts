import { formatAttributePath, type CompareOperator, type FilterNode } from '../filter'
import { satisfiesOrder } from '../filter/filter-ast'
import { foldCase } from '../filter/evaluate-filter'
import { badRequest } from '../scim-error'
import { isPlainObject } from './normalise-value'
import type { AttributeDef } from './schema-model'

/**
 * The value filter of a PATCH path (`emails[type eq "work"]`), evaluated on the elements of one
 * multi-valued attribute in memory. SCIMMY's Filter is not used: it compares case-sensitively
 * (type is caseExact false, so "Work" must match "work"), and a mismatch there makes its PATCH
 * append a duplicate instead of changing the element.
 */

/** Every attribute the filter names must be a sub-attribute of `attr` (else 400 invalidPath). */
export function checkValueFilter(filter: FilterNode, attr: AttributeDef, where: string): void {
  switch (filter.kind) {
    case 'and':
    case 'or':
      for (const f of filter.filters) checkValueFilter(f, attr, where)
      return
    case 'not':
      return checkValueFilter(filter.filter, attr, where)
    case 'valuePath':
      throw badRequest('invalidPath', `${where}: value filters cannot nest`)
    case 'compare':
    case 'present': {
      const path = filter.path
      if (path.uri !== undefined || path.subAttr !== undefined || !attr.sub.has(path.name.toLowerCase())) {
        const known = attr.subAttributes.map((s) => s.name).join(', ')
        throw badRequest(
          'invalidPath',
          `${where}: "${formatAttributePath(path)}" is not a sub-attribute of ${attr.name} (it has ${known})`,
        )
      }
    }
  }
}

/** Whether one element of `attr` matches; call checkValueFilter first. */
export function matchesValueFilter(filter: FilterNode, element: unknown, attr: AttributeDef): boolean {
  switch (filter.kind) {
    case 'and':
      return filter.filters.every((f) => matchesValueFilter(f, element, attr))
    case 'or':
      return filter.filters.some((f) => matchesValueFilter(f, element, attr))
    case 'not':
      return !matchesValueFilter(filter.filter, element, attr)
    case 'valuePath':
      return false
    case 'present': {
      const value = isPlainObject(element) ? element[subOf(attr, filter.path.name).name] : undefined
      return value !== undefined && value !== null && value !== ''
    }
    case 'compare': {
      const sub = subOf(attr, filter.path.name)
      const value = isPlainObject(element) ? element[sub.name] : undefined
      return compare(sub, filter.op, value, filter.value)
    }
  }
}

/**
 * The element an `eq` filter describes (`type eq "work"` → `{type: "work"}`, also `and`-ed), used to
 * create the element a filtered PATCH path targets when none exists. Undefined when the filter
 * does not pin the values down (ne, co, or, not, …).
 */
export function elementFromFilter(
  filter: FilterNode,
  attr: AttributeDef,
): Record<string, unknown> | undefined {
  if (filter.kind === 'compare' && filter.op === 'eq' && filter.value !== null) {
    return { [subOf(attr, filter.path.name).name]: filter.value }
  }
  if (filter.kind === 'and') {
    const parts = filter.filters.map((f) => elementFromFilter(f, attr))
    if (parts.some((p) => p === undefined)) return undefined
    return Object.assign({}, ...parts) as Record<string, unknown>
  }
  return undefined
}

/**
 * Whether `element` has every sub-attribute value `probe` gives, compared as `eq` would: how a
 * PATCH remove with a value list (`{"op":"remove","path":"emails","value":[{"value":"a@b"}]}`)
 * picks the elements to remove.
 */
export function elementMatches(
  element: unknown,
  probe: Record<string, unknown>,
  attr: AttributeDef,
): boolean {
  if (!isPlainObject(element)) return false
  return Object.entries(probe).every(([name, wanted]) => {
    const sub = subOf(attr, name)
    return compare(sub, 'eq', element[sub.name], wanted as string | number | boolean | null)
  })
}

function subOf(attr: AttributeDef, name: string): AttributeDef {
  const sub = attr.sub.get(name.toLowerCase())
  if (!sub) throw new Error(`${attr.name}.${name}: checkValueFilter lets only sub-attributes through`)
  return sub
}

function compare(sub: AttributeDef, op: CompareOperator, value: unknown, operand: unknown): boolean {
  if (value === undefined || value === null)
    return op === 'ne' ? operand !== null : operand === null && op === 'eq'
  if (typeof value === 'string' && typeof operand === 'string') {
    if (sub.type === 'dateTime') return satisfiesOrder(op, Math.sign(Date.parse(value) - Date.parse(operand)))
    const fold = sub.caseExact ? (s: string) => s : foldCase
    const [a, b] = [fold(value), fold(operand)]
    if (op === 'co') return a.includes(b)
    if (op === 'sw') return a.startsWith(b)
    if (op === 'ew') return a.endsWith(b)
    return satisfiesOrder(op, a === b ? 0 : a < b ? -1 : 1)
  }
  if (typeof value === 'boolean' && typeof operand === 'boolean') {
    return op === 'eq' ? value === operand : op === 'ne' ? value !== operand : false
  }
  if (typeof value === 'number' && typeof operand === 'number')
    return satisfiesOrder(op, Math.sign(value - operand))
  return op === 'ne'
}
