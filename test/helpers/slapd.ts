/**
 * The real OpenLDAP server (Debian's slapd) the `generic` LDAP flavour is tested against;
 * test/ldap/slapd.sh installs, creates and starts it (127.0.0.1:3389 StartTLS, :3636 LDAPS).
 *
 * One server serves every test process: startSlapd() runs `slapd.sh start` (a no-op when it is up) on
 * a fixed state directory (ORGSYNC_SLAPD_DIR, default /tmp/orgsync-slapd) and reads DIR/slapd.json. It
 * stays up after the tests (`test/ldap/slapd.sh stop` stops it).
 *
 * The seeded org under `orgDn` (ou=Acme,dc=example,dc=org) is read-only for tests. A test that changes
 * the directory works on its own copy: `cloneOrg()` copies the seeded org to ou=t-<random>,dc=example,dc=org
 * (manager and member values pointing into the copy), and `deleteTree` removes it in afterAll.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Attribute, Change, Client, type Entry } from 'ldapts'
import { parseDn } from '../../connectors/ldap/distinguished-name'
import { describeWithServer, once, onPath, runScript } from './script-server'

export const SLAPD_STATE_DIR = process.env.ORGSYNC_SLAPD_DIR ?? '/tmp/orgsync-slapd'
export const SLAPD_SCRIPT = path.resolve(__dirname, '../ldap/slapd.sh')
export const SLAPD_UNAVAILABLE =
  'OpenLDAP slapd not available: apt-get install slapd ldap-utils (or run test/ldap/slapd.sh, which ' +
  'installs and starts it), or run .ci/run'

/** What slapd.sh writes to DIR/slapd.json, plus the CA certificate's PEM. */
export interface SlapdInfo {
  /** ldaps://127.0.0.1:3636 (certificate from our own CA: IP SAN 127.0.0.1, DNS localhost). */
  url: string
  /** ldap://127.0.0.1:3389 (StartTLS). */
  startTlsUrl: string
  ca: string
  caFile: string
  /** dc=example,dc=org */
  suffix: string
  /** ou=Acme,dc=example,dc=org: the seeded org (read-only for tests). */
  orgDn: string
  /** ou=Groups,ou=Acme,dc=example,dc=org */
  groupsDn: string
  /** The rootdn (cn=admin,dc=example,dc=org): not subject to access rules or limits. */
  adminDn: string
  adminPassword: string
  /** cn=orgsync,ou=Services,dc=example,dc=org: may read everything but passwords, without a size limit. */
  bindDn: string
  bindPassword: string
  /** Like bindDn (same password), but the server stops its searches after `limitedSizeLimit` entries. */
  limitedBindDn: string
  limitedSizeLimit: number
}

export type ModifyValue = string | string[] | null

export interface NewPerson {
  uid: string
  givenName: string
  sn: string
  title?: string
  employeeNumber?: string
  departmentNumber?: string
  /** DN of the manager. */
  manager?: string
  /** Default `${uid}@example.org`. */
  mail?: string
}

export interface Slapd extends SlapdInfo {
  /** A client bound as the service account (default), the rootdn or any DN; the caller unbinds. */
  connect(as?: 'service' | 'admin' | { dn: string; password: string }): Promise<Client>
  /** Runs fn with a rootdn connection that is closed afterwards. */
  withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T>
  add(dn: string, attributes: Record<string, string | string[]>): Promise<void>
  /** Adds an inetOrgPerson uid=<uid> below parentDn; returns its DN. */
  addPerson(parentDn: string, person: NewPerson): Promise<string>
  /** Replaces each attribute's values (null or [] deletes the attribute), or applies ldapts Changes. */
  modify(dn: string, changes: Record<string, ModifyValue> | Change[]): Promise<void>
  /** modrdn with newSuperior: moves dn (keeping its RDN) below newParentDn; returns the new DN. */
  move(dn: string, newParentDn: string): Promise<string>
  /** modrdn in place: gives dn the RDN `newRdn` (e.g. `ou=Finance & Tax`); returns the new DN. */
  rename(dn: string, newRdn: string): Promise<string>
  delete(dn: string): Promise<void>
  /** Deletes dn and everything below it, leaves first; no error if it is already gone. */
  deleteTree(dn: string): Promise<void>
  /** Entries under base (subtree) as the rootdn. */
  search(base: string, filter?: string, attributes?: string[]): Promise<Entry[]>
  /** One entry as the rootdn; undefined if it does not exist. */
  getEntry(dn: string, attributes?: string[]): Promise<Entry | undefined>
  /** Copies the seeded org to ou=t-[label-]<random>,<suffix>, links rewritten; returns the copy's DN. */
  cloneOrg(label?: string): Promise<string>
}

/**
 * An orgsync `ldap` source config (flavour generic) reading this server as the service account over
 * LDAPS: the seeded org (or `baseDn`), its Groups OU ignored as a department; `extra` overrides.
 */
export function genericSourceConfig(
  ld: SlapdInfo,
  extra: Record<string, unknown> = {},
  tree: { baseDn: string; groupsDn: string } = { baseDn: ld.orgDn, groupsDn: ld.groupsDn },
): Record<string, unknown> {
  return {
    url: ld.url,
    flavour: 'generic',
    bindDn: ld.bindDn,
    bindPassword: ld.bindPassword,
    baseDn: tree.baseDn,
    tlsCa: ld.ca,
    ignoredOus: [tree.groupsDn],
    ...extra,
  }
}

/** Synchronous (describe blocks are): slapd and the OpenLDAP tools are installed. */
export function slapdAvailable(): boolean {
  if (process.env.ORGSYNC_SKIP_SLAPD === '1') return false
  return onPath('slapd') && onPath('slapadd') && onPath('ldapsearch')
}

function readInfo(dir: string): SlapdInfo {
  const raw = JSON.parse(fs.readFileSync(path.join(dir, 'slapd.json'), 'utf8')) as Omit<SlapdInfo, 'ca'>
  return { ...raw, ca: fs.readFileSync(raw.caFile, 'utf8') }
}

const values = (v: Entry[string]): string[] =>
  (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)))

/** A Slapd for a running server described by `info`. */
export function slapd(info: SlapdInfo): Slapd {
  const connect: Slapd['connect'] = async (as = 'service') => {
    const [dn, password] =
      as === 'service'
        ? [info.bindDn, info.bindPassword]
        : as === 'admin'
          ? [info.adminDn, info.adminPassword]
          : [as.dn, as.password]
    const client = new Client({
      url: info.url,
      tlsOptions: { ca: [info.ca] },
      connectTimeout: 5000,
      timeout: 30_000,
    })
    try {
      await client.bind(dn, password)
    } catch (err) {
      await client.unbind().catch(() => undefined)
      throw err
    }
    return client
  }
  const withAdmin = async <T>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const client = await connect('admin')
    try {
      return await fn(client)
    } finally {
      await client.unbind()
    }
  }
  const search: Slapd['search'] = (base, filter = '(objectClass=*)', attributes = ['*']) =>
    withAdmin(async (c) => (await c.search(base, { scope: 'sub', filter, attributes })).searchEntries)
  const add: Slapd['add'] = (dn, attributes) => withAdmin((c) => c.add(dn, attributes))
  const modrdn = (dn: string, newDn: string) => withAdmin((c) => c.modifyDN(dn, newDn))
  /** [RDN, parent DN] of a DN (split at the first unescaped comma). */
  const splitDn = (dn: string): [string, string] => {
    for (let i = 0; i < dn.length; i++) {
      if (dn[i] === '\\') i++
      else if (dn[i] === ',') return [dn.slice(0, i), dn.slice(i + 1)]
    }
    return [dn, '']
  }

  return {
    ...info,
    connect,
    withAdmin,
    add,
    async addPerson(parentDn, p) {
      const dn = `uid=${p.uid},${parentDn}`
      const attrs: Record<string, string | string[]> = {
        objectClass: 'inetOrgPerson',
        uid: p.uid,
        cn: `${p.givenName} ${p.sn}`,
        displayName: `${p.givenName} ${p.sn}`,
        givenName: p.givenName,
        sn: p.sn,
        mail: p.mail ?? `${p.uid}@example.org`,
      }
      for (const key of ['title', 'employeeNumber', 'departmentNumber', 'manager'] as const)
        if (p[key] !== undefined) attrs[key] = p[key]
      await add(dn, attrs)
      return dn
    },
    modify: (dn, changes) =>
      withAdmin((c) =>
        c.modify(
          dn,
          Array.isArray(changes)
            ? changes
            : Object.entries(changes).map(
                ([type, value]) =>
                  new Change({
                    operation: 'replace',
                    modification: new Attribute({ type, values: value === null ? [] : [value].flat() }),
                  }),
              ),
        ),
      ),
    async move(dn, newParentDn) {
      const newDn = `${splitDn(dn)[0]},${newParentDn}`
      await modrdn(dn, newDn)
      return newDn
    },
    async rename(dn, newRdn) {
      const newDn = `${newRdn},${splitDn(dn)[1]}`
      await modrdn(dn, newDn)
      return newDn
    },
    delete: (dn) => withAdmin((c) => c.del(dn)),
    async deleteTree(dn) {
      await withAdmin(async (c) => {
        let entries: Entry[]
        try {
          entries = (await c.search(dn, { scope: 'sub', attributes: ['1.1'] })).searchEntries
        } catch (err) {
          if ((err as { code?: number }).code === 32) return // already gone
          throw err
        }
        // Leaves first: OpenLDAP has no subtree delete.
        entries.sort((a, b) => parseDn(b.dn).length - parseDn(a.dn).length)
        for (const e of entries) await c.del(e.dn)
      })
    },
    search,
    getEntry: (dn, attributes = ['*']) =>
      withAdmin(async (c) => {
        try {
          return (await c.search(dn, { scope: 'base', attributes })).searchEntries[0]
        } catch (err) {
          if ((err as { code?: number }).code === 32) return undefined
          throw err
        }
      }),
    async cloneOrg(label) {
      const target = `ou=t-${label ? `${label}-` : ''}${randomBytes(4).toString('hex')},${info.suffix}`
      const from = info.orgDn.toLowerCase()
      const rewrite = (dn: string) => {
        const lower = dn.toLowerCase()
        if (lower === from) return target
        return lower.endsWith(`,${from}`) ? `${dn.slice(0, dn.length - from.length)}${target}` : dn
      }
      const entries = (await search(info.orgDn)).sort((a, b) => parseDn(a.dn).length - parseDn(b.dn).length)
      await withAdmin(async (c) => {
        for (const e of entries) {
          const attrs: Record<string, string[]> = {}
          for (const [type, v] of Object.entries(e)) {
            if (type === 'dn') continue
            const list = values(v)
            if (list.length === 0) continue // requested but absent ('*' itself)
            attrs[type] = /^(manager|member|uniqueMember)$/i.test(type) ? list.map(rewrite) : list
          }
          // The copy's own top OU is named after it.
          if (e.dn.toLowerCase() === from) attrs.ou = [parseDn(target)[0]!.value]
          await c.add(rewrite(e.dn), attrs)
        }
      })
      return target
    },
  }
}

/** Starts (or reuses) the shared server; once per test process (describeWithSlapd does it). */
export const startSlapd = once(async (): Promise<Slapd> => {
  await runScript(SLAPD_SCRIPT, ['start', SLAPD_STATE_DIR], 120_000)
  return slapd(readInfo(SLAPD_STATE_DIR))
})

/**
 * describe() that starts slapd in a beforeAll and hands fn a getter for it. Without slapd it registers
 * one skipped test whose name says what to install, and warns once per process.
 */
export function describeWithSlapd(name: string, fn: (server: () => Slapd) => void): void {
  describeWithServer(
    {
      available: slapdAvailable,
      unavailable: SLAPD_UNAVAILABLE,
      start: startSlapd,
      startTimeoutMs: 120_000,
      label: 'slapd',
    },
    name,
    fn,
  )
}
