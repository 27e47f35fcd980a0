/**
 * Distinguished names as AD and other servers return them (RFC 4514): commas inside values are
 * escaped (`OU=Retail\, Wholesale`), sometimes as hex (`\2C`), and AD's extended-DN control prefixes
 * `<GUID=…>;<SID=…>;`. Names are compared by their canonical form, never as raw strings.
 */

export interface Rdn {
  type: string
  value: string
}

/** Splits off AD's extended-DN prefix: `<GUID=…>;<SID=…>;CN=x,…` → the GUID and the plain DN. */
export function parseExtendedDn(text: string): { guid: string | null; dn: string } {
  let rest = text
  let guid: string | null = null
  while (rest.startsWith('<')) {
    const end = rest.indexOf('>')
    if (end < 0) break
    const part = rest.slice(1, end)
    if (part.toUpperCase().startsWith('GUID=')) guid = part.slice(5).toLowerCase()
    rest = rest.slice(end + 1)
    if (rest.startsWith(';')) rest = rest.slice(1)
  }
  return { guid, dn: rest }
}

function unescapeValue(raw: string): string {
  let out = ''
  const bytes: number[] = []
  const flush = () => {
    if (bytes.length) out += Buffer.from(bytes).toString('utf8')
    bytes.length = 0
  }
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!
    if (c === '\\' && i + 1 < raw.length) {
      const hex = raw.slice(i + 1, i + 3)
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16))
        i += 2
        continue
      }
      flush()
      out += raw[++i]
      continue
    }
    flush()
    out += c
  }
  flush()
  return out
}

/** The RDNs of a DN, leaf first, values unescaped. Multi-valued RDNs (`a=1+b=2`) stay one value. */
export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = []
  let current = ''
  const push = () => {
    const eq = current.indexOf('=')
    if (current.trim() !== '') {
      rdns.push({
        type: current.slice(0, eq).trim(),
        value: unescapeValue(current.slice(eq + 1).trim()),
      })
    }
    current = ''
  }
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!
    if (c === '\\' && i + 1 < dn.length) {
      current += c + dn[++i]
      continue
    }
    if (c === ',' || c === ';') push()
    else current += c
  }
  push()
  return rdns
}

function escapeValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
}

export function formatDn(rdns: Rdn[]): string {
  return rdns.map((r) => `${r.type}=${escapeValue(r.value)}`).join(',')
}

/** A form two spellings of one DN share: types and values lower-cased, escapes normalised. */
export function canonicalDn(dn: string): string {
  return parseDn(parseExtendedDn(dn).dn)
    .map((r) => `${r.type.toLowerCase()}=${escapeValue(r.value.toLowerCase())}`)
    .join(',')
}

/** The parent's DN (canonical), or null at the top. */
export function parentDn(dn: string): string | null {
  const rdns = parseDn(parseExtendedDn(dn).dn)
  return rdns.length > 1 ? canonicalDn(formatDn(rdns.slice(1))) : null
}

/** Whether `dn` is `base` or below it. */
export function isUnder(dn: string, base: string): boolean {
  const d = canonicalDn(dn)
  const b = canonicalDn(base)
  return d === b || d.endsWith(`,${b}`)
}
