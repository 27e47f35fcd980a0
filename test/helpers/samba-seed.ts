/**
 * Builds a realistic org in the test Samba AD DC through LDAP adds (not samba-tool: one process per user
 * is far too slow). `seedOrg(dc, { base, users, ous })` fills an existing or new OU; the CLI at the bottom
 * seeds the shared org (OU=Acme,OU=People) for `test/ldap/samba-dc.sh seed DIR [USERS]`.
 *
 * What the org contains (`SeededOrg` lists every DN):
 * - an OU tree several levels deep under `base`, BFS order; top-level OUs are departments, one of them
 *   `OU=Retail\, Wholesale` with a child `OU=Zürich` (comma escape plus non-ASCII in one DN);
 * - a CEO directly in `base`; each OU's first user is its head; heads report to the head of the parent OU
 *   (or the CEO), everyone else to the head of their own OU (`manager` holds the DN);
 * - every 10th user is named "Surname, Given" (a comma in the CN, as many directories do);
 * - special accounts among the last users: disabled (userAccountControl 514), accountExpires in the past,
 *   accountExpires 9223372036854775807 and accountExpires 0 (both mean never);
 * - a contact and a computer in the first department (they must not be synced as people);
 * - groups in OU=Groups: a department group with a nested group, a managers group and a large group
 *   (`largeGroupMembers`, default up to 2,000 members: more than the 1,500 values per range in AD).
 *
 * Enabled users get userAccountControl 512 without a password unless `passwords` is set (Samba allows
 * that; Windows AD would refuse it). The CEO and the special accounts always get `password`.
 */
import fs from 'node:fs'
import { Attribute, Change, Client, type Control } from 'ldapts'
import path from 'node:path'
import { escapeDnValue, fileTime, SAMBA_STATE_DIR, sambaDc, type SambaDcInfo, unicodePwd } from './samba'

export interface SeedOptions {
  /** DN of the OU to fill; created if missing (its parent must exist). */
  base: string
  users: number
  /** Number of OUs in the tree below `base` (not counting OU=Groups). Default: users / 50, 4..60. */
  ous?: number
  /** Makes sAMAccountName, userPrincipalName, employeeID and group names unique in the domain. */
  prefix: string
  /** Give every user `password` (slower: Samba derives Kerberos keys per password). */
  passwords?: boolean
  password?: string
  largeGroupMembers?: number
  /** Adds in flight at once on the one connection. */
  concurrency?: number
  onProgress?: (done: number, total: number) => void
}

export interface SeededUser {
  dn: string
  ou: string
  sAMAccountName: string
  userPrincipalName: string
  givenName: string
  sn: string
  displayName: string
  mail: string
  title: string
  department: string
  employeeID: string
  manager?: string
  userAccountControl: number
  accountExpires?: string
  hasPassword: boolean
}

export interface SeededGroup {
  dn: string
  name: string
  members: string[]
}

export interface SeededOrg {
  base: string
  /** OU DNs below base, parents before children (OU=Groups not included). */
  ous: string[]
  groupsOu: string
  users: SeededUser[]
  groups: { department: SeededGroup; nested: SeededGroup; managers: SeededGroup; large: SeededGroup }
  ceo: SeededUser
  special: {
    disabled: SeededUser
    expired: SeededUser
    neverExpiresMax: SeededUser
    neverExpiresZero: SeededUser
  }
  contactDn: string
  computerDn: string
  password: string
}

const DEPARTMENTS = [
  'Engineering',
  'Retail, Wholesale',
  'Finance',
  'Sales',
  'Operations',
  'People & Culture',
  'Legal',
  'Marketing',
]
// Index 2 lands on the first child of 'Retail, Wholesale' (see ouTree).
const UNITS = [
  'Platform',
  'Data',
  'Zürich',
  'Stores',
  'Payroll',
  'Tax',
  'North',
  'South',
  'Backend',
  'Frontend',
  'Genève',
  'Support',
  'Logistics',
  'Research',
  'Security',
  'Procurement',
  'Field',
  'Online',
]
const GIVEN = [
  'Anna',
  'Ben',
  'Chloé',
  'David',
  'Elif',
  'Farid',
  'Grace',
  'Hiroshi',
  'Ingrid',
  'José',
  'Kofi',
  'Lena',
  'Mateo',
  'Nadia',
  'Oliver',
  'Priya',
  'Quentin',
  'Rosa',
  'Søren',
  'Tanvi',
  'Ugo',
  'Vera',
  'Wei',
  'Ximena',
  'Yusuf',
  'Zoë',
]
const SURNAMES = [
  'Müller',
  'Smith',
  "O'Brien",
  'García',
  'Nguyen',
  'Kowalski',
  'Rossi',
  'Dubois',
  'Johansson',
  'Yılmaz',
  'Tanaka',
  'Okafor',
  'Silva',
  'Novak',
  'Schmidt',
  'Jensen',
  'Popescu',
  'Fischer',
  'Lee',
  'Kim',
  'Martin',
  'Bauer',
  'Costa',
  'Horvath',
  'Ivanova',
  'Weber',
  'Moreau',
  'Hansen',
  'Berg',
  'Lopez',
]
const TITLES = [
  'Engineer',
  'Senior Engineer',
  'Analyst',
  'Specialist',
  'Consultant',
  'Associate',
  'Coordinator',
]

export function defaultOuCount(users: number): number {
  return Math.min(60, Math.max(4, Math.round(users / 50)))
}

interface OuNode {
  dn: string
  name: string
  parent: number | null
  depth: number
}

/** BFS tree: up to 4 top-level departments, then two children per OU. */
function ouTree(base: string, count: number): OuNode[] {
  const top = Math.min(count, 4)
  const nodes: OuNode[] = []
  for (let j = 0; j < count; j++) {
    if (j < top) {
      const name = DEPARTMENTS[j % DEPARTMENTS.length]!
      nodes.push({ dn: `OU=${escapeDnValue(name)},${base}`, name, parent: null, depth: 1 })
    } else {
      const parent = Math.floor((j - top) / 2)
      const k = j - top
      const name =
        UNITS[k % UNITS.length]! + (k >= UNITS.length ? ` ${Math.floor(k / UNITS.length) + 1}` : '')
      const p = nodes[parent]!
      nodes.push({ dn: `OU=${escapeDnValue(name)},${p.dn}`, name, parent, depth: p.depth + 1 })
    }
  }
  return nodes
}

/** The org as data: OUs, users (managers before their reports) and groups. No directory access. */
export function buildOrg(opts: SeedOptions): Omit<SeededOrg, 'contactDn' | 'computerDn'> & {
  ouNodes: OuNode[]
  contact: { dn: string; attrs: Record<string, string | string[]> }
  computer: { dn: string; attrs: Record<string, string | string[]> }
} {
  const { base, prefix } = opts
  const n = Math.max(opts.users, 6)
  const ouNodes = ouTree(base, Math.max(1, opts.ous ?? defaultOuCount(n)))
  const password = opts.password ?? 'Seed-Passw0rd!x'
  const domain = 'test.local'
  const heads = new Map<number, SeededUser>()
  const users: SeededUser[] = []
  const cnsByOu = new Map<string, Set<string>>()

  for (let i = 0; i < n; i++) {
    const ouIndex = i === 0 ? -1 : (i - 1) % ouNodes.length
    const node = ouIndex >= 0 ? ouNodes[ouIndex]! : undefined
    const ou = node?.dn ?? base
    const givenName = GIVEN[i % GIVEN.length]!
    const generation = Math.floor(i / (GIVEN.length * SURNAMES.length))
    const sn =
      SURNAMES[Math.floor(i / GIVEN.length) % SURNAMES.length]! + (generation > 0 ? `-${generation + 1}` : '')
    const commaStyle = i % 10 === 7
    const displayName = commaStyle ? `${sn}, ${givenName}` : `${givenName} ${sn}`
    let cn = displayName
    const taken = cnsByOu.get(ou) ?? new Set<string>()
    if (taken.has(cn)) cn = `${displayName} (${i})`
    taken.add(cn)
    cnsByOu.set(ou, taken)
    const sAMAccountName = `${prefix}.${i}`
    if (sAMAccountName.length > 20)
      throw new Error(`sAMAccountName ${sAMAccountName} is longer than 20 characters`)
    const isHead = node !== undefined && !heads.has(ouIndex)
    let manager: string | undefined
    if (i > 0) {
      if (isHead) {
        let p = node.parent
        while (p !== null && !heads.has(p)) p = ouNodes[p]!.parent
        manager = p === null ? users[0]!.dn : heads.get(p)!.dn
      } else {
        manager = heads.get(ouIndex)!.dn
      }
    }
    const user: SeededUser = {
      dn: `CN=${escapeDnValue(cn)},${ou}`,
      ou,
      sAMAccountName,
      userPrincipalName: `${sAMAccountName}@${domain}`,
      givenName,
      sn,
      displayName,
      mail: `${sAMAccountName}@${domain}`,
      title:
        i === 0 ? 'Chief Executive Officer' : isHead ? `Head of ${node.name}` : TITLES[i % TITLES.length]!,
      department: node?.name ?? 'Executive',
      employeeID: `${prefix.toUpperCase()}-${String(i).padStart(6, '0')}`,
      manager,
      userAccountControl: 512,
      hasPassword: opts.passwords === true || i === 0,
    }
    if (isHead) heads.set(ouIndex, user)
    users.push(user)
  }

  // Special accounts: the last four users, none of them a manager when users > ous + 5.
  const disabled = users[n - 1]!
  const expired = users[n - 2]!
  const neverExpiresMax = users[n - 3]!
  const neverExpiresZero = users[n - 4]!
  disabled.userAccountControl = 514
  expired.accountExpires = fileTime(new Date('2020-01-01T00:00:00Z')).toString()
  neverExpiresMax.accountExpires = '9223372036854775807'
  neverExpiresZero.accountExpires = '0'
  for (const u of [disabled, expired, neverExpiresMax, neverExpiresZero]) u.hasPassword = true

  const groupsOu = `OU=Groups,${base}`
  const group = (name: string, members: string[]): SeededGroup => ({
    dn: `CN=${escapeDnValue(`${prefix} ${name}`)},${groupsOu}`,
    name: `${prefix} ${name}`,
    members,
  })
  const top = ouNodes[0]!
  const child = ouNodes.find((o) => o.parent === 0)
  const nested = group(
    'Platform team',
    users.filter((u) => u.ou === (child ?? top).dn).map((u) => u.dn),
  )
  const department = group('Engineering team', [
    ...users.filter((u) => u.ou === top.dn).map((u) => u.dn),
    nested.dn,
  ])
  const managers = group('Managers', [users[0]!.dn, ...[...heads.values()].map((u) => u.dn)])
  const large = group(
    'All staff',
    users.slice(0, Math.min(n, opts.largeGroupMembers ?? 2000)).map((u) => u.dn),
  )
  const contactDn = `CN=${escapeDnValue(`${prefix} External Auditor`)},${top.dn}`
  const computerName = `${prefix}-ws1`.slice(0, 15)
  return {
    base,
    ous: ouNodes.map((o) => o.dn),
    ouNodes,
    groupsOu,
    users,
    ceo: users[0]!,
    special: { disabled, expired, neverExpiresMax, neverExpiresZero },
    groups: { department, nested, managers, large },
    password,
    contact: {
      dn: contactDn,
      attrs: {
        objectClass: 'contact',
        displayName: `${prefix} External Auditor`,
        mail: `auditor@${prefix}.example`,
      },
    },
    computer: {
      dn: `CN=${computerName},${top.dn}`,
      attrs: {
        objectClass: 'computer',
        sAMAccountName: `${computerName}$`,
        userAccountControl: '4096',
      },
    },
  }
}

function userAttributes(u: SeededUser, password: string): Attribute[] {
  const attrs: Record<string, string> = {
    objectClass: 'user',
    sAMAccountName: u.sAMAccountName,
    userPrincipalName: u.userPrincipalName,
    givenName: u.givenName,
    sn: u.sn,
    displayName: u.displayName,
    mail: u.mail,
    title: u.title,
    department: u.department,
    employeeID: u.employeeID,
    userAccountControl: String(u.userAccountControl),
  }
  if (u.manager) attrs.manager = u.manager
  if (u.accountExpires !== undefined) attrs.accountExpires = u.accountExpires
  const list = Object.entries(attrs).map(([type, v]) => new Attribute({ type, values: [v] }))
  if (u.hasPassword) list.push(new Attribute({ type: 'unicodePwd', values: [unicodePwd(password)] }))
  return list
}

async function ensureOu(client: Client, dn: string, controls?: Control[]): Promise<void> {
  try {
    await client.add(dn, { objectClass: 'organizationalUnit' }, controls)
  } catch (err) {
    if ((err as { code?: number }).code !== 68) throw err // entryAlreadyExists
  }
}

/** Runs `tasks` with at most `limit` in flight; each task may await others through `done`. */
async function pool<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await run(items[next++]!)
  })
  await Promise.all(workers)
}

/** Adds the org under opts.base through `client` (bound as an administrator). */
export async function seedOrgWith(client: Client, opts: SeedOptions): Promise<SeededOrg> {
  const org = buildOrg(opts)
  await ensureOu(client, org.base)
  for (const o of org.ouNodes) await ensureOu(client, o.dn)
  await ensureOu(client, org.groupsOu)

  const total = org.users.length
  let done = 0
  const added = new Map<string, Promise<void>>()
  const byDn = new Map(org.users.map((u) => [u.dn, u]))
  const addUser = (u: SeededUser): Promise<void> => {
    let p = added.get(u.dn)
    if (!p) {
      // A manager must exist before a report can point at it.
      const managerAdded = u.manager ? addUser(byDn.get(u.manager)!) : Promise.resolve()
      p = managerAdded.then(async () => {
        await client.add(u.dn, userAttributes(u, org.password))
        done++
        if (opts.onProgress && (done % 500 === 0 || done === total)) opts.onProgress(done, total)
      })
      added.set(u.dn, p)
    }
    return p
  }
  await pool(org.users, opts.concurrency ?? 4, addUser)

  await client.add(org.contact.dn, org.contact.attrs)
  await client.add(org.computer.dn, org.computer.attrs)

  const { department, nested, managers, large } = org.groups
  for (const g of [nested, department, managers, large]) {
    const sam = `${opts.prefix}-g${[nested, department, managers, large].indexOf(g)}`
    await client.add(g.dn, { objectClass: 'group', sAMAccountName: sam })
    for (let i = 0; i < g.members.length; i += 500) {
      const values = g.members.slice(i, i + 500)
      await client.modify(
        g.dn,
        new Change({ operation: 'add', modification: new Attribute({ type: 'member', values }) }),
      )
    }
  }
  const { ouNodes: _n, contact, computer, ...rest } = org
  return { ...rest, contactDn: contact.dn, computerDn: computer.dn }
}

/** Seeds through a new administrator connection to `dc`. */
export async function seedOrg(
  dc: Pick<SambaDcInfo, 'url' | 'ca' | 'adminDn' | 'adminPassword'>,
  opts: SeedOptions,
): Promise<SeededOrg> {
  const client = new Client({
    url: dc.url,
    tlsOptions: { ca: [dc.ca] },
    connectTimeout: 5000,
    timeout: 60000,
  })
  try {
    await client.bind(dc.adminDn, dc.adminPassword)
    return await seedOrgWith(client, opts)
  } finally {
    await client.unbind()
  }
}

/** The shared org `samba-dc.sh seed` made under peopleBaseDn (after startSamba()). */
export function readSharedOrg(dir = SAMBA_STATE_DIR): SeededOrg {
  return JSON.parse(fs.readFileSync(path.join(dir, 'seed.json'), 'utf8')) as SeededOrg
}

/** CLI for samba-dc.sh: node --import tsx test/helpers/samba-seed.ts --dir DIR --users N [--ous M]. */
async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const dir = arg('dir')
  if (!dir) throw new Error('usage: samba-seed.ts --dir DIR [--users N] [--ous M]')
  const info = JSON.parse(fs.readFileSync(`${dir}/dc.json`, 'utf8')) as Omit<SambaDcInfo, 'ca'> & {
    caFile: string
  }
  const users = Number(arg('users') ?? 2000)
  const ous = arg('ous') ? Number(arg('ous')) : undefined
  const dc = sambaDc({ ...info, ca: fs.readFileSync(info.caFile, 'utf8') })
  // A seed that failed half-way left entries behind: start over.
  await dc.deleteTree(info.peopleBaseDn)
  const started = Date.now()
  const org = await seedOrg(dc, {
    base: info.peopleBaseDn,
    users,
    ous,
    prefix: 'acme',
    onProgress: (done, total) => process.stderr.write(`samba-seed: ${done}/${total} users\n`),
  })
  fs.writeFileSync(`${dir}/seed.json`, JSON.stringify(org, null, 1))
  process.stderr.write(
    `samba-seed: ${org.users.length} users, ${org.ous.length} OUs, 4 groups under ${org.base} in ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  )
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`samba-seed: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  })
}
