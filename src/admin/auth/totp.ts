import { timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import { HOTP, Secret, TOTP } from 'otpauth'
import type { SecretBox } from '../../crypto/secret-box'
import type { DB } from '../../db/schema'

/**
 * TOTP as every authenticator app does it by default (RFC 6238): SHA-1, 6 digits, 30-second steps.
 * A code is accepted for the current step and one step either side (clock drift), and each step
 * once only (`admins.totp_last_step`).
 */
export const TOTP_PERIOD_SECONDS = 30
export const TOTP_DIGITS = 6
const ALGORITHM = 'SHA1'
const WINDOW = 1
const ISSUER = 'orgsync'

/** A new secret: 160 random bits (RFC 4226's recommendation for SHA-1), base32 as apps expect. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32
}

/** The enrolment URI (QR code content): `otpauth://totp/orgsync:<name>?secret=…&issuer=orgsync…`. */
export function otpauthUri(secretBase32: string, adminName: string): string {
  return new TOTP({
    issuer: ISSUER,
    label: adminName,
    secret: Secret.fromBase32(secretBase32),
    algorithm: ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString()
}

/** The time step of an instant. */
export function totpStep(atMs: number): number {
  return Math.floor(atMs / 1000 / TOTP_PERIOD_SECONDS)
}

/** The code of one time step (tests compute codes with it, as an authenticator app would). */
export function totpCode(secretBase32: string, step: number): string {
  return HOTP.generate({
    secret: Secret.fromBase32(secretBase32),
    algorithm: ALGORITHM,
    digits: TOTP_DIGITS,
    counter: step,
  })
}

/** Spaces and dashes some apps show inside a code are ignored. */
export function normaliseCode(code: string): string {
  return code.replace(/[\s-]/g, '')
}

/**
 * The time step a code belongs to (now ±1 step), later than `lastStep`; undefined when it matches
 * none. Every candidate is computed and compared in constant time, whichever matches.
 */
export function matchTotpStep(
  secretBase32: string,
  code: string,
  atMs: number,
  lastStep: number | null,
): number | undefined {
  const given = Buffer.from(normaliseCode(code).padEnd(TOTP_DIGITS, ' ').slice(0, 16), 'utf8')
  const now = totpStep(atMs)
  let found: number | undefined
  for (let step = now - WINDOW; step <= now + WINDOW; step++) {
    const expected = Buffer.from(totpCode(secretBase32, step), 'utf8')
    const same = expected.length === given.length && timingSafeEqual(expected, given)
    if (same && found === undefined && (lastStep === null || step > lastStep)) found = step
  }
  return found
}

/** The sealed-secret context: a secret copied into another admin's row does not open there. */
export const totpContext = (adminId: string) => `admin-totp:${adminId}`

export function sealTotpSecret(box: SecretBox, adminId: string, secretBase32: string): string {
  return box.seal(secretBase32, totpContext(adminId))
}

export function openTotpSecret(box: SecretBox, adminId: string, sealed: string): string {
  return box.open(sealed, totpContext(adminId))
}

/**
 * Checks a code against an admin's secret and records its step, so that the same code (or an
 * earlier one) is never accepted again. The step is claimed with a conditional UPDATE: of two
 * requests racing with one code, exactly one succeeds.
 */
export async function acceptTotpCode(
  db: Kysely<DB>,
  box: SecretBox,
  admin: { id: string; totp_secret: string | null; totp_last_step: number | null },
  code: string,
  atMs: number = Date.now(),
): Promise<boolean> {
  if (!admin.totp_secret || !/^\d{6}$/.test(normaliseCode(code))) return false
  const secret = openTotpSecret(box, admin.id, admin.totp_secret)
  const step = matchTotpStep(
    secret,
    code,
    atMs,
    admin.totp_last_step === null ? null : Number(admin.totp_last_step),
  )
  if (step === undefined) return false
  const claimed = await db
    .updateTable('admins')
    .set({ totp_last_step: step })
    .where('id', '=', admin.id)
    .where('totp_secret', '=', admin.totp_secret)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .returning('id')
    .executeTakeFirst()
  return claimed !== undefined
}
