import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/** scrypt's cost parameters; stored in every hash, so they can be raised without breaking old ones. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number
  r: number
  p: number
}

/**
 * OWASP's scrypt setting for 32 MiB of memory per hash (N=2^15, r=8, p=3): ~180 ms on our 2-core
 * machine, and at most four at a time (node's thread pool), so sign-ins cannot exhaust memory.
 */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 3 })

const SALT_BYTES = 16
const KEY_BYTES = 32
export const PASSWORD_MIN = 12
export const PASSWORD_MAX = 1024

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    // scrypt needs 128·N·r bytes; node's default cap (32 MiB) is exactly that at our N, so leave room.
    maxmem: 256 * params.N * params.r,
  }
  return new Promise((resolve, reject) =>
    scrypt(normalise(password), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
  )
}

/** One spelling per password: a composed "é" and "e + ◌́" typed on different keyboards are the same. */
function normalise(password: string): string {
  return password.normalize('NFKC')
}

/** `scrypt$N$r$p$salt$hash` (salt and hash base64url): self-describing, so parameters can change. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, params)
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  )
}

const FORMAT = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([\w-]{16,128})\$([\w-]{16,256})$/

function parse(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const m = FORMAT.exec(stored)
  if (!m) return undefined
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }
  // Refuse parameters nobody here wrote (a tampered row must not make us burn a gigabyte).
  if (params.N < 2 ** 10 || params.N > 2 ** 20 || (params.N & (params.N - 1)) !== 0) return undefined
  if (params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) return undefined
  return { params, salt: Buffer.from(m[4]!, 'base64url'), key: Buffer.from(m[5]!, 'base64url') }
}

/** Constant-time check of a password against a stored hash; an unreadable hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (password.length > PASSWORD_MAX * 4) return false
  const parsed = parse(stored)
  if (!parsed) return false
  const key = await derive(password, parsed.salt, parsed.params)
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key)
}

/** True when a hash was made with weaker parameters than today's (re-hash it at the next sign-in). */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored)
  if (!parsed) return true
  const { N, r, p } = parsed.params
  return N * r * p < DEFAULT_SCRYPT.N * DEFAULT_SCRYPT.r * DEFAULT_SCRYPT.p
}

let dummy: Promise<string> | undefined

/**
 * A hash of a random password, made once per process: a sign-in under an unknown name (or for an
 * admin without a password) verifies against it, so it takes as long as one under a known name.
 */
export function dummyPasswordHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(18).toString('base64url')).catch((err: unknown) => {
    dummy = undefined
    throw err
  })
  return dummy
}

/**
 * The password rule: at least 12 characters, at most 1024, and not the admin's own name.
 * Returns what is wrong, written for the admin, or undefined when the password is acceptable.
 */
export function checkPasswordRule(password: string, adminName: string): string | undefined {
  const length = [...normalise(password)].length
  if (length < PASSWORD_MIN)
    return `password is too short: use at least ${PASSWORD_MIN} characters (a few unrelated words work well), got ${length}`
  if (length > PASSWORD_MAX) return `password is too long: at most ${PASSWORD_MAX} characters, got ${length}`
  if (password.trim() === '') return 'password must not be only spaces'
  const bare = (s: string) => normalise(s).trim().toLowerCase()
  if (bare(password) === bare(adminName)) return "password must not be the admin's name"
  return undefined
}
