import { formatGeneralizedTime, parseGeneralizedTime } from '../../../connectors/ldap/generalized-time'
import { withDefaults } from '../../../connectors/ldap/ldap-config'

describe('GeneralizedTime, as modifyTimestamp is written', () => {
  test.each([
    ['20260512093015Z', '2026-05-12T09:30:15.000Z'], // OpenLDAP
    ['20260512093015.0Z', '2026-05-12T09:30:15.000Z'], // 389-DS, AD
    ['20260512093015.25Z', '2026-05-12T09:30:15.250Z'],
    ['20260512113015+0200', '2026-05-12T09:30:15.000Z'],
    ['20260512043015-05', '2026-05-12T09:30:15.000Z'],
    ['202605120930Z', '2026-05-12T09:30:00.000Z'],
    ['2026051209.5Z', '2026-05-12T09:30:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(new Date(parseGeneralizedTime(text)!).toISOString()).toBe(iso)
  })

  test.each([undefined, '', '2026-05-12T09:30:15Z', '20260512093015', 'yesterday'])(
    '%p is not GeneralizedTime',
    (text) => {
      expect(parseGeneralizedTime(text)).toBeUndefined()
    },
  )

  test('formatted as a filter value: UTC, whole seconds rounded down', () => {
    expect(formatGeneralizedTime(Date.parse('2026-05-12T09:30:15.999Z'))).toBe('20260512093015Z')
    expect(parseGeneralizedTime(formatGeneralizedTime(1_778_578_215_000))).toBe(1_778_578_215_000)
  })
})

describe('generic defaults', () => {
  test('departments from an attribute read departmentNumber (inetOrgPerson has no department)', () => {
    const base = { url: 'ldaps://ldap1', bindDn: 'cn=x', bindPassword: 'p', baseDn: 'dc=x' }
    expect(withDefaults({ ...base, flavour: 'generic' }).departmentAttribute).toBe('departmentNumber')
    expect(withDefaults({ ...base }).departmentAttribute).toBe('department')
    expect(
      withDefaults({ ...base, flavour: 'generic', departmentAttribute: 'businessCategory' })
        .departmentAttribute,
    ).toBe('businessCategory')
  })
})
