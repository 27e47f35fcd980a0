import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Kysely } from 'kysely'
import { ConfigError, parseSecretKey, type Config } from '../config'
import { type SecretBox } from '../crypto/secret-box'
import type { DB } from '../db/schema'

const KEY_FILE = 'secret.key'
const FINGERPRINT = 'secret_key_fingerprint'

/**
 * ORGSYNC_SECRET_KEY when set. On the embedded store without it, a key generated once into
 * DATA_DIR/secret.key (owner-only), so a newcomer needs no setup and restarts keep their secrets.
 */
export async function resolveSecretKey(config: Config): Promise<Buffer> {
  if (config.secretKey) return config.secretKey
  const file = path.join(config.dataDir, KEY_FILE)
  try {
    const key = parseSecretKey((await readFile(file, 'utf8')).trim())
    if (!key)
      throw new ConfigError(`${file} does not hold a 32-byte key: restore it or set ORGSYNC_SECRET_KEY`)
    return key
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
  return key
}

/**
 * Records the key's fingerprint on first use and refuses to start with another key later: a wrong
 * key would otherwise surface only when a sync tries to decrypt its credentials.
 */
export async function verifySecretKey(db: Kysely<DB>, box: SecretBox): Promise<void> {
  const fingerprint = box.fingerprint()
  await db
    .insertInto('settings')
    .values({ key: FINGERPRINT, value: JSON.stringify(fingerprint) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute()
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('key', '=', FINGERPRINT)
    .executeTakeFirstOrThrow()
  if (row.value !== fingerprint) {
    throw new ConfigError(
      'ORGSYNC_SECRET_KEY is not the key this database was set up with: stored connector credentials could not be decrypted (use the original key)',
    )
  }
}
