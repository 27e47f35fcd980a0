import { MAX_PATCH_MEMBER_VALUES, parseGroupPatch, type GroupPatchStep } from '../../../src/scim/schema'
import { CORE_GROUP, patchOp } from './provider-requests'
import { expectScimError, type ExpectedScimError } from './scim-error-matchers'

const A = 'a0000000-0000-4000-8000-00000000000a'
const B = 'b0000000-0000-4000-8000-00000000000b'
const C = 'c0000000-0000-4000-8000-00000000000c'

describe('parseGroupPatch', () => {
  test.each<[string, unknown[], GroupPatchStep[]]>([
    // Entra
    [
      'Entra: Add members with a value array ($ref null)',
      [
        {
          op: 'Add',
          path: 'members',
          value: [
            { $ref: null, value: A },
            { $ref: null, value: B },
          ],
        },
      ],
      [{ kind: 'addMembers', ids: [A, B] }],
    ],
    [
      'Entra: Remove members with a value array removes only those',
      [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: A }] }],
      [{ kind: 'removeMembers', ids: [A] }],
    ],
    [
      'Entra: Replace displayName',
      [{ op: 'Replace', path: 'displayName', value: 'Store Leads (EU)' }],
      [{ kind: 'set', attribute: 'displayName', value: 'Store Leads (EU)' }],
    ],
    // Okta
    [
      'Okta: path-less replace of id and displayName (the id is ignored)',
      [{ op: 'replace', value: { id: 'grp-1', displayName: 'Engineering' } }],
      [{ kind: 'set', attribute: 'displayName', value: 'Engineering' }],
    ],
    [
      'Okta: remove members[value eq "id"]',
      [{ op: 'remove', path: `members[value eq "${A}"]` }],
      [{ kind: 'removeMembers', ids: [A] }],
    ],
    [
      'Okta: replace members with a value array',
      [{ op: 'replace', path: 'members', value: [{ value: A, display: 'a@x.example' }, { value: C }] }],
      [{ kind: 'replaceMembers', ids: [A, C] }],
    ],
    [
      'Okta: add members with display',
      [{ op: 'add', path: 'members', value: [{ value: B, display: 'b@x.example' }] }],
      [{ kind: 'addMembers', ids: [B] }],
    ],
    // RFC 7644 §3.5.2
    [
      'remove members[value eq …] with or-ed values',
      [{ op: 'remove', path: `members[value eq "${A}" or value eq "${B}" or VALUE eq "${A}"]` }],
      [{ kind: 'removeMembers', ids: [A, B] }],
    ],
    [
      'remove members without a value: all of them',
      [{ op: 'remove', path: 'members' }],
      [{ kind: 'removeAllMembers' }],
    ],
    [
      'replace members with null: none left',
      [{ op: 'replace', path: 'members', value: null }],
      [{ kind: 'removeAllMembers' }],
    ],
    [
      'replace members with []: none left',
      [{ op: 'replace', path: 'members', value: [] }],
      [{ kind: 'replaceMembers', ids: [] }],
    ],
    [
      'path-less add of members',
      [{ op: 'add', value: { members: [{ value: A }] } }],
      [{ kind: 'addMembers', ids: [A] }],
    ],
    [
      'path-less replace of members and displayName, in key order',
      [{ op: 'replace', value: { members: [{ value: A }], displayName: 'Ops' } }],
      [
        { kind: 'replaceMembers', ids: [A] },
        { kind: 'set', attribute: 'displayName', value: 'Ops' },
      ],
    ],
    [
      'externalId set',
      [{ op: 'add', path: 'externalId', value: 'ext-9' }],
      [{ kind: 'set', attribute: 'externalId', value: 'ext-9' }],
    ],
    [
      'externalId removed',
      [{ op: 'remove', path: 'externalId' }],
      [{ kind: 'set', attribute: 'externalId', value: null }],
    ],
    [
      'externalId emptied',
      [{ op: 'replace', path: 'externalId', value: '' }],
      [{ kind: 'set', attribute: 'externalId', value: null }],
    ],
    [
      'a core-URN-prefixed path',
      [{ op: 'replace', path: `${CORE_GROUP}:displayName`, value: 'Ops' }],
      [{ kind: 'set', attribute: 'displayName', value: 'Ops' }],
    ],
    [
      'attribute names ignore case',
      [{ op: 'ADD', path: 'MEMBERS', value: [{ VALUE: A }] }],
      [{ kind: 'addMembers', ids: [A] }],
    ],
    [
      'a single member object instead of an array',
      [{ op: 'add', path: 'members', value: { value: A } }],
      [{ kind: 'addMembers', ids: [A] }],
    ],
    [
      'the same id twice is added once',
      [{ op: 'add', path: 'members', value: [{ value: A }, { value: A }] }],
      [{ kind: 'addMembers', ids: [A] }],
    ],
    ['adding no members is no step', [{ op: 'add', path: 'members', value: [] }], []],
    [
      'steps keep request order across operations',
      [
        { op: 'remove', path: 'members' },
        { op: 'add', path: 'members', value: [{ value: C }] },
        { op: 'replace', path: 'displayName', value: 'New' },
        { op: 'remove', path: `members[value eq "${C}"]` },
      ],
      [
        { kind: 'removeAllMembers' },
        { kind: 'addMembers', ids: [C] },
        { kind: 'set', attribute: 'displayName', value: 'New' },
        { kind: 'removeMembers', ids: [C] },
      ],
    ],
  ])('%s', (_, operations, expected) => {
    expect(parseGroupPatch(patchOp(...operations))).toEqual(expected)
  })

  test(`${MAX_PATCH_MEMBER_VALUES} member values in one body are accepted`, () => {
    const members = Array.from({ length: MAX_PATCH_MEMBER_VALUES / 2 }, (_, i) => ({ value: `u${i}` }))
    const steps = parseGroupPatch(
      patchOp(
        { op: 'add', path: 'members', value: members },
        { op: 'remove', path: 'members', value: members },
      ),
    )
    expect(steps.map((s) => s.kind)).toEqual(['addMembers', 'removeMembers'])
  })

  const manyMembers = (n: number) => Array.from({ length: n }, (_, i) => ({ value: `u${i}` }))

  test.each<[string, unknown, ExpectedScimError]>([
    [
      'a body without the PatchOp URN',
      { schemas: [CORE_GROUP], Operations: [{ op: 'add', path: 'members', value: [] }] },
      { scimType: 'invalidSyntax', detail: /"schemas" must be/ },
    ],
    ['empty Operations', patchOp(), { scimType: 'invalidSyntax', detail: /non-empty array/ }],
    [
      'an unknown op',
      patchOp({ op: 'upsert', path: 'members', value: [] }),
      { scimType: 'invalidSyntax', detail: /"op" must be/ },
    ],
    [
      'a remove without a path',
      patchOp({ op: 'remove' }),
      { scimType: 'noTarget', detail: /needs a "path"/ },
    ],
    [
      'an unknown attribute',
      patchOp({ op: 'replace', path: 'owner', value: 'kim' }),
      { scimType: 'invalidPath', detail: /no attribute "owner"/ },
    ],
    [
      'an unknown path-less key',
      patchOp({ op: 'replace', value: { owner: 'kim' } }),
      { scimType: 'invalidPath', detail: /no attribute "owner"/ },
    ],
    [
      'the readOnly id as a path',
      patchOp({ op: 'replace', path: 'id', value: 'x' }),
      { scimType: 'mutability', detail: /id is read-only/ },
    ],
    [
      'the readOnly meta',
      patchOp({ op: 'replace', value: { meta: {} } }),
      { scimType: 'mutability', detail: /meta is read-only/ },
    ],
    [
      'removing the required displayName',
      patchOp({ op: 'remove', path: 'displayName' }),
      { scimType: 'mutability', detail: /displayName is required/ },
    ],
    [
      'emptying displayName',
      patchOp({ op: 'replace', path: 'displayName', value: '' }),
      { scimType: 'invalidValue', detail: /displayName is required/ },
    ],
    [
      'a number for displayName',
      patchOp({ op: 'replace', path: 'displayName', value: 5 }),
      { scimType: 'invalidValue', detail: /displayName must be a string, found the number 5/ },
    ],
    [
      'a member sub-attribute path',
      patchOp({ op: 'replace', path: `members[value eq "${A}"].display`, value: 'x' }),
      { scimType: 'invalidPath', detail: /kept by id only/ },
    ],
    [
      'members.value without a filter',
      patchOp({ op: 'remove', path: 'members.value' }),
      { scimType: 'invalidPath', detail: /kept by id only/ },
    ],
    [
      'a filtered members path on add',
      patchOp({ op: 'add', path: `members[value eq "${A}"]`, value: { value: A } }),
      { scimType: 'invalidPath', detail: /only works with remove/ },
    ],
    [
      'a members filter other than value eq',
      patchOp({ op: 'remove', path: 'members[display eq "Kim"]' }),
      { scimType: 'invalidPath', detail: /must be value eq/ },
    ],
    [
      'an and-ed members filter',
      patchOp({ op: 'remove', path: `members[value eq "${A}" and type eq "User"]` }),
      { scimType: 'invalidPath', detail: /must be value eq/ },
    ],
    [
      'a malformed path',
      patchOp({ op: 'remove', path: 'members[value eq ]' }),
      { scimType: 'invalidPath', detail: /invalid path/ },
    ],
    [
      'an empty id in a filter',
      patchOp({ op: 'remove', path: 'members[value eq ""]' }),
      { scimType: 'invalidValue', detail: /non-empty strings/ },
    ],
    [
      'a number id in a filter',
      patchOp({ op: 'remove', path: 'members[value eq 12]' }),
      { scimType: 'invalidValue', detail: /the number 12/ },
    ],
    [
      'members that are a string',
      patchOp({ op: 'add', path: 'members', value: A }),
      { scimType: 'invalidValue', detail: /array of \{"value": "<id>"\}/ },
    ],
    [
      'a member that is a string',
      patchOp({ op: 'add', path: 'members', value: [A] }),
      { scimType: 'invalidValue', detail: /members\[0\] must be an object/ },
    ],
    [
      'a member without a value',
      patchOp({ op: 'add', path: 'members', value: [{ display: 'Kim' }] }),
      { scimType: 'invalidValue', detail: /members\[0\]\.value must be a non-empty string/ },
    ],
    [
      'a member with an empty value',
      patchOp({ op: 'remove', path: 'members', value: [{ value: A }, { value: '' }] }),
      { scimType: 'invalidValue', detail: /members\[1\]\.value/ },
    ],
    [
      'a member with a number value',
      patchOp({ op: 'replace', path: 'members', value: [{ value: 42 }] }),
      { scimType: 'invalidValue', detail: /the number 42/ },
    ],
    [
      'an unknown member attribute',
      patchOp({ op: 'add', path: 'members', value: [{ value: A, role: 'owner' }] }),
      { scimType: 'invalidSyntax', detail: /unknown attribute "members\[0\]\.role"/ },
    ],
    [
      `more than ${MAX_PATCH_MEMBER_VALUES} member values in one operation`,
      patchOp({ op: 'add', path: 'members', value: manyMembers(MAX_PATCH_MEMBER_VALUES + 1) }),
      { scimType: 'invalidValue', detail: /more than 10000 member values/ },
    ],
    [
      `more than ${MAX_PATCH_MEMBER_VALUES} member values over several operations`,
      patchOp(
        { op: 'add', path: 'members', value: manyMembers(6000) },
        { op: 'remove', path: 'members', value: manyMembers(4000) },
        { op: 'remove', path: 'members[value eq "x" or value eq "y"]' },
      ),
      { scimType: 'invalidValue', detail: /^PATCH operation 3 .*more than 10000 member values/ },
    ],
  ])('refuses %s', (_, body, expected) => {
    expectScimError(() => parseGroupPatch(body), expected)
  })
})
