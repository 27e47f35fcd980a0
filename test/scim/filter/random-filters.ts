import type { AttributePath, CompareOperator, ComparisonValue, FilterNode } from '../../../src/scim/filter'
import { foldCase, type ScimResource } from '../../../src/scim/filter/evaluate-filter'

/**
 * Random users and random filters over the core User schema and its enterprise extension, from a
 * seeded generator so a failure can be replayed.
 */

export const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User'
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'

/** mulberry32: small, fast, good enough to explore; the same seed gives the same run. */
export class Random {
  private state: number

  constructor(readonly seed: number) {
    this.state = seed >>> 0
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  int(below: number): number {
    return Math.floor(this.next() * below)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)]
    if (item === undefined) throw new Error('pick from an empty list')
    return item
  }

  /** The value, or undefined (a missing attribute) with probability `missing`. */
  maybe<T>(missing: number, make: () => T): T | undefined {
    return this.chance(missing) ? undefined : make()
  }

  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(16).toString(16)).join('')
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`
  }
}

// Letters whose lower case PostgreSQL (glibc and PGlite) and foldCase agree on; see the
// "case mapping" test. Mixed scripts, a final sigma, dotted İ, ß, a titlecase digraph, astral chars.
const FIRST = [
  'Anna',
  'anna',
  'ÄNNE',
  'Björn',
  'BJÖRN',
  'Zoë',
  'Σοφία',
  'ΣΟΦΊΑΣ',
  'İlker',
  'ilker',
  'José',
  'jose',
]
const LAST = [
  "O'Brien",
  'o’brien',
  'Ωmega',
  '李雷',
  'Émile',
  'ǅemal',
  'Straße',
  'STRASSE',
  '100%',
  'Under_Score',
  'Back\\Slash',
  '😀Smile',
  'Ｚhang',
]
const DOMAINS = ['example.com', 'EXAMPLE.com', 'corp.example', 'Ärger.de', 'foo.org', 'xn--bcher-kva.example']
const EMAIL_TYPES = ['work', 'Work', 'home', 'HOME', 'other']
const TITLES = ['Engineer', 'engineer', 'Manager', '', 'Ingénieur', 'CEO', 'Σύμβουλος', 'Ａｄｍｉｎ']
const EMPLOYEE_NUMBERS = ['E100', 'e100', '100', '0100', 'E2%', 'E2_']
const DEPARTMENTS = ['Engineering', 'engineering', 'Sales', 'Straße', 'İT']
const EXTERNAL_IDS = ['ext-1', 'EXT-1', 'ext-2', 'Ext-10']
const PHONES = ['+1 555 0100', '555-0100', '+44 20 7946 0000']
export const DATES = [
  '2019-12-31T23:59:59Z',
  '2020-01-01T00:00:00Z',
  '2020-01-01T00:00:00.5Z',
  '2021-06-15T12:30:00Z',
  '2021-06-15T12:30:00.123456Z',
  '2022-02-28T00:00:00+02:00',
]

/** Another case: JavaScript's (İ → i + U+0307, final σ → ς) or, per code point, PostgreSQL's. */
function varyCase(rng: Random, text: string): string {
  switch (rng.int(5)) {
    case 0:
      return text.toUpperCase()
    case 1:
      return text.toLowerCase()
    case 2:
      return foldCase(text)
    default:
      return text
  }
}

export function randomUsers(rng: Random, count: number): ScimResource[] {
  const ids = Array.from({ length: count }, () => rng.uuid())
  return ids.map((id, n) => {
    const first = rng.pick(FIRST)
    const last = rng.pick(LAST)
    const user: Record<string, unknown> = {
      id,
      schemas: [CORE],
      userName: `${varyCase(rng, first)}.${last}${n}@${rng.pick(DOMAINS)}`,
      meta: { created: rng.pick(DATES), lastModified: rng.pick(DATES) },
    }
    const set = (key: string, value: unknown) => {
      if (value !== undefined) user[key] = value
    }
    set(
      'externalId',
      rng.maybe(0.4, () => rng.pick(EXTERNAL_IDS)),
    )
    set(
      'displayName',
      rng.maybe(0.3, () => (rng.chance(0.1) ? '' : `${varyCase(rng, first)} ${last}`)),
    )
    set(
      'title',
      rng.maybe(0.4, () => rng.pick(TITLES)),
    )
    set(
      'active',
      rng.maybe(0.3, () => rng.chance(0.6)),
    )
    set(
      'name',
      rng.maybe(0.3, () => {
        const name: Record<string, string> = {}
        if (rng.chance(0.8)) name.givenName = varyCase(rng, first)
        if (rng.chance(0.7)) name.familyName = last
        return name
      }),
    )
    set(
      'emails',
      rng.maybe(0.2, () =>
        Array.from({ length: rng.int(4) }, () => {
          const email: Record<string, unknown> = {}
          if (rng.chance(0.85)) email.value = `${varyCase(rng, first)}.${last}@${rng.pick(DOMAINS)}`
          if (rng.chance(0.8)) email.type = rng.pick(EMAIL_TYPES)
          if (rng.chance(0.4)) email.primary = rng.chance(0.5)
          return email
        }),
      ),
    )
    set(
      'phoneNumbers',
      rng.maybe(0.5, () =>
        Array.from({ length: 1 + rng.int(2) }, () => ({
          value: rng.pick(PHONES),
          type: rng.pick(['work', 'mobile']),
        })),
      ),
    )
    if (rng.chance(0.6)) {
      const enterprise: Record<string, unknown> = {}
      if (rng.chance(0.8)) enterprise.employeeNumber = rng.pick(EMPLOYEE_NUMBERS)
      if (rng.chance(0.7)) enterprise.department = rng.pick(DEPARTMENTS)
      if (rng.chance(0.5)) {
        const manager = rng.pick(ids)
        enterprise.manager = {
          value: rng.chance(0.3) ? manager.toUpperCase() : manager,
          displayName: rng.pick(FIRST),
        }
      }
      user[ENTERPRISE] = enterprise
      user.schemas = [CORE, ENTERPRISE]
    }
    return user
  })
}

type LeafType = 'string' | 'boolean' | 'dateTime'

interface Leaf {
  /** As written in a filter (before random casing). */
  readonly path: string
  readonly type: LeafType
  /** Where sample values come from in the users (keys; '*' steps into every array element). */
  readonly sample: readonly string[]
}

const RESOURCE_LEAVES: readonly Leaf[] = [
  { path: 'userName', type: 'string', sample: ['userName'] },
  { path: `${CORE}:userName`, type: 'string', sample: ['userName'] },
  { path: 'displayName', type: 'string', sample: ['displayName'] },
  { path: 'title', type: 'string', sample: ['title'] },
  { path: 'externalId', type: 'string', sample: ['externalId'] },
  { path: 'id', type: 'string', sample: ['id'] },
  { path: 'name.givenName', type: 'string', sample: ['name', 'givenName'] },
  { path: 'name.familyName', type: 'string', sample: ['name', 'familyName'] },
  { path: 'emails', type: 'string', sample: ['emails', '*', 'value'] },
  { path: 'emails.value', type: 'string', sample: ['emails', '*', 'value'] },
  { path: 'emails.type', type: 'string', sample: ['emails', '*', 'type'] },
  { path: 'emails.primary', type: 'boolean', sample: [] },
  { path: 'phoneNumbers.value', type: 'string', sample: ['phoneNumbers', '*', 'value'] },
  { path: 'active', type: 'boolean', sample: [] },
  { path: 'schemas', type: 'string', sample: ['schemas', '*'] },
  { path: 'meta.created', type: 'dateTime', sample: [] },
  { path: 'meta.lastModified', type: 'dateTime', sample: [] },
  { path: `${ENTERPRISE}:employeeNumber`, type: 'string', sample: [ENTERPRISE, 'employeeNumber'] },
  { path: 'employeeNumber', type: 'string', sample: [ENTERPRISE, 'employeeNumber'] },
  { path: `${ENTERPRISE}:department`, type: 'string', sample: [ENTERPRISE, 'department'] },
  { path: `${ENTERPRISE}:manager.value`, type: 'string', sample: [ENTERPRISE, 'manager', 'value'] },
  { path: `${ENTERPRISE}:manager`, type: 'string', sample: [ENTERPRISE, 'manager', 'value'] },
]

/** Complex attributes: `pr` on them, and value filters over their sub-attributes. */
const CONTAINERS: readonly { path: string; leaves: readonly Leaf[] }[] = [
  {
    path: 'emails',
    leaves: [
      { path: 'value', type: 'string', sample: ['emails', '*', 'value'] },
      { path: 'type', type: 'string', sample: ['emails', '*', 'type'] },
      { path: 'primary', type: 'boolean', sample: [] },
    ],
  },
  {
    path: 'phoneNumbers',
    leaves: [
      { path: 'value', type: 'string', sample: ['phoneNumbers', '*', 'value'] },
      { path: 'type', type: 'string', sample: ['phoneNumbers', '*', 'type'] },
    ],
  },
  {
    path: 'name',
    leaves: [
      { path: 'givenName', type: 'string', sample: ['name', 'givenName'] },
      { path: 'familyName', type: 'string', sample: ['name', 'familyName'] },
    ],
  },
  {
    path: `${ENTERPRISE}:manager`,
    leaves: [
      { path: 'value', type: 'string', sample: [ENTERPRISE, 'manager', 'value'] },
      { path: 'displayName', type: 'string', sample: [ENTERPRISE, 'manager', 'displayName'] },
    ],
  },
  {
    path: 'meta',
    leaves: [
      { path: 'created', type: 'dateTime', sample: [] },
      { path: 'lastModified', type: 'dateTime', sample: [] },
    ],
  },
]

const STRING_OPS: readonly CompareOperator[] = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']
const DATE_OPS: readonly CompareOperator[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le']

function collect(value: unknown, path: readonly string[]): string[] {
  const [key, ...rest] = path
  if (key === undefined) return typeof value === 'string' ? [value] : []
  if (key === '*') return Array.isArray(value) ? value.flatMap((v) => collect(v, rest)) : []
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return []
  return collect((value as Record<string, unknown>)[key], rest)
}

/** The same instant written differently, and nearby instants. */
function dateOperand(rng: Random): string {
  const base = rng.pick(DATES)
  switch (rng.int(5)) {
    case 0:
      return base.replace(/Z$/, '+00:00')
    case 1:
      return base.slice(0, 10)
    case 2:
      return '2021-06-15T14:30:00+02:00'
    default:
      return base
  }
}

export class FilterGenerator {
  constructor(
    private readonly rng: Random,
    private readonly users: readonly ScimResource[],
  ) {}

  filter(depth = 0): FilterNode {
    const rng = this.rng
    if (depth >= 3 || rng.chance(0.3)) return this.leaf(RESOURCE_LEAVES)
    switch (rng.int(5)) {
      case 0:
      case 1:
        return { kind: rng.chance(0.5) ? 'and' : 'or', filters: this.children(() => this.filter(depth + 1)) }
      case 2:
        return { kind: 'not', filter: this.filter(depth + 1) }
      case 3: {
        const container = rng.pick(CONTAINERS)
        return {
          kind: 'valuePath',
          path: this.path(container.path),
          filter: this.inner(container.leaves, depth + 1),
        }
      }
      default:
        return rng.chance(0.5)
          ? { kind: 'present', path: this.path(rng.pick(CONTAINERS).path) }
          : this.leaf(RESOURCE_LEAVES)
    }
  }

  /** A filter inside `container[...]`: sub-attributes only, no nested value paths. */
  private inner(leaves: readonly Leaf[], depth: number): FilterNode {
    const rng = this.rng
    if (depth >= 3 || rng.chance(0.4)) return this.leaf(leaves)
    if (rng.chance(0.25)) return { kind: 'not', filter: this.inner(leaves, depth + 1) }
    return {
      kind: rng.chance(0.5) ? 'and' : 'or',
      filters: this.children(() => this.inner(leaves, depth + 1)),
    }
  }

  private children(make: () => FilterNode): FilterNode[] {
    return Array.from({ length: 2 + this.rng.int(2) }, make)
  }

  private leaf(leaves: readonly Leaf[]): FilterNode {
    const rng = this.rng
    const leaf = rng.pick(leaves)
    const path = this.path(leaf.path)
    if (rng.chance(0.12)) return { kind: 'present', path }
    if (rng.chance(0.05)) return { kind: 'compare', path, op: rng.chance(0.5) ? 'eq' : 'ne', value: null }
    switch (leaf.type) {
      case 'boolean':
        return { kind: 'compare', path, op: rng.chance(0.5) ? 'eq' : 'ne', value: rng.chance(0.5) }
      case 'dateTime':
        return { kind: 'compare', path, op: rng.pick(DATE_OPS), value: dateOperand(rng) }
      case 'string': {
        const op = rng.pick(STRING_OPS)
        return { kind: 'compare', path, op, value: this.stringOperand(leaf, op) }
      }
    }
  }

  /** Mostly values (or parts of values) the users have, in another case; sometimes odd ones. */
  private stringOperand(leaf: Leaf, op: CompareOperator): ComparisonValue {
    const rng = this.rng
    const samples = this.users.flatMap((u) => collect(u, leaf.sample))
    const odd = ['', 'zzz', '%', '_', '\\', 'e', 'ä', 'Σ', "' or 1=1 --", 'Ａ', '😀', '\uFFFD']
    const ordering = op === 'gt' || op === 'ge' || op === 'lt' || op === 'le'
    if (samples.length === 0 || rng.chance(ordering ? 0.3 : 0.12)) return rng.pick(odd)
    let value = rng.pick(samples)
    if (op === 'co' || op === 'sw' || op === 'ew' || rng.chance(0.1)) {
      const chars = Array.from(value)
      const from = op === 'sw' ? 0 : rng.int(chars.length)
      const to = op === 'ew' ? chars.length : from + 1 + rng.int(Math.max(1, chars.length - from))
      value = chars.slice(from, to).join('')
    }
    return rng.chance(0.5) ? varyCase(rng, value) : value
  }

  /** Attribute names are case-insensitive: sometimes write them in another case. */
  private path(text: string): AttributePath {
    const colon = text.lastIndexOf(':')
    const uri = colon >= 0 ? text.slice(0, colon) : undefined
    const [name = '', subAttr] = text.slice(colon + 1).split('.')
    const vary = (s: string) => (this.rng.chance(0.15) ? s.toUpperCase() : s)
    return { uri: uri === undefined ? undefined : vary(uri), name: vary(name), subAttr, position: 0 }
  }
}
