import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Schemas, Types } from 'scimmy'
import {
  CORE_GROUP_URN,
  CORE_USER_URN,
  ENTERPRISE_USER_URN,
  ORGSYNC_USER_URN,
  SCHEMA_URN,
  schemaDocument,
  schemaDocuments,
  scimmyDeclarations,
  validateUser,
  type AttributeDocument,
} from '../../../src/scim/schema'

const SCHEMAS_DIR = join(__dirname, '..', '..', '..', 'schemas')

/** `emails.value`, `urn:…:User:manager.displayName`: one attribute of one document. */
function attributeAt(urn: string, path: string): AttributeDocument {
  const [name, sub] = path.split('.')
  const attribute = schemaDocument(urn).attributes.find((a) => a.name === name)
  const found = sub === undefined ? attribute : attribute?.subAttributes?.find((s) => s.name === sub)
  if (!found) throw new Error(`${urn} has no ${path}`)
  return found
}

describe('schema JSON files', () => {
  test('each file is an RFC 7643 §7 Schema resource without meta, and the loader serves all four', () => {
    const files = readdirSync(SCHEMAS_DIR).filter((f) => f.endsWith('.schema.json'))
    expect(files.sort()).toEqual([
      'enterprise-user.schema.json',
      'group.schema.json',
      'orgsync-user.schema.json',
      'user.schema.json',
    ])
    for (const file of files) {
      const doc = JSON.parse(readFileSync(join(SCHEMAS_DIR, file), 'utf8')) as Record<string, unknown>
      expect(doc.schemas).toEqual([SCHEMA_URN])
      expect(doc).not.toHaveProperty('meta')
      expect(Object.keys(doc).sort()).toEqual(['attributes', 'description', 'id', 'name', 'schemas'])
    }
    expect(schemaDocuments().map((d) => d.id)).toEqual([
      CORE_USER_URN,
      ENTERPRISE_USER_URN,
      ORGSYNC_USER_URN,
      CORE_GROUP_URN,
    ])
    expect(Object.isFrozen(schemaDocument(CORE_USER_URN).attributes[0])).toBe(true)
  })

  // RFC 7643 §8.7.1, characteristic by characteristic, for the attributes the brief names.
  test.each<[string, string, string, Partial<AttributeDocument>]>([
    [
      'core User',
      'userName',
      CORE_USER_URN,
      {
        type: 'string',
        multiValued: false,
        required: true,
        caseExact: false,
        mutability: 'readWrite',
        returned: 'default',
        uniqueness: 'server',
      },
    ],
    [
      'core User',
      'password',
      CORE_USER_URN,
      { type: 'string', required: false, mutability: 'writeOnly', returned: 'never', uniqueness: 'none' },
    ],
    ['core User', 'active', CORE_USER_URN, { type: 'boolean', multiValued: false, mutability: 'readWrite' }],
    [
      'core User',
      'emails',
      CORE_USER_URN,
      { type: 'complex', multiValued: true, required: false, mutability: 'readWrite', returned: 'default' },
    ],
    [
      'core User',
      'emails.value',
      CORE_USER_URN,
      { type: 'string', caseExact: false, mutability: 'readWrite' },
    ],
    [
      'core User',
      'emails.type',
      CORE_USER_URN,
      { type: 'string', canonicalValues: ['work', 'home', 'other'] },
    ],
    ['core User', 'emails.primary', CORE_USER_URN, { type: 'boolean' }],
    [
      'core User',
      'phoneNumbers.type',
      CORE_USER_URN,
      { canonicalValues: ['work', 'home', 'mobile', 'fax', 'pager', 'other'] },
    ],
    ['core User', 'profileUrl', CORE_USER_URN, { type: 'reference', referenceTypes: ['external'] }],
    ['core User', 'groups', CORE_USER_URN, { type: 'complex', multiValued: true, mutability: 'readOnly' }],
    [
      'core User',
      'groups.$ref',
      CORE_USER_URN,
      { type: 'reference', referenceTypes: ['User', 'Group'], mutability: 'readOnly' },
    ],
    ['core User', 'x509Certificates.value', CORE_USER_URN, { type: 'binary', caseExact: true }],
    [
      'core Group',
      'displayName',
      CORE_GROUP_URN,
      { type: 'string', required: true, mutability: 'readWrite' },
    ],
    [
      'core Group',
      'members',
      CORE_GROUP_URN,
      { type: 'complex', multiValued: true, mutability: 'readWrite' },
    ],
    ['core Group', 'members.value', CORE_GROUP_URN, { type: 'string', mutability: 'immutable' }],
    [
      'core Group',
      'members.$ref',
      CORE_GROUP_URN,
      { type: 'reference', referenceTypes: ['User', 'Group'], mutability: 'immutable' },
    ],
    [
      'core Group',
      'members.type',
      CORE_GROUP_URN,
      { canonicalValues: ['User', 'Group'], mutability: 'immutable' },
    ],
    [
      'enterprise User',
      'manager',
      ENTERPRISE_USER_URN,
      { type: 'complex', multiValued: false, mutability: 'readWrite' },
    ],
    ['enterprise User', 'manager.value', ENTERPRISE_USER_URN, { type: 'string', mutability: 'readWrite' }],
    ['enterprise User', 'manager.$ref', ENTERPRISE_USER_URN, { type: 'reference', referenceTypes: ['User'] }],
    [
      'enterprise User',
      'manager.displayName',
      ENTERPRISE_USER_URN,
      { type: 'string', mutability: 'readOnly' },
    ],
    [
      'orgsync User',
      'departmentPath',
      ORGSYNC_USER_URN,
      { type: 'string', mutability: 'readWrite', returned: 'default' },
    ],
    [
      'orgsync User',
      'personId',
      ORGSYNC_USER_URN,
      { type: 'string', mutability: 'readOnly', returned: 'default' },
    ],
  ])('%s %s', (_, path, urn, expected) => {
    expect(attributeAt(urn, path)).toMatchObject(expected)
  })

  test('group members have value, display, $ref and type, and the member list is all there is', () => {
    const members = attributeAt(CORE_GROUP_URN, 'members')
    expect(members.subAttributes?.map((s) => s.name)).toEqual(['value', 'display', '$ref', 'type'])
    expect(schemaDocument(CORE_GROUP_URN).attributes.map((a) => a.name)).toEqual(['displayName', 'members'])
  })
})

describe('SCIMMY definitions built from the JSON', () => {
  const characteristics = (a: AttributeDocument): unknown => ({
    name: a.name,
    type: a.type,
    multiValued: a.multiValued,
    required: a.required,
    mutability: a.mutability,
    returned: a.returned,
    ...(a.type === 'reference' ? { referenceTypes: a.referenceTypes } : {}),
    ...(a.subAttributes ? { subAttributes: a.subAttributes.map(characteristics) } : {}),
  })

  // If SCIMMY's description of an attribute matches the document, its coercion enforces the document.
  test.each([
    ['User', CORE_USER_URN, () => scimmyDeclarations().user],
    ['Group', CORE_GROUP_URN, () => scimmyDeclarations().group],
  ])('%s: SCIMMY describes every attribute as the JSON does', (_, urn, definition) => {
    const described = JSON.parse(JSON.stringify(definition().describe().attributes)) as AttributeDocument[]
    expect(described.map(characteristics)).toEqual(schemaDocument(urn).attributes.map(characteristics))
  })

  test('the User definition carries both extensions, the orgsync one under its own URN', () => {
    const { user } = scimmyDeclarations()
    expect(user.attribute(`${ENTERPRISE_USER_URN}:manager`).name).toBe('manager')
    expect(user.attribute(`${ORGSYNC_USER_URN}:departmentPath`).name).toBe('departmentPath')
  })

  test('built once: later calls return the same definitions', () => {
    expect(scimmyDeclarations()).toBe(scimmyDeclarations())
  })
})

describe('independence from process-wide SCIMMY declarations', () => {
  test("changing SCIMMY's own User singleton changes nothing here", () => {
    // Anyone in the process may extend, truncate or declare SCIMMY's shared schemas.
    Schemas.User.extend([new Types.Attribute('string', 'shoeSize')])
    Schemas.User.truncate('emails')
    Schemas.declare(Schemas.User.definition)
    expect(
      validateUser({
        schemas: [CORE_USER_URN],
        userName: 'kim',
        emails: [{ value: 'k@x.example', type: 'work' }],
      }),
    ).toEqual({ schemas: [CORE_USER_URN], userName: 'kim', emails: [{ value: 'k@x.example', type: 'work' }] })
    expect(() => validateUser({ schemas: [CORE_USER_URN], userName: 'kim', shoeSize: '44' })).toThrow(
      /shoeSize/,
    )
  })
})
