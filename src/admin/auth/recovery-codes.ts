import { randomBytes, randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { hashToken } from '../../crypto/api-token'
import type { DB } from '../../db/schema'

export const RECOVERY_CODE_COUNT = 10

/** Letters and digits without look-alikes (no 0/o, 1/l/i): codes are read off paper and typed. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'
const CODE_CHARS = 16

/** Four dash-separated groups of four: 16 characters of a 31-letter alphabet, ~79 random bits. */
export function newRecoveryCode(): string {
  const chars: string[] = []
  while (chars.length < CODE_CHARS) {
    for (const byte of randomBytes(32)) {
      // Rejection sampling keeps every letter equally likely (248 = 8 · 31).
      if (byte < 248 && chars.length < CODE_CHARS) chars.push(ALPHABET[byte % ALPHABET.length]!)
    }
  }
  return chars.join('').replace(/(.{4})(?!$)/g, '$1-')
}

/** Case, spaces and dashes do not matter when a code is typed back. */
function digest(code: string): Buffer {
  return hashToken(code.toLowerCase().replace(/[\s-]/g, ''))
}

/**
 * Replaces an admin's recovery codes with fresh ones, in the caller's transaction. Only digests
 * are stored: the codes are returned to be shown once.
 */
export async function replaceRecoveryCodes(trx: Kysely<DB>, adminId: string): Promise<string[]> {
  await trx.deleteFrom('admin_recovery_codes').where('admin_id', '=', adminId).execute()
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode)
  await trx
    .insertInto('admin_recovery_codes')
    .values(codes.map((code) => ({ id: randomUUID(), admin_id: adminId, code_hash: digest(code) })))
    .execute()
  return codes
}

/**
 * Uses up one recovery code: true when it was the admin's and unused. Marked used by a
 * conditional UPDATE, so a code shared by two racing requests lets only one of them in.
 */
export async function useRecoveryCode(db: Kysely<DB>, adminId: string, code: string): Promise<boolean> {
  if (code.length > 64) return false
  const used = await db
    .updateTable('admin_recovery_codes')
    .set({ used_at: sql`now()` })
    .where('admin_id', '=', adminId)
    .where('code_hash', '=', digest(code))
    .where('used_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return used !== undefined
}

export async function recoveryCodesLeft(db: Kysely<DB>, adminId: string): Promise<number> {
  const row = await db
    .selectFrom('admin_recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('admin_id', '=', adminId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}
