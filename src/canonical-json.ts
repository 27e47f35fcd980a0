/**
 * JSON with object keys sorted at every level. jsonb hands objects back with their keys re-ordered,
 * so values read from the database compare (and hash) equal to the same values built in code.
 */
export function canonicalJson(value: unknown): string | undefined {
  const text = JSON.stringify(value)
  if (text === undefined) return undefined
  return JSON.stringify(JSON.parse(text), (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  )
}

export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b)
}
