import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ConfigError, type Config } from '../../src/config'
import { SecretBox } from '../../src/crypto/secret-box'
import { resolveSecretKey, verifySecretKey } from '../../src/startup/secret-key'
import { describeEachDatabase } from '../helpers/test-database'

describe('SecretBox', () => {
  const key = randomBytes(32)
  const box = new SecretBox(key)

  /** Replaces one base64url part of a sealed value with the same bytes, one bit flipped. */
  function flip(sealed: string, part: 1 | 2 | 3): string {
    const parts = sealed.split('.')
    const bytes = Buffer.from(parts[part]!, 'base64url')
    bytes[0] = bytes[0]! ^ 0x01
    parts[part] = bytes.toString('base64url')
    return parts.join('.')
  }

  test('seals and opens a value within its context', () => {
    for (const plaintext of [
      'p@ss',
      '',
      'ünïcødé ✓ 密码',
      JSON.stringify({ bindPassword: 'x'.repeat(10_000) }),
    ]) {
      const sealed = box.seal(plaintext, 'source:1')
      expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]*$/)
      if (plaintext.length > 3) expect(sealed).not.toContain(plaintext)
      expect(box.open(sealed, 'source:1')).toBe(plaintext)
      // Another box with the same key bytes opens it too (a restart, another replica).
      expect(new SecretBox(Buffer.from(key)).open(sealed, 'source:1')).toBe(plaintext)
    }
  })

  test('each seal uses a fresh IV', () => {
    const a = box.seal('same', 'ctx')
    const b = box.seal('same', 'ctx')
    expect(a).not.toBe(b)
    expect(a.split('.')[1]).not.toBe(b.split('.')[1])
  })

  test('a wrong context, a tampered part or another key cannot open it', () => {
    const sealed = box.seal('client-secret-123', 'source:a')
    expect(() => box.open(sealed, 'source:b')).toThrow(/cannot decrypt/)
    expect(() => box.open(sealed, '')).toThrow(/cannot decrypt/)
    expect(() => box.open(flip(sealed, 3), 'source:a')).toThrow(/cannot decrypt/)
    expect(() => box.open(flip(sealed, 2), 'source:a')).toThrow(/cannot decrypt/)
    expect(() => box.open(flip(sealed, 1), 'source:a')).toThrow(/cannot decrypt/)
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'source:a')).toThrow(/cannot decrypt/)
    // The untampered value still opens: the failures above are the changes, not the helper.
    expect(box.open(sealed, 'source:a')).toBe('client-secret-123')
  })

  test('a truncated tag, a missing part or another version is refused', () => {
    const sealed = box.seal('value', 'ctx')
    const [v, iv, tag, ct] = sealed.split('.')
    const shortTag = Buffer.from(tag!, 'base64url').subarray(0, 4).toString('base64url')
    expect(() => box.open([v, iv, shortTag, ct].join('.'), 'ctx')).toThrow()
    expect(() => box.open([v, iv, tag].join('.'), 'ctx')).toThrow(/unknown envelope format/)
    expect(() => box.open(['v2', iv, tag, ct].join('.'), 'ctx')).toThrow(/unknown envelope format/)
    expect(() => box.open('value', 'ctx')).toThrow(/unknown envelope format/)
  })

  test('keys must be 32 bytes; the fingerprint identifies a key without revealing it', () => {
    expect(() => new SecretBox(randomBytes(31))).toThrow(/32 bytes/)
    expect(() => new SecretBox(Buffer.alloc(0))).toThrow(/32 bytes/)
    const fp = box.fingerprint()
    expect(fp).toBe(new SecretBox(Buffer.from(key)).fingerprint())
    expect(fp).not.toBe(new SecretBox(randomBytes(32)).fingerprint())
    expect(fp).not.toContain(key.toString('base64url'))
    expect(fp).not.toContain(key.toString('hex'))
  })

  test('the box keeps its own copy of the key', () => {
    const mutable = Buffer.from(randomBytes(32))
    const b = new SecretBox(mutable)
    const sealed = b.seal('x', 'ctx')
    mutable.fill(0)
    expect(b.open(sealed, 'ctx')).toBe('x')
  })
})

describeEachDatabase('verifySecretKey', (db) => {
  beforeEach(() => db().reset())

  const stored = () =>
    db()
      .handle.db.selectFrom('settings')
      .select('value')
      .where('key', '=', 'secret_key_fingerprint')
      .execute()

  test('records the key on first use and accepts it again', async () => {
    const key = randomBytes(32)
    await verifySecretKey(db().handle.db, new SecretBox(key))
    expect(await stored()).toEqual([{ value: new SecretBox(key).fingerprint() }])
    await expect(verifySecretKey(db().handle.db, new SecretBox(Buffer.from(key)))).resolves.toBeUndefined()
    expect(await stored()).toHaveLength(1)
  })

  test('another key is a ConfigError and leaves the recorded fingerprint alone', async () => {
    const key = randomBytes(32)
    await verifySecretKey(db().handle.db, new SecretBox(key))
    const err: unknown = await verifySecretKey(db().handle.db, new SecretBox(randomBytes(32))).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toMatch(/not the key this database was set up with/)
    expect(await stored()).toEqual([{ value: new SecretBox(key).fingerprint() }])
    // The original key is still accepted afterwards.
    await expect(verifySecretKey(db().handle.db, new SecretBox(key))).resolves.toBeUndefined()
  })
})

describe('resolveSecretKey', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'orgsync-key-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const config = (over: Partial<Config>) =>
    ({ secretKey: undefined, dataDir: path.join(dir, 'data'), ...over }) as Config

  test('ORGSYNC_SECRET_KEY wins and nothing is written', async () => {
    const key = randomBytes(32)
    expect((await resolveSecretKey(config({ secretKey: key }))).equals(key)).toBe(true)
    await expect(stat(path.join(dir, 'data'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  test('without it, a key is generated once into DATA_DIR/secret.key (owner-only) and reused', async () => {
    const first = await resolveSecretKey(config({}))
    expect(first.length).toBe(32)
    const file = path.join(dir, 'data', 'secret.key')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64').equals(first)).toBe(true)
    const second = await resolveSecretKey(config({}))
    expect(second.equals(first)).toBe(true)
  })

  test('a key file that does not hold a key is a ConfigError, not a new key', async () => {
    await resolveSecretKey(config({}))
    const file = path.join(dir, 'data', 'secret.key')
    await writeFile(file, 'not a key\n')
    await expect(resolveSecretKey(config({}))).rejects.toBeInstanceOf(ConfigError)
    expect(await readFile(file, 'utf8')).toBe('not a key\n')
  })
})
