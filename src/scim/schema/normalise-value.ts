import { badRequest } from '../scim-error'
import type { AttributeDef } from './schema-model'

/**
 * The one walk over request values, shared by POST/PUT bodies and PATCH values: canonical attribute
 * names, what providers send normalised (so that SCIMMY's stricter coercion can take over), and the
 * structural checks a walk needs. Scalar type checks are left to SCIMMY (scimmy-declarations.ts),
 * which validates against the same schema documents.
 *
 * Returns undefined for "absent": RFC 7643 §2.5 makes null and an empty multi-valued attribute the
 * same as unassigned, and providers send "" for "no value" (Entra clears attributes that way).
 */
export function normaliseValue(attr: AttributeDef, value: unknown, where: string): unknown {
  if (isAbsent(value)) return undefined
  if (!attr.multiValued) return normaliseElement(attr, value, where)
  if (!Array.isArray(value)) {
    throw badRequest(
      'invalidValue',
      `${where} is multi-valued: expected an array, found ${describeJson(value)}`,
    )
  }
  const items = value
    .map((v, i) => normaliseElement(attr, v, `${where}[${i}]`))
    .filter((v) => v !== undefined)
  if (items.length === 0) return undefined
  checkOnePrimary(items, where)
  return items
}

/** One value of `attr`: the attribute's value if single-valued, one element if multi-valued. */
export function normaliseElement(attr: AttributeDef, value: unknown, where: string): unknown {
  if (isAbsent(value)) return undefined
  if (attr.type === 'complex') return normaliseComplex(attr, value, where)
  // Entra sends booleans as "True"/"False" strings (SCIMMY rejects them); any case is accepted.
  if (attr.type === 'boolean' && typeof value === 'string') {
    const lower = value.toLowerCase()
    if (lower === 'true') return true
    if (lower === 'false') return false
  }
  return value
}

function normaliseComplex(
  attr: AttributeDef,
  value: unknown,
  where: string,
): Record<string, unknown> | undefined {
  // Entra sends the enterprise manager as the manager's id alone; the one single-valued complex
  // attribute with a `value` sub-attribute is manager, so the rule cannot catch anything else.
  if (typeof value === 'string' && !attr.multiValued && attr.sub.has('value')) value = { value }
  if (!isPlainObject(value)) {
    throw badRequest('invalidValue', `${where} is complex: expected an object, found ${describeJson(value)}`)
  }
  const found = new Map<string, unknown>()
  for (const [key, raw] of Object.entries(value)) {
    const sub = attr.sub.get(key.toLowerCase())
    if (!sub) {
      const known = attr.subAttributes.map((s) => s.name).join(', ')
      throw badRequest('invalidSyntax', `unknown attribute "${where}.${key}" (${attr.name} has ${known})`)
    }
    if (found.has(sub.name)) {
      throw badRequest('invalidSyntax', `"${where}.${sub.name}" is given twice (attribute names ignore case)`)
    }
    // RFC 7643 §2.2: readOnly values sent by a client are ignored (manager.displayName, groups.*).
    const normalised =
      sub.mutability === 'readOnly' ? undefined : normaliseElement(sub, raw, `${where}.${sub.name}`)
    found.set(sub.name, normalised)
  }
  const out: Record<string, unknown> = {}
  for (const sub of attr.subAttributes) {
    const v = found.get(sub.name)
    if (v !== undefined) out[sub.name] = v
  }
  return Object.keys(out).length > 0 ? out : undefined
}

/** RFC 7643 §2.4: the primary attribute value "true" MUST appear no more than once. */
export function checkOnePrimary(items: readonly unknown[], where: string): void {
  const primaries = items.filter((item) => isPlainObject(item) && item.primary === true).length
  if (primaries > 1) {
    throw badRequest('invalidValue', `${where}: ${primaries} values are marked primary; at most one may be`)
  }
}

export function isAbsent(value: unknown): boolean {
  return value === undefined || value === null || value === ''
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A value as an error message shows it: its JSON type, and short scalars themselves. */
export function describeJson(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return value.length > 40 ? 'a string' : `the string ${JSON.stringify(value)}`
  if (typeof value === 'number' || typeof value === 'boolean') return `the ${typeof value} ${String(value)}`
  return typeof value
}
