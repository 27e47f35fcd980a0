/**
 * The syntax tree of an RFC 7644 §3.4.2.2 filter. It knows nothing about schemas or storage: the
 * parser builds it, bind-filter.ts resolves its attribute paths against a resource schema.
 */

export const COMPARE_OPERATORS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const
export type CompareOperator = (typeof COMPARE_OPERATORS)[number]

/**
 * Whether `sign` (of value − operand: negative, zero or positive) satisfies an equality or ordering
 * operator; the substring operators (co, sw, ew) are never satisfied by an ordering.
 */
export function satisfiesOrder(op: CompareOperator, sign: number): boolean {
  switch (op) {
    case 'eq':
      return sign === 0
    case 'ne':
      return sign !== 0
    case 'gt':
      return sign > 0
    case 'ge':
      return sign >= 0
    case 'lt':
      return sign < 0
    case 'le':
      return sign <= 0
    default:
      return false
  }
}

/** A JSON scalar (RFC 7644: compValue = false / null / true / number / string). */
export type ComparisonValue = string | number | boolean | null

/** `[uri ":"] name ["." subAttr]`, e.g. `urn:…:enterprise:2.0:User:manager.value`. */
export interface AttributePath {
  /** Schema URI prefix as written (without the separating colon), if any. */
  readonly uri?: string
  readonly name: string
  readonly subAttr?: string
  /** 0-based offset of the path in the filter text, for error messages. */
  readonly position: number
}

export type FilterNode =
  | {
      readonly kind: 'compare'
      readonly path: AttributePath
      readonly op: CompareOperator
      readonly value: ComparisonValue
    }
  | { readonly kind: 'present'; readonly path: AttributePath }
  /** n-ary: `a and b and c` is one node with three filters. */
  | { readonly kind: 'and' | 'or'; readonly filters: readonly FilterNode[] }
  | { readonly kind: 'not'; readonly filter: FilterNode }
  /** `emails[type eq "work"]`: the inner filter's paths are sub-attributes of `path`. */
  | { readonly kind: 'valuePath'; readonly path: AttributePath; readonly filter: FilterNode }

/** A PATCH operation's path (RFC 7644 §3.5.2): `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`. */
export interface PatchPath {
  readonly path: AttributePath
  /** The value filter selecting elements of a multi-valued attribute. */
  readonly filter?: FilterNode
  /** The sub-attribute after a value filter (`emails[type eq "work"].value` → `value`). */
  readonly subAttr?: string
}

export function formatAttributePath(path: AttributePath): string {
  const name = path.subAttr === undefined ? path.name : `${path.name}.${path.subAttr}`
  return path.uri === undefined ? name : `${path.uri}:${name}`
}

/**
 * Canonical filter text: lower-case operators, JSON values, every nested and/or in parentheses.
 * parseFilter(formatFilter(node)) gives `node` back (positions aside), so tests and logs can show a
 * tree as a filter.
 */
export function formatFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'compare':
      return `${formatAttributePath(node.path)} ${node.op} ${JSON.stringify(node.value)}`
    case 'present':
      return `${formatAttributePath(node.path)} pr`
    case 'and':
    case 'or':
      return node.filters
        .map((f) => (f.kind === 'and' || f.kind === 'or' ? `(${formatFilter(f)})` : formatFilter(f)))
        .join(` ${node.kind} `)
    case 'not':
      return `not (${formatFilter(node.filter)})`
    case 'valuePath':
      return `${formatAttributePath(node.path)}[${formatFilter(node.filter)}]`
  }
}

export function formatPatchPath(patchPath: PatchPath): string {
  let text = formatAttributePath(patchPath.path)
  if (patchPath.filter) text += `[${formatFilter(patchPath.filter)}]`
  if (patchPath.subAttr !== undefined) text += `.${patchPath.subAttr}`
  return text
}
