import { patchUser, validateUser, type ScimUserDoc } from '../../../src/scim/schema'
import { CORE_USER, ENTERPRISE, MANAGER_ID, ORGSYNC, PATCH_OP, patchOp } from './provider-requests'
import { expectScimRejection, type ExpectedScimError } from './scim-error-matchers'

const current: ScimUserDoc = validateUser({
  schemas: [CORE_USER, ENTERPRISE],
  userName: 'kim@fabrikam.example',
  name: { givenName: 'Kim', familyName: 'Lee' },
  displayName: 'Kim Lee',
  active: true,
  emails: [
    { value: 'kim@fabrikam.example', type: 'work', primary: true },
    { value: 'kim@home.example', type: 'home' },
  ],
  phoneNumbers: [{ value: '+1 555 0100', type: 'work' }],
  [ENTERPRISE]: { department: 'Sales', manager: { value: MANAGER_ID } },
})

const WORK_EMAIL = { value: 'kim@fabrikam.example', type: 'work', primary: true }
const HOME_EMAIL = { value: 'kim@home.example', type: 'home' }
const NEW_MANAGER = '0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b'

/** The expected document: `current` with these top-level keys replaced (undefined: removed). */
function changed(changes: Record<string, unknown>): Record<string, unknown> {
  const doc: Record<string, unknown> = { ...structuredClone(current), ...changes }
  for (const [key, value] of Object.entries(doc)) if (value === undefined) delete doc[key]
  const extensions = [ENTERPRISE, ORGSYNC].filter((urn) => doc[urn] !== undefined)
  return { ...doc, schemas: [CORE_USER, ...extensions] }
}

type Case = [name: string, operations: unknown[], expected: Record<string, unknown>]

const entraCases: Case[] = [
  [
    'Replace active "False" (a string, capitalised op)',
    [{ op: 'Replace', path: 'active', value: 'False' }],
    changed({ active: false }),
  ],
  [
    'Replace active "true" in lower case',
    [
      { op: 'Replace', path: 'active', value: 'false' },
      { op: 'Replace', path: 'active', value: 'true' },
    ],
    changed({}),
  ],
  [
    'Add the manager as a bare id string',
    [{ op: 'Add', path: `${ENTERPRISE}:manager`, value: NEW_MANAGER }],
    changed({ [ENTERPRISE]: { department: 'Sales', manager: { value: NEW_MANAGER } } }),
  ],
  [
    'Replace the manager with an empty string: no manager',
    [{ op: 'Replace', path: `${ENTERPRISE}:manager`, value: '' }],
    changed({ [ENTERPRISE]: { department: 'Sales' } }),
  ],
  [
    'Remove the manager',
    [{ op: 'Remove', path: `${ENTERPRISE}:manager` }],
    changed({ [ENTERPRISE]: { department: 'Sales' } }),
  ],
  [
    'Replace emails[type eq "work"].value when there is a work email',
    [{ op: 'Replace', path: 'emails[type eq "work"].value', value: 'kim.lee@fabrikam.example' }],
    changed({ emails: [{ ...WORK_EMAIL, value: 'kim.lee@fabrikam.example' }, HOME_EMAIL] }),
  ],
  [
    'the value filter ignores case where the schema says caseExact false (type eq "Work")',
    [{ op: 'Replace', path: 'emails[type eq "Work"].value', value: 'kim.lee@fabrikam.example' }],
    changed({ emails: [{ ...WORK_EMAIL, value: 'kim.lee@fabrikam.example' }, HOME_EMAIL] }),
  ],
  [
    'Add phoneNumbers[type eq "mobile"].value when there is no mobile: the element is created',
    [{ op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0199' }],
    changed({
      phoneNumbers: [
        { value: '+1 555 0100', type: 'work' },
        { value: '+1 555 0199', type: 'mobile' },
      ],
    }),
  ],
  [
    'Replace addresses[type eq "work"].streetAddress when there are no addresses at all',
    [{ op: 'Replace', path: 'addresses[type eq "work"].streetAddress', value: '1 Main St' }],
    changed({ addresses: [{ streetAddress: '1 Main St', type: 'work' }] }),
  ],
  [
    'Replace emails[type eq "other"].value creates the element when none matches',
    [{ op: 'Replace', path: 'emails[type eq "other"].value', value: 'k@other.example' }],
    changed({ emails: [WORK_EMAIL, HOME_EMAIL, { value: 'k@other.example', type: 'other' }] }),
  ],
  [
    'a path-less Add with dotted and URN-prefixed keys, the manager as a bare id',
    [
      {
        op: 'Add',
        value: {
          'name.givenName': 'Kimberly',
          [`${ENTERPRISE}:department`]: 'Operations',
          [`${ENTERPRISE}:manager`]: NEW_MANAGER,
        },
      },
    ],
    changed({
      name: { givenName: 'Kimberly', familyName: 'Lee' },
      [ENTERPRISE]: { department: 'Operations', manager: { value: NEW_MANAGER } },
    }),
  ],
  [
    'a path-less Replace with a core-URN-prefixed key',
    [{ op: 'Replace', value: { [`${CORE_USER}:title`]: 'Buyer', displayName: 'K. Lee' } }],
    changed({ displayName: 'K. Lee', title: 'Buyer' }),
  ],
  [
    'Replace name.familyName',
    [{ op: 'Replace', path: 'name.familyName', value: 'Park' }],
    changed({ name: { givenName: 'Kim', familyName: 'Park' } }),
  ],
  ['Add externalId', [{ op: 'Add', path: 'externalId', value: 'aad-42' }], changed({ externalId: 'aad-42' })],
]

const oktaCases: Case[] = [
  [
    'deactivate: a path-less replace of {active: false}',
    [{ op: 'replace', value: { active: false } }],
    changed({ active: false }),
  ],
  [
    'a path-less replace echoing id and schemas',
    [{ op: 'replace', value: { id: 'abc', schemas: [CORE_USER], active: false } }],
    changed({ active: false }),
  ],
  [
    'a password change is accepted and not stored',
    [{ op: 'replace', value: { password: 'n3w-Secret!' } }],
    changed({}),
  ],
  ['a password path too', [{ op: 'replace', path: 'password', value: 'n3w-Secret!' }], changed({})],
]

// RFC 7644 §3.5.2 and its examples.
const rfcCases: Case[] = [
  [
    'add emails: the new value is appended',
    [{ op: 'add', path: 'emails', value: [{ value: 'k@other.example', type: 'other' }] }],
    changed({ emails: [WORK_EMAIL, HOME_EMAIL, { value: 'k@other.example', type: 'other' }] }),
  ],
  [
    'add emails: a value already there is not added twice (§3.5.2.1)',
    [{ op: 'add', path: 'emails', value: [{ type: 'home', value: 'kim@home.example' }] }],
    changed({}),
  ],
  [
    'add a primary email: the old primary becomes false (§3.5.2)',
    [{ op: 'add', path: 'emails', value: [{ value: 'k@new.example', type: 'work', primary: true }] }],
    changed({
      emails: [
        { ...WORK_EMAIL, primary: false },
        HOME_EMAIL,
        { value: 'k@new.example', type: 'work', primary: true },
      ],
    }),
  ],
  [
    'path-less add of emails (§3.5.2.1 example shape)',
    [{ op: 'add', value: { emails: [{ value: 'k@other.example', type: 'other' }], nickName: 'Kimmy' } }],
    changed({
      nickName: 'Kimmy',
      emails: [WORK_EMAIL, HOME_EMAIL, { value: 'k@other.example', type: 'other' }],
    }),
  ],
  [
    'replace with a value filter replaces the matching value',
    [
      {
        op: 'replace',
        path: 'emails[type eq "home"]',
        value: { value: 'kim@new-home.example', type: 'home' },
      },
    ],
    changed({ emails: [WORK_EMAIL, { value: 'kim@new-home.example', type: 'home' }] }),
  ],
  [
    'remove with a value filter removes only the matching value',
    [{ op: 'remove', path: 'emails[type eq "home"]' }],
    changed({ emails: [WORK_EMAIL] }),
  ],
  [
    'remove with an and-ed filter',
    [{ op: 'remove', path: 'emails[type eq "work" and value ew "fabrikam.example"]' }],
    changed({ emails: [HOME_EMAIL] }),
  ],
  [
    'remove a sub-attribute of the filtered values',
    [{ op: 'remove', path: 'emails[type eq "work"].primary' }],
    changed({ emails: [{ value: 'kim@fabrikam.example', type: 'work' }, HOME_EMAIL] }),
  ],
  [
    'remove with a filter matching nothing is no change, not an error',
    [{ op: 'remove', path: 'emails[type eq "other"]' }],
    changed({}),
  ],
  [
    'remove with a value list removes the listed values only',
    [{ op: 'remove', path: 'emails', value: [{ value: 'KIM@home.example' }] }],
    changed({ emails: [WORK_EMAIL] }),
  ],
  ['remove a multi-valued attribute', [{ op: 'remove', path: 'emails' }], changed({ emails: undefined })],
  [
    'replace a multi-valued attribute without a filter replaces all of it',
    [{ op: 'replace', path: 'emails', value: [{ value: 'only@x.example' }] }],
    changed({ emails: [{ value: 'only@x.example' }] }),
  ],
  [
    'replace of a complex attribute leaves unnamed sub-attributes unchanged (§3.5.2.3)',
    [{ op: 'replace', path: 'name', value: { givenName: 'Kimberly' } }],
    changed({ name: { givenName: 'Kimberly', familyName: 'Lee' } }),
  ],
  [
    'add a sub-attribute',
    [{ op: 'add', path: 'name.middleName', value: 'J' }],
    changed({ name: { givenName: 'Kim', familyName: 'Lee', middleName: 'J' } }),
  ],
  [
    'remove a sub-attribute',
    [{ op: 'remove', path: 'name.givenName' }],
    changed({ name: { familyName: 'Lee' } }),
  ],
  ['remove a sub-attribute that is not set', [{ op: 'remove', path: 'name.middleName' }], changed({})],
  ['remove an attribute that is not set', [{ op: 'remove', path: 'title' }], changed({})],
  [
    'setting primary through a filtered path clears the other primary',
    [{ op: 'replace', path: 'emails[type eq "home"].primary', value: true }],
    changed({
      emails: [
        { ...WORK_EMAIL, primary: false },
        { ...HOME_EMAIL, primary: true },
      ],
    }),
  ],
  ['remove a whole extension', [{ op: 'remove', path: ENTERPRISE }], changed({ [ENTERPRISE]: undefined })],
  [
    'replace a whole extension object',
    [{ op: 'replace', path: ENTERPRISE, value: { department: 'Ops' } }],
    changed({ [ENTERPRISE]: { department: 'Ops', manager: { value: MANAGER_ID } } }),
  ],
  [
    'the orgsync extension departmentPath',
    [{ op: 'add', path: `${ORGSYNC}:departmentPath`, value: 'Sales/EMEA' }],
    changed({ [ORGSYNC]: { departmentPath: 'Sales/EMEA' } }),
  ],
  [
    'operations see what earlier operations did',
    [
      { op: 'add', path: 'emails', value: [{ value: 'k@other.example', type: 'other' }] },
      { op: 'replace', path: 'emails[type eq "other"].value', value: 'k2@other.example' },
    ],
    changed({ emails: [WORK_EMAIL, HOME_EMAIL, { value: 'k2@other.example', type: 'other' }] }),
  ],
  [
    'attribute names in paths ignore case',
    [{ op: 'replace', path: 'DISPLAYNAME', value: 'KL' }],
    changed({ displayName: 'KL' }),
  ],
]

describe('patchUser', () => {
  test.each([
    ...entraCases.map((c) => ['Entra', ...c]),
    ...oktaCases.map((c) => ['Okta', ...c]),
    ...rfcCases.map((c) => ['RFC', ...c]),
  ] as [string, ...Case][])('%s: %s', async (_, __, operations, expected) => {
    const result = await patchUser(current, patchOp(...operations))
    expect(result).toEqual(expected)
    // Stored documents come out canonical: what validateUser makes of them is themselves.
    expect(validateUser(result)).toEqual(result)
  })

  test('never changes the current document', async () => {
    const before = structuredClone(current)
    const result = await patchUser(
      current,
      patchOp(
        { op: 'remove', path: 'emails[type eq "home"]' },
        { op: 'replace', path: 'name.givenName', value: 'K' },
      ),
    )
    expect(current).toEqual(before)
    expect(result).not.toBe(current)
  })

  test.each<[string, unknown, ExpectedScimError]>([
    ['a body that is not an object', 'replace', { scimType: 'invalidSyntax', detail: /PatchOp message/ }],
    [
      'schemas without the PatchOp URN',
      { schemas: [CORE_USER], Operations: [{ op: 'add', path: 'title', value: 'x' }] },
      { scimType: 'invalidSyntax', detail: /"schemas" must be/ },
    ],
    ['no Operations', { schemas: [PATCH_OP] }, { scimType: 'invalidSyntax', detail: /non-empty array/ }],
    ['empty Operations', patchOp(), { scimType: 'invalidSyntax', detail: /non-empty array/ }],
    [
      'an operation that is not an object',
      patchOp('add'),
      { scimType: 'invalidSyntax', detail: /PATCH operation 1 must be an object/ },
    ],
    [
      'an unknown op',
      patchOp({ op: 'merge', path: 'title', value: 'x' }),
      { scimType: 'invalidSyntax', detail: /"op" must be add, remove or replace/ },
    ],
    [
      'a path that is not a string',
      patchOp({ op: 'add', path: 7, value: 'x' }),
      { scimType: 'invalidPath', detail: /"path" must be a string/ },
    ],
    [
      'a remove without a path',
      patchOp({ op: 'remove' }),
      { scimType: 'noTarget', detail: /a remove needs a "path"/ },
    ],
    [
      'an add without a value',
      patchOp({ op: 'add', path: 'title' }),
      { scimType: 'invalidValue', detail: /needs a "value"/ },
    ],
    [
      'an unknown attribute',
      patchOp({ op: 'replace', path: 'shoeSize', value: 42 }),
      { scimType: 'invalidPath', detail: /has no attribute "shoeSize"/ },
    ],
    [
      'an unknown sub-attribute',
      patchOp({ op: 'replace', path: 'name.nick', value: 'K' }),
      { scimType: 'invalidPath', detail: /name has no sub-attribute "nick"/ },
    ],
    [
      'a sub-attribute of a simple attribute',
      patchOp({ op: 'replace', path: 'title.text', value: 'K' }),
      { scimType: 'invalidPath', detail: /it is not complex/ },
    ],
    [
      'an unknown schema URN',
      patchOp({ op: 'replace', path: 'urn:example:custom:User:badge', value: '7' }),
      { scimType: 'invalidPath', detail: /"urn:example:custom:User" is not a schema of the User/ },
    ],
    [
      'an extension attribute without its URN',
      patchOp({ op: 'replace', path: 'department', value: 'Ops' }),
      { scimType: 'invalidPath', detail: /no attribute "department"/ },
    ],
    [
      'a malformed path',
      patchOp({ op: 'replace', path: 'emails[type eq "work"', value: 'x' }),
      { scimType: 'invalidPath', detail: /missing "\]"/ },
    ],
    [
      'a filter on a single-valued attribute',
      patchOp({ op: 'replace', path: 'name[givenName eq "Kim"].familyName', value: 'x' }),
      { scimType: 'invalidPath', detail: /name is not one/ },
    ],
    [
      'a filter naming no sub-attribute',
      patchOp({ op: 'remove', path: 'emails[label eq "x"]' }),
      { scimType: 'invalidPath', detail: /"label" is not a sub-attribute of emails/ },
    ],
    [
      'a sub-attribute of every value',
      patchOp({ op: 'replace', path: 'emails.value', value: 'x' }),
      { scimType: 'invalidPath', detail: /select them with a filter/ },
    ],
    [
      'a filter in a path-less key',
      patchOp({ op: 'add', value: { 'emails[type eq "work"].value': 'x' } }),
      { scimType: 'invalidPath', detail: /belongs in "path"/ },
    ],
    [
      'a path-less unknown key',
      patchOp({ op: 'replace', value: { shoeSize: 42 } }),
      { scimType: 'invalidPath', detail: /no attribute "shoeSize"/ },
    ],
    [
      'a path-less value that is not an object',
      patchOp({ op: 'replace', value: [1] }),
      { scimType: 'invalidValue', detail: /without a path, "value" must be an object/ },
    ],
    [
      'the readOnly id',
      patchOp({ op: 'replace', path: 'id', value: 'x' }),
      { scimType: 'mutability', detail: /id is read-only/ },
    ],
    [
      'the readOnly meta, path-less',
      patchOp({ op: 'replace', value: { meta: { version: '1' } } }),
      { scimType: 'mutability', detail: /meta is read-only/ },
    ],
    [
      'the readOnly groups',
      patchOp({ op: 'add', path: 'groups', value: [{ value: 'g1' }] }),
      { scimType: 'mutability', detail: /groups is read-only/ },
    ],
    [
      'the readOnly personId',
      patchOp({ op: 'replace', path: `${ORGSYNC}:personId`, value: 'p' }),
      { scimType: 'mutability', detail: /personId is read-only/ },
    ],
    [
      'the readOnly manager.displayName',
      patchOp({ op: 'replace', path: `${ENTERPRISE}:manager.displayName`, value: 'B' }),
      { scimType: 'mutability', detail: /manager\.displayName is read-only/ },
    ],
    [
      'removing the required userName',
      patchOp({ op: 'remove', path: 'userName' }),
      { scimType: 'mutability', detail: /userName is required and cannot be removed/ },
    ],
    [
      'emptying the required userName',
      patchOp({ op: 'replace', path: 'userName', value: '' }),
      { scimType: 'invalidValue', detail: /userName is required/ },
    ],
    [
      'a number for a string',
      patchOp({ op: 'replace', path: 'userName', value: 42 }),
      {
        scimType: 'invalidValue',
        detail: /^PATCH operation 1 \(replace userName\): .*'userName' expected value type 'string'/,
      },
    ],
    [
      'a number through a value filter, in the second operation',
      patchOp(
        { op: 'replace', path: 'title', value: 'x' },
        { op: 'replace', path: 'emails[type eq "work"].value', value: 42 },
      ),
      {
        scimType: 'invalidValue',
        detail:
          /^PATCH operation 2 \(replace emails\[type eq "work"\]\.value\): .*'value' expected value type 'string'/,
      },
    ],
    [
      'a word for a boolean',
      patchOp({ op: 'replace', path: 'active', value: 'maybe' }),
      { scimType: 'invalidValue', detail: /'active' expected value type 'boolean'/ },
    ],
    [
      'an object for a complex attribute given as string',
      patchOp({ op: 'replace', path: 'name', value: 'Kim' }),
      { scimType: 'invalidValue', detail: /name is complex/ },
    ],
    [
      'an unknown attribute inside a value',
      patchOp({ op: 'add', path: 'emails', value: [{ value: 'x@y.example', label: 'x' }] }),
      { scimType: 'invalidSyntax', detail: /unknown attribute "emails\[0\]\.label"/ },
    ],
    [
      'a filter matching nothing that does not say what to create',
      patchOp({ op: 'replace', path: 'emails[value co "nowhere"].type', value: 'other' }),
      { scimType: 'noTarget', detail: /no emails value matches the filter/ },
    ],
    [
      'two primary values in a replace',
      patchOp({
        op: 'replace',
        path: 'emails',
        value: [
          { value: 'a@x.example', primary: true },
          { value: 'b@x.example', primary: true },
        ],
      }),
      { scimType: 'invalidValue', detail: /2 values are marked primary/ },
    ],
  ])('refuses %s', async (_, body, expected) => {
    await expectScimRejection(() => patchUser(current, body), expected)
  })
})
