/**
 * LDAP's GeneralizedTime (RFC 4517 §3.3.13), the syntax of modifyTimestamp: `20260512093015Z`,
 * optionally with a fraction (`20260512093015.123Z`, 389-DS and AD write `.0Z`) or an offset
 * (`20260512113015+0200`); minutes and seconds may be left out.
 */

const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)$/

/** Milliseconds since the epoch, or undefined for a value that is not GeneralizedTime. */
export function parseGeneralizedTime(value: string | undefined): number | undefined {
  const m = value === undefined ? null : GENERALIZED_TIME.exec(value.trim())
  if (!m) return undefined
  const [, y, mo, d, h, mi, s, fraction, zone] = m
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi ?? 0), Number(s ?? 0))
  if (fraction) {
    // The fraction is of the last unit given (hours, minutes or seconds).
    const unit = s !== undefined ? 1000 : mi !== undefined ? 60_000 : 3_600_000
    ms += Math.floor(Number(`0.${fraction}`) * unit)
  }
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const offset = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5) || 0)
    ms -= sign * offset * 60_000
  }
  return Number.isFinite(ms) ? ms : undefined
}

/** `YYYYMMDDHHMMSSZ` (UTC, whole seconds rounded down), as a filter value. */
export function formatGeneralizedTime(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`
}
