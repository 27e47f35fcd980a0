import type { GraphGroup, GraphUser, SeededOrg } from './graph-model'

/**
 * A deterministic, plausible organisation for the Graph fake: a department tree several levels deep
 * (Entra `department` strings holding "/"-separated paths), a management tree following it (each
 * department's head reports to the parent department's head; everyone else to their head or a team lead
 * hired before them, so there are no cycles), some disabled accounts, some non-Latin names, employee ids
 * and groups. Same options and seed → same org, byte for byte.
 */

export interface SeedOrgOptions {
  users: number
  departments: number
  groups?: number
  seed?: number
}

const TOP_LEVEL = [
  'Finance',
  'Engineering',
  'Sales',
  'Marketing',
  'Operations',
  'People',
  'Legal',
  'Research',
  'Support',
  'Procurement',
  'IT',
  'Facilities',
  'Strategy',
  'Communications',
]
const UNITS = [
  'Audit',
  'Payroll',
  'Platform',
  'Infrastructure',
  'Field Sales',
  'Inside Sales',
  'Brand',
  'Events',
  'Logistics',
  'Recruiting',
  'Compliance',
  'Data',
  'Security',
  'Quality',
  'Design',
  'Analytics',
  'Accounts',
  'Tax',
  'Treasury',
  'Training',
  'Partnerships',
  'Pricing',
  'Mobile',
  'Web',
  'Billing',
  'Onboarding',
  'Reporting',
  'Tooling',
  'Benefits',
  'Contracts',
]
const GIVEN = [
  'Ada',
  'Ben',
  'Chloe',
  'Daniel',
  'Elena',
  'Farid',
  'Grace',
  'Hugo',
  'Ines',
  'Jonas',
  'Keira',
  'Liam',
  'Maya',
  'Noah',
  'Olivia',
  'Pavel',
  'Quinn',
  'Rosa',
  'Samir',
  'Tara',
  'Umar',
  'Vera',
  'Wes',
  'Yara',
  'Zane',
]
const SURNAMES = [
  'Adams',
  'Baker',
  'Clarke',
  'Dubois',
  'Evans',
  'Fischer',
  'Garcia',
  'Hughes',
  'Ito',
  'Jensen',
  'Kowalski',
  'Lopez',
  'Martin',
  'Nakamura',
  'Okafor',
  'Patel',
  'Quist',
  'Rossi',
  'Schmidt',
  'Turner',
  'Usman',
  'Varga',
  'Walsh',
  'Young',
  'Zhou',
]
/** Names outside Latin-1, so normalisation and encoding bugs show up. */
const NON_LATIN: { given: string; surname: string; display: string }[] = [
  { given: '芳', surname: '王', display: '王芳' },
  { given: 'Дмитрий', surname: 'Иванов', display: 'Дмитрий Иванов' },
  { given: 'さくら', surname: '山田', display: '山田 さくら' },
  { given: 'محمد', surname: 'الأحمد', display: 'محمد الأحمد' },
  { given: 'Ζωή', surname: 'Παπαδοπούλου', display: 'Ζωή Παπαδοπούλου' },
  { given: 'Zoë', surname: 'Ångström', display: 'Zoë Ångström' },
]
const TITLES = [
  'Analyst',
  'Engineer',
  'Specialist',
  'Coordinator',
  'Consultant',
  'Associate',
  'Advisor',
  'Officer',
]
const MAX_DEPTH = 4
const DOMAIN = 'contoso.example'

export function seedOrg(options: SeedOrgOptions): SeededOrg {
  if (!Number.isInteger(options.users) || options.users < 1) {
    throw new Error(`seedOrg: users must be a positive integer, got ${options.users}`)
  }
  if (!Number.isInteger(options.departments) || options.departments < 1) {
    throw new Error(`seedOrg: departments must be a positive integer, got ${options.departments}`)
  }
  const random = mulberry32(options.seed ?? 1)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T
  const guid = () => guidFrom(random)

  // Departments: a root, then each new one under a random existing one that is not yet at full depth.
  const departmentCount = Math.min(options.departments, options.users)
  const departments: { path: string; name: string; depth: number; parent: number; children: Set<string> }[] =
    [{ path: 'Head Office', name: 'Head Office', depth: 0, parent: -1, children: new Set() }]
  const open = [0]
  for (let i = 1; i < departmentCount; i++) {
    // The first few hang off the root so the top level is wide; later ones go anywhere open.
    const parentIndex = i <= 6 ? 0 : (open[Math.floor(random() * open.length)] as number)
    const parent = departments[parentIndex]!
    const names = parent.depth === 0 ? TOP_LEVEL : UNITS
    let name = pick(names)
    for (let n = 2; parent.children.has(name); n++) name = `${pick(names)}${n > 4 ? ` ${n}` : ''}`
    parent.children.add(name)
    const depth = parent.depth + 1
    departments.push({
      path: `${parent.path}/${name}`,
      name,
      depth,
      parent: parentIndex,
      children: new Set(),
    })
    if (depth < MAX_DEPTH) open.push(i)
  }

  const users: GraphUser[] = []
  const headOf: string[] = []
  const membersOf: string[][] = departments.map(() => [])
  for (let i = 0; i < options.users; i++) {
    const isHead = i < departmentCount
    const dept = isHead ? i : Math.floor(random() * departmentCount)
    const department = departments[dept]!
    const id = guid()
    let managerId: string | null
    if (isHead) {
      managerId = department.parent >= 0 ? (headOf[department.parent] as string) : null
      headOf[dept] = id
    } else {
      // Team leads are the first few members of the same department (hired earlier), so chains end at the head.
      const peers = membersOf[dept]!
      managerId = peers.length > 0 && random() < 0.25 ? pick(peers) : (headOf[dept] as string)
      if (peers.length < 8) peers.push(id)
    }
    const nonLatin = i % 397 === 5 || i === 11 ? NON_LATIN[(i >> 1) % NON_LATIN.length]! : null
    const given = nonLatin?.given ?? pick(GIVEN)
    const surname = nonLatin?.surname ?? pick(SURNAMES)
    const local = nonLatin ? `user${i}` : `${given}.${surname}.${i}`.toLowerCase()
    users.push({
      id,
      userPrincipalName: `${local}@${DOMAIN}`,
      mail: `${local}@${DOMAIN}`,
      displayName: nonLatin?.display ?? `${given} ${surname}`,
      givenName: given,
      surname,
      department: department.path,
      jobTitle: isHead
        ? dept === 0
          ? 'Chief Executive Officer'
          : `Head of ${department.name}`
        : pick(TITLES),
      employeeId: String(100000 + i),
      accountEnabled: !(i % 53 === 17 && !isHead),
      managerId,
    })
  }

  const groupCount = options.groups ?? Math.max(1, Math.min(20, Math.ceil(departmentCount / 5)))
  const groups: GraphGroup[] = []
  for (let g = 0; g < groupCount; g++) {
    if (g === 0) {
      groups.push({
        id: guid(),
        displayName: 'All Managers',
        description: 'Every department head',
        memberIds: [...headOf],
      })
      continue
    }
    const size = Math.min(users.length, 3 + Math.floor(random() * 200))
    const members = new Set<string>()
    while (members.size < size) members.add(users[Math.floor(random() * users.length)]!.id)
    groups.push({
      id: guid(),
      displayName: `${pick(UNITS)} Working Group ${g}`,
      description: g % 3 === 0 ? null : `Working group number ${g}`,
      memberIds: [...members],
    })
  }
  return { users, groups }
}

/** Small, fast, seedable PRNG (mulberry32); Math.random would make the org differ run to run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** A version-4-shaped GUID from four 32-bit draws; table lookups keep 100k of them cheap. */
function guidFrom(random: () => number): string {
  const w = [0, 0, 0, 0].map(() => Math.floor(random() * 2 ** 32) >>> 0)
  const byte = (i: number) => HEX[(w[i >> 2]! >>> ((3 - (i & 3)) * 8)) & 0xff]!
  const b6 = HEX[(((w[1]! >>> 8) & 0x0f) | 0x40) & 0xff]!
  const b8 = HEX[(((w[2]! >>> 24) & 0x3f) | 0x80) & 0xff]!
  return (
    byte(0) +
    byte(1) +
    byte(2) +
    byte(3) +
    '-' +
    byte(4) +
    byte(5) +
    '-' +
    b6 +
    byte(7) +
    '-' +
    b8 +
    byte(9) +
    '-' +
    byte(10) +
    byte(11) +
    byte(12) +
    byte(13) +
    byte(14) +
    byte(15)
  )
}
