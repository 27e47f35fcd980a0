import {
  allowedCidrsSchema,
  cidrSet,
  ipAllowed,
  normalizeAddress,
  parseAllowlist,
  parseCidr,
  wouldLockOut,
} from '../../src/admin/network-policy'
import { AppError } from '../../src/errors'

describe('addresses are compared in one form', () => {
  test.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['::ffff:a00:1', '10.0.0.1'],
    ['0:0:0:0:0:ffff:a00:1', '10.0.0.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::1', '::1'],
    // IPv4-compatible (deprecated) is not mapped: it stays IPv6.
    ['::10.0.0.1', '::a00:1'],
  ])('%s is %s', (raw, normal) => {
    expect(normalizeAddress(raw)).toBe(normal)
  })

  test.each([[''], ['garbage'], ['203.0.113.9:443'], ['010.0.0.1'], [undefined], [null]])(
    '%j is no address',
    (raw) => {
      expect(normalizeAddress(raw)).toBeUndefined()
    },
  )
})

describe('CIDR matching', () => {
  test.each<[string, string, boolean]>([
    // IPv4 blocks, bare addresses (/32) and /0
    ['10.0.0.0/8', '10.255.1.2', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['192.0.2.7', '192.0.2.7', true],
    ['192.0.2.7', '192.0.2.8', false],
    ['192.0.2.7/32', '192.0.2.7', true],
    ['192.0.2.7/32', '192.0.2.6', false],
    ['0.0.0.0/0', '198.51.100.1', true],
    // host bits set below the prefix are ignored, as in every router's configuration
    ['10.1.2.3/8', '10.9.9.9', true],
    // IPv6 blocks, /128 and /0
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['2001:db8::1/128', '2001:db8::1', true],
    ['2001:db8::1/128', '2001:db8::2', false],
    ['2001:DB8::1', '2001:db8:0:0:0:0:0:1', true],
    ['::/0', '2001:db8::1', true],
    ['fe80::/10', 'fe80::1%eth0', true],
    // a mapped client is the IPv4 address it carries
    ['10.0.0.0/8', '::ffff:10.0.0.1', true],
    ['10.0.0.0/8', '::ffff:a00:1', true],
    ['10.0.0.0/8', '::ffff:11.0.0.1', false],
    ['0.0.0.0/0', '::ffff:1.2.3.4', true],
    // a mapped rule with a prefix of 96 or more is the IPv4 rule it carries
    ['::ffff:10.0.0.0/104', '10.1.2.3', true],
    ['::ffff:10.0.0.0/104', '11.1.2.3', false],
    ['::ffff:192.0.2.7', '192.0.2.7', true],
    // families do not cross: ::/0 is every IPv6 address, not every address
    ['::/0', '203.0.113.9', false],
    ['::/0', '::ffff:203.0.113.9', false],
    ['0.0.0.0/0', '2001:db8::1', false],
    // what is not an address matches nothing
    ['0.0.0.0/0', 'garbage', false],
    ['0.0.0.0/0', '203.0.113.9:443', false],
  ])('%s contains %s: %s', (cidr, address, expected) => {
    expect(cidrSet([cidr]).has(address)).toBe(expected)
  })

  test('a set is the union of its entries', () => {
    const set = cidrSet(['10.0.0.0/8', '2001:db8::/32'])
    expect(set.has('10.0.0.1')).toBe(true)
    expect(set.has('2001:db8::1')).toBe(true)
    expect(set.has('192.0.2.1')).toBe(false)
    expect(cidrSet([]).has('10.0.0.1')).toBe(false)
  })

  test.each([
    ['10.0.0.0/33'],
    ['2001:db8::/129'],
    ['10.0.0.0/'],
    ['10.0.0.0/8/8'],
    ['10.0.0.0/-1'],
    ['10.0.0.0/ 8'],
    ['10.0.0'],
    ['010.0.0.1'],
    ['example.com'],
    [' 10.0.0.1'],
    [''],
    ['/8'],
  ])('%j is not a CIDR block', (text) => {
    expect(parseCidr(text)).toEqual({
      error: `${JSON.stringify(text)} is not an IPv4 or IPv6 address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)`,
    })
  })

  test('a list with bad entries is refused naming each of them', () => {
    let error: unknown
    try {
      cidrSet(['10.0.0.0/8', '10.0.0.0/33', 'nope'])
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(AppError)
    expect(error).toMatchObject({ kind: 'invalid' })
    expect((error as Error).message).toMatch(/^"10\.0\.0\.0\/33" is not .*; "nope" is not /)
  })
})

describe('allowlists', () => {
  test('an empty allowlist admits every address, even an unknown one', () => {
    expect(parseAllowlist([]).anywhere).toBe(true)
    expect(ipAllowed([], '203.0.113.9')).toBe(true)
    expect(ipAllowed([], undefined)).toBe(true)
  })

  test('a non-empty allowlist admits its addresses only, and never an unknown one', () => {
    const list = ['198.51.100.0/24', '2001:db8::/32']
    expect(parseAllowlist(list).anywhere).toBe(false)
    expect(ipAllowed(list, '198.51.100.20')).toBe(true)
    expect(ipAllowed(list, '::ffff:198.51.100.20')).toBe(true)
    expect(ipAllowed(list, '2001:db8::20')).toBe(true)
    expect(ipAllowed(list, '203.0.113.9')).toBe(false)
    expect(ipAllowed(list, undefined)).toBe(false)
  })

  test('lists equal in content are read alike, whichever array holds them', () => {
    const a = ['10.0.0.0/8']
    expect(ipAllowed(a, '10.0.0.1')).toBe(true)
    expect(ipAllowed([...a], '10.0.0.1')).toBe(true)
    expect(ipAllowed(['11.0.0.0/8'], '10.0.0.1')).toBe(false)
  })

  test('a bad entry is an error, not a silently narrower list', () => {
    expect(() => ipAllowed(['10.0.0.0/33'], '10.0.0.1')).toThrow(/"10\.0\.0\.0\/33" is not/)
  })
})

describe('a change that would lock its admin out', () => {
  test.each<[string[], string | undefined, boolean]>([
    [[], '203.0.113.9', false],
    [[], undefined, false],
    [['203.0.113.0/24'], '203.0.113.9', false],
    [['203.0.113.0/24'], '::ffff:203.0.113.9', false],
    [['10.0.0.0/8'], '203.0.113.9', true],
    [['2001:db8::/32'], '2001:db8::7', false],
    [['2001:db8::/32'], '203.0.113.9', true],
    [['10.0.0.0/8'], undefined, true],
  ])('%j from %s locks out: %s', (list, caller, expected) => {
    expect(wouldLockOut(list, caller)).toBe(expected)
  })
})

describe('an allowlist in a request body', () => {
  test('each bad entry is named at its position', () => {
    const parsed = allowedCidrsSchema.safeParse(['10.0.0.0/8', '10.0.0.0/33', 'nope'])
    expect(parsed.success).toBe(false)
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['1', expect.stringContaining('"10.0.0.0/33" is not an IPv4 or IPv6 address or CIDR block')],
      ['2', expect.stringContaining('"nope" is not an IPv4 or IPv6 address or CIDR block')],
    ])
  })

  test('an empty list is refused: null is how to lift a restriction', () => {
    const parsed = allowedCidrsSchema.safeParse([])
    expect(parsed.error?.issues[0]?.message).toMatch(/at least one CIDR block; send null/)
  })
})
