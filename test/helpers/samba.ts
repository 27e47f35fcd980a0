/**
 * The real Samba AD DC the LDAP tests run against (test/ldap/samba-dc.sh starts it; ../shared/DESIGN.md §6).
 *
 * One DC serves every test process: startSamba() runs `samba-dc.sh start` and `seed` on a fixed state
 * directory (ORGSYNC_SAMBA_DIR, default /tmp/orgsync-samba). The script locks that directory, so parallel
 * jest workers, CI and earlier runs share one provisioned, seeded DC; it stays up after the tests
 * (`test/ldap/samba-dc.sh stop /tmp/orgsync-samba` stops it).
 *
 * The shared org under `peopleBaseDn` (OU=Acme,OU=People) is read-only for tests. A test file that
 * changes the directory makes its own OU with `createTestOu()` (OU=t-<random>,OU=People), seeds it with
 * `seedOrg` from ./samba-seed if it needs people, and removes it with `deleteTree` in afterAll.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Attribute, Change, Client, Control, type Entry } from 'ldapts'
import { describeWithServer, onPath, once, runScript } from './script-server'

export const SAMBA_STATE_DIR = process.env.ORGSYNC_SAMBA_DIR ?? '/tmp/orgsync-samba'
export const SAMBA_SCRIPT = path.resolve(__dirname, '../ldap/samba-dc.sh')
/** Users in the shared seeded org (SAMBA_SEED_USERS overrides; only the first seed of a DC counts). */
export const SAMBA_SEED_USERS = Number(process.env.SAMBA_SEED_USERS ?? 2000)
/** For beforeAll hooks that may provision and seed a DC (~1 min on a busy 2-core machine). */
export const SAMBA_START_TIMEOUT_MS = 600_000
export const SAMBA_PACKAGES =
  'samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules ldb-tools ldap-utils krb5-user winbind'
export const SAMBA_UNAVAILABLE =
  `Samba AD DC not available: apt-get install ${SAMBA_PACKAGES} ` +
  '(or test/ldap/samba-dc.sh install), or run .ci/run'

const TREE_DELETE = '1.2.840.113556.1.4.805'
const UF_ACCOUNTDISABLE = 2

/** What samba-dc.sh writes to DIR/dc.json, plus the CA certificate's PEM. */
export interface SambaDcInfo {
  /** ldaps://127.0.0.1:636 (certificate from our own CA: IP SAN 127.0.0.1, DNS localhost). */
  url: string
  /** ldap://127.0.0.1:389: StartTLS required before a simple bind (plain simple binds fail with code 8). */
  startTlsUrl: string
  /** PEM of the CA that signed the DC's certificate. */
  ca: string
  caFile: string
  /** DC=test,DC=local */
  baseDn: string
  /** OU=People,DC=test,DC=local: holds the shared org and the per-file test OUs. */
  peopleDn: string
  /** OU=Acme,OU=People,DC=test,DC=local: the shared seeded org (read-only for tests). */
  peopleBaseDn: string
  realm: string
  domain: string
  domainSid?: string
  /** CN=svc-orgsync,CN=Users,DC=test,DC=local: a plain Domain User outside OU=People. */
  bindDn: string
  /** svc-orgsync@test.local (AD accepts the UPN as a simple-bind name too). */
  bindUpn: string
  bindPassword: string
  /** CN=Administrator,CN=Users,DC=test,DC=local */
  adminDn: string
  adminPassword: string
}

export type ModifyValue = string | string[] | Buffer | Buffer[] | null

export interface NewUser {
  sAMAccountName: string
  givenName?: string
  sn?: string
  displayName?: string
  mail?: string
  title?: string
  department?: string
  employeeID?: string
  /** DN of the manager (must exist). */
  manager?: string
  /** RDN value; default displayName, else sAMAccountName. */
  cn?: string
  /** Default `${sAMAccountName}@test.local`. */
  userPrincipalName?: string
  /** Without one the account is created enabled (512) with no password, which Samba allows. */
  password?: string
  /** Default 512 (enabled). */
  userAccountControl?: number
  accountExpires?: Date | 'never' | bigint | number
  /** Any other attributes. */
  extra?: Record<string, string | string[]>
}

export interface SambaDc extends SambaDcInfo {
  /** A client bound as the service account (default), the administrator or any DN; the caller unbinds. */
  connect(options?: {
    as?: 'service' | 'admin' | { dn: string; password: string }
    startTls?: boolean
    /** Per-operation timeout (default 120 s). */
    timeoutMs?: number
  }): Promise<Client>
  /** Runs fn with an administrator connection that is closed afterwards. */
  withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T>
  /** Creates OU=t-[label-]<random>,OU=People,… and returns its DN. Remove it with deleteTree in afterAll. */
  createTestOu(label?: string): Promise<string>
  createOu(parentDn: string, name: string): Promise<string>
  /** Returns the new user's DN. */
  createUser(ouDn: string, user: NewUser): Promise<string>
  /** Returns the group's DN. */
  createGroup(ouDn: string, name: string, members?: string[]): Promise<string>
  /** Replaces each attribute's values (null or [] deletes the attribute), or applies ldapts Changes. */
  modify(dn: string, changes: Record<string, ModifyValue> | Change[]): Promise<void>
  /** Moves dn (keeping its RDN) below newParentDn; returns the new DN. */
  moveEntry(dn: string, newParentDn: string): Promise<string>
  /** Renames an OU in place (OU=<newName>); returns the new DN. Everything below it changes DN. */
  renameOu(dn: string, newName: string): Promise<string>
  disableUser(dn: string): Promise<void>
  enableUser(dn: string): Promise<void>
  /** A date, 'never' (9223372036854775807), 0 (also never) or a raw FILETIME. */
  setAccountExpires(dn: string, when: Date | 'never' | bigint | number): Promise<void>
  setPassword(dn: string, password: string): Promise<void>
  /** Deletes one leaf entry (it becomes a tombstone under CN=Deleted Objects). */
  deleteEntry(dn: string): Promise<void>
  /** Deletes dn and everything below it (tree-delete control); no error if it is already gone. */
  deleteTree(dn: string): Promise<void>
  addGroupMember(groupDn: string, memberDn: string): Promise<void>
  removeGroupMember(groupDn: string, memberDn: string): Promise<void>
  /** Reads one entry as the administrator; undefined if it does not exist. */
  getEntry(dn: string, attributes?: string[]): Promise<Entry | undefined>
  /** rootDSE highestCommittedUSN. */
  highestCommittedUsn(): Promise<bigint>
}

/** A short random prefix for seedOrg/createUser names (sAMAccountName is unique per domain, max 20 chars). */
export function randomPrefix(): string {
  return `t${randomBytes(3).toString('hex')}`
}

/** Escapes an RDN value for a DN string (RFC 4514 §2.4). */
export function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
}

/** Splits a DN at its first unescaped comma: [rdn, parentDn]. */
export function splitDn(dn: string): [string, string] {
  for (let i = 0; i < dn.length; i++) {
    if (dn[i] === '\\') i++
    else if (dn[i] === ',') return [dn.slice(0, i), dn.slice(i + 1)]
  }
  return [dn, '']
}

/** Windows FILETIME (100 ns since 1601-01-01 UTC), as AD stores accountExpires, pwdLastSet, … */
export function fileTime(date: Date): bigint {
  return (BigInt(date.getTime()) + 11_644_473_600_000n) * 10_000n
}

/** unicodePwd value: the password in double quotes, UTF-16LE (only over an encrypted connection). */
export function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le')
}

/**
 * Synchronous (describe blocks are): samba-tool and samba are installed, or a DC was already
 * started from SAMBA_STATE_DIR (by CI or an earlier run).
 */
export function sambaAvailable(): boolean {
  if (process.env.ORGSYNC_SKIP_SAMBA === '1') return false
  if (fs.existsSync(path.join(SAMBA_STATE_DIR, 'dc.json')) && onPath('samba')) return true
  return onPath('samba-tool') && onPath('samba') && onPath('ldapsearch') && onPath('ldbadd')
}

const runSambaScript = (args: string[], timeoutMs: number) => runScript(SAMBA_SCRIPT, args, timeoutMs)

function readInfo(dir: string): SambaDcInfo {
  const raw = JSON.parse(fs.readFileSync(path.join(dir, 'dc.json'), 'utf8')) as Omit<SambaDcInfo, 'ca'> & {
    domainSid: string
  }
  return {
    ...raw,
    domainSid: raw.domainSid || undefined,
    ca: fs.readFileSync(raw.caFile, 'utf8'),
  }
}

function toAttribute(type: string, value: ModifyValue): Attribute {
  if (value === null) return new Attribute({ type, values: [] as string[] })
  if (Buffer.isBuffer(value)) return new Attribute({ type, values: [value] })
  if (typeof value === 'string') return new Attribute({ type, values: [value] })
  return new Attribute({ type, values: value as string[] | Buffer[] })
}

function accountExpiresValue(when: Date | 'never' | bigint | number): string {
  if (when === 'never') return '9223372036854775807'
  if (when instanceof Date) return fileTime(when).toString()
  return BigInt(when).toString()
}

/** A SambaDc for an already-running DC described by `info`. */
export function sambaDc(info: SambaDcInfo): SambaDc {
  const tlsOptions = { ca: [info.ca] }
  const connect: SambaDc['connect'] = async (options = {}) => {
    const as = options.as ?? 'service'
    const [dn, password] =
      as === 'service'
        ? [info.bindDn, info.bindPassword]
        : as === 'admin'
          ? [info.adminDn, info.adminPassword]
          : [as.dn, as.password]
    // For ldap:// no tlsOptions, else ldapts speaks TLS at once; startTLS needs the host for the name check.
    const timeout = options.timeoutMs ?? 120_000
    const client = options.startTls
      ? new Client({ url: info.startTlsUrl, connectTimeout: 5000, timeout })
      : new Client({ url: info.url, tlsOptions, connectTimeout: 5000, timeout })
    try {
      if (options.startTls) await client.startTLS({ ...tlsOptions, host: '127.0.0.1' })
      await client.bind(dn, password)
    } catch (err) {
      await client.unbind().catch(() => undefined)
      throw err
    }
    return client
  }
  const withAdmin = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const client = await connect({ as: 'admin' })
    try {
      return await fn(client)
    } finally {
      await client.unbind()
    }
  }
  const modify: SambaDc['modify'] = (dn, changes) =>
    withAdmin((c) =>
      c.modify(
        dn,
        Array.isArray(changes)
          ? changes
          : Object.entries(changes).map(
              ([type, value]) => new Change({ operation: 'replace', modification: toAttribute(type, value) }),
            ),
      ),
    )
  const setUac = (dn: string, update: (uac: number) => number) =>
    withAdmin(async (c) => {
      const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['userAccountControl'] })
      const uac = Number(searchEntries[0]?.userAccountControl ?? 512)
      await c.modify(
        dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'userAccountControl', values: [String(update(uac))] }),
        }),
      )
    })
  const createOu: SambaDc['createOu'] = async (parentDn, name) => {
    const dn = `OU=${escapeDnValue(name)},${parentDn}`
    await withAdmin((c) => c.add(dn, { objectClass: 'organizationalUnit' }))
    return dn
  }
  const memberChange = (groupDn: string, memberDn: string, operation: 'add' | 'delete') =>
    withAdmin((c) =>
      c.modify(
        groupDn,
        new Change({ operation, modification: new Attribute({ type: 'member', values: [memberDn] }) }),
      ),
    )

  return {
    ...info,
    connect,
    withAdmin,
    createOu,
    createTestOu: (label) =>
      createOu(info.peopleDn, `t-${label ? `${label}-` : ''}${randomBytes(4).toString('hex')}`),
    async createUser(ouDn, u) {
      const cn = u.cn ?? u.displayName ?? u.sAMAccountName
      const dn = `CN=${escapeDnValue(cn)},${ouDn}`
      const attrs: Record<string, string | string[]> = {
        objectClass: 'user',
        sAMAccountName: u.sAMAccountName,
        userPrincipalName: u.userPrincipalName ?? `${u.sAMAccountName}@test.local`,
        userAccountControl: String(u.userAccountControl ?? 512),
      }
      for (const key of [
        'givenName',
        'sn',
        'displayName',
        'mail',
        'title',
        'department',
        'employeeID',
        'manager',
      ] as const) {
        const v = u[key]
        if (v !== undefined) attrs[key] = v
      }
      if (u.accountExpires !== undefined) attrs.accountExpires = accountExpiresValue(u.accountExpires)
      Object.assign(attrs, u.extra)
      const list = Object.entries(attrs).map(([type, v]) => new Attribute({ type, values: [v].flat() }))
      if (u.password !== undefined)
        list.push(new Attribute({ type: 'unicodePwd', values: [unicodePwd(u.password)] }))
      await withAdmin((c) => c.add(dn, list))
      return dn
    },
    async createGroup(ouDn, name, members = []) {
      const dn = `CN=${escapeDnValue(name)},${ouDn}`
      const sam = `g-${randomBytes(6).toString('hex')}`
      await withAdmin(async (c) => {
        await c.add(dn, { objectClass: 'group', sAMAccountName: sam })
        if (members.length > 0) {
          await c.modify(
            dn,
            new Change({
              operation: 'add',
              modification: new Attribute({ type: 'member', values: members }),
            }),
          )
        }
      })
      return dn
    },
    modify,
    async moveEntry(dn, newParentDn) {
      const newDn = `${splitDn(dn)[0]},${newParentDn}`
      await withAdmin((c) => c.modifyDN(dn, newDn))
      return newDn
    },
    async renameOu(dn, newName) {
      const newDn = `OU=${escapeDnValue(newName)},${splitDn(dn)[1]}`
      await withAdmin((c) => c.modifyDN(dn, newDn))
      return newDn
    },
    disableUser: (dn) => setUac(dn, (uac) => uac | UF_ACCOUNTDISABLE),
    enableUser: (dn) => setUac(dn, (uac) => uac & ~UF_ACCOUNTDISABLE),
    setAccountExpires: (dn, when) => modify(dn, { accountExpires: accountExpiresValue(when) }),
    setPassword: (dn, password) => modify(dn, { unicodePwd: unicodePwd(password) }),
    deleteEntry: (dn) => withAdmin((c) => c.del(dn)),
    async deleteTree(dn) {
      // One operation for the whole subtree: ~20,000 users take minutes on a busy machine.
      const c = await connect({ as: 'admin', timeoutMs: SAMBA_START_TIMEOUT_MS })
      try {
        await c.del(dn, new Control(TREE_DELETE, { critical: true }))
      } catch (err) {
        if ((err as { code?: number }).code !== 32) throw err // noSuchObject: already gone
      } finally {
        await c.unbind()
      }
    },
    addGroupMember: (groupDn, memberDn) => memberChange(groupDn, memberDn, 'add'),
    removeGroupMember: (groupDn, memberDn) => memberChange(groupDn, memberDn, 'delete'),
    getEntry: (dn, attributes = ['*']) =>
      withAdmin(async (c) => {
        try {
          const { searchEntries } = await c.search(dn, { scope: 'base', attributes })
          return searchEntries[0]
        } catch (err) {
          if ((err as { code?: number }).code === 32) return undefined
          throw err
        }
      }),
    highestCommittedUsn: () =>
      withAdmin(async (c) => {
        const { searchEntries } = await c.search('', { scope: 'base', attributes: ['highestCommittedUSN'] })
        return BigInt(String(searchEntries[0]?.highestCommittedUSN))
      }),
  }
}

/**
 * Starts (or reuses) the shared DC and its seeded org; once per test process. Call it in a beforeAll with
 * SAMBA_START_TIMEOUT_MS (describeWithSamba does).
 */
export const startSamba = once(async (): Promise<SambaDc> => {
  await runSambaScript(['start', SAMBA_STATE_DIR], SAMBA_START_TIMEOUT_MS)
  await runSambaScript(['seed', SAMBA_STATE_DIR, String(SAMBA_SEED_USERS)], SAMBA_START_TIMEOUT_MS)
  return sambaDc(readInfo(SAMBA_STATE_DIR))
})

/**
 * describe() that starts the DC in a beforeAll and hands fn a getter for it. Without Samba it registers
 * one skipped test whose name says what to install, and warns once per process.
 */
export function describeWithSamba(name: string, fn: (dc: () => SambaDc) => void): void {
  describeWithServer(
    {
      available: sambaAvailable,
      unavailable: SAMBA_UNAVAILABLE,
      start: startSamba,
      startTimeoutMs: SAMBA_START_TIMEOUT_MS,
      label: 'the Samba DC',
    },
    name,
    fn,
  )
}
