import { accountExpiry, guidFromBuffer, toFileTime } from '../../../connectors/ldap/ad-values'
import {
  canonicalDn,
  isUnder,
  parentDn,
  parseDn,
  parseExtendedDn,
} from '../../../connectors/ldap/distinguished-name'
import { ldapConfigSchema, withDefaults } from '../../../connectors/ldap/ldap-config'

describe('distinguished names as AD returns them', () => {
  test.each([
    ['OU=Retail\\, Wholesale,OU=People,DC=test,DC=local', ['Retail, Wholesale', 'People', 'test', 'local']],
    ['OU=Retail\\2C Wholesale,OU=People,DC=test,DC=local', ['Retail, Wholesale', 'People', 'test', 'local']],
    ['OU=Z\\C3\\BCrich,DC=test,DC=local', ['Zürich', 'test', 'local']],
    ['CN=Smith\\, Jo \\+ Co,OU=A\\=B,DC=x', ['Smith, Jo + Co', 'A=B', 'x']],
    ['ou = Spaced , dc = x', ['Spaced', 'x']],
  ])('%s splits into its names', (dn, names) => {
    expect(parseDn(dn).map((r) => r.value)).toEqual(names)
  })

  test('two spellings of one DN share a canonical form; parents and containment follow it', () => {
    expect(canonicalDn('OU=Retail\\2C Wholesale,OU=People,DC=Test,DC=Local')).toBe(
      canonicalDn('ou=retail\\, wholesale,ou=people,dc=test,dc=local'),
    )
    expect(parentDn('CN=Ann,OU=Retail\\, Wholesale,DC=test,DC=local')).toBe(
      canonicalDn('OU=Retail\\, Wholesale,DC=test,DC=local'),
    )
    expect(parentDn('DC=local')).toBeNull()
    expect(isUnder('CN=Ann,OU=People,DC=test,DC=local', 'dc=TEST,dc=local')).toBe(true)
    expect(isUnder('CN=Ann,OU=People,DC=test,DC=local', 'OU=People,DC=test,DC=local')).toBe(true)
    expect(isUnder('CN=Ann,OU=Peoples,DC=test,DC=local', 'OU=People,DC=test,DC=local')).toBe(false)
    expect(isUnder('OU=ople,DC=test,DC=local', 'OU=People,DC=test,DC=local')).toBe(false)
  })

  test("the extended-DN control's prefix gives the GUID and the plain DN", () => {
    expect(
      parseExtendedDn(
        '<GUID=A1B2C3D4-0000-4000-8000-000000000001>;<SID=S-1-5-21-1-2-3-1104>;CN=Ann,OU=People,DC=test,DC=local',
      ),
    ).toEqual({ guid: 'a1b2c3d4-0000-4000-8000-000000000001', dn: 'CN=Ann,OU=People,DC=test,DC=local' })
    expect(parseExtendedDn('CN=Ann,DC=x')).toEqual({ guid: null, dn: 'CN=Ann,DC=x' })
  })
})

describe('AD values', () => {
  test('objectGUID bytes read as the GUID string AD shows (first three fields little-endian)', () => {
    const bytes = Buffer.from('d4c3b2a1f6e5081f0102030405060708', 'hex')
    expect(guidFromBuffer(bytes)).toBe('a1b2c3d4-e5f6-1f08-0102-030405060708')
    expect(() => guidFromBuffer(Buffer.alloc(3))).toThrow('16 bytes')
  })

  test('accountExpires: 0 and the largest value mean never; others are FILETIMEs', () => {
    expect(accountExpiry('0')).toBeNull()
    expect(accountExpiry('9223372036854775807')).toBeNull()
    expect(accountExpiry(undefined)).toBeNull()
    expect(accountExpiry('junk')).toBeNull()
    const when = new Date('2026-01-02T03:04:05.000Z')
    expect(accountExpiry(toFileTime(when))).toEqual(when)
    expect(accountExpiry('116444736000000000')).toEqual(new Date(0))
  })
})

describe('LDAP source settings', () => {
  const base = {
    url: 'ldaps://dc1.corp.example',
    bindDn: 'svc@corp.example',
    bindPassword: 'x',
    baseDn: 'DC=corp',
  }
  test('safe defaults: AD, OUs as departments, compare for deletions, no insecure binds', () => {
    expect(ldapConfigSchema.parse(base)).toEqual(base) // defaults are not stored
    expect(withDefaults(ldapConfigSchema.parse(base))).toMatchObject({
      flavour: 'ad',
      departmentsFrom: 'ou',
      deletedObjects: 'compare',
      allowInsecure: false,
      pageSize: 500,
    })
  })
  test.each([
    [{ bindPassword: '' }, 'anonymous bind'],
    [{ url: 'http://dc1' }, 'ldaps://host'],
    [{ url: 'ldaps://dc1/DC=corp' }, 'ldaps://host'],
    [{ tlsCa: 'pem', tlsCaFile: '/x' }, 'not both'],
    [{ surprise: 1 }, 'surprise'],
  ])('%j is refused: %s', (patch, message) => {
    const r = ldapConfigSchema.safeParse({ ...base, ...patch })
    expect(r.success).toBe(false)
    expect(JSON.stringify(r.error?.issues)).toContain(message)
  })
})
