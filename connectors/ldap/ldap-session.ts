import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Client, Control, type Entry, type SearchOptions } from 'ldapts'
import type { LdapConfig } from './ldap-config'
import { bindError, searchError } from './ldap-errors'

/** AD's extended-DN control with flag 1: DN values come as `<GUID=a1b2c3d4-…>;<SID=S-1-5-…>;CN=…`. */
class ExtendedDnControl extends Control {
  constructor() {
    super('1.2.840.113556.1.4.529', { critical: false })
  }
  protected override writeControl(writer: Parameters<Control['write']>[0]): void {
    // The value is the BER of SEQUENCE { INTEGER 1 }, as an OCTET STRING.
    writer.writeBuffer(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), 0x04)
  }
}

/** Show Deleted: tombstones are returned too (for accounts allowed to read CN=Deleted Objects). */
export const showDeleted = () => new Control('1.2.840.113556.1.4.417', { critical: true })
export const extendedDn = () => new ExtendedDnControl()

export type LdapEntry = Entry

/** The first value of an attribute, as text; undefined when absent or empty. */
export function one(entry: Entry, attribute: string): string | undefined {
  const v = valueOf(entry, attribute)
  const first = Array.isArray(v) ? v[0] : v
  if (first === undefined) return undefined
  const s = Buffer.isBuffer(first) ? first.toString('utf8') : String(first)
  return s === '' ? undefined : s
}

/** Every value of an attribute, as text. */
export function many(entry: Entry, attribute: string): string[] {
  const v = valueOf(entry, attribute)
  const all = v === undefined ? [] : Array.isArray(v) ? v : [v]
  return all.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)))
}

export function buffer(entry: Entry, attribute: string): Buffer | undefined {
  const v = valueOf(entry, attribute)
  const first = Array.isArray(v) ? v[0] : v
  return Buffer.isBuffer(first) ? first : undefined
}

/** Attribute names are case-insensitive; servers answer in their own case. */
function valueOf(entry: Entry, attribute: string): Entry[string] | undefined {
  if (attribute in entry) return entry[attribute]
  const lower = attribute.toLowerCase()
  const key = Object.keys(entry).find((k) => k.toLowerCase() === lower)
  return key === undefined ? undefined : entry[key]
}

/** A bound connection to the directory, with TLS as configured. */
export class LdapSession {
  private constructor(
    readonly client: Client,
    readonly config: LdapConfig,
  ) {}

  static async open(config: LdapConfig): Promise<LdapSession> {
    const ca = config.tlsCa ?? (config.tlsCaFile ? readFileSync(config.tlsCaFile, 'utf8') : undefined)
    const url = new URL(config.url)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const tlsOptions = {
      ...(ca ? { ca } : {}),
      ...(isIP(host) ? {} : { servername: host }),
      minVersion: 'TLSv1.2' as const,
    }
    const secure = url.protocol === 'ldaps:'
    const client = new Client({
      url: config.url,
      timeout: config.timeoutMs,
      connectTimeout: Math.min(config.timeoutMs, 15_000),
      ...(secure ? { tlsOptions } : {}),
    })
    try {
      if (!secure && !config.allowInsecure) await client.startTLS({ ...tlsOptions, host })
      await client.bind(config.bindDn, config.bindPassword)
    } catch (err) {
      await client.unbind().catch(() => undefined)
      throw bindError(err, config.url, config.bindDn)
    }
    return new LdapSession(client, config)
  }

  async close(): Promise<void> {
    await this.client.unbind().catch(() => undefined)
  }

  /** Pages of a search, each an array of entries; the server keeps the paging state on this connection. */
  async *pages(
    what: string,
    base: string,
    options: SearchOptions,
    controls: Control[] = [],
  ): AsyncGenerator<Entry[]> {
    try {
      for await (const page of this.client.searchPaginated(
        base,
        { scope: 'sub', paged: { pageSize: this.config.pageSize }, ...options },
        controls,
      ))
        yield page.searchEntries
    } catch (err) {
      throw searchError(err, what, base)
    }
  }

  async search(
    what: string,
    base: string,
    options: SearchOptions,
    controls: Control[] = [],
  ): Promise<Entry[]> {
    try {
      return (await this.client.search(base, options, controls)).searchEntries
    } catch (err) {
      throw searchError(err, what, base)
    }
  }

  /** The entry at `dn` (base scope), or undefined when there is none. */
  async read(
    what: string,
    dn: string,
    attributes: string[],
    controls: Control[] = [],
  ): Promise<Entry | undefined> {
    try {
      const r = await this.client.search(
        dn,
        {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes,
          explicitBufferAttributes: ['objectGUID', 'invocationId'],
        },
        controls,
      )
      return r.searchEntries[0]
    } catch (err) {
      if ((err as { code?: number }).code === 32) return undefined
      throw searchError(err, what, dn)
    }
  }

  /** The rootDSE: the DC's highest USN and its NTDS settings object (AD). */
  async rootDse(): Promise<{
    highestCommittedUSN?: string
    dsServiceName?: string
    defaultNamingContext?: string
  }> {
    const e = await this.read('read rootDSE', '', [
      'highestCommittedUSN',
      'dsServiceName',
      'defaultNamingContext',
    ])
    if (!e) return {}
    return {
      highestCommittedUSN: one(e, 'highestCommittedUSN'),
      dsServiceName: one(e, 'dsServiceName'),
      defaultNamingContext: one(e, 'defaultNamingContext'),
    }
  }
}
