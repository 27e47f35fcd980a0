import { parseDateTime } from './date-time'
import type { AttributePath, CompareOperator, ComparisonValue, FilterNode } from './filter-ast'
import type {
  AttributeStorage,
  FilterAttribute,
  ResourceFilterSchema,
  SchemaAttributes,
} from './resource-schema'
import { ScimFilterError } from './scim-filter-error'

/**
 * A filter resolved against a resource schema: every path is a known attribute with its storage,
 * every operand has the attribute's type, and the RFC's shorthands are spelled out, so the SQL
 * translator and the reference evaluator implement the same few cases:
 *
 * - a multi-valued attribute (`emails.value eq "x"`, `emails co "x"`, `schemas eq "…"`) becomes
 *   `any`: some element satisfies the comparison (RFC 7644 §3.4.2.2: "only one has to match");
 * - a complex attribute without a sub-attribute compares its `value` sub-attribute
 *   (`emails co "x"` ≡ `emails.value co "x"`, one of the RFC's own examples);
 * - `x pr` on a complex attribute means some sub-attribute is present ("a non-empty node");
 * - `x eq null` ≡ `not (x pr)` and `x ne null` ≡ `x pr` (RFC 7643 §2.5: null ≡ unassigned).
 */
export type BoundFilter =
  | { readonly kind: 'and' | 'or'; readonly filters: readonly BoundFilter[] }
  | { readonly kind: 'not'; readonly filter: BoundFilter }
  | {
      readonly kind: 'compare'
      readonly ref: ValueRef
      readonly op: CompareOperator
      /** string for string/reference, normalised text for dateTime, number, or boolean. */
      readonly value: string | number | boolean
    }
  | { readonly kind: 'present'; readonly ref: ValueRef }
  /** Some value of `container` (each array element, or the object of a single complex attribute) matches. */
  | { readonly kind: 'any'; readonly container: ContainerRef; readonly filter: BoundFilter }

export type ValueStorage = Extract<AttributeStorage, { kind: 'column' | 'json' }>

/** A simple value, located relative to the scope it is read in (the resource, or one element of `any`). */
export interface ValueRef {
  /** Decides the comparison: its type and caseExact (for a multi-valued simple attribute, of each element). */
  readonly attribute: FilterAttribute
  /** Keys into the SCIM resource (or element) as served; empty for the element itself. */
  readonly scimPath: readonly string[]
  /** Where SQL reads it. */
  readonly storage: ValueStorage
}

export interface ContainerRef {
  readonly attribute: FilterAttribute
  /** Keys from the resource root. */
  readonly scimPath: readonly string[]
  readonly storage: Extract<AttributeStorage, { kind: 'json' | 'childTable' }>
}

export function bindFilter(node: FilterNode, schema: ResourceFilterSchema): BoundFilter {
  return new Binder(schema).bind(node, { kind: 'resource' })
}

/**
 * Where names are looked up: top-level attributes; the sub-attributes of an `any` element (paths
 * relative to it); or the sub-attributes of a virtual complex attribute (meta[...]), which live at
 * the top level.
 */
type Scope =
  | { readonly kind: 'resource' }
  | { readonly kind: 'element'; readonly container: FilterAttribute }
  | { readonly kind: 'virtual'; readonly container: Located }

/** A top-level attribute (or a sub-attribute of a single-valued one) with its absolute location. */
interface Located {
  readonly attribute: FilterAttribute
  readonly scimPath: readonly string[]
  readonly storage: AttributeStorage
}

const ORDERING = new Set<CompareOperator>(['gt', 'ge', 'lt', 'le'])
const SUBSTRING = new Set<CompareOperator>(['co', 'sw', 'ew'])

function fail(position: number, message: string): never {
  throw new ScimFilterError(`invalid filter at position ${position}: ${message}`, 'invalidFilter', position)
}

function findByName(attributes: readonly FilterAttribute[], name: string): FilterAttribute | undefined {
  const key = name.toLowerCase()
  return attributes.find((a) => a.name.toLowerCase() === key)
}

class Binder {
  constructor(private readonly schema: ResourceFilterSchema) {}

  bind(node: FilterNode, scope: Scope): BoundFilter {
    switch (node.kind) {
      case 'and':
      case 'or':
        return { kind: node.kind, filters: node.filters.map((f) => this.bind(f, scope)) }
      case 'not':
        return { kind: 'not', filter: this.bind(node.filter, scope) }
      case 'present':
        return this.present(node.path, scope)
      case 'compare':
        return this.compare(node.path, node.op, node.value, scope)
      case 'valuePath':
        return this.valuePath(node.path, node.filter, scope)
    }
  }

  private compare(
    path: AttributePath,
    op: CompareOperator,
    value: ComparisonValue,
    scope: Scope,
  ): BoundFilter {
    if (value === null) {
      if (op === 'eq') return { kind: 'not', filter: this.present(path, scope) }
      if (op === 'ne') return this.present(path, scope)
      return fail(path.position, `"${op}" cannot compare with null (only eq null and ne null can)`)
    }
    return this.onSimpleValue(path, scope, (ref) => ({
      kind: 'compare',
      ref,
      op,
      value: checkOperand(ref.attribute, op, value, path.position),
    }))
  }

  private present(path: AttributePath, scope: Scope): BoundFilter {
    if (scope.kind === 'resource' && path.subAttr === undefined) {
      const top = this.resolveTop(path)
      if (top.attribute.type === 'complex') {
        const subs = (sub: FilterAttribute): AttributePath => ({ name: sub.name, position: path.position })
        const anySub = (inner: Scope): BoundFilter => ({
          kind: 'or',
          filters: top.attribute.subAttributes.map((sub) => this.present(subs(sub), inner)),
        })
        return this.overElements(top, anySub)
      }
    }
    return this.onSimpleValue(path, scope, (ref) => ({ kind: 'present', ref }))
  }

  /** `attr[filter]`: the filter applies to each value of the complex attribute `attr`. */
  private valuePath(path: AttributePath, filter: FilterNode, scope: Scope): BoundFilter {
    if (scope.kind !== 'resource') return fail(path.position, 'value filters cannot nest')
    const top = this.resolveTop(path)
    if (top.attribute.type !== 'complex') {
      return fail(
        path.position,
        `a value filter [...] applies to a complex attribute; ${top.attribute.name} is a ${describeType(top.attribute)}`,
      )
    }
    return this.overElements(top, (inner) => this.bind(filter, inner))
  }

  /** Builds `build(scope of one value)` over every value of the complex attribute `top`. */
  private overElements(top: Located, build: (inner: Scope) => BoundFilter): BoundFilter {
    const storage = top.storage
    if (storage.kind === 'virtual') return build({ kind: 'virtual', container: top })
    if (storage.kind === 'column')
      throw new Error(`complex attribute ${top.attribute.name} cannot be a column`)
    const container: ContainerRef = { attribute: top.attribute, scimPath: top.scimPath, storage }
    return { kind: 'any', container, filter: build({ kind: 'element', container: top.attribute }) }
  }

  /**
   * Resolves `path` to a simple value and builds the comparison on it, wrapping it in `any` when the
   * value is one of many (a multi-valued attribute or a sub-attribute of one).
   */
  private onSimpleValue(
    path: AttributePath,
    scope: Scope,
    build: (ref: ValueRef) => BoundFilter,
  ): BoundFilter {
    if (scope.kind !== 'resource') {
      const sub = this.resolveInside(path, scope)
      return build(sub)
    }
    const top = this.resolveTop(path)
    const attr = top.attribute
    let subAttr: FilterAttribute | undefined
    if (path.subAttr !== undefined) {
      if (attr.type !== 'complex') {
        return fail(
          path.position,
          `${attr.name} is a ${describeType(attr)} and has no sub-attribute "${path.subAttr}"`,
        )
      }
      subAttr = findByName(attr.subAttributes, path.subAttr)
      if (!subAttr) return fail(path.position, `${attr.name} has no sub-attribute "${path.subAttr}"`)
    } else if (attr.type === 'complex') {
      // RFC 7644's own example `emails co "example.com"`: a complex attribute stands for its value.
      subAttr = findByName(attr.subAttributes, 'value')
      if (!subAttr) {
        const example = attr.subAttributes[0]?.name ?? 'value'
        return fail(
          path.position,
          `${attr.name} is complex: name one of its sub-attributes, e.g. ${attr.name}.${example}`,
        )
      }
    }
    if (subAttr) {
      const sub = subAttr
      return this.overElements(top, (inner) => {
        if (inner.kind === 'resource') throw new Error('overElements gives an element or virtual scope')
        return build(inner.kind === 'element' ? elementRef(sub) : virtualChildRef(inner.container, sub))
      })
    }
    if (attr.multiValued) {
      const self: ValueRef = { attribute: attr, scimPath: [], storage: { kind: 'json', path: [] } }
      const storage = top.storage
      if (storage.kind !== 'json') throw new Error(`multi-valued ${attr.name} must be stored as JSON`)
      return {
        kind: 'any',
        container: { attribute: attr, scimPath: top.scimPath, storage },
        filter: build(self),
      }
    }
    return build(simpleRef(top))
  }

  /** A path inside `emails[...]` or `meta[...]`: a plain sub-attribute name. */
  private resolveInside(path: AttributePath, scope: Exclude<Scope, { kind: 'resource' }>): ValueRef {
    const container = scope.kind === 'element' ? scope.container : scope.container.attribute
    if (path.uri !== undefined || path.subAttr !== undefined) {
      return fail(
        path.position,
        `inside ${container.name}[...] name a sub-attribute of ${container.name} alone (e.g. ${
          container.subAttributes[0]?.name ?? 'value'
        })`,
      )
    }
    const sub = findByName(container.subAttributes, path.name)
    if (!sub) return fail(path.position, `${container.name} has no sub-attribute "${path.name}"`)
    return scope.kind === 'element' ? elementRef(sub) : virtualChildRef(scope.container, sub)
  }

  /** A top-level attribute, by schema URI if given (any case), else core first, then a unique extension. */
  private resolveTop(path: AttributePath): Located {
    const parts: SchemaAttributes[] = [this.schema.core, ...this.schema.extensions]
    let candidates: { part: SchemaAttributes; attribute: FilterAttribute }[]
    if (path.uri !== undefined) {
      const uri = path.uri.toLowerCase()
      const part = parts.find((p) => p.urn.toLowerCase() === uri)
      if (!part) return fail(path.position, `unknown schema "${path.uri}" for ${this.schema.resourceType}`)
      const attribute = findByName(part.attributes, path.name)
      candidates = attribute ? [{ part, attribute }] : []
    } else {
      const core = findByName(this.schema.core.attributes, path.name)
      candidates = core
        ? [{ part: this.schema.core, attribute: core }]
        : this.schema.extensions.flatMap((part) => {
            const attribute = findByName(part.attributes, path.name)
            return attribute ? [{ part, attribute }] : []
          })
    }
    const [found, second] = candidates
    if (!found) return fail(path.position, `unknown attribute "${path.name}" for ${this.schema.resourceType}`)
    if (second) {
      return fail(
        path.position,
        `"${path.name}" is ambiguous: prefix it with its schema URI (e.g. ${second.part.urn})`,
      )
    }
    const { part, attribute } = found
    const scimPath = part === this.schema.core ? [attribute.name] : [part.urn, attribute.name]
    return { attribute, scimPath, storage: attribute.storage }
  }
}

/** A sub-attribute read from one element of `any` (relative storage). */
function elementRef(sub: FilterAttribute): ValueRef {
  return { attribute: sub, scimPath: [sub.name], storage: valueStorage(sub) }
}

/** A sub-attribute of a virtual complex attribute: its own, absolute, storage. */
function virtualChildRef(parent: Located, sub: FilterAttribute): ValueRef {
  return { attribute: sub, scimPath: [...parent.scimPath, sub.name], storage: valueStorage(sub) }
}

function simpleRef(top: Located): ValueRef {
  return { attribute: top.attribute, scimPath: top.scimPath, storage: valueStorage(top.attribute) }
}

function valueStorage(attr: FilterAttribute): ValueStorage {
  const storage = attr.storage
  if (storage.kind === 'column' || storage.kind === 'json') return storage
  throw new Error(`simple attribute ${attr.name} has ${storage.kind} storage`)
}

function describeType(attr: FilterAttribute): string {
  return `${attr.multiValued ? 'multi-valued ' : ''}${attr.type} attribute`
}

/** The operand as the attribute's type wants it, or a 400 naming the mismatch (RFC 7644 §3.4.2.2). */
function checkOperand(
  attr: FilterAttribute,
  op: CompareOperator,
  value: string | number | boolean,
  position: number,
): string | number | boolean {
  const mismatch = (): never =>
    fail(
      position,
      `${attr.name} is a ${attr.type} attribute; ${JSON.stringify(value)} is not a ${attr.type} value`,
    )
  const badOperator = (why: string): never => fail(position, `"${op}" does not apply to ${attr.name}: ${why}`)
  switch (attr.type) {
    case 'string':
    case 'reference':
      if (typeof value !== 'string') return mismatch()
      return value
    case 'boolean':
      // RFC 7644: gt/ge/lt/le on a boolean "SHALL cause a failed response … invalidFilter".
      if (ORDERING.has(op) || SUBSTRING.has(op)) return badOperator('a boolean is only eq or ne true/false')
      if (typeof value !== 'boolean') return mismatch()
      return value
    case 'integer':
    case 'decimal':
      if (SUBSTRING.has(op)) return badOperator(`co, sw and ew compare strings, not ${attr.type} values`)
      if (typeof value !== 'number') return mismatch()
      return value
    case 'dateTime': {
      if (SUBSTRING.has(op)) return badOperator('co, sw and ew compare strings, not dateTime values')
      const parsed = typeof value === 'string' ? parseDateTime(value) : undefined
      if (!parsed) {
        return fail(
          position,
          `${attr.name} is a dateTime; ${JSON.stringify(value)} is not a date-time like "2011-05-13T04:42:34Z"`,
        )
      }
      return parsed.normalised
    }
    case 'complex':
      throw new Error(`complex attribute ${attr.name} reached a comparison`)
  }
}
