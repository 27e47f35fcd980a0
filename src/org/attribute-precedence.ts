import type { PersonAttribute } from './source-policy'

/** What decides between two sources that both give a person's attribute. */
export interface RankedSource {
  id: string
  precedence: number
  createdAt: Date
  /** The stored policy; only its `attributePrecedence` overrides matter here. */
  policy: unknown
}

/** The source's precedence number for one attribute (its policy's override, else its own). */
export function rankFor(source: RankedSource, attr: PersonAttribute): number {
  const overrides = (source.policy as { attributePrecedence?: Partial<Record<string, number>> } | null)
    ?.attributePrecedence
  return overrides?.[attr] ?? source.precedence
}

/**
 * Whether `a` wins `attr` over `b`: the lower precedence number; on a tie the older source, then the
 * lower id — sources of equal precedence (the default is the same for all) must still agree on a
 * winner, or two of them would overwrite each other on every run.
 */
export function outranks(a: RankedSource, b: RankedSource, attr: PersonAttribute): boolean {
  const ra = rankFor(a, attr)
  const rb = rankFor(b, attr)
  if (ra !== rb) return ra < rb
  const t = a.createdAt.getTime() - b.createdAt.getTime()
  return t !== 0 ? t < 0 : a.id < b.id
}
