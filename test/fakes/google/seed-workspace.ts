import {
  type GoogleMemberRole,
  type GoogleUser,
  type SeededGroup,
  type SeededWorkspace,
} from './google-types'

export interface SeedOptions {
  users: number
  orgUnits: number
  /** Defaults to one group per 100 users, at least 1 and at most 200. */
  groups?: number
  seed?: number
  domain?: string
}

/** mulberry32: tiny, fast and good enough for reproducible fixtures. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const GIVEN = [
  'Alice',
  'Ben',
  'Chloe',
  'Daniel',
  'Emma',
  'Farid',
  'Grace',
  'Hugo',
  'Isla',
  'James',
  'Kavya',
  'Liam',
  'Maya',
  'Noah',
  'Olivia',
  'Priya',
  'Quentin',
  'Rosa',
  'Samuel',
  'Tara',
  'Umar',
  'Vera',
  'William',
  'Yusuf',
  'Zara',
  'Aaron',
  'Bianca',
  'Connor',
  'Deepa',
  'Elliot',
  'Fiona',
  'George',
  'Hannah',
  'Ivan',
  'Julia',
]
const FAMILY = [
  'Smith',
  'Jones',
  'Taylor',
  'Brown',
  'Williams',
  'Wilson',
  'Johnson',
  'Davies',
  'Patel',
  'Robinson',
  'Wright',
  'Thompson',
  'Evans',
  'Walker',
  'White',
  'Roberts',
  'Green',
  'Hall',
  'Wood',
  'Jackson',
  'Clarke',
  'Khan',
  'Lewis',
  'Harris',
  'Martin',
  'Cooper',
  'King',
  'Lee',
  'Baker',
  'Hill',
  'Moore',
  'Ward',
  'Turner',
  'Singh',
]
/** Accented Latin names: the email is the name with its diacritics stripped. */
const ACCENTED: [string, string][] = [
  ['Zoë', 'Brontë'],
  ['José', 'Núñez'],
  ['Björn', 'Ångström'],
  ['Chloé', 'Lefèvre'],
  ['Łukasz', 'Wąsowski'],
  ['Søren', 'Kierkegård'],
  ['Renée', 'Müller'],
  ['İlkay', 'Gündoğan'],
  ['François', 'Façade'],
  ['Nuño', 'Peña'],
]
/** Non-Latin names with the romanisation an admin would use for the address. */
const NON_LATIN: { given: string; family: string; ascii: string }[] = [
  { given: '太郎', family: '山田', ascii: 'taro.yamada' },
  { given: '美咲', family: '佐藤', ascii: 'misaki.sato' },
  { given: '伟', family: '王', ascii: 'wei.wang' },
  { given: '秀英', family: '李', ascii: 'xiuying.li' },
  { given: 'Дмитрий', family: 'Иванов', ascii: 'dmitry.ivanov' },
  { given: 'Ольга', family: 'Смирнова', ascii: 'olga.smirnova' },
  { given: 'Νίκος', family: 'Παπαδόπουλος', ascii: 'nikos.papadopoulos' },
  { given: 'محمد', family: 'العلي', ascii: 'mohammed.alali' },
  { given: 'נועה', family: 'כהן', ascii: 'noa.cohen' },
  { given: '민준', family: '김', ascii: 'minjun.kim' },
  { given: 'अनन्या', family: 'शर्मा', ascii: 'ananya.sharma' },
  { given: 'สมชาย', family: 'ใจดี', ascii: 'somchai.jaidee' },
]
const TOP_UNITS = ['Engineering', 'Sales', 'Marketing', 'Finance', 'People', 'Operations', 'Legal', 'Support']
const SUB_UNITS = [
  'EMEA',
  'Americas',
  'APAC',
  'Platform',
  'Mobile',
  'Data',
  'Security',
  'Accounts',
  'Payroll',
  'Recruiting',
  'Field',
  'Partners',
  'Infrastructure',
  'Design',
  'Research',
  'Compliance',
  'Enablement',
  'Tier 1',
  'Tier 2',
]
const TITLES = [
  'Engineer',
  'Senior Engineer',
  'Analyst',
  'Manager',
  'Director',
  'Specialist',
  'Coordinator',
  'Associate',
  'Lead',
  'Consultant',
  'Designer',
  'Administrator',
]
const MAX_DEPTH = 4

function asciiSlug(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ı/g, 'i')
    .replace(/ł/gi, 'l')
    .replace(/ø/gi, 'o')
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '')
}

interface Unit {
  path: string
  name: string
  depth: number
  top: string
  childNames: Set<string>
}

function buildOrgUnits(count: number, rand: () => number, pick: <T>(xs: readonly T[]) => T): Unit[] {
  const root: Unit = { path: '/', name: '', depth: 0, top: 'Company', childNames: new Set() }
  const units: Unit[] = [root]
  const addChild = (parent: Unit, base: string): void => {
    let name = base
    for (let k = 2; parent.childNames.has(name.toLowerCase()); k++) name = `${base} ${k}`
    parent.childNames.add(name.toLowerCase())
    const path = parent.path === '/' ? `/${name}` : `${parent.path}/${name}`
    units.push({
      path,
      name,
      depth: parent.depth + 1,
      top: parent.depth === 0 ? name : parent.top,
      childNames: new Set(),
    })
  }
  const topCount = Math.min(count, TOP_UNITS.length)
  for (let i = 0; i < topCount; i++) addChild(root, TOP_UNITS[i] as string)
  // A guaranteed chain so even small trees are several levels deep.
  for (let i = topCount; i < count && units.length - 1 < topCount + MAX_DEPTH - 1; i++) {
    addChild(units[units.length - 1] as Unit, pick(SUB_UNITS))
  }
  while (units.length - 1 < count) {
    const parent = units[1 + Math.floor(rand() * (units.length - 1))] as Unit
    if (parent.depth >= MAX_DEPTH) continue
    addChild(parent, pick(SUB_UNITS))
  }
  return units.slice(1)
}

/**
 * A deterministic Workspace: same options, same data (ids included). Users are ordered so that every
 * manager precedes their reports, which makes the manager graph a tree by construction.
 */
export function seedWorkspace(options: SeedOptions): SeededWorkspace {
  const rand = prng(options.seed ?? 1)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const domain = options.domain ?? 'example.com'
  const units = buildOrgUnits(Math.max(0, options.orgUnits), rand, pick)

  const ids = new Set<string>()
  const newId = (): string => {
    for (;;) {
      const tenDigits = (): string => String(Math.floor(rand() * 1e10)).padStart(10, '0')
      const id = `1${tenDigits()}${tenDigits()}`
      if (!ids.has(id)) {
        ids.add(id)
        return id
      }
    }
  }
  const locals = new Set<string>()
  // Next suffix per base name: probing 2, 3, 4… afresh each time is quadratic in a popular name's count.
  const nextSuffix = new Map<string, number>()
  const uniqueLocal = (base: string): string => {
    let k = nextSuffix.get(base) ?? 1
    let local = k === 1 ? base : `${base}${k}`
    while (locals.has(local)) local = `${base}${++k}`
    nextSuffix.set(base, k + 1)
    locals.add(local)
    return local
  }

  const epoch = Date.UTC(2015, 0, 1)
  const span = Date.UTC(2024, 0, 1) - epoch
  const loginFrom = Date.UTC(2024, 0, 1)
  const loginSpan = Date.UTC(2025, 0, 1) - loginFrom
  const users: GoogleUser[] = []
  for (let i = 0; i < options.users; i++) {
    const roll = rand()
    let givenName: string
    let familyName: string
    let local: string
    if (roll < 0.06) {
      const n = pick(NON_LATIN)
      ;({ given: givenName, family: familyName } = n)
      local = uniqueLocal(n.ascii)
    } else if (roll < 0.14) {
      ;[givenName, familyName] = pick(ACCENTED)
      local = uniqueLocal(`${asciiSlug(givenName)}.${asciiSlug(familyName)}`)
    } else {
      givenName = pick(GIVEN)
      familyName = pick(FAMILY)
      local = uniqueLocal(`${givenName}.${familyName}`.toLowerCase())
    }
    const unit = i === 0 || units.length === 0 || rand() < 0.02 ? undefined : pick(units)
    const suspended = i > 1 && rand() < 0.03
    const archived = !suspended && i > 1 && rand() < 0.01
    const user: GoogleUser = {
      id: newId(),
      primaryEmail: `${local}@${domain}`,
      name: { givenName, familyName, fullName: `${givenName} ${familyName}` },
      suspended,
      archived,
      orgUnitPath: unit?.path ?? '/',
      isAdmin: i === 1,
      creationTime: new Date(epoch + Math.floor(rand() * span)).toISOString(),
    }
    if (suspended) user.suspensionReason = 'ADMIN'
    if (rand() < 0.9) user.lastLoginTime = new Date(loginFrom + Math.floor(rand() * loginSpan)).toISOString()
    if (i > 0 && rand() > 0.015) {
      // Fan-out of roughly 4–8 reports per manager, so the tree is several levels deep.
      const lo = Math.floor(i / 8)
      const hi = Math.max(lo, Math.floor(i / 4))
      const managerIndex = Math.min(i - 1, lo + Math.floor(rand() * (hi - lo + 1)))
      const manager = users[managerIndex] as GoogleUser
      user.relations = [{ type: 'manager', value: manager.primaryEmail }]
    }
    if (rand() < 0.95) user.externalIds = [{ type: 'organization', value: `E${100000 + i}` }]
    if (rand() < 0.97) {
      const department = unit ? unit.top : 'Executive'
      user.organizations = [
        {
          title: i === 0 ? 'Chief Executive Officer' : pick(TITLES),
          department,
          costCenter: `CC-${(TOP_UNITS.indexOf(department) + 1) * 100}`,
          primary: true,
          type: 'work',
        },
      ]
    }
    users.push(user)
  }

  const groupCount = options.groups ?? Math.min(200, Math.max(1, Math.round(options.users / 100)))
  const groups: SeededGroup[] = []
  const groupIds = new Set<string>()
  const active = users.filter((u) => !u.suspended)
  for (let g = 0; g < groupCount; g++) {
    let id: string
    do {
      id = `0${Math.floor(rand() * 36 ** 10)
        .toString(36)
        .padStart(10, '0')}${g.toString(36).padStart(4, '0')}`
    } while (groupIds.has(id))
    groupIds.add(id)
    const members: { id: string; role: GoogleMemberRole }[] = []
    if (g === 0) {
      // An everyone-list: large enough that listing its members takes several pages.
      for (const u of active) members.push({ id: u.id, role: 'MEMBER' })
    } else if (users.length > 0) {
      const size = Math.min(users.length, 2 + Math.floor(rand() * 60))
      const chosen = new Set<string>()
      while (chosen.size < size) chosen.add(pick(users).id)
      let first = true
      for (const memberId of chosen) {
        members.push({ id: memberId, role: first ? 'OWNER' : rand() < 0.1 ? 'MANAGER' : 'MEMBER' })
        first = false
      }
      // Nested groups only point at earlier groups, so membership stays acyclic.
      if (g > 1 && rand() < 0.3)
        members.push({ id: (groups[1 + Math.floor(rand() * (g - 1))] as SeededGroup).id, role: 'MEMBER' })
    }
    const team = g === 0 ? 'all-staff' : `${asciiSlug(pick(SUB_UNITS))}-${g}`
    groups.push({
      id,
      email: `${team}@${domain}`,
      name: g === 0 ? 'All staff' : `${pick(SUB_UNITS)} team ${g}`,
      description: g === 0 ? 'Everyone with an active account' : `Working group ${g}`,
      members,
    })
  }

  return { domain, orgUnitPaths: units.map((u) => u.path), users, groups }
}
