import { sql, type Expression, type RawBuilder } from 'kysely'
import { bindFilter, type BoundFilter, type ContainerRef, type ValueRef } from './bind-filter'
import type { CompareOperator, FilterNode } from './filter-ast'
import type { ResourceFilterSchema } from './resource-schema'

/**
 * Translates a filter into a SQL condition on the resource's table (aliased `schema.table`), for a
 * WHERE clause: `select … from scim_users as i where ${filterToSql(parseFilter(text), schema)}`.
 *
 * Every operand is a bound parameter; identifiers and JSON keys come from the schema only (checked
 * by defineResourceSchema). Unknown attributes and ill-typed comparisons throw ScimFilterError.
 *
 * Semantics (the reference evaluator, evaluate-filter.ts, implements the same):
 * - Strings compare case-insensitively unless the attribute is caseExact: lower() on both sides
 *   (the database's Unicode case mapping, per code point). gt/ge/lt/le order strings by code point
 *   (COLLATE "C"), whatever the database's collation; dateTimes as timestamptz; numbers as numeric.
 * - A comparison on a missing attribute is never true — `ne` included: `title ne "x"` means "has a
 *   title and it is not x". Multi-valued attributes match when some value matches (RFC 7644), so
 *   `emails.value ne "x"` means "some email other than x". `not (...)` is the complement of the whole
 *   inner filter: `not (title eq "x")` also matches users without a title.
 * - `pr`: a string is present when non-empty; a complex value when one of its sub-attributes is; a
 *   multi-valued attribute when one of its values is. `eq null` ≡ not present, `ne null` ≡ present.
 *
 * The condition may evaluate to NULL where it means false (e.g. `lower(col) = …` on a NULL column),
 * which keeps plain comparisons index-friendly; `not` is translated as `(…) is not true` for that
 * reason. Combine it with AND/OR freely, but negate it only as `(condition) is not true`.
 */
export function filterToSql(node: FilterNode, schema: ResourceFilterSchema): RawBuilder<boolean> {
  return new SqlTranslator(schema).condition(bindFilter(node, schema), {
    row: schema.table,
    json: sql.ref(`${schema.table}.${schema.jsonColumn}`),
  })
}

/** Where values are read from: the row alias for columns, the jsonb document for JSON paths. */
interface SqlScope {
  readonly row?: string
  readonly json?: Expression<unknown>
}

const COMPARISON: Record<CompareOperator, string> = {
  eq: '=',
  ne: '<>',
  gt: '>',
  ge: '>=',
  lt: '<',
  le: '<=',
  co: 'like',
  sw: 'like',
  ew: 'like',
}

const CANONICAL_UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

/** `\`, `%` and `_` match themselves in our LIKE patterns (escape character: backslash). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`)
}

class SqlTranslator {
  /** Subquery aliases (e1, e2, …) must not shadow each other within one condition. */
  private aliases = 0

  constructor(private readonly schema: ResourceFilterSchema) {}

  condition(node: BoundFilter, scope: SqlScope): RawBuilder<boolean> {
    switch (node.kind) {
      case 'and':
      case 'or':
        return sql<boolean>`(${sql.join(
          node.filters.map((f) => this.condition(f, scope)),
          node.kind === 'and' ? sql` and ` : sql` or `,
        )})`
      case 'not':
        // NULL (a comparison on a missing value) counts as false, so its negation is true.
        return sql<boolean>`((${this.condition(node.filter, scope)}) is not true)`
      case 'compare':
        return this.compare(node.ref, node.op, node.value, scope)
      case 'present':
        return this.present(node.ref, scope)
      case 'any':
        return this.any(node.container, node.filter, scope)
    }
  }

  private compare(ref: ValueRef, op: CompareOperator, value: string | number | boolean, scope: SqlScope) {
    const attr = ref.attribute
    switch (attr.type) {
      case 'string':
      case 'reference':
        return this.compareText(ref, op, String(value), scope)
      case 'boolean': {
        // A boolean "differs" from true only by being false: this keeps non-booleans out of ne too.
        const wanted = op === 'ne' ? !value : Boolean(value)
        if (ref.storage.kind === 'column')
          return sql<boolean>`(${this.column(ref, scope)} = ${wanted}::boolean)`
        return sql<boolean>`(${this.jsonValue(ref, scope)} = ${JSON.stringify(wanted)}::jsonb)`
      }
      case 'integer':
      case 'decimal':
        return sql<boolean>`(${this.numeric(ref, scope)} ${sql.raw(COMPARISON[op])} ${String(value)}::numeric)`
      case 'dateTime':
        return sql<boolean>`(${this.timestamp(ref, scope)} ${sql.raw(COMPARISON[op])} ${String(value)}::timestamptz)`
      case 'complex':
        throw new Error(`complex attribute ${attr.name} reached a comparison`)
    }
  }

  private compareText(
    ref: ValueRef,
    op: CompareOperator,
    value: string,
    scope: SqlScope,
  ): RawBuilder<boolean> {
    const caseExact = ref.attribute.caseExact
    const storage = ref.storage
    // A uuid column compared by text would not use its index: when the operand is a uuid that text
    // equality would match, compare as uuid instead (same result, indexed).
    if (
      op === 'eq' &&
      storage.kind === 'column' &&
      storage.columnType === 'uuid' &&
      CANONICAL_UUID.test(value) &&
      (!caseExact || value === value.toLowerCase())
    ) {
      return sql<boolean>`(${sql.ref(`${scope.row}.${storage.column}`)} = ${value}::uuid)`
    }
    const fold = (e: Expression<unknown>) => (caseExact ? e : sql`lower(${e})`)
    const subject = fold(this.text(ref, scope))
    if (op === 'co' || op === 'sw' || op === 'ew') {
      const escaped = escapeLike(value)
      const pattern = op === 'sw' ? `${escaped}%` : op === 'ew' ? `%${escaped}` : `%${escaped}%`
      return sql<boolean>`(${subject} like ${fold(sql`${pattern}::text`)} escape '\\')`
    }
    const operand = fold(sql`${value}::text`)
    if (op === 'eq' || op === 'ne') return sql<boolean>`(${subject} ${sql.raw(COMPARISON[op])} ${operand})`
    // Code point order on every database, whatever its default collation.
    return sql<boolean>`(${subject} collate "C" ${sql.raw(COMPARISON[op])} ${operand})`
  }

  private present(ref: ValueRef, scope: SqlScope): RawBuilder<boolean> {
    const attr = ref.attribute
    if (ref.storage.kind === 'column') {
      const col = this.column(ref, scope)
      if (ref.storage.columnType === 'text') return sql<boolean>`(${col} is not null and ${col} <> '')`
      return sql<boolean>`(${col} is not null)`
    }
    const value = this.jsonValue(ref, scope)
    switch (attr.type) {
      case 'string':
      case 'reference':
      case 'dateTime':
        return sql<boolean>`(jsonb_typeof(${value}) = 'string' and ${value} <> '""'::jsonb)`
      case 'boolean':
        return sql<boolean>`(jsonb_typeof(${value}) = 'boolean')`
      case 'integer':
      case 'decimal':
        return sql<boolean>`(jsonb_typeof(${value}) = 'number')`
      case 'complex':
        throw new Error(`complex attribute ${attr.name} reached pr`)
    }
  }

  /** `exists` over the values of a multi-valued attribute, or the object of a single complex one. */
  private any(container: ContainerRef, filter: BoundFilter, scope: SqlScope): RawBuilder<boolean> {
    const storage = container.storage
    const alias = `e${++this.aliases}`
    if (storage.kind === 'childTable') {
      const inner = this.condition(filter, { row: alias })
      return sql<boolean>`exists (select 1 from ${sql.table(storage.table)} as ${sql.id(alias)} where ${sql.ref(
        `${alias}.${storage.foreignKey}`,
      )} = ${sql.ref(`${this.schema.table}.${storage.parentKey}`)} and ${inner})`
    }
    const value = this.jsonAt(scope, storage.path)
    if (!container.attribute.multiValued) {
      return sql<boolean>`(jsonb_typeof(${value}) = 'object' and ${this.condition(filter, { json: value })})`
    }
    // Anything but an array (a missing attribute included) has no elements, rather than an error.
    const elements = sql`case when jsonb_typeof(${value}) = 'array' then ${value} else '[]'::jsonb end`
    const inner = this.condition(filter, { json: sql.ref(`${alias}.v`) })
    return sql<boolean>`exists (select 1 from jsonb_array_elements(${elements}) as ${sql.id(alias)}(v) where ${inner})`
  }

  private column(ref: ValueRef, scope: SqlScope): Expression<unknown> {
    if (ref.storage.kind !== 'column') throw new Error(`${ref.attribute.name} is not a column`)
    if (scope.row === undefined) throw new Error(`no row to read column ${ref.storage.column} from`)
    return sql.ref(`${scope.row}.${ref.storage.column}`)
  }

  /** The value as text: a text column, a uuid column's text, or the JSON string's content. */
  private text(ref: ValueRef, scope: SqlScope): Expression<unknown> {
    if (ref.storage.kind === 'column') {
      const col = this.column(ref, scope)
      return ref.storage.columnType === 'text' ? col : sql`(${col})::text`
    }
    const path = ref.storage.path
    const last = path[path.length - 1]
    if (last === undefined) return sql`(${this.jsonRoot(scope)} #>> '{}')`
    return sql`(${this.jsonAt(scope, path.slice(0, -1))}->>${sql.lit(last)})`
  }

  private timestamp(ref: ValueRef, scope: SqlScope): Expression<unknown> {
    return ref.storage.kind === 'column'
      ? this.column(ref, scope)
      : sql`(${this.text(ref, scope)})::timestamptz`
  }

  private numeric(ref: ValueRef, scope: SqlScope): Expression<unknown> {
    if (ref.storage.kind === 'column') return this.column(ref, scope)
    const value = this.jsonValue(ref, scope)
    // The guard keeps a stray non-number from failing the cast (and the whole query).
    return sql`(case when jsonb_typeof(${value}) = 'number' then (${value})::numeric end)`
  }

  private jsonValue(ref: ValueRef, scope: SqlScope): Expression<unknown> {
    if (ref.storage.kind !== 'json') throw new Error(`${ref.attribute.name} is not stored as JSON`)
    return this.jsonAt(scope, ref.storage.path)
  }

  private jsonRoot(scope: SqlScope): Expression<unknown> {
    if (!scope.json) throw new Error('no JSON document in this scope')
    return scope.json
  }

  /** `root->'k1'->'k2'`; keys are schema names (checked safe) written as string literals. */
  private jsonAt(scope: SqlScope, path: readonly string[]): Expression<unknown> {
    return path.reduce<Expression<unknown>>((e, key) => sql`${e}->${sql.lit(key)}`, this.jsonRoot(scope))
  }
}
