/**
 * RFC 7644 §3.9 attributes / excludedAttributes on a served resource. Names are case-insensitive and
 * may be sub-attributes (`name.givenName`) or URN-qualified (`urn:…:User:department`). `id` and
 * `schemas` are always returned; nothing "returned: never" is ever stored, so nothing to hide.
 */

const ALWAYS = new Set(['id', 'schemas'])

interface Selector {
  /** The top-level key (an attribute, or an extension URN). */
  top: string
  /** A sub-path below it, lower-cased: [attribute] under an extension, [sub] under a complex attribute. */
  rest: string[]
}

function selector(name: string, extensionUrns: readonly string[]): Selector {
  const lower = name.toLowerCase()
  for (const urn of extensionUrns) {
    const u = urn.toLowerCase()
    if (lower === u) return { top: u, rest: [] }
    if (lower.startsWith(`${u}:`)) return { top: u, rest: lower.slice(u.length + 1).split('.') }
  }
  // A core URN prefix names the same attribute as the bare name.
  const core = /^urn:ietf:params:scim:schemas:core:2\.0:(user|group):(.+)$/.exec(lower)
  const parts = (core ? core[2]! : lower).split('.')
  return { top: parts[0]!, rest: parts.slice(1) }
}

function pick(value: unknown, rest: string[], include: boolean): unknown {
  if (rest.length === 0) return include ? value : undefined
  if (Array.isArray(value)) return value.map((v) => pick(v, rest, include))
  if (typeof value !== 'object' || value === null) return include ? undefined : value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const match = k.toLowerCase() === rest[0]
    if (include) {
      if (match) {
        const sub = pick(v, rest.slice(1), true)
        if (sub !== undefined) out[k] = sub
      }
    } else if (!match) out[k] = v
    else if (rest.length > 1) out[k] = pick(v, rest.slice(1), false)
  }
  return out
}

function merge(a: unknown, b: unknown): unknown {
  if (a === undefined) return b
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) }
    for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v)
    return out
  }
  return a
}

export function project(
  resource: Record<string, unknown>,
  params: { attributes?: string[]; excludedAttributes?: string[] },
  extensionUrns: readonly string[],
): Record<string, unknown> {
  if (params.attributes) {
    const selectors = params.attributes.map((a) => selector(a, extensionUrns))
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(resource)) {
      const k = key.toLowerCase()
      if (ALWAYS.has(key)) {
        out[key] = value
        continue
      }
      for (const s of selectors.filter((s) => s.top === k)) {
        const picked = pick(value, s.rest, true)
        if (picked !== undefined) out[key] = merge(out[key], picked)
      }
    }
    return out
  }
  if (params.excludedAttributes) {
    const out: Record<string, unknown> = { ...resource }
    for (const s of params.excludedAttributes.map((a) => selector(a, extensionUrns))) {
      for (const key of Object.keys(out)) {
        if (key.toLowerCase() !== s.top || ALWAYS.has(key)) continue
        if (s.rest.length === 0) delete out[key]
        else out[key] = pick(out[key], s.rest, false)
      }
    }
    return out
  }
  return resource
}

/** Whether a projection leaves out the top-level attribute `name` (so it need not be read at all). */
export function excludes(
  params: { attributes?: string[]; excludedAttributes?: string[] },
  name: string,
  extensionUrns: readonly string[] = [],
): boolean {
  const n = name.toLowerCase()
  if (params.attributes) return !params.attributes.some((a) => selector(a, extensionUrns).top === n)
  if (params.excludedAttributes)
    return params.excludedAttributes.some((a) => {
      const s = selector(a, extensionUrns)
      return s.top === n && s.rest.length === 0
    })
  return false
}
