import {
  formatFilter,
  formatPatchPath,
  parseFilter,
  parsePatchPath,
  ScimFilterError,
  MAX_FILTER_DEPTH,
} from '../../../src/scim/filter'

/** Parses, then shows the tree as canonical filter text (every nested and/or parenthesised). */
const canonical = (text: string) => formatFilter(parseFilter(text))

describe('parseFilter: the examples of RFC 7644 §3.4.2.2', () => {
  // [filter as the RFC writes it, canonical form of what we parsed]
  const examples: [string, string][] = [
    ['userName eq "bjensen"', 'userName eq "bjensen"'],
    [`name.familyName co "O'Malley"`, `name.familyName co "O'Malley"`],
    ['userName sw "J"', 'userName sw "J"'],
    [
      'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
      'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    ],
    ['title pr', 'title pr'],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', 'meta.lastModified gt "2011-05-13T04:42:34Z"'],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', 'meta.lastModified ge "2011-05-13T04:42:34Z"'],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', 'meta.lastModified lt "2011-05-13T04:42:34Z"'],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', 'meta.lastModified le "2011-05-13T04:42:34Z"'],
    ['title pr and userType eq "Employee"', 'title pr and userType eq "Employee"'],
    ['title pr or userType eq "Intern"', 'title pr or userType eq "Intern"'],
    [
      'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
      'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
    ],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    ],
    [
      'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
      'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
    ],
    [
      'userType eq "Employee" and (emails.type eq "work")',
      'userType eq "Employee" and emails.type eq "work"',
    ],
    [
      'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
      'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
    ],
    [
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    ],
    // "Attribute names and attribute operators used in filters are case insensitive."
    ['userName Eq "john"', 'userName eq "john"'],
    ['Username eq "john"', 'Username eq "john"'],
  ]

  test.each(examples)('%s', (text, expected) => {
    expect(canonical(text)).toBe(expected)
    // The canonical text parses to the same tree.
    expect(canonical(expected)).toBe(expected)
  })
})

describe('parseFilter: the rest of the grammar', () => {
  const cases: [string, string][] = [
    // and binds tighter than or; parentheses regroup
    ['a eq 1 or b eq 2 and c eq 3', 'a eq 1 or (b eq 2 and c eq 3)'],
    ['(a eq 1 or b eq 2) and c eq 3', '(a eq 1 or b eq 2) and c eq 3'],
    ['a eq 1 and b eq 2 and c eq 3', 'a eq 1 and b eq 2 and c eq 3'],
    ['a eq 1 or b eq 2 or c eq 3', 'a eq 1 or b eq 2 or c eq 3'],
    // SCIMMY rejects this one ("Unexpected token ')'"): a negated group inside a group
    ['a co "x" and (b eq "y" or not (c eq true))', 'a co "x" and (b eq "y" or not (c eq true))'],
    ['not (not (a pr))', 'not (not (a pr))'],
    ['((((a pr))))', 'a pr'],
    ['not(a pr)', 'not (a pr)'],
    ['emails[not (type eq "work")]', 'emails[not (type eq "work")]'],
    [
      'emails[type eq "work" or (value pr and not (primary eq false))]',
      'emails[type eq "work" or (value pr and not (primary eq false))]',
    ],
    // operators and keywords in any case, extra whitespace
    [
      'userName EQ "x" AND title PR Or NOT ( active Eq TRUE )',
      '(userName eq "x" and title pr) or not (active eq true)',
    ],
    ['  userName   eq\t"x"  ', 'userName eq "x"'],
    ['userName eq"x"', 'userName eq "x"'],
    ['emails [type eq "work"]', 'emails[type eq "work"]'],
    // every compare operator
    ...['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'].map((op): [string, string] => [
      `displayName ${op} "v"`,
      `displayName ${op} "v"`,
    ]),
    // values: JSON strings with escapes, numbers, true/false/null
    [
      'a eq "quote \\" backslash \\\\ slash \\/ tab \\t \\u00e9 \\ud83d\\ude00"',
      'a eq "quote \\" backslash \\\\ slash / tab \\t é 😀"',
    ],
    ['a eq ""', 'a eq ""'],
    ['a eq "x) or (1 eq 1"', 'a eq "x) or (1 eq 1"'],
    ['a eq 0', 'a eq 0'],
    ['a eq -12.5e3', 'a eq -12500'],
    ['a gt 1E-2', 'a gt 0.01'],
    ['a eq true', 'a eq true'],
    ['a eq False', 'a eq false'],
    ['a eq null', 'a eq null'],
    // schema URIs with dots and colons, sub-attributes, $ref
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"',
    ],
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
    ],
    ['members.$ref pr', 'members.$ref pr'],
    // Entra ID's form (not RFC grammar): a comparison on a sub-attribute after a value filter
    ['emails[type eq "work"].value eq "x"', 'emails[type eq "work" and value eq "x"]'],
    ['emails[type eq "a" or type eq "b"].value pr', 'emails[(type eq "a" or type eq "b") and value pr]'],
    ['x-custom_attr1 pr', 'x-custom_attr1 pr'],
  ]

  test.each(cases)('%s', (text, expected) => {
    expect(canonical(text)).toBe(expected)
    expect(canonical(expected)).toBe(expected)
  })

  test('the tree names paths, operators and values, with positions', () => {
    expect(
      parseFilter(
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m" and emails[type eq "work"]',
      ),
    ).toEqual({
      kind: 'and',
      filters: [
        {
          kind: 'compare',
          path: {
            uri: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
            name: 'manager',
            subAttr: 'value',
            position: 0,
          },
          op: 'eq',
          value: 'm',
        },
        {
          kind: 'valuePath',
          path: { name: 'emails', position: 84 },
          filter: { kind: 'compare', path: { name: 'type', position: 91 }, op: 'eq', value: 'work' },
        },
      ],
    })
  })
})

describe('parseFilter: malformed filters are ScimFilterError (400 invalidFilter)', () => {
  // [filter, position, part of the message]
  const malformed: [string, number, string][] = [
    ['', 0, 'the filter is empty'],
    ['   ', 0, 'the filter is empty'],
    ['userName', 8, 'expected a comparison operator after "userName"'],
    ['userName eq', 11, 'expected a comparison value after "eq"'],
    ['userName eq ', 12, 'expected a comparison value after "eq"'],
    ['userName eq and title pr', 12, 'expected a comparison value after "eq"'],
    ['userName equals "x"', 9, 'unknown operator "equals"'],
    ['userName == "x"', 9, 'unknown operator "=="'],
    ['userName eq bjensen', 12, 'expected a comparison value after "eq"'],
    ["userName eq 'bjensen'", 12, 'expected a comparison value'],
    ['userName eq "x', 12, 'not closed'],
    ['userName eq "bad \\q escape"', 12, 'not a valid JSON string'],
    ['userName eq 01', 12, 'expected a comparison value'],
    ['userName eq 1e999', 12, 'out of range'],
    ['title pr "x"', 9, '"pr" takes no comparison value'],
    ['title pr true', 9, '"pr" takes no comparison value'],
    ['(userName eq "x"', 16, 'missing ")" to close the "(" at position 0'],
    ['userName eq "x")', 15, 'unbalanced ")"'],
    ['((a pr)', 7, 'missing ")"'],
    ['(a pr))', 6, 'unbalanced ")"'],
    ['()', 1, 'expected an attribute path, "not" or "("'],
    ['emails[type eq "work"', 21, 'missing "]" to close the "[" at position 6'],
    ['emails[type eq "work")', 21, 'expected "and", "or" or "]"'],
    ['emails type eq "work"]', 7, 'unknown operator "type"'],
    ['a pr]', 4, 'unbalanced "]"'],
    ['userName eq "x" "y"', 16, 'unexpected "y" after a complete expression'],
    ['userName eq "x" title pr', 16, 'unexpected "title"'],
    ['userName eq "x" and', 19, 'expected an attribute path, "not" or "(", found the end of the text'],
    ['and userName eq "x"', 0, 'expected an attribute path, "not" or "(" before "and"'],
    ['title pr and or userName pr', 13, 'before "or"'],
    ['not userName eq "x"', 4, 'expected "(" after "not"'],
    ['not', 3, 'expected "(" after "not"'],
    ['emails[type eq "work" and members[value eq "x"]]', 33, 'value filters cannot nest'],
    ['emails[type eq "work"].value', 28, 'expected a comparison operator'],
    ['emails[type eq "work"].1x eq "y"', 22, 'is not a sub-attribute name'],
    ['name.givenName[value eq "x"]', 14, 'not the sub-attribute "name.givenName"'],
    ['a.b.c eq "x"', 0, 'more than one sub-attribute'],
    ['1abc eq "x"', 0, 'is not an attribute path'],
    [':userName eq "x"', 0, 'empty schema URI'],
    ['name. eq "x"', 0, 'invalid sub-attribute name'],
    ['"userName" eq "x"', 0, 'expected an attribute path'],
  ]

  test.each(malformed)('%j', (text, position, message) => {
    let caught: unknown
    try {
      parseFilter(text)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ScimFilterError)
    const err = caught as ScimFilterError
    expect(err.scimType).toBe('invalidFilter')
    expect(err.status).toBe(400)
    expect(err.position).toBe(position)
    expect(err.message).toContain(`invalid filter at position ${position}: `)
    expect(err.message).toContain(message)
  })

  test('the message says what and where', () => {
    expect(() => parseFilter('title pr and userName')).toThrow(
      'invalid filter at position 21: expected a comparison operator after "userName"',
    )
  })

  test('deep nesting is refused, not a stack overflow', () => {
    const deep = `${'('.repeat(MAX_FILTER_DEPTH + 1)}a pr${')'.repeat(MAX_FILTER_DEPTH + 1)}`
    expect(() => parseFilter(deep)).toThrow(ScimFilterError)
    const fine = `${'not ('.repeat(MAX_FILTER_DEPTH)}a pr${')'.repeat(MAX_FILTER_DEPTH)}`
    expect(() => parseFilter(fine)).not.toThrow()
  })

  test('very long filters are refused', () => {
    expect(() => parseFilter(`a eq "${'x'.repeat(70_000)}"`)).toThrow(/longer than/)
  })

  test('a long chain of or is fine (no recursion per term)', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `id eq "${i}"`).join(' or ')
    const node = parseFilter(ids)
    expect(node.kind === 'or' && node.filters.length).toBe(2000)
  })
})

describe('parsePatchPath (RFC 7644 §3.5.2)', () => {
  const paths: [string, string][] = [
    ['members', 'members'],
    ['name.familyName', 'name.familyName'],
    ['addresses[type eq "work"]', 'addresses[type eq "work"]'],
    [
      'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
      'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
    ],
    [
      'members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName',
      'members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName',
    ],
    [
      'emails[type eq "work" and value ew "example.com"]',
      'emails[type eq "work" and value ew "example.com"]',
    ],
    ['addresses[type eq "work"].streetAddress', 'addresses[type eq "work"].streetAddress'],
    ['emails[type eq "work"].value', 'emails[type eq "work"].value'],
    ['phoneNumbers[type eq "mobile"].value', 'phoneNumbers[type eq "mobile"].value'],
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager',
    ],
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value',
    ],
  ]

  test.each(paths)('%s', (text, expected) => {
    expect(formatPatchPath(parsePatchPath(text))).toBe(expected)
  })

  test('the parts of a filtered path', () => {
    expect(parsePatchPath('emails[type eq "work"].value')).toEqual({
      path: { name: 'emails', position: 0 },
      filter: { kind: 'compare', path: { name: 'type', position: 7 }, op: 'eq', value: 'work' },
      subAttr: 'value',
    })
  })

  const bad: [string, string][] = [
    ['', 'expected an attribute path'],
    ['emails[type eq "work"', 'missing "]"'],
    ['emails[type eq "work"].value.x', 'is not a sub-attribute'],
    ['emails[type eq "work"]value', 'unexpected "value"'],
    ['name.familyName[type eq "x"]', 'not the sub-attribute'],
    ['emails eq "x"', 'unexpected "eq"'],
    ['emails[type eq "work" and members[value eq "x"]]', 'value filters cannot nest'],
    ['a.b.c', 'more than one sub-attribute'],
  ]

  test.each(bad)('%j is invalidPath', (text, message) => {
    expect(() => parsePatchPath(text)).toThrow(ScimFilterError)
    try {
      parsePatchPath(text)
    } catch (err) {
      expect((err as ScimFilterError).scimType).toBe('invalidPath')
      expect((err as ScimFilterError).message).toMatch(/^invalid path at position \d+: /)
      expect((err as ScimFilterError).message).toContain(message)
    }
  })
})
