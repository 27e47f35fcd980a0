/**
 * Active Directory's binary and numeric attribute formats.
 */

/**
 * objectGUID (16 bytes, the first three fields little-endian) as the canonical GUID string, the
 * form AD tools show and the extended-DN control returns.
 */
export function guidFromBuffer(b: Buffer): string {
  if (b.length !== 16) throw new Error(`objectGUID must be 16 bytes, got ${b.length}`)
  const hex = (bytes: number[]) => bytes.map((x) => x.toString(16).padStart(2, '0')).join('')
  return [
    hex([b[3]!, b[2]!, b[1]!, b[0]!]),
    hex([b[5]!, b[4]!]),
    hex([b[7]!, b[6]!]),
    hex([b[8]!, b[9]!]),
    hex([...b.subarray(10, 16)]),
  ].join('-')
}

/** userAccountControl's ACCOUNTDISABLE bit. */
export const UAC_DISABLED = 0x2

/** 100-nanosecond intervals between 1601-01-01 and 1970-01-01. */
const EPOCH_OFFSET = 116444736000000000n
const NEVER = 9223372036854775807n

/**
 * accountExpires as a date: null for "never" (0 or the largest 64-bit value, both used by AD), and
 * for values that are not numbers.
 */
export function accountExpiry(value: string | undefined): Date | null {
  if (value === undefined || !/^\d+$/.test(value.trim())) return null
  const n = BigInt(value.trim())
  if (n === 0n || n === NEVER) return null
  return new Date(Number((n - EPOCH_OFFSET) / 10000n))
}

/** A Date as AD's 100-ns intervals since 1601 (for tests and filters). */
export function toFileTime(date: Date): string {
  return (BigInt(date.getTime()) * 10000n + EPOCH_OFFSET).toString()
}
