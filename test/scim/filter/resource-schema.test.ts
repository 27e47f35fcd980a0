import {
  attribute,
  column,
  defineResourceSchema,
  filterToSql,
  jsonPath,
  parseFilter,
  ScimFilterError,
  userFilterSchema,
  type ResourceFilterSchema,
} from '../../../src/scim/filter'
import { matchesFilter } from '../../../src/scim/filter/evaluate-filter'
import { probeGroupTableSchema, probeUserSchema } from './probe-table'

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'

/** Both consumers of a bound filter must refuse it the same way. */
function refusals(filter: string, schema: ResourceFilterSchema = probeUserSchema): ScimFilterError[] {
  const node = parseFilter(filter)
  const caught: ScimFilterError[] = []
  for (const run of [() => filterToSql(node, schema), () => matchesFilter(node, {}, schema)]) {
    try {
      run()
    } catch (err) {
      if (err instanceof ScimFilterError) caught.push(err)
      else throw err
    }
  }
  return caught
}

describe('filters the schema cannot answer are 400 invalidFilter, never "no results"', () => {
  // [filter, part of the message]
  const invalid: [string, string][] = [
    ['nickname eq 1', 'nickName is a string attribute; 1 is not a string value'],
    ['foo eq "x"', 'unknown attribute "foo" for User'],
    ['groups.value eq "x"', 'unknown attribute "groups"'],
    ['meta.resourceType eq "User"', 'meta has no sub-attribute "resourceType"'],
    ['meta.version pr', 'meta has no sub-attribute "version"'],
    ['emails.foo eq "x"', 'emails has no sub-attribute "foo"'],
    ['userName.first eq "x"', 'userName is a string attribute and has no sub-attribute "first"'],
    ['name eq "x"', 'name is complex: name one of its sub-attributes, e.g. name.formatted'],
    ['addresses co "x"', 'addresses is complex'],
    ['urn:example:unknown:1.0:User:userName eq "x"', 'unknown schema "urn:example:unknown:1.0:User"'],
    [`${ENTERPRISE}:userName eq "x"`, 'unknown attribute "userName"'],
    ['urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"', 'unknown schema'],
    ['active gt true', '"gt" does not apply to active'],
    ['active co "t"', '"co" does not apply to active'],
    ['active eq "true"', 'active is a boolean attribute; "true" is not a boolean value'],
    ['active eq 1', 'is not a boolean value'],
    ['userName eq 5', 'userName is a string attribute; 5 is not a string value'],
    ['userName eq true', 'is not a string value'],
    ['userName gt null', '"gt" cannot compare with null'],
    ['userName co null', '"co" cannot compare with null'],
    ['meta.lastModified co "2011"', '"co" does not apply to lastModified'],
    ['meta.lastModified gt "yesterday"', 'is not a date-time'],
    ['meta.lastModified gt "2011-02-30T00:00:00Z"', 'is not a date-time'],
    ['meta.lastModified gt "2011-05-13T24:00:00Z"', 'is not a date-time'],
    ['meta.lastModified gt 1305261754', 'is not a date-time'],
    [
      'title[value eq "x"]',
      'a value filter [...] applies to a complex attribute; title is a string attribute',
    ],
    ['schemas[value eq "x"]', 'schemas is a multi-valued reference attribute'],
    ['emails[foo eq "x"]', 'emails has no sub-attribute "foo"'],
    ['emails[type.x eq "y"]', 'inside emails[...] name a sub-attribute of emails alone'],
    [`emails[${ENTERPRISE}:type eq "y"]`, 'inside emails[...]'],
    ['emails[primary eq "yes"]', 'primary is a boolean attribute'],
    ['meta[created co "2011"]', '"co" does not apply to created'],
    ['meta[resourceType eq "User"]', 'meta has no sub-attribute "resourceType"'],
  ]

  test.each(invalid)('%s', (filter, message) => {
    const errors = refusals(filter)
    expect(errors).toHaveLength(2)
    for (const err of errors) {
      expect(err.scimType).toBe('invalidFilter')
      expect(err.message).toMatch(/^invalid filter at position \d+: /)
      expect(err.message).toContain(message)
    }
  })

  test('a child-table attribute only has the sub-attributes the table stores', () => {
    expect(refusals('members.$ref pr', probeGroupTableSchema)).toHaveLength(2)
    expect(refusals('members.display pr', probeGroupTableSchema)).toHaveLength(0)
  })

  test('the error points at the attribute', () => {
    const [err] = refusals('userName eq "x" and bogus pr')
    expect(err?.position).toBe(20)
  })
})

describe('the reference evaluator on its own', () => {
  const match = (filter: string, resource: Record<string, unknown>) =>
    matchesFilter(parseFilter(filter), resource, probeUserSchema)

  test('strings order by code point, as COLLATE "C" does (not by UTF-16 unit)', () => {
    // U+FF21 (fullwidth A) < U+1F600 (an emoji), though its UTF-16 unit 0xFF21 > 0xD83D.
    expect(match('title lt "😀"', { title: 'Ａｄｍｉｎ' })).toBe(true)
    expect(match('title gt "😀"', { title: 'Ａｄｍｉｎ' })).toBe(false)
  })

  test('lower case per code point, as PostgreSQL lower() does', () => {
    expect(match('title eq "ilker"', { title: 'İlker' })).toBe(true)
    expect(match('title eq "σοφίασ"', { title: 'ΣΟΦΊΑΣ' })).toBe(true)
    expect(match('title eq "σοφίας"', { title: 'ΣΟΦΊΑΣ' })).toBe(false)
  })

  test('ill-typed stored values count as missing', () => {
    expect(match('active eq false', { active: 'False' })).toBe(false)
    expect(match('title pr', { title: 42 })).toBe(false)
    expect(match('emails.value eq "a@b"', { emails: { value: 'a@b' } })).toBe(false)
  })
})

describe('defineResourceSchema checks a description once, so SQL can trust its names', () => {
  const base = { resourceType: 'Thing', table: 't', jsonColumn: 'doc', extensions: [] }
  const withAttributes = (...attributes: ReturnType<typeof attribute>[]) =>
    defineResourceSchema({ ...base, core: { urn: 'urn:example:Thing', attributes } })

  test('plain identifiers only', () => {
    expect(() =>
      defineResourceSchema({ ...base, table: 't; drop', core: { urn: 'u', attributes: [] } }),
    ).toThrow(/not a plain SQL identifier/)
    expect(() => withAttributes(attribute('a', 'string', { storage: column('a"b', 'text') }))).toThrow(
      /not a plain SQL identifier/,
    )
  })

  test('JSON keys that are safe as SQL literals', () => {
    expect(() => withAttributes(attribute('a', 'string', { storage: jsonPath("a'b") }))).toThrow(/JSON key/)
  })

  test('storage that fits the attribute', () => {
    expect(() => withAttributes(attribute('a', 'boolean', { storage: column('a', 'text') }))).toThrow(
      /cannot live in/,
    )
    expect(() =>
      withAttributes(attribute('a', 'string', { multiValued: true, storage: column('a', 'text') })),
    ).toThrow(/single-valued simple/)
    expect(() => withAttributes(attribute('a', 'complex'))).toThrow(/needs sub-attributes/)
    expect(() =>
      withAttributes(
        attribute('a', 'complex', {
          subAttributes: [attribute('b', 'string', { storage: column('b', 'text') })],
        }),
      ),
    ).toThrow(/JSON too/)
    expect(() => withAttributes(attribute('a', 'string'), attribute('A', 'string'))).toThrow(/appears twice/)
  })

  test("the ready-made User description takes the SCIM layer's names", () => {
    const schema = userFilterSchema({
      table: 'u',
      jsonColumn: 'doc',
      idColumn: 'scim_id',
      idColumnType: 'text',
      userNameColumn: 'user_name',
      externalIdColumn: 'external_id',
      activeColumn: 'active',
      createdColumn: 'created_at',
      updatedColumn: 'updated_at',
    })
    const names = schema.core.attributes.map((a) => a.name)
    expect(names).toEqual(
      expect.arrayContaining(['id', 'userName', 'name', 'emails', 'active', 'meta', 'externalId']),
    )
    expect(schema.core.attributes.find((a) => a.name === 'active')?.storage).toEqual(
      column('active', 'boolean'),
    )
    expect(schema.extensions[0]?.urn).toBe(ENTERPRISE)
  })
})
