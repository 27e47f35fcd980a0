import { validateGroup, validateUser } from '../../../src/scim/schema'
import {
  CORE_GROUP,
  CORE_USER,
  ENTERPRISE,
  entraCreateGroup,
  entraCreateUser,
  MANAGER_ID,
  oktaCreateGroup,
  oktaCreateUser,
  ORGSYNC,
} from './provider-requests'
import { expectScimError, type ExpectedScimError } from './scim-error-matchers'

const user = (extra: Record<string, unknown>) => ({ schemas: [CORE_USER], userName: 'kim', ...extra })

describe('validateUser', () => {
  test('an Entra create: meta and the empty roles dropped, everything else kept in schema order', () => {
    const doc = validateUser(entraCreateUser())
    expect(doc).toEqual({
      schemas: [CORE_USER, ENTERPRISE],
      externalId: 'c1a4e7f0-2b5d-4e8a-9c3f-6d0b1e2a3f4c',
      userName: 'Ines.Moreau@fabrikam.example',
      name: { formatted: 'Ines Moreau', familyName: 'Moreau', givenName: 'Ines' },
      displayName: 'Ines Moreau',
      title: 'Store Lead',
      active: true,
      emails: [{ value: 'ines.moreau@fabrikam.example', type: 'work', primary: true }],
      phoneNumbers: [
        { value: '+33 1 55 00 12 34', type: 'work' },
        { value: '+33 6 55 00 98 76', type: 'mobile' },
      ],
      addresses: [
        {
          streetAddress: '12 rue des Lilas',
          locality: 'Lyon',
          region: 'ARA',
          postalCode: '69003',
          country: 'FR',
          type: 'work',
        },
      ],
      [ENTERPRISE]: {
        employeeNumber: '20417',
        costCenter: 'CC-310',
        organization: 'Fabrikam',
        division: 'Stores',
        department: 'Retail',
        manager: { value: MANAGER_ID },
      },
    })
    expect(Object.keys(doc)).toEqual([
      'schemas',
      'externalId',
      'userName',
      'name',
      'displayName',
      'title',
      'active',
      'emails',
      'phoneNumbers',
      'addresses',
      ENTERPRISE,
    ])
  })

  test('an Okta create: the password and the readOnly groups are not kept', () => {
    expect(validateUser(oktaCreateUser())).toEqual({
      schemas: [CORE_USER],
      externalId: '00u7kq2xw9PLmNbV3d5e',
      userName: 'teo.baker@initech.example',
      name: { familyName: 'Baker', givenName: 'Teo' },
      displayName: 'Teo Baker',
      locale: 'en-US',
      active: true,
      emails: [{ value: 'teo.baker@initech.example', type: 'work', primary: true }],
    })
  })

  test('the input is not changed', () => {
    const body = entraCreateUser()
    const copy = structuredClone(body)
    validateUser(body)
    expect(body).toEqual(copy)
  })

  test.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    [
      'attribute names in any case come out as the schema spells them',
      {
        schemas: [CORE_USER],
        USERNAME: 'kim',
        Emails: [{ VALUE: 'k@x.example', Type: 'work' }],
        NAME: { givenname: 'Kim' },
      },
      { userName: 'kim', name: { givenName: 'Kim' }, emails: [{ value: 'k@x.example', type: 'work' }] },
    ],
    [
      '"True"/"False" strings in any case become booleans',
      user({ active: 'False', emails: [{ value: 'k@x.example', primary: 'TRUE' }] }),
      { userName: 'kim', active: false, emails: [{ value: 'k@x.example', primary: true }] },
    ],
    [
      'a bare-string enterprise manager becomes {value}',
      user({ [ENTERPRISE]: { manager: MANAGER_ID } }),
      { userName: 'kim', [ENTERPRISE]: { manager: { value: MANAGER_ID } } },
    ],
    [
      'an extension object whose URN is missing from schemas is accepted and listed',
      { schemas: [CORE_USER], userName: 'kim', [ENTERPRISE]: { department: 'Sales' } },
      { userName: 'kim', [ENTERPRISE]: { department: 'Sales' } },
    ],
    [
      'an extension listed in schemas but without values is not listed',
      { schemas: [CORE_USER, ENTERPRISE, ORGSYNC], userName: 'kim', [ENTERPRISE]: { department: '' } },
      { userName: 'kim' },
    ],
    [
      'the orgsync extension keeps departmentPath and drops the readOnly personId',
      user({ [ORGSYNC]: { departmentPath: 'Sales/EMEA', personId: 'p-1' } }),
      { userName: 'kim', [ORGSYNC]: { departmentPath: 'Sales/EMEA' } },
    ],
    [
      'empty strings, nulls and empty arrays are absent',
      user({
        displayName: '',
        title: null,
        emails: [],
        name: { givenName: '', familyName: null },
        phoneNumbers: [{ value: '' }],
      }),
      { userName: 'kim' },
    ],
    [
      'readOnly attributes are ignored: id, meta, groups, manager.displayName',
      user({
        id: 'client-chosen',
        meta: { resourceType: 'User' },
        groups: [{ value: 'g1' }],
        [ENTERPRISE]: { manager: { value: MANAGER_ID, displayName: 'Boss' } },
      }),
      { userName: 'kim', [ENTERPRISE]: { manager: { value: MANAGER_ID } } },
    ],
    [
      'canonicalValues are suggestions (RFC 7643 §7): other types are kept as sent',
      user({ emails: [{ value: 'k@x.example', type: 'Work' }], ims: [{ value: 'kim.lee', type: 'Teams' }] }),
      {
        userName: 'kim',
        emails: [{ value: 'k@x.example', type: 'Work' }],
        ims: [{ value: 'kim.lee', type: 'Teams' }],
      },
    ],
    [
      'schema URNs are matched without regard to case',
      {
        schemas: [CORE_USER.toUpperCase()],
        userName: 'kim',
        [ENTERPRISE.toLowerCase()]: { department: 'Ops' },
      },
      { userName: 'kim', [ENTERPRISE]: { department: 'Ops' } },
    ],
  ])('%s', (_, body, expected) => {
    const schemas = [CORE_USER, ...[ENTERPRISE, ORGSYNC].filter((urn) => urn in expected)]
    expect(validateUser(body)).toEqual({ schemas, ...expected })
  })

  test.each<[string, unknown, ExpectedScimError]>([
    [
      'a body that is not an object',
      [],
      { scimType: 'invalidSyntax', detail: /JSON object, found an array/ },
    ],
    ['a null body', null, { scimType: 'invalidSyntax', detail: /JSON object/ }],
    ['no schemas', { userName: 'kim' }, { scimType: 'invalidSyntax', detail: /"schemas" is missing/ }],
    [
      'schemas not an array',
      { schemas: CORE_USER, userName: 'kim' },
      { scimType: 'invalidSyntax', detail: /array of schema URNs/ },
    ],
    [
      'schemas without the core URN',
      { schemas: [ENTERPRISE], userName: 'kim' },
      { scimType: 'invalidSyntax', detail: /must include "urn:ietf:params:scim:schemas:core:2.0:User"/ },
    ],
    [
      'schemas naming the Group schema',
      { schemas: [CORE_GROUP], userName: 'kim' },
      { scimType: 'invalidSyntax', detail: /must include/ },
    ],
    [
      'attributes under an unknown URN',
      {
        schemas: [CORE_USER, 'urn:example:custom:User'],
        userName: 'kim',
        'urn:example:custom:User': { a: 1 },
      },
      { scimType: 'invalidSyntax', detail: /urn:example:custom:User/ },
    ],
    [
      'no userName',
      { schemas: [CORE_USER], displayName: 'Kim' },
      { scimType: 'invalidValue', detail: /userName/ },
    ],
    ['an empty userName', user({ userName: '' }), { scimType: 'invalidValue', detail: /userName/ }],
    [
      'an unknown attribute',
      user({ shoeSize: 42 }),
      { scimType: 'invalidSyntax', detail: /unknown attribute "shoeSize"/ },
    ],
    [
      'an unknown sub-attribute',
      user({ emails: [{ value: 'k@x.example', label: 'x' }] }),
      { scimType: 'invalidSyntax', detail: /unknown attribute "emails\[0\]\.label"/ },
    ],
    [
      'an unknown extension attribute',
      user({ [ENTERPRISE]: { badge: '7' } }),
      {
        scimType: 'invalidSyntax',
        detail: /unknown attribute "badge" in "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"/,
      },
    ],
    [
      'an unknown extension object',
      user({ 'urn:example:custom:User': { a: 1 } }),
      { scimType: 'invalidSyntax', detail: /"urn:example:custom:User"/ },
    ],
    [
      'an attribute given twice in different case',
      user({ displayName: 'a', DisplayName: 'b' }),
      { scimType: 'invalidSyntax', detail: /"displayName" is given twice/ },
    ],
    [
      'a number for a string',
      user({ userName: 42 }),
      { scimType: 'invalidValue', detail: /'userName' expected value type 'string' but found type 'number'/ },
    ],
    [
      'an object for a string',
      user({ displayName: { text: 'Kim' } }),
      {
        scimType: 'invalidValue',
        detail: /'displayName' expected value type 'string' but found type 'complex'/,
      },
    ],
    [
      'an array for a single value',
      user({ title: ['Boss'] }),
      { scimType: 'invalidValue', detail: /'title' is not multi-valued/ },
    ],
    [
      'an object for a multi-valued attribute',
      user({ emails: { value: 'k@x.example' } }),
      { scimType: 'invalidValue', detail: /emails is multi-valued: expected an array/ },
    ],
    [
      'a string for a complex attribute',
      user({ name: 'Kim Lee' }),
      { scimType: 'invalidValue', detail: /name is complex: expected an object/ },
    ],
    [
      'a word that is not a boolean',
      user({ active: 'yes' }),
      { scimType: 'invalidValue', detail: /'active' expected value type 'boolean'/ },
    ],
    [
      'a number inside a multi-valued element',
      user({ emails: [{ value: 5 }] }),
      { scimType: 'invalidValue', detail: /'value' expected value type 'string'.*'emails'/ },
    ],
    [
      'a number in an extension',
      user({ [ENTERPRISE]: { department: 7 } }),
      { scimType: 'invalidValue', detail: /'department'.*enterprise/ },
    ],
    [
      'an extension that is not an object',
      user({ [ENTERPRISE]: 'Sales' }),
      { scimType: 'invalidValue', detail: /must be an object of that extension's attributes/ },
    ],
    [
      'a profileUrl that is no URL',
      user({ profileUrl: 'my page' }),
      { scimType: 'invalidValue', detail: /'profileUrl'/ },
    ],
    [
      'two primary emails',
      user({
        emails: [
          { value: 'a@x.example', primary: true },
          { value: 'b@x.example', primary: 'True' },
        ],
      }),
      { scimType: 'invalidValue', detail: /emails: 2 values are marked primary/ },
    ],
  ])('refuses %s', (_, body, expected) => {
    expectScimError(() => validateUser(body), expected)
  })
})

describe('validateGroup', () => {
  test('an Entra create: meta and the empty member list dropped', () => {
    expect(validateGroup(entraCreateGroup())).toEqual({
      schemas: [CORE_GROUP],
      externalId: '9b0e6f1a-3c2d-4e5f-8a7b-0c1d2e3f4a5b',
      displayName: 'Store Leads',
    })
  })

  test('an Okta create: members kept as {value, display}', () => {
    expect(validateGroup(oktaCreateGroup())).toEqual({
      schemas: [CORE_GROUP],
      displayName: 'Engineering',
      members: [
        { value: 'a3f1c2d4-0000-4000-8000-000000000001', display: 'teo.baker@initech.example' },
        { value: 'a3f1c2d4-0000-4000-8000-000000000002', display: 'mo.ali@initech.example' },
      ],
    })
  })

  test("members keep type, lose $ref (derived when served), and Entra's null $ref is fine", () => {
    const doc = validateGroup({
      schemas: [CORE_GROUP],
      displayname: 'Ops',
      Members: [
        { value: 'u1', $ref: 'https://x.example/scim/v2/Users/u1', type: 'User' },
        { value: 'u2', $ref: null },
      ],
    })
    expect(doc).toEqual({
      schemas: [CORE_GROUP],
      displayName: 'Ops',
      members: [{ value: 'u1', type: 'User' }, { value: 'u2' }],
    })
  })

  const group = (extra: Record<string, unknown>) => ({ schemas: [CORE_GROUP], displayName: 'Ops', ...extra })

  test.each<[string, unknown, ExpectedScimError]>([
    ['a string body', 'Ops', { scimType: 'invalidSyntax', detail: /JSON object/ }],
    [
      'the User schema',
      { schemas: [CORE_USER], displayName: 'Ops' },
      { scimType: 'invalidSyntax', detail: /must include "urn:ietf:params:scim:schemas:core:2.0:Group"/ },
    ],
    [
      'attributes under a user extension',
      { schemas: [CORE_GROUP, ENTERPRISE], displayName: 'Ops', [ENTERPRISE]: { department: 'x' } },
      { scimType: 'invalidSyntax', detail: new RegExp(ENTERPRISE) },
    ],
    ['no displayName', { schemas: [CORE_GROUP] }, { scimType: 'invalidValue', detail: /displayName/ }],
    ['an empty displayName', group({ displayName: '' }), { scimType: 'invalidValue', detail: /displayName/ }],
    [
      'an unknown attribute',
      group({ owner: 'kim' }),
      { scimType: 'invalidSyntax', detail: /unknown attribute "owner"/ },
    ],
    [
      'members that are not an array',
      group({ members: { value: 'u1' } }),
      { scimType: 'invalidValue', detail: /members is multi-valued/ },
    ],
    [
      'a member without a value',
      group({ members: [{ display: 'Kim' }] }),
      { scimType: 'invalidValue', detail: /members\[0\]\.value must be a non-empty string/ },
    ],
    [
      'a member with an empty value',
      group({ members: [{ value: 'u1' }, { value: '' }] }),
      { scimType: 'invalidValue', detail: /members\[1\]\.value/ },
    ],
    [
      'a member with a number value',
      group({ members: [{ value: 7 }] }),
      { scimType: 'invalidValue', detail: /members\[0\]\.value.*the number 7/ },
    ],
    [
      'a member that is a bare id',
      group({ members: ['u1'] }),
      { scimType: 'invalidValue', detail: /members\[0\] is complex: expected an object/ },
    ],
  ])('refuses %s', (_, body, expected) => {
    expectScimError(() => validateGroup(body), expected)
  })
})
