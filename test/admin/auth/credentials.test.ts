import type { Request } from 'express'
import {
  checkPasswordRule,
  hashPassword,
  needsRehash,
  verifyPassword,
} from '../../../src/admin/auth/password'
import { newRecoveryCode } from '../../../src/admin/auth/recovery-codes'
import { SESSION_COOKIE, sessionCookie } from '../../../src/admin/auth/sessions'
import { matchTotpStep, newTotpSecret, otpauthUri, totpCode, totpStep } from '../../../src/admin/auth/totp'

/** RFC 6238 appendix B's SHA-1 secret ("12345678901234567890") in base32. */
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'

describe('passwords', () => {
  test('hash is self-describing scrypt and verifies only the same password', async () => {
    const hash = await hashPassword('correct horse battery staple')
    expect(hash).toMatch(/^scrypt\$32768\$8\$3\$[\w-]{22}\$[\w-]{43}$/)
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true)
    expect(await verifyPassword('correct horse battery stapl', hash)).toBe(false)
    expect(await verifyPassword('', hash)).toBe(false)
    expect(needsRehash(hash)).toBe(false)
  })

  test('two hashes of one password differ (salt), both verify', async () => {
    const [a, b] = await Promise.all([hashPassword('same password 1'), hashPassword('same password 1')])
    expect(a).not.toBe(b)
    expect(await verifyPassword('same password 1', a)).toBe(true)
    expect(await verifyPassword('same password 1', b)).toBe(true)
  })

  test('weaker stored parameters still verify and ask for a re-hash', async () => {
    const weak = await hashPassword('an older password', { N: 1024, r: 8, p: 1 })
    expect(await verifyPassword('an older password', weak)).toBe(true)
    expect(needsRehash(weak)).toBe(true)
  })

  test('unreadable or tampered hashes never match', async () => {
    const hash = await hashPassword('tampered password')
    for (const bad of [
      '',
      'plain',
      hash.replace('scrypt$', 'bcrypt$'),
      hash.replace('$32768$', '$33000$'),
      hash.replace('$32768$', '$1073741824$'),
      hash.slice(0, -4),
    ]) {
      expect(await verifyPassword('tampered password', bad)).toBe(false)
    }
  })

  test('composed and decomposed accents are one password', async () => {
    const hash = await hashPassword('caf\u00e9 au lait please')
    expect(await verifyPassword('cafe\u0301 au lait please', hash)).toBe(true)
  })

  test.each([
    ['5 characters', 'short', 'alice', /too short: use at least 12 characters.*got 5/],
    ['1025 characters', 'x'.repeat(1025), 'alice', /too long: at most 1024/],
    ['12 spaces', ' '.repeat(12), 'alice', /only spaces/],
    ['the name in capitals', 'Alice.Example', 'alice.example', /must not be the admin's name/],
    ['the name with spaces', '  alice.example  ', 'Alice.Example', /must not be the admin's name/],
  ])('rule refuses %s', (_what, password, name, message) => {
    expect(checkPasswordRule(password, name)).toMatch(message)
  })

  test('rule accepts a long passphrase', () => {
    expect(checkPasswordRule('purple monkey dishwasher', 'alice')).toBeUndefined()
    expect(checkPasswordRule('x'.repeat(1024), 'alice')).toBeUndefined()
  })
})

describe('TOTP', () => {
  test.each([
    [59, '287082'],
    [1111111109, '081804'],
    [1111111111, '050471'],
    [1234567890, '005924'],
    [2000000000, '279037'],
  ])('RFC 6238 SHA-1 vector at %i s → %s', (seconds, code) => {
    expect(totpCode(RFC_SECRET, totpStep(seconds * 1000))).toBe(code)
  })

  test('accepts the current step and one either side, later than the last used one', () => {
    const secret = newTotpSecret()
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    const now = Date.UTC(2026, 0, 1, 12, 0, 10)
    const step = totpStep(now)
    expect(matchTotpStep(secret, totpCode(secret, step), now, null)).toBe(step)
    expect(matchTotpStep(secret, totpCode(secret, step - 1), now, null)).toBe(step - 1)
    expect(matchTotpStep(secret, totpCode(secret, step + 1), now, null)).toBe(step + 1)
    expect(matchTotpStep(secret, totpCode(secret, step + 2), now, null)).toBeUndefined()
    expect(matchTotpStep(secret, totpCode(secret, step - 2), now, null)).toBeUndefined()
    // Replay: the step was used already (or a later one was).
    expect(matchTotpStep(secret, totpCode(secret, step), now, step)).toBeUndefined()
    expect(matchTotpStep(secret, totpCode(secret, step - 1), now, step)).toBeUndefined()
    expect(matchTotpStep(secret, totpCode(secret, step + 1), now, step)).toBe(step + 1)
    const spaced = totpCode(secret, step).replace(/^(\d{3})/, '$1 ')
    expect(matchTotpStep(secret, spaced, now, null)).toBe(step)
  })

  test('the enrolment URI is what authenticator apps read', () => {
    const uri = new URL(otpauthUri(RFC_SECRET, 'alice'))
    expect(uri.protocol).toBe('otpauth:')
    expect(uri.host).toBe('totp')
    expect(decodeURIComponent(uri.pathname)).toBe('/orgsync:alice')
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      issuer: 'orgsync',
      secret: RFC_SECRET,
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    })
  })
})

describe('recovery codes and cookies', () => {
  test('recovery codes are four groups of four unambiguous characters, all different', () => {
    const codes = Array.from({ length: 200 }, newRecoveryCode)
    for (const code of codes) expect(code).toMatch(/^[a-hjkmnp-z2-9]{4}(-[a-hjkmnp-z2-9]{4}){3}$/)
    expect(new Set(codes).size).toBe(codes.length)
  })

  const req = (cookie?: string) => ({ headers: cookie === undefined ? {} : { cookie } }) as unknown as Request

  test.each([
    [undefined, undefined],
    ['', undefined],
    [`${SESSION_COOKIE}=abc_DEF-123`, 'abc_DEF-123'],
    [`theme=dark; ${SESSION_COOKIE}=tok; other=1`, 'tok'],
    [`${SESSION_COOKIE}="quoted"`, 'quoted'],
    [`x${SESSION_COOKIE}=nope`, undefined],
    [`${SESSION_COOKIE}=has space`, undefined],
    [`${SESSION_COOKIE}=first; ${SESSION_COOKIE}=second`, 'first'],
  ])('Cookie %j → %j', (header, value) => {
    expect(sessionCookie(req(header))).toBe(value)
  })
})
