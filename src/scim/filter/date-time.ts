/**
 * SCIM dateTime values (RFC 7643 §2.3.5: xsd:dateTime, e.g. 2008-01-23T04:56:22Z) as filter
 * operands. We accept what PostgreSQL's timestamptz and an RFC 3339 reader agree on, so a filter
 * value can never make the query itself fail.
 */

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/

export interface ParsedDateTime {
  /** `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`: PostgreSQL reads it as the same instant. */
  readonly normalised: string
  /** Microseconds since 1970-01-01T00:00:00Z, as PostgreSQL's timestamptz resolves it. */
  readonly micros: bigint
}

/**
 * Parses a dateTime, or returns undefined. A missing time is midnight; a missing offset is UTC
 * (xsd:dateTime allows neither to be written, and a server-local reading would depend on the
 * database session's time zone).
 */
export function parseDateTime(text: string): ParsedDateTime | undefined {
  const m = DATE_TIME.exec(text)
  if (!m) return undefined
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zulu, sign, oh = '00', om = '00'] = m
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(s)
  const offsetHours = Number(oh)
  const offsetMinutes = Number(om)
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 15 || offsetMinutes > 59) return undefined
  const offset =
    sign === undefined || zulu !== undefined
      ? 0
      : (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes)
  // Round to microseconds, as timestamptz does (ties may differ: it rounds a binary double).
  const micro = fraction === '' ? 0 : Math.round(Number(`0.${fraction}`) * 1_000_000)
  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset * 60
  const zone = offset === 0 ? 'Z' : `${sign}${oh}:${om}`
  return {
    normalised: `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction ? `.${fraction}` : ''}${zone}`,
    micros: BigInt(seconds) * 1_000_000n + BigInt(micro),
  }
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28
  return [4, 6, 9, 11].includes(month) ? 30 : 31
}

/** Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}
